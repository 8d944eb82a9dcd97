"""Operators: stateful, chunk-invariant processors (see ``stream.Operator``).

Exported here: the operators a user puts in a graph, the payloads of the events they
emit, and the models the diarizer takes. Building blocks and internals (the DTW band,
registration, rolling windows, clustering strategies, the static gain curve) stay
importable from their modules: ``operators.video.online_dtw``, ``operators.speaker``,
``operators.dynamics``...
"""

from .dynamics import (
    Compressor,
    DynamicsReading,
    EnvelopeFollower,
    Gate,
    Limiter,
)
from .gain import Gain
from .loudness import LoudnessMeter, LoudnessNormalizer, LoudnessReading, LoudnessSummary
from .meters import LevelMeter, LevelReading
from .resample import Resample
from .speaker import (
    CAMPPlusEmbedding,
    EmbeddingModel,
    EnergyVAD,
    GE2EEmbedding,
    OnlineDiarizer,
    PyannoteEmbedding,
    SegmentationModel,
    SileroVAD,
    SpeakerEmbedding,
    SpeakerTurn,
)
from .video import (
    AlignPair,
    AlignRegistration,
    Fingerprint,
    FrameFingerprint,
    FrameStats,
    FrameStatsReading,
    VideoAlign,
)

__all__ = [
    "AlignPair",
    "AlignRegistration",
    "CAMPPlusEmbedding",
    "Compressor",
    "DynamicsReading",
    "EmbeddingModel",
    "EnergyVAD",
    "EnvelopeFollower",
    "Fingerprint",
    "FrameFingerprint",
    "FrameStats",
    "FrameStatsReading",
    "GE2EEmbedding",
    "Gain",
    "Gate",
    "LevelMeter",
    "LevelReading",
    "Limiter",
    "LoudnessMeter",
    "LoudnessNormalizer",
    "LoudnessReading",
    "LoudnessSummary",
    "OnlineDiarizer",
    "PyannoteEmbedding",
    "Resample",
    "SegmentationModel",
    "SileroVAD",
    "SpeakerEmbedding",
    "SpeakerTurn",
    "VideoAlign",
]
