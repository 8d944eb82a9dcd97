"""The ``mediastream`` command line.

Exit codes: 0 success, 1 a processing error (the message names the node or file and
the stream position), 2 bad usage (a bad parameter, a malformed graph file), 130
interrupted (Ctrl-C), 143 terminated (SIGTERM, handled like Ctrl-C). Outputs written
before a failure stay valid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import anyio

from ._cli_types import non_negative_float as _non_negative_float
from ._cli_types import positive_float as _positive_float
from ._dynamics_args import add_dynamics_options, dynamics_settings
from ._exceptions import GraphFileError, MediaStreamError, ParameterError
from ._graph import Graph
from ._items import Event
from ._stats import RunStats

__all__ = ["main"]


class _Throttle:
    """Lets through at most one event per kind per ``every_s`` seconds of media time."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._next: dict[str, float] = {}

    def __call__(self, event: Event[Any]) -> bool:
        if self.every_s <= 0:
            return True
        t = event.start_s
        if t + 1e-9 >= self._next.get(event.kind, -math.inf):
            self._next[event.kind] = t + self.every_s
            return True
        return bool(getattr(event.payload, "cut", False))


async def _run_printing(
    graph: Graph, nodes: Sequence[str], every_s: float, progress: bool, title: str, quiet: bool
) -> RunStats:
    from ._console import ProgressDisplay, format_event

    throttle = _Throttle(every_s)
    with ProgressDisplay(title, enabled=progress) as display:
        async with graph.events(*nodes, progress=display.update) as events:
            async for event in events:
                if not quiet and throttle(event):
                    display.print(format_event(event))
        assert events.stats is not None
        return events.stats


def _cmd_info(args: argparse.Namespace) -> int:
    from .sources.probe import probe

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


def _cmd_meter(args: argparse.Namespace) -> int:
    from operators import LevelMeter
    from sinks import CsvSink, JsonLinesSink

    from .sources.file import AudioFormat, FileSource
    from .sources.probe import is_url

    g = Graph()
    src = g.add(
        FileSource(
            args.file,
            audio=AudioFormat(chunk_frames=args.chunk_frames),
            video=False,
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
        _run_printing, g, ["meter"], args.print_every, not args.no_progress, "meter", args.quiet
    )
    if not args.quiet:
        print(stats.table())
    return 0


async def _run_with_progress(graph: Graph, progress: bool, title: str) -> RunStats:
    from ._console import ProgressDisplay

    with ProgressDisplay(title, enabled=progress) as display:
        return await graph.run(progress=display.update)


def _cmd_dynamics(args: argparse.Namespace) -> int:
    from operators.dynamics import build_dynamics_chain
    from sinks import AudioFileSink, JsonLinesSink

    from .sources.file import AudioFormat, FileSource

    settings = dynamics_settings(args, args.meter_interval_ms if args.meter_jsonl else None)
    g = Graph()
    src = g.add(
        FileSource(args.input, audio=AudioFormat(chunk_frames=args.chunk_frames), video=False),
        "file",
    )
    chain = build_dynamics_chain(g, src["audio"], settings)
    sink = AudioFileSink(args.output)
    g.connect(chain.audio, g.add(sink, "out"))
    if args.meter_jsonl:
        jsonl = g.add(JsonLinesSink(args.meter_jsonl), "meter_jsonl")
        for port in chain.meters:
            g.connect(port, jsonl)
    if not args.quiet:
        stages = " -> ".join(n.name for n in chain.nodes)
        latency_ms = g.latency()["out"] * 1e3
        print(f"dynamics: file(audio) -> {stages} -> {args.output} (latency {latency_ms:g} ms)")
    stats = anyio.run(_run_with_progress, g, not args.no_progress and not args.quiet, "dynamics")
    if not args.quiet:
        print(stats.table())
        print(f"wrote {args.output} ({sink.frames_written} frames)")
    return 0


def _cmd_align(args: argparse.Namespace) -> int:
    from .align import AlignSummary, align_setup, build_align_graph, write_composite

    setup = align_setup(args.fg, args.bg, work_width=args.work_width)
    graph = build_align_graph(
        setup,
        pairs_path=args.out,
        band=args.band,
        max_lag=args.max_lag,
        min_scale=args.min_scale,
        max_scale=args.max_scale,
    )
    summary = AlignSummary(setup)
    pairs: list[tuple[int, int]] | None = [] if args.composite else None
    if not args.quiet:
        print(
            f"align: fg {setup.fg_size[0]}x{setup.fg_size[1]} -> bg "
            f"{setup.bg_size[0]}x{setup.bg_size[1]} (decoded grey at "
            f"{setup.work_fg[0]}x{setup.work_fg[1]} and {setup.work_bg[0]}x{setup.work_bg[1]})"
        )

    async def run() -> RunStats:
        from ._console import ProgressDisplay, format_event

        throttle = _Throttle(args.print_every)
        with ProgressDisplay("align", enabled=not args.no_progress and not args.quiet) as shown:
            async with graph.events("align", progress=shown.update) as events:
                async for event in events:
                    summary.add(event)
                    if pairs is not None and event.kind == "align_pair":
                        pairs.append((event.payload.fg_index, event.payload.bg_index))
                    if not args.quiet and throttle(event):
                        shown.print(format_event(event))
            assert events.stats is not None
            return events.stats

    stats = anyio.run(run)
    summary.wall_s = stats.wall_s
    if args.composite and pairs and summary.offset and summary.region_size:
        write_composite(setup, pairs, (*summary.offset, *summary.region_size), args.composite)
    if not args.quiet:
        print(summary.describe())
        if args.out:
            print(f"pairs: {args.out}")
        if args.composite:
            print(f"composite: {args.composite}" if pairs else "composite: not written (no pairs)")
    if not summary.frames_aligned:
        print(
            "mediastream align: error: the foreground was not found in the background "
            "(no placement correlated well enough)",
            file=sys.stderr,
        )
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="mediastream",
        description="Streaming media processing: decode in chunks, run stateful operators, "
        "emit results the moment they exist.",
    )
    parser.add_argument("--version", action="version", version=f"mediastream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="describe the streams of media files or URLs")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_cmd_info)

    from ._run_cli import add_run_commands  # run GRAPH.toml, demo

    add_run_commands(sub, _non_negative_float)

    p = sub.add_parser("meter", help="peak/RMS levels of a file's audio, as events")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--interval-ms", type=_positive_float, default=100.0, help="window in ms (default 100)"
    )
    p.add_argument("--jsonl", metavar="PATH", help="write every level event as JSON Lines")
    p.add_argument("--csv", metavar="PATH", help="write every level event as CSV")
    p.add_argument("--start", type=_non_negative_float, default=0.0, help="start offset in seconds")
    p.add_argument(
        "--duration", type=_positive_float, default=None, help="seconds to read (default: all)"
    )
    p.add_argument(
        "--chunk-frames", type=int, default=4096, help="frames per decoded chunk (default 4096)"
    )
    p.add_argument(
        "--print-every",
        type=_non_negative_float,
        default=1.0,
        metavar="S",
        help="print at most one event every S seconds of media (default 1; 0 prints all)",
    )
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="URLs: fail when the network sends nothing for S seconds (default 30); "
        "Ctrl-C takes effect within that time",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_meter)

    p = sub.add_parser(
        "dynamics",
        help="compress and limit a file's audio (optional gate) into an audio file",
        description="FileSource(audio) -> [Gate] -> Compressor -> [Limiter] -> audio file. "
        "Levels in dB(FS), times in ms.",
    )
    p.add_argument("input", metavar="IN", help="input media file or URL")
    p.add_argument("output", metavar="OUT", help="output audio file (.wav, .flac, .opus, ...)")
    add_dynamics_options(p)
    p.add_argument(
        "--meter-jsonl", metavar="PATH", help="write every stage's meter events as JSON Lines"
    )
    p.add_argument(
        "--meter-interval-ms",
        type=_positive_float,
        default=100.0,
        help="meter window for --meter-jsonl (default 100)",
    )
    p.add_argument(
        "--chunk-frames", type=int, default=1024, help="frames per decoded chunk (default 1024)"
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_dynamics)

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
        "--min-scale", type=_positive_float, default=0.25,
        help="smallest fg/bg-region size ratio searched (default 0.25)",
    )  # fmt: skip
    p.add_argument(
        "--max-scale", type=_positive_float, default=1.0,
        help="largest fg/bg-region size ratio searched (default 1)",
    )  # fmt: skip
    p.add_argument(
        "--print-every", type=_non_negative_float, default=1.0, metavar="S",
        help="print at most one pair every S seconds of fg (default 1; 0 prints all)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_align)

    from ._live_cli import add_live_commands  # devices, live

    add_live_commands(sub, _positive_float, _non_negative_float)

    from .diarize import add_diarize_command  # speaker diarization

    add_diarize_command(sub, _positive_float)
    from ._batch_cli import add_batch_command  # many inputs on Ray

    add_batch_command(sub, _positive_float)
    from ._plot_cli import add_plot_command  # PNG pictures of results

    add_plot_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mediastream`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    terminated = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # SIGTERM (kill, systemd, docker stop) unwinds exactly like Ctrl-C: whatever
        # handles SIGINT now (asyncio's or trio's runner, or Python's default that
        # raises KeyboardInterrupt) takes it, so every sink closes and devices stop.
        nonlocal terminated
        terminated = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous: Any = None
    with contextlib.suppress(ValueError):  # not the main thread: leave SIGTERM alone
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        code: int = args.func(args)
        return code
    except (ParameterError, GraphFileError) as exc:
        print(f"mediastream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MediaStreamError as exc:
        print(f"mediastream {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        print(
            f"mediastream {args.command}: {what}; outputs written so far are closed and valid",
            file=sys.stderr,
        )
        return 143 if terminated else 130
    except BrokenPipeError:  # e.g. `mediastream meter x | head`
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
