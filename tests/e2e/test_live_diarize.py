"""``mediastream diarize --input-device``: live diarization of a real conversation
played in real time into a JACK dummy device (tests/live_support.py).

pyannote's ``sample.wav`` (30 s, two real voices), resampled to the device's 48 kHz,
goes through JACK bit-exactly into the command's input. The command records what it
captured (``--record``, float WAV); diarizing that recording from the file must give
the same turns, and the input must never have been dropped (no overruns) on this
2-core machine. The latency from a turn's end to its decision is reported.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.live_support import (
    RATE,
    JackServer,
    Rig,
    jack_env,
    jack_server,
    new_input_ports,
    speech_at_device_rate,
)

BIN = Path(sys.executable).with_name("mediastream")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def jack() -> object:
    with jack_server() as server:
        yield server


def _env(jack: JackServer) -> dict[str, str]:
    return {**os.environ, **jack_env(jack.name), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def _blocks_found(rec: np.ndarray, speech: np.ndarray, block: int = RATE) -> float:
    """Fraction of ``speech``'s whole ``block``-sample blocks that occur bit for bit in
    ``rec`` (candidates: where ``rec`` holds the block's first non-zero sample)."""
    blocks = range(0, speech.shape[0] - block + 1, block)
    hits = 0
    for b0 in blocks:
        part = speech[b0 : b0 + block]
        k = int(np.flatnonzero(part)[0]) if part.any() else -1
        if k < 0:
            hits += 1  # digital silence: nothing to find
            continue
        for c in np.flatnonzero(rec == part[k]):
            start = int(c) - k
            if start >= 0 and np.array_equal(rec[start : start + block], part):
                hits += 1
                break
    return hits / max(1, len(blocks))


def _turns(rttm: Path) -> list[tuple[str, str, str]]:
    out = []
    for line in rttm.read_text().splitlines():
        f = line.split()
        out.append((f[3], f[4], f[7]))
    return out


def test_live_diarization_keeps_up_and_equals_the_file(jack: JackServer, tmp_path: Path) -> None:
    speech = speech_at_device_rate()
    rig = Rig(jack, 1, record_s=1.0)
    before = {p for p in jack.ports() if p.startswith("PortAudio")}
    proc = subprocess.Popen(
        [str(BIN), "diarize", "--input-device", "--duration", "34", "--record",
         str(tmp_path / "rec.wav"), "--rttm", str(tmp_path / "live.rttm"), "--uri", "rec",
         "--no-progress"],
        env=_env(jack), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ins = new_input_ports(jack, before, proc)  # the models load before the device opens
        assert len(ins) == 1, (ins, proc.poll())
        jack.connect(rig.outputs[0], ins[0])
        rig.play(speech[:, None])
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        rig.close()
    assert proc.returncode == 0, err
    print(out)
    m = re.search(r"live: (\d+) overruns \((\d+) frames replaced by silence\), (\d+) input", out)
    assert m is not None, out
    assert m.group(1) == "0", out  # the graph kept up: no captured audio was dropped
    jack_xruns = int(m.group(3))  # JACK missed a cycle: client-to-client audio was lost
    lat = re.search(r"decided ([\d.]+) s \(median; p95 ([\d.]+) s", out)
    assert lat is not None, out
    assert 0 < float(lat.group(1)) < 15 and float(lat.group(2)) < 20
    live = _turns(tmp_path / "live.rttm")
    # The recording holds the speech exactly (JACK carries float32 bit for bit).
    import av

    with av.open(str(tmp_path / "rec.wav")) as c:
        rec = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    start = int(np.flatnonzero(rec)[0]) - int(np.flatnonzero(speech)[0])
    got, want = rec[start : start + speech.shape[0]], speech[: rec.shape[0] - start]
    exact = np.array_equal(got, want)
    # JACK carries float32 bit for bit, but on a loaded machine the rig (a Python
    # callback in this process) can miss a cycle, and the command then records silence
    # there; JACK does not always flag it (jack_xruns). So the recording must be the
    # speech: at least half of its 1 s blocks must be in it bit for bit (80 % with both
    # cores burnt by other processes, 100 % on a quiet machine), in
    # place or shifted by a lost cycle (a wrong rate, channel or format matches none).
    found = _blocks_found(rec, speech)
    assert found >= 0.5, (found, jack_xruns, np.flatnonzero(got != want)[:5])
    print(f"recording equals the speech: {exact} ({100 * found:.0f} % of its 1 s blocks)")
    res = subprocess.run(
        [str(BIN), "diarize", str(tmp_path / "rec.wav"), "--rttm", str(tmp_path / "file.rttm"),
         "--quiet"],
        env=_env(jack), cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert _turns(tmp_path / "file.rttm") == live
    # And the turns are sample.wav's conversation, shifted by when the rig began playing.
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    from tests.operators.speaker.support import sample_reference

    offset = start / RATE
    hyp = Annotation(uri="sample")
    for onset, duration, speaker in live:
        t0 = float(onset) - offset
        hyp[Segment(t0, t0 + float(duration))] = speaker
    der = DiarizationErrorRate(collar=0.5, skip_overlap=False)(sample_reference(), hyp)
    print(f"live DER on sample.wav (collar 0.5): {100 * der:.1f} %")
    assert len({s for _, _, s in live}) >= 2
    # Bound: the streaming diarizer's DER on sample.wav depends on where the speech
    # starts in its 0.5 s buffer grid: 0.4-23.7 % over leading silences of 0-2 s in
    # 0.1 s steps (the same audio from a file; median 9 %), so the play offset decides.
    # A broken live path (wrong rate, lost or shifted audio) scores far above 30 %.
    if exact:  # (else JACK dropped some of the conversation: the reference does not hold)
        assert der < 0.3, live


def test_ctrl_c_ends_the_stream_and_the_last_turns_are_written(
    jack: JackServer, tmp_path: Path
) -> None:
    """Without --duration the input runs until Ctrl-C: the first one ends the stream,
    the diarizer decides what it holds, the RTTM and the recording are complete."""
    speech = speech_at_device_rate()[: 20 * RATE]
    rig = Rig(jack, 1, record_s=1.0)
    before = {p for p in jack.ports() if p.startswith("PortAudio")}
    proc = subprocess.Popen(
        [str(BIN), "diarize", "--input-device", "system", "--record", str(tmp_path / "rec.wav"),
         "--rttm", str(tmp_path / "live.rttm"), "--no-progress"],
        env=_env(jack), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        ins = new_input_ports(jack, before, proc)
        assert len(ins) == 1, (ins, proc.poll())
        jack.connect(rig.outputs[0], ins[0])
        rig.play(speech[:, None])
        while not rig.done_playing() and proc.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        rig.close()
    assert proc.returncode == 0, err
    assert "stopping: deciding the last turns" in err
    assert "Ctrl-C ends" in out
    turns = _turns(tmp_path / "live.rttm")
    assert turns and all(t[2].startswith("spk") for t in turns)
    # The last turn of the 20 s of speech (which ends at about 19.9 s of sample.wav) is
    # there although the stream ended only ~1 s after it: flush decided it.
    import av

    with av.open(str(tmp_path / "rec.wav")) as c:
        rec_s = sum(f.samples for f in c.decode(audio=0)) / RATE
    last_end = max(float(a) + float(b) for a, b, _ in turns)
    # Speech stopped about 1 s before Ctrl-C (plus the 0.1 s of sample.wav's ending).
    assert rec_s > 20 and last_end > rec_s - 2.5, (rec_s, last_end)


def test_live_usage_errors_come_before_the_models_load(jack: JackServer, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), "diarize", *args], env=_env(jack), cwd=tmp_path, capture_output=True,
            text=True, timeout=120, check=False,
        )  # fmt: skip

    cases = {  # usage errors exit 2; a device that cannot be opened is a media error, 1
        (): (2, "diarize needs IN (a file or URL) or --input-device"),
        ("x.wav", "--input-device"): (2, "give IN ('x.wav') or --input-device, not both"),
        ("x.wav", "--rate", "16000"): (2, "--rate: only with --input-device (IN is a file)"),
        ("--input-device", "nosuch"): (1, "no input device matches 'nosuch'"),
    }
    for args, (code, message) in cases.items():
        t0 = time.monotonic()
        res = run(*args)
        assert res.returncode == code, (args, res.stderr)
        assert message in res.stderr, (args, res.stderr)
        assert time.monotonic() - t0 < 20  # no model was loaded (that takes seconds more)
    res = run("--input-device", "nosuch")
    assert "system" in res.stderr  # the devices that exist are listed


def test_the_live_diarization_graph_file_runs_on_the_device(
    jack: JackServer, tmp_path: Path
) -> None:
    from mediastream import load_graph

    gf = load_graph(ROOT / "examples" / "live_diarize.toml", params={"seconds": "3"},
                    out_dir=tmp_path)  # fmt: skip
    stats = gf.graph.run_sync()
    assert 2.9 < stats.media_s < 3.2
    import av

    with av.open(str(tmp_path / "meeting.wav")) as c:
        assert sum(f.samples for f in c.decode(audio=0)) == 3 * RATE
    assert (tmp_path / "turns.rttm").exists() and (tmp_path / "turns.jsonl").exists()
