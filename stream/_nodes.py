"""The three kinds of node a graph is made of: sources, operators and sinks.

All three are plain synchronous objects; the runtime decides where they run (inline
on the event loop, or in a worker thread when they declare themselves ``heavy``),
which keeps each one testable alone and usable offline.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from ._exceptions import IncompatibleInputError, ParameterError
from ._items import AudioChunk, Item, VideoFrame
from ._specs import AudioSpec, EventSpec, StreamSpec, VideoSpec

__all__ = ["Operator", "Sink", "Source"]


class Operator(abc.ABC):
    """A stateful, chunk-invariant processor: ``process(item) -> list[out]``.

    Contract:

    * ``configure(inputs)`` is called once the graph knows what flows in (sample rate,
      channels, frame type); it validates, precomputes (coefficients from ms and Hz)
      and returns the specs of the outputs, at most one per kind (audio, video,
      events). Raise :class:`~stream.IncompatibleInputError` to reject an input.
    * ``process(item)`` consumes one item and returns what is ready (maybe nothing).
    * ``flush()`` returns what is still held at end of stream (partial windows,
      lookahead buffers...).
    * ``reset()`` forgets all stream state (parameters and configuration stay).
    * Splitting the input at any boundaries gives exactly the output of processing it
      whole: state that crosses a chunk boundary is carried in the operator.
    * No async, no threads, no I/O inside.

    Attributes:
        input_ports: names of the input ports (default one port, ``"in"``). A class
            declares its ports here; an instance whose ports depend on its parameters
            (a compressor with a sidechain input) assigns its own tuple in
            ``__init__``. The graph (connecting, validating) and the runtime read the
            instance's value: it must not change once the node is in a graph.

    Class attributes:
        accepts: item kinds accepted on the inputs (``"audio"``, ``"video"``,
            ``"events"``); used to pick a port on a multi-output upstream.
        heavy: when True the runtime calls ``process`` in a worker thread, handing
            over every item that is queued at once (a thread hop costs 150-300 us);
            a single-input heavy operator that overrides :meth:`process_many` gets
            those items in one ``process_many`` call.
    """

    input_ports: tuple[str, ...] = ("in",)
    accepts: ClassVar[frozenset[str]] = frozenset({"audio", "video", "events"})
    heavy: ClassVar[bool] = False

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        """Check the input specs and return the output specs.

        The default passes the single input's spec through unchanged.
        """
        if len(inputs) != 1:
            raise IncompatibleInputError(
                f"{type(self).__name__} takes one input, got {len(inputs)}"
            )
        (spec,) = inputs.values()
        if spec.kind not in self.accepts:
            raise IncompatibleInputError(
                f"{type(self).__name__} accepts {'/'.join(sorted(self.accepts))}, got {spec}"
            )
        return (spec,)

    @abc.abstractmethod
    def process(self, item: Item) -> Sequence[Item]:
        """Consume one item; return the items that are ready now (any sequence: a
        ``list[Event[MyPayload]]`` is fine)."""

    def process_many(self, items: Sequence[Item]) -> Sequence[Item]:
        """Consume several items, in order; return the items that are ready after them.

        The result must equal the concatenation of ``process(item)`` for each item (up
        to the float noise of running a model on batches of another composition, where
        the operator documents it): an operator overrides this to work on the items
        together (one forward pass for the windows they complete). The default calls
        :meth:`process` on each item.

        The runtime calls it for a ``heavy`` operator with one input that overrides it,
        with every item queued on that input (at most ``Graph.max_batch``; control
        items such as bounds end a batch). Multi-input operators always get
        :meth:`process_port` per item. If it raises, the error names the batch.
        """
        out: list[Item] = []
        for item in items:
            out.extend(self.process(item))
        return out

    def process_port(self, port: str, item: Item) -> Sequence[Item]:
        """Consume one item that arrived on input ``port`` (multi-input operators).

        Items from all ports arrive merged in time order. The default ignores the port.
        """
        return self.process(item)

    def flush(self) -> Sequence[Item]:
        """End of stream: return everything still held. Default: nothing."""
        return []

    def reset(self) -> None:  # noqa: B027 - optional hook, stateless operators keep it
        """Forget all stream state, keep parameters and configuration."""

    @property
    def latency(self) -> Fraction:
        """Algorithmic latency in seconds: input an output for time t must wait for."""
        return Fraction(0)

    def bound(self, frontier: Fraction) -> Fraction:
        """A lower bound (seconds) on the time of every future output.

        ``frontier`` is the time of the input just consumed (inputs are in time order).
        Default: ``frontier - latency``. Used to keep downstream joins moving.
        """
        return frontier - self.latency

    def run_all(
        self,
        data: npt.ArrayLike | Iterable[Item],
        sample_rate: int | None = None,
        chunk_frames: int | None = None,
    ) -> list[Item]:
        """Process a whole input offline and flush; returns every output item.

        ``data`` is either an audio array (``(channels, frames)`` or 1-D mono, with
        ``sample_rate`` in Hz, cut into ``chunk_frames`` chunks or kept whole) or an
        iterable of items. The operator is configured and reset first.
        """
        items: list[Item]
        if sample_rate is not None or isinstance(data, np.ndarray):
            if sample_rate is None:
                raise ParameterError("run_all: sample_rate (Hz) is required for an array")
            audio = np.asarray(data, dtype=np.float32)
            if audio.ndim == 1:
                audio = audio[np.newaxis, :]
            if audio.ndim != 2:
                raise ParameterError(
                    f"run_all: audio must be (channels, frames) or 1-D, got shape {audio.shape}"
                )
            step = chunk_frames or max(1, audio.shape[1])
            items = [
                AudioChunk(np.ascontiguousarray(audio[:, i : i + step]), sample_rate, i)
                for i in range(0, audio.shape[1], step)
            ]
            spec: StreamSpec = AudioSpec(sample_rate, audio.shape[0])
        else:
            items = list(data)  # type: ignore[arg-type]
            if not items:
                raise ParameterError("run_all: no items given")
            first = items[0]
            if isinstance(first, AudioChunk):
                spec = AudioSpec(first.sample_rate, first.channels)
            elif isinstance(first, VideoFrame):
                spec = VideoSpec(
                    first.width, first.height, first.pixel_format, None, first.time_base
                )
            else:
                spec = EventSpec()
        if len(self.input_ports) != 1:
            raise ParameterError(f"run_all: {type(self).__name__} has several inputs")
        self.configure({self.input_ports[0]: spec})
        self.reset()
        out: list[Item] = []
        for item in items:
            out.extend(self.process(item))
        out.extend(self.flush())
        return out


class Source(abc.ABC):
    """Where items come from: a file, a device, arrays.

    ``specs()`` declares the output ports, ``open(ports)`` starts reading the ports
    that are connected, ``read(max_items)`` returns up to ``max_items`` ``(port,
    item)`` pairs (an empty list means the end), ``close()`` releases everything.

    Class attributes:
        blocking: ``read`` blocks (file I/O, decoding) and runs in a worker thread.
        live: items arrive in real time from a device (reported in stats).
    """

    blocking: ClassVar[bool] = True
    live: ClassVar[bool] = False

    @abc.abstractmethod
    def specs(self) -> Mapping[str, StreamSpec]:
        """Output ports and what each carries."""

    def open(self, ports: Collection[str]) -> None:  # noqa: B027 - optional hook
        """Start reading; only ``ports`` are consumed (skip decoding the others)."""

    @abc.abstractmethod
    def read(self, max_items: int) -> list[tuple[str, Item]]:
        """Up to ``max_items`` ``(port, item)`` pairs; an empty list at the end."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files, decoders and devices. Called once, also after errors."""

    async def aread(self, max_items: int) -> list[tuple[str, Item]]:
        """Async read used by the runtime; blocking sources read in a worker thread."""
        if self.blocking:
            import anyio.to_thread

            return await anyio.to_thread.run_sync(self.read, max_items)
        return self.read(max_items)

    @property
    def duration(self) -> Fraction | None:
        """Total media duration in seconds when known (for progress), else None."""
        return None


class Sink(abc.ABC):
    """Where results go: files, devices, memory.

    ``configure(inputs)`` checks what will arrive, ``open()`` runs before the first
    item, ``write(item)`` takes each item, ``close(error)`` always runs (also after a
    failure or cancellation, with ``error`` set) and must leave a valid output.

    Class attributes:
        accepts: item kinds accepted (``"audio"``, ``"video"``, ``"events"``).
        heavy: writes run in a worker thread, in batches of queued items.
    """

    accepts: ClassVar[frozenset[str]] = frozenset({"audio", "video", "events"})
    heavy: ClassVar[bool] = False

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        """Check the spec of the input; the default checks its kind."""
        for spec in inputs.values():
            if spec.kind not in self.accepts:
                raise IncompatibleInputError(
                    f"{type(self).__name__} accepts {'/'.join(sorted(self.accepts))}, got {spec}"
                )

    def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare the output (create the file, start the device)."""

    @abc.abstractmethod
    def write(self, item: Item) -> None:
        """Take one item."""

    def close(self, error: BaseException | None = None) -> None:  # noqa: B027
        """Finish the output so that it is valid; ``error`` is set after a failure."""
