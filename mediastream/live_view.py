"""The live terminal view of ``mediastream demo`` and ``mediastream run`` (rich).

While a graph runs it shows, refreshed a few times a second: every node's media time
and x real time, a gain-reduction meter with input and output peaks (from
``"dynamics"`` events), the speakers found and the latest turns (``"speaker_turn"``),
and the alignment's progress, offset and lag (``"align_pair"``). Event lines print
above it as they arrive. When stdout is not a terminal (a pipe, CI) the same event
lines print, and a one-line summary every ``summary_every_s`` of media.
"""

from __future__ import annotations

import math
from collections import deque
from types import TracebackType
from typing import Any

from stream import Event, RunStats

__all__ = ["LiveView", "describe_event"]


def _db(values: Any) -> float:
    vals = [float(v) for v in values] if isinstance(values, (list, tuple)) else [float(values)]
    return max(vals) if vals else -math.inf


def describe_event(event: Event[Any]) -> str | None:
    """The line printed for a notable event (speaker turns, registration), else None."""
    p = event.payload
    if event.kind == "speaker_turn":
        named = f"  = {p.name} ({p.name_score:.2f})" if getattr(p, "name", None) else ""
        return (
            f"{event.start_s:9.2f} s  turn       {p.speaker:<8} "
            f"{event.start_s:7.2f} - {event.end_s:7.2f} s  conf {p.confidence:.2f}{named}"
        )
    if event.kind == "align_registration":
        return (
            f"{event.start_s:9.2f} s  registered fg at x={p.x:.0f} y={p.y:.0f} "
            f"({p.width:.0f}x{p.height:.0f} px of the bg, scale {p.scale:.2f}, "
            f"match {p.score:.2f})"
        )
    return None


class LiveView:
    """Live state of a run; a context manager around ``graph.events(...)``.

    Args:
        title: shown above the node table.
        enabled: draw the live panel (only when stdout is a terminal).
        quiet: print nothing.
        summary_every_s: without a terminal, one summary line per this many media
            seconds (default 5; 0 never).
    """

    def __init__(
        self,
        title: str,
        *,
        enabled: bool = True,
        quiet: bool = False,
        summary_every_s: float = 5.0,
    ) -> None:
        from rich.console import Console

        self.title = title
        self.quiet = quiet
        self.console = Console(highlight=False, soft_wrap=True)
        self.live_enabled = enabled and not quiet and self.console.is_terminal
        self.summary_every_s = summary_every_s
        self._next_summary = summary_every_s
        self.stats: RunStats | None = None
        self.speakers: dict[str, float] = {}  # label -> seconds of speech
        self.turns: deque[str] = deque(maxlen=4)
        self.gain_reduction: dict[str, float] = {}  # stage -> dB (latest window)
        self.peak_in: float = -math.inf
        self.peak_out: float = -math.inf
        self.max_reduction: dict[str, float] = {}
        self.pairs = 0
        self.forced = 0
        self.last_fg_s: float | None = None
        self.last_bg_s: float | None = None
        self.offset_s: float | None = None
        self.first_offset_s: float | None = None
        self.cost: float | None = None
        self.registered: str | None = None
        self.counts: dict[str, int] = {}
        self._live: Any = None

    # -- context --------------------------------------------------------------------
    def __enter__(self) -> LiveView:
        if self.live_enabled:
            from rich.live import Live

            self._live = Live(
                self.render(), console=self.console, refresh_per_second=8, transient=False
            )
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.stop()
            self._live = None

    # -- feeding ----------------------------------------------------------------------
    def update(self, stats: RunStats) -> None:
        """Progress callback for ``Graph.events(progress=...)``."""
        self.stats = stats
        if self._live is not None:
            self._live.update(self.render())
        elif not self.quiet and self.summary_every_s > 0 and stats.media_s >= self._next_summary:
            self._next_summary = (stats.media_s // self.summary_every_s + 1) * self.summary_every_s
            self.print(self.summary_line())

    def event(self, event: Event[Any]) -> None:
        """Account for one event; notable ones print a line."""
        self.counts[event.kind] = self.counts.get(event.kind, 0) + 1
        p = event.payload
        if event.kind == "speaker_turn":
            self.speakers[p.speaker] = self.speakers.get(p.speaker, 0.0) + (
                event.end_s - event.start_s
            )
        elif event.kind == "dynamics":
            self.gain_reduction[p.stage] = _db(p.gain_reduction_db)
            self.max_reduction[p.stage] = max(
                self.max_reduction.get(p.stage, 0.0), self.gain_reduction[p.stage]
            )
            if p.stage == "compressor" or "compressor" not in self.gain_reduction:
                self.peak_in = _db(p.input_peak_dbfs)
            self.peak_out = _db(p.output_peak_dbfs)
        elif event.kind == "align_pair":
            self.pairs += 1
            self.forced += not p.final
            self.last_fg_s = p.fg_time
            self.last_bg_s = p.bg_time
            self.offset_s = p.bg_time - p.fg_time
            if self.first_offset_s is None:
                self.first_offset_s = self.offset_s
            self.cost = p.cost
        line = describe_event(event)
        if line is not None:
            if event.kind == "speaker_turn":
                self.turns.append(line.strip())
            if event.kind == "align_registration":
                self.registered = line.split("registered ", 1)[1]
            self.print(line)

    def print(self, line: str) -> None:
        """Print a line (above the live panel when one is shown)."""
        if self.quiet:
            return
        self.console.print(line, markup=False, highlight=False)

    # -- drawing ----------------------------------------------------------------------
    def summary_line(self) -> str:
        """One line: media time, x real time, speakers, gain reduction, alignment."""
        s = self.stats
        head = f"{s.media_s:9.2f} s  {s.realtime_factor:5.1f}x rt" if s else "         "
        parts = [head]
        if self.speakers:
            parts.append(f"speakers {len(self.speakers)}")
        if self.gain_reduction:
            gr = ", ".join(f"{k} {v:4.1f} dB" for k, v in self.gain_reduction.items())
            parts.append(f"GR {gr}")
        if self.pairs:
            parts.append(self._align_text())
        return "  |  ".join(parts)

    def _align_text(self) -> str:
        """Frames paired, the fg's lag behind the bg (bg time - fg time of the last
        pair), its cost, and how far the pairs trail the bg the aligner has read."""
        lag = f"{self.offset_s:+.2f} s" if self.offset_s is not None else "?"
        behind = ""
        if self.stats is not None and self.last_bg_s is not None:
            seen = [n.media_s for n in self.stats.nodes.values() if n.kind == "VideoAlign"]
            if seen:
                behind = f", output {max(0.0, seen[0] - self.last_bg_s):.2f} s behind input"
        cost = f"{self.cost:.3f}" if self.cost is not None else "?"
        return f"aligned {self.pairs} frames (lag {lag}, cost {cost}{behind})"

    def render(self) -> Any:
        """The live panel (a rich renderable)."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        rows: list[Any] = []
        nodes = Table(title=self.title, title_justify="left", expand=False, box=None)
        for col in ("node", "role", "media s", "x real time", "queue", "done"):
            nodes.add_column(col, justify="left" if col in ("node", "role", "done") else "right")
        if self.stats is not None:
            for n in self.stats.nodes.values():
                if n.name.startswith("_"):
                    continue
                nodes.add_row(
                    n.name, n.role, f"{n.media_s:7.2f}", f"{n.realtime_factor:7.1f}x",
                    str(n.queue_depth), "yes" if n.finished else "",
                )  # fmt: skip
        rows.append(nodes)
        if self.gain_reduction:
            text = Text()
            text.append(f"levels   in {self.peak_in:6.1f} dBFS   out {self.peak_out:6.1f} dBFS\n")
            for stage, gr in self.gain_reduction.items():
                bar = "#" * min(40, round(gr * 2))
                text.append(f"GR {stage:<10} {gr:5.1f} dB ", style="bold")
                text.append(f"{bar:<40}", style="red")
                text.append(f"  max {self.max_reduction[stage]:.1f} dB\n")
            rows.append(text)
        if self.speakers or self.turns:
            who = ", ".join(f"{k} {v:.1f} s" for k, v in self.speakers.items())
            rows.append(Text(f"speakers {len(self.speakers)}: {who}"))
            for t in self.turns:
                rows.append(Text(f"  {t}"))
        if self.pairs or self.registered:
            rows.append(Text(f"alignment: {self._align_text() if self.pairs else 'registering'}"))
            if self.registered:
                rows.append(Text(f"  fg {self.registered}"))
        if self.stats is not None:
            s = self.stats
            total = f" / {s.duration_s:.1f}" if s.duration_s else ""
            rows.append(
                Text(f"{s.media_s:.1f}{total} s of media, {s.realtime_factor:.1f}x real time")
            )
        return Group(*rows)
