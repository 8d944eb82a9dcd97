"""Speaker embedding and online diarization (models loaded lazily: torch on first use)."""

from .backends import (
    CAMPPlusEmbedding,
    CAMPPlusOnnx,
    EmbeddingModel,
    GE2EEmbedding,
    PyannoteEmbedding,
    load_embedding_model,
)
from .clustering import Assignment, IncrementalClustering
from .diarizer import OnlineDiarizer
from .enrol import embed_clip, enrol, load_clip
from .linkage import LinkageClustering
from .linking import LinkedSpeakers, SpeakerProfile, link_speakers
from .segmentation import SegmentationModel
from .turns import SpeakerEmbedding, SpeakerTurn
from .vad import EnergyVAD, SileroVAD, VoiceActivity
from .windows import RollingWindows, WindowBatch

__all__ = [
    "Assignment",
    "CAMPPlusEmbedding",
    "CAMPPlusOnnx",
    "EmbeddingModel",
    "EnergyVAD",
    "GE2EEmbedding",
    "IncrementalClustering",
    "LinkageClustering",
    "LinkedSpeakers",
    "OnlineDiarizer",
    "PyannoteEmbedding",
    "RollingWindows",
    "SegmentationModel",
    "SileroVAD",
    "SpeakerEmbedding",
    "SpeakerProfile",
    "SpeakerTurn",
    "VoiceActivity",
    "WindowBatch",
    "embed_clip",
    "enrol",
    "link_speakers",
    "load_clip",
    "load_embedding_model",
]
