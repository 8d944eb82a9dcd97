"""ArraySource: NumPy arrays or iterables of items, for tests and notebooks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from .._exceptions import ParameterError
from .._items import AudioChunk, Event, Item, VideoFrame
from .._nodes import Source
from .._specs import AudioSpec, EventSpec, StreamSpec, VideoSpec

__all__ = ["ArraySource"]


class ArraySource(Source):
    """Feeds a graph from memory.

    Three forms:

    * ``ArraySource.audio(samples, sample_rate, chunk_frames=1024)``: a float array
      ``(channels, frames)`` (or 1-D mono) cut into chunks of ``chunk_frames``
      frames (the last may be shorter). Output port ``"audio"``.
    * ``ArraySource.video(frames, frame_rate)``: uint8 ``(n, height, width, 3)`` RGB
      or ``(n, height, width)`` gray frames at ``frame_rate`` fps (pts count frames,
      ``time_base = 1/frame_rate``). Output port ``"video"``.
    * ``ArraySource(items, spec)``: any iterable of items (a generator is consumed
      lazily, so it may be endless) with the spec of what they are; the port is the
      spec's kind. Pass a list (or a function returning an iterator) to run the
      graph more than once; a generator is used up by the first run.

    Items are checked against the spec as they are read: a chunk with another sample
    rate or channel count fails naming the item's position.
    """

    blocking = False

    def __init__(
        self, items: Iterable[Item] | Callable[[], Iterable[Item]], spec: StreamSpec
    ) -> None:
        self._items = items
        self._spec = spec
        self._port = spec.kind
        self._iter: Iterator[Item] | None = None
        self._duration: Fraction | None = None

    @classmethod
    def audio(
        cls,
        samples: npt.ArrayLike,
        sample_rate: int,
        chunk_frames: int = 1024,
    ) -> ArraySource:
        """Audio from an array ``(channels, frames)`` or 1-D mono at ``sample_rate`` Hz."""
        data = np.asarray(samples)
        if data.ndim == 1:
            data = data[np.newaxis, :]
        if data.ndim != 2:
            raise ParameterError(
                "ArraySource.audio: samples must be (channels, frames) or 1-D, "
                f"got shape {data.shape}"
            )
        if not np.issubdtype(data.dtype, np.floating):
            raise ParameterError(
                f"ArraySource.audio: samples must be floating point in [-1, 1], got {data.dtype}"
            )
        if int(sample_rate) != sample_rate or sample_rate <= 0:
            raise ParameterError(
                f"ArraySource.audio: sample_rate must be a positive int (Hz), got {sample_rate}"
            )
        if chunk_frames < 1:
            raise ParameterError(
                f"ArraySource.audio: chunk_frames must be >= 1, got {chunk_frames}"
            )
        data = data.astype(np.float32, copy=False)
        channels, total = data.shape
        rate = int(sample_rate)

        def chunks() -> Iterator[Item]:
            for i in range(0, total, chunk_frames):
                yield AudioChunk(np.ascontiguousarray(data[:, i : i + chunk_frames]), rate, i)

        src = cls(chunks, AudioSpec(rate, channels))
        src._duration = Fraction(total, rate)
        return src

    @classmethod
    def video(cls, frames: npt.ArrayLike, frame_rate: float | Fraction) -> ArraySource:
        """Video from uint8 frames ``(n, h, w, 3)`` RGB or ``(n, h, w)`` gray."""
        data = np.asarray(frames)
        rgb = data.ndim == 4 and data.shape[3] == 3
        if data.dtype != np.uint8 or not (rgb or data.ndim == 3):
            raise ParameterError(
                "ArraySource.video: frames must be uint8 (n, h, w, 3) or (n, h, w), "
                f"got {data.dtype} {data.shape}"
            )
        rate = Fraction(frame_rate).limit_denominator(1_000_000)
        if rate <= 0:
            raise ParameterError(f"ArraySource.video: frame_rate must be > 0 fps, got {frame_rate}")
        fmt = "rgb24" if data.ndim == 4 else "gray"
        time_base = 1 / rate
        spec = VideoSpec(int(data.shape[2]), int(data.shape[1]), fmt, rate, time_base)

        def gen() -> Iterator[Item]:
            for i in range(data.shape[0]):
                yield VideoFrame(np.ascontiguousarray(data[i]), i, i, time_base, fmt)

        src = cls(gen, spec)
        src._duration = data.shape[0] * time_base
        return src

    def specs(self) -> Mapping[str, StreamSpec]:
        return {self._port: self._spec}

    def open(self, ports: Any) -> None:
        items = self._items
        self._iter = iter(items() if callable(items) else items)

    @property
    def duration(self) -> Fraction | None:
        return self._duration

    def read(self, max_items: int) -> list[tuple[str, Item]]:
        if self._iter is None:
            self.open(())
        assert self._iter is not None
        out: list[tuple[str, Item]] = []
        spec = self._spec
        for item in self._iter:
            self._check(item, spec)
            out.append((self._port, item))
            if len(out) >= max_items:
                break
        return out

    @staticmethod
    def _check(item: Any, spec: StreamSpec) -> None:
        if isinstance(spec, AudioSpec):
            if type(item) is not AudioChunk:
                raise TypeError(
                    f"ArraySource: expected AudioChunk items, got {type(item).__name__}"
                )
            if item.sample_rate != spec.sample_rate or item.channels != spec.channels:
                raise ValueError(
                    f"ArraySource: chunk at frame {item.start} is {item.sample_rate} Hz "
                    f"{item.channels} ch, the source declared {spec}"
                )
        elif isinstance(spec, VideoSpec):
            if type(item) is not VideoFrame:
                raise TypeError(
                    f"ArraySource: expected VideoFrame items, got {type(item).__name__}"
                )
            if (item.width, item.height, item.pixel_format) != (
                spec.width,
                spec.height,
                spec.pixel_format,
            ):
                raise ValueError(
                    f"ArraySource: video frame {item.index} is {item.width}x{item.height} "
                    f"{item.pixel_format}, the source declared {spec}"
                )
        elif isinstance(spec, EventSpec) and not isinstance(item, Event):
            raise TypeError(f"ArraySource: expected Event items, got {type(item).__name__}")
