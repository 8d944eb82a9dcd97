"""Compressor: downward compression with a soft knee, linked or per-channel, sidechain."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from numba import njit

from stream import AudioChunk, AudioSpec, IncompatibleInputError, Item, ParameterError, StreamSpec

from ._base import DynamicsOperator, scratch
from ._fastmath import exp2_into, first_non_finite, log2_into
from ._params import check_db, check_ms, check_ratio, coefficient
from ._sidechain import PortAligner
from .gain_computer import GainComputer

__all__ = ["Compressor"]


_BLOCK = 1024  # frames per pass through the kernel's scratch rows
_LOG2_10_OVER_20 = math.log2(10.0) / 20.0  # 10**(g/20) == 2**(g * this)
_DB_PER_LOG2 = 20.0 * math.log10(2.0)  # 20*log10(v) == log2(v) * this
_NP = 10  # parameters at the head of the kernel's ``ps`` array; the state follows them
_chunk = AudioChunk._trusted  # outputs: arrays the operator allocated, validated times
_empty = np.empty
_F32 = np.float32


@njit(cache=True, nogil=True, error_model="numpy")
def _compress(
    x: npt.NDArray[np.float32],
    sc: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    gains: npt.NDArray[np.float64],
    work: npt.NDArray[np.float64],
    ps: npt.NDArray[np.float64],
    check_sc: bool,
) -> int:
    """Compress ``x`` into ``y`` with gains computed from ``sc`` (``x`` itself without
    a sidechain). Returns the first frame holding a non-finite sample (then nothing is
    processed and the state is unchanged) or -1.

    Per frame and detector group (all channels when linked, else each channel):
    level = max over the group of ``|sc|`` (peak) or of the one-pole mean square per
    channel (RMS); ``target`` = static curve reduction (dB, <= 0; exactly 0 below the
    knee); ``gr = target + c * (gr - target)``, evaluated as
    ``c * gr + (1 - c) * target``, with ``c = attack`` when ``target < gr`` (more
    reduction: onset) and ``release`` otherwise (recovery) -- with attack <= release
    that is the smaller of the two candidates, else the larger; a recovering ``gr``
    above -1e-9 dB (a gain within 1e-10 of 1) is set to exactly 0 dB; gain =
    ``10**(gr/20) * makeup``. Levels to dB and dB to gains go through the
    vectorised, chunk-invariant ``log2_into``/``exp2_into`` passes.

    ``gains``: ``(groups, >= frames)`` receives ``10**(gr/20)`` (for meters); a
    smaller array is left alone.
    ``work``: ``(3 + sidechain channels, block)`` scratch; the frames go through the
    passes ``block`` at a time (so the scratch stays in cache). ``ps``: the ``_NP``
    parameters threshold dB, 1/ratio - 1, knee dB, attack, release, RMS coefficient,
    level below which the curve is 0 dB (amplitude, or mean square in RMS mode), makeup
    (linear), RMS flag, linked flag; then the state: ``gr`` per group, then the mean
    square per sidechain channel (one array: fewer arguments for Numba to dispatch).
    """
    channels, frames = x.shape
    sch = sc.shape[0]
    bad = first_non_finite(x)
    if check_sc:
        bad_sc = first_non_finite(sc)
        if bad_sc >= 0 and (bad < 0 or bad_sc < bad):
            bad = bad_sc
    if bad >= 0:
        return bad
    p = ps[:_NP]
    state = ps[_NP:]
    thr = p[0]
    slope = p[1]
    knee = p[2]
    att = p[3]
    rel = p[4]
    rc = p[5]
    lo = p[6]
    makeup = p[7]
    rms = p[8] != 0.0
    linked = p[9] != 0.0
    one_att = 1.0 - att
    one_rel = 1.0 - rel
    one_rc = 1.0 - rc
    smaller = att <= rel
    half_knee = 0.5 * knee
    inv_2knee = 0.5 / knee if knee > 0.0 else 0.0
    groups = 1 if linked else channels
    to_db = 0.5 * _DB_PER_LOG2 if rms else _DB_PER_LOG2
    keep_gains = gains.shape[1] >= frames
    lvl = work[0]
    ldb = work[1]
    tmp = work[2]
    blk = work.shape[1]
    for b0 in range(0, frames, blk):
        n = min(blk, frames - b0)
        if rms:
            for s in range(sch):
                ms = state[groups + s]
                row = work[3 + s]
                for i in range(n):
                    v = np.float64(sc[s, b0 + i])
                    ms = rc * ms + one_rc * (v * v)
                    row[i] = ms
                state[groups + s] = ms
        for g in range(groups):
            first = 0 if linked else (g if sch > 1 else 0)
            last = sch if linked else first + 1
            for s in range(first, last):
                if rms:
                    row = work[3 + s]
                    if s == first:
                        for i in range(n):
                            lvl[i] = row[i]
                    else:
                        for i in range(n):
                            lvl[i] = max(lvl[i], row[i])
                elif s == first:
                    src = sc[s, b0 : b0 + n]
                    for i in range(n):
                        lvl[i] = abs(np.float64(src[i]))
                else:
                    src = sc[s, b0 : b0 + n]
                    for i in range(n):
                        v = abs(np.float64(src[i]))
                        lvl[i] = v if v > lvl[i] else lvl[i]
            above = 0
            for i in range(n):
                above += lvl[i] > lo
            gr = state[g]
            if above == 0 and gr == 0.0:
                # Below the knee all block long with no reduction left: every frame's
                # target and gr are 0 dB and its gain exactly 1 (what the passes below
                # would compute), so skip them.
                for i in range(n):
                    lvl[i] = 1.0
            else:
                if above == 0:
                    # Below the knee all block long, reduction pending: every target is
                    # 0 dB, so both candidates are ``c * gr + 0.0`` with gr <= 0, and the
                    # recovering one, ``rel * gr``, is the smaller (attack <= release) or
                    # the larger (attack > release): the bits of the general loop below,
                    # without its dependency on the attack candidate. Unsnapped, gr only
                    # rises towards 0 (|rel * gr| <= |gr| after rounding), so when the last
                    # frame stays at or below -1e-9 dB no frame snapped; else redo the
                    # block with the snap (rare: once per recovery).
                    gr0 = gr
                    for i in range(n):
                        gr = rel * gr
                        tmp[i] = gr * _LOG2_10_OVER_20
                    if gr > -1e-9:
                        gr = gr0
                        for i in range(n):
                            gr = rel * gr
                            if gr > -1e-9:
                                gr = 0.0
                            tmp[i] = gr * _LOG2_10_OVER_20
                else:
                    log2_into(lvl, ldb, tmp, n)
                    for i in range(n):
                        d = ldb[i] * to_db - thr
                        k = d + half_knee
                        t = slope * k * k * inv_2knee if 2.0 * d <= knee else slope * d
                        # `&`, not `and`: no branch, so the loop vectorises.
                        ldb[i] = t if ((lvl[i] > lo) & (2.0 * d >= -knee)) else 0.0
                    # The snap to 0 dB (a select on the loop-carried dependency) only
                    # when a frame needs it: the loop without it gives the same bits up
                    # to that frame, and flags it; then the block is redone with it.
                    gr0 = gr
                    snap = False
                    for i in range(n):
                        t = ldb[i]
                        a = att * gr + one_att * t
                        r = rel * gr + one_rel * t
                        gr = (a if a < r else r) if smaller else (a if a > r else r)
                        snap |= (t == 0.0) & (gr > -1e-9)
                        tmp[i] = gr * _LOG2_10_OVER_20
                    if snap:
                        gr = gr0
                        for i in range(n):
                            t = ldb[i]
                            a = att * gr + one_att * t
                            r = rel * gr + one_rel * t
                            gr = (a if a < r else r) if smaller else (a if a > r else r)
                            if t == 0.0 and gr > -1e-9:
                                gr = 0.0
                            tmp[i] = gr * _LOG2_10_OVER_20
                state[g] = gr
                exp2_into(tmp, lvl, ldb, n)
            if keep_gains:
                for i in range(n):
                    gains[g, b0 + i] = lvl[i]
            gain = lvl
            if makeup != 1.0:  # (x * (g * 1.0) == x * g: skip the pass)
                gain = tmp
                for i in range(n):
                    tmp[i] = lvl[i] * makeup
            # Row views: contiguous 1-D loops vectorise where 2-D indexing does not.
            for c in range(channels) if linked else range(g, g + 1):
                xr = x[c, b0 : b0 + n]
                yr = y[c, b0 : b0 + n]
                for i in range(n):
                    yr[i] = np.float64(xr[i]) * gain[i]
    return -1


@njit(cache=True, nogil=True, error_model="numpy")
def _compress_plain(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    work: npt.NDArray[np.float64],
    ps: npt.NDArray[np.float64],
) -> int:
    """:func:`_compress` without sidechain and without kept gains (no meter): four
    arguments for Numba to dispatch per chunk instead of seven."""
    return _compress(x, x, y, work[:, :0], work, ps, False)


class Compressor(DynamicsOperator):
    """Downward compressor with a quadratic soft knee (see :class:`GainComputer`).

    Args:
        threshold_db: threshold (knee centre), dBFS (default -20).
        ratio: compression ratio x:1, >= 1 (``inf``: limiting curve; default 4).
        attack_ms: time constant of compression onset, ms (default 10): after a
            level step up, 63.2 % of the final reduction (in dB) is reached in
            ``attack_ms``.
        release_ms: time constant of recovery, ms (default 100): after a step down,
            63.2 % of the reduction is recovered in ``release_ms``.
        knee_db: soft-knee width, dB (default 6; 0 = hard knee).
        makeup_db: fixed gain after compression, dB (default 0).
        detector: ``"peak"`` (default; the instantaneous ``|x|``) or ``"rms"`` (a
            one-pole mean square with time constant ``rms_ms``).
        link: True (default): one gain for all channels, from the loudest channel;
            False: each channel compressed on its own.
        sidechain: False (default); True adds an input port ``"sidechain"`` whose
            audio (same rate; any channel count when linked, 1 or the main count
            otherwise) drives detection. Frames are processed once both inputs have
            delivered them, so any interleaving of the two inputs' chunks gives the
            same output; at end of stream main frames the sidechain never covered
            are processed as if the sidechain were silent.
        meter_interval_ms: None (default) or the window of ``"dynamics"`` meter
            events, ms (payload :class:`DynamicsReading`; a second output).
        rms_ms: RMS detector time constant, ms (default 10; used with ``"rms"``).

    Gain smoothing happens in dB on the (negative) gain reduction: a falling
    reduction (more compression) uses the attack coefficient, a rising one the
    release coefficient, ``a = exp(-1 / (t_ms * 1e-3 * fs))``. Zero latency. Float64
    state, float32 output; chunk invariant (bit-identical). Non-finite input raises
    ValueError naming the frame.
    """

    def __init__(
        self,
        threshold_db: float = -20.0,
        ratio: float = 4.0,
        attack_ms: float = 10.0,
        release_ms: float = 100.0,
        knee_db: float = 6.0,
        makeup_db: float = 0.0,
        detector: str = "peak",
        link: bool = True,
        sidechain: bool = False,
        meter_interval_ms: float | None = None,
        rms_ms: float = 10.0,
    ) -> None:
        name = "Compressor"
        self.curve = GainComputer(
            check_db(name, "threshold_db", threshold_db),
            check_ratio(name, "ratio", ratio, allow_inf=True),
            check_db(name, "knee_db", knee_db, low=0.0, high=100.0),
            check_db(name, "makeup_db", makeup_db, low=-60.0, high=60.0),
        )
        self.attack_ms = check_ms(name, "attack_ms", attack_ms)
        self.release_ms = check_ms(name, "release_ms", release_ms)
        self.rms_ms = check_ms(name, "rms_ms", rms_ms)
        if detector not in ("peak", "rms"):
            raise ParameterError(f"Compressor.detector must be 'peak' or 'rms', got {detector!r}")
        self.detector = detector
        self.link = bool(link)
        self.sidechain = bool(sidechain)
        # Per instance: with a sidechain this compressor has a second input.
        self.input_ports = ("in", "sidechain") if self.sidechain else ("in",)
        super().__init__(meter_interval_ms)
        self._plain = self._meter is None and not self.sidechain  # process()'s fast path
        self._sc_channels = 0
        self._ps = np.zeros(_NP + 2, np.float64)  # parameters, then state (see _compress)
        self._gains = np.empty((1, 0), np.float64)
        self._work = np.empty((4, _BLOCK), np.float64)
        self._aligner = PortAligner()
        self.reset()

    @property
    def threshold_db(self) -> float:
        return self.curve.threshold_db

    @property
    def ratio(self) -> float:
        return self.curve.ratio

    @property
    def knee_db(self) -> float:
        return self.curve.knee_db

    @property
    def makeup_db(self) -> float:
        return self.curve.makeup_db

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        if not self.sidechain:
            specs = super().configure(inputs)
            self._sc_channels = self._channels
        else:
            if set(inputs) != {"in", "sidechain"}:
                raise IncompatibleInputError(
                    f"Compressor(sidechain=True) takes inputs 'in' and 'sidechain', got "
                    f"{sorted(inputs)}"
                )
            specs = self._configure_audio(inputs["in"])
            sc = inputs["sidechain"]
            if not isinstance(sc, AudioSpec):
                raise IncompatibleInputError(f"the sidechain must be audio, got {sc}", "sidechain")
            if sc.sample_rate != self._rate:
                raise IncompatibleInputError(
                    f"sidechain is {sc.sample_rate} Hz, main input {self._rate} Hz", "sidechain"
                )
            if not self.link and sc.channels not in (1, self._channels):
                raise IncompatibleInputError(
                    f"unlinked sidechain needs 1 or {self._channels} channels, got {sc.channels}",
                    "sidechain",
                )
            self._sc_channels = sc.channels
        curve = self.curve
        lo_db = curve.threshold_db - curve.knee_db / 2.0
        rms = self.detector == "rms"
        lo = 10.0 ** (lo_db / 10.0) if rms else 10.0 ** (lo_db / 20.0)
        self._ps[:_NP] = np.array(
            [
                curve.threshold_db,
                curve.slope,
                curve.knee_db,
                coefficient(self.attack_ms, self._rate),
                coefficient(self.release_ms, self._rate),
                coefficient(self.rms_ms, self._rate),
                lo,
                10.0 ** (curve.makeup_db / 20.0),
                1.0 if rms else 0.0,
                1.0 if self.link else 0.0,
            ],
            np.float64,
        )
        self.reset()
        return specs

    def reset(self) -> None:
        groups = 1 if self.link else max(1, self._channels)
        ps = np.zeros(_NP + groups + max(1, self._sc_channels), np.float64)
        ps[:_NP] = self._ps[:_NP]
        self._ps = ps
        # Gains are kept for the meter only; without one the kernel skips them.
        self._gains = np.empty((groups, _BLOCK if self._meter is not None else 0), np.float64)
        self._work = np.empty((3 + max(1, self._sc_channels), _BLOCK), np.float64)
        self._aligner.reset()
        self._reset_common()

    def _run(
        self, x: npt.NDArray[np.float32], sc: npt.NDArray[np.float32], start: int, check_sc: bool
    ) -> list[Item]:
        frames = x.shape[1]
        y = np.empty((x.shape[0], frames), np.float32)
        gains = self._gains
        if self._meter is not None and gains.shape[1] < frames:
            gains = self._gains = scratch(gains, gains.shape[0], frames)
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        if not sc.flags.c_contiguous:
            sc = np.ascontiguousarray(sc)
        bad = _compress(x, sc, y, gains, self._work, self._ps, check_sc)
        if bad >= 0:
            raise self._non_finite(start + bad)
        if self._meter is None:
            return [_chunk(y, self._rate, start)]
        return self._emit(x, y, gains[:, :frames], start)

    def process(self, item: Item) -> list[Item]:
        if type(item) is AudioChunk and item.sample_rate == self._rate and self._plain:
            # The common case (no meter, no sidechain), with as little Python as possible.
            x = item.data
            shape = x.shape
            if shape[0] == self._channels and shape[1] and x.flags.c_contiguous:
                expected = self._next_in
                if expected is not None and item.start != expected:
                    raise self._gap(item.start)
                self._next_in = item.start + shape[1]
                y = _empty(shape, _F32)
                bad = _compress_plain(x, y, self._work, self._ps)
                if bad < 0:
                    return [_chunk(y, self._rate, item.start)]
                raise self._non_finite(item.start + bad)
        if self.sidechain:
            return self.process_port("in", item)
        if (
            type(item) is AudioChunk
            and item.sample_rate == self._rate
            and item.data.shape[0] == self._channels
        ):
            chunk = item  # the common case, checked cheaply
        else:
            chunk = self._check(item)
        self._follow(chunk)
        x = chunk.data
        if x.shape[1] == 0:
            return []
        return self._run(x, x, chunk.start, False)

    # -- sidechain ----------------------------------------------------------------------
    def process_port(self, port: str, item: Item) -> list[Item]:
        if not self.sidechain:
            return self.process(item)
        if port not in ("in", "sidechain"):
            raise ValueError(f"Compressor has no input {port!r}")
        chunk = self._check(item, self._channels if port == "in" else self._sc_channels)
        self._aligner.push(port, chunk)
        ready = self._aligner.ready()
        if ready is None:
            return []
        start, x, sc = ready
        return self._run(x, sc, start, True)

    def flush(self) -> list[Item]:
        out: list[Item] = []
        rest = self._aligner.rest() if self.sidechain else None
        if rest is not None:
            start, x = rest
            sc = np.zeros((self._sc_channels, x.shape[1]), np.float32)
            out.extend(self._run(x, sc, start, False))
        out.extend(self._meter_flush())
        return out

    def bound(self, frontier: Fraction) -> Fraction:
        next_out = self._aligner.next_out
        if self.sidechain and next_out is not None and self._rate:
            return min(frontier, Fraction(next_out, self._rate))
        return frontier
