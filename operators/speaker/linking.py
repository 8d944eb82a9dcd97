"""Cross-stream speaker linking: the same voice gets the same label in every file.

A diarizer labels the speakers of one stream (``spk0``, ``spk1``...); those labels mean
nothing across streams. :func:`link_speakers` takes each stream's speakers as
:class:`SpeakerProfile` (label, unit centroid, weight, enrolled name) and clusters them
all together:

* Weighted average linkage over cosine distance, on sums as in
  :mod:`operators.speaker.agglomerative`: a cluster holds ``S = sum(w_i c_i)`` and
  ``W = sum(w_i)``, and the mean pairwise similarity of two clusters is
  ``S_a . S_b / (W_a W_b)`` (each speaker counts by its weight, e.g. seconds of speech),
  so one Gram matrix ``S S^T`` is all the clustering reads. Merging stops at
  ``distance`` (a mean cosine distance).
* Cannot-link: two speakers of one stream are different voices (their diarizer kept
  them apart with all of that stream's evidence), so two clusters holding speakers of
  a common stream never merge. Two clusters carrying different enrolled names never
  merge either.
* Enrolled names: the speakers of every stream that carry the same enrolled name are
  one voice from the start (in one stream too: a diarizer gives an enrolled name to
  every speaker whose centroid matches it); a cluster holding a named speaker is
  labelled with the name. Other clusters are labelled ``<prefix>0``, ``<prefix>1``...
  in order of first appearance (stream order, then the stream's own order), skipping
  any label that is also an enrolled name.

The clustering keeps, per cluster, its nearest allowed neighbour and recomputes only
the rows a merge touched (Numba; a merge costs O(n) plus O(n) per row whose
neighbour was merged). Memory is one ``n x n`` float64 Gram matrix and one bool
conflict matrix: about 9 bytes x n^2, 0.9 GB for 10 000 speakers. Larger sets link
in two stages (per shard, then the shards' clusters as weighted profiles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from numba import njit

from stream import ParameterError

from .agglomerative import cluster_labels

__all__ = ["LINK_DISTANCE", "LinkedSpeakers", "SpeakerProfile", "link_speakers"]

# Default cut (mean cosine distance between clusters of per-stream centroids) per
# embedding model. Per-stream centroids average a whole speaker's speech, so they sit
# much closer to each other than single embeddings do. CAM++ (segmentation mode,
# linkage clustering), measured on five 25 s synthetic conversations of two or three of
# four voices (tests/operators/speaker/synth_speech.py): the same voice in different
# conversations 0.03-0.11 apart, different voices 0.40-0.69. Other models: no measured
# value; pass ``distance``.
LINK_DISTANCE = {"campplus": 0.25}


@dataclass(frozen=True)
class SpeakerProfile:
    """One speaker of one stream, as its diarizer ended it.

    Attributes:
        label: the stream's label (``"spk0"``, or an enrolled name).
        centroid: the speaker's centroid direction, float32 ``(dim,)`` (normalised here).
        weight: how much the speaker counts, > 0 (e.g. seconds of speech in its turns).
        name: the enrolled name the diarizer gives this speaker's turns, or None.
    """

    label: str
    centroid: npt.NDArray[np.float32]
    weight: float = 1.0
    name: str | None = None


@dataclass(frozen=True)
class LinkedSpeakers:
    """Result of :func:`link_speakers`.

    Attributes:
        labels: per stream, local label -> global label.
        speakers: global labels, in order of first appearance.
        centroids: float32 ``(len(speakers), dim)`` weighted mean direction of each
            global speaker.
        weights: float64 ``(len(speakers),)`` summed weight of each.
        members: global label -> ``(stream index, local label)`` pairs.
        names: global label -> enrolled name, for the named ones.
    """

    labels: list[dict[str, str]]
    speakers: list[str]
    centroids: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float64]
    members: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


@njit(cache=True, nogil=True)
def _row_best(
    i: int,
    g: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    conflict: npt.NDArray[np.bool_],
    active: npt.NDArray[np.bool_],
) -> tuple[int, float]:  # pragma: no cover - compiled
    best = -1
    best_sim = -np.inf
    for k in range(g.shape[0]):
        if k != i and active[k] and not conflict[i, k]:
            s = g[i, k] / w[k]
            if s > best_sim:
                best_sim = s
                best = k
    return best, best_sim / w[i]


@njit(cache=True, nogil=True)
def _constrained_average_linkage(
    gram: npt.NDArray[np.float64],
    weight: npt.NDArray[np.float64],
    conflict: npt.NDArray[np.bool_],
    cut: float,
) -> npt.NDArray[np.int64]:  # pragma: no cover - compiled
    """Cluster ids (0..k-1 in order of first member) of average-linkage clustering of
    entries with sums' Gram matrix ``gram`` and weights ``weight``, merging the most
    similar allowed pair while its mean cosine distance is at most ``cut``; two
    clusters with a ``conflict`` between any of their members never merge."""
    n = gram.shape[0]
    g = gram.copy()
    w = weight.copy()
    c = conflict.copy()
    active = np.ones(n, np.bool_)
    parent = np.arange(n)
    best = np.full(n, -1, np.int64)
    best_sim = np.full(n, -np.inf)
    for i in range(n):
        best[i], best_sim[i] = _row_best(i, g, w, c, active)
    while True:
        a = -1
        top = -np.inf
        for i in range(n):
            if active[i] and best[i] >= 0 and best_sim[i] > top:
                top = best_sim[i]
                a = i
        if a < 0 or 1.0 - top > cut:
            break
        b = best[a]
        # S_a <- S_a + S_b: row and column a of the Gram matrix, then its diagonal.
        gaa = g[a, a] + 2.0 * g[a, b] + g[b, b]
        for k in range(n):
            g[a, k] += g[b, k]
            g[k, a] = g[a, k]
            c[a, k] = c[a, k] or c[b, k]
            c[k, a] = c[a, k]
        g[a, a] = gaa
        w[a] += w[b]
        active[b] = False
        parent[b] = a
        for k in range(n):
            if not active[k] or k == a:
                continue
            if best[k] == a or best[k] == b:
                best[k], best_sim[k] = _row_best(k, g, w, c, active)
            elif not c[k, a]:
                s = g[k, a] / (w[k] * w[a])
                if s > best_sim[k]:
                    best[k] = a
                    best_sim[k] = s
        best[a], best_sim[a] = _row_best(a, g, w, c, active)
    return cluster_labels(parent)


def _check(streams: Sequence[Sequence[SpeakerProfile]]) -> int:
    dim = -1
    for s, stream in enumerate(streams):
        seen: set[str] = set()
        for p in stream:
            where = f"stream {s}, speaker {p.label!r}"
            if p.label in seen:
                raise ParameterError(f"link_speakers: {where} appears twice in its stream")
            seen.add(p.label)
            c = np.asarray(p.centroid, np.float64).reshape(-1)
            if dim < 0:
                dim = c.size
            if c.size != dim:
                raise ParameterError(
                    f"link_speakers: {where} has a {c.size}-d centroid, others {dim}-d"
                )
            if not np.isfinite(c).all() or not c.any():
                raise ParameterError(f"link_speakers: {where} has a zero or non-finite centroid")
            if not (math.isfinite(p.weight) and p.weight > 0):
                raise ParameterError(f"link_speakers: {where} has weight {p.weight!r}, need > 0")
    return dim


def link_speakers(
    streams: Sequence[Sequence[SpeakerProfile]],
    distance: float = LINK_DISTANCE["campplus"],
    *,
    prefix: str = "S",
) -> LinkedSpeakers:
    """Give the speakers of many streams global labels (see the module docstring).

    Args:
        streams: per stream, its speakers (labels unique within a stream).
        distance: the average-linkage cut, a mean cosine distance in (0, 2) between
            two clusters' speakers below which they are one voice (default 0.25, for
            CAM++ centroids; :data:`LINK_DISTANCE` per model).
        prefix: global labels of unnamed speakers are ``prefix`` + a number (default
            ``"S"``); a non-empty word.

    Returns:
        :class:`LinkedSpeakers`.
    """
    if not (isinstance(distance, (int, float)) and math.isfinite(distance) and 0 < distance < 2):
        raise ParameterError(
            f"link_speakers: distance must be a cosine distance in (0, 2), got {distance!r}"
        )
    if not prefix or any(ch.isspace() for ch in prefix):
        raise ParameterError(f"link_speakers: prefix must be a non-empty word, got {prefix!r}")
    dim = _check(streams)
    flat = [(s, p) for s, stream in enumerate(streams) for p in stream]
    if not flat:
        return LinkedSpeakers([{} for _ in streams], [], np.zeros((0, 0), np.float32), np.zeros(0))
    # Groups: every speaker alone, except that one enrolled name is one group.
    group_of = np.zeros(len(flat), np.int64)
    by_name: dict[str, int] = {}
    names: list[str | None] = []
    for i, (_, p) in enumerate(flat):
        if p.name is not None and p.name in by_name:
            group_of[i] = by_name[p.name]
            continue
        group_of[i] = len(names)
        names.append(p.name)
        if p.name is not None:
            by_name[p.name] = group_of[i]
    n = len(names)
    cent = np.stack([np.asarray(p.centroid, np.float64).reshape(-1) for _, p in flat])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    w = np.array([p.weight for _, p in flat], np.float64)
    sums = np.zeros((n, dim))
    np.add.at(sums, group_of, cent * w[:, None])
    weight = np.bincount(group_of, weights=w, minlength=n).astype(np.float64)
    # Conflicts: groups sharing a stream, and groups with different names.
    conflict = np.zeros((n, n), bool)
    per_stream: dict[int, list[int]] = {}
    for i, (s, _) in enumerate(flat):
        per_stream.setdefault(s, []).append(int(group_of[i]))
    for groups in per_stream.values():
        conflict[np.ix_(groups, groups)] = True
    named = np.array([x is not None for x in names])
    conflict |= named[:, None] & named[None, :]
    np.fill_diagonal(conflict, False)
    cid = _constrained_average_linkage(sums @ sums.T, weight, conflict, float(distance))
    k = int(cid.max()) + 1
    # Labels: the cluster's name, else prefix + number in order of first appearance.
    cluster_name: dict[int, str] = {}
    for gi, nm in enumerate(names):
        if nm is not None:
            cluster_name[int(cid[gi])] = nm
    taken = set(by_name)
    label_of: dict[int, str] = {}
    order: list[int] = []
    counter = 0
    for i in range(len(flat)):
        c = int(cid[group_of[i]])
        if c in label_of:
            continue
        order.append(c)
        if c in cluster_name:
            label_of[c] = cluster_name[c]
            continue
        while f"{prefix}{counter}" in taken:
            counter += 1
        label_of[c] = f"{prefix}{counter}"
        counter += 1
    labels: list[dict[str, str]] = [{} for _ in streams]
    members: dict[str, list[tuple[int, str]]] = {label_of[c]: [] for c in order}
    for i, (s, p) in enumerate(flat):
        g = label_of[int(cid[group_of[i]])]
        labels[s][p.label] = g
        members[g].append((s, p.label))
    csum = np.zeros((k, dim))
    np.add.at(csum, cid, sums)
    cw = np.bincount(cid, weights=weight, minlength=k).astype(np.float64)
    csum /= np.maximum(np.linalg.norm(csum, axis=1, keepdims=True), 1e-12)
    idx = np.array(order, np.int64)
    return LinkedSpeakers(
        labels=labels,
        speakers=[label_of[c] for c in order],
        centroids=csum[idx].astype(np.float32),
        weights=cw[idx],
        members=members,
        names={label_of[c]: nm for c, nm in cluster_name.items()},
    )
