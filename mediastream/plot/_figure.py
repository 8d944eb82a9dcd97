"""matplotlib helpers shared by the pictures: exact-size figures, PNG writes, time axis.

Figures are exactly ``width_px`` x ``height_px`` at :data:`DPI`; a PNG is written next to
its path and moved in place; colours come from the tab10/tab20 maps. matplotlib is
imported only when these are called.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream import EncodeError

from ._checks import check_matplotlib

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
"""Dots per inch of every figure: its size in inches is ``px / DPI``."""


def _figure(width_px: int, height_px: int) -> Figure:
    check_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    """Write the PNG next to ``path`` and move it in place (never a half-written PNG)."""
    part = path.with_name(f".{path.name}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as f:
            fig.savefig(f, format="png", dpi=DPI)
        os.replace(part, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise EncodeError(f"cannot write the picture {str(path)!r}: {exc}") from exc
    return path


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)


def _hms(seconds: float, _pos: object = None) -> str:
    s = round(seconds)
    sign, s = ("-" if s < 0 else ""), abs(s)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def _time_axis(ax: Axes, t0: float, t1: float) -> None:
    """Seconds below 2 minutes, ``m:ss`` / ``h:mm:ss`` ticks on whole steps above."""
    span = max(t1 - t0, 1e-6)
    if span <= 120:
        ax.set_xlabel("time (s)")
        return
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    step = next((s for s in _TIME_STEPS if span / s <= 12), 3600 * math.ceil(span / 43200))
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(_hms))
    ax.set_xlabel("time (h:mm:ss)" if t1 >= 3600 else "time (m:ss)")


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    k = 10 if n <= 10 else 20
    return [cmap(i % k) for i in range(n)]
