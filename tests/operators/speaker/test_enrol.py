"""Enrolment: reference embeddings from clips; turns carry the matched name and score."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from operators.speaker import OnlineDiarizer, embed_clip, enrol
from stream import ParameterError

from .support import RATE, campplus, der, sample_audio, sample_reference, segmentation

# speaker90 alone at 10.6-14.4 s, speaker91 alone at 22-27.8 s (sample.rttm).
ANN = (10.6, 14.4)
BOB = (22.0, 26.0)


def _clip(span: tuple[float, float]) -> np.ndarray:
    return sample_audio()[int(span[0] * RATE) : int(span[1] * RATE)]


def _write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())


def test_enrol_from_files_and_arrays_agree(tmp_path: Path) -> None:
    path = tmp_path / "ann.wav"
    _write_wav(path, _clip(ANN))
    refs = enrol(campplus(), {"ann": path, "bob": _clip(BOB)})
    assert set(refs) == {"ann", "bob"}
    np.testing.assert_allclose(np.linalg.norm(refs["ann"]), 1.0, atol=1e-5)
    # The file went through 16-bit PCM: nearly the array's embedding.
    assert float(refs["ann"] @ embed_clip(campplus(), _clip(ANN))) > 0.99
    assert float(refs["ann"] @ refs["bob"]) < 0.5


def test_turns_carry_enrolled_names() -> None:
    refs = enrol(campplus(), {"ann": _clip(ANN), "bob": _clip(BOB)})
    op = OnlineDiarizer(campplus(), segmentation=segmentation(), enrolled=refs)
    events = op.run_all(sample_audio(), RATE, chunk_frames=8192)
    assert op.labels[:2] == ["ann", "bob"]
    named = [e for e in events if e.payload.name]
    assert len(named) >= 0.8 * len(events)
    for e in named:
        assert e.payload.name_score >= op.name_threshold
    ref = sample_reference().rename_labels({"speaker90": "ann", "speaker91": "bob"})
    # Names are scored as labels: the identification error is the DER with no remapping.
    from pyannote.metrics.identification import IdentificationErrorRate

    from .support import annotation

    ier = IdentificationErrorRate(collar=0.5, skip_overlap=False)(ref, annotation(events))
    print(f"identification error rate (collar 0.5): {ier:.4f}")
    assert ier <= 0.05
    assert der(ref, events, 0.5) <= 0.05


def test_unknown_voice_gets_no_name() -> None:
    refs = enrol(campplus(), {"ann": _clip(ANN)})
    op = OnlineDiarizer(campplus(), segmentation=segmentation(), enrolled=refs)
    events = op.run_all(sample_audio()[int(21.8 * RATE) : int(27.8 * RATE)], RATE)
    assert events and all(e.payload.name is None for e in events)
    assert all(e.payload.name_score is not None and e.payload.name_score < 0.5 for e in events)


@pytest.mark.parametrize(
    ("clips", "match"),
    [
        ({"ann": np.zeros(RATE * 2, np.float32)}, "silent"),
        ({"ann": np.ones(100, np.float32)}, "0.25 s"),
        ({"two words": np.ones(RATE, np.float32)}, "non-empty word"),
    ],
)
def test_bad_clips(clips: dict[str, np.ndarray], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        enrol(campplus(), clips)


def test_missing_clip_file(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"nope\.wav"):
        enrol(campplus(), {"ann": tmp_path / "nope.wav"})
