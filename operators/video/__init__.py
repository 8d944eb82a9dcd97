"""Video operators."""

from .frame_stats import FrameStats, FrameStatsReading

__all__ = ["FrameStats", "FrameStatsReading"]
