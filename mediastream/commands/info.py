"""``mediastream info``: the streams of media files or URLs."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``info`` on the CLI's subparsers."""
    p = sub.add_parser("info", help="describe the streams of media files or URLs")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from stream import probe

    for path in args.files:
        info = probe(path)
        if args.json:
            record = {
                "path": info.path,
                "format": info.format,
                "duration_s": info.duration_s,
                "bit_rate": info.bit_rate,
                "size_bytes": info.size_bytes,
                "streams": [
                    {
                        k: (str(v) if k in ("time_base", "frame_rate") and v is not None else v)
                        for k, v in vars(s).items()
                    }
                    for s in info.streams
                ],
            }
            print(json.dumps(record))
        else:
            print(info.describe())
    return 0
