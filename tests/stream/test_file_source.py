"""FileSource on real media files written by PyAV in the test."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediastream.synth import synth_audio, synth_frame, write_media
from operators import FrameStats, LevelMeter
from sinks import MemorySink
from stream import (
    AudioChunk,
    AudioFormat,
    AudioSpec,
    FileSource,
    Graph,
    MediaOpenError,
    ParameterError,
    VideoFormat,
    VideoFrame,
    VideoSpec,
    probe,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    out = {}
    for name, kwargs in {
        "a.wav": {"video": False},
        "a.flac": {"video": False},
        "av.mp4": {},
        "av.mkv": {},
        "v.mp4": {"audio": False},
        "mono44.wav": {"video": False, "sample_rate": 44100, "channels": 1},
    }.items():
        write_media(d / name, 3.0, **kwargs)  # type: ignore[arg-type]
        out[name] = d / name
    return out


def _audio(src: FileSource, port: str = "audio") -> tuple[list[AudioChunk], np.ndarray]:
    chunks = [item for p, item in src if p == port]
    assert all(isinstance(c, AudioChunk) for c in chunks)
    for a, b in itertools.pairwise(chunks):
        assert b.start == a.end, "chunks must be contiguous"
    return chunks, np.concatenate([c.data for c in chunks], axis=1)  # type: ignore[union-attr]


def test_wav_and_flac_decode_to_the_written_samples(media: dict[str, Path]) -> None:
    ref = synth_audio(3.0, 48000, 2)
    for name in ("a.wav", "a.flac"):
        chunks, x = _audio(FileSource(media[name], audio=AudioFormat(chunk_frames=1000)))
        assert x.shape == ref.shape
        assert np.abs(x - ref).max() <= 1.0 / 32768 + 1e-7  # 16-bit quantisation only
        assert [c.frames for c in chunks[:-1]] == [1000] * (len(chunks) - 1)
        assert chunks[0].start == 0 and chunks[-1].end == 144_000


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chunk=st.integers(1, 5000))
def test_chunk_size_does_not_change_the_audio(media: dict[str, Path], chunk: int) -> None:
    _, whole = _audio(
        FileSource(media["a.flac"], audio=AudioFormat(chunk_frames=65536), duration=0.5)
    )
    _, chunked = _audio(
        FileSource(media["a.flac"], audio=AudioFormat(chunk_frames=chunk), duration=0.5)
    )
    assert np.array_equal(whole, chunked)


def test_resampling_and_remixing_give_exact_lengths(media: dict[str, Path]) -> None:
    src = FileSource(
        media["a.wav"], audio=AudioFormat(sample_rate=16000, channels=1, chunk_frames=512)
    )
    assert src.specs() == {"audio": AudioSpec(16000, 1)}
    chunks, x = _audio(src)
    assert x.shape == (1, 48000)
    assert chunks[-1].end == 48000
    # Mono 44.1 kHz upmixed to 48 kHz stereo: both channels identical.
    _, y = _audio(FileSource(media["mono44.wav"], audio=AudioFormat(48000, 2)))
    assert y.shape == (2, 144_000) and np.array_equal(y[0], y[1])


def test_audio_and_video_of_one_file(media: dict[str, Path]) -> None:
    src = FileSource(media["av.mp4"], video=VideoFormat(width=160, pixel_format="gray"))
    specs = src.specs()
    assert specs["audio"] == AudioSpec(48000, 2)
    vspec = specs["video"]
    assert isinstance(vspec, VideoSpec) and (vspec.width, vspec.height) == (160, 90)
    assert vspec.frame_rate == 25
    items = list(src)
    frames = [i for p, i in items if p == "video"]
    chunks = [i for p, i in items if p == "audio"]
    assert len(frames) == 75
    assert all(isinstance(f, VideoFrame) and f.data.shape == (90, 160) for f in frames)
    assert [f.index for f in frames] == list(range(75))
    times = [f.time for f in frames]
    assert times == [Fraction(i, 25) for i in range(75)]
    # AAC priming (before t=0) is trimmed; the last AAC frame's padding is decoded.
    assert chunks[0].start == 0
    assert 144_000 <= sum(c.frames for c in chunks) <= 144_000 + 1024
    # Demux order interleaves the two kinds.
    kinds = [p for p, _ in items]
    assert kinds.index("video") < len(kinds) // 2 and kinds.index("audio") < len(kinds) // 2


def test_video_pixels_match_the_pattern(media: dict[str, Path]) -> None:
    frames = [i for p, i in FileSource(media["v.mp4"]) if p == "video"]
    assert isinstance(frames[10], VideoFrame)
    ref = synth_frame(10, 320, 180).astype(np.float32)
    err = np.abs(frames[10].data.astype(np.float32) - ref).mean()
    assert err < 6.0  # H.264 at crf 18 + yuv420 chroma subsampling
    bgr = [
        i
        for p, i in FileSource(media["v.mp4"], video=VideoFormat(pixel_format="bgr24"))
        if p == "video"
    ]
    assert np.array_equal(bgr[10].data[..., ::-1], frames[10].data)


def test_on_video_frame_hands_over_each_decoded_frame_before_its_conversion(
    media: dict[str, Path],
) -> None:
    seen: list[tuple[str, int, int, int, str, int]] = []

    def keep(port: str, index: int, frame: object) -> None:
        f: Any = frame
        seen.append((port, index, f.width, f.height, f.format.name, f.pts))

    src = FileSource(
        media["av.mkv"],
        audio=False,
        video=VideoFormat(width=80, pixel_format="gray"),
        start=1.25,
        duration=1.0,
        on_video_frame=keep,
    )
    frames = [i for p, i in src if p == "video"]
    assert isinstance(frames[0], VideoFrame) and frames[0].data.shape == (45, 80)
    # One call per emitted frame, same index and pts, at the decoder's size and format.
    assert [(s[0], s[1], s[5]) for s in seen] == [("video", f.index, f.pts) for f in frames]
    assert {s[2:5] for s in seen} == {(320, 180, "yuv420p")}


def test_start_and_duration_are_sample_exact(media: dict[str, Path]) -> None:
    src = FileSource(media["av.mkv"], start=1.25, duration=1.0)
    items = list(src)
    chunks = [i for p, i in items if p == "audio"]
    frames = [i for p, i in items if p == "video"]
    assert chunks[0].start == 60_000 and chunks[-1].end == 108_000
    ref = synth_audio(3.0, 48000, 2)[:, 60_000:108_000]
    x = np.concatenate([c.data for c in chunks], axis=1)
    assert np.abs(x - ref).max() <= 1.0 / 32768 + 1e-7  # FLAC in MKV: lossless
    assert [f.time for f in frames] == [Fraction(i, 25) for i in range(32, 57)]
    assert [f.index for f in frames] == list(range(32, 57))
    assert src.duration == 1


def test_only_connected_ports_are_decoded(media: dict[str, Path]) -> None:
    src = FileSource(media["av.mp4"])
    src.open(["audio"])
    kinds = set()
    while batch := src.read(64):
        kinds |= {p for p, _ in batch}
    src.close()
    assert kinds == {"audio"}


def test_graph_with_audio_and_video_joined_in_time_order(media: dict[str, Path]) -> None:
    g = Graph()
    src = g.add(FileSource(media["av.mp4"], video=VideoFormat(80, 45)), "file")
    meter = g.add(LevelMeter(100), "meter")
    stats_op = g.add(FrameStats(), "frames")
    g.connect(src["audio"], meter)
    g.connect(src["video"], stats_op)
    joined = MemorySink()
    j = g.add(joined, "joined")
    g.connect(meter, j)
    g.connect(stats_op, j)
    stats = g.run_sync()
    kinds = [e.kind for e in joined.events]
    assert kinds.count("level") == 31 and kinds.count("frame_stats") == 75  # 30 windows + AAC tail
    ends = [e.end_time for e in joined.events]
    assert ends == sorted(ends)
    # AAC adds up to one 1024-frame packet of encoder padding at the end.
    assert 3.0 <= stats.media_s <= 3.0 + 1024 / 48000 + 1e-9
    n_audio = round(stats.media_s * 48000)  # 144384 frames: 141 chunks of 1024
    assert stats.nodes["file"].items_out == 75 + -(-n_audio // 1024)


def test_reading_is_incremental(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    write_media(path, 30.0, video=False)
    g = Graph(buffer_size=4)
    src = g.add(FileSource(path, audio=AudioFormat(chunk_frames=1024)), "file")
    g.chain(src, g.add(LevelMeter(10), "meter"))

    import anyio

    async def first_events() -> int:
        async with g.events("meter", buffer_size=1) as events:
            async for _ in events:
                break
        return 0

    anyio.run(first_events)
    assert g.last_stats is None or g.last_stats.nodes["file"].items_out < 400
    produced = g.node("file")
    assert isinstance(produced, FileSource)


def test_file_url_is_read(media: dict[str, Path]) -> None:
    src = FileSource("file:" + str(media["a.wav"]))
    _, x = _audio(src)
    assert x.shape == (2, 144_000)


def test_probe_describes_streams(media: dict[str, Path]) -> None:
    info = probe(media["av.mp4"])
    assert info.duration_s == pytest.approx(3.0, abs=0.05)
    assert [s.kind for s in info.streams] == ["video", "audio"]
    assert "h264" in info.describe() and "48000 Hz" in info.describe()


def test_errors_name_the_file(tmp_path: Path, media: dict[str, Path]) -> None:
    with pytest.raises(MediaOpenError, match="no such file"):
        FileSource(tmp_path / "missing.wav")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(MediaOpenError, match=r"garbage\.mp4"):
        FileSource(garbage)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaOpenError, match=r"empty\.wav"):
        FileSource(empty)
    with pytest.raises(MediaOpenError, match="directory"):
        FileSource(tmp_path)
    with pytest.raises(MediaOpenError, match="no video stream"):
        FileSource(media["a.wav"], video=VideoFormat(64, 36))
    with pytest.raises(MediaOpenError, match="audio stream 3 does not exist"):
        FileSource(media["av.mp4"], audio_streams=[3])
    with pytest.raises(ParameterError, match="start"):
        FileSource(media["a.wav"], start=-1)
    with pytest.raises(ParameterError, match="chunk_frames"):
        AudioFormat(chunk_frames=0)
    with pytest.raises(ParameterError, match="pixel_format"):
        VideoFormat(pixel_format="yuv420p")


def test_truncated_file_gives_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    write_media(path, 2.0, video=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # on_error="skip" takes what is there; "raise" (default) delivers the same, then
    # fails naming the truncation (tests/reliability/test_bad_input.py).
    _, x = _audio(FileSource(path, on_error="skip"))
    ref = synth_audio(2.0, 48000, 2)
    n = x.shape[1]
    assert 40_000 < n < 56_000
    assert np.abs(x - ref[:, :n]).max() <= 1.0 / 32768 + 1e-7


def test_slow_sink_keeps_memory_bounded_on_a_long_file(tmp_path: Path) -> None:
    """A 5-minute file streamed into a sink that is slower than decoding: the source
    never runs further ahead than the buffers allow, so memory stays a few chunks deep
    however long the file is."""
    import time
    import tracemalloc

    from stream import Item, Sink, StreamSpec

    path = tmp_path / "long.wav"
    write_media(path, 300.0, video=False, sample_rate=16000, channels=1)
    decoded_bytes = 300 * 16000 * 4  # 19.2 MB of float32 if it were all held at once

    class CountingFile(FileSource):
        produced = 0

        def read(self, max_items: int) -> list[tuple[str, Item]]:
            out = super().read(max_items)
            CountingFile.produced += len(out)
            return out

    class SlowCounter(Sink):
        def __init__(self) -> None:
            self.written = 0
            self.frames = 0
            self.ahead: list[int] = []

        def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
            pass

        def write(self, item: Item) -> None:
            self.ahead.append(CountingFile.produced - self.written)
            if self.written % 8 == 0:
                time.sleep(0.0005)  # slower than the decoder
            self.written += 1
            assert isinstance(item, AudioChunk)
            self.frames += item.frames

    def graph(p: Path, sink: SlowCounter) -> Graph:
        g = Graph(buffer_size=4)
        src = g.add(CountingFile(p, audio=AudioFormat(chunk_frames=1024)), "file")
        g.connect(src, g.add(sink, "slow"))
        return g

    # Warm up first: one-off costs (lazy imports, caches) are not per-stream memory.
    short = tmp_path / "short.wav"
    write_media(short, 1.0, video=False, sample_rate=16000, channels=1)
    graph(short, SlowCounter()).run_sync()
    CountingFile.produced = 0

    sink = SlowCounter()
    g = graph(path, sink)
    tracemalloc.start()
    try:
        g.run_sync()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.frames == 300 * 16000
    assert sink.written == CountingFile.produced == -(-300 * 16000 // 1024)
    # Items read but not yet written: one edge buffer (4), one source batch (16) and
    # the item in the sink.
    assert max(sink.ahead) <= 4 + 16 + 1
    assert peak < decoded_bytes / 20, f"peak traced memory {peak} bytes"


# -- pipes are read once; the audio timeline survives damage (issue 17) --------------------


def test_pipe_with_a_start_offset_decodes_up_to_it_and_is_read_once(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    import os
    import subprocess

    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f'cat "{media["a.wav"]}" > "{fifo}"'])
    try:
        src = FileSource(fifo, start=0.5, video=False)  # the probe reads the header only
        chunks, got = _audio(src)
    finally:
        writer.wait(timeout=30)
    _, ref = _audio(FileSource(media["a.wav"], start=0.5, video=False))
    assert chunks[0].start == 24000  # no seeking in a pipe: decoded up to 0.5 s
    np.testing.assert_array_equal(got, ref)
    with pytest.raises(MediaOpenError, match=r"in\.fifo.*can be read only once"):
        list(src)


def _frame(samples: int, pts: int | None, channels: int = 1, value: float = 0.5) -> object:
    import av

    layout = "mono" if channels == 1 else "stereo"
    data = np.full((channels, samples), value, np.float32)
    frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
    frame.sample_rate = 16000
    frame.pts = pts
    frame.time_base = Fraction(1, 16000)
    return frame


def _pipe(on_error: str = "skip", strict: bool = False) -> object:
    from stream.sources._audio_pipe import AudioPipe

    return AudioPipe("audio", 16000, 1, 1024, Fraction(0), None, strict=strict, on_error=on_error)


def _feed_all(pipe: object, frames: list[object]) -> list[AudioChunk]:
    out: list[AudioChunk] = []
    for frame in [*frames, None]:
        out.extend(pipe.feed(frame))  # type: ignore[attr-defined]
    for a, b in itertools.pairwise(out):
        assert b.start == a.end
    return out


def test_audio_without_timestamps_and_overlaps_keep_the_true_timeline() -> None:
    """A recovered frame without a timestamp follows the previous one; the next timed
    frame it overlaps is cut, a hole after it is filled once: 4096 frames of input
    timeline give 4096 frames of output, each value at its own place (in a FLAC-like
    strict format the damaged stretch is reported once)."""
    pipe = _pipe(strict=True)
    frames = [
        _frame(1024, 0, value=0.1),
        _frame(1024, None, value=0.2),  # recovered after damage: no timestamp
        _frame(1024, 1024, value=0.3),  # overlaps the recovered frame whole: dropped
        _frame(1024, 3072, value=0.4),  # a hole of 1024 frames before it
    ]
    out = _feed_all(pipe, frames)
    data = np.concatenate([c.data for c in out], axis=1)[0]
    assert data.shape == (4096,)
    assert np.allclose(data[:1024], 0.1) and np.allclose(data[1024:2048], 0.2)
    assert np.allclose(data[2048:3072], 0.0) and np.allclose(data[3072:], 0.4)
    assert len(pipe.damage) == 1 and "t=0.064 s" in pipe.damage[0]  # type: ignore[attr-defined]


def test_audio_damage_ends_the_stream_when_on_error_is_raise() -> None:
    pipe = _pipe(on_error="raise", strict=True)
    out = _feed_all(pipe, [_frame(1000, 0), _frame(1000, None), _frame(1000, 2000)])
    assert sum(c.frames for c in out) == 1000  # everything before, then nothing
    assert pipe.failure is not None and "t=0.062 s" in pipe.failure  # type: ignore[attr-defined]


def test_a_frame_that_changes_channels_is_converted_not_passed_through() -> None:
    """PyAV's resampler passes every frame through untouched once the first needed no
    conversion: a stereo frame in a mono stream (a damaged MP3 header) came out with
    two channels and broke re-chunking with a ValueError."""
    pipe = _pipe()
    out = _feed_all(pipe, [_frame(1024, 0), _frame(1024, 1024, channels=2), _frame(1024, 2048)])
    assert all(c.channels == 1 for c in out)
    assert sum(c.frames for c in out) == 3072


def test_a_backward_jump_of_timestamps_is_a_new_origin_not_an_overlap() -> None:
    """MPEG-TS recordings joined (``cat a.ts b.ts``): the timestamps start again;
    the audio goes on where it is instead of being cut as an overlap (which would drop
    all of b that lies before a's end). A short overlap is cut, and reported."""
    pipe = _pipe(on_error="raise")
    frames = [_frame(16000, 0), _frame(16000, 16000), _frame(16000, 0), _frame(16000, 16000)]
    out = _feed_all(pipe, frames)
    assert sum(c.frames for c in out) == 64000 and not pipe.damage  # type: ignore[attr-defined]
    pipe = _pipe(on_error="raise")
    out = _feed_all(pipe, [_frame(1024, 0), _frame(1024, 1024 - 800), _frame(1024, 1248)])
    assert sum(c.frames for c in out) == 2272  # 800 frames of overlap cut
    assert len(pipe.damage) == 1 and "0.050 s of audio overlap" in pipe.damage[0]  # type: ignore[attr-defined]
