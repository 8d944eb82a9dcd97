"""Template matching: where a foreground sits in one background frame, at what scale.

The foreground shows the background region ``(x, y, width, height)`` resized by
``scale`` (``fg_width = scale * width``). :func:`match_frame` finds it in one pair of
grey frames by normalised cross-correlation (OpenCV ``matchTemplate``,
``TM_CCOEFF_NORMED``: insensitive to brightness/contrast grades): the foreground is
resized for a geometric grid of scales and matched against a shrunk background, then
the best scale and position are refined at full resolution around the coarse hit
(:func:`refine_match`). OpenCV is imported on first use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Gray", "Registration", "match_frame", "refine_match", "scale_grid"]

Gray = npt.NDArray[np.uint8]


def _cv2() -> Any:
    import cv2

    return cv2


@dataclass(frozen=True)
class Registration:
    """Where the foreground sits in the background, in background pixels.

    Attributes:
        x: left edge of the region (pixels, sub-pixel after rescaling).
        y: top edge of the region (pixels).
        width: region width (pixels); ``fg_width / scale``.
        height: region height (pixels); ``fg_height / scale``.
        scale: foreground pixels per background pixel (1: same size, 0.5: halved).
        score: normalised cross-correlation of the match, -1..1.
    """

    x: float
    y: float
    width: float
    height: float
    scale: float
    score: float

    def region(self, bg_width: int, bg_height: int) -> tuple[int, int, int, int]:
        """The region as whole pixels ``(x, y, width, height)``, clipped to the frame."""
        x0 = min(max(0, round(self.x)), bg_width - 1)
        y0 = min(max(0, round(self.y)), bg_height - 1)
        x1 = min(bg_width, max(x0 + 1, round(self.x + self.width)))
        y1 = min(bg_height, max(y0 + 1, round(self.y + self.height)))
        return x0, y0, x1 - x0, y1 - y0

    def rescaled(self, fx: float, fy: float) -> Registration:
        """The same registration for a background resized by ``fx`` x ``fy``."""
        return Registration(
            self.x * fx, self.y * fy, self.width * fx, self.height * fy,
            self.scale / fx, self.score,
        )  # fmt: skip


def scale_grid(
    fg_size: tuple[int, int], bg_size: tuple[int, int], min_scale: float, max_scale: float,
    ratio: float = 1.07,
) -> list[float]:  # fmt: skip
    """Scales to try (geometric, ``ratio`` apart) for which the region fits the background."""
    fw, fh = fg_size
    bw, bh = bg_size
    lo = max(min_scale, fw / bw, fh / bh)
    hi = max_scale
    if lo > hi * (1 + 1e-9):
        return []
    steps = max(0, math.ceil(math.log(hi / lo) / math.log(ratio)))
    return [hi / ratio**k for k in range(steps)] + [lo]


def _best(result: npt.NDArray[np.float32]) -> tuple[float, int, int]:
    _, score, _, (x, y) = _cv2().minMaxLoc(result)
    return float(score), int(x), int(y)


def match_frame(
    fg: Gray,
    bg: Gray,
    min_scale: float = 0.25,
    max_scale: float = 1.0,
    coarse_width: int = 128,
    refine: bool = True,
    cache: dict[tuple[int, int], Gray] | None = None,
) -> Registration | None:
    """Best placement of grey ``fg`` in grey ``bg`` over scales and positions.

    Returns None when no scale in ``[min_scale, max_scale]`` fits. ``cache`` keeps
    resized copies of ``fg`` by size, for callers that match one fg many times.
    """
    cv2 = _cv2()
    bh, bw = bg.shape
    fh, fw = fg.shape
    c = min(1.0, coarse_width / bw)
    size = (max(1, round(bw * c)), max(1, round(bh * c)))
    small = cv2.resize(bg, size, interpolation=cv2.INTER_AREA)
    sh, sw = small.shape
    best: tuple[float, float, int, int] | None = None
    for s in scale_grid((fw, fh), (bw, bh), min_scale, max_scale):
        tw, th = min(sw, round(fw / s * c)), min(sh, round(fh / s * c))
        if tw < 4 or th < 4:
            continue
        tpl = _resized(fg, (tw, th), cache)
        score, x, y = _best(cv2.matchTemplate(small, tpl, cv2.TM_CCOEFF_NORMED))
        if best is None or score > best[0]:
            best = (score, s, x, y)
    if best is None:
        return None
    score, s, x, y = best
    if not refine:
        return Registration(x / c, y / c, fw / s, fh / s, s, score)
    guess = Registration(x / c, y / c, fw / s, fh / s, s, score)
    return refine_match(fg, bg, guess, 1 / c + 2, cache=cache)


def _resized(fg: Gray, size: tuple[int, int], cache: dict[tuple[int, int], Gray] | None) -> Gray:
    if cache is not None and size in cache:
        return cache[size]
    out: Gray = _cv2().resize(fg, size, interpolation=_cv2().INTER_AREA)
    if cache is not None:
        if len(cache) >= 256:  # sizes met during a long search: keep it bounded
            cache.clear()
        cache[size] = out
    return out


_REFINE = (0.965, 0.9825, 1.0, 1.0175, 1.035)


def refine_match(
    fg: Gray,
    bg: Gray,
    guess: Registration,
    radius: float,
    factors: tuple[float, ...] = _REFINE,
    cache: dict[tuple[int, int], Gray] | None = None,
) -> Registration:
    """Refine ``guess`` at full resolution: scales ``guess.scale * factors`` (default
    within 3.5 %, which covers the coarse grid's 7 % steps), positions within
    ``radius`` pixels."""
    cv2 = _cv2()
    bh, bw = bg.shape
    fh, fw = fg.shape
    best = guess
    best_score = -2.0
    pad = math.ceil(radius)
    for f in factors:
        s = guess.scale * f
        tw, th = round(fw / s), round(fh / s)
        if tw > bw or th > bh or tw < 4 or th < 4:
            continue
        x0 = max(0, math.floor(guess.x) - pad)
        y0 = max(0, math.floor(guess.y) - pad)
        x1 = min(bw, math.ceil(guess.x) + tw + pad)
        y1 = min(bh, math.ceil(guess.y) + th + pad)
        if x1 - x0 < tw or y1 - y0 < th:
            continue
        tpl = _resized(fg, (tw, th), cache)
        score, x, y = _best(cv2.matchTemplate(bg[y0:y1, x0:x1], tpl, cv2.TM_CCOEFF_NORMED))
        if score > best_score:
            best_score = score
            best = Registration(float(x0 + x), float(y0 + y), fw / s, fh / s, s, score)
    return best
