"""Numba kernels of the loudness meter: K-weighted 100 ms sub-blocks, gating histograms,
true peak; and the gated statistics read from the histograms.

Every sum runs in the order of the samples (or of the sub-blocks) and its partial value is
carried in the state between calls, so any chunking gives the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from llvmlite import ir  # type: ignore[import-untyped, unused-ignore]
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

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
    "SCRATCH",
    "gated",
    "measure",
    "peak_slice",
    "powers_slice",
    "ring_energy_index",
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
# fst layout, per channel c of C: filter states 6C (the last two inputs, shelf outputs and
# high-pass outputs), accumulators C, true peaks C, true peak history TP_HISTORY * C; then
# the ring (RING), then the two gated energy sums, the largest momentary and short-term
# powers, the last momentary and short-term powers (-1 before a full window).
_FILTER = 6  # filter state values per channel
_ACC = _FILTER  # the accumulators start at _ACC * C, the true peaks at _PEAK * C...
_PEAK = _FILTER + 1
_HIST = _FILTER + 2
_WORK = 32  # float64 scratch of the K-weighting: paired coefficients, lanes' state
_TP_BLOCK = 2048  # frames through the true-peak interpolator at a time
SCRATCH = _WORK + (TP_HISTORY + _TP_BLOCK) // 2  # float64 scratch of measure


def state_size(channels: int) -> int:
    """Length of the float state of a meter of ``channels`` channels."""
    return channels * (_HIST + TP_HISTORY) + RING + 6


def peak_slice(channels: int) -> slice:
    """Where the state holds the channels' true peaks (linear)."""
    return slice(_PEAK * channels, (_PEAK + 1) * channels)


def ring_energy_index(channels: int, k: int) -> int:
    """Where the state holds the energy sum of the blocks above the absolute gate: ``k``
    = 0 for the 400 ms blocks, 1 for the short-term ones."""
    return channels * (_HIST + TP_HISTORY) + RING + k


def powers_slice(channels: int) -> slice:
    """Where the state holds the largest momentary and short-term powers so far, then the
    last ones (-1 before a full window; 0 before any sub-block closed)."""
    start = channels * (_HIST + TP_HISTORY) + RING + 2
    return slice(start, start + 4)


@intrinsic
def _fma64_intrinsic(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """``a * b + c`` rounded once (LLVM's ``llvm.fma.f64``: the same bits on every
    path, scalar or vector; a hardware FMA where the CPU has one)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _fma32_intrinsic(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """``a * b + c`` in float32, rounded once (``llvm.fma.f32``)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _float32_from_bits_intrinsic(typingctx, bits):  # type: ignore[no-untyped-def]
    """The float32 whose bit pattern is the int32 ``bits``."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen


@intrinsic
def _k_weight_pair_intrinsic(typingctx, xa, xb, n, coef, st):  # type: ignore[no-untyped-def]
    """K-weight ``n`` frames of two float32 rows ``xa``, ``xb`` (contiguous) and add their
    squares to two accumulators, both channels in the two lanes of one ``<2 x double>``
    (SSE2/AVX: one vector instruction does what two scalar ones did; Numba's own code
    leaves SLP vectorisation off, so the lanes are written out here in LLVM IR).

    Per lane, per frame, the operations of the scalar definition in the same order
    (``llvm.fma`` rounds once in either form, so the bits are those of the scalar code):
    ``u = fma(b2, x2, fma(b1, x1, b0 * x))``, ``y = fma(-a1, y1, fma(-a2, y2, u))``,
    ``z = fma(-d1, z1, fma(-d2, z2, ((y - y1) - y1) + y2))``, ``acc = fma(z, z, acc)``.
    ``coef``: 14 float64, each coefficient twice (one per lane): b0 b1 b2 -a1 -a2 -d1
    -d2. ``st``: 14 float64, lanes a/b of x1 x2 y1 y2 z1 z2 acc, read and written back.
    """
    arrays = (xa, xb, coef, st)
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in arrays):
        return None
    if (xa.dtype, xb.dtype, coef.dtype, st.dtype) != (types.float32,) * 2 + (types.float64,) * 2:
        return None
    sig = types.void(xa, xb, n, coef, st)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        xa_t, xb_t, _, coef_t, st_t = signature.args
        p_xa = context.make_array(xa_t)(context, builder, args[0]).data
        p_xb = context.make_array(xb_t)(context, builder, args[1]).data
        p_cf = context.make_array(coef_t)(context, builder, args[3]).data
        p_st = context.make_array(st_t)(context, builder, args[4]).data
        i32, i64, f64 = ir.IntType(32), ir.IntType(64), ir.DoubleType()
        vec = ir.VectorType(f64, 2)
        fma = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fma.v2f64"
        )

        def pair(a: ir.Value, b: ir.Value) -> ir.Value:
            v = builder.insert_element(ir.Constant(vec, ir.Undefined), a, ir.Constant(i32, 0))
            return builder.insert_element(v, b, ir.Constant(i32, 1))

        def load_pair(ptr: ir.Value, k: int) -> ir.Value:
            return pair(
                builder.load(builder.gep(ptr, [ir.Constant(i64, k)])),
                builder.load(builder.gep(ptr, [ir.Constant(i64, k + 1)])),
            )

        b0, b1, b2, na1, na2, nd1, nd2 = (load_pair(p_cf, 2 * k) for k in range(7))
        slots = [
            cgutils.alloca_once_value(builder, load_pair(p_st, 2 * k))  # type: ignore[no-untyped-call]
            for k in range(7)
        ]
        with cgutils.for_range(builder, args[2]) as loop:
            i = loop.index
            x = pair(
                builder.fpext(builder.load(builder.gep(p_xa, [i])), f64),
                builder.fpext(builder.load(builder.gep(p_xb, [i])), f64),
            )
            x1, x2, y1, y2, z1, z2, acc = (builder.load(slot) for slot in slots)
            u = builder.call(fma, [b2, x2, builder.call(fma, [b1, x1, builder.fmul(b0, x)])])
            y = builder.call(fma, [na1, y1, builder.call(fma, [na2, y2, u])])
            t = builder.fadd(builder.fsub(builder.fsub(y, y1), y1), y2)
            z = builder.call(fma, [nd1, z1, builder.call(fma, [nd2, z2, t])])
            acc = builder.call(fma, [z, z, acc])
            for slot, value in zip(slots, (x, x1, y, y1, z, z1, acc), strict=True):
                builder.store(value, slot)
        for k, slot in enumerate(slots):
            v = builder.load(slot)
            for lane in range(2):
                builder.store(
                    builder.extract_element(v, ir.Constant(i32, lane)),
                    builder.gep(p_st, [ir.Constant(i64, 2 * k + lane)]),
                )
        return context.get_dummy_value()

    return sig, codegen


# As the kernels call them (an intrinsic's Python signature has the typing context first).
_fma: Callable[[float, float, float], float] = _fma64_intrinsic  # type: ignore[assignment]
_k_weight_pair: Callable[..., None] = _k_weight_pair_intrinsic
_fma32: Callable[[np.float32, np.float32, np.float32], np.float32] = _fma32_intrinsic  # type: ignore[assignment]
_float32_from_bits: Callable[[np.int32], np.float32] = _float32_from_bits_intrinsic  # type: ignore[assignment]


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
    short-term (3 s) powers into ``out[row]`` (-1 before a full window) and into the
    state's largest and last powers, and, above the absolute gate, into the histograms."""
    channels = weights.shape[0]
    acc0 = _ACC * channels
    ring0 = channels * (_HIST + TP_HISTORY)
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
    tail = ring0 + RING + 2
    if momentary > fst[tail]:
        fst[tail] = momentary
    if short > fst[tail + 1]:
        fst[tail + 1] = short
    fst[tail + 2] = momentary
    fst[tail + 3] = short


@njit(cache=True, nogil=True, inline="always")
def _tp_gain(phases: npt.NDArray[np.float32]) -> float:
    """No interpolated value exceeds max|x| over its taps times the phase's sum of |taps|
    (1.9 here), give or take the float32 rounding (about 1e-6 relative; the margin is
    1e-3): this bound's factor."""
    gain = 0.0
    for p in range(phases.shape[0]):
        g = 0.0
        for k in range(phases.shape[1]):
            g += abs(np.float64(phases[p, k]))
        gain = max(gain, g)
    return gain * 1.001


@njit(cache=True, nogil=True, inline="always")
def _tp_bound(top: float, h: npt.NDArray[np.float64]) -> float:
    """The largest of ``top`` and the magnitudes of the carried inputs ``h``."""
    for k in range(TP_HISTORY):
        top = max(top, abs(h[k]))
    return top


@njit(cache=True, nogil=True, inline="always")
def _tp_advance(h: npt.NDArray[np.float64], row: npt.NDArray[np.float32]) -> None:
    """Carry the last ``TP_HISTORY`` inputs of ``h`` followed by ``row`` in ``h``."""
    frames = row.shape[0]
    if frames >= TP_HISTORY:
        for k in range(TP_HISTORY):
            h[k] = row[frames - TP_HISTORY + k]
    else:
        for k in range(TP_HISTORY - frames):
            h[k] = h[k + frames]
        for i in range(frames):
            h[TP_HISTORY - frames + i] = row[i]


@njit(cache=True, nogil=True, error_model="numpy")
def _true_peak(
    x: npt.NDArray[np.float32],
    lo: int,
    hi: int,
    fst: npt.NDArray[np.float64],
    phases: npt.NDArray[np.float32],
    buf: npt.NDArray[np.float32],
) -> None:
    """Running maximum of ``|x|`` and of the three interpolated phases, per channel, over
    frames ``lo..hi-1`` of ``x`` (C-contiguous ``(channels, frames)``).

    ``buf``: scratch of at least ``TP_HISTORY + hi - lo`` values. The phases' symmetry
    (see :func:`~._filters.true_peak_phases`: phase 2 is symmetric, phase 3 is phase 1
    reversed) folds the taps: with ``P_k = x[a_k] + x[b_k]`` and ``Q_k = x[a_k] - x[b_k]``
    over the 6 pairs of mirrored inputs, phase 2 is ``sum m_k P_k``, and phases 1 and 3
    are ``(S + D) / 2`` and ``(S - D) / 2`` with ``S = sum (h_k + h_11-k) P_k`` and
    ``D = sum (h_k - h_11-k) Q_k``, so that ``max(|v1|, |v3|) = (|S| + |D|) / 2``: 18
    fused multiply-adds and 12 sums a sample instead of 36 products and 33 sums. The
    same operations in the same order for every sample (LLVM vectorises over ``i``; the
    explicit FMAs are the same in its vector and scalar loops). A channel's block whose
    inputs are too small to raise its peak so far is not interpolated at all.
    """
    channels = x.shape[0]
    frames = hi - lo
    peak0 = _PEAK * channels
    hist0 = _HIST * channels
    h0 = phases[0]
    s0, d0 = h0[0] + h0[11], h0[0] - h0[11]
    s1, d1 = h0[1] + h0[10], h0[1] - h0[10]
    s2, d2 = h0[2] + h0[9], h0[2] - h0[9]
    s3, d3 = h0[3] + h0[8], h0[3] - h0[8]
    s4, d4 = h0[4] + h0[7], h0[4] - h0[7]
    s5, d5 = h0[5] + h0[6], h0[5] - h0[6]
    h1 = phases[1]
    m0, m1, m2, m3, m4, m5 = h1[0], h1[1], h1[2], h1[3], h1[4], h1[5]
    half = np.float32(0.5)
    gain = _tp_gain(phases)
    x_bits = x.view(np.int32)
    for c in range(channels):
        h = fst[hist0 + c * TP_HISTORY : hist0 + (c + 1) * TP_HISTORY]
        row = x[c, lo:hi]  # (contiguous: the copy vectorises)
        row_bits = x_bits[c, lo:hi]
        peak = fst[peak0 + c]
        # Where that bound is below the peak so far, nothing here can raise it: skip the
        # interpolation (the peak stays the maximum of every interpolated value, the
        # same whatever the chunking). The bound is read off the input in place; only
        # the history moves on.
        top_bits = np.int32(0)
        for i in range(frames):
            b = row_bits[i] & 0x7FFFFFFF
            top_bits = b if b > top_bits else top_bits
        if _tp_bound(np.float64(_float32_from_bits(top_bits)), h) * gain <= peak:
            _tp_advance(h, row)
            continue
        for k in range(TP_HISTORY):
            buf[k] = h[k]
        for i in range(frames):
            buf[TP_HISTORY + i] = row[i]
        for i in range(frames):
            a0, b0 = buf[i + 12], buf[i + 1]  # the newest input (phase 0) and the oldest
            a1, b1 = buf[i + 11], buf[i + 2]
            a2, b2 = buf[i + 10], buf[i + 3]
            a3, b3 = buf[i + 9], buf[i + 4]
            a4, b4 = buf[i + 8], buf[i + 5]
            a5, b5 = buf[i + 7], buf[i + 6]
            p0, q0 = a0 + b0, a0 - b0
            p1, q1 = a1 + b1, a1 - b1
            p2, q2 = a2 + b2, a2 - b2
            p3, q3 = a3 + b3, a3 - b3
            p4, q4 = a4 + b4, a4 - b4
            p5, q5 = a5 + b5, a5 - b5
            s = _fma32(s2, p2, _fma32(s1, p1, s0 * p0))
            s = _fma32(s5, p5, _fma32(s4, p4, _fma32(s3, p3, s)))
            d = _fma32(d2, q2, _fma32(d1, q1, d0 * q0))
            d = _fma32(d5, q5, _fma32(d4, q4, _fma32(d3, q3, d)))
            m = _fma32(m2, p2, _fma32(m1, p1, m0 * p0))
            m = _fma32(m5, p5, _fma32(m4, p4, _fma32(m3, p3, m)))
            v = (abs(s) + abs(d)) * half
            v2 = abs(m)
            v = v if v > v2 else v2
            v0 = abs(a0)
            v = v if v > v0 else v0
            buf[i] = v  # (read already: buf[i + 12 - k], k <= 11, is past i)
        # The maximum on the bit patterns (non-negative floats order as their bits; an
        # integer maximum vectorises, a float one does not without fast-math). Exact.
        bits = buf[:frames].view(np.int32)
        mb = np.int32(0)
        for i in range(frames):
            b = bits[i]
            mb = b if b > mb else mb
        bits[0] = mb
        top = np.float64(buf[0])
        fst[peak0 + c] = top if top > peak else peak
        for k in range(TP_HISTORY):
            h[k] = buf[frames + k]


@njit(cache=True, nogil=True, error_model="numpy")
def _k_weighted_squares(
    row: npt.NDArray[np.float32],
    rod: npt.NDArray[np.float32],
    pc: npt.NDArray[np.float64],
    sa: npt.NDArray[np.float64],
    sb: npt.NDArray[np.float64],
    acc: npt.NDArray[np.float64],
    c: int,
    d: int,
    st: npt.NDArray[np.float64],
) -> None:
    """K-weight ``row`` and ``rod`` (channels ``c`` and ``d``; ``d == c``: one channel,
    computed in both lanes) and add their squares to ``acc[c]`` and ``acc[d]``.

    Direct form I, float64, FMAs (:func:`_k_weight_pair_intrinsic`: the shelf
    ``y = (b0 x + b1 x1 + b2 x2) - a2 y2 - a1 y1``, the high-pass
    ``z = (y - 2 y1 + y2) - d2 z2 - d1 z1``, its numerator exactly ``[1, -2, 1]``,
    ``acc += z * z``), each an FMA chain ending with the latest output's term, so that
    the recursions' latency is one FMA a sample. ``sa``, ``sb``: ``x1 x2 y1 y2 z1 z2``;
    ``pc``: the coefficients in pairs; ``st``: 14 values of work space.
    """
    for k in range(6):
        st[2 * k] = sa[k]
        st[2 * k + 1] = sb[k]
    st[12] = acc[c]
    st[13] = acc[d]
    _k_weight_pair(row, rod, row.shape[0], pc, st)
    for k in range(6):
        sa[k] = st[2 * k]
    acc[c] = st[12]
    if d != c:
        for k in range(6):
            sb[k] = st[2 * k + 1]
        acc[d] = st[13]


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
    scratch: npt.NDArray[np.float64],
) -> int:
    """Meter frames ``lo..hi-1`` of ``x`` (C-contiguous ``(channels, frames)`` float32).

    K-weighting (two biquads, direct form I, float64, FMAs) and the sum of squares
    of each channel over 100 ms sub-blocks (``ist[I_SUBLEN]`` frames, tiled from the
    stream's first frame); each closed sub-block goes through :func:`_close`, which
    writes one row of ``out`` (at least ``(filled + frames) // sublen`` rows). With
    ``ist[I_TP]``, the true peak too. Returns the number of sub-blocks closed, or
    ``-1 - f`` when frame ``f`` holds a non-finite sample (then nothing is processed).
    ``scratch``: work space, ``SCRATCH`` float64 values (its content is not kept).
    """
    channels = x.shape[0]
    frames = hi
    bits = x.view(np.int32)
    bad = 0
    # The largest magnitude of every channel together, for the true peak's bound (in
    # the same pass: an integer maximum on the bit patterns vectorises, exact).
    top_bits = np.int32(0)
    for c in range(channels):
        row_bits = bits[c, lo:hi]
        for i in range(hi - lo):
            b = row_bits[i]
            bad += (b & 0x7F800000) == 0x7F800000
            m = b & 0x7FFFFFFF
            top_bits = m if m > top_bits else top_bits
    if bad:
        for i in range(lo, hi):
            for c in range(channels):
                if not math.isfinite(x[c, i]):
                    return -1 - i
    acc0 = _ACC * channels
    sublen = ist[I_SUBLEN]
    pc = scratch[:14]  # the coefficients, each twice (one per lane)
    st = scratch[14:28]
    for k in range(3):
        pc[2 * k] = pc[2 * k + 1] = coef[k]
    for k, j in enumerate((3, 4, 8, 9)):
        pc[6 + 2 * k] = pc[7 + 2 * k] = -coef[j]
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
            sa = fst[_FILTER * c : _FILTER * (c + 1)]
            sb = fst[_FILTER * d : _FILTER * (d + 1)]
            acc = fst[acc0 : acc0 + channels]
            _k_weighted_squares(x[c, i0:i1], x[d, i0:i1], pc, sa, sb, acc, c, d, st)
            c += 2
        filled += i1 - i0
        if filled == sublen:
            _close(fst, ist, weights, hist, out, closed)
            closed += 1
            filled = 0
        ist[I_FILLED] = filled
        i0 = i1
    if ist[I_TP] != 0 and hi > lo:
        # A chunk too quiet to raise any channel's peak so far is not read again: only
        # the carried inputs move on (what the per-block check would conclude).
        top = np.float64(_float32_from_bits(top_bits))
        gain = _tp_gain(phases)
        hist0 = _HIST * channels
        quiet = True
        for c in range(channels):
            h = fst[hist0 + c * TP_HISTORY : hist0 + (c + 1) * TP_HISTORY]
            quiet &= _tp_bound(top, h) * gain <= fst[_PEAK * channels + c]
        if quiet:
            for c in range(channels):
                _tp_advance(fst[hist0 + c * TP_HISTORY : hist0 + (c + 1) * TP_HISTORY], x[c, lo:hi])
        else:
            buf = scratch[_WORK:].view(np.float32)
            for j in range(lo, hi, _TP_BLOCK):
                _true_peak(x, j, min(hi, j + _TP_BLOCK), fst, phases, buf)
    return closed


@njit(cache=True, nogil=True, error_model="numpy")
def true_peak_tail(
    channels: int, phases: npt.NDArray[np.float32], fst: npt.NDArray[np.float64]
) -> None:
    """End of stream: the interpolated samples between the last inputs and the silence
    after them (``TP_HISTORY`` zeros through the interpolator)."""
    z = np.zeros((channels, TP_HISTORY), np.float32)
    buf = np.empty(2 * TP_HISTORY, np.float32)
    _true_peak(z, 0, TP_HISTORY, fst, phases, buf)


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
