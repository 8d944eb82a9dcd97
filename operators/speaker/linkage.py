"""Online clustering that re-clusters its history: average linkage over a bounded store.

:class:`IncrementalClustering` decides once, against running centroids: an embedding
within ``new_speaker_distance`` of a centroid joins it for good. Two voices closer than
that threshold then stay one speaker, and the mixed embeddings of a buffer where the
segmentation model merged two voices drag the centroids towards each other.
:class:`LinkageClustering` keeps every (update-eligible) embedding it has seen in a
bounded store and, on every call, re-runs average-linkage agglomerative clustering of
that store, cut at ``linkage_distance``:

* The store is a :class:`~operators.speaker.agglomerative.LinkageHistory`: sums of
  unit embeddings (average linkage over cosine distance is exact on sums) and their
  Gram matrix, bounded (``capacity`` entries, the two nearest merge when it is full)
  whatever the stream's length.
* Local speakers of one buffer are different voices: in the linkage such a pair
  counts as maximally dissimilar (cosine -1; a soft cannot-link, so one buffer where
  the segmentation split a voice in two cannot keep that voice apart for good).
* The clustering itself is :func:`~operators.speaker.agglomerative.average_linkage`,
  the nearest-neighbour-chain algorithm (O(n^2), Numba).
* Clusters keep their speaker labels from call to call: each cluster takes the label
  most of its weight carried before (Hungarian matching on that overlap). A cluster
  that matches no label becomes a new speaker once it holds ``min_cluster_size``
  weight (a voice close to a known one is found after it has spoken for a few
  buffers, rather than never), or at once when it is farther than
  ``new_speaker_distance`` from every speaker (as :class:`IncrementalClustering`).
  Smaller clusters (a few mixed or noisy embeddings) are not speakers: their
  embeddings go to the nearest speaker, provisionally (a provisional label gives no
  claim on that speaker later; :meth:`LinkageClustering.speakers_of` tells the
  caller when such an embedding's cluster has become a speaker). A speaker whose
  cluster is still below ``min_cluster_size`` (the first of a stream, founded on a
  few buffers) is tentative: the first big cluster near it takes its label over.
* A big cluster close to a speaker (within ``recurrence_distance``) becomes a speaker
  only once it has been heard in two stretches more than ``recurrence_gap`` apart.
  The cut splits real voices this way: one turn whose embeddings differ from the rest
  of its voice (a level, an overlap, a noise) forms a cluster of its own, once; a
  second voice comes back.

Labels already used stay valid: a speaker whose cluster later merges into another
stops receiving embeddings; labels are never renumbered.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .agglomerative import LinkageHistory, average_linkage
from .strategy import Assignment, check_distance, check_max_speakers, check_positive, unit_rows

__all__ = ["HINT_STEP", "MIN_STRETCH", "LinkageClustering", "heard_apart"]

# Step by which the cut is lowered while fewer than min_speakers speakers exist.
HINT_STEP = 0.05
# Weight (embeddings at the default weight 1: buffers 0.5 s apart in the diarizer) each
# of the two stretches must hold for the recurrence rule: one or two embeddings of a
# mixed buffer at a turn change are not a voice heard before. 6 (3 s of buffers): on the
# tune halves of `bench/diarize_corpora.py` the LibriSpeech-voice conversations go from
# 6.3 to 6.0 % (counts exact 8 -> 9 of 10), 20 more of tune voices (seeds 400-419) from
# 8.0 to 7.2 % (10 -> 12 exact), MBROLA unchanged from 1 to 6 and over 5 % from 10.
MIN_STRETCH = 6.0


def heard_apart(
    first: npt.NDArray[np.float64],
    last: npt.NDArray[np.float64],
    gap: float,
    weights: npt.NDArray[np.float64] | None = None,
    min_weight: float = 1.0,
) -> bool:
    """Whether entries each heard from ``first`` to ``last`` fall in two stretches
    with more than ``gap`` between them, each stretch holding entries of total
    ``weights`` (default 1 each) of at least ``min_weight``. An entry counts as heard
    over its whole span: merged entries (the history's compression merges the nearest,
    usually neighbouring buffers of one stretch) do not make a continuous stretch look
    interrupted."""
    if first.size < 2:
        return False
    order = np.argsort(first, kind="stable")
    reach = np.maximum.accumulate(last[order])  # end of what was heard so far
    breaks = np.flatnonzero(first[order][1:] - reach[:-1] > gap) + 1
    if not breaks.size:
        return False
    w = np.ones(first.size) if weights is None else np.asarray(weights, np.float64)[order]
    stretch = np.add.reduceat(w, np.r_[0, breaks])
    return int((stretch >= min_weight - 1e-9).sum()) >= 2


class LinkageClustering:
    """Online speaker clustering by average linkage over a bounded history.

    A :class:`~operators.speaker.strategy.ClusteringStrategy`, as
    :class:`~operators.speaker.clustering.IncrementalClustering` (``assign``, ``seed``,
    ``centroids``, ``num_speakers``, ``reset``, ``speakers_of``); see the module
    docstring for the algorithm.

    Args:
        linkage_distance: average-linkage cut, a mean cosine distance (0..2) between
            two clusters' embeddings below which they are one speaker (default 0.38,
            the middle of the range 0.34-0.42 that gave the same DER for CAM++ on
            synthetic 4-speaker conversations; 0.44 merged two voices).
        min_cluster_size: weight (number of local-speaker embeddings at the default
            weight 1) from which a cluster that matches no speaker becomes one
            (default 6; ``OnlineDiarizer`` passes 8, see
            :mod:`operators.speaker.settings`). In the diarizer a local speaker gives an
            embedding per 0.5 s buffer step once it fills 20 % of a 5 s buffer, so a
            new voice that keeps talking is confirmed about 3.5 s (8: 4.5 s) after it
            starts, and the scores of its
            buffers that are not final yet move to it. Measured (bench/README.md):
            on synthetic 4-speaker conversations 6 gives 2.1 % DER, 10 gives 3.2 %
            (a voice's first turns stay with another speaker more often); on real
            speech a smaller value confirms clusters of mixed buffers (two voices
            under one local speaker) as extra speakers sooner: pyannote's sample.wav
            tiled to 60 s gets 5 labels and 9 % DER with 6, 3 labels and 2.0 % with
            10 (tiled to 120 s, 10 also reaches 7.2 %).
        new_speaker_distance: a cluster farther than this cosine distance from every
            speaker's centroid becomes a speaker whatever its size (default 0.62).
        max_speakers: most speakers ever created (default 20); once reached, a new
            cluster takes over the label of a speaker whose cluster merged into another
            (an early split of one voice), if there is one.
        min_speakers: fewest speakers expected (default 1: no hint). While fewer speakers
            have a cluster, the cut is lowered in steps of ``HINT_STEP`` (down to ``hint_cut``)
            until ``min_speakers`` clusters reach ``min_cluster_size``: voices closer
            than the cut are then told apart, once each has spoken long enough.
        hint_cut: the lowest cut ``min_speakers`` may lower it to (default 0.45, above
            the typical mean distance of one real voice's embeddings, ~0.37 for clean
            read speech).
        speaker_separation: cosine distance between a big cluster's centroid and the
            nearest speaker's centroid at or below which the cluster does not become a
            speaker of its own (default 0: off): the cut splits one real voice into
            clusters whose centroids stay close, where two voices' centroids do not.
            Its embeddings go to the nearest speaker meanwhile; the cluster becomes a
            speaker once it moves farther away.
        recurrence_distance: cosine distance between a big cluster's centroid and the
            nearest speaker's at or below which the cluster becomes a speaker only
            once its embeddings were heard in two stretches of time more than
            ``recurrence_gap`` apart, each of at least ``MIN_STRETCH`` (6) embeddings
            (default 0: off; ``OnlineDiarizer`` passes 0.40
            for CAM++, see :mod:`operators.speaker.settings`). Meanwhile its
            embeddings go to the nearest speaker. Not applied while fewer than
            ``min_speakers`` speakers have a cluster.
        recurrence_gap: that gap, in the unit of :meth:`assign`'s ``time`` (the
            diarizer passes each buffer's start in seconds; without a time, calls of
            :meth:`assign`); default 2.0. A merged history entry counts as heard over
            its whole span.
        capacity: most entries kept (default 400); past it the two nearest merge.
        dim: embedding size, or None to take it from the first call.
    """

    def __init__(
        self,
        linkage_distance: float = 0.38,
        min_cluster_size: float = 6.0,
        new_speaker_distance: float = 0.62,
        max_speakers: int = 20,
        capacity: int = 400,
        dim: int | None = None,
        *,
        min_speakers: int = 1,
        hint_cut: float = 0.45,
        speaker_separation: float = 0.0,
        recurrence_distance: float = 0.0,
        recurrence_gap: float = 2.0,
    ) -> None:
        check_distance("LinkageClustering", "linkage_distance", linkage_distance)
        check_distance("LinkageClustering", "new_speaker_distance", new_speaker_distance)
        check_positive("LinkageClustering", "min_cluster_size", min_cluster_size)
        check_max_speakers("LinkageClustering", max_speakers)
        if not isinstance(min_speakers, int) or not 1 <= min_speakers <= max_speakers:
            raise ParameterError(
                f"LinkageClustering.min_speakers must be an int in [1, max_speakers="
                f"{max_speakers}], got {min_speakers!r}"
            )
        check_distance("LinkageClustering", "hint_cut", hint_cut)
        if speaker_separation != 0:
            check_distance("LinkageClustering", "speaker_separation", speaker_separation)
        if recurrence_distance != 0:
            check_distance("LinkageClustering", "recurrence_distance", recurrence_distance)
        check_positive("LinkageClustering", "recurrence_gap", recurrence_gap)
        if not isinstance(capacity, int) or capacity < 2:
            raise ParameterError(
                f"LinkageClustering.capacity must be an int >= 2, got {capacity!r}"
            )
        self.linkage_distance = float(linkage_distance)
        self.min_cluster_size = float(min_cluster_size)
        self.new_speaker_distance = float(new_speaker_distance)
        self.max_speakers = max_speakers
        self.min_speakers = min_speakers
        self.hint_cut = float(hint_cut)
        self.speaker_separation = float(speaker_separation)
        self.recurrence_distance = float(recurrence_distance)
        self.recurrence_gap = float(recurrence_gap)
        self.capacity = capacity
        self.dim = dim
        # Stretches more than the recurrence gap apart are not merged into one entry
        # while the history has other pairs to merge (the recurrence rule reads them).
        self._history = LinkageHistory(
            capacity, recurrence_gap if recurrence_distance > 0 else np.inf
        )
        self.reset()

    def reset(self) -> None:
        """Forget every speaker and the history."""
        d = self.dim or 0
        self._history.clear(d)
        self._cent = np.zeros((self.max_speakers, d), np.float32)
        self._live = np.zeros(self.max_speakers, bool)  # speaker has a cluster now
        # Seeded speakers: how far from the reference an embedding may be to join it.
        self._join = np.full(self.max_speakers, np.inf)
        self._ref = np.zeros((self.max_speakers, d), np.float32)
        self.num_speakers = 0
        self._calls = 0  # assign() calls with embeddings: the time when none is given

    def _ensure_dim(self, dim: int) -> None:
        if self.dim is None or self._history.sums.shape[1] == 0:
            self.dim = dim
            self._history.set_dim(dim)
            self._cent = np.zeros((self.max_speakers, dim), np.float32)
            self._ref = np.zeros((self.max_speakers, dim), np.float32)
        elif dim != self.dim:
            raise ValueError(f"embedding size {dim} differs from the clustering's {self.dim}")

    @property
    def centroids(self) -> npt.NDArray[np.float32]:
        """``(num_speakers, dim)`` unit centroid directions (a speaker whose cluster
        merged into another keeps its last one)."""
        return self._cent[: self.num_speakers].copy()

    def distances(self, embeddings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Cosine distances ``(num_speakers, n)``: one matrix product."""
        e = unit_rows(np.asarray(embeddings, np.float32))
        return (1.0 - self.centroids @ e.T).astype(np.float32)

    # -- clustering ----------------------------------------------------------------------

    def _recluster(
        self,
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float32]
    ]:
        """Cluster the history; returns each entry's speaker (-1: none), which
        speakers were created now, each entry's cluster and the cluster centroids."""
        from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

        h = self._history
        n = h.n
        created = np.zeros(self.max_speakers, bool)
        if n == 0:
            return np.zeros(0, np.int64), created, np.zeros(0, np.int64), self._cent[:0]
        w = h.weights[:n]
        cid = average_linkage(h.gram[:n, :n], w, self.linkage_distance)
        k = int(cid.max()) + 1
        size = np.bincount(cid, weights=w, minlength=k)
        # Speaker-count hint: while fewer than min_speakers speakers have a cluster,
        # lower the cut (down to hint_cut) until min_speakers clusters are big enough.
        cut = self.linkage_distance
        live = int(self._live[: self.num_speakers].sum())
        while (
            live < self.min_speakers
            and int((size >= self.min_cluster_size).sum()) < self.min_speakers
            and cut - HINT_STEP >= self.hint_cut - 1e-9
        ):
            cut -= HINT_STEP
            cid = average_linkage(h.gram[:n, :n], w, cut)
            k = int(cid.max()) + 1
            size = np.bincount(cid, weights=w, minlength=k)
        order = np.argsort(cid, kind="stable")
        starts = np.searchsorted(cid[order], np.arange(k))
        sums = np.add.reduceat(h.sums[:n][order], starts, axis=0)
        cent = unit_rows(sums.astype(np.float32))
        spk = np.full(k, -1, np.int64)
        # Seeded speakers own the cluster their reference fell into.
        for i in np.flatnonzero(h.pins[:n] >= 0):
            if spk[cid[i]] < 0:
                spk[cid[i]] = h.pins[i]
        # Other clusters keep the speaker most of their weight had.
        lab = h.labels[:n]
        known = lab >= 0
        s = self.num_speakers
        if known.any() and s:
            flat = np.bincount(cid[known] * s + lab[known], weights=w[known], minlength=k * s)
            overlap = flat.reshape(k, s)
            overlap[spk >= 0, :] = 0.0
            overlap[:, np.unique(spk[spk >= 0])] = 0.0
            overlap[:, np.isfinite(self._join[:s])] = 0.0  # seeded: by reference only
            rows, cols = linear_sum_assignment(-overlap)
            for r, c in zip(rows, cols, strict=True):
                if overlap[r, c] > 0:
                    spk[r] = c
        # A cluster near a seeded speaker's reference (within its join distance) is
        # that speaker, even while the linkage keeps it apart from the reference.
        seeded = np.flatnonzero(np.isfinite(self._join[:s]))
        free = np.flatnonzero(spk < 0)
        if seeded.size and free.size:
            d_ref = 1.0 - self._ref[seeded] @ cent[free].T  # (seeded, free clusters)
            best = np.argmin(d_ref, axis=0)
            near = d_ref[best, np.arange(free.size)] <= self._join[seeded[best]]
            spk[free[near]] = seeded[best[near]]
        # New speakers: big clusters, or clusters far from every speaker. A speaker
        # whose cluster is still below min_cluster_size (the first one of a stream,
        # founded on a few buffers that may mix two voices) is tentative: the first
        # big cluster near it takes its label over instead of founding another.
        pinned = np.zeros(k, bool)
        pinned[cid[h.pins[:n] >= 0]] = True
        for c in np.argsort(-size, kind="stable"):
            if spk[c] >= 0:
                continue
            have = np.flatnonzero(spk >= 0)  # clusters that are speakers
            limit = np.minimum(self._join[spk[have]], self.new_speaker_distance)
            dist = 1.0 - cent[have] @ cent[c]
            far = not have.size or bool(np.all(dist > limit))
            if size[c] < self.min_cluster_size and not far:
                continue
            if not far:
                tentative = (size[have] < self.min_cluster_size) & ~pinned[have]
                tentative &= dist <= self.new_speaker_distance
                if tentative.any():
                    q = have[tentative][int(np.argmin(dist[tentative]))]
                    spk[c], spk[q] = spk[q], -1
                    continue
                if self.speaker_separation > 0 and float(dist.min()) <= self.speaker_separation:
                    continue  # one voice the cut split: its centroid is a speaker's
                if (
                    self.recurrence_distance > 0
                    and have.size >= self.min_speakers  # a count hint wants more voices
                    and float(dist.min()) <= self.recurrence_distance
                    and not heard_apart(
                        h.first[:n][cid == c],
                        h.last[:n][cid == c],
                        self.recurrence_gap,
                        h.weights[:n][cid == c],
                        MIN_STRETCH,
                    )
                ):
                    continue  # one stretch, near a speaker: not yet a voice of its own
            if self.num_speakers < self.max_speakers:
                spk[c] = self.num_speakers
                created[self.num_speakers] = True
                self.num_speakers += 1
            else:  # at max_speakers: a label whose cluster merged away is free again
                used = np.zeros(self.num_speakers, bool)
                used[spk[spk >= 0]] = True
                free_labels = np.flatnonzero(~used & ~np.isfinite(self._join[: self.num_speakers]))
                if free_labels.size:
                    spk[c] = free_labels[0]
        self._live[:] = False
        has = spk >= 0
        self._live[spk[has]] = True
        self._cent[spk[has]] = cent[has]
        self._cent[seeded] = self._ref[seeded]  # a reference voice's centroid is fixed
        out: npt.NDArray[np.int64] = spk[cid]
        h.labels[:n] = np.where(out >= 0, out, h.labels[:n])
        return out, created, cid, cent

    # -- API -------------------------------------------------------------------------------

    def speakers_of(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Current speaker of history entries ``ids`` (from :attr:`Assignment.entries`),
        as of the last :meth:`assign`: a cluster confirmed as a new speaker after its
        first embeddings were labelled with the nearest old one relabels them. -1 for
        an id that is not (or no longer) known or has no speaker."""
        h = self._history
        out = np.full(len(ids), -1, np.int64)
        for t, i in enumerate(np.asarray(ids, np.int64)):
            slot = h.slot_of(int(i))
            if slot is not None:
                out[t] = h.labels[slot]
        return out

    def seed(
        self,
        embedding: npt.NDArray[np.float32],
        weight: float = 1.0,
        *,
        frozen: bool = False,
        join_distance: float | None = None,
    ) -> int:
        """Create a speaker from a reference ``embedding`` (an enrolled voice); returns
        its index. The reference stays in the history with weight ``max(weight,
        min_cluster_size)``; the cluster it falls in, and any cluster whose centroid is
        within ``join_distance`` (default ``new_speaker_distance``) of it, carry this
        speaker, and an embedding farther than that from the reference is never given
        it. Its centroid stays the reference (``frozen`` is accepted for interface
        compatibility: a seeded speaker is always frozen)."""
        del frozen
        e = unit_rows(np.asarray(embedding, np.float32)[None, :])[0].astype(np.float64)
        self._ensure_dim(e.shape[0])
        if self.num_speakers >= self.max_speakers:
            raise ParameterError(f"cannot seed: already {self.max_speakers} speakers (max)")
        k = self.num_speakers
        self.num_speakers += 1
        self._history.add(e, max(float(weight), self.min_cluster_size), k, pin=k)
        self._cent[k] = e.astype(np.float32)
        self._live[k] = True
        self._join[k] = self.new_speaker_distance if join_distance is None else join_distance
        self._ref[k] = e.astype(np.float32)
        return k

    def assign(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        weights: npt.NDArray[np.float64] | None = None,
        update: npt.NDArray[np.bool_] | None = None,
        cannot_link: bool = False,
        time: float | None = None,
    ) -> Assignment:
        """Add the update-eligible ``embeddings`` ``(n, dim)`` to the history,
        re-cluster, and label each embedding.

        Args:
            weights: ``(n,)`` weight of each embedding in the history (default 1).
            update: ``(n,)`` whether each embedding enters the history (default all);
                the others are only labelled (nearest speaker).
            cannot_link: the embeddings come from one buffer and belong to different
                speakers: assigned jointly (Hungarian), never two to one speaker.
            time: when the embeddings were heard, non-decreasing from call to call, in
                the unit of ``recurrence_gap`` (the diarizer: the buffer's start, s);
                default: the number of earlier calls with embeddings.
        """
        from scipy.optimize import linear_sum_assignment

        raw = np.asarray(embeddings, np.float32)
        e = unit_rows(raw)
        n = e.shape[0]
        labels = np.full(n, -1, np.int64)
        dist = np.full(n, np.nan, np.float32)
        new = np.zeros(n, bool)
        if n == 0:
            return Assignment(labels, dist, new)
        self._ensure_dim(e.shape[1])
        t = float(self._calls) if time is None else float(time)
        self._calls += 1
        w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
        valid = np.linalg.norm(raw, axis=1) > 0
        may = valid & (np.ones(n, bool) if update is None else np.asarray(update, bool))
        if int(may.sum()) > self.capacity - 1:
            raise ValueError(
                f"{int(may.sum())} embeddings in one call exceed the history capacity "
                f"{self.capacity}"
            )
        h = self._history
        while h.n + int(may.sum()) > self.capacity:  # room first: entries stay put
            h.compress()
        entry = np.full(n, -1, np.int64)
        for i in np.flatnonzero(may):
            entry[i] = h.add(e[i].astype(np.float64), float(w[i]), -1, t=t)
        if cannot_link:
            # Local speakers of one buffer count as maximally dissimilar (cosine -1)
            # in the linkage: the pair's Gram entry becomes -w_i w_j.
            h.separate(entry[entry >= 0])
        spk, created, cid, cent = self._recluster()
        live = np.flatnonzero(self._live[: self.num_speakers])
        own = spk[entry] if spk.size else np.full(n, -1, np.int64)
        own[entry < 0] = -1
        cols = np.flatnonzero(valid)
        if live.size:
            d = 1.0 - self._cent[live] @ e.T  # (live, n)
            cost = d.astype(np.float64)
            # A seeded speaker takes only embeddings near its reference.
            seeded = np.isfinite(self._join[live])
            if seeded.any():
                dref = 1.0 - self._ref[live[seeded]] @ e.T
                cost[seeded] += np.where(dref > self._join[live[seeded], None], 8.0, 0.0)
            for i in np.flatnonzero(own >= 0):
                cost[np.searchsorted(live, own[i]), i] -= 4.0  # keep the own cluster's
            if cannot_link:
                rows, picked = linear_sum_assignment(cost[:, cols])
                labels[cols[picked]] = live[rows]
            else:
                labels[cols] = live[np.argmin(cost[:, cols], axis=0)]
            if seeded.any():  # refused by every seeded speaker it was given: none
                given = labels[cols]
                bad = np.isfinite(self._join[np.maximum(given, 0)]) & (given >= 0)
                bad &= cost[np.searchsorted(live, np.maximum(given, 0)), cols] >= 4.0
                labels[cols[bad]] = -1
        # A local speaker left without a speaker by the cannot-link constraint (every
        # speaker is taken by another local speaker of its buffer) is a voice of its
        # own: its cluster becomes a speaker now, whatever its size.
        for i in np.flatnonzero((labels < 0) & (entry >= 0) & (own < 0)):
            if self.num_speakers >= self.max_speakers:
                break
            k = self.num_speakers
            self.num_speakers += 1
            members = cid == cid[entry[i]]
            h.labels[: h.n][members] = k
            self._cent[k] = cent[cid[entry[i]]]
            self._live[k] = True
            created[k] = True
            labels[i] = own[i] = k
            spk[members] = k
        ok = labels >= 0
        d = 1.0 - self._cent[: self.num_speakers] @ e.T
        dist[ok] = d[labels[ok], np.flatnonzero(ok)]
        new[ok] = created[labels[ok]] & (own[ok] == labels[ok])
        # An entry remembers its speaker only when its own cluster is that speaker: a
        # provisional label (the nearest speaker, while its cluster is too small)
        # gives no claim on that speaker's label later.
        sel = (entry >= 0) & ok & (own == labels)
        h.labels[entry[sel]] = labels[sel]
        ids = np.where(entry >= 0, h.ids[np.maximum(entry, 0)], -1)
        return Assignment(labels, dist, new, ids)
