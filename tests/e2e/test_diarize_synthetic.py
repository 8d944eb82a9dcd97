"""Diarization of synthetic 4-speaker conversations (espeak-ng + MBROLA voices) with
known turns, streaming versus offline clustering, and flat memory on a long stream."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from operators.speaker import OnlineDiarizer
from operators.speaker.offline import diarize_offline
from tests.operators.speaker import synth_speech
from tests.operators.speaker.support import (
    RATE,
    campplus,
    der,
    ge2e,
    sample_audio,
    sample_reference,
    segmentation,
    silero,
)

needs_voices = pytest.mark.skipif(
    not synth_speech.available(),
    reason="espeak-ng and the MBROLA voices are not installed (make installs them: "
    "target speech-synth-packages)",
)


@needs_voices
def test_light_mode_on_a_four_speaker_conversation(tmp_path) -> None:
    conv = synth_speech.conversation(24, seed=1)  # 73 s, 24 turns, 4 voices
    (tmp_path / "ref.rttm").write_text(conv.rttm("conv"))
    op = OnlineDiarizer(campplus(), mode="vad", vad=silero())
    events = op.run_all(conv.audio, RATE, chunk_frames=4096)
    d0, d5 = der(conv.reference(), events, 0.0), der(conv.reference(), events, 0.5)
    print(f"vad+CAM++ 4-speaker conversation DER collar 0: {d0:.4f}, collar 0.5: {d5:.4f}")
    assert op.num_speakers == 4
    assert d5 <= 0.05  # the target; measured 0.017


def test_streaming_is_within_3_points_of_offline_clustering() -> None:
    op = OnlineDiarizer(campplus(), segmentation=segmentation())
    ref = sample_reference()
    online = der(ref, op.run_all(sample_audio(), RATE, chunk_frames=4096), 0.5)
    offline = der(ref, diarize_offline(op, sample_audio()), 0.5)
    print(f"sample.wav DER collar 0.5: streaming {online:.4f}, offline {offline:.4f}")
    assert online <= offline + 0.03


@pytest.mark.slow
def test_memory_is_flat_on_a_long_stream() -> None:
    """Python-side memory (tracemalloc: NumPy arrays included) of the light mode after
    6 and after 12 minutes of speech is the same within 10 % (current and peak)."""
    from stream import AudioChunk

    x = sample_audio()
    op = OnlineDiarizer(ge2e(), mode="vad", vad="energy")
    op.run_all(x[: 10 * RATE], RATE, chunk_frames=4096)  # warm-up (lazy buffers)
    op.reset()
    marks = {}
    tracemalloc.start()
    try:
        for i in range(24):  # 24 x 30 s = 12 min
            for k in range(0, x.size, 4096):
                chunk = np.ascontiguousarray(x[None, k : k + 4096])
                op.process(AudioChunk(chunk, RATE, i * x.size + k))
            if i + 1 in (12, 24):
                marks[i + 1] = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (cur6, peak6), (cur12, peak12) = marks[12], marks[24]
    print(
        f"traced memory 6 min: {cur6 / 1e3:.0f} kB (peak {peak6 / 1e3:.0f} kB); "
        f"12 min: {cur12 / 1e3:.0f} kB (peak {peak12 / 1e3:.0f} kB)"
    )
    assert cur12 <= 1.1 * cur6 and peak12 <= 1.1 * peak6
