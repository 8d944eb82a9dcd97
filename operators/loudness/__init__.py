"""Loudness: ITU-R BS.1770-4 / EBU R128 metering and normalisation."""

from .meter import LoudnessMeter, LoudnessReading, LoudnessSummary
from .normalizer import LoudnessNormalizer

__all__ = ["LoudnessMeter", "LoudnessNormalizer", "LoudnessReading", "LoudnessSummary"]
