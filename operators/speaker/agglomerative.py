"""Average linkage over sums of unit embeddings: the clustering kernel and a bounded store.

Average linkage over the cosine distance of unit vectors is exact on sums: the mean
pairwise distance between clusters a and b is ``1 - S_a . S_b / (W_a W_b)``, with ``S``
the (weighted) sum of their unit embeddings and ``W`` their weight. So a Gram matrix of
sums ``S S^T`` and the weights are all the clustering reads, and merging two clusters
adds their rows. :func:`average_linkage` is the nearest-neighbour-chain algorithm on
that matrix (O(n^2), Numba). :class:`LinkageHistory` is a store of such sums of bounded
size: when it is full its two nearest entries merge (one agglomeration step taken
early), and its Gram matrix is kept up to date one row at a time (a matrix-vector
product per new entry, never per pair). Used by
:class:`~operators.speaker.linkage.LinkageClustering` (within a stream) and
:mod:`operators.speaker.linking` (across streams).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["LinkageHistory", "average_linkage", "closest_pair", "cluster_labels"]


@njit(cache=True, nogil=True)
def average_linkage(
    gram: npt.NDArray[np.float64], weight: npt.NDArray[np.float64], cut: float
) -> npt.NDArray[np.int64]:  # pragma: no cover - compiled
    """Cluster ids (0..k-1, in order of first member) of average-linkage clustering of
    entries with sums' Gram matrix ``gram`` and weights ``weight``, merging while the
    mean cosine distance is at most ``cut``. Nearest-neighbour chain: O(n^2)."""
    n = gram.shape[0]
    g = gram.copy()
    w = weight.copy()
    iw = 1.0 / w
    active = np.ones(n, np.bool_)
    parent = np.arange(n)
    chain = np.empty(n + 1, np.int64)
    top = 0
    nxt = 0
    while True:
        if top == 0:
            while nxt < n and not active[nxt]:
                nxt += 1
            if nxt >= n:
                break
            chain[0] = nxt
            top = 1
        a = chain[top - 1]
        prev = chain[top - 2] if top >= 2 else -1
        best = -1
        best_sim = -np.inf
        if prev >= 0:
            best = prev
            best_sim = g[a, prev] * iw[prev]
        row = g[a]
        for k in range(n):
            if active[k] and k != a:
                s = row[k] * iw[k]
                if s > best_sim:
                    best_sim = s
                    best = k
        best_sim *= iw[a]
        if best < 0:  # a is alone
            active[a] = False
            top -= 1
            continue
        if best != prev:
            chain[top] = best
            top += 1
            continue
        # Reciprocal nearest neighbours a, prev.
        top -= 2
        if 1.0 - best_sim > cut:
            # Neither can merge below the cut any more (reducibility of average linkage).
            active[a] = False
            active[prev] = False
            continue
        for k in range(n):
            g[a, k] += g[prev, k]
        for k in range(n):
            g[k, a] = g[a, k]
        g[a, a] = g[a, a] + g[prev, a]
        w[a] += w[prev]
        iw[a] = 1.0 / w[a]
        active[prev] = False
        parent[prev] = a
    return cluster_labels(parent)


@njit(cache=True, nogil=True)
def cluster_labels(parent: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:  # pragma: no cover
    """Cluster numbers 0, 1, ... in order of first entry, from merge parents (each
    entry points at the entry it merged into; roots point at themselves)."""
    n = parent.shape[0]
    out = np.full(n, -1, np.int64)
    k = 0
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        if out[r] < 0:
            out[r] = k
            k += 1
        out[i] = out[r]
    return out


@njit(cache=True, nogil=True)
def closest_pair(
    gram: npt.NDArray[np.float64],
    weight: npt.NDArray[np.float64],
    first: npt.NDArray[np.float64],
    last: npt.NDArray[np.float64],
    gap: float,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """The two entries with the highest mean cosine similarity among those heard within
    ``gap`` of each other (their spans ``first``..``last`` no more than ``gap`` apart);
    when no pair is, among all."""
    n = gram.shape[0]
    bi, bj, best = 0, 1, -np.inf
    ai, aj, best_any = 0, 1, -np.inf
    for i in range(n):
        for j in range(i + 1, n):
            s = gram[i, j] / (weight[i] * weight[j])
            if s > best_any:
                best_any, ai, aj = s, i, j
            if s > best and max(first[i], first[j]) - min(last[i], last[j]) <= gap:
                best, bi, bj = s, i, j
    if best == -np.inf:
        return ai, aj
    return bi, bj


class LinkageHistory:
    """A bounded store of weighted sums of unit embeddings, with their Gram matrix.

    Entry ``i < n`` holds ``sums[i]`` (weight x unit embedding, summed over what merged
    into it), ``weights[i]``, the speaker it last belonged to (``labels[i]``, -1: none),
    the seeded speaker whose reference it is (``pins[i]``, -1: none), a stable id
    (``ids[i]``) and the first and last time it was heard at (``first[i]``,
    ``last[i]``: what the caller passed to :meth:`add`; a merge keeps the earliest and
    the latest). ``gram`` is ``sums @ sums.T`` over the first ``n`` entries.

    Args:
        capacity: most entries kept (>= 2); past it the two nearest merge: the heavier
            keeps its slot and id, the lighter's id redirects to it
            (:meth:`slot_of`), and the last entry moves into the freed slot.
        gap: only entries heard within ``gap`` of each other (in the unit of the
            times) merge while any such pair exists (default: no limit), so that two
            stretches of a voice more than ``gap`` apart stay apart in the history.
    """

    def __init__(self, capacity: int, gap: float = np.inf) -> None:
        self.capacity = capacity
        self.gap = float(gap)
        self.clear(0)

    def clear(self, dim: int) -> None:
        """Forget every entry; sums of ``dim``-d embeddings."""
        cap = self.capacity
        self.sums = np.zeros((cap, dim), np.float64)  # weighted sums of unit embeddings
        self.weights = np.zeros(cap, np.float64)
        self.gram = np.zeros((cap, cap), np.float64)
        self.labels = np.full(cap, -1, np.int64)  # speaker each entry last belonged to
        self.pins = np.full(cap, -1, np.int64)  # seeded (enrolled) speaker, or -1
        self.n = 0
        self.ids = np.full(cap, -1, np.int64)  # stable id of each entry
        self.first = np.zeros(cap, np.float64)  # earliest time among what merged in
        self.last = np.zeros(cap, np.float64)  # latest time among what merged in
        self._slot: dict[int, int] = {}  # id -> index
        self._redirect: dict[int, int] = {}  # id of a merged entry -> id it merged into
        self._next_id = 0

    def set_dim(self, dim: int) -> None:
        """Size the sums for ``dim``-d embeddings (while empty)."""
        self.sums = np.zeros((self.capacity, dim), np.float64)

    def add(
        self, e: npt.NDArray[np.float64], w: float, label: int, pin: int = -1, t: float = 0.0
    ) -> int:
        """Store unit embedding ``e`` with weight ``w``, heard at time ``t`` (any
        unit, non-decreasing from call to call), merging the two nearest entries first
        when full; returns its index."""
        if self.n == self.capacity:
            self.compress()
        i = self.n
        self.sums[i] = e * w
        self.weights[i] = w
        self.labels[i] = label
        self.pins[i] = pin
        self.ids[i] = self._next_id
        self.first[i] = self.last[i] = t
        self._slot[self._next_id] = i
        self._next_id += 1
        row = self.sums[: i + 1] @ self.sums[i]
        self.gram[i, : i + 1] = row
        self.gram[: i + 1, i] = row
        self.n += 1
        return i

    def compress(self) -> None:
        """Merge the two nearest entries (an agglomeration step taken early)."""
        n = self.n
        i, j = closest_pair(
            self.gram[:n, :n], self.weights[:n], self.first[:n], self.last[:n], self.gap
        )
        if self.weights[j] > self.weights[i]:
            i, j = j, i
        g = self.gram
        g[i, :n] += g[j, :n]
        g[:n, i] += g[:n, j]
        self.sums[i] += self.sums[j]
        self.weights[i] += self.weights[j]
        if self.pins[i] < 0:
            self.pins[i] = self.pins[j]
        self.first[i] = min(self.first[i], self.first[j])
        self.last[i] = max(self.last[i], self.last[j])
        gone = int(self.ids[j])
        del self._slot[gone]
        self._redirect[gone] = int(self.ids[i])
        if len(self._redirect) > 4 * self.capacity:  # only recent ids are asked for
            old = self._next_id - 2 * self.capacity
            self._redirect = {k: v for k, v in self._redirect.items() if k >= old}
        last = n - 1
        if j != last:  # move the last entry into j's place
            self.ids[j] = self.ids[last]
            self._slot[int(self.ids[j])] = j
            self.sums[j] = self.sums[last]
            self.weights[j] = self.weights[last]
            self.labels[j] = self.labels[last]
            self.pins[j] = self.pins[last]
            self.first[j] = self.first[last]
            self.last[j] = self.last[last]
            g[j, :n] = g[last, :n]
            g[:n, j] = g[:n, last]
            g[j, j] = g[last, last]
        self.n = last

    def separate(self, idx: npt.NDArray[np.int64]) -> None:
        """Make entries ``idx`` maximally dissimilar to each other in the linkage
        (cosine -1: the pair's Gram entry becomes ``-w_i w_j``)."""
        if idx.size > 1:
            ww = np.outer(self.weights[idx], self.weights[idx])
            block = self.gram[np.ix_(idx, idx)]
            off = ~np.eye(idx.size, dtype=bool)
            block[off] = -ww[off]
            self.gram[np.ix_(idx, idx)] = block

    def slot_of(self, entry_id: int) -> int | None:
        """Index of the entry with id ``entry_id`` (following merges), None when it is
        no longer known."""
        k = entry_id
        for _ in range(64):
            if k not in self._redirect:
                break
            k = self._redirect[k]
        return self._slot.get(k)
