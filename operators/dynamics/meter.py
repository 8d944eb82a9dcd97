"""Meter events of the dynamics operators: levels and gain reduction per window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from numba import njit

from stream import Event, ParameterError

from ._params import frames_of

__all__ = ["DynamicsReading", "Meter"]

FLOOR_DB = -120.0


@dataclass(frozen=True)
class DynamicsReading:
    """What a dynamics operator did over one meter window, per channel.

    Attributes:
        stage: the operator that measured it (``"compressor"``, ``"limiter"``,
            ``"gate"``, ``"envelopefollower"``).
        input_peak_dbfs: peak of the input in the window, dBFS (floor -120 for silence).
        output_peak_dbfs: peak of the output in the window, dBFS (floor -120).
        gain_reduction_db: largest gain reduction applied in the window, dB (>= 0;
            6.0 means the gain went down to -6 dB at some frame). Makeup gain is not
            counted as a reduction.
    """

    stage: str
    input_peak_dbfs: tuple[float, ...]
    output_peak_dbfs: tuple[float, ...]
    gain_reduction_db: tuple[float, ...]


@njit(cache=True, nogil=True, error_model="numpy")
def _meter_kernel(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    gain: npt.NDArray[np.float64],
    acc: npt.NDArray[np.float64],
    window: int,
    filled: int,
    out: npt.NDArray[np.float64],
) -> tuple[int, int]:
    """Accumulate per-channel peaks and the smallest gain; close a window every ``window``.

    ``x``/``y`` are the input and output frames aligned with each other, ``gain`` the
    gain applied, ``(1, frames)`` (one for all channels) or ``(channels, frames)``.
    ``acc`` rows: input peak, output peak, smallest gain (carried across calls).
    Closed windows go to ``out[k]`` (same three rows). Returns (closed, filled).
    """
    channels, frames = x.shape
    per_channel = gain.shape[0] > 1
    closed = 0
    for n in range(frames):
        for c in range(channels):
            a = abs(np.float64(x[c, n]))
            if a > acc[0, c]:
                acc[0, c] = a
            b = abs(np.float64(y[c, n]))
            if b > acc[1, c]:
                acc[1, c] = b
            g = gain[c, n] if per_channel else gain[0, n]
            if g < acc[2, c]:
                acc[2, c] = g
        filled += 1
        if filled == window:
            for c in range(channels):
                out[closed, 0, c] = acc[0, c]
                out[closed, 1, c] = acc[1, c]
                out[closed, 2, c] = acc[2, c]
                acc[0, c] = 0.0
                acc[1, c] = 0.0
                acc[2, c] = np.inf
            closed += 1
            filled = 0
    return closed, filled


def _db(values: npt.NDArray[np.float64]) -> tuple[float, ...]:
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(values)
    return tuple(float(v) for v in np.maximum(db, FLOOR_DB))


class Meter:
    """Windowed dynamics metering for one operator (kind ``"dynamics"`` events).

    Windows of ``interval_ms`` (rounded to whole frames) tile the operator's output
    timeline from its first output frame; each closed window becomes one event with
    ``start``/``end`` in frames of that window and a :class:`DynamicsReading`. The
    partial last window is emitted by :meth:`flush` with its true length.
    """

    def __init__(self, owner: str, interval_ms: float) -> None:
        if isinstance(interval_ms, bool) or not isinstance(interval_ms, (int, float)):
            raise ParameterError(f"{owner}.meter_interval_ms must be a number of ms or None")
        if not (math.isfinite(interval_ms) and interval_ms > 0):
            raise ParameterError(
                f"{owner}.meter_interval_ms must be > 0 ms (or None for no meter), "
                f"got {interval_ms} ms"
            )
        self.owner = owner
        self.stage = owner.lower()
        self.interval_ms = float(interval_ms)
        self.window = 0
        self.rate = 0
        self.channels = 0
        self._out = np.empty((0, 3, 1), np.float64)
        self.reset()

    def configure(self, sample_rate: int, channels: int) -> None:
        window = frames_of(self.interval_ms, sample_rate)
        if window < 1:
            raise ParameterError(
                f"{self.owner}.meter_interval_ms={self.interval_ms} ms is shorter than one "
                f"frame at {sample_rate} Hz"
            )
        self.window, self.rate, self.channels = window, sample_rate, channels
        self._tb = Fraction(1, sample_rate)
        self.reset()

    def reset(self) -> None:
        self.filled = 0
        self.next_start: int | None = None
        self.fed_next: int | None = None  # the frame the next fed block must start at
        self.acc = np.zeros((3, max(1, self.channels)), np.float64)
        self.acc[2, :] = np.inf

    def _events(self, rows: npt.NDArray[np.float64], lengths: list[int]) -> list[Event[object]]:
        out: list[Event[object]] = []
        assert self.next_start is not None
        for k, length in enumerate(lengths):
            inp, outp, gmin = rows[k]
            with np.errstate(divide="ignore"):
                reduction = np.maximum(-20.0 * np.log10(np.minimum(gmin, 1.0)), 0.0)
            reading = DynamicsReading(
                self.stage,
                _db(inp),
                _db(outp),
                tuple(float(v) for v in np.minimum(reduction, -FLOOR_DB)),
            )
            start = self.next_start
            self.next_start = start + length
            out.append(Event("dynamics", start, start + length, self._tb, reading))
        return out

    def feed(
        self,
        x: npt.NDArray[np.float32],
        y: npt.NDArray[np.float32],
        gain: npt.NDArray[np.float64],
        start: int,
    ) -> list[Event[object]]:
        """Meter ``frames`` aligned input/output/gain frames whose first frame is ``start``.

        Raises ValueError if ``start`` is not where the previous block ended (a gap or an
        overlap would shift every later window).
        """
        frames = x.shape[1]
        if self.fed_next is not None and start != self.fed_next:
            raise ValueError(
                f"{self.owner} meter got frames starting at frame {start}, expected "
                f"{self.fed_next} (blocks must follow each other without gap or overlap)"
            )
        if frames == 0:
            return []
        self.fed_next = start + frames
        if self.next_start is None:
            self.next_start = start
        need = (self.filled + frames) // self.window + 1
        if self._out.shape[0] < need or self._out.shape[2] != self.channels:
            self._out = np.empty((need, 3, self.channels), np.float64)
        closed, self.filled = _meter_kernel(
            x, y, gain, self.acc, self.window, self.filled, self._out
        )
        if not closed:
            return []
        return self._events(self._out[:closed], [self.window] * closed)

    def flush(self) -> list[Event[object]]:
        """The partial last window, if any."""
        if not self.filled or self.next_start is None:
            return []
        out = self._events(self.acc[np.newaxis].copy(), [self.filled])
        self.filled = 0
        self.acc[0:2, :] = 0.0
        self.acc[2, :] = np.inf
        return out
