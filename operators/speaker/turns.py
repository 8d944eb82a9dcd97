"""Speaker turns from frame-level decisions, closed as the decisions are finalised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SpeakerEmbedding", "SpeakerTurn", "TurnTracker"]


@dataclass(frozen=True)
class SpeakerTurn:
    """Payload of a ``"speaker_turn"`` event (its ``start``/``end`` are the turn's).

    Attributes:
        speaker: the stream's speaker label (``"spk0"``, ``"spk1"``... or an enrolled
            name for a speaker seeded from enrolment).
        confidence: mean frame score of the speaker over the turn, 0..1 (aggregated
            segmentation probability, or vote share times speech probability in the
            light mode).
        name: enrolled name matched by the speaker's centroid, when its cosine
            similarity is at least the diarizer's ``name_threshold``; else None.
        name_score: that cosine similarity (None without enrolment).
    """

    speaker: str
    confidence: float
    name: str | None = None
    name_score: float | None = None


@dataclass(frozen=True)
class SpeakerEmbedding:
    """Payload of a ``"speaker_embedding"`` event (optional output).

    Attributes:
        speaker: label the embedding was assigned to.
        distance: cosine distance to that speaker's centroid before the update.
        vector: the L2-normalised embedding.
    """

    speaker: str
    distance: float
    vector: tuple[float, ...]


class TurnTracker:
    """Turns per speaker from blocks of finalised frame decisions.

    Gaps shorter than ``min_gap`` cells inside one speaker's speech are bridged, so a
    turn is closed only once ``min_gap`` cells of silence of that speaker follow it.
    Returned turns are ``(speaker, start_cell, end_cell, confidence)``, end exclusive.
    """

    def __init__(self, max_speakers: int, min_gap: int) -> None:
        self.max_speakers = max_speakers
        self.min_gap = max(0, int(min_gap))
        self.reset()

    def reset(self) -> None:
        """Forget open turns."""
        s = self.max_speakers
        self._start = np.full(s, -1, np.int64)  # open turn start (cell) or -1
        self._pend = np.full(s, -1, np.int64)  # end of the speech before a silence, or -1
        self._sum = np.zeros(s, np.float64)
        self._n = np.zeros(s, np.int64)

    def advance(
        self, base: int, active: npt.NDArray[np.bool_], score: npt.NDArray[np.float32]
    ) -> list[tuple[int, int, int, float]]:
        """Consume decisions for cells ``base .. base + m``: ``active``/``score`` ``(m, S)``."""
        m = active.shape[0]
        out: list[tuple[int, int, int, float]] = []
        for s in range(active.shape[1]):
            col = active[:, s]
            if self._start[s] < 0 and not col.any():
                continue
            cs = np.concatenate([[0.0], np.cumsum(np.where(col, score[:, s], 0.0))])
            cn = np.concatenate([[0], np.cumsum(col)])
            prev = 1 if (self._start[s] >= 0 and self._pend[s] < 0) else 0
            d = np.diff(np.concatenate([[prev], col.astype(np.int8)]))
            last = 0
            for i in np.flatnonzero(d):
                x = base + int(i)
                if d[i] > 0:  # speech starts
                    if self._start[s] >= 0 and x - self._pend[s] >= self.min_gap:
                        self._sum[s] += cs[i] - cs[last]
                        self._n[s] += cn[i] - cn[last]
                        last = int(i)
                        out.append(self._close(s))
                    if self._start[s] < 0:
                        self._start[s] = x
                    self._pend[s] = -1
                else:  # speech stops
                    self._pend[s] = x
            self._sum[s] += cs[m] - cs[last]
            self._n[s] += cn[m] - cn[last]
            if (
                self._start[s] >= 0
                and self._pend[s] >= 0
                and base + m - self._pend[s] >= self.min_gap
            ):
                out.append(self._close(s))
        return out

    def _close(self, s: int) -> tuple[int, int, int, float]:
        turn = (
            s,
            int(self._start[s]),
            int(self._pend[s]),
            float(self._sum[s] / max(self._n[s], 1)),
        )
        self._start[s] = self._pend[s] = -1
        self._sum[s] = 0.0
        self._n[s] = 0
        return turn

    def close_all(self, end: int) -> list[tuple[int, int, int, float]]:
        """End of stream at cell ``end``: close every open turn."""
        out = []
        for s in np.flatnonzero(self._start >= 0):
            if self._pend[s] < 0:
                self._pend[s] = end
            out.append(self._close(int(s)))
        return out
