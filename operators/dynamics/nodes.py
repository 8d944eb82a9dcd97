"""Graph-file node types of the dynamics operators (entry point ``operators-dynamics``)."""

from __future__ import annotations

from stream import NodeType

__all__ = ["NODE_TYPES"]

NODE_TYPES = [
    NodeType("envelope_follower", "operator", "operators.dynamics.envelope:EnvelopeFollower",
             "the signal's envelope (attack/release ms) as audio"),
    NodeType("compressor", "operator", "operators.dynamics.compressor:Compressor",
             "feed-forward compressor (threshold dB, ratio, knee, attack/release ms)"),
    NodeType("limiter", "operator", "operators.dynamics.limiter:Limiter",
             "lookahead brick-wall limiter (ceiling dB, lookahead/release ms)"),
    NodeType("gate", "operator", "operators.dynamics.gate:Gate",
             "noise gate / downward expander (threshold/range dB, hold ms)"),
]  # fmt: skip
