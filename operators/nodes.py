"""Graph-file node types of the operators outside the families (entry point ``operators``)."""

from __future__ import annotations

from stream import NodeType

__all__ = ["NODE_TYPES"]

NODE_TYPES = [
    NodeType("gain", "operator", "operators.gain:Gain", "a fixed gain in dB"),
    NodeType("level_meter", "operator", "operators.meters.level:LevelMeter",
             "peak/RMS level events (dBFS) per window"),
    NodeType("resample", "operator", "operators.resample:Resample",
             "sample-rate conversion (libswresample), e.g. a 48 kHz device to 16 kHz"),
]  # fmt: skip
