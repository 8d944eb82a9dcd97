"""PyannoteEmbedding on real pyannote.audio embedding models, loaded from checkpoints.

No pretrained pyannote embedding weights are available offline, so the models here are
real pyannote.audio architectures (``WeSpeakerResNet34``, ``XVectorSincNet`` from
``pyannote.audio.models.embedding``) with RANDOM weights (fixed seed), saved as the
Lightning checkpoint pyannote writes (``state_dict``, ``hyper_parameters`` and the
``"pyannote.audio"`` entry of ``Model.on_save_checkpoint``) and loaded back through
``PyannoteEmbedding(path)``. These tests check the integration (loading, the call
convention, batching, masks, chunk invariance, the diarizer end to end, safe loading,
telemetry), not accuracy: random weights say nothing about speakers.
"""

from __future__ import annotations

import copy
import functools
import io
import os
import pathlib
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from operators.speaker import EmbeddingModel, OnlineDiarizer, PyannoteEmbedding
from operators.speaker.backends.pyannote import load_pyannote_model, read_checkpoint
from stream import ParameterError
from tests.chunking import chunk_audio

from .support import RATE, sample_audio, silero

ROOT = Path(__file__).resolve().parents[3]
ARCHS = ("WeSpeakerResNet34", "XVectorSincNet")


def _checkpoint(model: Any) -> dict[str, Any]:
    """What Lightning's checkpoint dump holds for a model (no trainer state), with
    pyannote's own entry added by ``Model.on_save_checkpoint``."""
    import lightning
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    model.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0
    )
    ck: dict[str, Any] = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(ck)
    return ck


@functools.cache
def _random_model(arch: str) -> tuple[Any, Path]:
    """A randomly initialised (seed 0) pyannote embedding model and its checkpoint file."""
    import atexit
    import shutil
    import tempfile

    import torch
    from pyannote.audio.models import embedding

    torch.manual_seed(0)
    model = getattr(embedding, arch)().eval()
    folder = tempfile.mkdtemp(prefix="pyannote_ckpt_")
    atexit.register(shutil.rmtree, folder, True)  # not left behind in /tmp
    path = Path(folder) / arch / "pytorch_model.bin"
    path.parent.mkdir()
    torch.save(_checkpoint(model), path)
    return model, path


@functools.cache
def _loaded(arch: str) -> PyannoteEmbedding:
    return PyannoteEmbedding(_random_model(arch)[1], threads=1)


def _direct(arch: str, windows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The in-memory torch model called on ``(n, samples)`` windows, L2-normalised."""
    import torch

    model, _ = _random_model(arch)
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(windows, np.float32))[:, None, :]
        w = None if weights is None else torch.from_numpy(weights.astype(np.float32))
        y = model(x, weights=w).numpy()
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def _windows(starts: tuple[float, ...], seconds: float = 1.5) -> np.ndarray:
    x = sample_audio()
    n = int(seconds * RATE)
    return np.stack([x[int(s * RATE) : int(s * RATE) + n] for s in starts])


@pytest.mark.parametrize(("arch", "dim"), [("WeSpeakerResNet34", 256), ("XVectorSincNet", 512)])
def test_a_saved_pyannote_model_loads_and_embeds_like_the_torch_model(arch: str, dim: int) -> None:
    emb = _loaded(arch)
    assert isinstance(emb, EmbeddingModel)
    assert emb.dim == dim and emb.sample_rate == RATE and emb.window_s == 1.5
    assert emb.name == f"pyannote:{_random_model(arch)[1]}"
    assert type(emb.model).__name__ == arch and not emb.model.training
    x = _windows((3.0, 11.0, 22.0, 26.0))
    e = emb.embed(x)
    assert e.shape == (4, dim) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    # Weights, hyper-parameters and the call convention survive the checkpoint.
    np.testing.assert_allclose(e, _direct(arch, x), atol=1e-5)
    # Different audio, different embeddings (the weights are random, not constant).
    assert np.abs(e[0] - e[2]).max() > 1e-3


@pytest.mark.parametrize("arch", ARCHS)
def test_batch_size_does_not_change_the_embeddings(arch: str) -> None:
    x = _windows((1.0, 4.0, 9.5, 13.0, 20.0))
    emb = _loaded(arch)
    pairs = copy.copy(emb)  # the same model, two windows per forward pass
    pairs.batch_size = 2
    e = emb.embed(x)
    np.testing.assert_allclose(pairs.embed(x), e, atol=1e-5)
    # A window alone embeds as it does in a batch.
    np.testing.assert_allclose(emb.embed(x[3:4])[0], e[3], atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_windows_shorter_than_the_model_takes_are_tiled(arch: str) -> None:
    emb = _loaded(arch)
    # XVector's convolutions need about 0.3 s, WeSpeaker two pooled frames.
    assert 1 < emb.min_samples < 8000, emb.min_samples
    short = sample_audio()[11 * RATE : 11 * RATE + emb.min_samples - 1][None, :]
    e = emb.embed(short)
    assert np.isfinite(e).all() and np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    tiled = np.concatenate([short, short], axis=1)[:, : emb.min_samples]
    np.testing.assert_allclose(e, _direct(arch, tiled), atol=1e-5)


def test_wespeaker_masks_become_statistics_pooling_weights() -> None:
    arch = "WeSpeakerResNet34"
    emb = _loaded(arch)
    model, _ = _random_model(arch)
    x = _windows((11.0, 22.0), seconds=3.0)
    # Speaker A for 2 s then speaker B for 1 s; the mask keeps A's part.
    mixed = np.concatenate([x[0, : 2 * RATE], x[1, :RATE]])[None, :]
    mask = np.zeros(mixed.shape, bool)
    mask[0, : 2 * RATE] = True
    got = emb.embed_masked(mixed, mask)
    # The weights path: the fraction of each pooled frame's samples under the mask...
    n, frames = mixed.shape[1], model.num_frames(mixed.shape[1])
    edges = [(i * n // frames, -(-(i + 1) * n // frames)) for i in range(frames)]
    weights = np.array([[mask[0, a:b].mean() for a, b in edges]])
    assert weights.min() == 0.0 and weights.max() == 1.0
    np.testing.assert_allclose(got, _direct(arch, mixed, weights), atol=1e-5)
    # ... not the default of cutting the masked samples out (what CAM++ and GE2E do).
    cut = emb.embed(mixed[:, : 2 * RATE])
    assert np.abs(got - cut).max() > 1e-3
    # A full mask is the plain embedding; an empty one gives a zero row.
    full = np.ones(x.shape, bool)
    np.testing.assert_allclose(emb.embed_masked(x, full), emb.embed(x), atol=1e-4)
    assert not emb.embed_masked(mixed, np.zeros_like(mask)).any()


def test_wespeaker_filterbanks_stay_in_fp32_under_fp16_autocast() -> None:
    """On CUDA embed() runs under fp16 autocast; CPU autocast to fp16 runs the same
    code path here. pyannote's own forward overflows fp16 in the filterbank (power
    spectra of int16-scaled audio: its embeddings come out NaN); ours computes the
    filterbank in fp32."""
    import torch

    arch = "WeSpeakerResNet34"
    emb, (model, _) = _loaded(arch), _random_model(arch)
    x = torch.from_numpy(_windows((11.0, 22.0), seconds=0.5))  # fp16 is slow on a CPU
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.float16):
        ours = emb._forward(x).float().numpy()
        theirs = model.compute_fbank(x[:, None, :])  # what pyannote's forward does first
    assert not torch.isfinite(theirs).all()
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    cosine = (ours * emb.embed(x.numpy())).sum(axis=1)
    assert (cosine > 0.999).all(), cosine


def test_diarizer_light_mode_is_chunk_invariant_and_embeds_its_windows() -> None:
    arch = "WeSpeakerResNet34"
    x = sample_audio()[: 12 * RATE]

    def run(items: Any) -> list[Any]:
        op = OnlineDiarizer(_loaded(arch), mode="vad", vad=silero(), emit_embeddings=True)
        return op.run_all(items, RATE) if isinstance(items, np.ndarray) else op.run_all(items)

    whole = run(x)
    rng = np.random.default_rng(11)
    cuts = sorted(set(rng.integers(1, x.shape[0], 30).tolist()) | {100, 101, 102})
    chunked = run(chunk_audio(x[None, :], RATE, cuts))
    turns = [e for e in whole if e.kind == "speaker_turn"]
    embs = [e for e in whole if e.kind == "speaker_embedding"]
    assert turns and embs
    key = [(e.kind, e.start, e.end, getattr(e.payload, "speaker", None)) for e in whole]
    assert key == [(e.kind, e.start, e.end, getattr(e.payload, "speaker", None)) for e in chunked]
    vecs = np.array([e.payload.vector for e in embs])
    np.testing.assert_allclose(
        [e.payload.vector for e in chunked if e.kind == "speaker_embedding"], vecs, atol=1e-5
    )
    # Each embedding event is the torch model on exactly that window of the input.
    windows = np.stack([x[e.start : e.end] for e in embs])
    assert windows.shape[1] == 2 * RATE  # light mode: 2 s windows
    np.testing.assert_allclose(vecs, _direct(arch, windows), atol=1e-5)


def _write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def test_mediastream_diarize_runs_a_pyannote_checkpoint_end_to_end(tmp_path: Path) -> None:
    from mediastream.diarize import DiarizeSettings, build_diarize_graph

    wav = tmp_path / "sample.wav"
    _write_wav(wav, sample_audio()[: 12 * RATE])
    ckpt = _random_model("WeSpeakerResNet34")[1]
    settings = DiarizeSettings(mode="vad", model=str(ckpt.parent), threads=1)  # a directory
    graph, op = build_diarize_graph(str(wav), settings, rttm=tmp_path / "out.rttm")
    graph.run_sync()
    assert op.model.name == f"pyannote:{ckpt.parent}" and op.model.dim == 256
    lines = (tmp_path / "out.rttm").read_text().splitlines()
    assert lines and all(ln.split()[:2] == ["SPEAKER", "sample"] for ln in lines)
    ends = [float(ln.split()[3]) + float(ln.split()[4]) for ln in lines]
    assert max(ends) > 10.0  # turns run to the end of the 12 s file


def test_segmentation_mode_with_xvector_flushes_a_stream_shorter_than_its_convolutions() -> None:
    from .support import segmentation

    emb = _loaded("XVectorSincNet")
    op = OnlineDiarizer(emb, segmentation=segmentation(), emit_embeddings=True)
    x = sample_audio()[int(11 * RATE) : int(11 * RATE) + 4500]  # 0.28 s of one speaker
    assert x.shape[0] < emb.min_samples  # the model alone cannot take it untiled
    out = op.run_all(x, RATE)
    embs = [e for e in out if e.kind == "speaker_embedding"]
    assert embs and all(np.isfinite(e.payload.vector).all() for e in embs)
    assert [e for e in out if e.kind == "speaker_turn"]


# -- loading is safe ------------------------------------------------------------------------


class _Touch:
    """Unpickling this runs ``Path.touch(target)``: a stand-in for arbitrary code."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (pathlib.Path.touch, (self.target,))


def test_a_checkpoint_that_would_run_code_is_refused_before_it_runs(tmp_path: Path) -> None:
    import torch

    model, _ = _random_model("WeSpeakerResNet34")
    ck = _checkpoint(model)
    ck["hyper_parameters"] = {**ck["hyper_parameters"], "payload": _Touch(tmp_path / "ran")}
    path = tmp_path / "evil.bin"
    torch.save(ck, path)
    with pytest.raises(ParameterError, match=r"refusing to load.*weights_only"):
        PyannoteEmbedding(path, threads=1)
    assert not (tmp_path / "ran").exists()
    # pyannote's own loader would have run it (which is why it is not called first).
    from pyannote.audio import Model

    Model.from_pretrained(io.BytesIO(path.read_bytes()))
    assert (tmp_path / "ran").exists()


def test_an_architecture_outside_pyannote_is_refused(tmp_path: Path) -> None:
    import torch

    model, _ = _random_model("XVectorSincNet")
    ck = _checkpoint(model)
    ck["pyannote.audio"]["architecture"] = {"module": "antigravity", "class": "Model"}
    path = tmp_path / "odd.bin"
    torch.save(ck, path)
    with pytest.raises(ParameterError, match=r"'antigravity' is not part of pyannote\.audio"):
        load_pyannote_model(path)
    assert "antigravity" not in sys.modules


def test_files_that_are_not_checkpoints_are_named(tmp_path: Path) -> None:
    import torch

    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ParameterError, match=r"junk\.bin"):
        PyannoteEmbedding(junk, threads=1)
    plain = tmp_path / "plain.bin"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, plain)
    with pytest.raises(ParameterError, match=r"not a pyannote\.audio model checkpoint"):
        PyannoteEmbedding(plain, threads=1)
    with pytest.raises(ParameterError, match="no such file"):
        PyannoteEmbedding(tmp_path / "missing" / "pytorch_model.bin", threads=1)
    with pytest.raises(ParameterError, match="window_s"):
        PyannoteEmbedding(_random_model("XVectorSincNet")[1], window_s=0.0)


def test_the_real_segmentation_checkpoint_passes_the_safe_load() -> None:
    from .support import segmentation

    _, content = read_checkpoint(segmentation().checkpoint)
    assert content["pyannote.audio"]["architecture"]["class"] == "PyanNet"


# -- telemetry ------------------------------------------------------------------------------

_TELEMETRY = """
import os, sys
import operators.speaker
from operators.speaker import PyannoteEmbedding
from pyannote.audio.telemetry.metrics import is_metrics_enabled
if sys.argv[1] == "load":
    PyannoteEmbedding(sys.argv[2], threads=1)
print(os.environ.get("PYANNOTE_METRICS_ENABLED"), is_metrics_enabled())
"""


def _telemetry(env_value: str | None, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYANNOTE_METRICS_ENABLED"}
    if env_value is not None:
        env["PYANNOTE_METRICS_ENABLED"] = env_value
    res = subprocess.run(
        [sys.executable, "-c", _TELEMETRY, *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


@pytest.mark.slow  # a fresh process imports torch and pyannote (~10 s here)
def test_telemetry_is_off_unless_the_user_opts_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyannote.audio.telemetry.metrics import is_metrics_enabled

    from operators.speaker.backends.base import pyannote_quiet

    assert not is_metrics_enabled()  # this process, models loaded or not
    # A fresh process: operators.speaker imported, then pyannote.audio, then a model.
    path = str(_random_model("XVectorSincNet")[1])
    assert _telemetry(None, "load", path) == "false False"
    # The user's opt-in is left alone.
    monkeypatch.setenv("PYANNOTE_METRICS_ENABLED", "true")
    pyannote_quiet()
    assert is_metrics_enabled()
