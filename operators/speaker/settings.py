"""The settings of an online diarizer: one frozen object, resolved and checked once.

:meth:`DiarizerSettings.build` takes the parameters of
:class:`~operators.speaker.diarizer.OnlineDiarizer` and the embedding model they are for
(its rate, window length, name and embedding size decide the defaults), fills in the
per-model defaults, checks every value and returns the frozen settings that the
operator, its engine and its clustering strategy read from then on. Every error is a
:class:`~stream.ParameterError` naming the parameter.

Durations are in seconds and are used rounded to whole 10 ms cells (the decision grid):
the ``*_samples`` properties give them in samples of the input rate. Distances are
cosine distances of unit embeddings (0..2); fractions and probabilities are in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .backends.base import EmbeddingModel
from .local_speakers import RECONSTRUCTIONS
from .strategy import check_distance, check_positive

__all__ = [
    "DEFAULT_MAX_SPEAKERS",
    "LINKAGE_DISTANCE",
    "NEW_SPEAKER_DISTANCE",
    "RECURRENCE_DISTANCE",
    "SPEAKER_SEPARATION",
    "ClusteringKind",
    "DiarizerSettings",
    "Mode",
    "check_mode",
    "speaker_counts",
]

Mode = Literal["segmentation", "vad"]
ClusteringKind = Literal["linkage", "centroid"]

# Default cosine distance above which an embedding founds a new speaker, per backend and
# mode: (segmentation, vad). Averaged local-speaker embeddings are cleaner than single
# windows, hence the larger segmentation-mode value. CAM++ segmentation mode: 0.62; with
# min_cluster_size 8 it gave the lowest tune-half DER of real recordings (AMI excerpts,
# LibriSpeech-voice conversations; `python bench/diarize_corpora.py grid`,
# bench/README.md; 0.75-0.9: LibriSpeech 8.6 % instead of 7.5 %, AMI 18.8 % instead of
# 19.3 %).
NEW_SPEAKER_DISTANCE = {"campplus": (0.62, 0.4), "ge2e": (0.3, 0.2)}
# Average-linkage cut of the segmentation mode's default "linkage" clustering, per
# backend. CAM++: 0.38. On real voices a higher cut is better (LibriSpeech-voice
# conversations, tune half: 7.4 % DER and 2 of 10 speaker counts exact at 0.38, 5.1 % and
# 9 of 10 at 0.48), but the synthetic MBROLA voices, whose CAM++ centroids are 0.39-0.60
# apart, merge above 0.38 (tune half: 2.3 % at 0.38, 5.8 % at 0.40, 10.9 % at 0.48) and
# their <= 5 % target is a requirement (tests/e2e/test_diarize_synthetic.py). A backend
# without one defaults to "centroid" clustering.
LINKAGE_DISTANCE = {"campplus": 0.38}
# Linkage clustering's speaker_separation per backend (see LinkageClustering): a big
# cluster whose centroid is this close to a speaker's is that voice split by the cut.
SPEAKER_SEPARATION: dict[str, float] = {}
# Linkage clustering's recurrence_distance per backend (see LinkageClustering): a big
# cluster this close to a speaker becomes a speaker only once it was heard in two
# stretches more than recurrence_gap_s apart. CAM++: 0.40, the middle of the flat part
# 0.36-0.42 (gap 0.5-3 s) of the tune halves of `bench/diarize_corpora.py` (streaming):
# the LibriSpeech-voice conversations go from 8.2 % to 6.3 % DER and their exact speaker
# counts from 2 to 8 of 10, AMI and MBROLA are unchanged; at 0.44 two MBROLA voices
# are kept together for a turn (5.5 %). Below it, the extra speakers were single turns
# of a voice 0.27-0.37 from that voice's centroid (bench/README.md).
RECURRENCE_DISTANCE: dict[str, float] = {"campplus": 0.40}


# Most speakers when neither ``num_speakers`` nor ``max_speakers`` says otherwise.
DEFAULT_MAX_SPEAKERS = 20


def check_mode(mode: object) -> Mode:
    """``mode`` as ``"segmentation"`` or ``"vad"``, or ParameterError."""
    if mode == "segmentation":
        return "segmentation"
    if mode == "vad":
        return "vad"
    raise ParameterError(f"OnlineDiarizer.mode must be 'segmentation' or 'vad', got {mode!r}")


def _positive(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ParameterError(f"OnlineDiarizer.{name} must be > 0 s, got {value!r}")
    return float(value)


def _unit_interval(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise ParameterError(f"OnlineDiarizer.{name} must be in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True, eq=False)
class DiarizerSettings:
    """Resolved, checked settings of one diarizer (see
    :class:`~operators.speaker.diarizer.OnlineDiarizer` for what each one does).

    Attributes:
        mode: ``"segmentation"`` (default) or ``"vad"`` (light).
        rate: input sample rate, Hz (the embedding model's, e.g. 16000).
        embedding: the embedding model's name (``"campplus"``...).
        dim: embedding size.
        window_s: embedding window, s (default the model's ``window_s``; light mode at
            least 2 s).
        window_step_s: hop between embedding windows, s (default ``window_s / 2``).
        buffer_s: segmentation buffer, s (default 5.0); None in the light mode.
        step_s: hop between buffers, s (default 0.5); None in the light mode.
        latency_s: how long after a buffer's (light mode: a window's) end its cells are
            final, s; between ``step_s`` and ``buffer_s`` (light mode: ``window_step_s``
            and ``window_s``), default the upper bound.
        clustering: ``"linkage"`` or ``"centroid"`` (default linkage in the
            segmentation mode when the model has a measured ``linkage_distance``).
        linkage_distance: linkage cut, mean cosine distance between clusters (default
            per model: ``LINKAGE_DISTANCE``; None without one).
        min_cluster_size: linkage clustering, embeddings after which a cluster near a
            known speaker becomes a speaker (default 8).
        new_speaker_distance: cosine distance above which a new speaker is created at
            once (default per model and mode: CAM++ 0.62/0.4, GE2E 0.3/0.2, others
            0.6/0.4).
        speaker_separation: linkage clustering, centroid distance to the nearest
            speaker at or below which a big cluster does not become a speaker (default
            per model: ``SPEAKER_SEPARATION``; 0: off).
        recurrence_distance: linkage clustering, centroid distance to the nearest
            speaker at or below which a big cluster becomes a speaker only once it was
            heard in two stretches more than ``recurrence_gap_s`` apart (default per
            model: ``RECURRENCE_DISTANCE``, CAM++ 0.40; 0: off).
        recurrence_gap_s: that gap, s, between the starts of the buffers the
            embeddings come from (default 2.0: with 5 s buffers, about 5 s of silence).
        num_speakers: the number of speakers when known (a hint: ``min_speakers`` and
            ``max_speakers`` both), or None.
        min_speakers: fewest speakers expected (1: no hint); linkage clustering lowers
            its cut while fewer have been found (see
            :class:`~operators.speaker.linkage.LinkageClustering`).
        max_speakers: most speakers (default ``num_speakers``, else 20).
        activity_threshold: probability from which a local speaker is active in a
            buffer (default 0.5).
        update_ratio: fraction of a buffer a local speaker must be active in to update
            its speaker (default 0.2).
        min_purity: fraction of a window a local speaker must have alone for the window
            to count in its embedding (default 0.6).
        speech_ratio: light mode, fraction of a window that must be speech (0.5).
        onset: aggregated probability at which a cell counts as speech (0.5).
        reconstruction: how many speakers a cell gets: ``"count"`` (default) as many
            as the segmentation model found active there, averaged over the buffers
            covering it and rounded, the highest-scoring ones; ``"threshold"``: every
            speaker whose averaged probability is at least ``onset``.
        count_buffer_s: with ``"count"``, the count comes from segmentation buffers of
            this length, s, every ``count_buffer_s / 2`` (default 10.0; None: from the
            speaker buffers themselves).
        min_gap_s: silences of a speaker shorter than this are bridged, s (0.1).
        enrolled_names: names of the enrolled voices, seeded first (default none).
        enrolled: ``(len(enrolled_names), dim)`` float32 unit reference embeddings
            (read-only).
        name_threshold: cosine similarity for a turn to carry an enrolled name (0.5).
        emit_embeddings: also emit ``"speaker_embedding"`` events (default False).
    """

    mode: Mode
    rate: int
    embedding: str
    dim: int
    window_s: float
    window_step_s: float
    buffer_s: float | None
    step_s: float | None
    latency_s: float
    clustering: ClusteringKind
    linkage_distance: float | None
    min_cluster_size: float
    new_speaker_distance: float
    speaker_separation: float
    recurrence_distance: float
    recurrence_gap_s: float
    num_speakers: int | None
    min_speakers: int
    max_speakers: int
    activity_threshold: float
    update_ratio: float
    min_purity: float
    speech_ratio: float
    onset: float
    reconstruction: str
    count_buffer_s: float | None
    min_gap_s: float
    enrolled_names: tuple[str, ...]
    enrolled: npt.NDArray[np.float32]
    name_threshold: float
    emit_embeddings: bool

    @classmethod
    def build(
        cls,
        model: EmbeddingModel,
        *,
        mode: str = "segmentation",
        buffer_s: float = 5.0,
        step_s: float = 0.5,
        latency_s: float | None = None,
        window_s: float | None = None,
        window_step_s: float | None = None,
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
    ) -> DiarizerSettings:
        """The settings of a diarizer with embedding ``model`` and these parameters
        (as :class:`~operators.speaker.diarizer.OnlineDiarizer` takes them; None: the
        default for the model and mode), each checked; raises
        :class:`~stream.ParameterError` naming the first bad one."""
        seg = check_mode(mode) == "segmentation"
        default_window = model.window_s if seg else max(model.window_s, 2.0)
        win = _positive(window_s if window_s is not None else default_window, "window_s")
        win_step = _positive(
            window_step_s if window_step_s is not None else win / 2, "window_step_s"
        )
        buf: float | None = None
        step: float | None = None
        if seg:
            buf = _positive(buffer_s, "buffer_s")
            step = _positive(step_s, "step_s")
            if step > buf:
                raise ParameterError(
                    f"OnlineDiarizer.step_s={step_s} s is longer than buffer_s={buffer_s} s"
                )
            if win > buf:
                raise ParameterError(
                    f"OnlineDiarizer.window_s={win} s is longer than buffer_s={buffer_s} s"
                )
            lo, hi = step, buf
        else:
            lo, hi = win_step, win
        latency = hi if latency_s is None else _positive(latency_s, "latency_s")
        if not (lo - 1e-9 <= latency <= hi + 1e-9):
            raise ParameterError(
                f"OnlineDiarizer.latency_s must be between {lo:g} s and {hi:g} s, got {latency_s}"
            )
        dist = new_speaker_distance
        if dist is None:
            dist = NEW_SPEAKER_DISTANCE.get(model.name, (0.6, 0.4))[not seg]
        num, lo, hi = speaker_counts(num_speakers, min_speakers, max_speakers)
        cut = linkage_distance if linkage_distance is not None else LINKAGE_DISTANCE.get(model.name)
        kind = _clustering_kind(clustering, seg, cut, model.name)
        rec_gap = _positive(recurrence_gap_s, "recurrence_gap_s")
        # Checked whatever the clustering; only linkage clustering reads them (0: off).
        sep = speaker_separation
        if sep is None:
            sep = SPEAKER_SEPARATION.get(model.name, 0.0)
        rec = recurrence_distance
        if rec is None:
            rec = RECURRENCE_DISTANCE.get(model.name, 0.0)
        if sep != 0:
            sep = check_distance("OnlineDiarizer", "speaker_separation", sep)
        if rec != 0:
            rec = check_distance("OnlineDiarizer", "recurrence_distance", rec)
        # The strategy's own parameters, reported under its name as its constructor does
        # (linkage_distance and min_cluster_size are read by linkage clustering only).
        if kind == "linkage":
            cut = check_distance("LinkageClustering", "linkage_distance", cut)
            dist = check_distance("LinkageClustering", "new_speaker_distance", dist)
            min_cluster_size = check_positive(
                "LinkageClustering", "min_cluster_size", min_cluster_size
            )
        else:
            sep = rec = 0.0
            dist = check_distance("IncrementalClustering", "new_speaker_distance", dist)
            if lo > 1:
                raise ParameterError(
                    "OnlineDiarizer: min_speakers/num_speakers need clustering='linkage' "
                    "(segmentation mode); centroid clustering honours max_speakers only"
                )
        activity_threshold = _unit_interval(activity_threshold, "activity_threshold")
        update_ratio = _unit_interval(update_ratio, "update_ratio")
        min_purity = _unit_interval(min_purity, "min_purity")
        speech_ratio = _unit_interval(speech_ratio, "speech_ratio")
        onset = _unit_interval(onset, "onset")
        count_buf = None
        if count_buffer_s is not None:
            count_buf = _positive(count_buffer_s, "count_buffer_s")
        if not seg or reconstruction != "count":
            count_buf = None
        if reconstruction not in RECONSTRUCTIONS:
            raise ParameterError(
                f"OnlineDiarizer.reconstruction must be one of {', '.join(RECONSTRUCTIONS)}, "
                f"got {reconstruction!r}"
            )
        if not (math.isfinite(min_gap_s) and min_gap_s >= 0):
            raise ParameterError(f"OnlineDiarizer.min_gap_s must be >= 0 s, got {min_gap_s!r}")
        name_threshold = _unit_interval(name_threshold, "name_threshold")
        names, refs = _enrolled(enrolled, model)
        if len(names) > hi:
            raise ParameterError(
                f"OnlineDiarizer: {len(names)} enrolled voices but at most {hi} speakers "
                "(max_speakers/num_speakers)"
            )
        return cls(
            mode="segmentation" if seg else "vad",
            rate=model.sample_rate,
            embedding=model.name,
            dim=model.dim,
            window_s=win,
            window_step_s=win_step,
            buffer_s=buf,
            step_s=step,
            latency_s=latency,
            clustering=kind,
            linkage_distance=cut,
            min_cluster_size=min_cluster_size,
            new_speaker_distance=dist,
            speaker_separation=float(sep),
            recurrence_distance=float(rec),
            recurrence_gap_s=rec_gap,
            num_speakers=num,
            min_speakers=lo,
            max_speakers=hi,
            activity_threshold=activity_threshold,
            update_ratio=update_ratio,
            min_purity=min_purity,
            speech_ratio=speech_ratio,
            onset=onset,
            reconstruction=reconstruction,
            count_buffer_s=count_buf,
            min_gap_s=float(min_gap_s),
            enrolled_names=names,
            enrolled=refs,
            name_threshold=name_threshold,
            emit_embeddings=bool(emit_embeddings),
        )

    # -- in samples (whole 10 ms cells) --------------------------------------------------

    @property
    def cell(self) -> int:
        """Samples per 10 ms decision cell."""
        return self.rate // 100

    def samples(self, seconds: float) -> int:
        """Seconds -> samples, rounded to whole 10 ms cells (at least one)."""
        return max(1, round(seconds * 100)) * self.cell

    @property
    def window_samples(self) -> int:
        """Embedding window, samples."""
        return self.samples(self.window_s)

    @property
    def window_step_samples(self) -> int:
        """Hop between embedding windows, samples."""
        return self.samples(self.window_step_s)

    @property
    def buffer_samples(self) -> int:
        """Segmentation buffer, samples (segmentation mode only)."""
        return self.samples(self._segmentation_only(self.buffer_s))

    @property
    def step_samples(self) -> int:
        """Hop between segmentation buffers, samples (segmentation mode only)."""
        return self.samples(self._segmentation_only(self.step_s))

    @property
    def count_buffer_samples(self) -> int | None:
        """Buffers the speaker count comes from, samples (None: the speaker buffers)."""
        return None if self.count_buffer_s is None else self.samples(self.count_buffer_s)

    @property
    def count_step_samples(self) -> int:
        """Hop between those buffers, samples: half a buffer."""
        return self.samples(self._segmentation_only(self.count_buffer_s) / 2)

    @property
    def latency_samples(self) -> int:
        """``latency_s``, samples."""
        return self.samples(self.latency_s)

    @property
    def min_gap_cells(self) -> int:
        """``min_gap_s``, in 10 ms cells."""
        return round(self.min_gap_s * 100)

    def _segmentation_only(self, seconds: float | None) -> float:
        if seconds is None:
            raise ValueError("the light (vad) mode has no segmentation buffers")
        return seconds


def _count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"OnlineDiarizer.{name} must be an int >= 1 or None, got {value!r}")
    return value


def speaker_counts(
    num_speakers: object, min_speakers: object, max_speakers: object
) -> tuple[int | None, int, int]:
    """``(num_speakers, min_speakers, max_speakers)`` resolved: a number of speakers
    sets both bounds; without one, 1 and ``DEFAULT_MAX_SPEAKERS`` (or ``min_speakers``
    if more); ParameterError on a bad or contradictory value."""
    num = _count(num_speakers, "num_speakers")
    lo = _count(min_speakers, "min_speakers")
    hi = _count(max_speakers, "max_speakers")
    if num is not None:
        for name, value in (("min_speakers", lo), ("max_speakers", hi)):
            if value is not None and value != num:
                raise ParameterError(
                    f"OnlineDiarizer.num_speakers={num} contradicts {name}={value}: give "
                    "num_speakers alone, or min_speakers/max_speakers"
                )
        return num, num, num
    lo = 1 if lo is None else lo
    hi = max(DEFAULT_MAX_SPEAKERS, lo) if hi is None else hi
    if lo > hi:
        raise ParameterError(f"OnlineDiarizer.min_speakers={lo} is more than max_speakers={hi}")
    return None, lo, hi


def _clustering_kind(
    clustering: str | None, seg: bool, cut: float | None, model: str
) -> ClusteringKind:
    if clustering is None:
        clustering = "linkage" if seg and cut is not None else "centroid"
    if clustering == "linkage":
        if not seg:
            raise ParameterError(
                "OnlineDiarizer.clustering='linkage' needs mode='segmentation' (the light "
                "mode labels each window once: use 'centroid')"
            )
        if cut is None:
            raise ParameterError(
                f"OnlineDiarizer: no measured linkage_distance for {model!r}; "
                "pass linkage_distance= or clustering='centroid'"
            )
        return "linkage"
    if clustering == "centroid":
        return "centroid"
    raise ParameterError(
        f"OnlineDiarizer.clustering must be 'linkage' or 'centroid', got {clustering!r}"
    )


def _enrolled(
    enrolled: Mapping[str, npt.NDArray[np.float32]] | None, model: EmbeddingModel
) -> tuple[tuple[str, ...], npt.NDArray[np.float32]]:
    """Names and unit reference embeddings ``(k, dim)`` of the enrolled voices."""
    names: list[str] = []
    refs = np.zeros((0, model.dim), np.float32)
    if enrolled:
        vecs = []
        for name, vec in enrolled.items():
            v = np.asarray(vec, np.float32).reshape(-1)
            if v.shape[0] != model.dim or not np.isfinite(v).all() or not v.any():
                raise ParameterError(
                    f"OnlineDiarizer.enrolled[{name!r}] must be a non-zero {model.dim}-d "
                    f"embedding of {model.name}, got shape {v.shape}"
                )
            vecs.append(v / np.linalg.norm(v))
            names.append(str(name))
        refs = np.stack(vecs)
    refs.setflags(write=False)
    return tuple(names), refs
