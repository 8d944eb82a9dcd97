"""Limiter: a lookahead peak limiter whose output never exceeds the ceiling."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from numba import njit

from stream import AudioChunk, Item, ParameterError, StreamSpec

from ._base import DynamicsOperator, scratch
from ._fastmath import first_non_finite
from ._params import check_db, check_ms, coefficient, frames_of

__all__ = ["Limiter"]

# Integer state slots; then W deque frame indices from _DQ_IDX, then the W fixed-point
# values of h.
_N, _DQ_HEAD, _DQ_COUNT, _H_POS, _VIOLATIONS, _METER, _TOTAL, _DQ_IDX = range(8)
# h in (0, 1] as an integer multiple of 2**-44 (rounded down): sums of up to 2**19 of
# them are exact in int64, so the moving sum never drifts and does not depend on where
# the stream started.
_H_ONE = 2**44


@njit(cache=True, nogil=True, error_model="numpy")
def _limit(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    xin: npt.NDArray[np.float32],
    gains: npt.NDArray[np.float64],
    xring: npt.NDArray[np.float32],
    rings: npt.NDArray[np.float64],
    ist: npt.NDArray[np.int64],
    fst: npt.NDArray[np.float64],
) -> tuple[int, int]:
    """Limit ``x``; write the delayed, limited frames to ``y``.

    With ``W = L + 1`` (``L`` lookahead frames), per input frame ``n``:
    required gain ``g[n] = min(1, ceiling / max_c |x[c, n]|)``; ``h[n]`` = minimum
    of ``g`` over frames ``n-L..n`` (a monotonic deque); ``s[n]`` = mean of ``h``
    over frames ``n-L..n`` (an exact running sum of ``h`` rounded down to multiples of
    2**-44, in int64);
    ``G[n] = s[n]`` when ``s[n] < G[n-1]``, else the release one-pole
    ``s[n] + release * (G[n-1] - s[n])``. Output frame ``k = n - L`` gets
    ``x[k] * G[n]``. Every ``h[j]`` averaged into ``s[n]`` is a minimum over a
    window containing ``k``, so ``G[n] <= s[n] <= g[k]`` and
    ``|x[k]| * G[n] <= ceiling``: the gain ramp (linear, over ``L + 1`` frames)
    ends at the peak. The frames before the stream are silent (``g = 1``).

    Safety (documented): ``G`` is also capped at ``g[k]`` (it only ever corrects
    floating-point rounding of the running sum) and the float32 output at the
    largest float32 <= ceiling (rounding of the product); a cap that moves a value
    by more than rounding (relative 1e-9) is counted in ``ist[_VIOLATIONS]``
    (0 by design).

    State (few arguments: each costs dispatch time per call): ``xring`` the delayed
    input; ``rings`` rows ``g``, deque values; ``ist`` = frame count, deque head and
    size, ``h`` position, violations, meter flag, running sum, then the deque's frame
    indices and the fixed-point ``h`` ring; ``fst`` = (unused), gain, then the
    parameters ceiling, float32 ceiling, release coefficient. With the meter flag
    set, ``xin``/``gains`` receive the delayed input and the gain of every output
    frame. ``x`` must be C-contiguous.
    Returns (output frames written, first frame with a non-finite sample or -1); on a
    non-finite sample nothing is processed.
    """
    channels, frames = x.shape
    bad = first_non_finite(x)
    if bad >= 0:
        return 0, bad
    gring = rings[0]
    dq_val = rings[1]
    w = gring.shape[0]
    dq_idx = ist[_DQ_IDX : _DQ_IDX + w]
    hring = ist[_DQ_IDX + w : _DQ_IDX + 2 * w]
    lookahead = w - 1
    n = ist[_N]
    head = ist[_DQ_HEAD]
    count = ist[_DQ_COUNT]
    hpos = ist[_H_POS]
    meter = ist[_METER] != 0
    total = ist[_TOTAL]
    scale = np.float64(_H_ONE) * w
    gain = fst[1]
    ceiling = fst[2]
    ceiling32 = fst[3]
    release = fst[4]
    written = 0
    for i in range(frames):
        peak = 0.0
        for c in range(channels):
            a = abs(np.float64(x[c, i]))
            peak = a if a > peak else peak
        g = 1.0 if peak <= ceiling else ceiling / peak
        # Running minimum of g over n-L..n: a deque of increasing values in a ring.
        while count > 0:
            back = head + count - 1
            if back >= w:
                back -= w
            if dq_val[back] < g:
                break
            count -= 1
        if count > 0 and dq_idx[head] < n - lookahead:
            head += 1
            if head == w:
                head = 0
            count -= 1
        push = head + count
        if push >= w:
            push -= w
        dq_val[push] = g
        dq_idx[push] = n
        count += 1
        h = dq_val[head]
        # Moving average of h over n-L..n (hpos == n mod W).
        slot = hpos
        hq = np.int64(h * _H_ONE)
        total += hq - hring[hpos]
        hring[hpos] = hq
        hpos += 1
        if hpos == w:
            hpos = 0
        s = np.float64(total) / scale
        gain = s if s < gain else s + release * (gain - s)
        # Delay line: write frame n at slot n mod W, read frame n - L at (n + 1) mod W.
        for c in range(channels):
            xring[c, slot] = x[c, i]
        gring[slot] = g
        rd = hpos
        n += 1
        if n - 1 - lookahead < 0:
            continue
        gk = gring[rd]
        applied = gain
        if applied > gk:
            if applied > gk * (1.0 + 1e-9):
                ist[_VIOLATIONS] += 1
            applied = gk
        for c in range(channels):
            xv = xring[c, rd]
            out = np.float64(xv) * applied
            if abs(out) > ceiling * (1.0 + 1e-9):
                ist[_VIOLATIONS] += 1
            o32 = np.float32(out)
            if o32 > ceiling32:
                o32 = np.float32(ceiling32)
            elif o32 < -ceiling32:
                o32 = np.float32(-ceiling32)
            y[c, written] = o32
            if meter:
                xin[c, written] = xv
        if meter:
            gains[0, written] = applied
        written += 1
    ist[_N], ist[_DQ_HEAD], ist[_DQ_COUNT], ist[_H_POS] = n, head, count, hpos
    ist[_TOTAL] = total
    fst[1] = gain
    return written, -1


class Limiter(DynamicsOperator):
    """Lookahead peak limiter: the output never exceeds ``ceiling_db``.

    Args:
        ceiling_db: the most the output may reach, dBFS (default -1), <= 0.
        lookahead_ms: lookahead in ms (default 5, at most 1000), rounded to ``L``
            whole frames;
            the gain ramps down (linearly, over ``L + 1`` frames) before a peak and
            reaches the required gain on the peak itself.
        release_ms: release time constant, ms (default 50): one-pole recovery once
            the peak has passed.
        meter_interval_ms: None (default) or the window of ``"dynamics"`` meter
            events, ms; events are timed on the output audio (which is delayed).

    Linked: one gain for all channels, from the largest ``|x|`` across channels,
    computed in float64 (see the kernel ``_limit`` for the exact design and its two
    rounding-only safety caps). The output is the input delayed by ``L`` frames:
    its chunks keep the input's timeline (output frame ``k`` is input frame ``k``,
    limited) but are emitted ``L`` frames late; ``latency`` is exactly
    ``L / sample_rate`` s and ``flush()`` emits the last ``L`` frames, so the output
    has as many frames as the input. Chunk invariant (bit-identical). Non-finite
    input raises ValueError naming the frame.
    """

    def __init__(
        self,
        ceiling_db: float = -1.0,
        lookahead_ms: float = 5.0,
        release_ms: float = 50.0,
        meter_interval_ms: float | None = None,
    ) -> None:
        self.ceiling_db = check_db("Limiter", "ceiling_db", ceiling_db, low=-100.0, high=0.0)
        self.lookahead_ms = check_ms("Limiter", "lookahead_ms", lookahead_ms)
        if self.lookahead_ms > 1000.0:
            raise ParameterError(f"Limiter.lookahead_ms must be <= 1000 ms, got {lookahead_ms} ms")
        self.release_ms = check_ms("Limiter", "release_ms", release_ms)
        super().__init__(meter_interval_ms)
        self.ceiling = 10.0 ** (self.ceiling_db / 20.0)
        c32 = np.float32(self.ceiling)
        if float(c32) > self.ceiling:
            c32 = np.nextafter(c32, np.float32(0.0))
        self._ceiling32 = float(c32)
        self.lookahead_frames = 0
        self._release = 0.0
        self._gains = np.empty((1, 0), np.float64)
        self._xin = np.empty((1, 0), np.float32)
        self.reset()

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        specs = super().configure(inputs)
        self.lookahead_frames = frames_of(self.lookahead_ms, self._rate)
        self._release = coefficient(self.release_ms, self._rate)
        self.reset()
        return specs

    @property
    def latency(self) -> Fraction:
        return Fraction(self.lookahead_frames, self._rate) if self._rate else Fraction(0)

    @property
    def violations(self) -> int:
        """Values the rounding-only safety caps moved by more than rounding (0 by design)."""
        return int(self._ist[_VIOLATIONS])

    def reset(self) -> None:
        w = self.lookahead_frames + 1
        channels = max(1, self._channels)
        self._xring = np.zeros((channels, w), np.float32)
        self._rings = np.ones((2, w), np.float64)  # silence before the stream: g = 1
        meter = 1 if self._meter is not None else 0
        self._ist = np.full(_DQ_IDX + 2 * w, _H_ONE, np.int64)
        self._ist[_DQ_IDX : _DQ_IDX + w] = -1
        # One deque entry: g = 1 at frame -1; h = 1 everywhere, so the sum is W.
        self._ist[:_DQ_IDX] = [0, 0, 1, 0, 0, meter, w * _H_ONE]
        self._fst = np.array([0.0, 1.0, self.ceiling, self._ceiling32, self._release])
        self._in_frames = 0
        self._out_next: int | None = None
        self._reset_common()

    def _run(self, x: npt.NDArray[np.float32], first: int) -> list[Item]:
        frames = x.shape[1]
        y = np.empty((x.shape[0], frames), np.float32)
        meter = self._meter is not None
        if meter:
            self._gains = scratch(self._gains, 1, frames)
            if self._xin.shape[0] != x.shape[0] or self._xin.shape[1] < frames:
                self._xin = np.empty((x.shape[0], max(frames, 2 * self._xin.shape[1])), np.float32)
        written, bad = _limit(
            x, y, self._xin, self._gains, self._xring, self._rings, self._ist, self._fst
        )
        if bad >= 0:
            raise self._non_finite(first + bad)
        if not written:
            return []
        assert self._out_next is not None
        start = self._out_next
        self._out_next = start + written
        if written < frames:  # stream start and flush only
            y = np.ascontiguousarray(y[:, :written])
        if self._meter is None:
            return [AudioChunk(y, self._rate, start)]
        return self._emit(self._xin[:, :written], y, self._gains[:, :written], start)

    def process(self, item: Item) -> list[Item]:
        chunk = self._check(item)
        self._follow(chunk)
        if self._out_next is None:
            self._out_next = chunk.start
        if chunk.frames == 0:
            return []
        self._in_frames += chunk.frames
        x = chunk.data
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        return self._run(x, chunk.start)

    def flush(self) -> list[Item]:
        out: list[Item] = []
        held = min(self._in_frames, self.lookahead_frames)
        if held and self._out_next is not None:
            silence = np.zeros((self._channels, self.lookahead_frames), np.float32)
            out.extend(self._run(silence, 0))
        out.extend(self._meter_flush())
        return out
