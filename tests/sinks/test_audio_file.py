"""AudioFileSink: real files written through a graph and read back with PyAV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from sinks import AudioFileSink
from stream import (
    ArraySource,
    AudioChunk,
    AudioSpec,
    Graph,
    NodeError,
    ParameterError,
    StreamMismatchError,
)
from tests.sinks import FailAt

Audio = npt.NDArray[np.float32]


def _noise(channels: int, frames: int, seed: int = 0) -> Audio:
    return np.random.default_rng(seed).uniform(-1, 1, (channels, frames)).astype(np.float32)


def _tones(channels: int, frames: int, rate: int) -> Audio:
    t = np.arange(frames) / rate
    tones = [0.5 * np.sin(2 * np.pi * (440 + 220 * c) * t) for c in range(channels)]
    return np.stack(tones).astype(np.float32)


def _write(path: Path, x: Audio, rate: int, chunk_frames: int, **kwargs: Any) -> AudioFileSink:
    sink = AudioFileSink(path, **kwargs)
    g = Graph()
    g.chain(g.add(ArraySource.audio(x, rate, chunk_frames), "src"), g.add(sink, "file"))
    g.run_sync()
    return sink


def _read(path: Path) -> tuple[npt.NDArray[Any], int, str]:
    """Decode the whole file: ``(channels, frames)`` samples, the rate, the sample format."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels
        parts = []
        fmt = ""
        for frame in container.decode(stream):
            a = frame.to_ndarray()
            if not frame.format.is_planar:  # packed: (1, frames * channels), interleaved
                a = a.reshape(-1, channels).T
            parts.append(a)
            fmt = frame.format.name
        rate = stream.codec_context.sample_rate
    if not parts:
        return np.zeros((channels, 0), np.float32), rate, fmt
    return np.concatenate(parts, axis=1), rate, fmt


# -- lossless: exact lengths and contents ---------------------------------------------------

LOSSLESS = [("wav", "pcm_s16le"), ("wav", "pcm_f32le"), ("flac", None)]


@pytest.mark.parametrize(("ext", "codec"), LOSSLESS)
@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_lossless_round_trip_any_chunking(
    tmp_path: Path, ext: str, codec: str | None, rate: int, channels: int
) -> None:
    frames = rate // 5 + 7  # 0.2 s and a ragged end
    x = _noise(channels, frames, seed=rate + channels)
    if codec != "pcm_f32le":
        x = (np.round(x * 32767) / 32768).astype(np.float32)  # 16-bit-representable
    files = []
    for chunk in (100, 1024, 5000):
        path = tmp_path / f"c{chunk}.{ext}"
        sink = _write(path, x, rate, chunk, codec=codec)
        assert sink.frames_written == frames
        y, got_rate, _ = _read(path)
        assert got_rate == rate and y.shape == (channels, frames)  # exact length
        if codec == "pcm_f32le":
            assert y.dtype == np.float32 and np.array_equal(y, x)  # bit-exact
        else:
            assert y.dtype == np.int16
            if codec == "pcm_s16le":
                assert np.max(np.abs(y / 32768 - x)) <= 1 / 32768
            assert np.array_equal(y.astype(np.float32) / 32768, x)  # 16-bit input: exact
        files.append(path.read_bytes())
    assert files[0] == files[1] == files[2]  # the chunking does not change the file


def test_one_frame_chunks(tmp_path: Path) -> None:
    x = _noise(2, 300)
    _write(tmp_path / "a.wav", x, 48000, 1, codec="pcm_f32le")
    _write(tmp_path / "b.wav", x, 48000, 300, codec="pcm_f32le")
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert np.array_equal(_read(tmp_path / "a.wav")[0], x)


def test_pcm_s16_rounds_within_one_step(tmp_path: Path) -> None:
    x = _noise(2, 5000, seed=3)
    x[:, :4] = [[1.0, -1.0, 0.99999, -0.99999]] * 2  # full scale clips to +32767
    _write(tmp_path / "x.wav", x, 48000, 777)
    y, _, fmt = _read(tmp_path / "x.wav")
    assert fmt == "s16"
    assert np.max(np.abs(y / 32768 - x)) <= 1 / 32768


def test_more_than_two_channels_get_a_default_layout(tmp_path: Path) -> None:
    x = _noise(6, 4000)
    _write(tmp_path / "surround.wav", x, 48000, 1000, codec="pcm_f32le")
    with av.open(str(tmp_path / "surround.wav")) as c:
        assert c.streams.audio[0].codec_context.layout.name == "5.1"
    assert np.array_equal(_read(tmp_path / "surround.wav")[0], x)


def test_eight_channels_round_trip(tmp_path: Path) -> None:
    # PyAV 18.1 cannot build planar frames of 8 channels: the sink goes interleaved.
    x = _noise(8, 4000)
    _write(tmp_path / "eight.wav", x, 48000, 1000, codec="pcm_f32le")
    with av.open(str(tmp_path / "eight.wav")) as c:
        assert c.streams.audio[0].codec_context.channels == 8
    assert np.array_equal(_read(tmp_path / "eight.wav")[0], x)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_empty_stream_gives_a_valid_empty_file(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"empty.{ext}"
    sink = _write(path, np.zeros((2, 0), np.float32), 48000, 1024)
    y, rate, _ = _read(path)
    assert y.shape == (2, 0) and rate == 48000
    assert not sink.removed_empty


@pytest.mark.parametrize("ext", ["opus", "mp3", "m4a", "aac", "mka"])
def test_empty_stream_leaves_no_broken_file(tmp_path: Path, ext: str) -> None:
    # These containers are not readable without a single packet: no file beats a
    # broken one. A stream with audio in it gives a readable file.
    path = tmp_path / f"empty.{ext}"
    sink = _write(path, np.zeros((2, 0), np.float32), 48000, 1024)
    assert sink.removed_empty and not path.exists()
    sink = _write(path, _noise(2, 4800), 48000, 1024)
    assert not sink.removed_empty
    y, rate, _ = _read(path)
    assert y.shape[0] == 2 and y.shape[1] >= 4800 and rate == 48000


def test_running_twice_rewrites_the_file(tmp_path: Path) -> None:
    x = _noise(1, 3000)
    sink = AudioFileSink(tmp_path / "x.wav", codec="pcm_f32le")
    g = Graph()
    g.chain(g.add(ArraySource.audio(x, 48000, 1000)), g.add(sink))
    g.run_sync()
    g.run_sync()
    assert sink.frames_written == 3000
    assert np.array_equal(_read(tmp_path / "x.wav")[0], x)


# -- lossy: lengths within the codec's padding, contents close ------------------------------


@pytest.mark.parametrize(
    ("ext", "rate", "kwargs", "padding", "max_rms_error"),
    [
        ("opus", 48000, {}, 0, 0.01),  # Ogg granule positions trim exactly
        ("ogg", 48000, {"codec": "libopus"}, 0, 0.01),
        ("m4a", 44100, {"bit_rate": 256_000}, 1024, 0.01),  # whole aac frames
        ("mp3", 44100, {}, 1152, 0.05),
    ],
)
@pytest.mark.parametrize("chunk", [480, 4096])
def test_lossy_round_trip(
    tmp_path: Path,
    ext: str,
    rate: int,
    kwargs: dict[str, Any],
    padding: int,
    max_rms_error: float,
    chunk: int,
) -> None:
    frames = rate // 2 + 123
    x = _tones(2, frames, rate)
    path = tmp_path / f"x.{ext}"
    _write(path, x, rate, chunk, **kwargs)
    y, got_rate, _ = _read(path)
    assert got_rate == rate and y.shape[0] == 2
    assert frames <= y.shape[1] <= frames + padding
    steady = slice(rate // 10, frames - rate // 10)  # codec start-up and tail aside
    err = np.sqrt(np.mean((y[:, steady].astype(np.float64) - x[:, steady]) ** 2))
    assert err < max_rms_error


def test_opus_at_24_khz_decodes_at_48_khz(tmp_path: Path) -> None:
    _write(tmp_path / "x.opus", _tones(1, 24000, 24000), 24000, 1000)
    with av.open(str(tmp_path / "x.opus")) as c:
        assert c.streams.audio[0].codec_context.sample_rate == 48000  # Opus always decodes at 48
    y, _, _ = _read(tmp_path / "x.opus")
    assert y.shape == (1, 48000)  # one second, exactly


def test_bit_rate_is_applied(tmp_path: Path) -> None:
    x = _noise(2, 48000)
    _write(tmp_path / "lo.opus", x, 48000, 960, bit_rate=24_000)
    _write(tmp_path / "hi.opus", x, 48000, 960, bit_rate=192_000)
    lo, hi = (tmp_path / "lo.opus").stat().st_size, (tmp_path / "hi.opus").stat().st_size
    assert lo < 5000 < 20000 < hi  # about 3 kB and 24 kB for one second


# -- checked when the graph is built --------------------------------------------------------


def test_rate_opus_cannot_encode_fails_at_validate(tmp_path: Path) -> None:
    g = Graph()
    src = g.add(ArraySource.audio(_noise(2, 4410), 44100), "mic")
    g.chain(src, g.add(AudioFileSink(tmp_path / "out.opus"), "opus_out"))
    with pytest.raises(StreamMismatchError) as info:
        g.validate()
    message = str(info.value)
    assert "'mic'" in message and "'opus_out'" in message
    assert "44100 Hz" in message and "48000" in message and "out.opus" in message
    with pytest.raises(StreamMismatchError):
        g.run_sync()
    assert not (tmp_path / "out.opus").exists()


def test_channels_the_encoder_rejects_fail_at_validate(tmp_path: Path) -> None:
    g = Graph()
    src = g.add(ArraySource.audio(_noise(6, 100), 48000), "src")
    g.chain(src, g.add(AudioFileSink(tmp_path / "x.mp3"), "mp3"))
    with pytest.raises(StreamMismatchError, match=r"'src' -> 'mp3'.*6 ch"):
        g.validate()


def test_video_or_events_are_rejected(tmp_path: Path) -> None:
    g = Graph()
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    g.chain(g.add(ArraySource.video(frames, 25), "cam"), g.add(AudioFileSink(tmp_path / "x.wav")))
    with pytest.raises(StreamMismatchError, match="'cam'"):
        g.validate()


@pytest.mark.parametrize(
    ("path", "kwargs", "match"),
    [
        ("x.wav", {"codec": "no_such_codec"}, "codec"),
        ("x.wav", {"codec": "h264"}, "codec"),
        ("x.wav", {"codec": "libopus"}, "codec"),  # not a codec WAV holds
        ("x.wav", {"bit_rate": 0}, "bit_rate"),
        ("x.wav", {"bit_rate": 1.5}, "bit_rate"),
        ("x.wav", {"format": "no_such_format"}, "format"),
        ("x.unknown", {}, "codec"),
    ],
)
def test_bad_parameters(tmp_path: Path, path: str, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        AudioFileSink(tmp_path / path, **kwargs)


def test_format_overrides_the_extension(tmp_path: Path) -> None:
    x = _noise(1, 2000)
    sink = _write(tmp_path / "x.audio", x, 48000, 500, codec="pcm_f32le", format="wav")
    assert sink.format == "wav"
    assert np.array_equal(_read(tmp_path / "x.audio")[0], x)


# -- failures: the file stays valid and holds what came before ------------------------------


@pytest.mark.parametrize(("ext", "codec"), [("wav", "pcm_f32le"), ("flac", None), ("opus", None)])
def test_failing_run_leaves_a_valid_file_with_the_chunks_before(
    tmp_path: Path, ext: str, codec: str | None
) -> None:
    x = _noise(2, 20 * 1000)
    path = tmp_path / f"partial.{ext}"
    g = Graph()
    src = g.add(ArraySource.audio(x, 48000, 1000), "src")
    g.chain(src, g.add(FailAt(6), "fail"), g.add(AudioFileSink(path, codec=codec), "file"))
    with pytest.raises(NodeError, match="'fail'") as info:
        g.run_sync()
    assert isinstance(info.value.__cause__, RuntimeError)
    y, _, _ = _read(path)
    assert y.shape == (2, 5000)  # chunks 1..5 passed, the 6th raised
    if codec == "pcm_f32le":
        assert np.array_equal(y, x[:, :5000])


def test_gap_fails_naming_the_file_and_both_positions(tmp_path: Path) -> None:
    def chunk(start: int) -> AudioChunk:
        return AudioChunk(_noise(1, 1000, seed=start), 48000, start)

    path = tmp_path / "gappy.wav"
    items = [chunk(0), chunk(1000), chunk(3000), chunk(4000)]
    g = Graph()
    g.chain(
        g.add(ArraySource(items, AudioSpec(48000, 1)), "src"),
        g.add(AudioFileSink(path, codec="pcm_f32le"), "file"),
    )
    with pytest.raises(NodeError, match=r"'file'.*gappy\.wav.*gap.*2000.*3000"):
        g.run_sync()
    y, _, _ = _read(path)
    assert np.array_equal(y, np.concatenate([items[0].data, items[1].data], axis=1))


def test_stream_may_start_late_and_close_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "direct.wav"
    sink = AudioFileSink(path, codec="pcm_f32le")
    sink.close()  # before open: nothing to do
    sink.configure({"in": AudioSpec(48000, 2)})
    sink.open()
    x = _noise(2, 2000)
    # A stream that starts at frame 48000 (e.g. a file read from t = 1 s): file time 0.
    sink.write(AudioChunk(x[:, :1200], 48000, 48000))
    sink.write(AudioChunk(x[:, 1200:], 48000, 49200))
    sink.close(RuntimeError("upstream failed"))
    sink.close()
    y, _, _ = _read(path)
    assert np.array_equal(y, x)
    with pytest.raises(ValueError, match="not open"):
        sink.write(AudioChunk(x, 48000, 50000))


def test_nan_names_the_earliest_frame_and_its_channel(tmp_path: Path) -> None:
    # Channel 0 goes bad at frame 100, channel 1 already at frame 5: frame 5, channel 1.
    path = tmp_path / "nan.wav"
    sink = AudioFileSink(path, codec="pcm_f32le")
    sink.configure({"in": AudioSpec(48000, 2)})
    sink.open()
    good = _noise(2, 1000)
    sink.write(AudioChunk(good, 48000, 0))
    x = _noise(2, 200, seed=1)
    x[0, 100] = np.nan
    x[1, 5] = np.nan
    with pytest.raises(ValueError, match=r"at frame 1005, channel 1;"):
        sink.write(AudioChunk(x, 48000, 1000))
    sink.close()
    y, _, _ = _read(path)
    assert np.array_equal(y, good)
