"""Synthetic 4-speaker conversations (espeak-ng + MBROLA voices) as diarization test data,
the issue's DER targets on them, streaming versus offline clustering, and flat memory
on a long stream.

The data are checked first: the reference turns are where the speech is, and a
speaker-embedding model tells the four voices apart on every clean window. These
voices are hard for segmentation-3.0: it puts two of them under one local speaker in
about a third of its 5 s buffers, and their CAM++ centroids are 0.39-0.60 apart, below
the centroid clustering's new-speaker distance (0.62): centroid clustering found two
speakers of four (43-45 % DER). The default linkage clustering (history re-clustered
by average linkage, voices confirmed after a few buffers, scores of the buffers not
yet final moved to a new speaker) is what meets the target.
"""

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
)

SEEDS = (7, 8, 9, 10, 11)  # held out: not used to tune LinkageClustering's defaults

needs_voices = pytest.mark.skipif(
    not synth_speech.available(),
    reason="espeak-ng and the MBROLA voices are not installed (make installs them: "
    "target speech-synth-packages)",
)


@needs_voices
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_turns_are_where_the_speech_is(seed: int) -> None:
    """Every 10 ms cell outside the reference turns is at the noise floor (< -60 dBFS),
    the turns are separated by pauses, and most cells inside them carry speech."""
    conv = synth_speech.conversation(20, seed=seed)
    n = conv.audio.size // 160
    rms_db = 10 * np.log10(np.mean(conv.audio[: n * 160].reshape(n, 160) ** 2, axis=1) + 1e-20)
    inside = np.zeros(n, bool)
    for start, end, _ in conv.turns:
        inside[int(start * 100) : int(np.ceil(end * 100))] = True
    assert len({v for *_, v in conv.turns}) == 4
    assert all(b[0] - a[1] >= 0.29 for a, b in zip(conv.turns, conv.turns[1:], strict=False))
    assert rms_db[~inside].max() < -60.0
    assert np.mean(rms_db[inside] > -40.0) > 0.7


@needs_voices
def test_the_four_voices_are_distinct_speakers() -> None:
    """CAM++ embeddings of clean 1.5 s windows (every sentence of every voice, 50 %
    overlap): each window is nearer its own voice's centroid than any other voice's,
    with a margin (measured: own <= 0.27, nearest other >= 0.43)."""
    model = campplus()
    win = round(model.window_s * RATE)
    windows, labels = [], []
    for v, voice in enumerate(synth_speech.VOICES):
        for text in synth_speech.SENTENCES:
            u = synth_speech.utterance(voice, text)
            for s in range(0, u.size - win + 1, win // 2):
                windows.append(u[s : s + win])
                labels.append(v)
    lab = np.array(labels)
    emb = model.embed(np.stack(windows))
    cents = np.stack([emb[lab == v].mean(axis=0) for v in range(len(synth_speech.VOICES))])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    dist = 1.0 - emb @ cents.T  # (windows, voices)
    own = dist[np.arange(lab.size), lab]
    other = np.where(np.eye(len(cents), dtype=bool)[lab], np.inf, dist).min(axis=1)
    print(
        f"{lab.size} windows: distance to own voice <= {own.max():.3f}, to the nearest "
        f"other voice >= {other.min():.3f}"
    )
    assert np.bincount(lab).min() >= 20
    assert (other - own).min() > 0.1


@needs_voices
@pytest.mark.slow  # segmentation + CAM++, streaming and offline, five 60 s conversations
def test_four_speaker_conversations_meet_the_der_target() -> None:
    """The issue's targets on synthetic 4-speaker conversations, default settings
    (segmentation-3.0 + CAM++, linkage clustering), streamed in 4096-frame chunks:
    DER at collar 0.5 <= 5 % over the set (errors summed over conversations, as DER is
    reported for a corpus), all four voices found in each, and streaming within 3
    points of offline clustering of the same embeddings. SEEDS were not used to
    choose the clustering's parameters (seeds 1-6 were). Per conversation DER is not
    bounded here: the first turns of a voice can still go to another speaker when
    the stream starts with several voices in one 5 s buffer (measured 0-5.8 % on
    these seeds, up to 7.1 % on 20 held-out conversations; bench/README.md)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    from tests.operators.speaker.support import annotation

    online = DiarizationErrorRate(collar=0.5, skip_overlap=False)
    offline = DiarizationErrorRate(collar=0.5, skip_overlap=False)
    per, found = [], []
    for seed in SEEDS:
        conv = synth_speech.conversation(20, seed=seed)
        op = OnlineDiarizer(campplus(), segmentation=segmentation())
        ref = conv.reference()
        events = op.run_all(conv.audio, RATE, chunk_frames=4096)
        per.append(online(ref, annotation(events), uri=f"seed{seed}"))
        off = diarize_offline(op, conv.audio, clustering="agglomerative")
        offline(ref, annotation(off), uri=f"seed{seed}")
        found.append(op.num_speakers)
    print(
        f"seeds {SEEDS}: streaming DER {abs(online):.4f} (per conversation "
        f"{' '.join(f'{d:.4f}' for d in per)}), offline {abs(offline):.4f}, speakers {found}"
    )
    assert abs(online) <= 0.05
    assert found == [4] * len(SEEDS)
    assert abs(online) <= abs(offline) + 0.03


def test_streaming_is_within_3_points_of_offline_clustering() -> None:
    op = OnlineDiarizer(campplus(), segmentation=segmentation())
    ref = sample_reference()
    online = der(ref, op.run_all(sample_audio(), RATE, chunk_frames=4096), 0.5)
    offline = der(ref, diarize_offline(op, sample_audio(), clustering="agglomerative"), 0.5)
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
