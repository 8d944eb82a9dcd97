"""Any pyannote.audio embedding model a user has, through ``Model.from_pretrained``.

``checkpoint`` is a local checkpoint path or a Hugging Face hub id (e.g.
``"pyannote/wespeaker-voxceleb-resnet34-LM"``). The hub needs network access and,
for gated models, a token (``token=`` or the ``HF_TOKEN`` environment variable);
this project never downloads at run time by itself. pyannote's usage telemetry is
turned off unless ``PYANNOTE_METRICS_ENABLED=true`` is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stream import ParameterError

from .base import EmbeddingModel, pyannote_quiet

__all__ = ["PyannoteEmbedding", "load_pyannote_model"]


def load_pyannote_model(checkpoint: str | Path, token: str | None = None) -> Any:
    """``pyannote.audio.Model.from_pretrained`` with telemetry off and a clear error."""
    pyannote_quiet()
    from pyannote.audio import Model

    try:
        model = Model.from_pretrained(str(checkpoint), token=token)
    except Exception as exc:  # pyannote/hub raise many kinds; name the checkpoint
        raise ParameterError(
            f"cannot load pyannote model {str(checkpoint)!r}: {type(exc).__name__}: {exc} "
            "(a hub id needs network access and, for gated models, a token)"
        ) from exc
    if model is None:
        raise ParameterError(f"cannot load pyannote model {str(checkpoint)!r}")
    return model


class PyannoteEmbedding(EmbeddingModel):
    """A pyannote.audio speaker-embedding model (WeSpeaker ResNet, x-vector...).

    Args:
        checkpoint: local path or hub id of the model.
        window_s: the window length to use with it, seconds (default 1.5).
        token: Hugging Face token for gated hub models (default None).
        device, threads, batch_size: see :class:`EmbeddingModel`.

    Overlap-aware: masks are passed to the model as frame weights when it accepts
    ``weights`` (pyannote's WeSpeaker models do).
    """

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        window_s: float = 1.5,
        token: str | None = None,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__(device=device, threads=threads, batch_size=batch_size)
        import inspect

        import torch

        self.model = load_pyannote_model(checkpoint, token).eval().to(self.torch.torch_device)
        self.name = f"pyannote:{checkpoint}"
        self.sample_rate = int(self.model.audio.sample_rate)
        self.window_s = float(window_s)
        with torch.inference_mode():
            probe = torch.zeros(1, 1, int(self.sample_rate * self.window_s))
            out = self.model(probe.to(self.torch.torch_device))
        if out.ndim != 2:
            raise ParameterError(
                f"{str(checkpoint)!r} is not a speaker-embedding model: it outputs shape "
                f"{tuple(out.shape)} for one window, not (1, dim)"
            )
        self.dim = int(out.shape[-1])
        self._weights = "weights" in inspect.signature(self.model.forward).parameters

    def _forward(self, batch: Any) -> Any:
        return self.model(batch[:, None, :])

    def _forward_masked(self, samples: Any, mask: Any) -> Any:
        if not self._weights:
            return super()._forward_masked(samples, mask)
        return self.model(samples[None, None, :], weights=mask[None, :].float())
