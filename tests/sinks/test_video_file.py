"""VideoFileSink: frames keep their timing; files stay valid after errors; no empty files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mediastream.synth import synth_frame
from sinks import VideoFileSink
from stream import (
    ArraySource,
    EncodeError,
    Graph,
    IncompatibleInputError,
    NodeError,
    ParameterError,
    VideoFrame,
    VideoSpec,
)


def _frames(pts: list[int], tb: Fraction = Fraction(1, 30)) -> list[VideoFrame]:
    return [VideoFrame(synth_frame(i, 64, 36), i, p, tb) for i, p in enumerate(pts)]


def test_frames_are_written_with_their_own_timestamps(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    pts = [0, 1, 2, 4, 5, 9]  # gaps: dropped frames keep their times
    frames = _frames(pts)
    g = Graph()
    src = g.add(ArraySource(frames, VideoSpec(64, 36, "rgb24", Fraction(30), Fraction(1, 30))))
    sink = VideoFileSink(out, crf=10)
    g.connect(src, g.add(sink))
    g.run_sync()
    assert sink.frames_written == 6
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        got = list(c.decode(s))
        assert (s.width, s.height) == (64, 36)
        times = [float(f.pts * f.time_base) for f in got]
        first = got[0].to_ndarray(format="rgb24").astype(np.float32)
    assert times == pytest.approx([p / 30 for p in pts], abs=1e-3)
    assert np.abs(first - frames[0].data).mean() < 10  # yuv420p halves the chroma


def test_close_after_error_leaves_a_valid_file_and_no_frames_no_file(tmp_path: Path) -> None:
    out = tmp_path / "v.mkv"
    sink = VideoFileSink(out)
    sink.configure({"in": VideoSpec(64, 36, "rgb24", Fraction(30))})
    sink.open()
    for f in _frames([0, 1, 2]):
        sink.write(f)
    with pytest.raises(EncodeError, match="does not follow"):
        sink.write(_frames([2])[0])
    sink.close(RuntimeError("upstream failed"))
    with av.open(str(out)) as c:
        assert len(list(c.decode(video=0))) == 3
    empty = VideoFileSink(tmp_path / "none.mp4")
    empty.open()
    empty.close()
    assert not (tmp_path / "none.mp4").exists()


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ParameterError, match="codec"):
        VideoFileSink("x.mp4", codec="no-such-codec")
    with pytest.raises(ParameterError, match="crf"):
        VideoFileSink("x.mp4", crf=99)
    with pytest.raises(IncompatibleInputError, match="even"):
        VideoFileSink("x.mp4").configure({"in": VideoSpec(63, 36)})


def _graph(frames: list[VideoFrame], sink: VideoFileSink) -> Graph:
    g = Graph()
    src = g.add(ArraySource(frames, VideoSpec(64, 36, "rgb24", Fraction(30), Fraction(1, 30))))
    g.connect(src, g.add(sink))
    return g


def test_one_sink_serves_two_runs(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    sink = VideoFileSink(out)
    _graph(_frames([0, 1, 2]), sink).run_sync()
    assert sink.frames_written == 3
    _graph(_frames([0, 1]), sink).run_sync()  # pts start again at 0
    assert sink.frames_written == 2
    with av.open(str(out)) as c:
        assert len(list(c.decode(video=0))) == 2


@pytest.mark.parametrize(
    ("pixel_format", "match"),
    [("bogus", "'bogus' is not a pixel format"), ("rgb24", "'libx264' cannot encode 'rgb24'")],
)
def test_bad_pixel_format_is_refused_at_construction(pixel_format: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        VideoFileSink("x.mp4", pixel_format=pixel_format)


def test_encoder_refusing_the_first_frame_is_an_encode_error_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    # MPEG-2 video only has a fixed list of frame rates: its encoder refuses 7 fps
    # (frames are encoded in their own time base, here 1/7 s).
    out = tmp_path / "v.mpg"
    sink = VideoFileSink(out, codec="mpeg2video", frame_rate=7)
    sink.configure({"in": VideoSpec(64, 36, "rgb24", Fraction(7))})
    sink.open()
    with pytest.raises(EncodeError, match=r"encoding frame 0 \(pts 0\) into .*v\.mpg failed"):
        sink.write(_frames([0], Fraction(1, 7))[0])
    sink.close(RuntimeError("run failed"))
    assert not out.exists()
    # The same failure inside a run reaches the caller as a NodeError caused by it.
    frames = [VideoFrame(synth_frame(0, 64, 36), 0, 0, Fraction(1, 7))]
    g = Graph()
    src = g.add(ArraySource(frames, VideoSpec(64, 36, "rgb24", Fraction(7), Fraction(1, 7))))
    g.connect(src, g.add(VideoFileSink(out, codec="mpeg2video", frame_rate=7)))
    with pytest.raises(NodeError, match=r"EncodeError: .*v\.mpg") as info:
        g.run_sync()
    assert isinstance(info.value.__cause__, EncodeError)
    assert not out.exists()
