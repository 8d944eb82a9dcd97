"""The command line, run as a user runs it (the installed console script)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mediastream.synth import write_media

BIN = Path(sys.executable).with_name("mediastream")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_help_lists_commands() -> None:
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("info", "demo", "run", "meter", "dynamics", "align", "diarize", "plot"):
        assert cmd in res.stdout


def test_info(tmp_path: Path) -> None:
    path = tmp_path / "x.mp4"
    write_media(path, 1.0)
    res = run("info", str(path))
    assert res.returncode == 0, res.stderr
    assert "h264" in res.stdout and "aac" in res.stdout and "48000 Hz" in res.stdout
    res = run("info", "--json", str(path))
    record = json.loads(res.stdout)
    assert [s["kind"] for s in record["streams"]] == ["video", "audio"]
    assert record["duration_s"] == pytest.approx(1.0, abs=0.05)


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    res = run("info", str(tmp_path / "nope.wav"))
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"mediastream info: error: cannot open '{tmp_path / 'nope.wav'}': no such file"
    ]
    res = run("meter", str(tmp_path / "nope.wav"), "--interval-ms", "-3")
    assert res.returncode == 2 and "must be > 0" in res.stderr


def test_bad_parameters_exit_with_code_2(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write_media(path, 1.0, video=False)
    res = run("meter", str(path), "--chunk-frames", "0")
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "mediastream meter: error: AudioFormat.chunk_frames must be >= 1 frame, got 0"
    )
    res = run("meter", str(path), "--start", "5")
    assert res.returncode == 2 and "past the end" in res.stderr


def test_output_into_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    # `mediastream meter x | head -1`: the reader goes away; exit 0, no traceback.
    path = tmp_path / "a.wav"
    write_media(path, 20.0, video=False)
    proc = subprocess.Popen(
        [str(BIN), "meter", str(path), "--print-every", "0", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert "level" in proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == ""


def test_meter_writes_jsonl_and_csv(tmp_path: Path) -> None:
    path = tmp_path / "speech.flac"
    write_media(path, 2.0, video=False)
    res = run(
        "meter",
        str(path),
        "--jsonl",
        str(tmp_path / "l.jsonl"),
        "--csv",
        str(tmp_path / "l.csv"),
        "--interval-ms",
        "250",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "l.jsonl").read_text().splitlines()
    assert len(lines) == 8
    first = json.loads(lines[0])
    assert first["kind"] == "level" and first["start"] == 0 and first["end"] == 12000
    assert first["time_base"] == "1/48000" and first["end_s"] == 0.25
    rows = list(csv.DictReader((tmp_path / "l.csv").open()))
    assert len(rows) == 8 and rows[1]["start"] == "12000"
    assert "level" in res.stdout and "x real time" in res.stdout
