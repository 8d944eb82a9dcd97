"""Resample: sample-rate conversion of a stream, by FFmpeg's libswresample (PyAV).

A live input runs at the device's rate (44.1 or 48 kHz); the speaker models want 16
kHz. Files are resampled while they are decoded (``FileSource(audio=AudioFormat(...))``);
this operator does the same for any audio stream, chunk by chunk: one
``av.AudioResampler`` carries its filter state across chunks, and its output does not
depend on how the input was cut (libswresample's polyphase filter computes each output
sample from the same input samples whatever the frame sizes; the tests check it bit for
bit with random chunkings).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from stream import (
    AudioChunk,
    AudioSpec,
    IncompatibleInputError,
    Item,
    Operator,
    ParameterError,
    StreamSpec,
    channel_layout,
)

__all__ = ["Resample"]

_MIN_RATE, _MAX_RATE = 1000, 768000


class Resample(Operator):
    """Converts audio to ``sample_rate`` Hz.

        Args:
            sample_rate: output rate, Hz (an int, 1000-768000). Equal to the input's: the
                chunks pass through unchanged.

        Output: float32 chunks, the input's channels, frame ``k`` at time ``k /
        sample_rate`` (the input's first frame at time ``s`` starts the output at frame
        ``round(s * sample_rate / input rate)``). libswresample holds back the few input
        frames its filter needs past each output (:attr:`latency`, about 1 ms) and gives
        them at end of stream (the filter reads silence past the input's end), so the output
    ends at the input's end: ``round(end * sample_rate / input rate)``.
        Chunk invariant (bit-identical). A non-finite sample is an error naming its frame.
    """

    accepts = frozenset({"audio"})

    def __init__(self, sample_rate: int) -> None:
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, int)
            or not _MIN_RATE <= sample_rate <= _MAX_RATE
        ):
            raise ParameterError(
                f"Resample.sample_rate must be an int in {_MIN_RATE}-{_MAX_RATE} Hz, "
                f"got {sample_rate!r}"
            )
        self.sample_rate = sample_rate
        self._in_rate = 0
        self._channels = 0
        self._layout = ""
        self._latency = Fraction(0)
        self.reset()

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        (spec,) = inputs.values()
        if not isinstance(spec, AudioSpec):
            raise IncompatibleInputError(f"Resample takes audio, got {spec}")
        self._in_rate = spec.sample_rate
        self._channels = spec.channels
        self._layout = channel_layout(spec.channels)
        self._latency = self._measure_latency()
        self.reset()
        return (AudioSpec(self.sample_rate, spec.channels),)

    @property
    def latency(self) -> Fraction:
        return self._latency

    def reset(self) -> None:
        self._resampler: Any = None
        self._next_in: int | None = None
        self._next_out = 0

    def _new_resampler(self) -> Any:
        import av

        return av.AudioResampler(format="fltp", layout=self._layout, rate=self.sample_rate)

    def _frame(self, data: Any, start: int) -> Any:
        import av

        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data, np.float32), format="fltp", layout=self._layout
        )
        frame.sample_rate = self._in_rate
        frame.pts = start
        frame.time_base = Fraction(1, self._in_rate)
        return frame

    def _measure_latency(self) -> Fraction:
        """Output frames held back once a second of input is in, as seconds."""
        if self._in_rate == self.sample_rate:
            return Fraction(0)
        probe = self._new_resampler()
        silence = np.zeros((self._channels, self._in_rate), np.float32)
        got = sum(f.samples for f in probe.resample(self._frame(silence, 0)))
        return Fraction(max(0, self.sample_rate - got), self.sample_rate)

    def _convert(self, frames: list[Any]) -> list[Item]:
        if not frames:
            return []
        parts = [f.to_ndarray() for f in frames]
        y = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        if y.shape[1] == 0:
            return []
        out = AudioChunk(np.ascontiguousarray(y, np.float32), self.sample_rate, self._next_out)
        self._next_out += y.shape[1]
        return [out]

    def process(self, item: Item) -> list[Item]:
        if not isinstance(item, AudioChunk):
            raise IncompatibleInputError(f"Resample takes audio chunks, got {type(item).__name__}")
        x = item.data
        if item.sample_rate != self._in_rate or x.shape[0] != self._channels:
            raise IncompatibleInputError(
                f"Resample was configured for {self._in_rate} Hz, {self._channels} ch; got "
                f"{item.sample_rate} Hz, {x.shape[0]} ch"
            )
        if x.shape[1] == 0:
            return []
        bad = ~np.isfinite(x)
        if bad.any():
            frame = int(np.flatnonzero(bad.any(axis=0))[0])
            raise ValueError(
                f"non-finite sample (NaN or inf) at frame {item.start + frame} of the input "
                "of Resample; sanitise the input first"
            )
        if self._next_in is None:
            self._next_out = round(Fraction(item.start * self.sample_rate, self._in_rate))
        elif item.start != self._next_in:
            raise ValueError(
                f"Resample input jumped from frame {self._next_in} to {item.start}: chunks "
                "must be contiguous"
            )
        self._next_in = item.start + x.shape[1]
        if self._in_rate == self.sample_rate:
            self._next_out += x.shape[1]
            return [item]
        if self._resampler is None:
            self._resampler = self._new_resampler()
        return self._convert(list(self._resampler.resample(self._frame(x, item.start))))

    def flush(self) -> list[Item]:
        if self._resampler is None or self._next_in is None:
            return []
        # The filter's look-ahead past the last input is silence: feed 20 ms of it (more
        # than libswresample's filter), drain, and keep the frames up to the input's end.
        end = round(Fraction(self._next_in * self.sample_rate, self._in_rate))
        pad = np.zeros((self._channels, self._in_rate // 50 + 64), np.float32)
        frames = list(self._resampler.resample(self._frame(pad, self._next_in)))
        frames.extend(self._resampler.resample(None))
        self._resampler = None
        out = self._convert(frames)
        if out and self._next_out > end:
            chunk = out[0]
            assert isinstance(chunk, AudioChunk)
            keep = chunk.frames - (self._next_out - end)
            self._next_out = end
            out = (
                [AudioChunk(chunk.data[:, :keep], self.sample_rate, chunk.start)]
                if keep > 0
                else []
            )
        return out

    def __repr__(self) -> str:
        return f"Resample(sample_rate={self.sample_rate})"
