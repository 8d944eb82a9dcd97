"""``mediastream devices``: the audio devices PortAudio sees."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``devices`` on the CLI's subparsers."""
    p = sub.add_parser("devices", help="list audio devices (PortAudio)")
    p.add_argument("--json", action="store_true", help="one JSON object per device")
    p.set_defaults(func=_cmd_devices)


def _cmd_devices(args: argparse.Namespace) -> int:
    from stream import list_devices

    devices = list_devices()
    if args.json:
        for d in devices:
            print(json.dumps(vars(d)))
        return 0
    if not devices:
        print("no audio devices (PortAudio sees none)")
        return 0
    print(f"  {'idx':>3}  {'name':<32} {'host API':<26} {'in':>3} {'out':>3} {'rate':>7}")
    for d in devices:
        marks = [m for m, on in (("in", d.default_input), ("out", d.default_output)) if on]
        default = f"default {'/'.join(marks)}" if marks else ""
        print(
            f"{'*' if marks else ' '} {d.index:>3}  {d.name[:32]:<32} {d.hostapi[:26]:<26} "
            f"{d.input_channels:>3} {d.output_channels:>3} {d.default_sample_rate:>7g}  {default}"
        )
    return 0
