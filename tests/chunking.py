"""Shared helpers for chunk-invariance property tests."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from stream import AudioChunk


@st.composite
def cut_points(draw: st.DrawFn, total: int, max_cuts: int = 40) -> list[int]:
    """Sorted, unique cut positions in (0, total): any chunking, 1-frame chunks included."""
    if total < 2:
        return []
    cuts = draw(st.lists(st.integers(1, total - 1), max_size=max_cuts, unique=True))
    # Sometimes force runs of 1-frame chunks.
    if draw(st.booleans()):
        at = draw(st.integers(1, total - 1))
        cuts += list(range(at, min(total, at + draw(st.integers(1, 8)))))
    return sorted(set(cuts))


def chunk_audio(
    x: npt.NDArray[np.float32], rate: int, cuts: list[int], start: int = 0
) -> list[AudioChunk]:
    """Cut ``(channels, frames)`` audio at ``cuts`` into AudioChunks."""
    bounds = [0, *cuts, x.shape[1]]
    return [
        AudioChunk(np.ascontiguousarray(x[:, a:b]), rate, start + a)
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]
