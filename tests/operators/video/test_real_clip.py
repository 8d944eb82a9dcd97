"""Alignment on variants of a real, low-motion clip (the talking head), through files.

A 320x180 cut of the real clip is written with PyAV; fg/bg pairs are cut from it
(region, scale, gamma, noise, frame rates, start, dropped frames: see
:mod:`tests.operators.video.real_pairs`), written as H.264 files and aligned by the
graph of ``mediastream align``. These variants were not used to tune the aligner.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mediastream.align import align_setup, build_align_graph
from operators.video import AlignPair, AlignRegistration, VideoAlign
from operators.video.fingerprint import gray_of
from sinks import MemorySink
from stream import Event, VideoFrame, VideoSpec

from .pairs import write_video
from .real_pairs import REAL_CLIP, Pair, Variant, load_clip, make_pair

pytestmark = pytest.mark.skipif(not REAL_CLIP.exists(), reason=f"{REAL_CLIP} is not here")

# Source frames 24..167 (6 s) of the clip at 320x180: the shot pans slowly over a dark
# room; the face moves little.
CUT = (24, 168)

HELD_OUT = {
    "scale 0.6 gamma 0.8 noise 6, 24->30, bg drops": Variant(
        crop=(60, 30, 200, 120), scale=0.6, gamma=0.8, noise=6.0, bg_fps=24, fg_fps=30,
        start_s=0.8, fg_s=3.0, bg_drop=0.03, seed=11,
    ),
    "scale 0.75 gamma 1.3 noise 4, 25->24, fg drops": Variant(
        crop=(100, 50, 180, 110), scale=0.75, gamma=1.3, noise=4.0, bg_fps=25, fg_fps=24,
        start_s=1.2, fg_s=3.0, fg_drop=0.04, seed=12,
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """The cut, written with PyAV and decoded back (what the variants are made of)."""
    frames = load_clip(REAL_CLIP, width=320, max_frames=CUT[1])[CUT[0] :]
    path = write_video(tmp_path_factory.mktemp("cut") / "cut.mp4", frames, 24)
    return load_clip(path, width=320)


def _align(tmp_path: Path, pair: Pair) -> tuple[AlignRegistration, list[int]]:
    v = pair.variant
    fg = write_video(tmp_path / "fg.mp4", pair.fg, round(v.fg_fps))
    bg = write_video(tmp_path / "bg.mp4", pair.bg, round(v.bg_fps))
    setup = align_setup(fg, bg)
    assert setup.factor == 1.0
    graph = build_align_graph(setup)
    sink = MemorySink()
    graph.connect("align", graph.add(sink, "memory"))
    graph.run_sync()
    payloads = [e.payload for e in sink.items if isinstance(e, Event)]
    regs = [p for p in payloads if isinstance(p, AlignRegistration)]
    pairs = [p for p in payloads if isinstance(p, AlignPair)]
    assert len(regs) == 1
    assert [p.fg_index for p in pairs] == list(range(len(pair.fg)))
    return regs[0], [p.bg_index for p in pairs]


@pytest.mark.parametrize("name", list(HELD_OUT))
def test_real_low_motion_clip_is_aligned_exactly(
    tmp_path: Path, cut: list[np.ndarray], name: str
) -> None:
    v = HELD_OUT[name]
    pair = make_pair(cut, v)
    reg, pred = _align(tmp_path, pair)
    x, y, w, h = v.crop
    # The targets. Registration within a pixel and 1 % in size: both variants
    # come within 0.2 px and 0.3 % since the final fit over 4 s of fg (before it, the
    # second's width came out 1.9 % large: a dark, low-contrast crop whose scale frames
    # a second apart barely pin down).
    assert abs(reg.x - x) <= 1.0 and abs(reg.y - y) <= 1.0, reg
    assert reg.width == pytest.approx(w, rel=0.01), reg
    assert reg.height == pytest.approx(h, rel=0.01), reg
    # Every fg frame paired, mean error <= 0.3 and max <= 1 frame (errors to the
    # nearest bg frame of the same source frame). With the scale 1.9 % off, the second
    # variant's path lagged a frame at its fg drop (mean 0.33, max 2); now 0.06 / 1.
    err = pair.errors(pred)
    assert err.mean() <= 0.3 and err.max() <= 1, (err.mean(), err.max(), err.tolist())


def test_errors_count_from_the_nearest_true_bg_frame() -> None:
    # A 24 fps source shown at 60 fps repeats frames; a bg drop leaves a gap.
    src = [np.full((8, 8, 3), k, np.uint8) for k in range(24)]
    pair = make_pair(src, Variant(crop=(0, 0, 8, 8), bg_fps=60, fg_fps=24, start_s=0.25))
    truth = pair.truth()
    assert pair.fg_src[0] == 6 and truth[0].tolist() == [15, 16, 17]
    assert pair.errors([16] * len(truth))[0] == 0 and pair.errors([19] * len(truth))[0] == 2


def test_the_final_fit_pairs_its_frames_on_the_frame_rate(cut: list[np.ndarray]) -> None:
    # 60 -> 25 fps with drops on both sides, graded and noisy: a bg frame every 2.4
    # per fg frame, the face nearly still. Paired each on its own near the previous
    # one's pairing, the frames drifted up to 6 bg frames (2.4 source frames) from
    # their instant, to where the placement, a fraction of a pixel off, fitted
    # better; the fit then kept that offset. Paired together on the frame rate, each
    # stays within a source frame of its own.
    v = Variant(
        crop=(0, 46, 218, 116), scale=0.51, gamma=1.36, noise=6.0, bg_fps=60, fg_fps=25,
        start_s=0.76, bg_drop=0.03, fg_drop=0.04, seed=7,
    )  # fmt: skip
    pair = make_pair(cut, v)
    op = VideoAlign()
    fg = [VideoFrame(gray_of(f, "rgb24"), i, i * 40, Fraction(1, 1000), "gray")
          for i, f in enumerate(pair.fg)]  # fmt: skip
    bg = [VideoFrame(gray_of(b, "rgb24"), j, round(j * 1000 / 60), Fraction(1, 1000), "gray")
          for j, b in enumerate(pair.bg)]  # fmt: skip
    op.configure({"fg": VideoSpec(fg[0].width, fg[0].height, "gray", Fraction(25)),
                  "bg": VideoSpec(bg[0].width, bg[0].height, "gray", Fraction(60))})  # fmt: skip
    items = sorted([("fg", f) for f in fg] + [("bg", b) for b in bg],
                   key=lambda t: (t[1].time, t[0] == "bg"))  # fmt: skip
    for port, frame in items:
        op.process_port(port, frame)
    op.flush()
    pairs = op.registrar.polish_pairs
    assert len(pairs) == 24, pairs
    off = [int(pair.bg_src[j] - pair.fg_src[i]) for i, j in pairs]
    assert max(abs(o) for o in off) <= 1, off
    reg = op.registration
    assert reg is not None
    x, y, w, h = v.crop
    assert abs(reg.x - x) <= 0.5 and abs(reg.y - y) <= 0.5, reg
    assert reg.width == pytest.approx(w, rel=0.005), reg
    assert reg.height == pytest.approx(h, rel=0.005), reg
