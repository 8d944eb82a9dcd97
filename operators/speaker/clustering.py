"""Incremental speaker clustering against centroids, with explicit thresholds.

Every call compares the new embeddings with the current speaker centroids through one
matrix product (``centroids @ embeddings.T`` of L2-normalised rows: cosine distance
``1 - similarity``), never pair by pair. Embeddings of one buffer may carry a
cannot-link constraint (two local speakers of the same buffer are never the same
global speaker): they are then assigned jointly with the Hungarian algorithm.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .strategy import Assignment, check_distance, check_max_speakers, unit_rows

__all__ = ["Assignment", "IncrementalClustering"]


class IncrementalClustering:
    """Online clustering of speaker embeddings (a
    :class:`~operators.speaker.strategy.ClusteringStrategy`).

    Args:
        new_speaker_distance: cosine distance (0..2) above which an embedding starts a
            new speaker rather than joining the nearest one (default 0.6).
        update_distance: an embedding updates its speaker's centroid only when its
            distance is at most this (default: ``new_speaker_distance``), so outliers
            do not drag a centroid.
        max_speakers: most speakers ever created (default 20); past it, embeddings join
            the nearest speaker whatever the distance.
        dim: embedding size, or None to take it from the first call.

    Centroids are running sums of the (unit) embeddings that updated them, weighted by
    the caller's ``weights``; distances use their normalised directions.
    """

    def __init__(
        self,
        new_speaker_distance: float = 0.6,
        update_distance: float | None = None,
        max_speakers: int = 20,
        dim: int | None = None,
    ) -> None:
        check_distance("IncrementalClustering", "new_speaker_distance", new_speaker_distance)
        upd = new_speaker_distance if update_distance is None else update_distance
        if not (math.isfinite(upd) and 0 <= upd <= 2):
            raise ParameterError(
                f"IncrementalClustering.update_distance must be in [0, 2], got {upd!r}"
            )
        check_max_speakers("IncrementalClustering", max_speakers)
        self.new_speaker_distance = float(new_speaker_distance)
        self.update_distance = float(upd)
        self.max_speakers = max_speakers
        self.dim = dim
        self.reset()

    def reset(self) -> None:
        """Forget every speaker."""
        d = self.dim or 0
        self._sums = np.zeros((self.max_speakers, d), np.float64)
        self._weights = np.zeros(self.max_speakers, np.float64)
        self._join = np.full(self.max_speakers, self.new_speaker_distance, np.float64)
        self._frozen = np.zeros(self.max_speakers, bool)
        self.num_speakers = 0

    @property
    def centroids(self) -> npt.NDArray[np.float32]:
        """``(num_speakers, dim)`` unit centroid directions."""
        return unit_rows(self._sums[: self.num_speakers].astype(np.float32))

    def seed(
        self,
        embedding: npt.NDArray[np.float32],
        weight: float = 1.0,
        *,
        frozen: bool = False,
        join_distance: float | None = None,
    ) -> int:
        """Create a speaker from ``embedding`` (e.g. an enrolled voice); returns its index.

        ``frozen``: its centroid never moves (a reference voice). ``join_distance``:
        embeddings join it only within this cosine distance (default
        ``new_speaker_distance``).
        """
        e = unit_rows(np.asarray(embedding, np.float32)[None, :])
        self._ensure_dim(e.shape[1])
        if self.num_speakers >= self.max_speakers:
            raise ParameterError(f"cannot seed: already {self.max_speakers} speakers (max)")
        k = self.num_speakers
        self._sums[k] = e[0] * weight
        self._weights[k] = weight
        self._frozen[k] = frozen
        self._join[k] = self.new_speaker_distance if join_distance is None else join_distance
        self.num_speakers += 1
        return k

    def _ensure_dim(self, dim: int) -> None:
        if self.dim is None or self._sums.shape[1] == 0:
            self.dim = dim
            self._sums = np.zeros((self.max_speakers, dim), np.float64)
        elif dim != self.dim:
            raise ValueError(f"embedding size {dim} differs from the clustering's {self.dim}")

    def distances(self, embeddings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Cosine distances ``(num_speakers, n)``: one matrix product."""
        e = unit_rows(np.asarray(embeddings, np.float32))
        return (1.0 - self.centroids @ e.T).astype(np.float32)

    def speakers_of(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """-1 for every id: decisions are final here, no history entry ever changes
        speaker (:attr:`Assignment.entries` is None)."""
        return np.full(len(ids), -1, np.int64)

    def assign(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        weights: npt.NDArray[np.float64] | None = None,
        update: npt.NDArray[np.bool_] | None = None,
        cannot_link: bool = False,
        time: float | None = None,
    ) -> Assignment:
        """Assign each of ``embeddings`` ``(n, dim)`` to a speaker, creating speakers.

        Args:
            weights: ``(n,)`` weight of each embedding in its centroid update (default 1).
            update: ``(n,)`` whether each embedding may update a centroid (default all);
                an embedding that may not update never creates a speaker either.
            cannot_link: the embeddings come from one buffer and belong to different
                speakers: assigned jointly (Hungarian), never two to one speaker.
            time: when they were heard; not used (one decision per embedding).
        """
        del time
        e = unit_rows(np.asarray(embeddings, np.float32))
        n = e.shape[0]
        labels = np.full(n, -1, np.int64)
        dist = np.full(n, np.nan, np.float32)
        new = np.zeros(n, bool)
        if n == 0:
            return Assignment(labels, dist, new)
        self._ensure_dim(e.shape[1])
        w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
        may_update = np.ones(n, bool) if update is None else np.asarray(update, bool)
        valid = np.linalg.norm(np.asarray(embeddings, np.float32), axis=1) > 0
        k = self.num_speakers
        d = self.distances(e) if k else np.zeros((0, n), np.float32)  # (k, n)
        if cannot_link:
            self._assign_jointly(d, valid, may_update, labels, dist)
        elif k:
            best = np.argmin(d, axis=0)
            labels[valid] = best[valid]
            dist[valid] = d[best, np.arange(n)][valid]
        # New speakers for what stayed far from every centroid (or found none).
        join = self._join[np.maximum(labels, 0)]
        far = valid & may_update & ((labels < 0) | (dist > join))
        for i in np.flatnonzero(far):
            if self.num_speakers < self.max_speakers:
                labels[i] = self.num_speakers
                dist[i] = 0.0
                new[i] = True
                self._sums[self.num_speakers] = 0.0
                self._weights[self.num_speakers] = 0.0
                self._join[self.num_speakers] = self.new_speaker_distance
                self._frozen[self.num_speakers] = False
                self.num_speakers += 1
            elif labels[i] < 0 and not cannot_link and self.num_speakers:
                labels[i] = int(np.argmin(d[:, i]))
                dist[i] = d[labels[i], i]
        # Centroid updates (sums of unit embeddings), one vectorised scatter-add.
        upd = (labels >= 0) & may_update & (new | (dist <= self.update_distance))
        upd &= ~self._frozen[np.maximum(labels, 0)]
        if upd.any():
            np.add.at(self._sums, labels[upd], e[upd] * w[upd, None])
            np.add.at(self._weights, labels[upd], w[upd])
        return Assignment(labels, dist, new)

    def _assign_jointly(
        self,
        d: npt.NDArray[np.float32],
        valid: npt.NDArray[np.bool_],
        may_update: npt.NDArray[np.bool_],
        labels: npt.NDArray[np.int64],
        dist: npt.NDArray[np.float32],
    ) -> None:
        from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

        k = d.shape[0]
        cols = np.flatnonzero(valid)
        if k == 0 or cols.size == 0:
            return
        cost = d[:, cols].astype(np.float64)
        # A local speaker far from every centroid that can found a new speaker prefers
        # that: cap its costs so the Hungarian solution does not force it onto a centroid
        # that a near one needs.
        free = self.max_speakers - k
        if free > 0:
            can_new = may_update[cols]
            cap = np.where(cost > self._join[:k, None], 2.0 + cost, cost)
            cost = np.where(can_new[None, :], cap, cost)
        rows, picked = linear_sum_assignment(cost)
        for r, c in zip(rows, picked, strict=True):
            i = cols[c]
            labels[i] = r
            dist[i] = d[r, i]
