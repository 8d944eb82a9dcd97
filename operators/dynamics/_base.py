"""What the dynamics operators share: audio-only input, chunk checks, meter events."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from stream import (
    AudioChunk,
    AudioSpec,
    EventSpec,
    IncompatibleInputError,
    Item,
    Operator,
    StreamSpec,
)

from .meter import Meter

__all__ = ["DynamicsOperator", "NonFiniteInputError", "scratch"]


class NonFiniteInputError(ValueError):
    """A NaN or infinite sample reached a dynamics operator (never fed to its state)."""


def scratch(buf: npt.NDArray[np.float64], rows: int, frames: int) -> npt.NDArray[np.float64]:
    """``buf`` if it holds ``(rows, frames)``, else a bigger one (grown, never per chunk)."""
    if buf.shape[0] != rows or buf.shape[1] < frames:
        return np.empty((rows, max(frames, 2 * buf.shape[1])), np.float64)
    return buf


class DynamicsOperator(Operator):
    """Base of the dynamics operators: audio in, audio (and optional events) out."""

    accepts = frozenset({"audio"})

    def __init__(self, meter_interval_ms: float | None) -> None:
        self.meter_interval_ms = meter_interval_ms
        self._meter = None if meter_interval_ms is None else Meter(self._name, meter_interval_ms)
        self._rate = 0
        self._channels = 0
        self._next_in: int | None = None  # first frame the next input chunk must start at

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _configure_audio(self, spec: StreamSpec) -> tuple[StreamSpec, ...]:
        if not isinstance(spec, AudioSpec):
            raise IncompatibleInputError(f"{self._name} takes audio, got {spec}")
        self._rate = spec.sample_rate
        self._channels = spec.channels
        if self._meter is not None:
            self._meter.configure(spec.sample_rate, spec.channels)
            return (spec, EventSpec(frozenset({"dynamics"})))
        return (spec,)

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        if len(inputs) != 1:
            raise IncompatibleInputError(f"{self._name} takes one input, got {len(inputs)}")
        return self._configure_audio(next(iter(inputs.values())))

    def _check(self, item: Item, channels: int | None = None) -> AudioChunk:
        if type(item) is not AudioChunk:
            raise TypeError(f"{self._name} takes audio chunks, got {type(item).__name__}")
        want = self._channels if channels is None else channels
        if not self._rate:
            raise RuntimeError(f"{self._name} is not configured: call configure() first")
        if item.channels != want or item.sample_rate != self._rate:
            raise ValueError(
                f"chunk is {item.sample_rate} Hz {item.channels} ch, {self._name} is "
                f"configured for {self._rate} Hz {want} ch"
            )
        return item

    def _gap(self, start: int) -> ValueError:
        return ValueError(
            f"{self._name} input chunk starts at frame {start}, expected {self._next_in} "
            "(chunks must follow each other without gap or overlap)"
        )

    def _follow(self, chunk: AudioChunk) -> None:
        """Check that ``chunk`` starts where the previous one ended, and move on past it."""
        if self._next_in is not None and chunk.start != self._next_in:
            raise self._gap(chunk.start)
        self._next_in = chunk.end

    def _non_finite(self, frame: int) -> NonFiniteInputError:
        return NonFiniteInputError(
            f"non-finite sample (NaN or inf) at frame {frame} of the input of {self._name}; "
            "sanitise the input before dynamics processing"
        )

    def _emit(
        self,
        x: npt.NDArray[np.float32],
        y: npt.NDArray[np.float32],
        gain: npt.NDArray[np.float64],
        start: int,
    ) -> list[Item]:
        """The output chunk and, with metering, the events of the windows it closes."""
        out: list[Item] = [AudioChunk._trusted(y, self._rate, start)]
        if self._meter is not None:
            out.extend(self._meter.feed(x, y, gain, start))
        return out

    def _reset_common(self) -> None:
        """Forget the input position (the next chunk may start anywhere) and the meter."""
        self._next_in = None
        if self._meter is not None:
            self._meter.reset()

    def _meter_flush(self) -> list[Item]:
        return list(self._meter.flush()) if self._meter is not None else []
