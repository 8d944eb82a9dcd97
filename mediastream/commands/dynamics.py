"""``mediastream dynamics``: compress and limit a file's audio into an audio file."""

from __future__ import annotations

import argparse
from typing import Any

import anyio

from mediastream.argtypes import positive_float
from mediastream.commands._running import run_with_progress
from mediastream.dynamics_options import add_dynamics_options, dynamics_settings
from stream import Graph

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``dynamics`` on the CLI's subparsers."""
    p = sub.add_parser(
        "dynamics",
        help="compress and limit a file's audio (optional gate) into an audio file",
        description="FileSource(audio) -> [Gate] -> Compressor -> [Limiter] -> audio file; "
        "with --target-lufs, a LoudnessNormalizer (gain toward the target, then the "
        "limiter) in the limiter's place. Levels in dB(FS) or LUFS, times in ms.",
    )
    p.add_argument("input", metavar="IN", help="input media file or URL")
    p.add_argument("output", metavar="OUT", help="output audio file (.wav, .flac, .opus, ...)")
    add_dynamics_options(p)
    p.add_argument(
        "--meter-jsonl", metavar="PATH", help="write every stage's meter events as JSON Lines"
    )
    p.add_argument(
        "--meter-interval-ms",
        type=positive_float,
        default=100.0,
        help="meter window for --meter-jsonl (default 100)",
    )
    p.add_argument(
        "--chunk-frames", type=int, default=1024, help="frames per decoded chunk (default 1024)"
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
    p.set_defaults(func=_cmd_dynamics)


def _cmd_dynamics(args: argparse.Namespace) -> int:
    from operators.dynamics import build_dynamics_chain
    from sinks import AudioFileSink, JsonLinesSink
    from stream import AudioFormat, FileSource

    settings = dynamics_settings(args, args.meter_interval_ms if args.meter_jsonl else None)
    g = Graph()
    src = g.add(
        FileSource(
            args.input,
            audio=AudioFormat(chunk_frames=args.chunk_frames),
            video=False,
            on_error=args.on_error,
        ),
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
    stats = anyio.run(run_with_progress, g, not args.no_progress and not args.quiet, "dynamics")
    if not args.quiet:
        print(stats.table())
        print(f"wrote {args.output} ({sink.frames_written} frames)")
    return 0
