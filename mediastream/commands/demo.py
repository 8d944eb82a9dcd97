"""``mediastream demo``: the demo graph on its embedded default input, with a live view."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from mediastream.commands._view import add_view_options, print_outputs, run_live

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``demo`` on the CLI's subparsers."""
    p = sub.add_parser(
        "demo",
        help="run the demo graph (dynamics, diarization, video alignment) on its "
        "embedded default input, with a live view",
        description="Generates its inputs on first run (pyannote's sample speech with a "
        "moving synthetic video, and a cropped, re-timed copy of the video), runs the "
        "example graph examples/demo.toml (a copy ships in the package) and writes "
        "processed audio, RTTM, pairs, events, pictures and a composite video into --out.",
    )
    p.add_argument(
        "--out", default="mediastream-out", help="output folder (default ./mediastream-out)"
    )
    add_view_options(p)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from mediastream.demo import (
        DEMO_GRAPH,
        ensure_demo_inputs,
        load_demo_graph,
    )

    out = Path(args.out)
    t0 = time.perf_counter()
    inputs = ensure_demo_inputs(out)
    if not args.quiet:
        print(
            f"demo inputs in {out}/ ({time.perf_counter() - t0:.1f} s): {inputs.media.name} "
            f"(pyannote's sample speech + moving video), {inputs.target.name} (cropped, "
            f"re-timed copy of the video), {inputs.reference.name}"
        )
        print(f"graph: {DEMO_GRAPH} (loading models...)")
    gf = load_demo_graph(inputs, out)
    if not args.quiet:
        print(
            "  media.audio -> gate -> compressor -> limiter -> processed.wav\n"
            "  speech.audio -> diarize -> speakers.rttm\n"
            "  target.video + media.video -> align -> pairs.jsonl\n"
            "  events -> events.jsonl, pictures (timeline.png, alignment.png, dynamics.png)"
        )
    # The composite is written during the run, by the graph's ``composite`` node.
    stats, seen = run_live(gf, "demo", args)
    if not args.quiet:
        print()
        print(stats.table())
        view = seen["view"]
        print(_demo_summary(view, inputs, gf))
        print(f"outputs in {out}/:")
        print_outputs(gf, [])
    return 0


def _demo_summary(view: Any, inputs: Any, gf: Any) -> str:
    lines = []
    if view.speakers:
        lines.append(
            f"speakers: {len(view.speakers)} "
            f"({', '.join(f'{k} {v:.1f} s' for k, v in view.speakers.items())})"
        )
        rttm = next((p for p in gf.outputs if p.suffix == ".rttm"), None)
        ders = [_der(inputs.reference, rttm, c) for c in (0.0, 0.5)] if rttm else [None]
        if ders[0] is not None and ders[1] is not None:
            lines.append(
                f"diarization error rate vs the reference: {100 * ders[0]:.1f} % (collar 0), "
                f"{100 * ders[1]:.1f} % (collar 0.5 s)"
            )
    if view.max_reduction:
        lines.append(
            "gain reduction (max): "
            + ", ".join(f"{k} {v:.1f} dB" for k, v in view.max_reduction.items())
        )
    if view.pairs:
        lines.append(
            f"alignment: {view.pairs} target frames paired ({view.forced} forced), "
            f"the target's first frame is the input's at {view.first_offset_s:.2f} s"
            if view.first_offset_s is not None
            else f"alignment: {view.pairs} pairs"
        )
    return "\n".join(lines)


def _der(reference: Path, hypothesis: Path, collar: float) -> float | None:
    """DER (overlap scored, as the timeline picture shows it) of two RTTM files, when
    pyannote.metrics is there."""
    try:
        from pyannote.core import Annotation, Segment
        from pyannote.metrics.diarization import DiarizationErrorRate
    except ImportError:
        return None

    def read(path: Path) -> Any:
        ann = Annotation()
        for line in path.read_text().splitlines():
            f = line.split()
            if len(f) >= 8 and f[0] == "SPEAKER":
                start, dur = float(f[3]), float(f[4])
                ann[Segment(start, start + dur)] = f[7]
        return ann

    import warnings

    with warnings.catch_warnings():  # "uem was approximated by the union of extents"
        warnings.simplefilter("ignore")
        metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
        return float(metric(read(reference), read(hypothesis)))
