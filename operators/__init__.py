"""Operators: stateful, chunk-invariant processors."""
