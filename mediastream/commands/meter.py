"""``mediastream meter``: peak/RMS levels of a file's audio, as events."""

from __future__ import annotations

import argparse
from typing import Any

import anyio

from mediastream.argtypes import non_negative_float, positive_float
from mediastream.commands._running import run_printing
from stream import Graph

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``meter`` on the CLI's subparsers."""
    p = sub.add_parser("meter", help="peak/RMS levels of a file's audio, as events")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--interval-ms", type=positive_float, default=100.0, help="window in ms (default 100)"
    )
    p.add_argument("--jsonl", metavar="PATH", help="write every level event as JSON Lines")
    p.add_argument("--csv", metavar="PATH", help="write every level event as CSV")
    p.add_argument("--start", type=non_negative_float, default=0.0, help="start offset in seconds")
    p.add_argument(
        "--duration", type=positive_float, default=None, help="seconds to read (default: all)"
    )
    p.add_argument(
        "--chunk-frames", type=int, default=4096, help="frames per decoded chunk (default 4096)"
    )
    p.add_argument(
        "--print-every",
        type=non_negative_float,
        default=1.0,
        metavar="S",
        help="print at most one event every S seconds of media (default 1; 0 prints all)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="URLs: fail when the network sends nothing for S seconds (default 30); "
        "Ctrl-C takes effect within that time",
    )
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="damaged input: stop with an error naming the time (raise, default) or warn, "
        "fill the hole with silence on the true timeline and read on (skip)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_meter)


def _cmd_meter(args: argparse.Namespace) -> int:
    from operators import LevelMeter
    from sinks import CsvSink, JsonLinesSink
    from stream import AudioFormat, FileSource
    from stream.sources.probe import is_url

    g = Graph()
    src = g.add(
        FileSource(
            args.file,
            audio=AudioFormat(chunk_frames=args.chunk_frames),
            video=False,
            on_error=args.on_error,
            start=args.start,
            duration=args.duration,
            timeout=args.timeout if is_url(args.file) else None,
        ),
        "file",
    )
    meter = g.add(LevelMeter(interval_ms=args.interval_ms), "meter")
    g.connect(src, meter)
    if args.jsonl:
        g.connect(meter, g.add(JsonLinesSink(args.jsonl), "jsonl"))
    if args.csv:
        g.connect(meter, g.add(CsvSink(args.csv), "csv"))
    stats = anyio.run(
        run_printing, g, ["meter"], args.print_every, not args.no_progress, "meter", args.quiet
    )
    if not args.quiet:
        print(stats.table())
    return 0
