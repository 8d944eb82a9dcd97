"""VideoFileSink: frames keep their timing; files stay valid after errors; no empty files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sinks import VideoFileSink
from stream import (
    ArraySource,
    EncodeError,
    Graph,
    IncompatibleInputError,
    ParameterError,
    VideoFrame,
    VideoSpec,
)
from stream.synth import synth_frame


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
