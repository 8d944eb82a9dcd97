"""Numba kernels of the loudness meter: K-weighted 100 ms sub-blocks, gating histograms,
true peak; and the gated statistics read from the histograms.

Every sum runs in the order of the samples (or of the sub-blocks) and its partial value is
carried in the state between calls, so any chunking gives the same bits.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from ._filters import TP_HISTORY

__all__ = [
    "BINS",
    "BIN_LU",
    "FLOOR_LUFS",
    "I_CLOSED",
    "I_FILLED",
    "I_N_INT",
    "I_N_ST",
    "I_RING",
    "I_SLOTS",
    "I_SUBLEN",
    "I_TP",
    "RING",
    "gated",
    "measure",
    "state_size",
    "true_peak_tail",
]

RING = 30  # sub-blocks of 100 ms in a short-term window (3 s); a momentary one holds 4
BIN_LU = 0.01  # width of a histogram bin (the gated statistics' resolution)
FLOOR_LUFS = -70.0  # the absolute gate; the histograms start there
BINS = 10_000  # -70 .. +30 LUFS
_OFFSET = -0.691  # BS.1770: L = -0.691 + 10 log10(sum_c G_c z_c)
_ABS_GATE = -70.0

# ist slots
I_SUBLEN, I_FILLED, I_CLOSED, I_RING, I_TP, I_N_INT, I_N_ST, I_SLOTS = range(8)
# fst layout, per channel c of C: biquad states 4C, accumulators C, true peaks C, true
# peak history TP_HISTORY * C; then the ring (RING), then the two gated energy sums.


def state_size(channels: int) -> int:
    """Length of the float state of a meter of ``channels`` channels."""
    return channels * (6 + TP_HISTORY) + RING + 2


@njit(cache=True, nogil=True, error_model="numpy")
def _loudness(power: float) -> float:
    return _OFFSET + 10.0 * math.log10(power)


@njit(cache=True, nogil=True, error_model="numpy")
def _bin(level: float) -> int:
    b = math.floor((level - FLOOR_LUFS) / BIN_LU)
    return b if b < BINS else BINS - 1


@njit(cache=True, nogil=True, error_model="numpy")
def _close(
    fst: npt.NDArray[np.float64],
    ist: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    hist: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
    row: int,
) -> None:
    """Close the sub-block: its power into the ring, the momentary (400 ms) and
    short-term (3 s) powers into ``out[row]`` (-1 before a full window) and, above
    the absolute gate, into the histograms."""
    channels = weights.shape[0]
    acc0 = 4 * channels
    ring0 = channels * (6 + TP_HISTORY)
    sublen = np.float64(ist[I_SUBLEN])
    p = 0.0
    for c in range(channels):
        p += weights[c] * (fst[acc0 + c] / sublen)
        fst[acc0 + c] = 0.0
    pos = ist[I_RING]
    fst[ring0 + pos] = p
    pos += 1
    if pos == RING:
        pos = 0
    ist[I_RING] = pos
    closed = ist[I_CLOSED] + 1
    ist[I_CLOSED] = closed
    momentary = -1.0
    if closed >= 4:
        s = 0.0
        for k in range(4):  # oldest to newest
            j = pos - 4 + k
            s += fst[ring0 + (j + RING if j < 0 else j)]
        momentary = s / 4.0
        if momentary > 0.0:
            level = _loudness(momentary)
            if level > _ABS_GATE:
                b = _bin(level)
                hist[0, b] += 1.0
                hist[1, b] += momentary
                ist[I_N_INT] += 1
                fst[ring0 + RING] += momentary
    short = -1.0
    if closed >= RING:
        s = 0.0
        for k in range(RING):  # oldest (at pos) to newest
            j = pos + k
            s += fst[ring0 + (j - RING if j >= RING else j)]
        short = s / RING
        if short > 0.0:
            level = _loudness(short)
            if level > _ABS_GATE:
                hist[2, _bin(level)] += 1.0
                ist[I_N_ST] += 1
                fst[ring0 + RING + 1] += short
    out[row, 0] = momentary
    out[row, 1] = short


@njit(cache=True, nogil=True, error_model="numpy")
def _true_peak(
    x: npt.NDArray[np.float32],
    fst: npt.NDArray[np.float64],
    phases: npt.NDArray[np.float32],
    buf: npt.NDArray[np.float32],
) -> None:
    """Running maximum of ``|x|`` and of the three interpolated phases, per channel.

    ``buf``: scratch of at least ``TP_HISTORY + frames`` values. The 12-tap dot
    products are written out (the taps stay in registers; LLVM vectorises over ``i``).
    """
    channels, frames = x.shape
    peak0 = 5 * channels
    hist0 = 6 * channels
    p0_0 = phases[0, 0]
    p0_1 = phases[0, 1]
    p0_2 = phases[0, 2]
    p0_3 = phases[0, 3]
    p0_4 = phases[0, 4]
    p0_5 = phases[0, 5]
    p0_6 = phases[0, 6]
    p0_7 = phases[0, 7]
    p0_8 = phases[0, 8]
    p0_9 = phases[0, 9]
    p0_10 = phases[0, 10]
    p0_11 = phases[0, 11]
    p1_0 = phases[1, 0]
    p1_1 = phases[1, 1]
    p1_2 = phases[1, 2]
    p1_3 = phases[1, 3]
    p1_4 = phases[1, 4]
    p1_5 = phases[1, 5]
    p1_6 = phases[1, 6]
    p1_7 = phases[1, 7]
    p1_8 = phases[1, 8]
    p1_9 = phases[1, 9]
    p1_10 = phases[1, 10]
    p1_11 = phases[1, 11]
    p2_0 = phases[2, 0]
    p2_1 = phases[2, 1]
    p2_2 = phases[2, 2]
    p2_3 = phases[2, 3]
    p2_4 = phases[2, 4]
    p2_5 = phases[2, 5]
    p2_6 = phases[2, 6]
    p2_7 = phases[2, 7]
    p2_8 = phases[2, 8]
    p2_9 = phases[2, 9]
    p2_10 = phases[2, 10]
    p2_11 = phases[2, 11]
    for c in range(channels):
        h = fst[hist0 + c * TP_HISTORY : hist0 + (c + 1) * TP_HISTORY]
        for k in range(TP_HISTORY):
            buf[k] = h[k]
        row = x[c]
        for i in range(frames):
            buf[TP_HISTORY + i] = row[i]
        peak = fst[peak0 + c]
        for i in range(frames):
            v1 = abs(
                p0_0 * buf[i + 12]
                + p0_1 * buf[i + 11]
                + p0_2 * buf[i + 10]
                + p0_3 * buf[i + 9]
                + p0_4 * buf[i + 8]
                + p0_5 * buf[i + 7]
                + p0_6 * buf[i + 6]
                + p0_7 * buf[i + 5]
                + p0_8 * buf[i + 4]
                + p0_9 * buf[i + 3]
                + p0_10 * buf[i + 2]
                + p0_11 * buf[i + 1]
            )
            v2 = abs(
                p1_0 * buf[i + 12]
                + p1_1 * buf[i + 11]
                + p1_2 * buf[i + 10]
                + p1_3 * buf[i + 9]
                + p1_4 * buf[i + 8]
                + p1_5 * buf[i + 7]
                + p1_6 * buf[i + 6]
                + p1_7 * buf[i + 5]
                + p1_8 * buf[i + 4]
                + p1_9 * buf[i + 3]
                + p1_10 * buf[i + 2]
                + p1_11 * buf[i + 1]
            )
            v3 = abs(
                p2_0 * buf[i + 12]
                + p2_1 * buf[i + 11]
                + p2_2 * buf[i + 10]
                + p2_3 * buf[i + 9]
                + p2_4 * buf[i + 8]
                + p2_5 * buf[i + 7]
                + p2_6 * buf[i + 6]
                + p2_7 * buf[i + 5]
                + p2_8 * buf[i + 4]
                + p2_9 * buf[i + 3]
                + p2_10 * buf[i + 2]
                + p2_11 * buf[i + 1]
            )
            v = v1 if v1 > v2 else v2
            v = v if v > v3 else v3
            v0 = abs(buf[i + TP_HISTORY])  # phase 0: the input sample
            v = v if v > v0 else v0
            buf[i] = v  # (read already: buf[i + 12 - k], k <= 11, is past i)
        # The maximum on the bit patterns (non-negative floats order as their bits; an
        # integer maximum vectorises, a float one does not without fast-math). Exact.
        bits = buf[:frames].view(np.int32)
        m = np.int32(0)
        for i in range(frames):
            b = bits[i]
            m = b if b > m else m
        bits[0] = m
        v = np.float64(buf[0])
        fst[peak0 + c] = v if v > peak else peak
        for k in range(TP_HISTORY):
            h[k] = buf[frames + k]


@njit(cache=True, nogil=True, error_model="numpy")
def measure(
    x: npt.NDArray[np.float32],
    lo: int,
    hi: int,
    coef: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    phases: npt.NDArray[np.float32],
    fst: npt.NDArray[np.float64],
    ist: npt.NDArray[np.int64],
    hist: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> int:
    """Meter frames ``lo..hi-1`` of ``x`` (C-contiguous ``(channels, frames)`` float32).

    K-weighting (two biquads, transposed direct form II, float64) and the sum of squares
    of each channel over 100 ms sub-blocks (``ist[I_SUBLEN]`` frames, tiled from the
    stream's first frame); each closed sub-block goes through :func:`_close`, which
    writes one row of ``out`` (at least ``(filled + frames) // sublen`` rows). With
    ``ist[I_TP]``, the true peak too. Returns the number of sub-blocks closed, or
    ``-1 - f`` when frame ``f`` holds a non-finite sample (then nothing is processed).
    """
    channels = x.shape[0]
    frames = hi
    bits = x.view(np.int32)
    bad = 0
    for c in range(channels):
        row_bits = bits[c, lo:hi]
        for i in range(hi - lo):
            bad += (row_bits[i] & 0x7F800000) == 0x7F800000
    if bad:
        for i in range(lo, hi):
            for c in range(channels):
                if not math.isfinite(x[c, i]):
                    return -1 - i
    b0, b1, b2, a1, a2 = coef[0], coef[1], coef[2], coef[3], coef[4]
    c0, c1, c2, d1, d2 = coef[5], coef[6], coef[7], coef[8], coef[9]
    acc0 = 4 * channels
    sublen = ist[I_SUBLEN]
    closed = 0
    i0 = lo
    while i0 < frames:
        filled = ist[I_FILLED]
        i1 = min(frames, i0 + sublen - filled)
        # Channels two at a time: their recursions are independent, so the two
        # dependency chains overlap.
        c = 0
        while c < channels:
            d = c + 1 if c + 1 < channels else c
            s1, s2, t1, t2 = fst[4 * c], fst[4 * c + 1], fst[4 * c + 2], fst[4 * c + 3]
            u1, u2, w1, w2 = fst[4 * d], fst[4 * d + 1], fst[4 * d + 2], fst[4 * d + 3]
            acc = fst[acc0 + c]
            acd = fst[acc0 + d]
            row = x[c, i0:i1]  # (0-based loops: no negative-index wraparound checks)
            rod = x[d, i0:i1]
            for i in range(i1 - i0):
                v = np.float64(row[i])
                y = b0 * v + s1
                s1 = b1 * v - a1 * y + s2
                s2 = b2 * v - a2 * y
                z = c0 * y + t1
                t1 = c1 * y - d1 * z + t2
                t2 = c2 * y - d2 * z
                acc += z * z
                v = np.float64(rod[i])
                y = b0 * v + u1
                u1 = b1 * v - a1 * y + u2
                u2 = b2 * v - a2 * y
                z = c0 * y + w1
                w1 = c1 * y - d1 * z + w2
                w2 = c2 * y - d2 * z
                acd += z * z
            fst[4 * c], fst[4 * c + 1], fst[4 * c + 2], fst[4 * c + 3] = s1, s2, t1, t2
            fst[acc0 + c] = acc
            if d != c:
                fst[4 * d], fst[4 * d + 1], fst[4 * d + 2], fst[4 * d + 3] = u1, u2, w1, w2
                fst[acc0 + d] = acd
            c += 2
        filled += i1 - i0
        if filled == sublen:
            _close(fst, ist, weights, hist, out, closed)
            closed += 1
            filled = 0
        ist[I_FILLED] = filled
        i0 = i1
    if ist[I_TP] != 0 and hi > lo:
        block = 2048
        buf = np.empty(TP_HISTORY + block, np.float32)
        for j in range(lo, hi, block):
            _true_peak(x[:, j : min(hi, j + block)], fst, phases, buf)
    return closed


@njit(cache=True, nogil=True, error_model="numpy")
def true_peak_tail(
    channels: int, phases: npt.NDArray[np.float32], fst: npt.NDArray[np.float64]
) -> None:
    """End of stream: the interpolated samples between the last inputs and the silence
    after them (``TP_HISTORY`` zeros through the interpolator)."""
    z = np.zeros((channels, TP_HISTORY), np.float32)
    buf = np.empty(2 * TP_HISTORY, np.float32)
    _true_peak(z, fst, phases, buf)


@njit(cache=True, nogil=True, error_model="numpy")
def gated(
    hist: npt.NDArray[np.float64], energy: float, count: int, relative_lu: float, row: int
) -> tuple[float, float, float, float]:
    """A gated statistic from histogram ``row`` (0: 400 ms blocks, 2: short-term).

    The relative gate is ``-0.691 + 10 log10(energy / count) + relative_lu`` (the mean
    power of the blocks above the absolute gate); a bin is kept when its centre is above
    it. Row 0 (integrated, BS.1770-4): returns (gate, loudness of the mean power of the
    kept blocks, nan, nan). Row 2 (loudness range, EBU Tech 3342): returns (gate, LRA,
    10th percentile, 95th percentile) of the kept short-term levels (bin centres;
    rank ``round((n - 1) * q)``). NaN where no block was kept.
    """
    nan = np.nan
    if count == 0:
        return nan, nan, nan, nan
    gate = _loudness(energy / count) + relative_lu
    first = math.floor((gate - FLOOR_LUFS) / BIN_LU)
    if first < 0:
        first = 0
    if first < BINS and FLOOR_LUFS + (first + 0.5) * BIN_LU <= gate:
        first += 1
    n = 0.0
    e = 0.0
    for b in range(first, BINS):
        n += hist[row, b]
        if row == 0:
            e += hist[1, b]
    if n == 0.0:
        return gate, nan, nan, nan
    if row == 0:
        return gate, _loudness(e / n), nan, nan
    lo_rank = math.floor((n - 1.0) * 0.10 + 0.5)
    hi_rank = math.floor((n - 1.0) * 0.95 + 0.5)
    lo = nan
    hi = nan
    seen = 0.0
    for b in range(first, BINS):
        k = hist[row, b]
        if k == 0.0:
            continue
        centre = FLOOR_LUFS + (b + 0.5) * BIN_LU
        if seen <= lo_rank < seen + k:
            lo = centre
        if seen <= hi_rank < seen + k:
            hi = centre
            break
        seen += k
    return gate, hi - lo, lo, hi
