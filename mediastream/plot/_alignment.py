"""The alignment picture: the DTW cost band of VideoAlign, the chosen path and its cost."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ._checks import DEFAULT_HEIGHT_PX, DEFAULT_WIDTH_PX, check_size
from ._data import PlotData, _collect
from ._figure import _figure, _save
from ._types import EventDict, FloatArray, PathLike


def _band_image(
    bands: FloatArray, width: int, max_cols: int, max_rows: int
) -> tuple[FloatArray, tuple[float, float, float, float]] | None:
    """The band cells as an image of at most ``max_rows x max_cols`` (lowest cost per
    pixel, NaN outside the band) and its extent in frames; None without a finite cell."""
    fg = bands[:, 0:1]
    bg = bands[:, 1:2] + np.arange(width)
    costs = bands[:, 2:]
    ok = np.isfinite(costs)
    if not ok.any():
        return None
    fgs = np.broadcast_to(fg, costs.shape)[ok]
    bgs = bg[ok]
    vals = costs[ok]
    f0, f1 = float(fgs.min()), float(fgs.max())
    b0, b1 = float(bgs.min()), float(bgs.max())
    fspan, bspan = f1 - f0 + 1, b1 - b0 + 1
    cols, rows = int(min(fspan, max_cols)), int(min(bspan, max_rows))
    c = ((fgs - f0) * cols // fspan).astype(np.int64)
    r = ((bgs - b0) * rows // bspan).astype(np.int64)
    img = np.full((rows, cols), np.nan)
    np.fmin.at(img, (r, c), vals)
    return img, (f0 - 0.5, f1 + 0.5, b0 - 0.5, b1 + 0.5)


def _draw_alignment(data: PlotData, path: Path, width_px: int, height_px: int) -> Path:
    pairs = data.pairs.rows()
    fig = _figure(width_px, height_px)
    ax, ax_cost = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    parts = [f"{data.pairs.count} pairs"]
    if data.bands is not None and data.bands.count:
        made = _band_image(data.bands.rows(), data.band_width, width_px, height_px)
        if made is not None:
            img, extent = made
            from matplotlib import colormaps

            finite = img[np.isfinite(img)]
            top = max(0.05, float(np.percentile(finite, 99)))
            cmap = colormaps["viridis"].with_extremes(bad="white")
            im = ax.imshow(
                img, origin="lower", aspect="auto", interpolation="nearest", extent=extent,
                cmap=cmap, vmin=0.0, vmax=top,
            )  # fmt: skip
            fig.colorbar(im, ax=ax, label="local cost (1 - correlation)", pad=0.01)
            parts.append(f"band of {data.band_width} bg frames")
            if data.bands.stride > 1:
                parts.append(f"one band in {data.bands.stride} drawn")
    if data.pairs.count:
        fg, bg, cost, final = pairs[:, 0], pairs[:, 1], pairs[:, 2], pairs[:, 3]
        forced = final < 0.5
        ax.plot(fg, bg, color="#e8202a", lw=1.2, label="chosen path (bg frame per fg frame)")
        ax_cost.plot(fg, cost, color="#1f5fa8", lw=0.9, label="cost along the path")
        if forced.any():
            label = "forced out by max_lag (final=False)"
            ax.scatter(fg[forced], bg[forced], marker="x", s=36, color="#ff9f00", lw=1.5,
                       label=label, zorder=3)  # fmt: skip
            ax_cost.scatter(fg[forced], cost[forced], marker="x", s=30, color="#ff9f00",
                            lw=1.2, zorder=3)  # fmt: skip
        ax.legend(loc="upper left", fontsize="small")
        mean = data.cost_sum / data.pairs.count
        parts += [f"{data.forced} forced", f"mean cost {mean:.3f}"]
        if data.pairs.stride > 1:
            parts.append(f"one point per {data.pairs.stride} pairs")
        ax_cost.set_ylim(bottom=0.0)
    ax.set_ylabel("bg frame")
    ax.grid(alpha=0.25)
    ax_cost.set_ylabel("cost")
    ax_cost.set_xlabel("fg frame")
    ax_cost.grid(alpha=0.25)
    fig.suptitle("video alignment: " + ", ".join(parts))
    return _save(fig, path)


def plot_alignment(
    pairs: Iterable[EventDict],
    bands: Iterable[EventDict] | None,
    out_png: PathLike,
    *,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
) -> Path:
    """Draw a video alignment: the DTW cost band, the chosen path and its cost.

    ``pairs`` are ``"align_pair"`` event dicts, ``bands`` the ``"align_band"`` ones
    (``VideoAlign(band_costs=True)``; None or empty: path and cost only). The band is an
    image (x: fg frame, y: bg frame, colour: local cost ``1 - correlation``, blank
    outside the band), the path is drawn over it, pairs forced out by ``max_lag`` are
    crosses; the cost along the path is below. Returns the path written.
    """
    check_size(width_px, height_px)
    events = list(pairs) if bands is None else [*pairs, *bands]
    data = _collect(events, "align_pair", "align_band")
    return _draw_alignment(data, Path(out_png), width_px, height_px)
