"""``mediastream diarize`` run as a user runs it: RTTM out, enrolled names, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.operators.speaker.support import RATE, sample_audio, sample_dir, sample_reference

BIN = Path(sys.executable).with_name("mediastream")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=600)


def _write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())


@pytest.mark.slow  # a fresh process loads torch, pyannote and three models (~15-20 s here)
def test_diarize_writes_rttm_with_enrolled_names(tmp_path: Path) -> None:
    from pyannote.database.util import load_rttm
    from pyannote.metrics.identification import IdentificationErrorRate

    x = sample_audio()
    _write_wav(tmp_path / "ann.wav", x[int(10.6 * RATE) : int(14.4 * RATE)])
    _write_wav(tmp_path / "bob.wav", x[int(22.0 * RATE) : int(26.0 * RATE)])
    out = tmp_path / "out.rttm"
    res = run(
        "diarize",
        str(sample_dir() / "sample.wav"),
        "--rttm",
        str(out),
        "--enrol",
        f"ann={tmp_path / 'ann.wav'}",
        "--enrol",
        f"bob={tmp_path / 'bob.wav'}",
        "--threads",
        "1",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    assert "speakers so far" in res.stdout and "x real time" in res.stdout
    assert "= ann" in res.stdout and "= bob" in res.stdout
    hyp = load_rttm(str(out))["sample"]
    assert hyp.labels() == ["ann", "bob"]
    # The summary counts the speakers that had turns, those of the printed turn lines.
    labels = {line.split()[5] for line in res.stdout.splitlines() if " conf " in line}
    summary = next(line for line in res.stdout.splitlines() if " turns, " in line)
    listed = summary.split(" speakers (")[1].split(")")[0].split(", ")
    assert f" {len(labels)} speakers (" in summary and set(listed) == labels, summary
    ref = sample_reference().rename_labels({"speaker90": "ann", "speaker91": "bob"})
    assert IdentificationErrorRate(collar=0.5, skip_overlap=False)(ref, hyp) <= 0.05


def test_diarize_usage_errors(tmp_path: Path) -> None:
    res = run("diarize", "x.wav", "--enrol", "no-equals-sign")
    assert res.returncode == 2 and "NAME=clip.wav" in res.stderr
    res = run("diarize", str(tmp_path / "missing.wav"))
    assert res.returncode == 1 and "missing.wav" in res.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--threads", "-1"),
        ("--threads", "0"),
        ("--max-speakers", "0"),
        ("--max-speakers", "x"),
        ("--num-speakers", "0"),
        ("--min-speakers", "1.5"),
    ],
)
def test_diarize_refuses_bad_counts_up_front(tmp_path: Path, option: str, value: str) -> None:
    # Refused by argparse (usage error, exit 2) before any file is opened or model loaded.
    res = run("diarize", str(tmp_path / "missing.wav"), option, value)
    assert res.returncode == 2, res.stderr
    assert f"argument {option}" in res.stderr and value in res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--min-speakers", "4", "--max-speakers", "3"),
            "min_speakers=4 is more than max_speakers=3",
        ),
        (
            ("--num-speakers", "2", "--min-speakers", "3"),
            "num_speakers=2 contradicts min_speakers=3",
        ),
    ],
)
def test_diarize_refuses_contradictory_counts_before_loading_models(
    args: tuple[str, ...], message: str
) -> None:
    # The input exists: the counts are checked before the file is opened or models load.
    res = run("diarize", str(sample_dir() / "sample.wav"), *args, "--no-progress")
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert "diarize: " not in res.stdout  # nothing was built


@pytest.mark.slow  # a fresh process loads torch, pyannote and the models
def test_diarize_speaker_count_options_take_effect(tmp_path: Path) -> None:
    from pyannote.database.util import load_rttm

    out = tmp_path / "one.rttm"
    res = run(
        "diarize",
        str(sample_dir() / "sample.wav"),
        "--rttm",
        str(out),
        "--max-speakers",
        "1",
        "--threads",
        "1",
        "--no-progress",
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert len(load_rttm(str(out))["sample"].labels()) == 1  # the default finds 2
