"""LoudnessNormalizer: a gain steered toward a target loudness, slew-limited, then a limiter."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from numba import njit

from operators.dynamics import Limiter
from stream import (
    AudioChunk,
    AudioSpec,
    IncompatibleInputError,
    Item,
    Operator,
    ParameterError,
    StreamSpec,
)

from ._kernel import I_CLOSED, I_FILLED
from ._measure import Measurement
from .meter import channel_weights

__all__ = ["LoudnessNormalizer"]

_DB_TO_LN = math.log(10.0) / 20.0
_G, _WANT, _STEP = range(3)  # gain state: applied gain dB, wanted gain dB, dB per frame


@njit(cache=True, nogil=True, error_model="numpy")
def _ramp(
    x: npt.NDArray[np.float32],
    lo: int,
    hi: int,
    y: npt.NDArray[np.float32],
    gst: npt.NDArray[np.float64],
) -> None:
    """``y[:, lo:hi] = x[:, lo:hi] * 10**(g/20)``, ``g`` moving toward the wanted gain
    by at most ``gst[_STEP]`` dB per frame (the same gain for every channel)."""
    channels = x.shape[0]
    g = gst[_G]
    want = gst[_WANT]
    step = gst[_STEP]
    if g == want:
        lin = math.exp(g * _DB_TO_LN)
        for c in range(channels):
            src = x[c]
            dst = y[c]
            for i in range(lo, hi):
                dst[i] = np.float64(src[i]) * lin
        return
    for i in range(lo, hi):
        if g < want:
            g = g + step if g + step < want else want
        else:
            g = g - step if g - step > want else want
        lin = math.exp(g * _DB_TO_LN)
        for c in range(channels):
            y[c, i] = np.float64(x[c, i]) * lin
    gst[_G] = g


class LoudnessNormalizer(Operator):
    """Steers the gain so the output's loudness approaches ``target_lufs``, live.

    Args:
        target_lufs: the loudness aimed at (default -23, EBU R128; -16 or -14 for
            streaming platforms), in [-70, 0].
        max_gain_db: the most the gain may boost or cut, dB (default 20).
        slew_db_per_s: the most the gain moves per second, dB (default 3): changes
            are heard as a slow ride, never as a jump.
        gate_lu: while the last 400 ms are quieter than ``target_lufs + gate_lu``
            (default -20 LU) the wanted gain is held (pauses are not pulled up).
        ceiling_db, lookahead_ms, limiter_release_ms: the :class:`Limiter` after the
            gain (defaults -1 dBFS, 5 ms, 50 ms).

    The input is measured as :class:`LoudnessMeter` measures it (K-weighted, 100 ms
    sub-blocks tiled from the first frame): at the end of every sub-block the loudness
    of the last 3 s (of the last 400 ms before 3 s) sets the wanted gain,
    ``target - loudness`` within +-``max_gain_db``, held while the last 400 ms are
    below the gate. The
    applied gain (the same for all channels) ramps toward it frame by frame, so frame
    ``n`` only depends on input before it: causal, and chunk invariant (bit-identical).
    The limiter adds its lookahead as latency.
    """

    accepts = frozenset({"audio"})

    def __init__(
        self,
        target_lufs: float = -23.0,
        max_gain_db: float = 20.0,
        slew_db_per_s: float = 3.0,
        gate_lu: float = -20.0,
        ceiling_db: float = -1.0,
        lookahead_ms: float = 5.0,
        limiter_release_ms: float = 50.0,
    ) -> None:
        name = "LoudnessNormalizer"
        for key, value, low, high in (
            ("target_lufs", target_lufs, -70.0, 0.0),
            ("max_gain_db", max_gain_db, 0.0, 60.0),
            ("slew_db_per_s", slew_db_per_s, 1e-3, 1000.0),
            ("gate_lu", gate_lu, -70.0, 0.0),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(f"{name}.{key} must be a number, got {value!r}")
            if not (math.isfinite(value) and low <= value <= high):
                raise ParameterError(
                    f"{name}.{key} must be a finite value in [{low:g}, {high:g}], got {value}"
                )
        self.target_lufs = float(target_lufs)
        self.max_gain_db = float(max_gain_db)
        self.slew_db_per_s = float(slew_db_per_s)
        self.gate_lu = float(gate_lu)
        self.limiter = Limiter(ceiling_db, lookahead_ms, limiter_release_ms)
        self._m = Measurement("LoudnessNormalizer")
        self.reset()

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        if len(inputs) != 1:
            raise IncompatibleInputError(f"LoudnessNormalizer takes one input, got {len(inputs)}")
        (spec,) = inputs.values()
        if not isinstance(spec, AudioSpec):
            raise IncompatibleInputError(f"LoudnessNormalizer takes audio, got {spec}")
        self._m.configure(spec, channel_weights(spec.channels))
        self.limiter.configure({"in": spec})
        self.reset()
        return (spec,)

    def reset(self) -> None:
        self._m.reset(true_peak=False, out_rows=2)
        step = self.slew_db_per_s / self._m.rate if self._m.rate else 0.0
        self._gst = np.array([0.0, 0.0, step], np.float64)
        self._next_in: int | None = None
        self.limiter.reset()

    @property
    def latency(self) -> Fraction:
        return self.limiter.latency

    @property
    def gain_db(self) -> float:
        """The gain applied to the last frame processed, dB (before the limiter)."""
        return float(self._gst[_G])

    @property
    def wanted_gain_db(self) -> float:
        """The gain the ramp is heading for, dB."""
        return float(self._gst[_WANT])

    def _steer(self) -> None:
        """A sub-block closed: while the last 400 ms are above the gate, the wanted gain
        from the loudness of the last 3 s (of the last 400 ms before 3 s)."""
        momentary, short = self._m.out[0]
        if momentary <= 0.0:
            return
        gate = max(-70.0, self.target_lufs + self.gate_lu)
        if -0.691 + 10.0 * math.log10(momentary) < gate:
            return  # a pause: hold
        power = short if short > 0.0 else momentary
        loudness = -0.691 + 10.0 * math.log10(power)
        want = self.target_lufs - loudness
        self._gst[_WANT] = min(self.max_gain_db, max(-self.max_gain_db, want))

    def process(self, item: Item) -> list[Item]:
        if type(item) is not AudioChunk:
            raise TypeError(f"LoudnessNormalizer takes audio chunks, got {type(item).__name__}")
        if not self._m.rate:
            raise RuntimeError("LoudnessNormalizer is not configured: call configure() first")
        if item.channels != self._m.channels or item.sample_rate != self._m.rate:
            raise ValueError(
                f"chunk is {item.sample_rate} Hz {item.channels} ch, LoudnessNormalizer is "
                f"configured for {self._m.rate} Hz {self._m.channels} ch"
            )
        if self._next_in is not None and item.start != self._next_in:
            raise ValueError(
                f"LoudnessNormalizer input chunk starts at frame {item.start}, expected "
                f"{self._next_in} (chunks must follow each other without gap or overlap)"
            )
        x = item.data
        frames = x.shape[1]
        self._next_in = item.start + frames
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        y = np.empty(x.shape, np.float32)
        pos = 0
        while pos < frames:
            # One sub-block at most: the gain wanted changes only where one closes.
            hi = min(frames, pos + self._m.sublen - int(self._m.ist[I_FILLED]))
            closed = self._m.measure(x, pos, hi)
            if closed < 0:
                raise ValueError(
                    f"non-finite sample (NaN or inf) at frame {item.start - 1 - closed} of "
                    "the input of LoudnessNormalizer; sanitise the input first"
                )
            _ramp(x, pos, hi, y, self._gst)
            if closed:
                self._steer()
            pos = hi
        return self.limiter.process(AudioChunk._trusted(y, self._m.rate, item.start))

    def flush(self) -> list[Item]:
        return self.limiter.flush()

    @property
    def subblocks(self) -> int:
        """100 ms sub-blocks measured so far."""
        return int(self._m.ist[I_CLOSED])
