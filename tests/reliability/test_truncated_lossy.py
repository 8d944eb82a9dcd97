"""Truncated MP3, ADTS AAC and Ogg/Opus files (issue 7): everything decodable before the
cut is delivered, then the run ends with a clear error or a documented clean end, and
the sinks downstream are valid files.

These formats state no length that FFmpeg checks (unlike WAV, FLAC and MP4, see
test_bad_input.py), so what a cut does depends on the format:

* ADTS AAC: the last packet is cut short; the decoder rejects it, and the run fails
  with a DecodeError naming the file and the time, after every whole packet.
* MP3: the last, partial frame decodes as far as it goes; the run ends without an
  error (like a shorter file).
* Ogg/Opus: audio ends with the last complete Ogg page (pages carry a checksum: a
  partial one is dropped); the run ends without an error.

A cut inside the first packets leaves nothing to decode: a MediaOpenError naming the
file, and no output file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from mediastream.cli import main
from mediastream.synth import write_media
from operators import LevelMeter
from operators.dynamics import DynamicsSettings, build_dynamics_chain
from sinks import AudioFileSink, JsonLinesSink
from stream import AudioChunk, DecodeError, FileSource, Graph, MediaOpenError, NodeError

RATE = 48000
SECONDS = 3.0
MP3_FRAME = 1152
LOOKAHEAD = 240  # the limiter's default 5 ms at 48 kHz
AFTER = re.compile(r"after t=(\d+\.\d+) s")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Whole 3 s stereo files, and copies cut at half their size (``t.<ext>``)."""
    d = tmp_path_factory.mktemp("truncated_lossy")
    out: dict[str, Path] = {}
    for ext in ("mp3", "opus"):
        write_media(d / f"a.{ext}", SECONDS, video=False)
        out[ext] = d / f"a.{ext}"
    write_media(d / "a.wav", SECONDS, video=False)
    with av.open(str(d / "a.wav")) as i, av.open(str(d / "a.aac"), "w") as o:  # ADTS
        stream = o.add_stream("aac", rate=RATE, layout="stereo")
        for frame in i.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                o.mux(packet)
        for packet in stream.encode(None):
            o.mux(packet)
    out["aac"] = d / "a.aac"
    for ext in ("mp3", "opus", "aac"):
        data = out[ext].read_bytes()
        (d / f"t.{ext}").write_bytes(data[: len(data) // 2])
        out[f"t.{ext}"] = d / f"t.{ext}"
        (d / f"head.{ext}").write_bytes(data[:300])  # the header and little else
        out[f"head.{ext}"] = d / f"head.{ext}"
    return out


def _read(path: Path, **options: object) -> tuple[npt.NDArray[np.float32], Exception | None]:
    """Every sample FileSource delivers, and the error that ended the read (if any)."""
    chunks: list[npt.NDArray[np.float32]] = []
    error: Exception | None = None
    try:
        for _, item in FileSource(path, video=False, **options):  # type: ignore[arg-type]
            assert isinstance(item, AudioChunk)
            chunks.append(item.data)
    except DecodeError as exc:
        error = exc
    return (np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)), error


@pytest.mark.parametrize("ext", ["mp3", "aac", "opus"])
def test_everything_before_the_cut_is_delivered(files: dict[str, Path], ext: str) -> None:
    whole, error = _read(files[ext])
    assert error is None and whole.shape[1] >= SECONDS * RATE
    cut, error = _read(files[f"t.{ext}"])
    n = cut.shape[1]
    if ext == "aac":
        assert error is not None
        message = str(error)
        assert "\n" not in message and repr(str(files["t.aac"])) in message, message
        (after,) = (float(t) for t in AFTER.findall(message))
        assert after <= n / RATE <= after + 0.1  # names where the delivered audio ends
        exact = n
    elif ext == "mp3":
        assert error is None  # a clean end
        exact = n - MP3_FRAME  # the partial last frame decodes approximately
    else:
        assert error is None
        exact = n  # whole Ogg pages only
    # Half the bytes hold about half the audio (Opus: up to its last whole 1 s page).
    assert (0.9 if ext == "opus" else 1.3) * RATE < n < 1.7 * RATE, n
    np.testing.assert_array_equal(cut[:, :exact], whole[:, :exact])


def test_skip_mode_drops_the_cut_aac_packet_and_ends_quietly(files: dict[str, Path]) -> None:
    strict, error = _read(files["t.aac"])
    source = FileSource(files["t.aac"], video=False, on_error="skip")
    skipped = np.concatenate([item.data for _, item in source], axis=1)  # type: ignore[union-attr]
    assert error is not None and source.skipped_packets == 1
    np.testing.assert_array_equal(skipped, strict)


def _pipeline(src: Path, out: Path, levels: Path) -> tuple[Graph, AudioFileSink]:
    g = Graph()
    file = g.add(FileSource(src, video=False), "file")
    chain = build_dynamics_chain(g, file["audio"], DynamicsSettings())
    sink = AudioFileSink(out)
    g.connect(chain.audio, g.add(sink, "out"))
    g.chain(file["audio"], g.add(LevelMeter(100.0), "meter"), g.add(JsonLinesSink(levels), "j"))
    return g, sink


def _decode(path: Path) -> npt.NDArray[np.generic]:
    """Every sample of an audio file, (channels, frames), as stored."""
    with av.open(str(path)) as c:
        frames = []
        for f in c.decode(audio=0):
            arr = f.to_ndarray()
            if not f.format.is_planar:  # (1, frames * channels) interleaved
                arr = arr.reshape(-1, len(f.layout.channels)).T
            frames.append(arr)
    return np.concatenate(frames, axis=1)


@pytest.mark.parametrize("ext", ["mp3", "aac", "opus"])
def test_sinks_downstream_stay_valid(files: dict[str, Path], tmp_path: Path, ext: str) -> None:
    good, good_levels = tmp_path / "good.flac", tmp_path / "good.jsonl"
    _pipeline(files[ext], good, good_levels)[0].run_sync()
    out, levels = tmp_path / "out.flac", tmp_path / "levels.jsonl"
    g, sink = _pipeline(files[f"t.{ext}"], out, levels)
    if ext == "aac":
        with pytest.raises(NodeError) as info:
            g.run_sync()
        assert info.value.node == "file" and "t.aac" in str(info.value)
    else:
        g.run_sync()
    kept = _decode(out)  # the FLAC file is complete and decodes
    assert kept.shape[1] == sink.frames_written > 0.9 * RATE
    reference = _decode(good)
    # Equal to the whole file's output up to the cut, except where a clean end let the
    # limiter flush its lookahead (what follows the cut is unknown to it), and MP3's
    # approximate last frame.
    same = kept.shape[1] - {"mp3": MP3_FRAME + LOOKAHEAD, "aac": 0, "opus": LOOKAHEAD}[ext]
    np.testing.assert_array_equal(kept[:, :same], reference[:, :same])
    lines = levels.read_text().splitlines()
    assert lines and levels.read_text().endswith("\n")
    events = [json.loads(line) for line in lines]  # every line complete
    good_events = [json.loads(line) for line in good_levels.read_text().splitlines()]
    first = events[0]["start"]  # MP3: the encoder's delay puts the first sample later
    assert [e["start"] for e in events] == [first + 4800 * i for i in range(len(events))]
    whole_windows = len(events) - 1  # the last window was flushed partial (or cut)
    assert events[:whole_windows] == good_events[:whole_windows]


@pytest.mark.parametrize(("ext", "code"), [("mp3", 0), ("aac", 1), ("opus", 0)])
def test_cli_exit_code_and_message(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ext: str,
    code: int,
) -> None:
    out = tmp_path / "out.wav"
    assert main(["dynamics", str(files[f"t.{ext}"]), str(out), "--quiet"]) == code
    err = capsys.readouterr().err
    if code:
        (line,) = err.strip().splitlines()
        assert line.startswith("mediastream dynamics: error: node 'file' failed")
        assert repr(str(files["t.aac"])) in line and "cannot decode audio stream 0" in line
    else:
        assert err == ""
    assert _decode(out).shape[1] > 0.9 * RATE  # a valid WAV either way


@pytest.mark.parametrize("ext", ["mp3", "aac", "opus"])
def test_a_cut_inside_the_first_packets_fails_at_open(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], ext: str
) -> None:
    head = str(files[f"head.{ext}"])
    with pytest.raises(MediaOpenError, match=re.escape(head)):
        FileSource(head, video=False)
    out = tmp_path / "out.flac"
    assert main(["dynamics", head, str(out), "--quiet"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("mediastream dynamics: error: ") and head in line, line
    assert not out.exists()
