"""Running a graph from a command: events printed (throttled) under a progress bar."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from stream import Event, Graph, RunStats

__all__ = ["Throttle", "run_printing", "run_with_progress"]


class Throttle:
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


async def run_printing(
    graph: Graph, nodes: Sequence[str], every_s: float, progress: bool, title: str, quiet: bool
) -> RunStats:
    from mediastream.console import ProgressDisplay, format_event

    throttle = Throttle(every_s)
    with ProgressDisplay(title, enabled=progress) as display:
        async with graph.events(*nodes, progress=display.update) as events:
            async for event in events:
                if not quiet and throttle(event):
                    display.print(format_event(event))
        assert events.stats is not None
        return events.stats


async def run_with_progress(graph: Graph, progress: bool, title: str) -> RunStats:
    from mediastream.console import ProgressDisplay

    with ProgressDisplay(title, enabled=progress) as display:
        return await graph.run(progress=display.update)
