"""Tuning a diarizer's thresholds on a user's own labelled recordings.

What ``diart.tune`` offers, for :class:`~operators.speaker.diarizer.OnlineDiarizer`:
every combination of a grid of clustering thresholds is scored (corpus DER,
pyannote.metrics, overlap scored) on recordings with reference RTTM, and the choice is
cross-validated: each fold chooses on the other files and is scored on the files it
left out, so the figure reported for the chosen setting is one it was not chosen on.

The models run once per recording: :func:`cached_models` memoises the segmentation of
every buffer and the embedding of every window by a hash of its samples, so each grid
point re-runs only the clustering (the streaming diarizer, fed chunks as live input
would be, ``process()`` per chunk).

pyannote.core and pyannote.metrics are imported when scoring starts.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .settings import (
    LINKAGE_DISTANCE,
    NEW_SPEAKER_DISTANCE,
    RECURRENCE_DISTANCE,
    SPEAKER_SEPARATION,
)

__all__ = [
    "DEFAULTS",
    "GRIDS",
    "TUNABLE",
    "CrossValidation",
    "LabelledRecording",
    "Trial",
    "cached_models",
    "cross_validate",
    "digest",
    "evaluate",
    "read_rttm",
    "read_uem",
    "search",
]

#: Parameters a profile may set and their allowed ranges (inclusive).
TUNABLE: dict[str, tuple[float, float]] = {
    "linkage_distance": (0.0, 2.0),
    "new_speaker_distance": (0.0, 2.0),
    "speaker_separation": (0.0, 2.0),
    "recurrence_distance": (0.0, 2.0),
    "min_cluster_size": (1.0, 1000.0),
    "activity_threshold": (0.0, 1.0),
    "onset": (0.0, 1.0),
}

#: The diarizer's defaults with CAM++ in the segmentation mode (ties are broken towards them).
DEFAULTS: dict[str, float] = {
    "linkage_distance": LINKAGE_DISTANCE["campplus"],
    "new_speaker_distance": NEW_SPEAKER_DISTANCE["campplus"][0],
    "speaker_separation": SPEAKER_SEPARATION.get("campplus", 0.0),
    "recurrence_distance": RECURRENCE_DISTANCE["campplus"],
    "min_cluster_size": 8.0,
    "activity_threshold": 0.5,
    "onset": 0.5,
}

#: Named grids of :func:`search` (the defaults 0.38 / 0.62 / 8 are in each).
GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "quick": {
        "linkage_distance": (0.3, 0.38, 0.46, 0.55, 0.65),
        "new_speaker_distance": (0.62, 0.8),
        "min_cluster_size": (4.0, 8.0, 14.0),
    },
    "standard": {
        "linkage_distance": (0.3, 0.34, 0.38, 0.42, 0.46, 0.5, 0.55, 0.6, 0.65, 0.7),
        "new_speaker_distance": (0.5, 0.62, 0.75, 0.9),
        "min_cluster_size": (4.0, 6.0, 8.0, 11.0, 14.0),
        "speaker_separation": (0.0, 0.36),
        "recurrence_distance": (0.0, 0.4),
    },
}


@dataclass(frozen=True, eq=False)
class LabelledRecording:
    """One recording with its reference.

    Attributes:
        uri: the file id (the RTTM's second column).
        audio: mono float32 samples at the diarizer's rate.
        rate: that rate, Hz.
        reference: the reference turns (``pyannote.core.Annotation``).
        uem: the scored part (``pyannote.core.Timeline``), or None for the whole file.
    """

    uri: str
    audio: npt.NDArray[np.float32]
    rate: int
    reference: Any
    uem: Any = None

    @property
    def seconds(self) -> float:
        return float(self.audio.shape[0] / self.rate)

    @property
    def num_speakers(self) -> int:
        ref = self.reference if self.uem is None else self.reference.crop(self.uem)
        return len(ref.labels())


@dataclass
class Trial:
    """The scores of one setting on every recording.

    Attributes:
        params: the diarizer parameters of this setting.
        errors: uri -> (false alarm + missed + confusion, total reference speech), s.
        counts: uri -> (speakers found, reference speakers).
    """

    params: dict[str, float]
    errors: dict[str, tuple[float, float]] = field(default_factory=dict)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    def der(self, uris: Iterable[str] | None = None) -> float:
        """Corpus DER over ``uris`` (default all): summed errors / summed speech."""
        keys = self.errors if uris is None else list(uris)
        err = sum(self.errors[u][0] for u in keys)
        total = sum(self.errors[u][1] for u in keys)
        return err / total if total > 0 else 0.0

    def count_exact(self) -> float:
        """Fraction of recordings whose speaker count is right."""
        return float(np.mean([h == r for h, r in self.counts.values()])) if self.counts else 0.0


@dataclass(frozen=True)
class CrossValidation:
    """A cross-validated choice.

    Attributes:
        chosen: the setting with the lowest DER on all recordings (the profile).
        folds: per fold, the files it held out, the setting chosen on the others, and
            its DER on the held-out files.
        held_out_der: corpus DER of every fold's choice on its held-out files (errors
            and speech summed over the folds): the estimate for unseen recordings.
    """

    chosen: Trial
    folds: list[tuple[list[str], dict[str, float], float]]
    held_out_der: float


def digest(row: npt.NDArray[np.float32]) -> bytes:
    """A 16-byte hash of an array's samples (the memo key of :func:`cached_models`)."""
    return hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=16).digest()


def cached_models(emb: Any, seg: Any) -> tuple[Any, Any]:
    """Copies of ``emb`` (an embedding model) and ``seg`` (a segmentation model, or
    None) whose outputs are memoised by a hash of each input row: a second run over the
    same audio re-runs only the clustering. Memory: one output per distinct row."""
    emb_c = copy.copy(emb)
    memo_e: dict[bytes, npt.NDArray[np.float32]] = {}
    raw_embed = emb.embed

    def embed(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        keys = [digest(r) for r in batch]
        miss = [i for i, k in enumerate(keys) if k not in memo_e]
        if miss:
            for i, v in zip(miss, raw_embed(batch[miss]), strict=True):
                memo_e[keys[i]] = v
        out: npt.NDArray[np.float32] = (
            np.stack([memo_e[k] for k in keys]) if keys else raw_embed(batch)
        )
        return out

    emb_c.embed = embed
    if seg is None:
        return emb_c, None
    seg_type = type(seg)

    class Cached(seg_type):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.__dict__.update(seg.__dict__)
            self._memo: dict[bytes, npt.NDArray[np.float32]] = {}

        def __call__(
            self, buffers: npt.NDArray[np.float32], step: int | None = None
        ) -> npt.NDArray[np.float32]:
            keys = [digest(r) for r in buffers]
            miss = [i for i, k in enumerate(keys) if k not in self._memo]
            if miss:
                share = step if len(miss) == len(keys) else None
                for i, v in zip(miss, super().__call__(buffers[miss], step=share), strict=True):
                    self._memo[keys[i]] = v
            if not keys:
                empty: npt.NDArray[np.float32] = super().__call__(buffers, step)
                return empty
            out: npt.NDArray[np.float32] = np.stack([self._memo[k] for k in keys])
            return out

    return emb_c, Cached()


def _time(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(f"{where}: {what} must be seconds, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ParameterError(f"{where}: {what} must be seconds >= 0, got {text!r}")
    return value


def read_rttm(path: str | Path) -> dict[str, Any]:
    """The ``SPEAKER`` lines of an RTTM file as ``pyannote.core.Annotation`` per file id.
    ParameterError naming the file and line for a line that is not RTTM."""
    from pyannote.core import Annotation, Segment

    out: dict[str, Any] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read RTTM {str(path)!r}: {exc}") from None
    for no, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith(";") or fields[0] != "SPEAKER":
            continue
        where = f"{path}:{no}"
        if len(fields) < 8:
            raise ParameterError(f"{where}: an RTTM SPEAKER line has 10 fields, got {len(fields)}")
        uri = fields[1]
        start = _time(fields[3], "the onset", where)
        duration = _time(fields[4], "the duration", where)
        ann = out.setdefault(uri, Annotation(uri=uri))
        if duration > 0:
            ann[
                Segment(start, start + duration), ann.new_track(Segment(start, start + duration))
            ] = fields[7]
    if not out:
        raise ParameterError(f"RTTM {str(path)!r} has no SPEAKER lines")
    return out


def read_uem(path: str | Path) -> dict[str, Any]:
    """A UEM file (``uri channel start end`` per line) as ``pyannote.core.Timeline`` per
    file id."""
    from pyannote.core import Segment, Timeline

    out: dict[str, Any] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read UEM {str(path)!r}: {exc}") from None
    for no, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith(";"):
            continue
        where = f"{path}:{no}"
        if len(fields) != 4:
            raise ParameterError(f"{where}: a UEM line is 'uri channel start end'")
        start, end = _time(fields[2], "start", where), _time(fields[3], "end", where)
        if end <= start:
            raise ParameterError(f"{where}: end {end} is not after start {start}")
        out.setdefault(fields[0], Timeline(uri=fields[0])).add(Segment(start, end))
    return out


def _annotation(events: Iterable[Any], uri: str) -> Any:
    from pyannote.core import Annotation, Segment

    hyp = Annotation(uri=uri)
    for e in events:
        if e.kind == "speaker_turn":
            hyp[Segment(e.start_s, e.end_s)] = e.payload.speaker
    return hyp


def evaluate(
    recordings: Sequence[LabelledRecording],
    make: Callable[[dict[str, float]], Any],
    params: Mapping[str, float],
    *,
    collar: float = 0.5,
    chunk_frames: int = 4096,
    on_file: Callable[[LabelledRecording, float], None] | None = None,
) -> Trial:
    """Score one setting: ``make(params)`` builds a fresh diarizer, fed each recording
    in ``chunk_frames`` chunks (its ``run_all``); DER at ``collar`` seconds, overlap
    scored. ``on_file(recording, wall_s)`` after each recording."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    trial = Trial(dict(params))
    for rec in recordings:
        t0 = time.perf_counter()
        op = make(dict(params))
        hyp = _annotation(op.run_all(rec.audio, rec.rate, chunk_frames=chunk_frames), rec.uri)
        if on_file is not None:
            on_file(rec, time.perf_counter() - t0)
        c = metric(rec.reference, hyp, uem=rec.uem, detailed=True)
        err = float(c["false alarm"] + c["missed detection"] + c["confusion"])
        trial.errors[rec.uri] = (err, float(c["total"]))
        found = hyp if rec.uem is None else hyp.crop(rec.uem)
        trial.counts[rec.uri] = (len(found.labels()), rec.num_speakers)
    return trial


def search(
    recordings: Sequence[LabelledRecording],
    make: Callable[[dict[str, float]], Any],
    grid: Mapping[str, Sequence[float]],
    *,
    collar: float = 0.5,
    progress: Callable[[int, int, Trial, float], None] | None = None,
) -> list[Trial]:
    """:func:`evaluate` at every combination of ``grid`` (parameter -> values), in
    order; ``progress(done, total, trial, elapsed_s)`` after each."""
    for name, values in grid.items():
        if name not in TUNABLE:
            raise ParameterError(f"cannot tune {name!r}: tunable are {', '.join(TUNABLE)}")
        lo, hi = TUNABLE[name]
        bad = [v for v in values if not (lo <= v <= hi)]
        if not values or bad:
            raise ParameterError(f"{name} values must lie in [{lo:g}, {hi:g}], got {list(values)}")
    keys = list(grid)
    combos = list(itertools.product(*(grid[k] for k in keys)))
    t0 = time.perf_counter()
    trials = []
    for i, combo in enumerate(combos):
        trial = evaluate(
            recordings, make, dict(zip(keys, map(float, combo), strict=True)), collar=collar
        )
        trials.append(trial)
        if progress is not None:
            progress(i + 1, len(combos), trial, time.perf_counter() - t0)
    return trials


def _best(
    trials: Sequence[Trial], uris: Sequence[str] | None, defaults: Mapping[str, float]
) -> Trial:
    """The trial with the lowest DER on ``uris``; among equal ones (within 1e-9), the one
    nearest ``defaults`` (each parameter's distance relative to its searched range), so
    a flat curve leaves a parameter where it was instead of at the grid's edge."""
    best = min(t.der(uris) for t in trials)
    tied = [t for t in trials if t.der(uris) <= best + 1e-9]
    spans = {
        k: (max(t.params[k] for t in trials) - min(t.params[k] for t in trials)) or 1.0
        for k in trials[0].params
    }

    def distance(t: Trial) -> float:
        return sum(abs(v - defaults.get(k, v)) / spans[k] for k, v in t.params.items())

    return min(tied, key=distance)


def cross_validate(
    trials: Sequence[Trial],
    folds: int | None = None,
    defaults: Mapping[str, float] | None = None,
) -> CrossValidation:
    """Choose the setting with the lowest corpus DER, cross-validated over the files.

    ``folds``: number of folds (files dealt round-robin in sorted order); None or more
    than the files: one file per fold (leave-one-out). Ties go to the setting nearest
    ``defaults`` (default :data:`DEFAULTS`, the diarizer's CAM++ defaults).
    """
    if not trials:
        raise ParameterError("nothing to choose from: no trials")
    near = DEFAULTS if defaults is None else defaults
    uris = sorted(trials[0].errors)
    k = len(uris) if folds is None else max(2, min(folds, len(uris)))
    chosen = _best(trials, None, near)
    out: list[tuple[list[str], dict[str, float], float]] = []
    err = total = 0.0
    if len(uris) >= 2:
        for f in range(k):
            held = uris[f::k]
            train = [u for u in uris if u not in held]
            pick = _best(trials, train, near)
            out.append((held, pick.params, pick.der(held)))
            err += sum(pick.errors[u][0] for u in held)
            total += sum(pick.errors[u][1] for u in held)
    held_out = err / total if total > 0 else math.nan
    return CrossValidation(chosen, out, held_out)
