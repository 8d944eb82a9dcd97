"""``mediastream loudness``: EBU R128 / BS.1770-4 loudness of a file (like ffmpeg's ebur128)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TYPE_CHECKING, Any

import anyio

from mediastream.argtypes import non_negative_float, positive_float
from mediastream.commands._running import run_with_progress
from stream import Graph

if TYPE_CHECKING:
    from operators.loudness import LoudnessSummary

__all__ = ["add_parser", "format_summary"]


def add_parser(sub: Any) -> None:
    """Register ``loudness`` on the CLI's subparsers."""
    p = sub.add_parser(
        "loudness",
        help="integrated loudness, loudness range and true peak of a file (EBU R128)",
        description="FileSource(audio) -> LoudnessMeter: integrated loudness (LUFS), "
        "loudness range (LU) and true peak (dBTP) per ITU-R BS.1770-4 / EBU R128, printed "
        "like the summary of `ffmpeg -af ebur128`.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument(
        "--jsonl",
        metavar="PATH",
        help="also write a loudness event every --interval-ms as JSON Lines",
    )
    p.add_argument(
        "--interval-ms",
        type=positive_float,
        default=1000.0,
        help="event interval for --jsonl, whole 100 ms steps (default 1000)",
    )
    p.add_argument("--no-true-peak", action="store_true", help="skip the true peak")
    p.add_argument("--start", type=non_negative_float, default=0.0, help="start offset in seconds")
    p.add_argument(
        "--duration", type=positive_float, default=None, help="seconds to read (default: all)"
    )
    p.add_argument(
        "--chunk-frames", type=int, default=4096, help="frames per decoded chunk (default 4096)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_loudness)


def _num(value: float | None, width: int = 6) -> str:
    return f"{value:{width}.1f}" if value is not None else f"{'-inf':>{width}}"


def format_summary(s: LoudnessSummary) -> str:
    """The summary in the layout of ``ffmpeg -af ebur128``'s last lines."""
    lines = [
        "Integrated loudness:",
        f"  I:         {_num(s.integrated_lufs)} LUFS",
        f"  Threshold: {_num(s.integrated_threshold_lufs)} LUFS",
        "",
        "Loudness range:",
        f"  LRA:       {_num(s.loudness_range_lu)} LU",
        f"  Threshold: {_num(s.lra_threshold_lufs)} LUFS",
        f"  LRA low:   {_num(s.lra_low_lufs)} LUFS",
        f"  LRA high:  {_num(s.lra_high_lufs)} LUFS",
    ]
    if s.true_peak_dbtp is not None or any(p is not None for p in s.true_peak_dbtp_per_channel):
        lines += ["", "True peak:", f"  Peak:      {_num(s.true_peak_dbtp)} dBFS"]
    return "\n".join(lines)


def _cmd_loudness(args: argparse.Namespace) -> int:
    from operators.loudness import LoudnessMeter
    from sinks import JsonLinesSink
    from stream import AudioFormat, FileSource, ParameterError

    if args.chunk_frames < 1:
        raise ParameterError(f"--chunk-frames must be >= 1, got {args.chunk_frames}")
    interval = args.interval_ms if args.jsonl else None
    if interval is not None and interval < 100.0:
        raise ParameterError(f"--interval-ms must be >= 100 ms, got {interval}")
    meter = LoudnessMeter(interval_ms=interval, true_peak=not args.no_true_peak)
    g = Graph()
    src = g.add(
        FileSource(
            args.file,
            audio=AudioFormat(chunk_frames=args.chunk_frames),
            video=False,
            start=args.start,
            duration=args.duration,
        ),
        "file",
    )
    node = g.add(meter, "loudness")
    g.connect(src, node)
    if args.jsonl:
        g.connect(node, g.add(JsonLinesSink(args.jsonl), "jsonl"))
    progress = not args.no_progress and not args.json
    anyio.run(run_with_progress, g, progress, "loudness")
    summary = meter.summary()
    if args.json:
        print(json.dumps(dataclasses.asdict(summary)))
    else:
        print(format_summary(summary))
    return 0
