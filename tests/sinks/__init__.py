"""Sink tests; shared helpers: a payload type, event lists and an operator that fails."""

from __future__ import annotations

from dataclasses import dataclass

import stream

RATE = 48000


@dataclass(frozen=True)
class Level:
    """A test payload: a scalar and a nested (tuple) field."""

    peak_db: float
    rms_db: tuple[float, ...]


def level_events(n: int, step: int = 4801, kind: str = "level") -> list[stream.Event[Level]]:
    """``n`` contiguous events of ``step`` frames at 48 kHz (odd step: inexact seconds)."""
    return [
        stream.Event.from_frames(
            kind, i * step, (i + 1) * step, RATE, Level(-float(i) - 0.5, (-3.0 - i, -6.25))
        )
        for i in range(n)
    ]


class FailAt(stream.Operator):
    """Passes items through and raises RuntimeError("boom") on the ``n``-th (1-based)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.i = 0

    def reset(self) -> None:
        self.i = 0

    def process(self, item: stream.Item) -> list[stream.Item]:
        self.i += 1
        if self.i == self.n:
            raise RuntimeError("boom")
        return [item]
