"""Band state of the online DTW: a window of feature rows, and path tracing kernels.

Pending rows (not yet emitted) are stored as their left band edge ``los[r]`` and the
step taken into each cell ``steps[r, k]`` (``-1``: none); these Numba kernels trace
paths back through them for the finality rule and the maximum-lag pruning of
:class:`~operators.video.online_dtw.OnlineSubsequenceDTW`.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["FeatureWindow", "converge", "roots", "trace"]


class FeatureWindow:
    """A growable window of feature rows addressed by absolute frame index."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.data = np.empty((64, dim), np.float32)
        self.base = 0  # absolute index of data[0]
        self.count = 0  # absolute index of the next row pushed

    def push(self, row: npt.NDArray[np.float32]) -> None:
        held = self.count - self.base
        if held == self.data.shape[0]:
            grown = np.empty((2 * held, self.dim), np.float32)
            grown[:held] = self.data
            self.data = grown
        self.data[held] = row
        self.count += 1

    def drop_before(self, index: int) -> None:
        """Forget rows before absolute ``index`` (compacting when half is dead)."""
        index = min(index, self.count)
        dead = index - self.base
        if dead <= 0 or dead * 2 < self.data.shape[0]:
            return
        held = self.count - index
        self.data[:held] = self.data[dead : dead + held]
        self.base = index

    def rows(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        return self.data[start - self.base : stop - self.base]


@numba.njit(cache=True, nogil=True)
def converge(
    los: npt.NDArray[np.int64],
    steps: npt.NDArray[np.int16],
    rows: int,
    alive: npt.NDArray[np.bool_],
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Newest pending row where all live paths share one cell: (row, column) or (-1, -1)."""
    width = alive.shape[0]
    mask = alive.copy()
    nxt = np.zeros(width, np.bool_)
    for r in range(rows - 1, -1, -1):
        count = 0
        last = -1
        for k in range(width):
            if mask[k]:
                count += 1
                last = k
        if count == 1:
            return r, los[r] + last
        if count == 0 or r == 0:
            return -1, -1
        nxt[:] = False
        for k in range(width):
            if mask[k]:
                nxt[los[r] + k - steps[r, k] - los[r - 1]] = True
        mask, nxt = nxt, mask
    return -1, -1  # pragma: no cover


@numba.njit(cache=True, nogil=True)
def trace(
    los: npt.NDArray[np.int64], steps: npt.NDArray[np.int16], row: int, col: int
) -> npt.NDArray[np.int64]:  # pragma: no cover - compiled
    """Columns of the path through (row, col), pending rows 0..row."""
    path = np.empty(row + 1, np.int64)
    j = col
    for r in range(row, -1, -1):
        path[r] = j
        if r > 0:
            j -= steps[r, j - los[r]]
    return path


@numba.njit(cache=True, nogil=True)
def roots(
    los: npt.NDArray[np.int64],
    steps: npt.NDArray[np.int16],
    rows: int,
    alive: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:  # pragma: no cover - compiled
    """For each live cell of the newest row, the column its path has in pending row 0."""
    width = alive.shape[0]
    out = np.full(width, -1, np.int64)
    for k in range(width):
        if not alive[k]:
            continue
        j = los[rows - 1] + k
        for r in range(rows - 1, 0, -1):
            j -= steps[r, j - los[r]]
        out[k] = j
    return out
