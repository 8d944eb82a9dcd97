"""Terminal output for the CLI: event lines and a progress bar with x real time (rich)."""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any

from stream import Event, RunStats

__all__ = ["ProgressDisplay", "format_event"]


def _fmt_levels(values: Any) -> str:
    return " ".join(f"{v:6.1f}" for v in values)


def format_event(event: Event[Any]) -> str:
    """One line describing an event, e.g. ``  1.200 s  level  peak -12.1 ...``."""
    p = event.payload
    head = f"{event.start_s:9.3f} s  {event.kind:<12}"
    if event.kind == "level" and hasattr(p, "peak_dbfs"):
        return f"{head} peak {_fmt_levels(p.peak_dbfs)} dBFS   rms {_fmt_levels(p.rms_dbfs)} dBFS"
    if event.kind == "frame_stats" and hasattr(p, "mean_luma"):
        cut = "  CUT" if p.cut else ""
        return f"{head} frame {p.index:6d}  luma {p.mean_luma:6.1f}  motion {p.motion:6.2f}{cut}"
    payload = event.to_dict()["payload"]
    return f"{head} {payload}"


class ProgressDisplay:
    """A rich progress bar fed by ``graph.run(progress=...)`` snapshots.

    Shows media time done / total, x real time; prints lines above the bar. With
    ``enabled=False`` (or when stderr is not a terminal) only lines are printed.
    """

    def __init__(self, description: str, *, enabled: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                # rich exits with status 1; a closed pipe (`| head`) is not an error:
                # silence stdout and let the CLI end with 0.
                if self.quiet:
                    return
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                raise BrokenPipeError

        self.console = _Console(stderr=False, highlight=False)
        err = Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[media]}"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            console=err,
            disable=not enabled or not err.is_terminal,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=None, media="", speed="")

    def __enter__(self) -> ProgressDisplay:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, stats: RunStats) -> None:
        """Progress callback for ``Graph.run``."""
        total = stats.duration_s
        media = f"{stats.media_s:7.1f} s" + (f" / {total:.1f} s" if total else "")
        self._progress.update(
            self._task,
            total=total,
            completed=stats.media_s,
            media=media,
            speed=f"{stats.realtime_factor:6.1f}x real time",
        )

    def print(self, line: str) -> None:
        """Print a line to stdout (above the bar when one is shown)."""
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
