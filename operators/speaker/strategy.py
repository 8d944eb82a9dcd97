"""The clustering strategy the diarizer's engine talks to: one ``typing.Protocol``.

Two strategies implement it, side by side: :class:`~operators.speaker.clustering.
IncrementalClustering` (one decision per embedding against running centroids) and
:class:`~operators.speaker.linkage.LinkageClustering` (average-linkage re-clustering of a
bounded history on every call). Both return an :class:`Assignment`, and both check
their parameters with the helpers below, so an error names the same thing whichever
class raised it. Distances are cosine distances ``1 - similarity`` of unit vectors
(0 = same direction, 2 = opposite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from stream import ParameterError

__all__ = [
    "Assignment",
    "ClusteringStrategy",
    "check_distance",
    "check_max_speakers",
    "check_positive",
    "unit_rows",
]


@dataclass(frozen=True)
class Assignment:
    """Result of :meth:`ClusteringStrategy.assign`.

    Attributes:
        labels: int64 ``(n,)`` global speaker index of each embedding (-1: not assigned,
            e.g. an embedding with no information, or no speaker left under the
            cannot-link constraint once ``max_speakers`` exist).
        distances: float32 ``(n,)`` cosine distance to the assigned centroid (before
            the update; 0 for a new speaker, nan when unassigned).
        new: bool ``(n,)`` whether the embedding created its speaker.
        entries: int64 ``(n,)`` id of the history entry each embedding became (-1:
            none), for clusterings that keep a history
            (:meth:`LinkageClustering.speakers_of`); None otherwise.
    """

    labels: npt.NDArray[np.int64]
    distances: npt.NDArray[np.float32]
    new: npt.NDArray[np.bool_]
    entries: npt.NDArray[np.int64] | None = None


class ClusteringStrategy(Protocol):
    """Online speaker clustering as the diarizer's engine uses it.

    Attributes (read-only here):
        new_speaker_distance: cosine distance above which an embedding (or a cluster)
            founds a new speaker.
        max_speakers: most speakers ever created.
        num_speakers: speakers created so far (seeded ones included).
        centroids: ``(num_speakers, dim)`` float32 unit centroid directions.
    """

    @property
    def new_speaker_distance(self) -> float: ...

    @property
    def max_speakers(self) -> int: ...

    @property
    def num_speakers(self) -> int: ...

    @property
    def centroids(self) -> npt.NDArray[np.float32]: ...

    def reset(self) -> None:
        """Forget every speaker (and any history)."""

    def seed(
        self,
        embedding: npt.NDArray[np.float32],
        weight: float = 1.0,
        *,
        frozen: bool = False,
        join_distance: float | None = None,
    ) -> int:
        """Create a speaker from a reference ``embedding`` (an enrolled voice) that
        embeddings join only within ``join_distance`` (cosine); returns its index."""
        ...

    def assign(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        weights: npt.NDArray[np.float64] | None = None,
        update: npt.NDArray[np.bool_] | None = None,
        cannot_link: bool = False,
        time: float | None = None,
    ) -> Assignment:
        """Label each of ``embeddings`` ``(n, dim)`` with a speaker, creating speakers;
        ``cannot_link``: they come from one buffer, never two on one speaker; ``time``:
        when they were heard (the diarizer: the buffer's start, s), non-decreasing."""
        ...

    def speakers_of(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Current speaker of the history entries ``ids`` (:attr:`Assignment.entries`),
        -1 where unknown: lets the engine move scores whose speaker changed since."""
        ...


def check_distance(owner: str, name: str, value: object) -> float:
    """``value`` as a cosine distance in (0, 2), or ParameterError naming ``owner.name``."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value < 2):
        raise ParameterError(f"{owner}.{name} must be a cosine distance in (0, 2), got {value!r}")
    return float(value)


def check_max_speakers(owner: str, value: object) -> int:
    """``value`` as a speaker count >= 1, or ParameterError naming ``owner``."""
    if not isinstance(value, int) or value < 1:
        raise ParameterError(f"{owner}.max_speakers must be an int >= 1, got {value!r}")
    return value


def check_positive(owner: str, name: str, value: object) -> float:
    """``value`` as a finite number > 0, or ParameterError naming ``owner.name``."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ParameterError(f"{owner}.{name} must be > 0, got {value!r}")
    return float(value)


def unit_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows of ``x`` scaled to unit length (zero rows stay zero), float32."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = (x / np.maximum(norm, 1e-12)).astype(np.float32)
    return out
