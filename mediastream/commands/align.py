"""``mediastream align``: which background frame each foreground frame shows."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio

from mediastream.argtypes import non_negative_float, positive_float
from mediastream.commands._running import Throttle
from stream import RunStats, check_output_paths

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``align`` on the CLI's subparsers."""
    p = sub.add_parser(
        "align",
        help="find which background frame each foreground frame shows (fg: a cropped, "
        "rescaled, graded, re-timed part of bg)",
    )
    p.add_argument("fg", metavar="FG", help="foreground video")
    p.add_argument("bg", metavar="BG", help="background video")
    p.add_argument("--out", metavar="PAIRS.jsonl", help="write every pair as JSON Lines")
    p.add_argument("--composite", metavar="OUT.mp4", help="write fg overlaid on bg (fg timing)")
    p.add_argument(
        "--composite-cache-mb", type=non_negative_float, default=512.0, metavar="MB",
        help="decoded frames the composite keeps from the alignment's own decoding, per "
        "input, so neither file is decoded twice; frames that left it are decoded again "
        "(default 512; 0 decodes both files a second time)",
    )  # fmt: skip
    p.add_argument(
        "--max-lag", type=int, default=90, metavar="N",
        help="most fg frames a pair may wait before it is forced out (default 90)",
    )  # fmt: skip
    p.add_argument(
        "--band", type=int, default=8, metavar="N",
        help="DTW half-band in bg frames (default 8)",
    )  # fmt: skip
    p.add_argument(
        "--work-width", type=int, default=320, metavar="PX",
        help="decode the bg at most this wide, the fg by the same factor (default 320)",
    )  # fmt: skip
    p.add_argument(
        "--min-scale", type=positive_float, default=0.25,
        help="smallest fg/bg-region size ratio searched (default 0.25)",
    )  # fmt: skip
    p.add_argument(
        "--max-scale", type=positive_float, default=1.0,
        help="largest fg/bg-region size ratio searched (default 1)",
    )  # fmt: skip
    p.add_argument(
        "--max-pending-s", type=positive_float, default=600.0, metavar="S",
        help="most seconds of fg held before the bg reaches it (the fg's start offset "
        "in the bg); past it the run stops with an error naming the time (default 600)",
    )  # fmt: skip
    p.add_argument(
        "--fit-s", type=non_negative_float, default=4.0, metavar="S",
        help="seconds of fg the registration's final fit of position and scale spans; "
        "the first pair comes once the bg is that far past the match (default 4; 0: no "
        "final fit, sooner and less exact on still content; at most 60)",
    )  # fmt: skip
    p.add_argument(
        "--print-every", type=non_negative_float, default=1.0, metavar="S",
        help="print at most one pair every S seconds of fg (default 1; 0 prints all)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_align)


def _cmd_align(args: argparse.Namespace) -> int:
    from mediastream.align import AlignSummary, align_setup, build_align_graph

    # Before probing and building: a clear message on a path clash, naming the flag.
    check_output_paths(
        [("the foreground", args.fg), ("the background", args.bg)],
        [
            (f"--{flag}", path)
            for flag, path in (("out", args.out), ("composite", args.composite))
            if path
        ],
    )
    setup = align_setup(args.fg, args.bg, work_width=args.work_width)
    graph = build_align_graph(
        setup,
        pairs_path=args.out,
        composite_path=args.composite,
        band=args.band,
        max_lag=args.max_lag,
        min_scale=args.min_scale,
        max_scale=args.max_scale,
        max_pending_s=args.max_pending_s,
        composite_cache_mb=args.composite_cache_mb,
        fit_s=args.fit_s,
    )
    summary = AlignSummary(setup)
    if not args.quiet:
        print(
            f"align: fg {setup.fg_size[0]}x{setup.fg_size[1]} -> bg "
            f"{setup.bg_size[0]}x{setup.bg_size[1]} (decoded grey at "
            f"{setup.work_fg[0]}x{setup.work_fg[1]} and {setup.work_bg[0]}x{setup.work_bg[1]})"
        )

    async def run() -> RunStats:
        from mediastream.console import ProgressDisplay, format_event

        throttle = Throttle(args.print_every)
        with ProgressDisplay("align", enabled=not args.no_progress and not args.quiet) as shown:
            async with graph.events("align", progress=shown.update) as events:
                async for event in events:
                    summary.add(event)
                    if not args.quiet and throttle(event):
                        shown.print(format_event(event))
            assert events.stats is not None
            return events.stats

    stats = anyio.run(run)
    summary.wall_s = stats.wall_s
    if not args.quiet:
        print(summary.describe())
        if args.out:
            print(f"pairs: {args.out}")
        if args.composite:
            written = getattr(graph.node("composite"), "frames_written", 0)
            print(
                f"composite: {args.composite} ({written} frames)"
                if written
                else "composite: not written (no pairs)"
            )
    if not summary.frames_aligned:
        print(
            "mediastream align: error: the foreground was not found in the background "
            "(no placement correlated well enough)",
            file=sys.stderr,
        )
        return 1
    return 0
