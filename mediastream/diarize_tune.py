"""What ``mediastream diarize-tune`` runs: recordings + reference RTTM -> a profile.

:func:`load_recordings` pairs audio files with their references (by file id: the RTTM's
second column is the audio file's name without its extension), :func:`tune` scores a
grid of thresholds with cached models and cross-validates the choice
(:mod:`operators.speaker.tuning`), and :func:`profile_header` /
:func:`operators.speaker.profile.write_profile` write the result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stream import ParameterError

__all__ = ["TuneResult", "curves", "load_recordings", "tune"]


def _decode(path: str, rate: int) -> Any:
    from stream import AudioChunk, AudioFormat, FileSource

    parts = [
        item.data[0]
        for _, item in FileSource(path, audio=AudioFormat(rate, 1, 65536), video=False)
        if isinstance(item, AudioChunk)
    ]
    if not parts:
        raise ParameterError(f"{path!r} has no audio")
    return np.concatenate(parts).astype(np.float32, copy=False)


def load_recordings(
    audio: Sequence[str],
    rttm: Sequence[str],
    uem: Sequence[str] = (),
    *,
    rate: int = 16000,
    decode: bool = True,
) -> list[Any]:
    """``LabelledRecording`` per audio file, its reference found by file id in the RTTM
    files (and its scored part in the UEM files, when given). ParameterError naming the
    file without a reference, or two audio files with one file id. ``decode=False``
    checks the pairing only (the audio stays empty)."""
    from operators.speaker.tuning import LabelledRecording, read_rttm, read_uem

    refs: dict[str, Any] = {}
    for path in rttm:
        refs.update(read_rttm(path))
    uems: dict[str, Any] = {}
    for path in uem:
        uems.update(read_uem(path))
    out = []
    seen: dict[str, str] = {}
    for path in audio:
        uri = "".join("_" if c.isspace() else c for c in Path(path).stem)
        if uri in seen:
            raise ParameterError(f"{seen[uri]!r} and {path!r} have the same file id {uri!r}")
        seen[uri] = path
        if uri not in refs:
            known = ", ".join(sorted(refs)[:8]) + (" ..." if len(refs) > 8 else "")
            raise ParameterError(
                f"no reference for {path!r}: the RTTM files have no file id {uri!r} "
                f"(they name {known})"
            )
        if uems and uri not in uems:
            raise ParameterError(f"no UEM line for {path!r} (file id {uri!r})")
        samples = _decode(path, rate) if decode else np.zeros(0, np.float32)
        out.append(LabelledRecording(uri, samples, rate, refs[uri], uems.get(uri)))
    return out


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` found.

    Attributes:
        default: the diarizer's defaults, scored.
        trials: every grid point, scored.
        cv: the cross-validated choice (``cv.chosen.params`` is the profile).
        grid: parameter -> values searched.
    """

    default: Any
    trials: list[Any]
    cv: Any
    grid: Mapping[str, Sequence[float]]


def tune(
    recordings: Sequence[Any],
    grid: Mapping[str, Sequence[float]],
    *,
    collar: float = 0.5,
    folds: int | None = None,
    device: str = "cpu",
    threads: int | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> TuneResult:
    """Score the defaults, then every point of ``grid``, on ``recordings`` (the
    streaming diarizer, segmentation-3.0 + CAM++, models run once per recording), and
    cross-validate the choice over ``folds`` folds (None: leave one file out)."""
    from operators.speaker import OnlineDiarizer, SegmentationModel, load_embedding_model
    from operators.speaker.tuning import cached_models, cross_validate, evaluate, search

    say = on_progress or (lambda _: None)
    say("loading models (segmentation-3.0, CAM++)")
    emb, seg = cached_models(
        load_embedding_model("campplus", device=device, threads=threads),
        SegmentationModel(device=device, threads=threads),
    )

    def make(params: dict[str, float]) -> Any:
        kwargs: dict[str, Any] = dict(params)
        return OnlineDiarizer(emb, segmentation=seg, **kwargs)

    seconds = sum(r.seconds for r in recordings)
    say(f"running the models over {len(recordings)} recordings ({seconds:.0f} s of audio)")

    def analysed(rec: Any, wall: float) -> None:
        say(f"  {rec.uri}: {rec.seconds:.0f} s in {wall:.1f} s")

    default = evaluate(recordings, make, {}, collar=collar, on_file=analysed)
    say(f"defaults: DER {100 * default.der():.1f} %")

    def progress(done: int, total: int, trial: Any, elapsed: float) -> None:
        left = elapsed / done * (total - done)
        shown = " ".join(f"{k}={v:g}" for k, v in trial.params.items())
        say(
            f"[{done}/{total}] {shown}: DER {100 * trial.der():.1f} % "
            f"({elapsed:.0f} s, about {left:.0f} s left)"
        )

    trials = search(recordings, make, grid, collar=collar, progress=progress)
    return TuneResult(default, trials, cross_validate(trials, folds), grid)


def curves(result: TuneResult) -> dict[str, list[tuple[float, float]]]:
    """Per parameter, DER (all recordings) at each of its values with the other
    parameters at the chosen setting: the curve the choice sits on."""
    chosen = result.cv.chosen.params
    out: dict[str, list[tuple[float, float]]] = {}
    for name in result.grid:
        points = []
        for t in result.trials:
            if all(t.params[k] == v for k, v in chosen.items() if k != name):
                points.append((t.params[name], t.der()))
        out[name] = sorted(points)
    return out


def check_paths(audio: Sequence[str], rttm: Sequence[str], out: str) -> None:
    """The profile must not overwrite an input."""
    from stream import check_output_paths

    check_output_paths(
        [(f"input {p!r}", p) for p in [*audio, *rttm]], [("profile", os.fspath(out))]
    )
