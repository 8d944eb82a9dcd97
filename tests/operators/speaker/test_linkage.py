"""LinkageClustering: exact average linkage on sums, bounded history, delayed discovery
of a close voice with relabelling of its first embeddings, cannot-link, enrolment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.speaker.agglomerative import average_linkage
from operators.speaker.linkage import MIN_STRETCH, LinkageClustering, heard_apart
from operators.speaker.strategy import Assignment
from stream import ParameterError


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _voices(rng: np.random.Generator, dim: int, distance: float, n: int = 2) -> np.ndarray:
    """``n`` unit directions whose pairwise cosine distances are all ``distance``."""
    base = np.eye(dim)[:n]
    # a e_i + b s with b^2 = 1 - a^2: cosine similarity b^2, distance a^2.
    shared = np.eye(dim)[n]
    a = np.sqrt(distance)
    return _unit(a * base + np.sqrt(1 - a * a) * shared)


def _around(rng: np.random.Generator, centre: np.ndarray, k: int, spread: float) -> np.ndarray:
    return _unit(centre[None, :] + spread * rng.standard_normal((k, centre.size)))


def _stretch(
    c: LinkageClustering,
    rng: np.random.Generator,
    centre: np.ndarray,
    k: int,
    start: float | None = None,
) -> list[Assignment]:
    """Feed ``k`` embeddings near ``centre`` one call each, heard every 0.5 s from
    ``start`` s (None: no time, the calls count); their assignments."""
    return [
        c.assign(e[None], time=None if start is None else start + 0.5 * i)
        for i, e in enumerate(_around(rng, centre, k, 0.02))
    ]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 40),
    cut=st.floats(0.05, 1.2),
    repeats=st.lists(st.integers(1, 3), min_size=40, max_size=40),
)
def test_average_linkage_on_sums_equals_scipy_on_the_points(
    seed: int, n: int, cut: float, repeats: list[int]
) -> None:
    """Entries holding the sum of r identical points cluster exactly like the r points
    under scipy's average linkage with cosine distance, cut at the same distance."""
    from scipy.cluster.hierarchy import fcluster, linkage

    rng = np.random.default_rng(seed)
    pts = _unit(rng.standard_normal((n, 6))).astype(np.float64)
    r = np.array(repeats[:n], np.float64)
    sums = pts * r[:, None]
    ours = average_linkage(sums @ sums.T, r, cut)
    expanded = np.repeat(pts, r.astype(int), axis=0)
    z = linkage(expanded, method="average", metric="cosine")
    theirs = fcluster(z, t=cut, criterion="distance")
    theirs_per_entry = theirs[np.cumsum(r.astype(int)) - 1]
    # Same partition (ids may differ); scipy ties at exactly the cut are measure-zero.
    pairs_ours = ours[:, None] == ours[None, :]
    pairs_theirs = theirs_per_entry[:, None] == theirs_per_entry[None, :]
    assert (pairs_ours == pairs_theirs).all()


def test_far_voices_become_speakers_at_once() -> None:
    rng = np.random.default_rng(0)
    v = _voices(rng, 16, 0.9, 3)
    c = LinkageClustering(0.4, 10, new_speaker_distance=0.6)
    for k in range(3):
        a = c.assign(_around(rng, v[k], 1, 0.05))
        assert a.labels.tolist() == [k] and a.new.tolist() == [True]
    assert c.num_speakers == 3
    np.testing.assert_allclose(c.distances(v), 1 - c.centroids @ v.T, atol=1e-6)


def test_a_close_voice_is_found_after_min_cluster_size_and_relabels_its_start() -> None:
    """Voice B is 0.5 from A: nearer than new_speaker_distance (0.62), farther than the
    cut (0.4). Its first embeddings go to A; once its cluster holds 10 of them B is a
    speaker, and speakers_of() moves those first ones to B."""
    rng = np.random.default_rng(1)
    a_dir, b_dir = _voices(rng, 32, 0.5)
    c = LinkageClustering(0.4, 10, new_speaker_distance=0.62)
    for e in _around(rng, a_dir, 20, 0.03):
        assert c.assign(e[None]).labels.tolist() == [0]
    ids, labels = [], []
    for e in _around(rng, b_dir, 12, 0.03):
        a = c.assign(e[None])
        assert a.entries is not None
        ids.append(int(a.entries[0]))
        labels.append(int(a.labels[0]))
    assert labels[:9] == [0] * 9  # too few to be a speaker yet: the nearest one
    assert labels[9:] == [1, 1, 1]  # the 10th makes the cluster a speaker
    assert c.num_speakers == 2
    assert c.speakers_of(np.array(ids)).tolist() == [1] * 12
    # The old speaker's centroid was never dragged towards B.
    assert 1 - float(c.centroids[0] @ a_dir) < 0.01


@pytest.mark.parametrize(("separation", "speakers"), [(0.0, 2), (0.2, 2), (0.35, 1)])
def test_speaker_separation_keeps_a_split_voice_one_speaker(
    separation: float, speakers: int
) -> None:
    """A voice whose two halves sit 0.3 apart (centroids), farther than the cut (0.2):
    the cut makes two big clusters. Without a separation (or one below 0.3) the second
    becomes a speaker; with 0.35 it stays with the first, its embeddings labelled so."""
    rng = np.random.default_rng(2)
    a_dir, b_dir = _voices(rng, 32, 0.3)
    c = LinkageClustering(0.2, 6, new_speaker_distance=0.62, speaker_separation=separation)
    for e in _around(rng, a_dir, 12, 0.02):
        c.assign(e[None])
    labels = [int(c.assign(e[None]).labels[0]) for e in _around(rng, b_dir, 12, 0.02)]
    assert c.num_speakers == speakers
    assert labels[-1] == speakers - 1
    # A truly distinct voice (0.5 away) is still found with the separation on.
    far = LinkageClustering(0.2, 6, new_speaker_distance=0.62, speaker_separation=0.35)
    a_dir, c_dir = _voices(rng, 32, 0.5)
    for e in _around(rng, a_dir, 12, 0.02):
        far.assign(e[None])
    for e in _around(rng, c_dir, 12, 0.02):
        far.assign(e[None])
    assert far.num_speakers == 2


@pytest.mark.parametrize("distance", [0.0, 0.4])
def test_a_close_cluster_heard_in_one_stretch_waits_for_the_voice_to_come_back(
    distance: float,
) -> None:
    """B sits 0.3 from A (centroids), farther than the cut (0.2): one stretch of B (12
    embeddings at t = 10.0, 10.5 ... 15.5 s) makes a big cluster. Without a recurrence
    distance it becomes a speaker at once; with 0.4 it stays with A (its embeddings are
    labelled A) until B is heard again after a gap of more than 2 s, and then B's
    first stretch moves to it (``speakers_of``)."""
    rng = np.random.default_rng(7)
    a_dir, b_dir = _voices(rng, 32, 0.3)
    c = LinkageClustering(
        0.2, 6, new_speaker_distance=0.62, recurrence_distance=distance, recurrence_gap=2.0
    )
    _stretch(c, rng, a_dir, 12, 0.0)
    first = _stretch(c, rng, b_dir, 12, 10.0)
    labels = [int(a.labels[0]) for a in first]
    ids = np.array([int(a.entries[0]) for a in first if a.entries is not None])
    if distance == 0:
        assert c.num_speakers == 2 and labels[-1] == 1
        return
    assert c.num_speakers == 1 and labels == [0] * 12
    # Back after 1.5 s: still the same stretch (gap not more than 2 s).
    assert int(c.assign(_around(rng, b_dir, 1, 0.02), time=17.0).labels[0]) == 0
    assert c.num_speakers == 1
    # Back after 3 s: a second stretch, which counts once it holds MIN_STRETCH (6)
    # embeddings (one or two of a mixed buffer are not a voice heard before); then B
    # is a voice of its own, and its first stretch is relabelled.
    back = [int(a.labels[0]) for a in _stretch(c, rng, b_dir, int(MIN_STRETCH), 20.0)]
    assert back == [0] * (int(MIN_STRETCH) - 1) + [1]
    assert c.num_speakers == 2
    assert c.speakers_of(ids).tolist() == [1] * 12


def test_recurrence_does_not_hold_back_a_distinct_voice() -> None:
    """A voice 0.5 from the others (beyond a 0.4 recurrence distance) becomes a
    speaker in its first stretch, as without the rule."""
    rng = np.random.default_rng(8)
    a_dir, b_dir = _voices(rng, 32, 0.5)
    c = LinkageClustering(0.2, 6, new_speaker_distance=0.62, recurrence_distance=0.4)
    _stretch(c, rng, a_dir, 12)
    labels = [int(a.labels[0]) for a in _stretch(c, rng, b_dir, 12)]
    assert c.num_speakers == 2 and labels[-1] == 1


def test_heard_apart_reads_merged_entries_spans() -> None:
    first, last = np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0])
    assert not heard_apart(first, last, 2.0)
    assert heard_apart(np.r_[first, 4.0], np.r_[last, 4.0], 2.0)
    # Merged entries count as heard over their whole span: [0, 9] and [2.5, 4] leave
    # no gap, whatever the order; [0, 3] then [5.5, 6] does.
    assert not heard_apart(np.array([2.5, 0.0]), np.array([4.0, 9.0]), 2.0)
    assert heard_apart(np.array([5.5, 0.0]), np.array([6.0, 3.0]), 2.0)
    assert not heard_apart(np.array([0.0]), np.array([9.0]), 2.0)


def test_heard_apart_wants_each_stretch_to_weigh_enough() -> None:
    # Stretches [0, 1] (weight 3) and [4, 4.5] (weight 2), 3 s apart.
    first = last = np.array([0.0, 0.5, 1.0, 4.0, 4.5])
    assert heard_apart(first, last, 2.0)
    assert heard_apart(first, last, 2.0, np.ones(5), 2.0)
    assert not heard_apart(first, last, 2.0, np.ones(5), 3.0)
    # A merged entry weighs what it merged: [4, 4.5] of weight 1 + 4 is enough.
    assert heard_apart(first, last, 2.0, np.array([1, 1, 1, 1, 4.0]), 3.0)
    # Three stretches, only one heavy enough: not two.
    first = last = np.array([0.0, 0.5, 1.0, 4.0, 8.0])
    assert not heard_apart(first, last, 2.0, np.ones(5), 2.0)


def test_a_compressed_stretch_stays_one_stretch() -> None:
    """With a history of 12 entries, one stretch of B (30 embeddings, every 0.5 s)
    is compressed into merged entries; they still read as one stretch, so B (0.3 from
    A) stays with A. When B comes back 5 s later (for MIN_STRETCH embeddings) it
    becomes a speaker."""
    rng = np.random.default_rng(10)
    a_dir, b_dir = _voices(rng, 32, 0.3)
    c = LinkageClustering(0.2, 4, new_speaker_distance=0.62, recurrence_distance=0.4, capacity=12)
    _stretch(c, rng, a_dir, 10, 0.0)
    _stretch(c, rng, b_dir, 30, 10.0)
    assert c._history.n == 12 and c.num_speakers == 1
    _stretch(c, rng, b_dir, int(MIN_STRETCH), 30.0)
    assert c.num_speakers == 2


def test_without_times_the_gap_counts_calls() -> None:
    """No ``time``: consecutive calls are 1 apart, so with a gap of 2 a close voice
    heard in consecutive calls stays with the first speaker."""
    rng = np.random.default_rng(11)
    a_dir, b_dir = _voices(rng, 32, 0.3)
    c = LinkageClustering(0.2, 6, new_speaker_distance=0.62, recurrence_distance=0.4)
    _stretch(c, rng, a_dir, 12)
    labels = [int(a.labels[0]) for a in _stretch(c, rng, b_dir, 12)]
    assert c.num_speakers == 1 and labels == [0] * 12


def test_cannot_link_gives_a_second_local_speaker_its_own_speaker() -> None:
    rng = np.random.default_rng(2)
    a_dir, b_dir = _voices(rng, 16, 0.5)
    c = LinkageClustering(0.4, 10, new_speaker_distance=0.62)
    c.assign(_around(rng, a_dir, 1, 0.02))
    both = np.concatenate([_around(rng, a_dir, 1, 0.02), _around(rng, b_dir, 1, 0.02)])
    a = c.assign(both, cannot_link=True)
    assert a.labels.tolist() == [0, 1] and a.new.tolist() == [False, True]
    # Without update rights an embedding is only labelled, never a speaker.
    d = c.assign(_around(rng, _voices(rng, 16, 0.9, 3)[2], 1, 0.0), update=np.array([False]))
    assert d.entries is not None and d.entries.tolist() == [-1] and c.num_speakers == 2


def test_history_is_bounded_and_long_streams_keep_their_speakers() -> None:
    rng = np.random.default_rng(3)
    v = _voices(rng, 24, 0.8, 3)
    c = LinkageClustering(0.4, 10, new_speaker_distance=0.6, capacity=50)
    for t in range(600):
        k = (t // 20) % 3
        a = c.assign(_around(rng, v[k], 1, 0.05))
        assert a.labels.tolist() == [k]
        assert c._history.n <= 50
    assert c.num_speakers == 3


def test_seeded_voice_keeps_its_index_and_zero_vectors_are_unassigned() -> None:
    rng = np.random.default_rng(4)
    a_dir, b_dir = _voices(rng, 16, 0.8)
    c = LinkageClustering(0.4, 10, new_speaker_distance=0.6)
    assert c.seed(b_dir) == 0
    a = c.assign(np.concatenate([_around(rng, a_dir, 1, 0.02), _around(rng, b_dir, 1, 0.02)]))
    assert a.labels.tolist() == [1, 0]
    z = c.assign(np.zeros((1, 16), np.float32))
    assert z.labels.tolist() == [-1] and np.isnan(z.distances[0])


def test_max_speakers_caps_creation() -> None:
    rng = np.random.default_rng(5)
    v = _voices(rng, 16, 0.95, 4)
    c = LinkageClustering(0.4, 10, new_speaker_distance=0.6, max_speakers=2)
    labels = [int(c.assign(e[None]).labels[0]) for e in v]
    assert c.num_speakers == 2 and set(labels) == {0, 1}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"linkage_distance": 0.0},
        {"linkage_distance": float("nan")},
        {"new_speaker_distance": 2.5},
        {"min_cluster_size": 0},
        {"max_speakers": 0},
        {"capacity": 1},
        {"speaker_separation": -0.1},
        {"speaker_separation": 2.0},
        {"recurrence_distance": -0.1},
        {"recurrence_distance": 2.0},
        {"recurrence_gap": 0.0},
        {"recurrence_gap": float("inf")},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError, match="LinkageClustering"):
        LinkageClustering(**kwargs)  # type: ignore[arg-type]


def test_a_cluster_near_an_enrolled_reference_is_that_speaker() -> None:
    """Embeddings 0.45 from an enrolled reference (beyond the 0.38 cut, within the
    0.5 join distance) form their own cluster but carry the enrolled speaker, whose
    centroid stays the reference; a voice beyond the join distance gets a new one."""
    rng = np.random.default_rng(6)
    ref, near = _voices(rng, 32, 0.45)
    c = LinkageClustering(0.38, 6, new_speaker_distance=0.62)
    assert c.seed(ref, join_distance=0.5) == 0
    labels = [int(c.assign(e[None]).labels[0]) for e in _around(rng, near, 12, 0.02)]
    assert labels == [0] * 12 and c.num_speakers == 1
    np.testing.assert_allclose(c.centroids[0], ref, atol=1e-6)
    far = np.eye(32, dtype=np.float32)[10]  # orthogonal to both: distance 1
    assert c.assign(far[None]).labels.tolist() == [1]


def test_min_speakers_lifts_the_recurrence_rule() -> None:
    """With min_speakers=2 and one speaker so far, a close cluster heard once becomes
    the second speaker at once: the user said there are two voices."""
    rng = np.random.default_rng(9)
    a_dir, b_dir = _voices(rng, 32, 0.3)
    c = LinkageClustering(
        0.2, 6, new_speaker_distance=0.62, recurrence_distance=0.4, min_speakers=2
    )
    _stretch(c, rng, a_dir, 12, 0.0)
    _stretch(c, rng, b_dir, 12, 10.0)
    assert c.num_speakers == 2
    # The same input without the hint: the rule holds B back.
    rng = np.random.default_rng(9)
    a_dir, b_dir = _voices(rng, 32, 0.3)
    c = LinkageClustering(0.2, 6, new_speaker_distance=0.62, recurrence_distance=0.4)
    _stretch(c, rng, a_dir, 12, 0.0)
    _stretch(c, rng, b_dir, 12, 10.0)
    assert c.num_speakers == 1
