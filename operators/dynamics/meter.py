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
def _max_abs(
    row: npt.NDArray[np.float32], lo: int, hi: int, start: float, scr: npt.NDArray[np.float64]
) -> float:
    """``max(start, |row[lo:hi]|)`` for finite ``row``.

    On the bit patterns: with the sign bit cleared, the order of non-negative floats is
    the order of their bits as integers, and an integer maximum vectorises (a float one
    does not without fast-math). Exact. ``scr``: scratch (at least one value) for the
    bit cast.
    """
    bits = row[lo:hi].view(np.int32)
    m = np.int32(0)
    for i in range(bits.shape[0]):  # (from 0: no negative-index wraparound, so it vectorises)
        b = bits[i] & np.int32(0x7FFFFFFF)
        m = b if b > m else m
    scr.view(np.int32)[0] = m
    v = np.float64(scr.view(np.float32)[0])
    return v if v > start else start


@njit(cache=True, nogil=True, error_model="numpy")
def _min(
    row: npt.NDArray[np.float64], lo: int, hi: int, start: float, scr: npt.NDArray[np.float64]
) -> float:
    """``min(start, row[lo:hi])`` for non-negative finite ``row``, on the bit patterns
    (as :func:`_max_abs`)."""
    bits = row[lo:hi].view(np.int64)
    m = np.int64(0x7FF0000000000000)  # +inf
    for i in range(bits.shape[0]):
        b = bits[i]
        m = b if b < m else m
    scr.view(np.int64)[0] = m
    v = scr[0]
    return v if v < start else start


_PEAK_FLOOR = 10.0 ** (FLOOR_DB / 20.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _peak_db(v: float) -> float:
    return 20.0 * math.log10(v) if v > _PEAK_FLOOR else FLOOR_DB


@njit(cache=True, nogil=True, error_model="numpy")
def _reading_db(acc: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None:
    """``out`` rows (input peak dBFS, output peak dBFS, reduction dB) from ``acc`` rows
    (input peak, output peak, smallest gain); peaks floored at -120 dBFS, the reduction
    within [0, 120] dB."""
    for c in range(acc.shape[1]):
        out[0, c] = _peak_db(acc[0, c])
        out[1, c] = _peak_db(acc[1, c])
        g = acc[2, c]
        if g >= 1.0:
            r = 0.0
        elif g > 0.0:
            r = -20.0 * math.log10(g)
        else:
            r = -FLOOR_DB
        out[2, c] = r if r < -FLOOR_DB else -FLOOR_DB


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
    ``acc`` rows: input peak, output peak, smallest gain (carried across calls), then
    scratch.
    Closed windows go to ``out[k]`` as :func:`_reading_db` rows. Row by row, one
    stretch up to the next window boundary at a time. Returns (closed, filled).
    """
    channels, frames = x.shape
    per_channel = gain.shape[0] > 1
    closed = 0
    i0 = 0
    scr = acc[3]
    while i0 < frames:
        i1 = min(frames, i0 + window - filled)
        for c in range(channels):
            acc[0, c] = _max_abs(x[c], i0, i1, acc[0, c], scr)
            acc[1, c] = _max_abs(y[c], i0, i1, acc[1, c], scr)
            if per_channel or c == 0:
                acc[2, c] = _min(gain[c if per_channel else 0], i0, i1, acc[2, c], scr)
            else:
                acc[2, c] = acc[2, 0]
        filled += i1 - i0
        i0 = i1
        if filled == window:
            _reading_db(acc, out[closed])
            for c in range(channels):
                acc[0, c] = 0.0
                acc[1, c] = 0.0
                acc[2, c] = np.inf
            closed += 1
            filled = 0
    return closed, filled


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
        self.acc = np.zeros((4, max(1, self.channels)), np.float64)  # (row 3: scratch)
        self.acc[2, :] = np.inf

    def _events(self, rows: npt.NDArray[np.float64], lengths: list[int]) -> list[Event[object]]:
        out: list[Event[object]] = []
        start = self.next_start
        assert start is not None
        stage, tb = self.stage, self._tb
        for (inp, outp, reduction), length in zip(rows.tolist(), lengths, strict=True):
            reading = DynamicsReading(stage, tuple(inp), tuple(outp), tuple(reduction))
            out.append(Event("dynamics", start, start + length, tb, reading))
            start += length
        self.next_start = start
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
        rows = np.empty((1, 3, self.acc.shape[1]), np.float64)
        _reading_db(self.acc, rows[0])
        out = self._events(rows, [self.filled])
        self.filled = 0
        self.acc[0:2, :] = 0.0
        self.acc[2, :] = np.inf
        return out
