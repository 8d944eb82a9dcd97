"""Enrolment: reference embeddings of known speakers from short clips.

``enrol(model, {"ann": "ann.wav", "bob": bob_samples})`` returns name -> unit
embedding, to pass as ``OnlineDiarizer(enrolled=...)``: the names are seeded as the
first speakers and turns whose speaker matches one (cosine similarity at least
``name_threshold``) carry its name and score.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .backends import EmbeddingModel
from .windows import RollingWindows

__all__ = ["embed_clip", "enrol", "load_clip"]

_SILENT_DB = -45.0  # windows quieter than this (RMS dBFS) do not count


def load_clip(
    path: str | os.PathLike[str], sample_rate: int, max_s: float = 120.0
) -> npt.NDArray[np.float32]:
    """Decode a reference clip (any FFmpeg-readable file) to mono float32 at ``sample_rate``.

    Clips are short: at most ``max_s`` seconds are read (default 120).
    """
    from stream import AudioChunk, AudioFormat, FileSource

    src = FileSource(path, audio=AudioFormat(sample_rate, 1, 16384), video=False, duration=max_s)
    parts: list[npt.NDArray[np.float32]] = []
    src.open(["audio"])
    try:
        while batch := src.read(16):
            parts.extend(item.data[0] for _, item in batch if isinstance(item, AudioChunk))
    finally:
        src.close()
    if not parts:
        raise ParameterError(f"enrolment clip {str(path)!r} holds no audio")
    return np.concatenate(parts)


def embed_clip(model: EmbeddingModel, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """One unit embedding for a clip: the mean of its windows (``model.window_s``, half
    overlapping) that are not silent; a clip shorter than a window is embedded whole."""
    x = np.asarray(samples, np.float32).reshape(-1)
    if x.size < model.sample_rate // 4:
        raise ParameterError(
            f"enrolment clip is {x.size / model.sample_rate:.2f} s long; give at least 0.25 s "
            "(a few seconds of speech work best)"
        )
    win = round(model.window_s * model.sample_rate)
    if x.size <= win:
        windows = x[None, :]
    else:
        rw = RollingWindows(win, win // 2)
        windows = rw.push(x, 0).samples
    rms_db = 10 * np.log10(np.mean(np.square(windows, dtype=np.float64), axis=1) + 1e-20)
    voiced = windows[rms_db >= _SILENT_DB]
    if not voiced.shape[0]:
        raise ParameterError(f"enrolment clip is silent (every window below {_SILENT_DB} dBFS)")
    e = model.embed(voiced).mean(axis=0)
    out: npt.NDArray[np.float32] = (e / max(float(np.linalg.norm(e)), 1e-12)).astype(np.float32)
    return out


def enrol(
    model: EmbeddingModel,
    clips: Mapping[str, str | os.PathLike[str] | npt.NDArray[np.float32]],
) -> dict[str, npt.NDArray[np.float32]]:
    """name -> reference embedding, from a file path or mono samples at the model's rate."""
    out: dict[str, npt.NDArray[np.float32]] = {}
    for name, clip in clips.items():
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ParameterError(f"enrolment name must be a non-empty word, got {name!r}")
        samples = clip if isinstance(clip, np.ndarray) else load_clip(clip, model.sample_rate)
        try:
            out[name] = embed_clip(model, samples)
        except ParameterError as exc:
            raise ParameterError(f"enrolling {name!r}: {exc}") from None
    return out
