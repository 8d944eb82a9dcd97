"""Gate: noise gate or downward expander with hold."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from numba import njit

from stream import AudioChunk, Item, ParameterError, StreamSpec

from ._base import DynamicsOperator, scratch
from ._fastmath import first_non_finite
from ._params import check_db, check_ms, check_ratio, coefficient, frames_of

__all__ = ["Gate"]


@njit(cache=True, nogil=True, error_model="numpy")
def _gate(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    gains: npt.NDArray[np.float64],
    state: npt.NDArray[np.float64],
    p: npt.NDArray[np.float64],
    meter: bool,
) -> int:
    """Gate ``x`` (C-contiguous) into ``y``; returns the first frame with a non-finite
    sample (then nothing is processed) or -1.

    Per frame: level = max over channels of ``|x|``; detector envelope ``env`` =
    the level when it is higher, else ``level + d * (env - level)``. At or above the
    threshold the hold counter restarts at ``hold`` frames and the target is 0 dB;
    below it the target stays 0 dB while the hold counter runs down, then becomes
    ``range_db`` (gate) or ``max(range_db, (ratio - 1) * (env_db - threshold_db))``
    (expander). The gain in dB follows the target with the attack coefficient when
    rising (opening) and the release coefficient when falling (closing); within
    1e-9 dB of an open target it is exactly 0 dB. ``state``: env, hold counter,
    gain dB. ``p``: threshold (amplitude), threshold dB, range dB, ratio - 1 (inf for
    a gate), detector, attack, release coefficients, hold frames.
    """
    channels, frames = x.shape
    bad = first_non_finite(x)
    if bad >= 0:
        return bad
    thr = p[0]
    thr_db = p[1]
    rng = p[2]
    slope = p[3]
    det = p[4]
    att = p[5]
    rel = p[6]
    hold = p[7]
    gate = math.isinf(slope)
    k_ln = math.log(10.0) / 20.0
    env = state[0]
    left = state[1]
    gdb = state[2]
    for n in range(frames):
        lvl = 0.0
        for c in range(channels):
            a = abs(np.float64(x[c, n]))
            lvl = a if a > lvl else lvl
        env = lvl if lvl >= env else lvl + det * (env - lvl)
        target = 0.0
        if env >= thr:
            left = hold
        elif left > 0.0:
            left -= 1.0
        elif gate or env <= 0.0:
            target = rng
        else:
            target = slope * (20.0 * math.log10(env) - thr_db)
            if target < rng:
                target = rng
        if target > gdb:
            gdb = target + att * (gdb - target)
            if target == 0.0 and gdb > -1e-9:
                gdb = 0.0
        else:
            gdb = target + rel * (gdb - target)
        gain = 1.0 if gdb == 0.0 else math.exp(gdb * k_ln)
        if meter:
            gains[0, n] = gain
        for c in range(channels):
            y[c, n] = np.float64(x[c, n]) * gain
    state[0], state[1], state[2] = env, left, gdb
    return -1


class Gate(DynamicsOperator):
    """Noise gate (``ratio=inf``) or downward expander (finite ratio), with hold.

    Args:
        threshold_db: level below which the gain goes down, dBFS (default -50).
        range_db: the most attenuation, dB (default -80), < 0: a closed gate
            multiplies by ``10**(range_db/20)``.
        ratio: ``inf`` (default): a gate, closing by ``range_db`` below the
            threshold; finite (> 1): a downward expander whose gain below the
            threshold is ``(ratio - 1) * (level - threshold)`` dB, floored at
            ``range_db``.
        attack_ms: opening time constant, ms (default 1).
        hold_ms: how long the gain stays open after the level falls below the
            threshold, ms (default 20), rounded to whole frames.
        release_ms: closing time constant, ms (default 100).
        detector_ms: release of the level detector, ms (default 10): the detected
            level rises at once with ``|x|`` (max over channels: one gain for all
            channels) and decays with this time constant (0: instantaneous).
        meter_interval_ms: None (default) or the window of ``"dynamics"`` meter
            events, ms.

    Time constants: ``a = exp(-1 / (t_ms * 1e-3 * fs))``, smoothing the gain in dB.
    Zero latency, float64 state, float32 output, chunk invariant (bit-identical).
    Non-finite input raises ValueError naming the frame.
    """

    def __init__(
        self,
        threshold_db: float = -50.0,
        range_db: float = -80.0,
        ratio: float = math.inf,
        attack_ms: float = 1.0,
        hold_ms: float = 20.0,
        release_ms: float = 100.0,
        detector_ms: float = 10.0,
        meter_interval_ms: float | None = None,
    ) -> None:
        self.threshold_db = check_db("Gate", "threshold_db", threshold_db)
        self.range_db = check_db("Gate", "range_db", range_db, low=-200.0, high=0.0)
        if self.range_db >= 0:
            raise ParameterError(f"Gate.range_db must be < 0 dB (an attenuation), got {range_db}")
        self.ratio = check_ratio("Gate", "ratio", ratio, allow_inf=True)
        if self.ratio == 1.0:
            raise ParameterError("Gate.ratio must be > 1 (1 would do nothing), got 1.0")
        self.attack_ms = check_ms("Gate", "attack_ms", attack_ms)
        self.hold_ms = check_ms("Gate", "hold_ms", hold_ms)
        self.release_ms = check_ms("Gate", "release_ms", release_ms)
        self.detector_ms = check_ms("Gate", "detector_ms", detector_ms)
        super().__init__(meter_interval_ms)
        self._p = np.zeros(8, np.float64)
        self._gains = np.empty((1, 0), np.float64)
        self.reset()

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        specs = super().configure(inputs)
        rate = self._rate
        self._p = np.array(
            [
                10.0 ** (self.threshold_db / 20.0),
                self.threshold_db,
                self.range_db,
                self.ratio - 1.0,
                coefficient(self.detector_ms, rate),
                coefficient(self.attack_ms, rate),
                coefficient(self.release_ms, rate),
                float(frames_of(self.hold_ms, rate)),
            ],
            np.float64,
        )
        self.reset()
        return specs

    @property
    def hold_frames(self) -> int:
        """``hold_ms`` in whole frames at the configured rate."""
        return int(self._p[7])

    def reset(self) -> None:
        # Starts open (gain 0 dB) with a silent detector: the first frames below the
        # threshold close it after the hold time, like a level that just fell.
        self._state = np.array([0.0, self._p[7], 0.0], np.float64)
        self._reset_common()

    def process(self, item: Item) -> list[Item]:
        chunk = self._check(item)
        self._follow(chunk)
        if chunk.frames == 0:
            return []
        x = chunk.data
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        y: npt.NDArray[np.float32] = np.empty((x.shape[0], x.shape[1]), np.float32)
        meter = self._meter is not None
        if meter:
            self._gains = scratch(self._gains, 1, x.shape[1])
        bad = _gate(x, y, self._gains, self._state, self._p, meter)
        if bad >= 0:
            raise self._non_finite(chunk.start + bad)
        if not meter:
            return [AudioChunk(y, self._rate, chunk.start)]
        return self._emit(x, y, self._gains[:, : x.shape[1]], chunk.start)

    def flush(self) -> list[Item]:
        return self._meter_flush()
