"""MemorySink: collects every item in a list (tests, notebooks)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from stream import AudioChunk, AudioSpec, Event, Item, Sink, StreamSpec, VideoFrame

__all__ = ["MemorySink"]


class MemorySink(Sink):
    """Keeps every item it receives, in order, in ``items``.

    ``closed`` and ``error`` record how the run ended. ``audio()`` joins audio chunks
    into one ``(channels, frames)`` array; ``events`` and ``frames`` filter by type.
    Memory grows with the input: use it for tests and short runs.
    """

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.closed = False
        self.error: BaseException | None = None
        self.spec: StreamSpec | None = None

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        super().configure(inputs)
        self.spec = next(iter(inputs.values()))

    def open(self) -> None:
        self.items = []
        self.closed = False
        self.error = None

    def write(self, item: Item) -> None:
        self.items.append(item)

    def close(self, error: BaseException | None = None) -> None:
        self.closed = True
        self.error = error

    @property
    def events(self) -> list[Event[object]]:
        """The events received, in order."""
        return [i for i in self.items if isinstance(i, Event)]

    @property
    def frames(self) -> list[VideoFrame]:
        """The video frames received, in order."""
        return [i for i in self.items if isinstance(i, VideoFrame)]

    @property
    def chunks(self) -> list[AudioChunk]:
        """The audio chunks received, in order."""
        return [i for i in self.items if isinstance(i, AudioChunk)]

    def audio(self) -> npt.NDArray[np.float32]:
        """All audio chunks joined: ``(channels, frames)`` float32.

        Raises ValueError if chunks are not contiguous (a gap or overlap in ``start``).
        """
        chunks = self.chunks
        if not chunks:
            channels = self.spec.channels if isinstance(self.spec, AudioSpec) else 1
            return np.zeros((channels, 0), np.float32)
        for a, b in itertools.pairwise(chunks):
            if b.start != a.end:
                raise ValueError(f"audio chunks are not contiguous: {a.end} then {b.start}")
        return np.concatenate([c.data for c in chunks], axis=1)
