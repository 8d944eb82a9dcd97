"""Sources: where items come from."""

from .array import ArraySource

__all__ = ["ArraySource"]
