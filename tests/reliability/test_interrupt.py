"""Ctrl-C (SIGINT) in the middle of real file work: exit code 130, outputs closed and valid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import av
import pytest

from mediastream.synth import write_media

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interrupt") / "long.wav"
    write_media(path, 900.0, video=False, sample_rate=16000, channels=1)  # 15 minutes
    return path


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"finished before it could be interrupted: {proc.communicate()}")
        if path.exists() and path.read_text().count("\n") >= n:
            return
        time.sleep(0.02)
    pytest.fail(f"{path} did not reach {n} lines in {timeout} s")


def test_cli_ctrl_c_exits_130_with_valid_outputs(long_wav: Path, tmp_path: Path) -> None:
    jsonl, csv = tmp_path / "levels.jsonl", tmp_path / "levels.csv"
    cmd = [sys.executable, "-m", "mediastream.cli", "meter", str(long_wav), "--jsonl", str(jsonl)]
    cmd += ["--csv", str(csv), "--chunk-frames", "256", "--no-progress", "--quiet"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for_lines(jsonl, 20, proc, timeout=60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    lines = jsonl.read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line complete
    assert 20 <= len(events) < 9000  # stopped well before the 15 minutes
    assert [e["start"] for e in events] == [1600 * i for i in range(len(events))]
    rows = csv.read_text().splitlines()
    assert rows[0].startswith("kind,") and len(rows) >= 2


SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading
    from operators import Gain
    from sinks import AudioFileSink
    from stream import AudioFormat, FileSource, Graph

    src_path, out_path, backend = sys.argv[1:4]

    class Interrupting(AudioFileSink):
        def write(self, item):
            super().write(item)
            if self.frames_written == 16000 * 30:  # 30 s written: press Ctrl-C
                os.kill(os.getpid(), signal.SIGINT)

    g = Graph()
    g.chain(
        g.add(FileSource(src_path, audio=AudioFormat(chunk_frames=1600)), "file"),
        g.add(Gain(-6.0), "gain"),
        g.add(Interrupting(out_path), "flac"),
    )
    try:
        g.run_sync(backend=backend)
    except KeyboardInterrupt:
        print("KeyboardInterrupt")
    else:
        print("finished")
    """
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_sync_raises_plain_keyboard_interrupt(
    long_wav: Path, tmp_path: Path, backend: str
) -> None:
    out = tmp_path / "out.flac"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(long_wav), str(out), backend],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout.strip() == "KeyboardInterrupt", (proc.stdout, proc.stderr)
    with av.open(str(out)) as c:  # the file was closed properly and decodes
        frames = sum(f.samples for f in c.decode(audio=0))
    assert 16000 * 30 <= frames < 16000 * 900
