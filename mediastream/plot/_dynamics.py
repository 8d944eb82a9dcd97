"""The dynamics picture: peak levels in and out of each stage, gain reduction below."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ._checks import DEFAULT_HEIGHT_PX, DEFAULT_WIDTH_PX, check_size
from ._data import PlotData, _collect
from ._figure import _colours, _figure, _save, _time_axis
from ._types import EventDict, FloatArray, PathLike


def _steps(rows: FloatArray, col: int) -> tuple[FloatArray, FloatArray]:
    """Step-line x, y of column ``col`` over the readings' [start, end) windows."""
    x = np.empty(2 * rows.shape[0])
    y = np.empty_like(x)
    x[0::2], x[1::2] = rows[:, 0], rows[:, 1]
    y[0::2] = y[1::2] = rows[:, col]
    return x, y


def _chain(rows: list[FloatArray]) -> list[int | None]:
    """For each meter, the meter whose output is its input (a chain such as gate ->
    compressor -> limiter: same windows, same peaks within 0.01 dB), else None."""
    fed: list[int | None] = [None] * len(rows)
    for a, ra in enumerate(rows):
        for b, rb in enumerate(rows):
            if a == b or fed[a] is not None or ra.shape != rb.shape:
                continue
            if np.array_equal(ra[:, :2], rb[:, :2]) and np.allclose(
                ra[:, 2], rb[:, 3], rtol=0.0, atol=0.01, equal_nan=True
            ):
                fed[a] = b
    return fed


def _chain_order(fed: list[int | None]) -> list[int]:
    """Meters in chain order: each head, then the meters it feeds, in turn."""
    order: list[int] = []
    pending = [i for i, f in enumerate(fed) if f is None or f == i]
    while pending:
        i = pending.pop(0)
        if i in order:
            continue
        order.append(i)
        pending[:0] = [j for j, f in enumerate(fed) if f == i and j not in order]
    return order + [i for i in range(len(fed)) if i not in order]  # cycles (never seen)


def _draw_dynamics(data: PlotData, path: Path, width_px: int, height_px: int) -> Path:
    found = [s for group in data.dynamics.values() for s in group]
    all_rows = [s.rows.rows() for s in found]
    fed = _chain(all_rows)
    order = _chain_order(fed)
    fig = _figure(width_px, height_px)
    ax, ax_gr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    palette = _colours(len(found))
    lows, highs, worst, t0, t1 = [], [], 0.0, math.inf, -math.inf
    parts = []
    for k, i in enumerate(order):
        s, rows, colour = found[i], all_rows[i], palette[k]
        t0, t1 = min(t0, float(rows[0, 0])), max(t1, float(rows[-1, 1]))
        x, y_in = _steps(rows, 2)
        _, y_out = _steps(rows, 3)
        _, gr = _steps(rows, 4)
        # Later stages draw thinner on top, so an earlier stage's line that they
        # leave unchanged still shows around them.
        lw = max(0.8, 2.6 - 0.6 * k)
        if fed[i] is None:  # a chain's input (a fed meter's input is drawn as an output)
            ax.plot(x, y_in, color="0.72", lw=3.4, label=f"{s.label} in")
        ax.plot(x, y_out, color=colour, lw=lw, label=f"{s.label} out")
        ax_gr.fill_between(x, 0.0, -gr, color=colour, alpha=0.25, lw=0)
        ax_gr.plot(x, -gr, color=colour, lw=1.0, label=s.label)
        for y in (y_in, y_out):
            fin = y[np.isfinite(y)]
            if fin.size:
                lows.append(float(fin.min()))
                highs.append(float(fin.max()))
        g = gr[np.isfinite(gr)]
        most = float(g.max()) if g.size else 0.0
        worst = max(worst, most)
        merged = f", {s.rows.stride} readings per point" if s.rows.stride > 1 else ""
        parts.append(f"{s.label} (max {most:.1f} dB{merged})")
    floor = max(min(lows, default=-60.0) - 3.0, -80.0)
    ax.set_ylim(floor, max(0.0, max(highs, default=0.0)) + 1.0)
    ax.set_ylabel("peak level (dBFS, max over channels)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small", ncols=min(len(found) + 1, 4))
    ax_gr.set_ylim(-max(1.0, 1.1 * worst), 0.5)
    ax_gr.set_ylabel("gain reduction (dB)")
    ax_gr.grid(alpha=0.3)
    ax_gr.legend(loc="lower left", fontsize="small", ncols=min(len(found), 4))
    ax_gr.set_xlim(t0, t1)
    _time_axis(ax_gr, t0, t1)
    fig.suptitle("dynamics, gain reduction: " + ", ".join(parts))
    return _save(fig, path)


def plot_dynamics(
    readings: Iterable[EventDict],
    out_png: PathLike,
    *,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
) -> Path:
    """Draw ``"dynamics"`` event dicts (meter readings of Compressor, Limiter, Gate...).

    Above: peak level in dBFS, the largest over the channels, as steps over each
    reading's window: every stage's output and the input of each chain (grey,
    underneath; a stage whose input peaks equal another stage's output peaks is taken to
    follow it, and its input is that output); the axis runs from 3 dB below the lowest
    peak (not below -80 dBFS) to 0 dBFS or the highest peak. Below: gain reduction in
    dB, drawn downwards. Every stage in the readings is drawn and labelled
    (a second meter of the same stage, e.g. two compressors, is ``"compressor 2"``).
    Returns the path written.
    """
    check_size(width_px, height_px)
    data = _collect(readings, "dynamics")
    return _draw_dynamics(data, Path(out_png), width_px, height_px)
