"""Never lose a user's data (issue 17): the file sources and the file sinks.

Real components only: media written with PyAV here, real pipes and FIFOs, a second
Python process, a small tmpfs for a full disk (skipped with the reason where no tmpfs
can be mounted), a real symlink to /dev/full. Each test's docstring names its case
in the issue and what happened before the fix.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from mediastream.synth import synth_frame, write_media
from operators.speaker.turns import SpeakerTurn
from sinks import AudioFileSink, CsvSink, JsonLinesSink, MemorySink, RttmSink, VideoFileSink
from stream import (
    ArraySource,
    AudioChunk,
    AudioSpec,
    Event,
    FileSource,
    Graph,
    NodeError,
    VideoFrame,
    probe,
)

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
BIN = Path(sys.executable).with_name("mediastream")


def _python(code: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a second Python process at the repository root."""
    return subprocess.run(
        [PY, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        **kwargs,
    )


def _audio(source: FileSource) -> tuple[npt.NDArray[np.float32], list[AudioChunk]]:
    chunks = [item for _, item in source]
    assert all(isinstance(c, AudioChunk) for c in chunks)
    audio = [c for c in chunks if isinstance(c, AudioChunk)]
    return np.concatenate([c.data for c in audio], axis=1), audio


# -- case 3: a corrupt FLAC keeps its true timeline ---------------------------------------


@pytest.fixture(scope="module")
def flacs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 10 s mono FLAC and a copy with 3000 bytes of garbage in the middle."""
    d = tmp_path_factory.mktemp("flac")
    good, bad = d / "good.flac", d / "bad.flac"
    write_media(good, 10.0, video=False, channels=1, sample_rate=48000)
    data = bytearray(good.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 3000] = np.random.default_rng(0).bytes(3000)
    bad.write_bytes(bytes(data))
    return good, bad


def test_case3_corrupt_flac_keeps_the_true_timeline(flacs: tuple[Path, Path]) -> None:
    """Case 3. Before: the damaged FLAC decoded with no error and no warning to 10.384 s,
    everything after the damage 0.384 s late (the frames FFmpeg recovered without
    timestamps were appended, then the apparent hole was filled with silence too).
    Now: on_error="raise" fails naming the file and the time of the damage, after
    delivering everything before; on_error="skip" warns once, naming the time, and
    the audio after the damage is at its true place, sample for sample."""
    good, bad = flacs
    ref, _ = _audio(FileSource(good))
    assert ref.shape[1] == 480000

    g = Graph()
    mem = MemorySink()
    g.connect(g.add(FileSource(bad), "file"), g.add(mem, "mem"))
    with pytest.raises(NodeError) as info:
        g.run_sync()
    err = info.value
    assert err.node == "file" and "bad.flac" in str(err) and "damaged at t=" in str(err)
    got = mem.audio()
    assert 4.0 * 48000 < got.shape[1] < 5.0 * 48000
    np.testing.assert_array_equal(got, ref[:, : got.shape[1]])  # all before: intact
    assert err.time is not None and abs(err.time - got.shape[1] / 48000) < 0.2

    src = FileSource(bad, on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audio, chunks = _audio(src)
    assert [c.start for c in chunks[1:]] == [c.end for c in chunks[:-1]]
    assert audio.shape[1] == 480000  # 10 s exactly, not 10.384 s
    damage = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(damage) == 1 and "damaged at t=4.6" in damage[0], damage
    assert src.damage == damage
    # After the damaged stretch the audio is where it belongs, sample for sample.
    np.testing.assert_array_equal(audio[:, 6 * 48000 :], ref[:, 6 * 48000 :])
    np.testing.assert_array_equal(audio[:, : 4 * 48000], ref[:, : 4 * 48000])


# -- case 4: stdin and named pipes are opened once -----------------------------------------

_READ = """
import hashlib, json, sys
import numpy as np
from stream import FileSource
chunks = [item for _, item in FileSource(sys.argv[1], video=False)]
data = np.concatenate([c.data for c in chunks], axis=1)
print(json.dumps({"frames": int(data.shape[1]), "rate": chunks[0].sample_rate,
                  "sha": hashlib.sha256(data.tobytes()).hexdigest()}))
"""

_COPY = """
import sys
from sinks import AudioFileSink
from stream import FileSource, Graph
g = Graph()
fmt = {"format": sys.argv[3]} if len(sys.argv) > 3 else {}
g.chain(g.add(FileSource(sys.argv[1], video=False), "file"),
        g.add(AudioFileSink(sys.argv[2], **fmt), "out"))
g.run_sync()
"""


@pytest.fixture(scope="module")
def wav10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipes") / "ten.wav"
    write_media(path, 10.0, video=False, channels=1, sample_rate=16000)
    return path


def _expected(path: Path) -> dict[str, Any]:
    res = _python(_READ, str(path), timeout=60)
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout))


@pytest.mark.parametrize("name", ["-", "pipe:0", "fifo"])
def test_case4_stdin_and_named_pipes_are_read_once(wav10: Path, tmp_path: Path, name: str) -> None:
    """Case 4. Before: FileSource probed the input, then opened it again: ``pipe:0``
    read the bytes left after the probe as another file (here: "Invalid data found";
    in the issue 10 s of WAV became 18.9 s of noise), ``"-"`` was "no such file", and a
    FIFO waited forever for a second writer. Now each is opened once and read whole."""
    expected = _expected(wav10)
    assert expected["frames"] == 160000
    if name == "fifo":
        fifo = tmp_path / "in.fifo"
        os.mkfifo(fifo)
        writer = subprocess.Popen(["sh", "-c", f'cat "{wav10}" > "{fifo}"'])
        try:
            res = _python(_READ, str(fifo), timeout=60)
        finally:
            writer.wait(timeout=10)
    else:
        with wav10.open("rb") as stdin:
            res = _python(_READ, name, stdin=stdin, timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == expected


@pytest.mark.parametrize("fmt", [None, "flac"])
def test_case4_stdin_to_stdout_round_trip(wav10: Path, tmp_path: Path, fmt: str | None) -> None:
    """Case 4. ``cat in.wav | copy - - | read -`` (FileSource "-" to AudioFileSink "-",
    WAV by default: a streamable header on a pipe; or FLAC), and ``mediastream info -``.
    Before: "-" was no such file for the source and an unknown extension for the sink."""
    expected = _expected(wav10)
    extra = [fmt] if fmt else []
    with wav10.open("rb") as stdin:
        copy = subprocess.Popen(
            [PY, "-c", textwrap.dedent(_COPY), "-", "-", *extra],
            cwd=ROOT,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert copy.stdout is not None
        read = subprocess.run(
            [PY, "-c", textwrap.dedent(_READ), "-"],
            cwd=ROOT,
            stdin=copy.stdout,
            capture_output=True,
            text=True,
            timeout=60,
        )
        copy.stdout.close()
        _, errors = copy.communicate(timeout=60)
        assert copy.returncode == 0, errors
    assert read.returncode == 0, read.stderr
    got = json.loads(read.stdout)
    assert got["frames"] == expected["frames"] and got["rate"] == expected["rate"]
    assert got["sha"] == expected["sha"]  # 16-bit in, 16-bit out: the same samples

    # Redirected to a regular file, the output is seekable: a complete header.
    out = tmp_path / f"out.{fmt or 'wav'}"
    with wav10.open("rb") as stdin, out.open("wb") as stdout:
        res = subprocess.run(
            [PY, "-c", textwrap.dedent(_COPY), "-", "-", *extra],
            cwd=ROOT, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=60,
        )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert probe(out).duration_s == pytest.approx(10.0)
    with out.open("rb") as stdin:
        info = subprocess.run(
            [str(BIN), "info", "-"], stdin=stdin, capture_output=True, text=True, timeout=60
        )
    assert info.returncode == 0, info.stderr
    # A pipe cannot be measured without reading it whole: the duration is unknown.
    assert info.stdout.startswith(f"-: {fmt or 'wav'}, ") and "16000 Hz, 1 ch" in info.stdout


def test_case4_formats_that_must_seek_refuse_a_pipe_in_one_line(wav10: Path) -> None:
    """Case 4. An MP4/M4A or AIFF muxer goes back to finish its header, which a pipe
    cannot do. Before: ``"-"`` was an unknown extension; with ``format="ipod"`` the
    muxer failed with a bare "Invalid argument", an AIFF came out unreadable. Now
    the sink refuses at the start, naming the format and what a pipe can take."""
    with wav10.open("rb") as stdin:
        res = subprocess.run(
            [PY, "-c", textwrap.dedent(_COPY), "-", "-", "ipod"],
            cwd=ROOT, stdin=stdin, capture_output=True, timeout=60,
        )  # fmt: skip
    assert res.returncode == 1
    last = res.stderr.decode().strip().splitlines()[-1]
    assert "cannot write 'ipod' to '-': it is a pipe" in last and "WAV, FLAC" in last, last


# -- case 5: a full disk leaves WAV and AIFF headers that tell the truth --------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 160 KiB tmpfs: writes past it fail with ENOSPC, as on a full disk (the
    approach of test_video_disk_full.py and test_faults.py)."""
    mount = tmp_path / "small"
    mount.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {res.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", str(mount)], check=True)


def _wav_sizes(data: bytes) -> tuple[int, int, int, int]:
    """(RIFF size, offset of the samples, data size, block align) of a WAV file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, align = 12, 0
    while True:
        tag, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if tag == b"fmt ":
            align = struct.unpack("<H", data[pos + 20 : pos + 22])[0]
        if tag == b"data":
            return struct.unpack("<I", data[4:8])[0], pos + 8, size, align
        pos += 8 + size + (size & 1)


def _aiff_sizes(data: bytes) -> tuple[int, int, int, int, int]:
    """(FORM size, frames in COMM, offset of the samples, SSND size, bytes per frame)."""
    assert data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC")
    pos, frames, frame_bytes = 12, -1, 0
    while True:
        tag, size = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        if tag == b"COMM":
            channels, frames, bits = struct.unpack(">HIH", data[pos + 8 : pos + 16])
            frame_bytes = channels * ((bits + 7) // 8)
        if tag == b"SSND":
            offset = struct.unpack(">I", data[pos + 8 : pos + 12])[0]
            form = struct.unpack(">I", data[4:8])[0]
            return form, frames, pos + 16 + offset, size, frame_bytes
        pos += 8 + size + (size & 1)


@pytest.mark.parametrize("ext", [".wav", ".aiff"])
@pytest.mark.parametrize("free_kb", [60, 23])
def test_case5_full_disk_leaves_headers_that_describe_the_samples(
    small_disk: Path, ext: str, free_kb: int
) -> None:
    """Case 5. Before: on a full disk the WAV kept sizes counting bytes that never
    reached the disk (the AIFF: sizes 0 and a sample count `mediastream info` could
    not open), the data cut inside a sample frame. Now the run fails naming the file
    and the header describes exactly the whole sample frames in the file, which read
    back equal to what was written."""
    (small_disk / "filler").write_bytes(b"x" * (160 - free_kb) * 1024)
    rate, seconds = 48000, 3
    t = np.arange(rate * seconds) / rate
    audio = (0.5 * np.sin(2 * np.pi * 440 * np.stack([t, 1.01 * t]))).astype(np.float32)
    out = small_disk / f"out{ext}"
    g = Graph()
    src = ArraySource.audio(audio, rate, chunk_frames=1001)
    g.connect(g.add(src, "src"), g.add(AudioFileSink(out), "out"))
    with pytest.raises(NodeError, match="No space left on device") as info:
        g.run_sync()
    assert str(out) in str(info.value)
    data = out.read_bytes()
    if ext == ".wav":
        riff, start, size, align = _wav_sizes(data)
        assert riff == len(data) - 8
        frames = size // align
        assert size % align == 0 and start + size == len(data)
    else:
        form, frames, start, ssnd, frame_bytes = _aiff_sizes(data)
        assert form == len(data) - 8
        assert start + frames * frame_bytes == len(data) and ssnd == 8 + frames * frame_bytes
    assert frames > 1000
    with av.open(str(out)) as c:
        decoded = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    if decoded.shape[0] == 1:  # interleaved s16
        decoded = decoded.reshape(-1, 2).T
    assert decoded.shape[1] == frames
    expected = np.clip(np.round(audio[:, :frames] * 32768), -32768, 32767)
    np.testing.assert_allclose(decoded.astype(np.float64), expected, atol=1)
    res = subprocess.run([str(BIN), "info", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# -- case 6: one writer per output, event files readable while they grow ---------------------


def _sink(kind: str, path: Path) -> Any:
    return {
        "wav": lambda: AudioFileSink(path),
        "mkv": lambda: VideoFileSink(path),
        "jsonl": lambda: JsonLinesSink(path),
        "rttm": lambda: RttmSink(path),
        "csv": lambda: CsvSink(path),
    }[kind]()


_SECOND_WRITER = """
import sys
from fractions import Fraction
import numpy as np
from operators.speaker.turns import SpeakerTurn
from sinks import AudioFileSink, CsvSink, JsonLinesSink, RttmSink, VideoFileSink
from stream import AudioChunk, AudioSpec, EncodeError, Event, VideoFrame, VideoSpec
kind, path = sys.argv[1], sys.argv[2]
try:
    if kind == "wav":
        sink = AudioFileSink(path)
        sink.configure({"in": AudioSpec(8000, 1)})
        sink.open()
        sink.write(AudioChunk(np.ones((1, 800), np.float32) * 0.5, 8000, 0))
    elif kind == "mkv":
        sink = VideoFileSink(path)
        sink.configure({"in": VideoSpec(64, 36, "rgb24", Fraction(25), Fraction(1, 25))})
        sink.open()
        sink.write(VideoFrame(np.full((36, 64, 3), 200, np.uint8), 0, 0, Fraction(1, 25)))
    else:
        sink = {"jsonl": JsonLinesSink, "rttm": RttmSink, "csv": CsvSink}[kind](path)
        sink.open()
        sink.write(Event("speaker_turn", 0, 480, Fraction(1, 48000),
                         SpeakerTurn("INTRUDER", 1.0)))
    sink.close()
except EncodeError as exc:
    print(exc)
    sys.exit(3)
print("wrote")
"""


@pytest.mark.parametrize("kind", ["wav", "mkv", "jsonl", "rttm", "csv"])
def test_case6_second_writer_process_fails_naming_the_path(tmp_path: Path, kind: str) -> None:
    """Case 6. Before: a second process writing the same output truncated it and
    mixed its data into it, silently. Now it fails, naming the path and saying that
    another process is writing it, and the first writer's file is left whole."""
    path = tmp_path / f"out.{kind}"
    sink = _sink(kind, path)
    if kind == "wav":
        sink.configure({"in": AudioSpec(8000, 1)})
        sink.open()
        sink.write(AudioChunk(np.zeros((1, 8000), np.float32), 8000, 0))
    elif kind == "mkv":
        from stream import VideoSpec

        sink.configure({"in": VideoSpec(64, 36, "rgb24", Fraction(25), Fraction(1, 25))})
        sink.open()
        for i in range(5):
            sink.write(VideoFrame(synth_frame(i, 64, 36), i, i, Fraction(1, 25)))
    else:
        sink.open()
        turn = Event("speaker_turn", 0, 480, Fraction(1, 48000), SpeakerTurn("OWNER", 1.0))
        sink.write(turn)
    before = path.read_bytes()
    res = _python(_SECOND_WRITER, kind, str(path), timeout=60)
    assert res.returncode == 3, (res.stdout, res.stderr)
    message = res.stdout.strip()
    assert str(path) in message and "another process is writing it" in message, message
    assert path.read_bytes() == before  # not truncated, nothing mixed in
    sink.close()
    if kind == "wav":
        assert probe(path).duration_s == pytest.approx(1.0)
    elif kind == "mkv":
        with av.open(str(path)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 5
    else:
        text = path.read_text()
        assert "OWNER" in text and "INTRUDER" not in text
    # Once the first writer is done, the file can be written again.
    res = _python(_SECOND_WRITER, kind, str(path), timeout=60)
    assert res.returncode == 0, (res.stdout, res.stderr)


_GROWING_WRITER = """
import sys
from fractions import Fraction
from operators.speaker.turns import SpeakerTurn
from sinks import CsvSink, JsonLinesSink, RttmSink
from stream import Event
kind, path, lockstep, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sink = {"jsonl": JsonLinesSink, "rttm": RttmSink, "csv": CsvSink}[kind](path)
sink.open()
for i in range(lockstep + n):
    sink.write(Event("speaker_turn", i * 480, (i + 1) * 480, Fraction(1, 48000),
                     SpeakerTurn("S" + "x" * (i % 300), i / (lockstep + n))))
    if i < lockstep:  # say it is written, wait until the reader has looked
        print(i, flush=True)
        sys.stdin.readline()
sink.close()
"""


def _check_line(kind: str, line: str, i: int) -> None:
    if kind == "jsonl":
        assert json.loads(line)["start"] == i * 480
    elif kind == "rttm":
        assert line.split()[3] == f"{i * 0.01:.3f}"
    else:
        assert line.split(",")[1] == str(i * 480)


@pytest.mark.parametrize("kind", ["jsonl", "rttm", "csv"])
def test_case6_event_files_are_whole_lines_while_they_grow(tmp_path: Path, kind: str) -> None:
    """Case 6. A reader that follows the file while another process writes it (as
    ``tail -f`` does) finds each event's whole line in the file as soon as the event
    is written (never a part of it held back in a buffer), and every line it reads
    parses. Before: the same (one ``write`` per line, flushed at once); kept by this
    test. A line is one ``write`` call, but Linux lets a concurrent ``read`` see it
    half copied (at a page boundary) for the microseconds the call takes: a follower
    keeps an unterminated last line until its newline arrives, as ``tail -f`` does."""
    path = tmp_path / f"grow.{kind}"
    lockstep, n = 40, 3000
    header = kind == "csv"
    writer = subprocess.Popen(
        [PY, "-c", textwrap.dedent(_GROWING_WRITER), kind, str(path), str(lockstep), str(n)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        for i in range(lockstep):  # each event is in the file, whole, once written
            assert writer.stdout.readline().strip() == str(i)
            lines = path.read_text().split("\n")
            assert lines[-1] == "", f"event {i}: the file ends inside a line"
            assert len(lines) - 1 == i + 1 + header
            _check_line(kind, lines[-2], i)
            writer.stdin.write("\n")
            writer.stdin.flush()
        # Then followed while it writes as fast as it can.
        done: list[str] = []
        pending = b""
        reads = 0
        deadline = time.monotonic() + 60
        with path.open("rb") as f:
            while time.monotonic() < deadline:
                finished = writer.poll() is not None
                chunk = f.read()
                if chunk:
                    reads += 1
                    *whole, pending = (pending + chunk).split(b"\n")
                    done.extend(line.decode() for line in whole)
                elif finished:
                    break
                else:
                    time.sleep(0.0002)
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
    assert writer.returncode == 0
    assert pending == b""
    assert len(done) == lockstep + n + header and reads > 2  # read while it grew
    for i, line in enumerate(done[header:]):
        _check_line(kind, line, i)


# -- case 7: an output on a device never spins ----------------------------------------------


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dev_full") / "short.wav"
    write_media(path, 3.0, video=False, channels=1, sample_rate=16000)
    return path


@pytest.mark.parametrize("ext", [".flac", ".mp3", ".wav"])
def test_case7_output_symlinked_to_dev_full_ends_at_once(
    short_wav: Path, tmp_path: Path, ext: str
) -> None:
    """Case 7. Before: ``dynamics in.wav out.flac`` (or .mp3) with the output a symlink
    to /dev/full took every write without an error (FFmpeg's file protocol dropped
    them), then the tail clean-up read /dev/full back forever at 100 % CPU, deaf to
    SIGINT (killed here after 5 s + SIGINT + 2 s); a .wav failed only at close. Now the
    first write fails naming the file, in one line, and nothing reads the device."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    link = tmp_path / f"out{ext}"
    link.symlink_to("/dev/full")
    proc = subprocess.Popen(
        [str(BIN), "dynamics", str(short_wav), str(link), "--quiet", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        try:
            proc.wait(timeout=5.0)  # the run itself takes well under a second
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("still running 2 s after SIGINT: it spins on the device")
    _, stderr = proc.communicate()
    assert proc.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert str(link) in lines[0] and "No space left on device" in lines[0], lines[0]
    assert "failed at t=0.000" in lines[0] or "failed at start" in lines[0], lines[0]


# -- case 10: variable frame rate goes into MP4 and Matroska --------------------------------

VFR_MS = [0, 33, 40, 100, 101, 250, 700, 733, 1000, 1017, 1500, 2100]


@pytest.mark.parametrize("src_ext", [".mkv", ".mp4"])
@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_case10_variable_frame_rate_is_written_frame_for_frame(
    tmp_path: Path, src_ext: str, ext: str
) -> None:
    """Case 10. Before: frames were timed in 1/frame_rate inside the encoder, so frames
    closer than one nominal frame collapsed onto one pts; the MP4 muxer refused the
    repeated timestamps ("Invalid argument") and kept 4 to 6 of 12 frames, Matroska
    kept them with wrong times. Now every frame is kept at its own time."""
    src = tmp_path / f"vfr{src_ext}"
    tick = Fraction(1, 1000)
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 36, "yuv420p"
        s.codec_context.time_base = tick
        for k, ms in enumerate(VFR_MS):
            frame = av.VideoFrame.from_ndarray(synth_frame(k, 64, 36), format="rgb24")
            frame.pts, frame.time_base = ms, tick
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    source = FileSource(src, audio=False)
    frames = [item for _, item in source]
    assert len(frames) == len(VFR_MS)
    times = [float(f.pts * f.time_base) for f in frames if isinstance(f, VideoFrame)]
    assert times == pytest.approx([ms / 1000 for ms in VFR_MS], abs=1e-3)

    out = tmp_path / f"out{ext}"
    g = Graph()
    sink = VideoFileSink(out)
    g.connect(g.add(FileSource(src, audio=False), "file"), g.add(sink, "out"))
    g.run_sync()
    assert sink.frames_written == len(VFR_MS)
    with av.open(str(out)) as c:
        got = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    assert got == pytest.approx(times, abs=1e-3)
