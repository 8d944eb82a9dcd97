"""Dynamics: envelope follower, gain computer, compressor, limiter, gate, meters."""

from .chain import DynamicsChain, DynamicsSettings, build_dynamics_chain, dynamics_operators
from .compressor import Compressor
from .envelope import EnvelopeFollower
from .gain_computer import GainComputer
from .gate import Gate
from .limiter import Limiter
from .meter import DynamicsReading

__all__ = [
    "Compressor",
    "DynamicsChain",
    "DynamicsReading",
    "DynamicsSettings",
    "EnvelopeFollower",
    "GainComputer",
    "Gate",
    "Limiter",
    "build_dynamics_chain",
    "dynamics_operators",
]
