"""Rolling windows over an audio stream, assembled from the tail the cutter carries.

A window that spans a chunk boundary is built from the audio tail kept from earlier
chunks, so the windows (their start frames and their samples) are identical whatever
the chunking of the input: embeddings computed from them do not depend on it either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream import ParameterError

__all__ = ["RollingWindows", "WindowBatch", "seconds_to_frames"]


def seconds_to_frames(seconds: float, sample_rate: int, name: str, owner: str) -> int:
    """``seconds`` at ``sample_rate`` Hz as a whole number of frames (>= 1), validated."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ParameterError(f"{owner}.{name} must be > 0 s, got {seconds!r}")
    frames = round(seconds * sample_rate)
    if frames < 1:
        raise ParameterError(
            f"{owner}.{name}={seconds} s is shorter than one frame at {sample_rate} Hz"
        )
    return frames


@dataclass(frozen=True)
class WindowBatch:
    """Windows cut from a stream.

    Attributes:
        samples: float32 ``(n, window)`` mono samples; a last partial window (flush) is
            zero-padded to the full length.
        starts: int64 ``(n,)`` first frame of each window since the stream began.
        lengths: int64 ``(n,)`` frames of real audio in each window (``window`` except
            for a flushed partial window).
    """

    samples: npt.NDArray[np.float32]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.starts.shape[0])


def _empty(window: int) -> WindowBatch:
    return WindowBatch(
        np.zeros((0, window), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    )


class RollingWindows:
    """Cuts a mono stream into windows of ``window`` frames every ``step`` frames.

    Windows start at the first frame pushed (``origin``) and then every ``step``
    frames. The cutter keeps only the tail the next window needs (at most ``window``
    frames plus the chunk being cut), so memory is bounded whatever the stream length.

    Args:
        window: window length in frames (>= 1).
        step: hop between window starts in frames (>= 1; may exceed ``window``).
    """

    def __init__(self, window: int, step: int) -> None:
        if window < 1 or step < 1:
            raise ParameterError(
                f"RollingWindows: window and step must be >= 1 frame, got {window} and {step}"
            )
        self.window = int(window)
        self.step = int(step)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next push starts a new origin."""
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # stream frame of _buf[0]
        self._next = 0  # stream frame where the next window starts
        self._end = 0  # stream frame one past the last pushed frame
        self._started = False
        self._emitted_end = 0  # one past the end of the last emitted window

    @property
    def end(self) -> int:
        """One past the last frame pushed (stream frames)."""
        return self._end

    @property
    def next_start(self) -> int:
        """Start frame of the next window to be emitted."""
        return self._next

    def push(self, samples: npt.NDArray[np.float32], start: int) -> WindowBatch:
        """Add mono ``samples`` whose first frame is ``start``; return completed windows.

        Raises ValueError when ``start`` does not continue the stream (a gap or an
        overlap), naming both frames.
        """
        if not self._started:
            self._started = True
            self._buf_start = self._next = self._end = self._emitted_end = int(start)
        elif start != self._end:
            raise ValueError(
                f"audio is not contiguous: chunk starts at frame {start}, expected frame "
                f"{self._end}"
            )
        x = np.asarray(samples, np.float32)
        self._end += int(x.shape[0])
        if self._end - self._next < self.window:
            # Not enough for a window: keep what the next window needs.
            self._buf = np.concatenate([self._buf, x]) if self._buf.size else x.copy()
            self._trim()
            return _empty(self.window)
        buf = np.concatenate([self._buf, x]) if self._buf.size else x
        n = (self._end - self._next - self.window) // self.step + 1
        offset = self._next - self._buf_start
        view = np.lib.stride_tricks.sliding_window_view(buf[offset:], self.window)
        windows = np.array(view[: (n - 1) * self.step + 1 : self.step])  # writable copy
        starts = self._next + self.step * np.arange(n, dtype=np.int64)
        self._emitted_end = int(starts[-1]) + self.window
        self._next += n * self.step
        self._buf = buf
        self._trim()
        self._buf = self._buf.copy()  # the tail only (< window frames): never the caller's array
        return WindowBatch(windows, starts, np.full(n, self.window, np.int64))

    def _trim(self) -> None:
        """Drop what no future window needs; ``_buf`` keeps covering ``[_buf_start, _end)``."""
        drop = min(self._next - self._buf_start, int(self._buf.shape[0]))
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop

    def flush(self) -> WindowBatch:
        """End of stream: the last partial window, when audio after the last emitted
        window (or, if none was emitted, any audio at all) would otherwise be lost.

        It starts on the step grid and is zero-padded to ``window`` frames; its
        ``lengths`` entry holds the real frame count.
        """
        if not self._started or self._end <= self._emitted_end or self._end <= self._next:
            self._buf = np.zeros(0, np.float32)
            return _empty(self.window)
        offset = self._next - self._buf_start
        real = self._buf[offset:]
        out = np.zeros((1, self.window), np.float32)
        out[0, : real.shape[0]] = real
        batch = WindowBatch(
            out, np.array([self._next], np.int64), np.array([real.shape[0]], np.int64)
        )
        self._emitted_end = self._end
        self._buf = np.zeros(0, np.float32)
        return batch
