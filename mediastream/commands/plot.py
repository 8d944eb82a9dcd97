"""``mediastream plot``: PNG pictures of JSON Lines results (see :mod:`mediastream.plot`)."""

from __future__ import annotations

import argparse
import struct
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk, pixels."""
    with open(path, "rb") as f:
        head = f.read(24)
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _cmd_plot(args: argparse.Namespace) -> int:
    from mediastream.plot import plot_results

    if args.out is not None:
        out = Path(args.out)
    else:  # next to the results: the first folder given, or the first file's folder
        first = Path(args.results[0])
        out = first if first.is_dir() else first.parent
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            written = plot_results(
                args.results,
                out,
                args.reference,
                width_px=args.width_px,
                height_px=args.height_px,
            )
        finally:
            for w in caught:
                print(f"mediastream plot: warning: {w.message}", file=sys.stderr)
    for path in written:
        width, height = _png_size(path)
        print(f"wrote {path} ({width}x{height} px, {path.stat().st_size / 1024:.0f} KiB)")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``mediastream plot`` on the CLI's subparsers."""
    from mediastream.plot import DEFAULT_HEIGHT_PX, DEFAULT_WIDTH_PX

    p = sub.add_parser(
        "plot",
        help="draw PNG pictures of JSON Lines results: speaker timeline, video alignment, "
        "dynamics",
        description="Reads JSON Lines results (files, or folders: every *.jsonl in them) and "
        "writes timeline.png (speaker_turn events; with --reference the reference RTTM "
        "above it and the DER in the title), alignment.png (align_pair and align_band "
        "events) and dynamics.png (dynamics events) for those it has data for. A cut-off "
        "last line (an interrupted run) is skipped with a warning. Needs matplotlib "
        "(pip install 'mediastream[plot]').",
    )
    p.add_argument(
        "results", nargs="+", metavar="RESULTS", help="JSON Lines files or folders of them"
    )
    p.add_argument(
        "--reference", metavar="RTTM", help="reference turns of the recording (RTTM)"
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder for the PNGs (default: the first RESULTS folder, or the folder of "
        "the first RESULTS file)",
    )
    p.add_argument(
        "--width-px", type=int, default=DEFAULT_WIDTH_PX, metavar="N",
        help=f"picture width in pixels (default {DEFAULT_WIDTH_PX})",
    )  # fmt: skip
    p.add_argument(
        "--height-px", type=int, default=DEFAULT_HEIGHT_PX, metavar="N",
        help=f"picture height in pixels (default {DEFAULT_HEIGHT_PX})",
    )  # fmt: skip
    p.set_defaults(func=_cmd_plot)
