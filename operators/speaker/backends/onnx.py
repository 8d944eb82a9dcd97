"""ONNX Runtime inference for the bundled models: diarization without importing torch.

``import torch`` alone peaks at about 630 MB of resident memory with the CUDA build
of torch (its CUDA libraries are mapped and partly initialised even on a CPU) and
takes 1.5 s. The two default models of the diarizer, segmentation-3.0 (as the
project's own PyanNet module) and CAM++, are small fixed networks; exported once to
ONNX they run under ONNX Runtime (``onnxruntime``) in a process that never imports
torch: about 300 MB for the whole ``mediastream diarize`` and faster per forward pass
on CPU (``bench/README.md``, ``diarize_startup``).

The export needs torch and the ``onnx`` package once per checkpoint: the first
process that asks for a model in ONNX form exports it into the cache directory
(``$MEDIASTREAM_CACHE``, else ``$XDG_CACHE_HOME/mediastream``, else
``~/.cache/mediastream``; the ``onnx/`` folder in it), keyed by a hash of the
checkpoint's bytes and of this module's export version, and every later process
loads the cached file. ``mediastream models export`` does it ahead of time.

Outputs equal the torch modules' within float32 rounding (the tests bound the
difference); CAM++'s Kaldi filterbank is computed here in NumPy/SciPy as
``torchaudio.compliance.kaldi.fbank`` computes it (the tests compare them).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stream import ParameterError

__all__ = [
    "ENGINES",
    "EXPORT_VERSION",
    "OnnxModel",
    "cache_dir",
    "check_engine",
    "kaldi_fbank",
    "load_onnx",
    "mel_banks",
    "power_spectrum",
    "wants_onnx",
    "onnx_available",
    "onnx_file",
]

# Bumped whenever the exported graphs or their metadata change: old cache files are
# then not used (they stay on disk; deleting the cache folder is always safe).
EXPORT_VERSION = 2


ENGINES = ("auto", "torch", "onnx")


def onnx_available() -> bool:
    """Whether ``onnxruntime`` is installed (inference without torch)."""
    return importlib.util.find_spec("onnxruntime") is not None


def check_engine(engine: str) -> str:
    """``engine`` itself when it is one of :data:`ENGINES`, else ParameterError."""
    if engine not in ENGINES:
        raise ParameterError(f"engine must be 'auto', 'torch' or 'onnx', got {engine!r}")
    return engine


def wants_onnx(engine: str, device: str) -> bool:
    """Whether a model ONNX Runtime can run should run under it: always for ``"onnx"``
    (ParameterError on a CUDA ``device`` or without ``onnxruntime``), for ``"auto"``
    on the CPU when ``onnxruntime`` is installed, never for ``"torch"``."""
    if check_engine(engine) == "onnx":
        if device != "cpu":
            raise ParameterError("engine='onnx' runs on the CPU only; use engine='torch'")
        if not onnx_available():
            raise ParameterError("engine='onnx' needs onnxruntime (pip install onnxruntime onnx)")
        return True
    return engine == "auto" and device == "cpu" and onnx_available()


def cache_dir() -> Path:
    """Where exported models are kept: ``$MEDIASTREAM_CACHE/onnx``, else
    ``$XDG_CACHE_HOME/mediastream/onnx``, else ``~/.cache/mediastream/onnx``."""
    root = os.environ.get("MEDIASTREAM_CACHE")
    if root:
        return Path(root) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mediastream" / "onnx"


def onnx_file(
    kind: str,
    checkpoint: str | os.PathLike[str],
    export: Callable[[Path], Mapping[str, Any]],
) -> Path:
    """The cached ONNX file of ``checkpoint`` as a ``kind`` model, exported first by
    ``export(path)`` (which writes the ONNX file at ``path`` and returns the metadata
    stored beside it) when the cache has none for the checkpoint's current bytes."""
    data = Path(checkpoint).read_bytes()
    key = hashlib.blake2b(data, digest_size=12)
    key.update(f"{kind}/{EXPORT_VERSION}".encode())
    folder = cache_dir()
    path = folder / f"{kind}-{key.hexdigest()}.onnx"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ParameterError(f"cannot create the model cache {folder}: {e}") from e
    # Written under temporary names, then renamed: a concurrent process or an
    # interrupted export never leaves a half-written model under the final name.
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        info = dict(export(Path(tmp)))
        info["source"] = str(checkpoint)
        tmp_meta = Path(tmp).with_suffix(".json.tmp")
        tmp_meta.write_text(json.dumps(info, indent=1) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        os.replace(tmp_meta, meta)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_onnx(
    kind: str,
    checkpoint: str | os.PathLike[str],
    export: Callable[[Path], Mapping[str, Any]],
    threads: int | None = None,
) -> OnnxModel:
    """:class:`OnnxModel` of :func:`onnx_file`'s file; a cached file that ONNX Runtime
    cannot load (damaged, or written by an incompatible version) is exported again,
    once."""
    path = onnx_file(kind, checkpoint, export)
    try:
        return OnnxModel(path, threads)
    except Exception:  # ONNX Runtime's own error types; the export below names problems
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        return OnnxModel(onnx_file(kind, checkpoint, export), threads)


class OnnxModel:
    """One ONNX Runtime CPU session and the metadata saved with its export.

    Args:
        path: the ``.onnx`` file (its metadata in the ``.json`` beside it).
        threads: intra-op threads (None: ONNX Runtime's default, one per core).
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped,import-not-found,unused-ignore]

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 0
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # Idle pool threads sleep instead of spinning: a live graph shares the CPU with
        # the capture and the other nodes (same wall time, 10-20 % less CPU here).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No arena: intermediate tensors go back to the allocator after each run
        # instead of staying reserved at their largest (diarize on 120 s: 780 instead of
        # 1000 MB peak, same time), so memory follows the current batch.
        opts.enable_cpu_mem_arena = False
        self.path = path
        self.meta: dict[str, Any] = json.loads(path.with_suffix(".json").read_text())
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The first output for the float32 input ``x``."""
        out = self.session.run(None, {self.input: np.ascontiguousarray(x, np.float32)})[0]
        return np.asarray(out, np.float32)


def export_torch(
    module: Any,
    example: Any,
    path: Path,
    names: tuple[str, str],
    dynamic: Mapping[str, Mapping[int, str]],
) -> None:
    """Export the torch ``module`` (eval mode) to ONNX at ``path`` (opset 17, the
    TorchScript exporter: LSTMs and instance norms export exactly with it)."""
    import warnings

    import torch

    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about shape-dependent Python branches (CAM++'s statistics
        # pooling, SincNet's padding): constant for every input of more than one frame.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[names[0]],
            output_names=[names[1]],
            dynamic_axes={k: dict(v) for k, v in dynamic.items()},
            opset_version=17,
            dynamo=False,
        )


# -- Kaldi filterbank (torchaudio.compliance.kaldi.fbank's defaults) ---------------------

_FRAME = 400  # 25 ms at 16 kHz
_SHIFT = 160  # 10 ms
_NFFT = 512
_EPS = float(np.finfo(np.float32).eps)
FBANK_EPS = _EPS  # the log floor


def _mel(f: npt.NDArray[np.float64] | float) -> Any:
    return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)


def _mel_banks(bins: int, rate: float, low: float = 20.0) -> npt.NDArray[np.float32]:
    """Kaldi's triangular mel filters, ``(bins, NFFT/2 + 1)`` (last column zero)."""
    lo, hi = float(_mel(low)), float(_mel(rate / 2))
    delta = (hi - lo) / (bins + 1)
    b = np.arange(bins, dtype=np.float64)[:, None]
    left, center, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
    mel = _mel(rate / _NFFT * np.arange(_NFFT // 2, dtype=np.float64))[None, :]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)


_BANKS: dict[tuple[int, float], npt.NDArray[np.float32]] = {}
_POVEY = (np.hanning(_FRAME) ** 0.85).astype(np.float32)  # hann, not periodic


def power_spectrum(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The first half of Kaldi's filterbank (``torchaudio.compliance.kaldi.fbank``'s
    defaults, input scaled by 32768): 25 ms frames every 10 ms (edges snipped), DC
    removed, pre-emphasis 0.97, povey window, 512-point power spectrum. ``(n, samples)``
    audio in [-1, 1] -> ``(n, frames, 257)`` float32. Element-wise NumPy and SciPy's
    FFT: no BLAS call, so no thread pool wakes up (the mel projection that follows
    runs inside the ONNX graph)."""
    from scipy import fft  # type: ignore[import-untyped]

    x = np.asarray(batch, np.float32) * np.float32(32768.0)
    frames = np.lib.stride_tricks.sliding_window_view(x, _FRAME, axis=1)[:, ::_SHIFT]
    f = frames - frames.mean(axis=2, keepdims=True)
    prev = np.concatenate([f[:, :, :1], f[:, :, :-1]], axis=2)
    f = (f - np.float32(0.97) * prev) * _POVEY
    spec = fft.rfft(f, n=_NFFT, axis=2)
    out: npt.NDArray[np.float32] = (spec.real**2 + spec.imag**2).astype(np.float32)
    return out


def mel_banks(bins: int = 80, rate: float = 16000.0) -> npt.NDArray[np.float32]:
    """Kaldi's triangular mel filters (20 Hz to Nyquist), ``(bins, 257)`` float32."""
    banks = _BANKS.get((bins, rate))
    if banks is None:
        banks = _BANKS[(bins, rate)] = _mel_banks(bins, rate)
    return banks


def kaldi_fbank(
    batch: npt.NDArray[np.float32], bins: int = 80, rate: float = 16000.0
) -> npt.NDArray[np.float32]:
    """Log mel filterbank of ``(n, samples)`` audio in [-1, 1] as
    ``torchaudio.compliance.kaldi.fbank(x * 32768, num_mel_bins=bins, dither=0)``
    (:func:`power_spectrum`, the mel filters, natural log floored at float32
    epsilon). Returns ``(n, frames, bins)`` float32."""
    mel = power_spectrum(batch) @ mel_banks(bins, rate).T
    out: npt.NDArray[np.float32] = np.log(np.maximum(mel, np.float32(_EPS))).astype(np.float32)
    return out
