"""VideoAlign memory stays flat with the length of the input (band x lag, not video length)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from fractions import Fraction

import cv2
import numpy as np

from operators.video import VideoAlign
from stream import VideoFrame, VideoSpec

from .pairs import PairSpec, Scene, fg_image

START = 48  # bg frame shown by fg frame 0 (2 s at 24 fps)


def _stream(bg_frames: int) -> Iterator[tuple[str, VideoFrame]]:
    """Frames made on the fly, in time order: bg frame k, then fg frame k."""
    spec = PairSpec(bg_size=(128, 72), bg_frames=bg_frames, crop=(24, 12, 80, 46), scale=1.0,
                    cut_at=None)  # fmt: skip
    scene = Scene(spec)
    rng = np.random.default_rng(1)
    tb = Fraction(1, 24)
    for k in range(bg_frames):
        bg = scene.frame(k)
        yield "bg", VideoFrame(cv2.cvtColor(bg, cv2.COLOR_RGB2GRAY), k, k, tb, "gray")
        if START + k < bg_frames:
            fg = fg_image(spec, scene.frame(START + k), rng)
            yield "fg", VideoFrame(cv2.cvtColor(fg, cv2.COLOR_RGB2GRAY), k, k, tb, "gray")


def _peak(bg_frames: int) -> tuple[int, int, int]:
    op = VideoAlign(max_lag=30)
    op.configure(
        {
            "fg": VideoSpec(80, 46, "gray", Fraction(24)),
            "bg": VideoSpec(128, 72, "gray", Fraction(24)),
        }
    )
    frames = _stream(bg_frames)
    # Warm up (registration done: it waits for 4 s of fg after the match, its final
    # fit; buffers at their working size), then trace the rest.
    pairs = 0
    for _ in range(2 * 200):
        port, f = next(frames)
        pairs += sum(e.kind == "align_pair" for e in op.process_port(port, f))
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        errors = 0
        for port, f in frames:
            for e in op.process_port(port, f):
                assert e.kind == "align_pair", e  # the registration came in the warm-up
                pairs += 1
                errors += e.payload.bg_index != e.payload.fg_index + START
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    pairs += len(op.flush())
    return peak, pairs, errors


def test_peak_memory_is_flat_between_a_short_and_a_4x_longer_pair() -> None:
    short, n_short, err_short = _peak(300)
    long, n_long, err_long = _peak(1200)
    assert (n_short, n_long) == (300 - START, 1200 - START)
    assert err_short == 0 and err_long == 0
    # Same peak within noise: nothing grows with length (900 more frames of 128x72
    # grey would be 8 MB; their thumbnails alone 2 MB).
    assert long < 1.25 * short + 256 * 1024, (short, long)
