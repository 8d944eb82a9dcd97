"""LevelMeter: peak and RMS level per channel over fixed windows, as events."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from numba import njit

from stream import (
    AudioChunk,
    AudioSpec,
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    Operator,
    ParameterError,
    StreamSpec,
)

__all__ = ["LevelMeter", "LevelReading"]


@dataclass(frozen=True)
class LevelReading:
    """Levels of one window, per channel, in dBFS (0 dBFS = full scale 1.0).

    Silence reads as the meter's floor (default -120 dBFS) rather than -inf.
    """

    peak_dbfs: tuple[float, ...]
    rms_dbfs: tuple[float, ...]


@njit(cache=True, nogil=True)
def _level_kernel(
    x: npt.NDArray[np.float32],
    window: int,
    filled: int,
    sumsq: npt.NDArray[np.float64],
    peak: npt.NDArray[np.float64],
    out_sumsq: npt.NDArray[np.float64],
    out_peak: npt.NDArray[np.float64],
) -> tuple[int, int, int]:
    """Accumulate squares and peaks frame by frame; close a window every ``window`` frames.

    State (``filled``, ``sumsq``, ``peak``) carries across calls, accumulated in the
    same order whatever the chunking, so results are bit-identical. Returns
    (windows closed, frames in the open window, index of the first non-finite
    frame or -1).
    """
    channels, frames = x.shape
    closed = 0
    for n in range(frames):
        for c in range(channels):
            v = np.float64(x[c, n])
            if not np.isfinite(v):
                return closed, filled, n
            sumsq[c] += v * v
            a = abs(v)
            if a > peak[c]:
                peak[c] = a
        filled += 1
        if filled == window:
            for c in range(channels):
                out_sumsq[closed, c] = sumsq[c]
                out_peak[closed, c] = peak[c]
                sumsq[c] = 0.0
                peak[c] = 0.0
            closed += 1
            filled = 0
    return closed, filled, -1


class LevelMeter(Operator):
    """Emits a ``"level"`` event per window: peak and RMS dBFS of each channel.

    Args:
        interval_ms: window length in milliseconds (default 100 ms), rounded to whole
            frames at the input rate; windows tile the stream from frame 0.
        floor_db: level reported for silence, dBFS (default -120).

    Events: ``kind="level"``, ``start``/``end`` in frames of the window (``end``
    exclusive), payload :class:`LevelReading`. At end of stream the partial last
    window is emitted with its true length. Latency: one window.

    Non-finite samples (NaN, inf) are rejected with ValueError naming the frame.
    """

    accepts = frozenset({"audio"})

    def __init__(self, interval_ms: float = 100.0, floor_db: float = -120.0) -> None:
        if not (math.isfinite(interval_ms) and interval_ms > 0):
            raise ParameterError(f"LevelMeter.interval_ms must be > 0 ms, got {interval_ms}")
        if not (math.isfinite(floor_db) and floor_db < 0):
            raise ParameterError(
                f"LevelMeter.floor_db must be a negative dBFS value, got {floor_db}"
            )
        self.interval_ms = float(interval_ms)
        self.floor_db = float(floor_db)
        self._rate = 0
        self._window = 0
        self._channels = 0
        self.reset()

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        (spec,) = inputs.values()
        if not isinstance(spec, AudioSpec):
            raise IncompatibleInputError(f"LevelMeter takes audio, got {spec}")
        window = round(self.interval_ms * 1e-3 * spec.sample_rate)
        if window < 1:
            raise IncompatibleInputError(
                f"LevelMeter.interval_ms={self.interval_ms} is shorter than one frame at "
                f"{spec.sample_rate} Hz"
            )
        self._rate = spec.sample_rate
        self._channels = spec.channels
        self._window = window
        self.reset()
        return (EventSpec(frozenset({"level"})),)

    def reset(self) -> None:
        self._filled = 0
        self._win_start = 0
        self._started = False
        self._next_in = 0  # the frame the next chunk must start at (once started)
        self._sumsq = np.zeros(max(1, self._channels), np.float64)
        self._peak = np.zeros(max(1, self._channels), np.float64)

    @property
    def latency(self) -> Fraction:
        return Fraction(self._window, self._rate) if self._rate else Fraction(0)

    def _events(
        self,
        sumsq: npt.NDArray[np.float64],
        peak: npt.NDArray[np.float64],
        lengths: npt.NDArray[np.int64],
    ) -> list[Item]:
        floor = self.floor_db
        with np.errstate(divide="ignore"):
            rms_db = 10.0 * np.log10(sumsq / lengths[:, np.newaxis])
            peak_db = 20.0 * np.log10(peak)
        rms_db = np.maximum(rms_db, floor)
        peak_db = np.maximum(peak_db, floor)
        out: list[Item] = []
        tb = Fraction(1, self._rate)
        for k in range(len(lengths)):
            start = self._win_start
            end = start + int(lengths[k])
            reading = LevelReading(
                tuple(float(v) for v in peak_db[k]), tuple(float(v) for v in rms_db[k])
            )
            out.append(Event("level", start, end, tb, reading))
            self._win_start = end
        return out

    def process(self, item: Item) -> list[Item]:
        if type(item) is not AudioChunk:
            raise TypeError(f"LevelMeter takes audio chunks, got {type(item).__name__}")
        if item.channels != self._channels or item.sample_rate != self._rate:
            raise ValueError(
                f"chunk is {item.sample_rate} Hz {item.channels} ch, configured for "
                f"{self._rate} Hz {self._channels} ch"
            )
        if not self._started:
            self._started = True
            self._win_start = item.start
        elif item.start != self._next_in:
            raise ValueError(
                f"LevelMeter input chunk starts at frame {item.start}, expected "
                f"{self._next_in} (chunks must follow each other without gap or overlap)"
            )
        self._next_in = item.end
        max_windows = (self._filled + item.frames) // self._window + 1
        out_sumsq = np.empty((max_windows, self._channels), np.float64)
        out_peak = np.empty((max_windows, self._channels), np.float64)
        closed, self._filled, bad = _level_kernel(
            item.data, self._window, self._filled, self._sumsq, self._peak, out_sumsq, out_peak
        )
        if bad >= 0:
            raise ValueError(
                f"non-finite sample (NaN or inf) at frame {item.start + bad}; "
                "sanitise the input before metering"
            )
        if not closed:
            return []
        lengths = np.full(closed, self._window, np.int64)
        return self._events(out_sumsq[:closed], out_peak[:closed], lengths)

    def flush(self) -> list[Item]:
        if not self._filled:
            return []
        out = self._events(
            self._sumsq[np.newaxis, :].copy(),
            self._peak[np.newaxis, :].copy(),
            np.array([self._filled], np.int64),
        )
        self._filled = 0
        self._sumsq[:] = 0.0
        self._peak[:] = 0.0
        return out
