"""Polarity: flips the sign of audio (a user's operator, outside mediastream)."""

from __future__ import annotations

from collections.abc import Mapping

from stream import AudioChunk, IncompatibleInputError, Item, Operator, ParameterError, StreamSpec

__all__ = ["Polarity"]


class Polarity(Operator):
    """Multiplies audio by -1 (``invert=True``, default) or +1, times ``scale``.

    Args:
        invert: flip the sign (default True).
        scale: a linear factor in [0, 4] (default 1).
    """

    accepts = frozenset({"audio"})

    def __init__(self, invert: bool = True, scale: float = 1.0) -> None:
        if not 0.0 <= scale <= 4.0:
            raise ParameterError(f"Polarity.scale must be within [0, 4], got {scale}")
        self.factor = (-1.0 if invert else 1.0) * scale

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        (spec,) = inputs.values()
        if spec.kind != "audio":
            raise IncompatibleInputError(f"Polarity takes audio, got {spec}")
        return (spec,)

    def process(self, item: Item) -> list[Item]:
        assert type(item) is AudioChunk
        data = (item.data * self.factor).astype(item.data.dtype)
        return [AudioChunk(data, item.sample_rate, item.start)]
