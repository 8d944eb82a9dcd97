"""The bad-input matrix (issue 7): every kind of bad input gets one clear line naming
what and where, and whatever was produced before the damage is kept in valid files.

Complements tests/stream/test_file_source.py (missing, garbage and empty files through
FileSource alone) and tests/reliability/test_damaged_and_drifting_files.py (corrupt
packets, drifting streams): here the same kinds of damage go through whole pipelines
(the dynamics chain into AudioFileSink, FrameStats into JSON Lines) and the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from mediastream.cli import main
from mediastream.synth import synth_frame, write_media
from operators import FrameStats, Gain, LevelMeter
from operators.dynamics import (
    Compressor,
    DynamicsSettings,
    EnvelopeFollower,
    Gate,
    Limiter,
    build_dynamics_chain,
)
from sinks import AudioFileSink, JsonLinesSink, MemorySink
from stream import (
    ArraySource,
    AudioChunk,
    AudioFormat,
    DecodeError,
    FileSource,
    Graph,
    MediaOpenError,
    NodeError,
    NodeRef,
    Operator,
    ParameterError,
    Sink,
    StreamMismatchError,
    VideoFormat,
    VideoFrame,
)

RATE = 48000
LOOKAHEAD = 240  # the limiter's default 5 ms at 48 kHz: held back when a run fails
TIME = re.compile(r"t=(\d+\.\d+) s")


def _faststart(src: Path, dst: Path) -> None:
    """Remux with the index (moov) first, as streaming MP4s are: a truncated copy still
    opens and plays up to the cut."""
    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for packet in i.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            o.mux(packet)


def _truncate(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_input")
    out: dict[str, Path] = {}
    for name in ("a.wav", "a.flac"):
        write_media(d / name, 3.0, video=False)
        out[name] = d / name
    write_media(d / "av.mp4", 3.0)
    _faststart(d / "av.mp4", d / "fast.mp4")
    out["fast.mp4"] = d / "fast.mp4"
    out["t.wav"] = _truncate(out["a.wav"], d / "t.wav", 0.5)
    out["t.flac"] = _truncate(out["a.flac"], d / "t.flac", 0.5)
    out["t.mp4"] = _truncate(out["fast.mp4"], d / "t.mp4", 0.5)
    out["moovless.mp4"] = _truncate(d / "av.mp4", d / "moovless.mp4", 0.9)  # index at the end
    (d / "empty.flac").write_bytes(b"")
    out["empty.flac"] = d / "empty.flac"
    (d / "garbage.wav").write_bytes(np.random.default_rng(1).bytes(20000))
    out["garbage.wav"] = d / "garbage.wav"
    # A WAV whose format tag FFmpeg does not know: demuxed, but there is no decoder.
    wav = bytearray(out["a.wav"].read_bytes())
    fmt = wav.find(b"fmt ")
    wav[fmt + 8 : fmt + 10] = (0x3313).to_bytes(2, "little")
    (d / "unknown_codec.wav").write_bytes(bytes(wav))
    out["unknown_codec.wav"] = d / "unknown_codec.wav"
    # An MPEG-TS holding only a data stream.
    with av.open(str(d / "data.ts"), "w") as c:
        s = c.add_data_stream()
        for k in range(10):
            packet = av.Packet(b"not media")
            packet.stream = s
            packet.pts = packet.dts = k * 3600
            packet.time_base = Fraction(1, 90000)
            c.mux(packet)
    out["data.ts"] = d / "data.ts"
    return out


def _decode_s16(path: Path) -> npt.NDArray[np.int16]:
    """Every sample of an audio file as int16 (channels, frames), read by PyAV."""
    with av.open(str(path)) as c:
        frames = []
        for f in c.decode(audio=0):
            arr = f.to_ndarray()
            if not f.format.is_planar:  # (1, frames * channels) interleaved
                arr = arr.reshape(-1, len(f.layout.channels)).T
            frames.append(arr)
    return np.concatenate(frames, axis=1).astype(np.int16)


def _dynamics(src: Path, out: Path) -> tuple[Graph, AudioFileSink]:
    g = Graph()
    file = g.add(FileSource(src, video=False), "file")
    chain = build_dynamics_chain(g, file["audio"], DynamicsSettings())
    sink = AudioFileSink(out)
    g.connect(chain.audio, g.add(sink, "out"))
    return g, sink


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text, text
    return text


# -- files that cannot be read at all: one line, exit 1, no output file ---------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.flac", r"the file is empty \(0 bytes\)"),
        ("garbage.wav", "Invalid data"),
        ("moovless.mp4", "Invalid data"),
        ("unknown_codec.wav", "codec this FFmpeg build cannot decode"),
        ("data.ts", "has no audio stream"),
    ],
)
def test_unreadable_file_fails_the_cli_in_one_line_and_writes_nothing(
    media: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    reason: str,
) -> None:
    out = tmp_path / "out.flac"
    code = main(["dynamics", str(media[name]), str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("mediastream dynamics: error: ")
    assert repr(str(media[name])) in line and re.search(reason, line), line
    assert not out.exists()


def test_unknown_codec_is_described_by_info_and_skipped_when_not_required(
    media: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(media["unknown_codec.wav"])]) == 0
    assert "codec not decodable by this FFmpeg build" in capsys.readouterr().out
    with pytest.raises(MediaOpenError, match=r"audio stream 0 uses a codec"):
        FileSource(media["unknown_codec.wav"], audio=AudioFormat(16000, 1))
    with pytest.raises(MediaOpenError, match=r"no audio or video stream to read \(data\)"):
        FileSource(media["data.ts"])


# -- truncated files: results up to the damage are kept, outputs valid ---------------------


@pytest.mark.parametrize("name", ["t.wav", "t.flac", "t.mp4"])
@pytest.mark.parametrize("ext", [".flac", ".wav"])
def test_truncated_audio_keeps_the_output_up_to_the_damage(
    media: dict[str, Path], tmp_path: Path, name: str, ext: str
) -> None:
    whole = {"t.wav": "a.wav", "t.flac": "a.flac", "t.mp4": "fast.mp4"}[name]
    good_out = tmp_path / f"good{ext}"
    g, _ = _dynamics(media[whole], good_out)
    g.run_sync()
    reference = _decode_s16(good_out)

    bad_out = tmp_path / f"bad{ext}"
    g, sink = _dynamics(media[name], bad_out)
    with pytest.raises(NodeError) as info:
        g.run_sync()
    message = _one_line(info.value)
    assert info.value.node == "file"
    assert repr(str(media[name])) in message, message
    times = [float(t) for t in TIME.findall(message)]
    assert times and 0.5 < max(times) < 2.5, message
    kept = _decode_s16(bad_out)  # the file is complete and decodes without error
    assert kept.shape[1] == sink.frames_written
    # Everything up to the damage, less the limiter's lookahead and one chunk at most.
    assert kept.shape[1] >= round(max(times) * RATE) - LOOKAHEAD - 1024
    assert np.array_equal(kept, reference[:, : kept.shape[1]])


def test_truncated_video_keeps_complete_json_lines_up_to_the_damage(
    media: dict[str, Path], tmp_path: Path
) -> None:
    def run(src: Path, out: Path) -> None:
        g = Graph()
        file = g.add(FileSource(src, audio=False, video=VideoFormat(64, 36)), "file")
        g.chain(file, g.add(FrameStats(), "stats"), g.add(JsonLinesSink(out), "jsonl"))
        g.run_sync()

    run(media["fast.mp4"], tmp_path / "good.jsonl")
    with pytest.raises(NodeError) as info:
        run(media["t.mp4"], tmp_path / "bad.jsonl")
    message = _one_line(info.value)
    assert "t.mp4" in message and "video stream 0 ends after frame" in message, message
    good = (tmp_path / "good.jsonl").read_text().splitlines()
    bad = (tmp_path / "bad.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in bad]  # every line complete
    assert 10 < len(bad) < len(good) and bad == good[: len(bad)]


def test_skip_mode_ends_quietly_where_a_truncated_file_ends(media: dict[str, Path]) -> None:
    src = FileSource(media["t.wav"], on_error="skip")
    frames = sum(item.frames for _, item in src if isinstance(item, AudioChunk))
    assert 1.4 * RATE < frames < 1.6 * RATE


# -- parameters and build-time mismatches --------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: VideoFormat(width=0), "VideoFormat.width must be an int 1..16384 pixels, got 0"),
        (lambda: VideoFormat(width=-1), "got -1"),
        (lambda: VideoFormat(width=100000), "got 100000"),
        (lambda: VideoFormat(height=100000), "VideoFormat.height"),
        (lambda: VideoFormat(width=12.5), "got 12.5"),  # type: ignore[arg-type]
        (lambda: VideoFormat(height=float("nan")), "got nan"),  # type: ignore[arg-type]
        (lambda: AudioFormat(sample_rate=float("nan")), "sample_rate"),  # type: ignore[arg-type]
        (lambda: AudioFormat(sample_rate=float("inf")), "sample_rate"),  # type: ignore[arg-type]
        (lambda: AudioFormat(channels=1.5), "channels must be an int"),  # type: ignore[arg-type]
        (lambda: AudioFormat(chunk_frames=2.5), "chunk_frames"),  # type: ignore[arg-type]
    ],
)
def test_absurd_formats_are_parameter_errors(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ParameterError, match=re.escape(match)) as info:
        make()
    _one_line(info.value)


def test_absurd_video_size_fails_the_cli_with_exit_2(
    media: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fg = str(media["fast.mp4"])
    assert main(["align", fg, fg, "--work-width", "100000", "--quiet"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("mediastream align: error: ") and "100000" in line


def _audio(rate: int, channels: int, name: str, g: Graph) -> NodeRef:
    data = np.zeros((channels, rate // 10), np.float32)
    return g.add(ArraySource.audio(data, rate), name)


@pytest.mark.parametrize(
    ("key_rate", "key_channels", "link", "match"),
    [
        (44100, 2, True, "sidechain is 44100 Hz, main input 48000 Hz"),
        (48000, 3, False, "unlinked sidechain needs 1 or 2 channels, got 3"),
    ],
)
def test_sidechain_mismatch_fails_at_build_time_naming_both_nodes(
    key_rate: int, key_channels: int, link: bool, match: str
) -> None:
    g = Graph()
    comp = g.add(Compressor(sidechain=True, link=link), "comp")
    g.connect(_audio(RATE, 2, "main", g), comp["in"])
    g.connect(_audio(key_rate, key_channels, "key", g), comp["sidechain"])
    g.connect(comp, g.add(MemorySink(), "sink"))
    with pytest.raises(StreamMismatchError, match=match) as info:
        g.validate()
    assert "'key' -> 'comp'" in _one_line(info.value)


def test_audio_sink_rate_mismatch_fails_before_anything_is_written(
    media: dict[str, Path], tmp_path: Path
) -> None:
    g = Graph()
    src = g.add(FileSource(media["a.wav"], audio=AudioFormat(44100)), "file")
    g.connect(src, g.add(AudioFileSink(tmp_path / "out.opus"), "out"))
    with pytest.raises(StreamMismatchError, match="cannot encode 44100 Hz") as info:
        g.run_sync()
    assert "'file' -> 'out'" in _one_line(info.value)
    assert not (tmp_path / "out.opus").exists()


# -- NaN and infinity: rejected by every audio operator and the audio sink ------------------

BAD_AT = 3210  # frame of the bad sample (in the fourth 1000-frame chunk), channel 1

OPERATORS: dict[str, Callable[[], Operator | Sink]] = {
    "envelope": EnvelopeFollower,
    "compressor": Compressor,
    "limiter": Limiter,
    "gate": Gate,
    "level_meter": LevelMeter,
    "gain": lambda: Gain(-6.0),
}


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_non_finite_audio_fails_naming_node_and_frame(name: str, value: float) -> None:
    x = np.zeros((2, 5000), np.float32)
    x[1, BAD_AT] = value
    g = Graph()
    mem = MemorySink()
    g.chain(g.add(ArraySource.audio(x, RATE, 1000), "src"), g.add(OPERATORS[name](), name))
    g.connect(name, g.add(mem, "sink"))
    with pytest.raises(NodeError) as info:
        g.run_sync()
    message = _one_line(info.value)
    assert info.value.node == name
    assert f"frame {BAD_AT}" in message and "non-finite" in message, message
    # Nothing non-finite got past the operator.
    for chunk in mem.items:
        data = getattr(chunk, "data", None)
        assert data is None or np.isfinite(data).all()


def test_non_finite_sidechain_fails_naming_the_frame() -> None:
    main_in = np.zeros((2, 5000), np.float32)
    key = np.zeros((2, 5000), np.float32)
    key[0, BAD_AT] = np.nan
    g = Graph()
    comp = g.add(Compressor(sidechain=True), "comp")
    g.connect(g.add(ArraySource.audio(main_in, RATE, 1000), "main"), comp["in"])
    g.connect(g.add(ArraySource.audio(key, RATE, 1000), "key"), comp["sidechain"])
    g.connect(comp, g.add(MemorySink(), "sink"))
    with pytest.raises(NodeError) as info:
        g.run_sync()
    assert info.value.node == "comp" and f"frame {BAD_AT}" in _one_line(info.value)


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_audio_file_sink_rejects_non_finite_and_keeps_what_came_before(
    tmp_path: Path, ext: str
) -> None:
    x = np.full((2, 5000), 0.25, np.float32)
    x[1, BAD_AT] = np.inf
    out = tmp_path / f"out{ext}"
    g = Graph()
    g.connect(g.add(ArraySource.audio(x, RATE, 1000), "src"), g.add(AudioFileSink(out), "out"))
    with pytest.raises(NodeError) as info:
        g.run_sync()
    message = _one_line(info.value)
    assert info.value.node == "out" and f"frame {BAD_AT}, channel 1" in message, message
    kept = _decode_s16(out)
    assert kept.shape == (2, 3000) and (kept == 8192).all()


def test_float_wav_with_nan_fails_the_dynamics_cli_naming_node_and_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "nan.wav"
    x = np.full((1, 2 * RATE), 0.1, np.float32)
    x[0, 70000] = np.nan
    with av.open(str(src), "w") as c:
        s = c.add_stream("pcm_f32le", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(x, format="flt", layout="mono")
        frame.sample_rate = RATE
        for packet in [*s.encode(frame), *s.encode(None)]:
            c.mux(packet)
    out = tmp_path / "out.wav"
    assert main(["dynamics", str(src), str(out), "--quiet"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "node 'compressor'" in line and "frame 70000" in line, line
    kept = _decode_s16(out)
    assert 60000 < kept.shape[1] <= 70000  # valid, and nothing from the bad chunk on


# -- variable frame rate: times follow the real pts ----------------------------------------

VFR_PTS = [0, 1, 3, 4, 9, 10, 11, 20, 21, 40]  # in 1/25 s


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_variable_frame_rate_times_follow_the_pts(tmp_path: Path, ext: str) -> None:
    from operators import Fingerprint

    path = tmp_path / f"vfr{ext}"
    tick = Fraction(1, 25)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 36, "yuv420p"
        s.codec_context.time_base = tick
        for k, pts in enumerate(VFR_PTS):
            frame = av.VideoFrame.from_ndarray(synth_frame(k, 64, 36), format="rgb24")
            frame.pts, frame.time_base = pts, tick
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    g = Graph()
    src = g.add(FileSource(path, audio=False), "file")
    stats, prints = g.add(FrameStats(), "stats"), g.add(Fingerprint(), "prints")
    mem_stats, mem_prints = MemorySink(), MemorySink()
    g.chain(src, stats, g.add(mem_stats, "s"))
    g.chain(src, prints, g.add(mem_prints, "p"))
    g.run_sync()
    expected = [pts * tick for pts in VFR_PTS]
    for mem in (mem_stats, mem_prints):
        assert [e.start * e.time_base for e in mem.events] == expected
        assert [getattr(e.payload, "index", None) for e in mem.events] == list(
            range(len(VFR_PTS))
        )


# -- MP4 edit lists: frames before the presentation start are declared but not shown --------


def _edit_list_mp4(tmp_path: Path, *, faststart: bool = False) -> Path:
    """A 250-frame 25 fps MP4 whose first 125 frames lie before an edit list's start, as
    ``ffmpeg -ss 5 -c copy`` writes it: its packets are muxed with pts shifted 5 s negative,
    so the mov muxer writes an elst that drops them on decode."""
    plain, path = tmp_path / "plain.mp4", tmp_path / "cut.mp4"
    write_media(plain, 10.0, audio=False, width=64, height=36, fps=25)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(plain)) as i, av.open(str(path), "w", options=options) as o:
        s = o.add_stream_from_template(i.streams.video[0])
        shift = None
        for packet in i.demux(i.streams.video[0]):
            if packet.dts is None:
                continue
            if shift is None:
                shift = round(5 / packet.time_base)
            assert packet.pts is not None
            packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
            packet.stream = s
            o.mux(packet)
    with av.open(str(path)) as c:  # what ffprobe shows: 250 declared, 125 decoded
        declared = c.streams.video[0].frames
        decoded = sum(1 for _ in c.decode(video=0))
    assert (declared, decoded) == (250, 125)
    return path


def test_mp4_with_an_edit_list_is_read_whole_not_called_truncated(tmp_path: Path) -> None:
    path = _edit_list_mp4(tmp_path)
    source = FileSource(path, audio=False, video=VideoFormat(64, 36))
    frames = [item for _, item in source if isinstance(item, VideoFrame)]
    assert len(frames) == 125
    assert [f.pts * f.time_base for f in frames[:2]] == [0, Fraction(1, 25)]


def test_truncated_mp4_with_an_edit_list_is_still_reported(tmp_path: Path) -> None:
    path = _truncate(_edit_list_mp4(tmp_path, faststart=True), tmp_path / "t.mp4", 0.75)
    source = FileSource(path, audio=False, video=VideoFormat(64, 36))
    with pytest.raises(DecodeError, match=r"video stream 0 ends after frame .*truncated") as info:
        for _ in source:
            pass
    times = [float(t) for t in TIME.findall(str(info.value))]
    assert times and 0.5 < max(times) < 4.5, info.value
