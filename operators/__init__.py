"""Operators: stateful, chunk-invariant processors (see ``stream.Operator``)."""

from .gain import Gain
from .meters import LevelMeter, LevelReading
from .video import FrameStats, FrameStatsReading

__all__ = ["FrameStats", "FrameStatsReading", "Gain", "LevelMeter", "LevelReading"]
