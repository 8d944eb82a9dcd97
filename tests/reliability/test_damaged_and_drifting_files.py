"""FileSource on damaged and awkward real files: corrupt packets, streams of different
lengths joined in one graph, channel layouts, offsets past the end."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import av
import numpy as np
import pytest

from mediastream.synth import write_media
from operators import FrameStats, LevelMeter
from sinks import MemorySink
from stream import (
    AudioChunk,
    AudioFormat,
    FileSource,
    Graph,
    GraphError,
    NodeError,
    ParameterError,
    VideoFormat,
)


def _corrupt_middle(src: Path, dst: Path, n_bytes: int = 3000) -> None:
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid : mid + n_bytes] = np.random.default_rng(0).bytes(n_bytes)
    dst.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def aac(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3 s AAC-in-MP4 file and a copy with garbage in the middle of its packets."""
    d = tmp_path_factory.mktemp("faults")
    good, bad = d / "good.mp4", d / "bad.mp4"
    write_media(good, 3.0, video=False)
    _corrupt_middle(good, bad)
    return good, bad


def _chunks(src: FileSource) -> list[AudioChunk]:
    out = [item for _, item in src]
    assert all(isinstance(c, AudioChunk) for c in out)
    return out  # type: ignore[return-value]


def test_decode_error_keeps_what_came_before_and_names_the_time(aac: tuple[Path, Path]) -> None:
    good, bad = aac
    ref = np.concatenate([c.data for c in _chunks(FileSource(good))], axis=1)
    g = Graph()
    mem = MemorySink()
    g.connect(g.add(FileSource(bad, audio=AudioFormat(chunk_frames=4096)), "file"), g.add(mem))
    with pytest.raises(NodeError) as info:
        g.run_sync()
    err = info.value
    assert err.node == "file"
    got = mem.audio()
    n = got.shape[1]
    # Everything decoded before the bad packet reached the sink, in whole chunks ...
    assert n > 48000 and n % 4096 == 0
    assert np.array_equal(got, ref[:, :n])
    # ... and the error says where: just after the last chunk delivered.
    assert err.time is not None and n / 48000 <= err.time <= n / 48000 + 0.2
    assert "bad.mp4" in str(err) and "after t=" in str(err)


def test_skip_drops_bad_packets_and_keeps_the_timeline(aac: tuple[Path, Path]) -> None:
    good, bad = aac
    ref = np.concatenate([c.data for c in _chunks(FileSource(good))], axis=1)
    src = FileSource(bad, on_error="skip")
    chunks = _chunks(src)
    assert src.skipped_packets > 0
    for a, b in itertools.pairwise(chunks):
        assert b.start == a.end
    x = np.concatenate([c.data for c in chunks], axis=1)
    # The hole is filled with silence: same length, and the audio after it is on time.
    assert x.shape == ref.shape
    bad_blocks = [
        i
        for i in range(0, x.shape[1], 4800)
        if np.abs(x[:, i : i + 4800] - ref[:, i : i + 4800]).max() > 0.02
    ]
    assert bad_blocks, "the corrupt packets must show somewhere"
    hole_end = max(bad_blocks) + 4800
    assert hole_end < x.shape[1] - 48000 // 2, "at least half a second after the hole"
    assert np.abs(x[:, hole_end:] - ref[:, hole_end:]).max() < 0.02


def _cut_video(src: Path, dst: Path, keep_s: float) -> None:
    """Remux ``src`` dropping video packets after ``keep_s``: video ends early."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            if packet.stream.type == "video" and packet.pts * packet.time_base > keep_s:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("drift")
    full, cut = d / "full.mkv", d / "cut.mkv"
    write_media(full, 6.0, width=64, height=36)
    _cut_video(full, cut, 1.0)
    return cut


def _joined(path: Path, max_skew_s: float) -> tuple[Graph, MemorySink]:
    g = Graph(max_skew_s=max_skew_s)
    src = g.add(FileSource(path, video=VideoFormat(32, 18)), "file")
    meter, frames = g.add(LevelMeter(100), "meter"), g.add(FrameStats(), "frames")
    g.connect(src["audio"], meter)
    g.connect(src["video"], frames)
    joined = MemorySink()
    j = g.add(joined, "joined")
    g.connect(meter, j)
    g.connect(frames, j)
    return g, joined


def test_streams_drifting_apart_beyond_max_skew_fail_naming_the_join(short_video: Path) -> None:
    g, _ = _joined(short_video, max_skew_s=2.0)
    with pytest.raises(NodeError) as info:
        g.run_sync()
    assert info.value.node == "joined"
    assert isinstance(info.value.cause, GraphError)
    msg = str(info.value)
    assert "max_skew_s" in msg and "'frames' has sent nothing for t >= " in msg


def test_no_skew_limit_joins_streams_of_different_lengths(short_video: Path) -> None:
    g, joined = _joined(short_video, max_skew_s=math.inf)
    g.run_sync()
    kinds = [e.kind for e in joined.events]
    assert 60 <= kinds.count("level") <= 61
    assert 25 <= kinds.count("frame_stats") <= 27
    ends = [e.end_time for e in joined.events]
    assert ends == sorted(ends)


@pytest.mark.parametrize("layout", ["3.0", "4.0", "quad", "5.1(side)", "7.1"])
def test_channel_layout_is_kept_not_remixed(tmp_path: Path, layout: str) -> None:
    n = len(av.AudioLayout(layout).channels)
    rate = 48000
    t = np.arange(rate) / rate
    x = np.stack([0.1 * (i + 1) * np.sin(2 * np.pi * 200 * (i + 1) * t) for i in range(n)])
    x = x.astype(np.float32)
    path = tmp_path / "layout.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout=layout)
        # Interleaved: PyAV 18.1 cannot build planar frames of 8 channels.
        packed = np.ascontiguousarray(x.T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(packed, format="flt", layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    y = np.concatenate([c.data for c in _chunks(FileSource(path))], axis=1)
    assert y.shape == x.shape
    assert np.abs(y - x).max() <= 1 / 32768 + 1e-6  # flac stores 16 bits


def test_remixing_to_more_than_eight_channels_is_a_parameter_error(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    write_media(path, 0.2, video=False, channels=2)
    with pytest.raises(ParameterError, match=r"channels=9.*1 to 8 channels.*has 2"):
        FileSource(path, audio=AudioFormat(channels=9))
    x = np.concatenate(
        [c.data for c in _chunks(FileSource(path, audio=AudioFormat(channels=8)))], axis=1
    )
    assert x.shape[0] == 8


def test_start_past_the_end_and_infinite_limits_are_parameter_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write_media(path, 1.0, video=False)
    with pytest.raises(ParameterError, match=r"past the end .* \(1\.000 s\)"):
        FileSource(path, start=1.0)
    with pytest.raises(ParameterError, match="finite"):
        FileSource(path, start=math.inf)
    with pytest.raises(ParameterError, match="finite"):
        FileSource(path, duration=math.inf)
    assert len(_chunks(FileSource(path, start=0.5))) > 0
