"""The real-voice corpora of ``bench/diarize_corpora.py``: fixed, split without shared
voices, references where the speech is, and the scoring adds up."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

import diarize_corpora as dc  # noqa: E402

needs_data = pytest.mark.skipif(
    not (dc.DATA_DIR / "librispeech-train-clean-100").is_dir(),
    reason=f"no real recordings under {dc.DATA_DIR} (set MEDIASTREAM_DATA)",
)


@needs_data
def test_tune_and_held_out_voices_are_disjoint() -> None:
    tune = {p.name.split("-")[0] for p in dc.libri_voices("tune")}
    held = {p.name.split("-")[0] for p in dc.libri_voices("held")}
    assert len(tune) >= 60 and len(held) >= 60
    assert not tune & held


@needs_data
@pytest.mark.parametrize("seed", [0, 3, 104])
def test_conversation_is_fixed_by_its_seed_and_real(seed: int) -> None:
    half = "tune" if seed < 100 else "held"
    voices = dc.libri_voices(half)
    a, b = dc.libri_conversation(seed, voices), dc.libri_conversation(seed, voices)
    assert np.array_equal(a.audio, b.audio)
    assert a.num_speakers == 2 + seed % 5
    ref = a.reference
    speech = ref.get_timeline().support()
    # The reference is where the speech is: cells inside are loud, cells outside are at
    # the noise floor (-60 dBFS) or the quiet parts of a turn.
    cells = a.audio[: a.audio.size // 160 * 160].reshape(-1, 160)
    db = 10 * np.log10(np.mean(cells.astype(np.float64) ** 2, axis=1) + 1e-20)
    inside = np.zeros(db.size, bool)
    for seg in speech:
        inside[int(seg.start * 100) : int(seg.end * 100)] = True
    assert np.median(db[inside]) > -40
    assert np.median(db[~inside]) < -50
    # Every voice speaks several seconds (utterances of >= 8 s, cut into turns).
    assert min(ref.label_duration(label) for label in ref.labels()) >= 5.0


@needs_data
def test_some_turns_overlap() -> None:
    voices = dc.libri_voices("tune")
    overlaps = [
        dc.libri_conversation(s, voices).reference.get_overlap().duration() for s in range(5)
    ]
    assert sum(o > 0.2 for o in overlaps) >= 2


@needs_data
def test_corpus_score_components_add_up() -> None:
    from pyannote.core import Annotation, Segment

    rec = dc.libri_conversation(0, dc.libri_voices("tune"))
    hyp = Annotation(uri=rec.uri)
    labels = rec.reference.labels()
    for seg, _ in rec.reference.itertracks():
        # Everything given to the first voice: confusion only, no miss or false alarm.
        hyp[Segment(seg.start, seg.end)] = labels[0]
    score = dc.Score()
    score.add(rec, hyp, wall=1.0)
    m = score.summary("x")
    assert m["x_fa0"] == pytest.approx(0.0, abs=1e-9)
    assert m["x_miss0"] < 0.05  # only where the reference overlaps itself
    assert m["x_conf0"] > 0.2
    assert m["x_der0"] == pytest.approx(m["x_fa0"] + m["x_miss0"] + m["x_conf0"])
    assert m["x_count_exact"] == 0.0 and m["x_count_pm1"] == 1.0  # 1 label for 2 voices
    assert m["x_xrt"] == pytest.approx(rec.seconds)


@needs_data
@pytest.mark.parametrize("seed", [0, 3])
def test_a_turn_unlike_the_rest_of_its_voice_is_not_a_speaker(seed: int) -> None:
    """Real LibriSpeech voices (tune-half conversations 0: two voices, 3: five): without
    the recurrence rule the streaming diarizer gives one voice a second label, a single
    turn 0.3 from the voice's centroid; with the default (CAM++ 0.40, 2 s) it waits for
    that cluster to come back, which it never does, and the count is exact."""
    from operators.speaker import OnlineDiarizer
    from operators.speaker.tuning import cached_models

    from .support import campplus, segmentation

    rec = dc.libri_conversation(seed, dc.libri_voices("tune"))
    emb, seg = cached_models(campplus(), segmentation())

    def labels(**kw: float) -> int:
        op = OnlineDiarizer(emb, segmentation=seg, **kw)
        events = op.run_all(rec.audio, dc.RATE, chunk_frames=dc.CHUNK)
        return len({e.payload.speaker for e in events if e.kind == "speaker_turn"})

    assert labels() == rec.num_speakers
    assert labels(recurrence_distance=0.0) == rec.num_speakers + 1
