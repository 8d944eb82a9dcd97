"""Graph-file node types of the loudness operators (entry point ``operators-loudness``)."""

from __future__ import annotations

from stream import NodeType

__all__ = ["NODE_TYPES"]

NODE_TYPES = [
    NodeType("loudness_meter", "operator", "operators.loudness.meter:LoudnessMeter",
             "EBU R128 loudness events (momentary, short-term, integrated LUFS, LRA, dBTP)"),
    NodeType("loudness_normalizer", "operator", "operators.loudness.normalizer:LoudnessNormalizer",
             "gain steered toward a target LUFS (slew-limited), then a limiter"),
]  # fmt: skip
