"""Sinks: where results go."""

from .memory import MemorySink

__all__ = ["MemorySink"]
