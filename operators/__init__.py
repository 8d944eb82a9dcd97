"""Operators: stateful, chunk-invariant processors (see ``stream.Operator``)."""

from .dynamics import (
    Compressor,
    DynamicsReading,
    EnvelopeFollower,
    GainComputer,
    Gate,
    Limiter,
)
from .gain import Gain
from .meters import LevelMeter, LevelReading
from .video import (
    AlignPair,
    AlignRegistration,
    DTWPair,
    Fingerprint,
    FrameFingerprint,
    FrameStats,
    FrameStatsReading,
    OnlineSubsequenceDTW,
    Registrar,
    Registration,
    VideoAlign,
)

__all__ = [
    "AlignPair",
    "AlignRegistration",
    "Compressor",
    "DTWPair",
    "DynamicsReading",
    "EnvelopeFollower",
    "Fingerprint",
    "FrameFingerprint",
    "FrameStats",
    "FrameStatsReading",
    "Gain",
    "GainComputer",
    "Gate",
    "LevelMeter",
    "LevelReading",
    "Limiter",
    "OnlineSubsequenceDTW",
    "Registrar",
    "Registration",
    "VideoAlign",
]
