"""IncrementalClustering: thresholds, cannot-link, max speakers, centroid updates."""

from __future__ import annotations

import numpy as np
import pytest

from operators.speaker import IncrementalClustering
from stream import ParameterError


def _unit(*rows: list[float]) -> np.ndarray:
    x = np.array(rows, np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_new_speaker_above_the_threshold_joins_below_it() -> None:
    c = IncrementalClustering(new_speaker_distance=0.5)
    a = c.assign(_unit([1, 0, 0]))
    assert a.labels.tolist() == [0] and a.new.tolist() == [True]
    # cos distance 1 - 0.8 = 0.2 < 0.5: joins speaker 0.
    near = c.assign(_unit([0.8, 0.6, 0]))
    assert near.labels.tolist() == [0] and near.distances[0] == pytest.approx(0.2, abs=1e-6)
    # orthogonal: distance 1 > 0.5: a new speaker.
    far = c.assign(_unit([0, 0, 1]))
    assert far.labels.tolist() == [1] and far.new.tolist() == [True]
    assert c.num_speakers == 2


def test_distances_are_one_matrix_product() -> None:
    c = IncrementalClustering(0.5, dim=3)
    c.seed(_unit([1, 0, 0])[0])
    c.seed(_unit([0, 1, 0])[0])
    e = _unit([1, 1, 0], [0, 0, 1], [1, 0, 0])
    d = c.distances(e)
    assert d.shape == (2, 3)
    np.testing.assert_allclose(d, 1 - c.centroids @ e.T, atol=1e-6)
    np.testing.assert_allclose(d[:, 1], [1, 1], atol=1e-6)


def test_centroid_moves_with_updates_but_not_with_outliers() -> None:
    c = IncrementalClustering(new_speaker_distance=0.9, update_distance=0.3)
    c.assign(_unit([1, 0]))
    c.assign(_unit([0.9, 0.1]))  # distance ~0.006: updates
    moved = c.centroids[0].copy()
    assert moved[1] > 0
    c.assign(_unit([0.3, 0.7]))  # distance ~0.61 > 0.3: assigned, no update
    np.testing.assert_allclose(c.centroids[0], moved)


def test_cannot_link_assigns_local_speakers_to_different_speakers() -> None:
    c = IncrementalClustering(new_speaker_distance=0.5)
    c.seed(_unit([1, 0, 0])[0])
    c.seed(_unit([0, 1, 0])[0])
    # Both locals are nearest to speaker 0; without the constraint both go there.
    e = _unit([1, 0.1, 0], [1, 0.3, 0])
    free = IncrementalClustering(new_speaker_distance=0.5)
    free.seed(_unit([1, 0, 0])[0])
    free.seed(_unit([0, 1, 0])[0])
    assert free.assign(e, update=np.array([False, False])).labels.tolist() == [0, 0]
    linked = c.assign(e, cannot_link=True, update=np.array([False, False]))
    assert sorted(linked.labels.tolist()) == [0, 1]
    assert linked.labels[0] == 0  # the nearer one keeps speaker 0
    # With updates allowed, the far local founds a new speaker instead.
    c2 = IncrementalClustering(new_speaker_distance=0.5)
    c2.seed(_unit([1, 0, 0])[0])
    c2.seed(_unit([0, 1, 0])[0])
    out = c2.assign(_unit([1, 0.05, 0], [0, 0, 1]), cannot_link=True)
    assert out.labels.tolist() == [0, 2] and out.new.tolist() == [False, True]


def test_max_speakers_caps_creation() -> None:
    c = IncrementalClustering(new_speaker_distance=0.1, max_speakers=2)
    labels = [int(c.assign(_unit(v)).labels[0]) for v in ([1, 0, 0], [0, 1, 0], [0, 0, 1])]
    assert labels[:2] == [0, 1] and labels[2] in (0, 1)
    assert c.num_speakers == 2
    # Under cannot-link with every speaker taken, the extra local stays unassigned.
    out = c.assign(_unit([1, 0, 0], [0, 1, 0], [0, 0, 1]), cannot_link=True)
    assert sorted(out.labels.tolist()) == [-1, 0, 1]


def test_zero_embedding_is_not_assigned() -> None:
    c = IncrementalClustering(0.5, dim=2)
    out = c.assign(np.zeros((1, 2), np.float32))
    assert out.labels.tolist() == [-1] and c.num_speakers == 0


def test_dimension_mismatch_is_an_error() -> None:
    c = IncrementalClustering(0.5)
    c.assign(_unit([1, 0]))
    with pytest.raises(ValueError, match="size 3"):
        c.assign(_unit([1, 0, 0]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"new_speaker_distance": 0},
        {"new_speaker_distance": 2.5},
        {"new_speaker_distance": float("nan")},
        {"update_distance": -1},
        {"max_speakers": 0},
    ],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        IncrementalClustering(**kwargs)  # type: ignore[arg-type]


def test_seeded_reference_is_frozen_and_has_its_own_join_distance() -> None:
    c = IncrementalClustering(new_speaker_distance=0.8)
    c.seed(_unit([1, 0])[0], frozen=True, join_distance=0.1)
    near = c.assign(_unit([0.99, 0.1]))  # distance ~0.005: joins, centroid stays
    assert near.labels.tolist() == [0]
    np.testing.assert_allclose(c.centroids[0], [1, 0], atol=1e-7)
    # distance ~0.29: would join under 0.8, but the reference only takes 0.1.
    out = c.assign(_unit([0.7, 0.7]))
    assert out.labels.tolist() == [1] and out.new.tolist() == [True]
