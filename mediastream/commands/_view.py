"""What ``run`` and ``demo`` share: view options, the live run, the list of outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mediastream.argtypes import non_negative_float
from stream import RunStats

__all__ = ["add_view_options", "print_outputs", "run_live"]


def add_view_options(p: argparse.ArgumentParser) -> None:
    """--quiet, --no-progress and --summary-every."""
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


def run_live(gf: Any, title: str, args: argparse.Namespace) -> tuple[RunStats, dict[str, Any]]:
    """Run a GraphFile's graph with the live view; returns stats and what was seen."""
    import anyio

    from mediastream.live_view import LiveView

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


def print_outputs(gf: Any, extra: list[Path]) -> None:
    """Print each output file (PNG files inside output folders) with its size."""
    shown = []
    for path in [*gf.outputs, *extra]:
        if path.is_dir():
            shown += sorted(p for p in path.glob("*.png") if p.is_file())
        elif path.is_file():
            shown.append(path)
    for path in dict.fromkeys(shown):
        print(f"  {path}  ({path.stat().st_size:,} bytes)")
