"""Offline subsequence DTW: the reference the online aligner is checked against.

The alignment is a function from foreground frames (rows ``i``) to background frames
(columns ``j``): every fg frame shows exactly one bg frame and bg indices never go
back. Each fg frame advances the bg by a step ``s`` in ``0..max_step`` (0: a repeated
frame, 2 or more: dropped frames or a faster bg rate) at an additive penalty
``step_penalty * |s - slope|``, where ``slope`` is the expected bg frames per fg frame
(``bg_fps / fg_fps``)::

    D[0, j] = C[0, j]                                    (free start: subsequence)
    D[i, j] = C[i, j] + min_s (D[i - 1, j - s] + step_penalty * |s - slope|)
    end     = argmin_j D[n - 1, j]                       (free end)

Every path has one cell per row, so paths of different slopes compete fairly.

**Step pattern.** At a fractional slope the right path does not step by ``slope``
every row: 24 -> 30 fps advances the bg by 1, 1, 1, 1, 0 frames. With the constant
penalty above, always stepping by the nearest integer is cheaper than that pattern,
so where the costs are flat (a static shot) the path drifts off the true rate. Given a
``phase`` (the bg position of fg frame 0, fractional), the penalty of row ``i`` is
instead ``step_penalty * |s - e_i|`` with ``e_i = floor(phase + slope * i) -
floor(phase + slope * (i - 1))``: following the frame-rate pattern costs nothing, and a
dropped bg frame costs one ``step_penalty`` once, whatever the rows before it (a
dropped fg frame at a fractional slope: see "sub-frame positions"). This
is librosa's ``sequence.dtw(C, subseq=True, step_sizes_sigma=[[1, s]...],
weights_add=...)`` with a one-cell-per-row step set.

**Sub-frame positions.** A dropped fg frame moves the true path by ``slope`` bg
frames, a fraction at most rate ratios: after it the path follows the pattern of
another phase (60 -> 25 fps steps 2, 2, 3, 2, 3 from one phase and 2, 3, 2, 3, 2 from
another), and every row where the two phases step differently would cost one
``step_penalty`` more. Through a still shot, where the evidence of each row is weak,
the path then stays on the old phase, one frame off on the rows where they differ.
With ``subframes = q`` the path moves on ``q`` positions per bg frame instead:
position ``u`` shows bg frame ``u // q``, steps are counted in positions and cost
``step_penalty / q`` per position of deviation. It is exactly the recurrence above on
the cost matrix with every column repeated ``q`` times, at slope ``q * slope``. When
``q * slope`` is a whole number (``q = 5`` for 60 -> 25 fps) every phase of the
pattern is a constant step of positions, so a path that takes a dropped frame and
goes on in the new phase pays the drop once and nothing after it.

:func:`subsequence_dtw` fills the whole matrix. :func:`banded_subsequence_dtw` fills
only a band of ``2 * band + 1`` columns per row that follows the path: row 0 is
centred on ``start``, row ``i`` on ``p[i - 1] + slope`` (rounded half up), where
``p[i]`` is ``argmin_j D[i, j]`` (with sub-frame positions, the best position over
``subframes``), or ``p[i - 1] + slope`` when fg frame ``i`` is flat
(its band costs are all exactly 1: a black frame has a zero thumbnail), so fades and
black frames do not stall the band; its left edge never moves left. The online
aligner computes exactly these rows.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from stream import ParameterError

__all__ = [
    "banded_subsequence_dtw",
    "dtw_on_band",
    "check_dtw_parameters",
    "check_subframes",
    "pattern_weights",
    "step_weights",
    "subsequence_dtw",
]


def check_dtw_parameters(slope: float, band: int, max_step: int, step_penalty: float) -> None:
    """Validate DTW parameters; raise :class:`~stream.ParameterError` naming the bad one."""
    if not (math.isfinite(slope) and 0 < slope <= 8):
        raise ParameterError(f"DTW slope must be in (0, 8] bg frames per fg frame, got {slope}")
    if not 1 <= max_step <= 16:
        raise ParameterError(f"DTW max_step must be 1..16 bg frames, got {max_step}")
    if slope > max_step:
        raise ParameterError(
            f"DTW max_step ({max_step} bg frames) is below the expected slope {slope:.3f}"
        )
    if not max(max_step, 1) <= band <= 10_000:
        raise ParameterError(
            f"DTW band must be max_step ({max_step})..10000 bg frames each side, got {band}"
        )
    if not (math.isfinite(step_penalty) and step_penalty >= 0):
        raise ParameterError(
            f"DTW step_penalty must be >= 0 (cost units per frame of deviation), got {step_penalty}"
        )


MAX_SUBFRAMES = 64


def check_subframes(subframes: int, max_step: int) -> None:
    """Validate the sub-frame count; raise :class:`~stream.ParameterError` naming it."""
    if not 1 <= subframes <= MAX_SUBFRAMES:
        raise ParameterError(
            f"DTW subframes must be 1..{MAX_SUBFRAMES} positions per bg frame, got {subframes}"
        )
    if max_step * subframes > 32_000:
        raise ParameterError(
            f"DTW max_step * subframes must be <= 32000, got {max_step} * {subframes}"
        )


def step_weights(slope: float, max_step: int, step_penalty: float) -> npt.NDArray[np.float64]:
    """Additive cost of each step ``s = 0..max_step``: ``step_penalty * |s - slope|``."""
    s = np.arange(max_step + 1, dtype=np.float64)
    return step_penalty * np.abs(s - slope)


@numba.njit(cache=True, nogil=True)
def pattern_step(phase: float, slope: float, i: int) -> int:  # pragma: no cover - compiled
    """Expected bg advance into row ``i``: ``floor(phase + slope * i) - floor(... (i - 1))``."""
    return int(np.floor(phase + slope * i)) - int(np.floor(phase + slope * (i - 1)))


@numba.njit(cache=True, nogil=True)
def _fill_pattern(
    phase: float, slope: float, i: int, penalty: float, out: npt.NDArray[np.float64]
) -> None:  # pragma: no cover - compiled
    e = pattern_step(phase, slope, i)
    for s in range(out.shape[0]):
        out[s] = penalty * abs(s - e)


def pattern_weights(
    phase: float, slope: float, i: int, max_step: int, step_penalty: float
) -> npt.NDArray[np.float64]:
    """Additive cost of each step ``s = 0..max_step`` into row ``i`` on the frame-rate
    pattern of ``phase`` (module docs)."""
    out = np.empty(max_step + 1, np.float64)
    _fill_pattern(float(phase), float(slope), int(i), float(step_penalty), out)
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def dtw_row(
    prev_d: npt.NDArray[np.float64],
    prev_lo: int,
    cost: npt.NDArray[np.float64],
    lo: int,
    weights: npt.NDArray[np.float64],
    out_d: npt.NDArray[np.float64],
    out_step: npt.NDArray[np.int16],
) -> None:  # pragma: no cover - compiled
    """One DTW row: cells ``lo + k`` from the previous row's cells ``prev_lo + k'``.

    Ties go to the smallest step. Unreachable or out-of-range cells get ``inf`` and
    step -1.
    """
    width = cost.shape[0]
    prev_width = prev_d.shape[0]
    n_steps = weights.shape[0]
    delta = lo - prev_lo
    for k in range(width):
        kp = k + delta  # the previous row's cell of step 0
        best = np.inf
        best_s = -1
        if n_steps == 4 and 3 <= kp < prev_width:
            # The default step set away from the band's edges: a constant trip count
            # that LLVM unrolls (twice as fast as the general loop).
            for s in range(4):
                v = prev_d[kp - s] + weights[s]
                if v < best:
                    best = v
                    best_s = s
        else:
            for s in range(max(0, kp - prev_width + 1), min(n_steps - 1, kp) + 1):
                v = prev_d[kp - s] + weights[s]
                if v < best:
                    best = v
                    best_s = s
        d = cost[k] + best
        if d < np.inf:
            out_d[k] = d
            out_step[k] = best_s
        else:
            out_d[k] = np.inf
            out_step[k] = -1


@numba.njit(cache=True, nogil=True)
def _banded(
    cost: npt.NDArray[np.float64],
    start: float,
    band: int,
    slope: float,
    weights: npt.NDArray[np.float64],
    full: bool,
    penalty: float,
    phase: float,
    sub: int,
) -> npt.NDArray[np.int64]:  # pragma: no cover - compiled
    # Band geometry in bg frames; the recurrence on ``sub`` positions per frame
    # (module docs, "sub-frame positions"): fine position u shows bg frame u // sub.
    n, m = cost.shape
    patterned = not np.isnan(phase)
    w = weights.copy()
    width = m if full else 2 * band + 1
    wf = width * sub
    los = np.zeros(n, np.int64)  # fine
    steps = np.full((n, wf), -1, np.int16)
    prev = np.full(wf, np.inf)
    cur = np.full(wf, np.inf)
    crow = np.full(wf, np.inf)
    pos = start
    lo = 0 if full else max(0, int(np.floor(start + 0.5)) - band)
    for i in range(n):
        if i > 0 and not full:
            lo = max(lo, int(np.floor(pos + slope + 0.5)) - band)
        los[i] = lo * sub
        flat = True
        for k in range(width):
            j = lo + k
            c = cost[i, j] if j < m else np.inf
            for r in range(sub):
                crow[k * sub + r] = c
            if j < m and c != 1.0:
                flat = False
        if i == 0:
            for k in range(wf):
                cur[k] = crow[k]
        else:
            if patterned:
                _fill_pattern(phase * sub, slope * sub, i, penalty / sub, w)
            dtw_row(prev, los[i - 1], crow, los[i], w, cur, steps[i])
        if not flat:
            best_k = 0
            for k in range(wf):
                if cur[k] < cur[best_k]:
                    best_k = k
            pos = (los[i] + best_k) / sub
        elif i > 0:
            pos += slope
        prev, cur = cur, prev
    path = np.empty(n, np.int64)
    best_k = 0
    for k in range(wf):
        if prev[k] < prev[best_k]:
            best_k = k
    j = los[n - 1] + best_k
    for i in range(n - 1, -1, -1):
        path[i] = j // sub
        if i > 0:
            j -= steps[i, j - los[i]]
    return path


@numba.njit(cache=True, nogil=True)
def _on_band(
    band_cost: npt.NDArray[np.float64], los: npt.NDArray[np.int64], weights: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:  # pragma: no cover - compiled
    n, width = band_cost.shape
    steps = np.full((n, width), -1, np.int16)
    prev = band_cost[0].copy()
    cur = np.empty(width)
    for i in range(1, n):
        dtw_row(prev, los[i - 1], band_cost[i], los[i], weights, cur, steps[i])
        prev, cur = cur, prev
    best_k = 0
    for k in range(width):
        if prev[k] < prev[best_k]:
            best_k = k
    path = np.empty(n, np.int64)
    j = los[n - 1] + best_k
    for i in range(n - 1, -1, -1):
        path[i] = j
        if i > 0:
            j -= steps[i, j - los[i]]
    return path


def dtw_on_band(
    band_cost: npt.ArrayLike,
    los: npt.ArrayLike,
    slope: float = 1.0,
    max_step: int = 3,
    step_penalty: float = 0.01,
) -> npt.NDArray[np.int64]:
    """Subsequence DTW on a given band: row ``i`` holds the costs of bg frames
    ``los[i] .. los[i] + width - 1`` (``inf`` where absent); ``los`` never decreases.

    The same recurrence as :func:`subsequence_dtw`, one Numba pass; returns the path.
    """
    c = np.ascontiguousarray(band_cost, dtype=np.float64)
    lo = np.ascontiguousarray(los, dtype=np.int64)
    if c.ndim != 2 or lo.shape != (c.shape[0],) or c.shape[0] < 1:
        raise ValueError(f"dtw_on_band: band {c.shape} and los {lo.shape} do not match")
    if np.any(np.diff(lo) < 0):
        raise ValueError("dtw_on_band: los must never decrease")
    check_dtw_parameters(slope, max(max_step, c.shape[1] // 2), max_step, step_penalty)
    return np.asarray(_on_band(c, lo, step_weights(slope, max_step, step_penalty)))


def _as_cost(cost: npt.ArrayLike) -> npt.NDArray[np.float64]:
    c = np.ascontiguousarray(cost, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 1:
        raise ValueError(f"DTW cost must be a non-empty (fg, bg) matrix, got shape {c.shape}")
    return c


def subsequence_dtw(
    cost: npt.ArrayLike,
    slope: float = 1.0,
    max_step: int = 3,
    step_penalty: float = 0.01,
    phase: float | None = None,
    subframes: int = 1,
) -> npt.NDArray[np.int64]:
    """Exact subsequence DTW over the whole cost matrix (``(n_fg, n_bg)``).

    ``phase``: penalise deviations from the frame-rate step pattern of that bg position
    of fg frame 0 instead of from ``slope`` (module docs). ``subframes``: positions per
    bg frame the path moves on (default 1; module docs). Returns the bg frame of each
    fg frame (``(n_fg,)`` int64, non-decreasing).
    """
    check_dtw_parameters(slope, max(max_step, math.ceil(slope)), max_step, step_penalty)
    check_subframes(subframes, max_step)
    c = _as_cost(cost)
    w = step_weights(slope * subframes, max_step * subframes, step_penalty / subframes)
    ph = math.nan if phase is None else float(phase)
    return np.asarray(
        _banded(c, 0.0, 0, float(slope), w, True, float(step_penalty), ph, int(subframes))
    )


def banded_subsequence_dtw(
    cost: npt.ArrayLike,
    start: float,
    slope: float = 1.0,
    band: int = 8,
    max_step: int = 3,
    step_penalty: float = 0.01,
    pattern: bool = True,
    subframes: int = 1,
) -> npt.NDArray[np.int64]:
    """Subsequence DTW restricted to the path-following band (see module docs).

    Args:
        cost: ``(n_fg, n_bg)`` frame costs.
        start: bg position (frames, may be fractional) the band of fg frame 0 is
            centred on.
        slope: expected bg frames per fg frame.
        band: half-width of the band, bg frames.
        max_step: largest bg advance per fg frame.
        step_penalty: cost per bg frame of deviation from the expected step.
        pattern: the expected step follows the frame-rate pattern of ``start`` (the
            online aligner's rule, default) rather than being ``slope`` itself.
        subframes: positions per bg frame the path moves on (default 1; module docs,
            "sub-frame positions").
    """
    check_dtw_parameters(slope, band, max_step, step_penalty)
    check_subframes(subframes, max_step)
    c = _as_cost(cost)
    if not (math.isfinite(start) and start < c.shape[1]):
        raise ValueError(f"DTW start must be a bg position below {c.shape[1]}, got {start}")
    sub = int(subframes)
    w = step_weights(slope * sub, max_step * sub, step_penalty / sub)
    ph = float(start) if pattern else math.nan
    return np.asarray(
        _banded(c, float(start), band, float(slope), w, False, float(step_penalty), ph, sub)
    )
