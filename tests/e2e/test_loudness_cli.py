"""`mediastream loudness FILE`, `mediastream dynamics --target-lufs`, and the loudness node
types in a graph file, on real files written and read back with PyAV."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from mediastream.cli import main
from mediastream.graphfile import describe_types, load_graph

RATE = 48_000


def _write_wav(path: Path, x: npt.NDArray[np.float32]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_f32le", rate=RATE, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _read(path: Path) -> npt.NDArray[np.float32]:
    with av.open(str(path)) as container:
        parts = [f.to_ndarray() for f in container.decode(audio=0)]
    data = np.concatenate(parts, axis=1)
    data = data if data.shape[0] == 2 else data.reshape(-1, 2).T  # packed: interleaved
    if data.dtype == np.int16:
        return (data.astype(np.float32) / 32768.0).astype(np.float32)
    return data.astype(np.float32)


def _tone(seconds: float, dbfs: float) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 10 ** (dbfs / 20) * np.sin(2 * np.pi * 1000 * t)
    return np.stack([tone, tone]).astype(np.float32)


def _summary(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    assert main(["loudness", str(path), "--json"]) == 0
    out: dict[str, float] = json.loads(capsys.readouterr().out)
    return out


def test_loudness_command_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # EBU Tech 3341 case 1: 1 kHz stereo at -23 dBFS reads -23.0 LUFS; true peak -20 dBTP
    # (a sine's peak is 3 dB above its -23 dBFS RMS... here the amplitude is -23 dBFS).
    src = tmp_path / "in.wav"
    _write_wav(src, _tone(5.0, -23.0))
    assert main(["loudness", str(src), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "I:          -23.0 LUFS" in text
    assert "LRA:          0.0 LU" in text
    assert "Peak:       -23.0 dBFS" in text
    s = _summary(src, capsys)
    assert s["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert s["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.05)
    assert s["seconds"] == 5.0


def test_loudness_command_writes_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, events = tmp_path / "in.wav", tmp_path / "loudness.jsonl"
    _write_wav(src, _tone(3.0, -30.0))
    code = main(["loudness", str(src), "--jsonl", str(events), "--interval-ms", "500", "--json"])
    assert code == 0
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert [r["end"] for r in records] == [24_000 * k for k in range(1, 7)] + [144_000]
    assert records[-1]["payload"]["final"] is True
    assert records[-1]["payload"]["integrated_lufs"] == pytest.approx(-30.0, abs=0.1)


@pytest.mark.parametrize("target", [-23.0, -16.0])
def test_dynamics_target_lufs_reaches_the_target(
    tmp_path: Path, target: float, capsys: pytest.CaptureFixture[str]
) -> None:
    # Noise at about -36 LUFS, a gentle compressor, the normalizer at 10 dB/s: the
    # output's last 6 s sit at the target, never above the -1 dBFS ceiling.
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 12 * RATE)) * 0.01).astype(np.float32)
    src, out, tail = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "tail.wav"
    _write_wav(src, x)
    args = ["dynamics", str(src), str(out), "--target-lufs", str(target), "--threshold-db", "-10",
            "--loudness-slew-db-per-s", "10", "--quiet", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    y = _read(out)
    assert y.shape == x.shape
    assert float(np.abs(y).max()) <= 10 ** (-1 / 20) + 1 / 32768  # (16-bit output)
    _write_wav(tail, np.ascontiguousarray(y[:, -6 * RATE :]))
    assert _summary(tail, capsys)["integrated_lufs"] == pytest.approx(target, abs=0.3)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--loudness-slew-db-per-s", "2"], "--target-lufs"),
        (["--target-lufs", "-23", "--no-limiter"], "--no-limiter"),
        (["--target-lufs", "5"], "target_lufs"),
    ],
)
def test_dynamics_loudness_option_errors_exit_2(
    tmp_path: Path, extra: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.wav"
    _write_wav(src, np.zeros((2, 4800), np.float32))
    assert main(["dynamics", str(src), str(tmp_path / "o.wav"), "--quiet", *extra]) == 2
    assert named in capsys.readouterr().err


def test_loudness_command_bad_file_and_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.wav"
    _write_wav(src, _tone(1.0, -20.0))
    code = main(["loudness", str(src), "--jsonl", str(tmp_path / "e"), "--interval-ms", "20"])
    assert code == 2 and "--interval-ms" in capsys.readouterr().err
    assert main(["loudness", str(tmp_path / "missing.wav")]) != 0


GRAPH = """\
[nodes.media]
type = "file"
path = "{src}"
video = false

[nodes.norm]
type = "loudness_normalizer"
input = "media.audio"
target_lufs = -20
slew_db_per_s = 10

[nodes.meter]
type = "loudness_meter"
input = "norm.audio"
interval_ms = 1000

[nodes.out]
type = "audio_file"
input = "norm"
path = "out.wav"

[nodes.events]
type = "jsonl"
input = ["meter"]
path = "loudness.jsonl"
"""


def test_graph_file_node_types(tmp_path: Path) -> None:
    text = describe_types()
    assert "  loudness_meter " in text and "  loudness_normalizer " in text
    src = tmp_path / "in.wav"
    rng = np.random.default_rng(1)
    _write_wav(src, (rng.standard_normal((2, 8 * RATE)) * 0.02).astype(np.float32))
    (tmp_path / "g.toml").write_text(GRAPH.format(src=src))
    assert main(["run", str(tmp_path / "g.toml"), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0  # fmt: skip
    records = [json.loads(x) for x in (tmp_path / "o" / "loudness.jsonl").read_text().splitlines()]
    assert len(records) == 9 and records[-1]["payload"]["final"]
    assert records[-1]["payload"]["short_term_lufs"] == pytest.approx(-20.0, abs=0.5)
    assert load_graph  # (the same loader `mediastream run` uses)
