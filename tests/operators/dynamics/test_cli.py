"""`mediastream dynamics IN OUT` on real files written and read back with PyAV."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from mediastream.cli import main

RATE = 48000


def _write_wav(path: Path, x: np.ndarray) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_f32le", rate=RATE, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _read(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        parts = []
        for frame in container.decode(stream):
            a = frame.to_ndarray()
            # Packed formats interleave the channels in one row.
            parts.append(a if frame.format.is_planar else a.reshape(-1, 2).T)
    data = np.concatenate(parts, axis=1)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    return data, rate


def test_dynamics_command_compresses_and_limits_a_file(tmp_path: Path) -> None:
    t = np.arange(3 * RATE) / RATE
    tone = np.sin(2 * np.pi * 220 * t)
    level = np.where(t < 1.5, 0.01, 0.95)  # -40 dBFS, then about -0.4 dBFS
    x = np.stack([tone * level, tone * level * 0.8]).astype(np.float32)
    src, out, meters = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "meters.jsonl"
    _write_wav(src, x)
    code = main(
        ["dynamics", str(src), str(out), "--meter-jsonl", str(meters), "--no-progress", "--quiet"]
    )
    assert code == 0
    y, rate = _read(out)
    assert rate == RATE and y.shape == x.shape
    quiet, loud = slice(0, 60_000), slice(96_000, None)
    # Below the threshold: unchanged (up to 16-bit rounding of the output file).
    np.testing.assert_allclose(y[:, quiet], x[:, quiet], atol=1 / 32768 + 1e-7)
    # Above: -20 dB threshold, 4:1 -> about 15 dB less, and never above -1 dBFS.
    reduction = 20 * np.log10(np.abs(y[0, loud]).max() / np.abs(x[0, loud]).max())
    assert -16.5 < reduction < -13.0
    assert np.abs(y).max() <= 10 ** (-1 / 20) + 1 / 32768
    lines = [json.loads(line) for line in meters.read_text().splitlines()]
    stages = {rec["payload"]["stage"] for rec in lines}
    assert stages == {"compressor", "limiter"}
    comp = [r for r in lines if r["payload"]["stage"] == "compressor"]
    assert len(comp) == 30 and comp[-1]["end"] == 3 * RATE
    assert max(r["payload"]["gain_reduction_db"][0] for r in comp) > 10.0


@pytest.mark.parametrize(
    "extra",
    [["--ratio", "0.5"], ["--attack-ms", "-3"], ["--threshold-db", "nan"], ["--chunk-frames", "0"]],
)
def test_bad_parameters_exit_2(
    tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.wav"
    _write_wav(src, np.zeros((2, 4800), np.float32))
    code = main(["dynamics", str(src), str(tmp_path / "out.wav"), "--quiet", *extra])
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_gate_without_limiter(tmp_path: Path) -> None:
    # Quiet hiss below the gate threshold, then a tone: the gate removes the hiss.
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, RATE)) * 1e-4).astype(np.float32)  # about -80 dBFS
    t = np.arange(RATE // 2) / RATE
    x[:, RATE // 2 :] = (0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    src, out = tmp_path / "in.wav", tmp_path / "out.flac"
    _write_wav(src, x)
    args = ["dynamics", str(src), str(out), "--gate-threshold-db", "-50", "--no-limiter"]
    assert main([*args, "--quiet"]) == 0
    y, rate = _read(out)
    assert rate == RATE and y.shape == x.shape
    assert np.abs(y[:, 12_000:20_000]).max() < 1e-5  # gated (and 16-bit flac rounds to 0)
    np.testing.assert_allclose(y[:, -4800:], x[:, -4800:], atol=2 / 32768)  # open


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--gate-range-db", "-30"], "--gate-range-db"),
        (["--gate-hold-ms", "5", "--gate-ratio", "2"], "--gate-ratio"),
    ],
)
def test_gate_option_without_gate_threshold_is_an_error(
    tmp_path: Path, extra: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 17: a gate option without --gate-threshold-db used to be silently ignored.
    src = tmp_path / "in.wav"
    _write_wav(src, np.zeros((2, 4800), np.float32))
    out = tmp_path / "out.wav"
    code = main(["dynamics", str(src), str(out), "--quiet", "--no-progress", *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert named in err and "--gate-threshold-db" in err
    assert not out.exists()


def test_gate_range_with_gate_threshold_is_used(tmp_path: Path) -> None:
    # -80 dBFS hiss under a -50 dB gate: range -6 dB leaves it 6 dB down, not silenced.
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, RATE)) * 1e-4).astype(np.float32)
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    _write_wav(src, x)
    args = ["dynamics", str(src), str(out), "--gate-threshold-db", "-50", "--no-limiter"]
    assert main([*args, "--gate-range-db", "-6", "--quiet", "--no-progress"]) == 0
    y, _ = _read(out)
    ratio_db = 20 * np.log10(np.abs(y[:, 24_000:]).max() / np.abs(x[:, 24_000:]).max())
    assert -7.0 < ratio_db < -5.0
