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

_chunk = AudioChunk._trusted  # outputs: arrays the operator allocated, validated times
_empty = np.empty
_F32 = np.float32

# Integer state slots (``ist``); then the W fixed-point values of h for frames
# n-W..n-1 (n: the next input frame), then room for a block of new ones.
_N, _VIOLATIONS, _TOTAL, _HQ = range(4)
# Float state slots (``fst``): the gain, then the parameters.
_GAIN, _CEIL, _CEIL32, _RELEASE, _PMIN = range(5)
# h in (0, 1] as an integer multiple of 2**-44 (rounded down): sums of up to 2**19 of
# them are exact in int64, so the moving sum never drifts and does not depend on where
# the stream started or how it was cut.
_H_ONE = 2**44
_BLOCK = 512  # frames per pass (the history buffers hold L + _BLOCK frames)


@njit(cache=True, nogil=True, error_model="numpy")
def _limit(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    xin: npt.NDArray[np.float32],
    gains: npt.NDArray[np.float64],
    xbuf: npt.NDArray[np.float32],
    work: npt.NDArray[np.float64],
    ist: npt.NDArray[np.int64],
    fst: npt.NDArray[np.float64],
) -> int:
    """Limit ``x``; write the delayed, limited frames to ``y``.

    With ``W = L + 1`` (``L`` lookahead frames), per input frame ``n``:
    required gain ``g[n] = min(1, ceiling / max_c |x[c, n]|)`` (computed as
    ``ceiling / max(peak, ceiling)``, the same bits); ``h[n]`` = minimum of ``g``
    over frames ``n-L..n``; ``s[n]`` = mean of ``h`` over frames ``n-L..n`` (an exact
    running sum of ``h`` rounded down to multiples of 2**-44, in int64);
    ``G[n] = s[n]`` when ``s[n] < G[n-1]``, else the release one-pole
    ``s[n] + release * (G[n-1] - s[n])``. Output frame ``k = n - L`` gets
    ``x[k] * G[n]``. Every ``h[j]`` averaged into ``s[n]`` is a minimum over a
    window containing ``k``, so ``G[n] <= s[n] <= g[k]`` and
    ``|x[k]| * G[n] <= ceiling``: the gain ramp (linear, over ``L + 1`` frames)
    ends at the peak. The frames before the stream are silent (``g = 1``).

    O(1) per frame, in passes over blocks of up to ``_BLOCK`` frames: the required
    gains, the running minimum by van Herk--Gil-Werman (prefix and suffix minima over
    segments of ``W`` frames tiled from the stream's first frame; a minimum is exact,
    so any segmentation gives the same bits), the moving sum as one integer add and
    subtract per frame with the release one-pole fused into the same pass, then the
    gain applied to the delayed frames.

    Safety (documented): ``G`` is also capped at ``g[k]`` (it only ever corrects
    floating-point rounding of the running sum) and the float32 output at the
    largest float32 <= ceiling (rounding of the product); a cap that moves a value
    by more than rounding (relative 1e-9) is counted in ``ist[_VIOLATIONS]``
    (0 by design).

    State (few arguments: each costs dispatch time per call): ``xbuf``
    ``(channels, L + _BLOCK)``, its first ``L`` columns the input frames ``n-L..n-1``;
    ``work`` rows: ``g`` history (first ``L`` = frames ``n-L..n-1``), ``h``, the
    suffix minima of the last complete segment (then +inf), gains (each
    ``L + _BLOCK``); ``ist`` = frame count, violations, running sum, then the
    fixed-point ``h`` history (first ``W`` = frames ``n-W..n-1``); ``fst`` = gain,
    ceiling, float32 ceiling, release coefficient, prefix minimum of the current
    segment.
    With ``gains`` of at least ``frames`` columns (a meter), ``xin``/``gains``
    receive the delayed input and the gain of every output frame. ``x`` must be
    C-contiguous.
    Returns the number of output frames written, or ``-1 - f`` when frame ``f``
    holds a non-finite sample (then nothing is processed).
    """
    channels, frames = x.shape
    bad = first_non_finite(x)
    if bad >= 0:
        return -1 - bad
    w = work.shape[1] - _BLOCK + 1
    lookahead = w - 1
    gext = work[0]
    pre = work[1]
    suf = work[2]
    gout = work[3]
    hq = ist[_HQ:]
    meter = gains.shape[1] >= frames
    n_abs = ist[_N]
    total = ist[_TOTAL]
    violations = ist[_VIOLATIONS]
    scale = np.float64(_H_ONE) * w
    gain = fst[_GAIN]
    ceiling = fst[_CEIL]
    ceiling32 = np.float32(fst[_CEIL32])
    release = fst[_RELEASE]
    loose = 1.0 + 1e-9
    written = 0
    for b0 in range(0, frames, _BLOCK):
        n = min(_BLOCK, frames - b0)
        m = lookahead + n
        # Required gains of the new frames, and the new frames into the delay line.
        gnew = gext[lookahead:m]
        for c in range(channels):
            src = x[c, b0 : b0 + n]
            dst = xbuf[c, lookahead:m]
            if c == 0:
                for i in range(n):
                    gnew[i] = abs(np.float64(src[i]))
            else:
                for i in range(n):
                    a = abs(np.float64(src[i]))
                    gnew[i] = a if a > gnew[i] else gnew[i]
            for i in range(n):
                dst[i] = src[i]
        for i in range(n):
            p = gnew[i]
            gnew[i] = ceiling / (p if p > ceiling else ceiling)
        # Running minimum over W frames by van Herk--Gil-Werman on segments of W
        # frames tiled from the stream's first frame: frame t at position p of its
        # segment has h = min(suffix minimum of the previous segment from p + 1, prefix
        # minimum of its own up to p). The prefix minimum is carried (fst[_PMIN]), the
        # previous segment's suffix minima are kept (``suf``, with +inf at W), and a
        # segment's are computed once, when it completes: O(1) a frame, whatever the
        # chunk size. (A minimum is exact: the bits are those of any other order.)
        hrow_all = pre
        if lookahead > 0:
            pmin = fst[_PMIN]
            pos = n_abs % w
            i = 0
            while i < n:
                cnt = min(n - i, w - pos)
                gseg = gnew[i : i + cnt]
                hrow = hrow_all[i : i + cnt]
                v = gseg[0]
                if pos != 0 and pmin < v:
                    v = pmin
                hrow[0] = v
                for j in range(1, cnt):
                    u = gseg[j]
                    v = u if u < v else v
                    hrow[j] = v
                pmin = v
                sprev = suf[pos + 1 : pos + 1 + cnt]
                for j in range(cnt):
                    a = sprev[j]
                    b = hrow[j]
                    hrow[j] = a if a < b else b
                pos += cnt
                i += cnt
                if pos == w:
                    segv = gext[lookahead + i - w : lookahead + i]
                    v = segv[w - 1]
                    suf[w - 1] = v
                    for j in range(w - 2, -1, -1):
                        u = segv[j]
                        v = u if u < v else v
                        suf[j] = v
                    pos = 0
            fst[_PMIN] = pmin
        else:
            for i in range(n):
                hrow_all[i] = gext[i]
        # Exact moving sum of h (fixed point) and the release one-pole, fused.
        for i in range(n):
            q = np.int64(pre[i] * _H_ONE)
            hq[w + i] = q
            total += q - hq[i]
            s = np.float64(total) / scale
            gain = s if s < gain else s + release * (gain - s)
            gout[i] = gain
        # Output frames k = n_abs - L + i (none before the stream's first frame).
        skip = lookahead - n_abs if n_abs < lookahead else 0
        skip = skip if skip < n else n
        # (Loops from 0 over slices: no negative-index wraparound, so they vectorise.)
        count = n - skip
        gk_row = gext[skip:n]
        g_row = gout[skip:n]
        for i in range(count):
            gk = gk_row[i]
            applied = g_row[i]
            violations += applied > gk * loose
            g_row[i] = applied if applied < gk else gk
        for c in range(channels):
            src = xbuf[c, skip:n]
            dst = y[c, written : written + count]
            for i in range(count):
                out = np.float64(src[i]) * g_row[i]
                violations += abs(out) > ceiling * loose
                o32 = np.float32(out)
                o32 = o32 if o32 < ceiling32 else ceiling32
                o32 = o32 if o32 > -ceiling32 else -ceiling32
                dst[i] = o32
            if meter:
                xr = xin[c, written : written + count]
                for i in range(count):
                    xr[i] = src[i]
        if meter:
            gr = gains[0, written : written + count]
            for i in range(count):
                gr[i] = g_row[i]
        written += n - skip
        n_abs += n
        # Move the history: the last L frames (W for h) to the front.
        for j in range(lookahead):
            gext[j] = gext[n + j]
        for c in range(channels):
            for j in range(lookahead):
                xbuf[c, j] = xbuf[c, n + j]
        for j in range(w):
            hq[j] = hq[n + j]
    ist[_N] = n_abs
    ist[_TOTAL] = total
    ist[_VIOLATIONS] = violations
    fst[_GAIN] = gain
    return written


@njit(cache=True, nogil=True, error_model="numpy")
def _limit_plain(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    xbuf: npt.NDArray[np.float32],
    work: npt.NDArray[np.float64],
    ist: npt.NDArray[np.int64],
    fst: npt.NDArray[np.float64],
) -> int:
    """:func:`_limit` without kept gains (no meter), its own input as ``xin``: six
    arguments for Numba to dispatch per chunk instead of eight."""
    return _limit(x, y, x, work[:1, :0], xbuf, work, ist, fst)


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
        self._xbuf = np.zeros((channels, w - 1 + _BLOCK), np.float32)  # silence before
        self._work = np.ones((4, w - 1 + _BLOCK), np.float64)  # g = 1 before the stream
        self._work[2, w] = np.inf  # (past the suffix minima: see _limit)
        # h = 1 before the stream, so the moving sum is W.
        self._ist = np.full(_HQ + w + _BLOCK, _H_ONE, np.int64)
        self._ist[:_HQ] = [0, 0, w * _H_ONE]
        self._fst = np.array([1.0, self.ceiling, self._ceiling32, self._release, 1.0])
        # Gains and delayed input are kept for the meter only; without one, none.
        self._gains = np.empty((1, 0), np.float64)
        self._in_frames = 0
        self._out_next: int | None = None
        self._reset_common()

    def _run(self, x: npt.NDArray[np.float32], first: int) -> list[Item]:
        frames = x.shape[1]
        y = _empty((x.shape[0], frames), _F32)
        meter = self._meter is not None
        if meter:
            self._gains = scratch(self._gains, 1, frames)
            if self._xin.shape[0] != x.shape[0] or self._xin.shape[1] < frames:
                self._xin = np.empty((x.shape[0], max(frames, 2 * self._xin.shape[1])), np.float32)
        written = _limit(x, y, self._xin, self._gains, self._xbuf, self._work, self._ist, self._fst)
        if written < 0:
            raise self._non_finite(first - 1 - written)
        if not written:
            return []
        assert self._out_next is not None
        start = self._out_next
        self._out_next = start + written
        if written < frames:  # stream start and flush only
            y = np.ascontiguousarray(y[:, :written])
        if self._meter is None:
            return [_chunk(y, self._rate, start)]
        return self._emit(self._xin[:, :written], y, self._gains[:, :written], start)

    def process(self, item: Item) -> list[Item]:
        if type(item) is AudioChunk and item.sample_rate == self._rate and self._meter is None:
            # The common case (no meter, past the stream's first L frames), with as
            # little Python as possible; the same checks as below.
            x = item.data
            shape = x.shape
            out_next = self._out_next
            if (
                shape[0] == self._channels
                and shape[1]
                and x.flags.c_contiguous
                and out_next is not None
                and self._in_frames >= self.lookahead_frames
            ):
                if item.start != self._next_in:
                    raise self._gap(item.start)
                frames = shape[1]
                self._next_in = item.start + frames
                self._in_frames += frames
                y = _empty(shape, _F32)
                written = _limit_plain(x, y, self._xbuf, self._work, self._ist, self._fst)
                if written == frames:
                    self._out_next = out_next + frames
                    return [_chunk(y, self._rate, out_next)]
                raise self._non_finite(item.start - 1 - written)
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
