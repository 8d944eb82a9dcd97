"""Meters: level readings as events."""

from .level import LevelMeter, LevelReading

__all__ = ["LevelMeter", "LevelReading"]
