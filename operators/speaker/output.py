"""What an online diarizer emits: speaker turn events from finalised cell decisions,
held embedding events, the speakers' labels and enrolled names, and their profiles.

The engine decides, per 10 ms cell, which speakers are active; :class:`TurnOutput`
turns those decisions into ``"speaker_turn"`` events (through a
:class:`~operators.speaker.turns.TurnTracker`, which closes a turn after ``min_gap_s``
of its speaker's silence) and releases the ``"speaker_embedding"`` events it holds
once no open turn can end before them, so events leave ordered by end. Times are in
samples of the input rate; cells are counted from the first sample (``origin``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from stream import Event, Item, item_time

from .linking import SpeakerProfile
from .settings import DiarizerSettings
from .strategy import ClusteringStrategy
from .turns import SpeakerEmbedding, SpeakerTurn, TurnTracker

__all__ = ["TurnOutput"]


class TurnOutput:
    """Turn and embedding events, labels and profiles of one stream's speakers.

    Args:
        settings: the diarizer's settings (rate, ``min_gap_s``, enrolled voices,
            ``name_threshold``).
        clustering: the strategy whose speakers these are (read for the number of
            speakers and the centroids an enrolled name is matched with).
    """

    def __init__(self, settings: DiarizerSettings, clustering: ClusteringStrategy) -> None:
        self.settings = settings
        self.clustering = clustering
        self._time_base = Fraction(1, settings.rate)
        self.reset()

    def reset(self) -> None:
        """Forget the stream; the enrolled voices are the first speakers again."""
        n = self.clustering.max_speakers
        self.names: list[str] = list(self.settings.enrolled_names)  # label per speaker
        self.tracker = TurnTracker(n, self.settings.min_gap_cells)
        self.held: list[Event[Any]] = []
        self.speech = np.zeros(n, np.int64)  # samples in each speaker's emitted turns

    @property
    def min_gap(self) -> int:
        """Cells of silence after which a speaker's turn ends."""
        return self.tracker.min_gap

    def name_new_speakers(self) -> None:
        """Label the speakers the clustering created since (``spk0``, ``spk1``...)."""
        n_enrolled = len(self.settings.enrolled_names)
        while len(self.names) < self.clustering.num_speakers:
            self.names.append(f"spk{len(self.names) - n_enrolled}")

    def decide(
        self,
        first: int,
        active: npt.NDArray[np.bool_],
        score: npt.NDArray[np.float32],
        origin: int,
        end: int,
    ) -> list[Item]:
        """Final decisions ``active``/``score`` ``(m, speakers)`` for cells ``first ..
        first + m`` of a stream that began at sample ``origin`` and has ``end`` samples
        so far: the turns they close and the held events no open turn can end before,
        ordered by end."""
        out = self._turn_events(self.tracker.advance(first, active, score), origin, end)
        # A turn still open may end up to min_gap cells before the last final cell:
        # hold back later events.
        limit = (first + active.shape[0] - self.tracker.min_gap) * self.settings.cell
        keep = [e for e in self.held if e.end - origin > limit]
        out += [e for e in self.held if e.end - origin <= limit]
        self.held = keep
        out.sort(key=item_time)
        return out

    def close(self, last: int, origin: int, end: int) -> list[Item]:
        """End of stream at cell ``last``: every open turn and every held event (not
        sorted)."""
        out = self._turn_events(self.tracker.close_all(last), origin, end)
        out += self.held
        self.held = []
        return out

    def hold_embedding(self, start: int, end: int, label: int, dist: float, vec: Any) -> None:
        """Hold a ``"speaker_embedding"`` event for samples ``start .. end`` of speaker
        ``label`` (cosine distance ``dist`` to its centroid, unit vector ``vec``)."""
        payload = SpeakerEmbedding(
            self.names[label], round(dist, 6), tuple(float(v) for v in np.asarray(vec))
        )
        self.held.append(Event("speaker_embedding", start, end, self._time_base, payload))

    def _turn_events(
        self, turns: list[tuple[int, int, int, float]], origin: int, end: int
    ) -> list[Item]:
        if not turns:
            return []
        st = self.settings
        names: list[str | None] = [None] * len(turns)
        scores: list[float | None] = [None] * len(turns)
        if st.enrolled_names:
            sims = self.clustering.centroids @ st.enrolled.T  # (speakers, enrolled)
            for t, (s, *_rest) in enumerate(turns):
                best = int(np.argmax(sims[s]))
                scores[t] = float(sims[s, best])
                if sims[s, best] >= st.name_threshold:
                    names[t] = st.enrolled_names[best]
        out: list[Item] = []
        for t, (s, c0, c1, conf) in enumerate(turns):
            t0 = origin + c0 * st.cell
            t1 = origin + min(c1 * st.cell, end)
            if t1 <= t0:
                continue
            payload = SpeakerTurn(self.names[s], round(conf, 4), names[t], scores[t])
            self.speech[s] += t1 - t0
            out.append(Event("speaker_turn", t0, t1, self._time_base, payload))
        return out

    def profiles(self) -> list[SpeakerProfile]:
        """The speakers with emitted turns: label, unit centroid, seconds of speech in
        their turns (weight) and the enrolled name their turns carry (None without)."""
        st = self.settings
        k = min(self.clustering.num_speakers, len(self.names))
        cents = self.clustering.centroids[:k]
        names: list[str | None] = [None] * k
        if st.enrolled_names and k:
            sims = cents @ st.enrolled.T
            best = np.argmax(sims, axis=1)
            for s in range(k):
                if sims[s, best[s]] >= st.name_threshold:
                    names[s] = st.enrolled_names[int(best[s])]
        seconds = self.speech[:k] / st.rate
        return [
            SpeakerProfile(self.names[s], cents[s].copy(), float(seconds[s]), names[s])
            for s in range(k)
            if seconds[s] > 0
        ]
