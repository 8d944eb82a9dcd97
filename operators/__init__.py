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
from .video import FrameStats, FrameStatsReading

__all__ = [
    "Compressor",
    "DynamicsReading",
    "EnvelopeFollower",
    "FrameStats",
    "FrameStatsReading",
    "Gain",
    "GainComputer",
    "Gate",
    "LevelMeter",
    "LevelReading",
    "Limiter",
]
