"""CompositeSink: the alignment composite written in the alignment's own run.

The reference is the former two-pass writer (``write_composite``, run after the graph
from the pairs; kept here verbatim but for the encoder settings) and frames are
compared losslessly (FFV1, RGB), so "equal" means every pixel of every frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from mediastream.align import AlignSetup, align_setup, build_align_graph
from mediastream.composite import CompositeSink, composite_region
from stream import (
    Event,
    EventSpec,
    IncompatibleInputError,
    NodeError,
    ParameterError,
    VideoSpec,
)
from tests.operators.video.pairs import PairSpec, write_pair

CODEC, PIXEL_FORMAT = "ffv1", "bgr0"  # lossless RGB


def _two_pass_composite(
    setup: AlignSetup,
    pairs: Iterable[tuple[int, int]],
    region: tuple[float, float, float, float],
    out: Path,
) -> Path:
    """The former ``mediastream.align.write_composite`` (a second decoding pass)."""
    from sinks.video_file import VideoFileSink
    from stream import VideoFrame

    bw, bh = setup.bg_size
    x, y, w, h = region
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(bw, round(x + w)), min(bh, round(y + h))
    with av.open(setup.fg_path) as fgc, av.open(setup.bg_path) as bgc:
        fgs, bgs = fgc.streams.video[0], bgc.streams.video[0]
        rate = Fraction(fgs.average_rate or fgs.guessed_rate or 25)
        sink = VideoFileSink(out, frame_rate=rate, codec=CODEC, pixel_format=PIXEL_FORMAT)
        tb = Fraction(fgs.time_base or Fraction(1, 90000))
        sink.configure({"in": VideoSpec(bw, bh, "rgb24", rate, tb)})
        sink.open()
        error: BaseException | None = None
        try:
            fg_frames = fgc.decode(fgs)
            bg_frames = bgc.decode(bgs)
            bg_index, bg_img = -1, None
            fg_index = -1
            for fi, bj in pairs:
                while fg_index < fi:
                    frame = next(fg_frames)
                    fg_index += 1
                while bg_index < bj:
                    bg_img = next(bg_frames).to_ndarray(format="rgb24")
                    bg_index += 1
                assert bg_img is not None
                img = bg_img.copy()
                fg_img = frame.to_ndarray(format="rgb24")
                img[y0:y1, x0:x1] = cv2.resize(
                    fg_img, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA
                )
                pts = frame.pts if frame.pts is not None else fi
                sink.write(VideoFrame(np.ascontiguousarray(img), fi, pts, tb))
        except BaseException as exc:
            error = exc
            raise
        finally:
            sink.close(error)
    return out


def _decode(path: Path) -> tuple[list[npt.NDArray[np.uint8]], list[int], Fraction]:
    with av.open(os.fspath(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        assert s.average_rate is not None
        return (
            [np.asarray(f.to_ndarray(format="rgb24"), np.uint8) for f in frames],
            [int(f.pts or 0) for f in frames],
            Fraction(s.average_rate),
        )


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _aligned(
    tmp_path: Path, spec: PairSpec, cache_mb: float = 512.0, **kw: object
) -> tuple[AlignSetup, list[tuple[int, int]], tuple[float, float, float, float], CompositeSink]:
    fg, bg, _ = write_pair(tmp_path, spec)
    setup = align_setup(fg, bg, **kw)  # type: ignore[arg-type]
    graph = build_align_graph(
        setup,
        pairs_path=tmp_path / "pairs.jsonl",
        composite_path=tmp_path / "one.mkv",
        composite_cache_mb=cache_mb,
    )
    sink = graph.node("composite")
    assert isinstance(sink, CompositeSink)
    sink.codec, sink.pixel_format = CODEC, PIXEL_FORMAT
    graph.run_sync()
    events = _events(tmp_path / "pairs.jsonl")
    pairs = [
        (int(e["payload"]["fg_index"]), int(e["payload"]["bg_index"]))  # type: ignore[index]
        for e in events
        if e["kind"] == "align_pair"
    ]
    reg = next(e["payload"] for e in events if e["kind"] == "align_registration")
    f = 1.0 / setup.factor
    region = tuple(reg[k] * f for k in ("x", "y", "width", "height"))  # type: ignore[index]
    return setup, pairs, region, sink  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("spec", "work_width"),
    [
        # 30 fps fg on 24 fps bg, starting 30 bg frames in, working size = full size.
        (PairSpec(fg_fps=30, fg_frames=40, bg_frames=90, cut_at=None), 320),
        # bg 640x360 decoded at 320x180 for the aligner: region scaled back by 1/factor.
        (
            PairSpec(bg_size=(640, 360), bg_frames=60, fg_frames=24, start=20, cut_at=None,
                     crop=(100, 60, 400, 224), scale=0.6),
            320,
        ),
    ],
    ids=["30-on-24", "shrunk-work"],
)  # fmt: skip
def test_one_pass_equals_the_two_pass_composite(
    tmp_path: Path, spec: PairSpec, work_width: int
) -> None:
    setup, pairs, region, sink = _aligned(tmp_path, spec, work_width=work_width)
    assert pairs and [p[0] for p in pairs] == list(range(len(pairs)))
    assert sink.frames_written == len(pairs)
    # Every frame came from the alignment's own sources: no file was decoded twice.
    assert sink.frames_decoded == 0
    _two_pass_composite(setup, pairs, region, tmp_path / "two.mkv")
    one, one_pts, one_rate = _decode(tmp_path / "one.mkv")
    two, two_pts, two_rate = _decode(tmp_path / "two.mkv")
    assert len(one) == len(two) == len(pairs)
    assert one_pts == two_pts and one_rate == two_rate
    for k, (a, b) in enumerate(zip(one, two, strict=True)):
        assert np.array_equal(a, b), k
    # ... and it is the drawing itself: bg frame of the pair, fg resized into the box.
    x0, y0, x1, y1 = composite_region(region, setup.bg_size)
    with av.open(setup.fg_path) as c:
        fg = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(setup.bg_path) as c:
        bg = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    for fi, bj in (pairs[0], pairs[len(pairs) // 2], pairs[-1]):
        want = bg[bj].copy()
        want[y0:y1, x0:x1] = cv2.resize(fg[fi], (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        assert np.array_equal(one[fi], want), fi


@pytest.mark.parametrize("cache_mb", [0.0, 0.2])
def test_frames_that_left_the_window_are_decoded_by_the_sink_with_the_same_result(
    tmp_path: Path, cache_mb: float
) -> None:
    # 0.2 MB keeps about 4 frames of the 320x180 bg (4:2:0, 86 kB each): the first
    # pairs come after their frames left the window (the sink decodes them itself),
    # later ones may find theirs; 0 keeps none. The output is the same pixels.
    spec = PairSpec(fg_fps=30, fg_frames=40, bg_frames=90, cut_at=None)
    big = tmp_path / "big"
    big.mkdir()
    setup, pairs, _, ref = _aligned(big, spec)
    assert ref.frames_decoded == 0
    _, pairs2, _, sink = _aligned(tmp_path, spec, cache_mb=cache_mb)
    assert pairs2 == pairs
    assert 0 < sink.frames_decoded <= len(pairs) + pairs[-1][1] + 1
    if cache_mb == 0:  # every fg frame and every bg frame up to the last pair's
        assert sink.frames_decoded == len(pairs) + pairs[-1][1] + 1
    one, one_pts, _ = _decode(big / "one.mkv")
    two, two_pts, _ = _decode(tmp_path / "one.mkv")
    assert one_pts == two_pts
    for k, (a, b) in enumerate(zip(one, two, strict=True)):
        assert np.array_equal(a, b), k
    with pytest.raises(ParameterError, match="frame_cache_mb"):
        CompositeSink(setup, tmp_path / "x.mkv", frame_cache_mb=-1)
    with pytest.raises(ParameterError, match="frame_cache_mb"):
        CompositeSink(setup, tmp_path / "x.mkv", frame_cache_mb=float("nan"))


def _reg_event(x: float = 10, y: float = 10, w: float = 40, h: float = 24) -> Event[object]:
    from operators.video import AlignRegistration

    return Event("align_registration", 0, 0, Fraction(1, 24),
                 AlignRegistration(x, y, w, h, 0.5, 0.9, 0, 0, 64, 48))  # fmt: skip


def _pair_event(fi: int, bj: int) -> Event[object]:
    from operators.video import AlignPair

    return Event("align_pair", fi, fi, Fraction(1, 24),
                 AlignPair(fi, bj, fi / 24, bj / 24, 0.0, 1.0, True))  # fmt: skip


def _small_setup(tmp_path: Path) -> AlignSetup:
    from tests.operators.video.pairs import generate, write_video

    spec = PairSpec(bg_size=(64, 48), crop=(10, 10, 40, 24), scale=1.0, bg_frames=12,
                    fg_frames=6, start=2, cut_at=None)  # fmt: skip
    fg, bg, _ = generate(spec)
    return align_setup(
        write_video(tmp_path / "fg.mp4", fg, 24), write_video(tmp_path / "bg.mp4", bg, 24)
    )


def test_sink_alone_holds_one_frame_per_input_and_writes_as_pairs_arrive(tmp_path: Path) -> None:
    setup = _small_setup(tmp_path)
    sink = CompositeSink(setup, tmp_path / "c.mkv", codec=CODEC, pixel_format=PIXEL_FORMAT)
    sink.configure({"in": EventSpec(frozenset({"align_pair", "align_registration"}))})
    sink.open()
    sink.write(_reg_event())
    for k in range(3):
        sink.write(_pair_event(k, 2 + k))
        assert sink.frames_written == k + 1  # written at once, nothing held back
        assert sink._fg_index == k and sink._bg_index == 2 + k
    sink.write(_pair_event(3, 4))  # bg frame 4 again
    sink.close(None)
    frames, pts, _ = _decode(tmp_path / "c.mkv")
    assert len(frames) == 4 and pts == sorted(set(pts))
    assert np.array_equal(frames[2][:10], frames[3][:10])  # same bg frame outside the box


def test_frames_handed_over_before_the_sink_opens_are_kept(tmp_path: Path) -> None:
    # The runtime opens sources and sinks concurrently: the sources may decode (and
    # hand frames over) before the sink's open() has run. Those frames must stay.
    from types import SimpleNamespace

    setup = _small_setup(tmp_path)
    sink = CompositeSink(setup, tmp_path / "c.mkv", codec=CODEC, pixel_format=PIXEL_FORMAT)
    fg_src, bg_src = SimpleNamespace(on_video_frame=None), SimpleNamespace(on_video_frame=None)
    sink.attach(fg_src, bg_src)
    for src, path in ((fg_src, setup.fg_path), (bg_src, setup.bg_path)):
        with av.open(path) as c:
            for k, frame in enumerate(c.decode(video=0)):
                src.on_video_frame("video", k, frame)
    sink.configure({"in": EventSpec(frozenset({"align_pair", "align_registration"}))})
    sink.open()
    sink.write(_reg_event())
    for k in range(4):
        sink.write(_pair_event(k, 2 + k))
    sink.close(None)
    assert sink.frames_written == 4 and sink.frames_decoded == 0
    assert sink.cache_peak_mb > 0  # still readable after close()
    # close() emptied the windows: a second run decodes what no source hands over.
    sink.open()
    sink.write(_reg_event())
    sink.write(_pair_event(0, 2))
    sink.close(None)
    assert sink.frames_decoded == 1 + 3


def test_no_pair_no_file_and_errors_name_the_problem(tmp_path: Path) -> None:
    setup = _small_setup(tmp_path)
    out = tmp_path / "c.mkv"
    sink = CompositeSink(setup, out, codec=CODEC, pixel_format=PIXEL_FORMAT)
    sink.open()
    sink.write(_reg_event())
    sink.close(None)
    assert not out.exists() and sink.frames_written == 0
    sink.open()
    with pytest.raises(ValueError, match="before the align_registration"):
        sink.write(_pair_event(0, 0))
    sink.close(None)
    sink.open()
    sink.write(_reg_event())
    with pytest.raises(Exception, match="has no frame 12"):
        sink.write(_pair_event(0, 40))  # past the bg's 12 frames
    sink.close(None)
    with pytest.raises(IncompatibleInputError, match="aligner's events"):
        sink.configure({"in": VideoSpec(64, 48, "rgb24")})
    with pytest.raises(IncompatibleInputError, match="align_registration and align_pair"):
        sink.configure({"in": EventSpec(frozenset({"speaker_turn"}))})
    with pytest.raises(ParameterError, match="outside"):
        composite_region((100, 100, 10, 10), (64, 48))
    with pytest.raises(ParameterError):
        CompositeSink(setup, out, codec="no-such-codec")


def test_a_failing_run_leaves_a_valid_composite_of_what_was_written(tmp_path: Path) -> None:
    # The aligner's bound stops the run (fg 1.25 s into the bg, bound 0.5 s + max_lag):
    # the error names the node and the time, and the composite file, when any frame was
    # written, is still finalised by close(error).
    spec = PairSpec(bg_size=(192, 108), bg_frames=70, start=30, fg_frames=30,
                    crop=(40, 20, 120, 68), scale=1.0, cut_at=None)  # fmt: skip
    fg, bg, _ = write_pair(tmp_path, spec)
    setup = align_setup(fg, bg)
    graph = build_align_graph(
        setup, composite_path=tmp_path / "c.mkv", max_lag=4, max_pending_s=0.5
    )
    with pytest.raises(NodeError) as info:
        graph.run_sync()
    assert info.value.node == "align" and "max_pending_s=0.5" in str(info.value)
    assert info.value.time is not None
    assert not (tmp_path / "c.mkv").exists()  # no pair was final yet: no file
    build_align_graph(setup, composite_path=tmp_path / "c.mkv").run_sync()
    frames, _, _ = _decode(tmp_path / "c.mkv")
    assert len(frames) == 30
