"""Cross-stream speaker linking: constrained weighted average linkage on per-stream
centroids, enrolled names carried over, labels in order of first appearance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.speaker.linking import (
    SpeakerProfile,
    _constrained_average_linkage,
    link_speakers,
)
from stream import ParameterError

DIM = 16


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _voices(n: int, seed: int = 0) -> np.ndarray:
    """``n`` well separated unit directions (random in 16-d: cosine distance ~1)."""
    return _unit(np.random.default_rng(seed).standard_normal((n, DIM)))


def _noisy(v: np.ndarray, rng: np.random.Generator, spread: float = 0.05) -> np.ndarray:
    return _unit(v + spread * rng.standard_normal(v.shape))


def test_same_voices_get_the_same_label_in_every_stream() -> None:
    """Three streams sharing four voices (each a noisy copy of the voice): every copy
    of a voice gets one global label, different voices different labels, in order of
    first appearance, whatever the local labels were."""
    rng = np.random.default_rng(1)
    v = _voices(4)

    def p(label: str, voice: int, weight: float) -> SpeakerProfile:
        return SpeakerProfile(label, _noisy(v[voice], rng), weight)

    streams = [
        [p("spk0", 2, 10.0), p("spk1", 0, 4.0)],
        [p("spk0", 0, 7.0), p("spk1", 1, 3.0), p("spk2", 3, 2.0)],
        [p("spk0", 3, 1.0), p("spk1", 2, 5.0)],
    ]
    out = link_speakers(streams, 0.25)
    assert out.labels == [
        {"spk0": "S0", "spk1": "S1"},
        {"spk0": "S1", "spk1": "S2", "spk2": "S3"},
        {"spk0": "S3", "spk1": "S0"},
    ]
    assert out.speakers == ["S0", "S1", "S2", "S3"]
    np.testing.assert_allclose(out.weights, [15.0, 11.0, 3.0, 3.0])
    assert out.members["S1"] == [(0, "spk1"), (1, "spk0")]
    # Global centroids: weighted mean directions of their members.
    assert (np.sum(out.centroids * v[[2, 0, 1, 3]], axis=1) > 0.98).all()


def test_two_speakers_of_one_stream_never_merge() -> None:
    """Even identical centroids stay apart when they come from the same stream, and a
    third stream's copy joins one of them, not both."""
    v = _voices(1)[0]
    streams = [
        [SpeakerProfile("a", v, 1.0), SpeakerProfile("b", v, 1.0)],
        [SpeakerProfile("c", v, 3.0)],
    ]
    out = link_speakers(streams, 0.5)
    assert out.labels[0]["a"] != out.labels[0]["b"]
    assert out.labels[1]["c"] in (out.labels[0]["a"], out.labels[0]["b"])
    assert len(out.speakers) == 2


def test_merging_stops_at_the_cut() -> None:
    """Two streams' centroids at cosine distance d link when d <= cut, not above."""
    a = np.eye(DIM, dtype=np.float32)[0]
    for d in (0.1, 0.3, 0.6):
        b = _unit(np.array([1 - d, np.sqrt(1 - (1 - d) ** 2)] + [0.0] * (DIM - 2)))
        assert abs(1 - float(a @ b) - d) < 1e-6
        streams = [[SpeakerProfile("x", a)], [SpeakerProfile("x", b)]]
        for cut in (0.05, 0.2, 0.45, 0.9):
            out = link_speakers(streams, cut)
            assert (out.labels[0]["x"] == out.labels[1]["x"]) == (d <= cut), (d, cut)


def test_enrolled_names_are_global_labels_and_never_merge() -> None:
    """Speakers carrying one enrolled name are one speaker named so (even two of one
    stream); an unnamed close voice joins the named one and takes the name; two
    different names stay apart even when their voices are identical; generated labels
    skip a label that is an enrolled name."""
    rng = np.random.default_rng(2)
    v = _voices(3)

    def p(label: str, voice: int, weight: float, name: str | None = None) -> SpeakerProfile:
        return SpeakerProfile(label, _noisy(v[voice], rng), weight, name)

    streams = [
        [p("ann", 0, 5.0, "ann"), p("spk0", 0, 1.0, "ann"), p("spk1", 1, 2.0)],
        [p("spk0", 0, 3.0), p("S0", 2, 1.0, "S0"), p("spk1", 1, 1.0)],
        [p("bob", 2, 1.0, "bob"), p("spk0", 1, 1.0)],
    ]
    out = link_speakers(streams, 0.25)
    assert out.labels[0] == {"ann": "ann", "spk0": "ann", "spk1": "S1"}
    assert out.labels[1] == {"spk0": "ann", "S0": "S0", "spk1": "S1"}
    assert out.labels[2] == {"bob": "bob", "spk0": "S1"}
    assert out.names == {"ann": "ann", "S0": "S0", "bob": "bob"}
    assert out.speakers == ["ann", "S1", "S0", "bob"]


def test_empty_and_single_streams() -> None:
    assert link_speakers([]).labels == []
    out = link_speakers([[], []])
    assert out.labels == [{}, {}] and out.speakers == []
    out = link_speakers([[SpeakerProfile("spk0", _voices(1)[0])], []])
    assert out.labels == [{"spk0": "S0"}, {}]


@pytest.mark.parametrize(
    ("streams", "kwargs", "match"),
    [
        ([[SpeakerProfile("a", np.ones(4)), SpeakerProfile("a", np.ones(4))]], {}, "twice"),
        ([[SpeakerProfile("a", np.ones(4))], [SpeakerProfile("b", np.ones(5))]], {}, "5-d"),
        ([[SpeakerProfile("a", np.zeros(4))]], {}, "zero or non-finite"),
        ([[SpeakerProfile("a", np.full(4, np.nan))]], {}, "zero or non-finite"),
        ([[SpeakerProfile("a", np.ones(4), 0.0)]], {}, "weight 0.0"),
        ([[SpeakerProfile("a", np.ones(4))]], {"distance": 0.0}, "distance"),
        ([[SpeakerProfile("a", np.ones(4))]], {"distance": 2.5}, "distance"),
        ([[SpeakerProfile("a", np.ones(4))]], {"prefix": "a b"}, "prefix"),
    ],
)
def test_bad_input_is_a_parameter_error(streams: list, kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        link_speakers(streams, **kwargs)


def _reference(
    gram: np.ndarray, w: np.ndarray, conflict: np.ndarray, cut: float
) -> list[frozenset[int]]:
    """Brute force: repeatedly merge the most similar allowed pair of clusters, where
    similarity is the weighted mean over member pairs (computed from scratch)."""
    clusters = [frozenset([i]) for i in range(len(w))]
    while True:
        best, pair = -np.inf, None
        for x, y in itertools.combinations(range(len(clusters)), 2):
            a, b = clusters[x], clusters[y]
            if any(conflict[i, j] for i in a for j in b):
                continue
            s = sum(gram[i, j] for i in a for j in b)
            s /= sum(w[i] for i in a) * sum(w[j] for j in b)
            if s > best:
                best, pair = s, (x, y)
        if pair is None or 1 - best > cut:
            return clusters
        x, y = pair
        clusters = [c for k, c in enumerate(clusters) if k not in pair] + [
            clusters[x] | clusters[y]
        ]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 14),
    streams=st.integers(1, 6),
    cut=st.floats(0.05, 1.5),
)
def test_kernel_equals_brute_force_constrained_average_linkage(
    seed: int, n: int, streams: int, cut: float
) -> None:
    """The Numba kernel (nearest allowed neighbour per row, rows updated after a merge)
    gives the partition of the brute-force greedy algorithm, on random weighted points
    with random stream membership (cannot-link inside a stream)."""
    rng = np.random.default_rng(seed)
    pts = _unit(rng.standard_normal((n, 5))).astype(np.float64)
    w = rng.uniform(0.5, 20.0, n)
    sums = pts * w[:, None]
    gram = sums @ sums.T
    of = rng.integers(0, streams, n)
    conflict = of[:, None] == of[None, :]
    np.fill_diagonal(conflict, False)
    ours = _constrained_average_linkage(gram, w, conflict, cut)
    got = {frozenset(np.flatnonzero(ours == k).tolist()) for k in range(int(ours.max()) + 1)}
    assert got == set(_reference(gram, w, conflict, cut))
    for k in range(int(ours.max()) + 1):  # no cluster holds two members of one stream
        members = of[ours == k]
        assert len(set(members.tolist())) == members.size
