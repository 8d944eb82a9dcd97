"""Fingerprint: thumbnail feature, packed hashes, histogram, the operator."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.video import Fingerprint, FrameFingerprint, FrameFingerprinter
from operators.video.fingerprint import color_histogram, pack_hash, thumbnail_cost
from stream import IncompatibleInputError, ParameterError, VideoFrame, VideoSpec

from .pairs import PairSpec, Scene


def _frames(n: int) -> list[VideoFrame]:
    scene = Scene(PairSpec(bg_size=(96, 54)))
    return [VideoFrame(scene.frame(i), i, 1000 * i, Fraction(1, 24000)) for i in range(n)]


def test_thumbnail_is_zero_mean_unit_norm_and_grade_invariant() -> None:
    fp = FrameFingerprinter()
    img = _frames(1)[0].data
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    t = fp.thumb(gray)
    assert t.shape == (32 * 18,) and t.dtype == np.float32
    assert abs(float(t.mean())) < 1e-6
    assert float(np.linalg.norm(t)) == pytest.approx(1.0, abs=1e-5)
    graded = np.clip(gray.astype(np.float32) * 0.7 + 30, 0, 255).astype(np.uint8)
    assert thumbnail_cost(t, fp.thumb(graded)) < 0.005
    assert thumbnail_cost(t, t) == pytest.approx(0.0, abs=1e-5)
    assert thumbnail_cost(t, -t) == pytest.approx(2.0, abs=1e-5)


def test_cut_flag_from_the_phash_distance_to_the_previous_frame() -> None:
    spec = PairSpec(bg_size=(96, 54), cut_at=6)
    scene = Scene(spec)
    frames = [VideoFrame(scene.frame(i), i, i, Fraction(1, 24)) for i in range(10)]
    cuts = [e.payload.cut for e in Fingerprint().run_all(frames)]  # type: ignore[union-attr]
    assert cuts == [False] * 6 + [True] + [False] * 3
    with pytest.raises(ParameterError, match="cut_bits"):
        Fingerprint(cut_bits=0)


def test_flat_frame_gives_a_zero_thumbnail() -> None:
    t = FrameFingerprinter().thumb(np.full((20, 30), 77, np.uint8))
    assert not t.any()


def test_hashes_are_opencv_hashes_packed_little_endian() -> None:
    frame = _frames(1)[0]
    fp = FrameFingerprinter()(frame.data, "rgb24", 0)
    gray = cv2.cvtColor(frame.data, cv2.COLOR_RGB2GRAY)
    raw = cv2.img_hash.pHash(gray)
    assert fp.phash == int.from_bytes(raw.tobytes(), "little")
    assert fp.ahash == pack_hash(cv2.img_hash.averageHash(gray))
    assert 0 <= fp.phash < 2**64


def test_histogram_sums_to_one_per_channel_and_counts_bins() -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2, :, 0] = 255  # half the red channel in the top bin
    h = color_histogram(img, 16)
    assert h.shape == (48,)
    assert h.reshape(3, 16).sum(axis=1) == pytest.approx([1, 1, 1])
    assert h[15] == pytest.approx(0.5) and h[0] == pytest.approx(0.5)
    assert h[16] == pytest.approx(1.0) and h[32] == pytest.approx(1.0)


def test_region_equals_fingerprint_of_the_crop_and_formats_agree() -> None:
    frame = _frames(1)[0]
    fp = FrameFingerprinter()
    region = (10, 5, 60, 34)
    crop = np.ascontiguousarray(frame.data[5:39, 10:70])
    assert fp(frame.data, "rgb24", 3, region) == fp(crop, "rgb24", 3)
    bgr = np.ascontiguousarray(frame.data[..., ::-1])
    gray = cv2.cvtColor(frame.data, cv2.COLOR_RGB2GRAY)
    a, b, c = fp(frame.data, "rgb24", 0), fp(bgr, "bgr24", 0), fp(gray, "gray", 0)
    assert np.array_equal(a.thumb, b.thumb) and np.array_equal(a.thumb, c.thumb)
    assert a.phash == b.phash == c.phash


def test_operator_emits_one_event_per_frame_at_its_pts() -> None:
    frames = _frames(5)
    events = Fingerprint().run_all(frames)
    assert [e.kind for e in events] == ["fingerprint"] * 5
    assert [(e.start, e.end, e.time_base) for e in events] == [
        (f.pts, f.pts, f.time_base) for f in frames
    ]
    assert all(isinstance(e.payload, FrameFingerprint) for e in events)
    assert [e.payload.index for e in events] == list(range(5))
    # Moving content: adjacent frames differ, the same frame does not.
    t = [e.payload.thumb for e in events]
    assert thumbnail_cost(t[0], t[1]) > 1e-3
    assert '"kind":"fingerprint"' in events[0].to_json()


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_any_arrival_chunking_gives_the_same_fingerprints(sizes: list[int]) -> None:
    frames = _frames(8)
    whole = Fingerprint().run_all(frames)
    op = Fingerprint()
    op.configure({"in": VideoSpec(96, 54)})
    out = []
    pos = 0
    for size in sizes * 8:
        for f in frames[pos : pos + size]:
            out.extend(op.process(f))
        pos += size
    out.extend(op.flush())
    assert out == whole


@pytest.mark.parametrize(
    "kwargs",
    [
        {"thumb_width": 2},
        {"thumb_height": 1000},
        {"histogram_bins": 12},
        {"region": (0, 0, 0, 5)},
        {"region": (-1, 0, 5, 5)},
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError, match=next(iter(kwargs))):
        Fingerprint(**kwargs)  # type: ignore[arg-type]


def test_region_outside_the_frame_is_rejected_at_configure() -> None:
    with pytest.raises(IncompatibleInputError, match="outside"):
        Fingerprint(region=(50, 0, 60, 10)).configure({"in": VideoSpec(96, 54)})
    with pytest.raises(IncompatibleInputError, match="yuv"):
        Fingerprint().configure({"in": VideoSpec(96, 54, "yuv420p")})
