"""``mediastream run GRAPH.toml`` and ``mediastream demo``: graph files with a live view."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ._cli_types import name_value
from ._stats import RunStats

__all__ = ["add_run_commands"]


def _add_view_options(p: argparse.ArgumentParser, non_negative_float: Any) -> None:
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument(
        "--no-progress", action="store_true", help="no live panel (event lines only)"
    )
    p.add_argument(
        "--summary-every",
        type=non_negative_float,
        default=5.0,
        metavar="S",
        help="without a live panel (not a terminal, or --no-progress): one summary line "
        "every S seconds of media (default 5; 0: none)",
    )


def add_run_commands(sub: Any, non_negative_float: Any) -> None:
    """Register ``run`` and ``demo`` on the CLI's subparsers."""
    p = sub.add_parser(
        "run",
        help="build and run any graph described by a TOML graph file",
        description="Build the graph a TOML file describes (sources, operators, sinks and "
        "their connections; see README 'Graph files'), run it, and show events live. "
        "Errors in the file name the line and key.",
    )
    p.add_argument("graph", metavar="GRAPH.toml", nargs="?", help="the graph file")
    p.add_argument(
        "--set",
        type=name_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a ${NAME} parameter of the file (repeatable)",
    )
    p.add_argument(
        "--out", default="mediastream-out", help="output folder (default ./mediastream-out)"
    )
    p.add_argument("--check", action="store_true", help="build and validate only; do not run")
    p.add_argument(
        "--types", action="store_true", help="list the node types and their parameters"
    )
    _add_view_options(p, non_negative_float)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "demo",
        help="run the demo graph (dynamics, diarization, video alignment) on its "
        "embedded default input, with a live view",
        description="Generates its inputs on first run (pyannote's sample speech with a "
        "moving synthetic video, and a cropped, re-timed copy of the video), runs the "
        "example graph stream/graphs/demo.toml and writes processed audio, RTTM, pairs, "
        "events, pictures and a composite video into --out.",
    )
    p.add_argument(
        "--out", default="mediastream-out", help="output folder (default ./mediastream-out)"
    )
    _add_view_options(p, non_negative_float)
    p.set_defaults(func=_cmd_demo)


def _run_live(gf: Any, title: str, args: argparse.Namespace) -> tuple[RunStats, dict[str, Any]]:
    """Run a GraphFile's graph with the live view; returns stats and what was seen."""
    import anyio

    from ._live_view import LiveView

    seen: dict[str, Any] = {"pairs": [], "registration": None}

    async def go() -> RunStats:
        with LiveView(
            title,
            enabled=not args.no_progress,
            quiet=args.quiet,
            summary_every_s=args.summary_every,
        ) as view:
            if not gf.event_nodes:  # nothing to show but progress
                done: RunStats = await gf.graph.run(progress=view.update)
                view.update(done)
                seen["view"] = view
                return done
            async with gf.graph.events(*gf.event_nodes, progress=view.update) as events:
                async for event in events:
                    view.event(event)
                    if event.kind == "align_pair":
                        seen["pairs"].append((event.payload.fg_index, event.payload.bg_index))
                    elif event.kind == "align_registration":
                        seen["registration"] = event.payload
            final: RunStats | None = events.stats
            assert final is not None
            view.update(final)
            seen["view"] = view
            return final

    stats: RunStats = anyio.run(go)
    return stats, seen


def _print_outputs(gf: Any, extra: list[Path]) -> None:
    shown = []
    for path in [*gf.outputs, *extra]:
        if path.is_dir():
            shown += sorted(p for p in path.glob("*.png") if p.is_file())
        elif path.is_file():
            shown.append(path)
    for path in dict.fromkeys(shown):
        print(f"  {path}  ({path.stat().st_size:,} bytes)")


def _cmd_run(args: argparse.Namespace) -> int:
    from ._exceptions import ParameterError
    from .graphfile import describe_types, load_graph

    if args.types:
        print(describe_types())
        return 0
    if args.graph is None:
        raise ParameterError("run: give a graph file (GRAPH.toml), or --types")
    gf = load_graph(args.graph, params=dict(args.set), out_dir=args.out)
    if not args.quiet:
        print(f"graph {args.graph}: {gf.description or ''}".rstrip(": "))
        print(f"  nodes: {', '.join(f'{n} ({t})' for n, t in gf.node_types.items())}")
        print(f"  params: {', '.join(f'{k}={v}' for k, v in gf.params.items()) or 'none'}")
    if args.check:
        print("graph is valid")
        return 0
    stats, _ = _run_live(gf, Path(args.graph).name, args)
    if not args.quiet:
        print()
        print(stats.table())
        print(f"outputs in {args.out}/:")
        _print_outputs(gf, [])
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DEMO_GRAPH, ensure_demo_inputs, load_demo_graph, write_demo_composite

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
    stats, seen = _run_live(gf, "demo", args)
    extra: list[Path] = []
    reg = seen["registration"]
    region = (reg.x, reg.y, reg.width, reg.height) if reg is not None else None
    composite = write_demo_composite(inputs, seen["pairs"], region, out / "composite.mp4")
    if composite is not None:
        extra.append(composite)
    if not args.quiet:
        print()
        print(stats.table())
        view = seen["view"]
        print(_demo_summary(view, inputs, gf))
        print(f"outputs in {out}/:")
        _print_outputs(gf, extra)
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
