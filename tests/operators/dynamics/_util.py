"""Helpers for the dynamics tests: run an operator, split its audio and events."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from stream import AudioChunk, AudioSpec, Event, Item, Operator

RATE = 48000


def split(items: Sequence[Item]) -> tuple[npt.NDArray[np.float32], list[Event[object]]]:
    """Joined audio (checked contiguous) and the events, from an operator's outputs."""
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    for a, b in itertools.pairwise(chunks):
        assert b.start == a.end, f"gap or overlap: {a} then {b}"
    audio = (
        np.concatenate([c.data for c in chunks], axis=1) if chunks else np.zeros((1, 0), np.float32)
    )
    return audio, [i for i in items if isinstance(i, Event)]


def run(
    op: Operator, chunks: Iterable[AudioChunk], channels: int, rate: int = RATE
) -> tuple[npt.NDArray[np.float32], list[Event[object]]]:
    """Configure, reset, process every chunk, flush; returns (audio, events)."""
    op.configure({"in": AudioSpec(rate, channels)})
    op.reset()
    out: list[Item] = []
    for c in chunks:
        out.extend(op.process(c))
    out.extend(op.flush())
    return split(out)


def step(
    before: float, after: float, at: int, total: int, channels: int = 1
) -> npt.NDArray[np.float32]:
    """A DC level step: ``before`` for ``at`` frames then ``after``."""
    x = np.full((channels, total), after, np.float32)
    x[:, :at] = before
    return x


def db(v: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return 20.0 * np.log10(np.asarray(v, np.float64))
