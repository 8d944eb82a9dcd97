"""Gain: a fixed gain in dB."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from stream import AudioChunk, IncompatibleInputError, Item, Operator, ParameterError, StreamSpec

__all__ = ["Gain"]


class Gain(Operator):
    """Multiplies audio by a fixed gain.

    Args:
        gain_db: gain in dB (default 0 dB; -6.02 dB halves the amplitude). Must be
            finite and within +-120 dB.

    Stateless, zero latency; output is float32 like the input (no clipping: values
    above 0 dBFS are kept, a sink may clip them). A NaN or infinite input sample is
    an error naming its frame, never passed on.
    """

    accepts = frozenset({"audio"})

    def __init__(self, gain_db: float = 0.0) -> None:
        if not math.isfinite(gain_db) or abs(gain_db) > 120:
            raise ParameterError(f"Gain.gain_db must be finite and within +-120 dB, got {gain_db}")
        self.gain_db = float(gain_db)
        self._factor = np.float32(10.0 ** (self.gain_db / 20.0))

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        (spec,) = inputs.values()
        if spec.kind != "audio":
            raise IncompatibleInputError(f"Gain takes audio, got {spec}")
        return (spec,)

    def process(self, item: Item) -> list[Item]:
        assert type(item) is AudioChunk
        if not np.isfinite(item.data).all():
            # The earliest bad frame over all channels, not the first in channel order.
            frame = np.flatnonzero(~np.isfinite(item.data).all(axis=0))[0]
            raise ValueError(
                f"non-finite sample (NaN or inf) at frame {item.start + int(frame)} of the "
                "input of Gain; sanitise the input first"
            )
        return [AudioChunk(item.data * self._factor, item.sample_rate, item.start)]
