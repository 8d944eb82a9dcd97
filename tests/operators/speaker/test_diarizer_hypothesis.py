"""OnlineDiarizer chunk invariance against random chunkings (hypothesis), both modes.

The fixed-chunking tests in test_diarizer.py cut the input at a few seeded random
points; here hypothesis draws the chunkings with ``tests.chunking.cut_points`` (up to
40 cuts anywhere, and in about half the examples a run of up to 8 one-frame chunks), and
a stream start offset. Each example runs a whole diarizer over 10 s of pyannote's
``sample.wav`` (6-16 s: both speakers, six changes), so examples are few
(``max_examples`` below) and have no deadline. An example's cost is mostly the models'
forward passes over the windows and buffers, whose number a chunking does not change
(small chunks only make them batches of one), so one-frame chunks inside a chunking
are cheap; what is not drawn is the extreme of cutting all 10 s into one-frame chunks
(160 000 ``process`` calls of per-chunk Python, minutes per example). The shrinker
reports the smallest failing chunking if one exists.

The chunks go through ``process`` one by one, or through ``process_many`` in groups of
1, 3 or 16 (what the runtime does with the chunks queued before a heavy node). The
output is compared with the whole input's (one chunk, start 0, shifted by the offset)
with the tolerance of the fixed-chunking tests: turns (start, end, speaker) identical,
confidences within 1e-3 (batched and unbatched forward passes differ by float noise).
Light mode: silero-vad + GE2E; segmentation mode: segmentation-3.0 + CAM++.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.speaker import OnlineDiarizer
from stream import AudioSpec, Item
from tests.chunking import chunk_audio, cut_points

from .support import RATE, campplus, ge2e, sample_audio, segmentation, silero

AUDIO = slice(6 * RATE, 16 * RATE)
STARTS = st.sampled_from([0, 1, 12345, 3600 * RATE])  # stream start offsets, frames
GROUPS = st.sampled_from([0, 1, 3, 16])  # 0: process() per chunk, else process_many groups


def _make(mode: str) -> OnlineDiarizer:
    if mode == "vad":
        return OnlineDiarizer(ge2e(), mode="vad", vad=silero())
    return OnlineDiarizer(campplus(), segmentation=segmentation())


def _audio() -> np.ndarray:
    return np.ascontiguousarray(sample_audio()[AUDIO])


@functools.cache
def _whole(mode: str) -> tuple[tuple[tuple[int, int, str], ...], tuple[float, ...]]:
    events = _make(mode).run_all(_audio(), RATE)
    turns = [e for e in events if e.kind == "speaker_turn"]
    assert len({e.payload.speaker for e in turns}) >= 1
    return (
        tuple((e.start, e.end, e.payload.speaker) for e in turns),
        tuple(e.payload.confidence for e in turns),
    )


def _feed(op: OnlineDiarizer, chunks: list[Any], group: int) -> list[Item]:
    op.configure({"in": AudioSpec(RATE, 1)})
    out: list[Item] = []
    if group == 0:
        for c in chunks:
            out += op.process(c)
    else:
        for i in range(0, len(chunks), group):
            out += op.process_many(chunks[i : i + group])
    return out + list(op.flush())


def _check(mode: str, cuts: list[int], start: int, group: int) -> None:
    x = _audio()
    events: list[Any] = _feed(_make(mode), chunk_audio(x[None, :], RATE, cuts, start), group)
    turns = [e for e in events if e.kind == "speaker_turn"]
    want, conf = _whole(mode)
    assert want, "the whole input gives no turns: nothing to compare"
    got = [(e.start - start, e.end - start, e.payload.speaker) for e in turns]
    assert got == list(want), (cuts, start, group)
    np.testing.assert_allclose([e.payload.confidence for e in turns], conf, atol=1e-3)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cuts=cut_points(10 * RATE), start=STARTS, group=GROUPS)
def test_light_mode_is_chunk_invariant(cuts: list[int], start: int, group: int) -> None:
    _check("vad", cuts, start, group)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cuts=cut_points(10 * RATE), start=STARTS, group=GROUPS)
def test_segmentation_mode_is_chunk_invariant(cuts: list[int], start: int, group: int) -> None:
    _check("segmentation", cuts, start, group)
