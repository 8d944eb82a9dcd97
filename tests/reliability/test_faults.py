"""Faults while real pipelines run (issue 7): an operator failing at chunk N, a disk
that fills up (a real ENOSPC from a small tmpfs or /dev/full), a slow sink on a long
file (peak RSS measured in a fresh process), SIGTERM and SIGINT during
``mediastream dynamics`` and ``mediastream align``. Every case ends with valid outputs
up to the fault and a non-zero exit with a one-line reason.

tests/stream/test_errors.py covers the runtime's side with in-memory nodes;
tests/reliability/test_interrupt.py covers Ctrl-C during ``mediastream meter``.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from mediastream.synth import write_media
from operators import LevelMeter
from sinks import AudioFileSink, CsvSink, JsonLinesSink
from stream import AudioFormat, FileSource, Graph, NodeError
from tests.operators.video.pairs import PairSpec, write_pair
from tests.stream.support import FailAt

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).with_name("mediastream")
RATE = 48000


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "a.wav"
    write_media(path, 3.0, video=False)
    return path


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults_long") / "long.wav"
    write_media(path, 400.0, video=False, sample_rate=16000, channels=1)
    return path


def _decode(path: Path) -> npt.NDArray[np.float32]:
    """Every sample of a stereo audio file, (2, frames) float32; fails if it is broken."""
    with av.open(str(path)) as c:
        frames = []
        for f in c.decode(audio=0):
            arr = f.to_ndarray()
            if not f.format.is_planar:
                arr = arr.reshape(-1, len(f.layout.channels)).T
            frames.append(arr)
    if not frames:
        return np.zeros((2, 0), np.float32)
    data = np.concatenate(frames, axis=1)
    scale = np.float32(1 / 32768 if data.dtype == np.int16 else 1)
    result: npt.NDArray[np.float32] = data.astype(np.float32) * scale
    return result


def _json_lines(path: Path) -> list[dict[str, object]]:
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "the last line is cut"
    return [json.loads(line) for line in text.splitlines()]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


# -- an operator raising at chunk N ----------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 37])
def test_operator_failing_at_chunk_n_keeps_exactly_the_chunks_before(
    wav: Path, tmp_path: Path, n: int
) -> None:
    chunk = 1000
    g = Graph()
    src = g.add(FileSource(wav, audio=AudioFormat(chunk_frames=chunk)), "file")
    bad = g.add(FailAt(n), "bad")
    g.connect(src, bad)
    outs = {ext: tmp_path / f"out{ext}" for ext in (".wav", ".flac", ".mka")}
    for ext, path in outs.items():
        codec = "pcm_f32le" if ext == ".mka" else None
        g.connect(bad, g.add(AudioFileSink(path, codec=codec), f"sink{ext}"))
    meter = g.add(LevelMeter(interval_ms=10.0), "meter")  # 480-frame windows
    g.connect(bad, meter)
    jsonl, table = tmp_path / "levels.jsonl", tmp_path / "levels.csv"
    g.connect(meter, g.add(JsonLinesSink(jsonl), "jsonl"))
    g.connect(meter, g.add(CsvSink(table), "csv"))
    with pytest.raises(NodeError) as info:
        g.run_sync()
    assert info.value.node == "bad" and f"frame {n * chunk} at" in str(info.value)
    ref = _decode(wav)  # 16-bit samples: every output format here holds them exactly
    for ext, path in outs.items():
        if n == 0 and not path.exists():
            continue  # no audio at all: no file in a format that cannot hold zero samples
        got = _decode(path)
        assert got.shape[1] == n * chunk, ext  # exactly the chunks before the fault
        assert np.array_equal(got, ref[:, : n * chunk]), ext
    events = _json_lines(jsonl)
    assert len(events) <= n * chunk // 480
    assert [e["start"] for e in events] == [480 * i for i in range(len(events))]
    with table.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["kind", "start"] and len(rows) == len(events) + 1


# -- the disk fills up -----------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 160 KiB tmpfs: writes past it fail with ENOSPC, as on a full disk."""
    mount = tmp_path / "small"
    mount.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(
            f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {res.stderr.strip()}; the "
            "/dev/full tests below cover ENOSPC for the text sinks"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_disk_full_fails_in_one_line_and_keeps_valid_files(
    wav: Path, tmp_path: Path, small_disk: Path, ext: str
) -> None:
    good = tmp_path / f"good{ext}"
    assert _cli("dynamics", str(wav), str(good), "--quiet").returncode == 0
    out, meters = small_disk / f"out{ext}", small_disk / "meters.jsonl"
    args = ["dynamics", str(wav), str(out), "--meter-jsonl", str(meters), "--quiet"]
    if ext == ".flac":
        args += ["--threshold-db", "-60", "--ratio", "20"]  # noisy: compresses badly
    res = _cli(*args)
    assert res.returncode == 1, res
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("mediastream dynamics: error: node ")
    assert "No space left on device" in line and str(small_disk) in line, line
    kept = _decode(out)  # the audio file is closed properly and decodes
    assert 0 < kept.shape[1] < 3 * RATE
    if ext == ".wav":  # same settings as the good run: the same samples, cut short
        assert np.array_equal(kept, _decode(good)[:, : kept.shape[1]])
    events = _json_lines(meters)  # never a cut line
    for stage in ("compressor", "limiter"):
        starts = [e["start"] for e in events if e["payload"]["stage"] == stage]  # type: ignore[index]
        assert starts == [4800 * i for i in range(len(starts))]


@pytest.mark.parametrize("flag", ["--jsonl", "--csv"])
def test_text_sink_on_a_full_device_fails_in_one_line(wav: Path, flag: str) -> None:
    res = _cli("meter", str(wav), flag, "/dev/full", "--quiet", "--no-progress")
    assert res.returncode == 1
    (line,) = res.stderr.strip().splitlines()
    assert "'/dev/full'" in line and "No space left on device" in line, line


def test_disk_full_mid_line_leaves_only_complete_lines(tmp_path: Path, small_disk: Path) -> None:
    (small_disk / "filler").write_bytes(b"x" * (160 * 1024 - 6000))  # ~6 KB left
    path = small_disk / "levels.jsonl"
    g = Graph()
    src = g.add(FileSource(write_media(tmp_path / "a.wav", 3.0, video=False).path), "file")
    g.chain(src, g.add(LevelMeter(interval_ms=5.0), "meter"), g.add(JsonLinesSink(path), "out"))
    with pytest.raises(NodeError, match="No space left on device") as info:
        g.run_sync()
    assert info.value.node == "out"
    events = _json_lines(path)
    assert len(events) > 10 and path.stat().st_size <= 6000


# -- a slow sink on a long file: memory stays bounded ----------------------------------------


def _peak_rss(*args: str) -> dict[str, float]:
    res = subprocess.run(
        [sys.executable, "-m", "tests.reliability.peak_rss", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
    result: dict[str, float] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def test_slow_sink_peak_rss_does_not_grow_with_the_file(long_wav: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.wav"
    write_media(short, 40.0, video=False, sample_rate=16000, channels=1)
    small = _peak_rss("dynamics", str(short), str(tmp_path / "s.wav"), "--slow-ms", "0.2")
    large = _peak_rss("dynamics", str(long_wav), str(tmp_path / "l.wav"), "--slow-ms", "0.2")
    assert large["items"] == 400 * 16000 and small["items"] == 40 * 16000
    decoded_mb = 400 * 16000 * 4 / 2**20  # 24.4 MiB if the decoded file were held
    grown_mb = (large["peak_rss_kb"] - small["peak_rss_kb"]) / 1024
    assert grown_mb < 4, (small, large)
    assert grown_mb < decoded_mb / 6


# -- SIGTERM / SIGINT during real runs -------------------------------------------------------


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"finished before it could be interrupted: {proc.communicate()}")
        if path.exists() and path.read_text().count("\n") >= n:
            return
        time.sleep(0.01)
    pytest.fail(f"{path} did not reach {n} lines in {timeout} s")


def _default_sigint() -> None:
    # A child of a non-interactive shell may inherit SIGINT ignored; Ctrl-C must work.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


SIGNALS = {"SIGTERM": (signal.SIGTERM, 143, "terminated (SIGTERM)"),
           "SIGINT": (signal.SIGINT, 130, "interrupted")}  # fmt: skip


@pytest.mark.parametrize("name", list(SIGNALS))
def test_signal_during_dynamics_closes_outputs(long_wav: Path, tmp_path: Path, name: str) -> None:
    sig, code, word = SIGNALS[name]
    out, meters = tmp_path / "out.flac", tmp_path / "meters.jsonl"
    cmd = [str(BIN), "dynamics", str(long_wav), str(out), "--meter-jsonl", str(meters)]
    proc = subprocess.Popen(
        [*cmd, "--chunk-frames", "256", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    _wait_for_lines(meters, 40, proc, timeout=60)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert err.strip() == (
        f"mediastream dynamics: {word}; outputs written so far are closed and valid"
    )
    events = _json_lines(meters)
    kept = _decode(out)
    assert 20 * 1600 <= kept.shape[1] < 400 * 16000
    compressor = [e for e in events if e["payload"]["stage"] == "compressor"]  # type: ignore[index]
    assert len(compressor) >= 20
    assert kept.shape[1] >= 0.5 * (len(compressor) - 2) * 1600


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    fg, bg, _ = write_pair(
        tmp_path_factory.mktemp("pair"), PairSpec(bg_frames=900, fg_frames=800, cut_at=None)
    )
    return fg, bg


@pytest.mark.parametrize("name", list(SIGNALS))
def test_signal_during_align_closes_outputs(
    pair: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    sig, code, word = SIGNALS[name]
    fg, bg = pair
    pairs, composite = tmp_path / "pairs.jsonl", tmp_path / "comp.mp4"
    proc = subprocess.Popen(
        [str(BIN), "align", str(fg), str(bg), "--out", str(pairs), "--composite",
         str(composite), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip
    _wait_for_lines(pairs, 20, proc, timeout=60)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert err.strip() == f"mediastream align: {word}; outputs written so far are closed and valid"
    events = _json_lines(pairs)
    found = [e["payload"]["fg_index"] for e in events if e["kind"] == "align_pair"]  # type: ignore[index]
    assert found == list(range(len(found))) and 20 <= len(found) < 800
    # The composite is drawn during the run (a node of the graph): closed with its
    # trailer, it plays the pairs drawn before the signal.
    import av

    with av.open(str(composite)) as container:
        drawn = sum(1 for _ in container.decode(video=0))
    assert 1 <= drawn <= len(found)


def test_sigterm_handler_is_restored_after_main(wav: Path, tmp_path: Path) -> None:
    from mediastream.cli import main

    before = signal.getsignal(signal.SIGTERM)
    assert main(["info", str(wav)]) == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_stops_live_with_143_and_closes_the_device() -> None:
    from tests.live_support import jack_env, jack_server

    with jack_server() as jack:
        before = set(jack.ports())
        proc = subprocess.Popen(
            [str(BIN), "live", "--no-progress", "--print-every", "0.2"],
            env={**os.environ, **jack_env(jack.name), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # until audio went round (a round trip measured)
                if "xruns:" in line and "ms (" in line:
                    break
            ports = set(jack.ports()) - before  # the command's JACK client and its ports
            assert len(ports) == 4, ports
            proc.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            _, err = proc.communicate(timeout=10)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 143, err
        assert took < 3.0
        assert err.strip() == (
            "mediastream live: terminated (SIGTERM); outputs written so far are closed and valid"
        )
        assert not ports & set(jack.ports())  # the stream was closed, its client gone
