"""Benchmark ``runtime_overhead``: what the graph runtime costs per chunk per hop.

Input: a pre-built list of ``AudioChunk`` objects, 256 frames of 48 kHz stereo float32
each (60 s of audio = 11250 chunks by default), so that making chunks is not timed.

Five variants, all in one process and one event loop per backend, alternated within
every repetition (the order rotates from one repetition to the next):

``graph``
    ``stream.Graph``: ``ArraySource(chunks, AudioSpec(48000, 2))`` -> three
    pass-through operators (``process`` returns ``[item]``) -> a sink that only counts.
    Timed: ``await graph.run()`` (validation, task start-up, the run, the stats).
``bare``
    the same hops with plain anyio: a producer task sends the same chunk objects
    (``await send.send(chunk)``), three forwarding tasks (``async for item in recv:
    await send.send(item)``), a counting consumer; memory object streams with the
    graph's default buffer (16 items). Timed: stream creation to task-group exit.
``bare_nowait``
    the bare chain written the way the runtime moves items: ``send_nowait`` /
    ``receive_nowait``, awaiting only when a buffer is full or empty, plus a checkpoint
    every 64 items without one. A floor for any anyio design with one task per node;
    ``bare`` awaits (and so yields to the scheduler) on every send and receive.
``graph_empty`` / ``bare_empty``
    the same with no operator in between (source -> sink, producer -> consumer).

Metrics, per backend (prefix ``asyncio_`` / ``trio_``), where ``N`` is the number of
chunks, ``H`` the number of hops (edges) in the chain (4) and ``T`` a variant's wall time:

* ``graph_us_per_chunk_hop`` / ``bare_us_per_chunk_hop``: ``T / N / H`` in microseconds.
* ``ratio_graph_bare``: ``T_graph / T_bare`` (same repetition).
* ``bare_nowait_us_per_chunk_hop``, ``ratio_graph_bare_nowait``: the same against
  ``bare_nowait``.
* ``graph_empty_us_per_chunk`` / ``bare_empty_us_per_chunk``: ``T_empty / N`` (one hop).
* ``graph_us_per_operator`` / ``bare_us_per_forwarder``: marginal cost of one more
  node, ``(T - T_empty) / N / 3``, microseconds.
* ``ratio_marginal``: ``graph_us_per_operator / bare_us_per_forwarder``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.lowlevel
import numpy as np
from harness import Options, Prepared, register

from stream import ArraySource, AudioChunk, AudioSpec, Graph, Item, Operator, Sink

SAMPLE_RATE = 48_000
CHANNELS = 2
BLOCK = 256
OPERATORS = 3
BUFFER_SIZE = 16  # the graph's default; checked against Graph() in prepare
CHECKPOINT_EVERY = 64  # as stream._runtime, for bare_nowait
DEFAULT_SECONDS = 60.0
QUICK_SECONDS = 0.5
TARGET_RATIO = 1.5
TARGET_US_PER_HOP = 20.0


class PassThrough(Operator):
    """Returns every item unchanged."""

    def process(self, item: Item) -> list[Item]:
        return [item]


class CountingSink(Sink):
    """Counts what it receives and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    def open(self) -> None:
        self.count = 0

    def write(self, item: Item) -> None:
        self.count += 1


def make_chunks(n: int) -> list[AudioChunk]:
    """``n`` contiguous 256-frame stereo float32 chunks (one allocation, C-contiguous views)."""
    rng = np.random.default_rng(0)
    data = (0.1 * rng.standard_normal((n, CHANNELS, BLOCK))).astype(np.float32)
    return [AudioChunk(data[i], SAMPLE_RATE, i * BLOCK) for i in range(n)]


def build_graph(chunks: list[AudioChunk], operators: int) -> tuple[Graph, CountingSink]:
    """ArraySource -> ``operators`` pass-throughs -> CountingSink."""
    g = Graph()
    sink = CountingSink()
    nodes = [g.add(ArraySource(chunks, AudioSpec(SAMPLE_RATE, CHANNELS)), "source")]
    nodes += [g.add(PassThrough(), f"pass_{i}") for i in range(operators)]
    nodes.append(g.add(sink, "sink"))
    g.chain(*nodes)
    return g, sink


async def run_graph(graph: Graph, sink: CountingSink) -> int:
    await graph.run()
    return sink.count


async def _chain(
    producer: Callable[[Any], Awaitable[None]],
    forward: Callable[[Any, Any], Awaitable[None]],
    consumer: Callable[[Any], Awaitable[None]],
    forwarders: int,
    buffer_size: int,
) -> None:
    """Wire producer -> ``forwarders`` forwarding tasks -> consumer with memory streams."""
    streams = [
        anyio.create_memory_object_stream[AudioChunk](buffer_size) for _ in range(forwarders + 1)
    ]
    async with anyio.create_task_group() as tg:
        tg.start_soon(producer, streams[0][0])
        for i in range(forwarders):
            tg.start_soon(forward, streams[i][1], streams[i + 1][0])
        tg.start_soon(consumer, streams[-1][1])


async def run_bare(chunks: list[AudioChunk], forwarders: int, buffer_size: int) -> int:
    """Producer -> ``forwarders`` forwarding tasks -> counting consumer, plain anyio."""
    count = 0

    async def producer(send: Any) -> None:
        async with send:
            for chunk in chunks:
                await send.send(chunk)

    async def forward(recv: Any, send: Any) -> None:
        async with recv, send:
            async for item in recv:
                await send.send(item)

    async def consumer(recv: Any) -> None:
        nonlocal count
        async with recv:
            async for _ in recv:
                count += 1

    await _chain(producer, forward, consumer, forwarders, buffer_size)
    return count


async def run_bare_nowait(chunks: list[AudioChunk], forwarders: int, buffer_size: int) -> int:
    """Like :func:`run_bare`, but awaiting only on a full or empty buffer."""
    count = 0
    every = CHECKPOINT_EVERY

    async def put(send: Any, item: object, since: int) -> int:
        try:
            send.send_nowait(item)
        except anyio.WouldBlock:
            await send.send(item)
            return 0
        since += 1
        if since >= every:
            await anyio.lowlevel.checkpoint()
            return 0
        return since

    async def get(recv: Any) -> tuple[object, bool]:
        """(item, awaited); raises EndOfStream at the end."""
        try:
            return recv.receive_nowait(), False
        except anyio.WouldBlock:
            return await recv.receive(), True

    async def producer(send: Any) -> None:
        since = 0
        async with send:
            for chunk in chunks:
                since = await put(send, chunk, since)

    async def forward(recv: Any, send: Any) -> None:
        since = 0
        async with recv, send:
            while True:
                try:
                    item, awaited = await get(recv)
                except anyio.EndOfStream:
                    return
                since = await put(send, item, 0 if awaited else since)

    async def consumer(recv: Any) -> None:
        nonlocal count
        since = 0
        async with recv:
            while True:
                try:
                    _, awaited = await get(recv)
                except anyio.EndOfStream:
                    return
                count += 1
                since = 0 if awaited else since + 1
                if since >= every:
                    since = 0
                    await anyio.lowlevel.checkpoint()

    await _chain(producer, forward, consumer, forwarders, buffer_size)
    return count


async def _timed(run: Callable[[], Awaitable[int]], expected: int, label: str) -> float:
    gc.collect()
    t0 = time.perf_counter()
    count = await run()
    wall = time.perf_counter() - t0
    if count != expected:
        raise RuntimeError(f"{label}: the sink counted {count} chunks, expected {expected}")
    return wall


@register(
    "runtime_overhead",
    "per-chunk per-hop cost of stream.Graph (source -> 3 pass-through operators -> sink, "
    "256-frame 48 kHz stereo chunks) vs a bare anyio memory-object-stream chain",
)
def prepare(options: Options) -> Prepared:
    seconds = options.seconds or (QUICK_SECONDS if options.quick else DEFAULT_SECONDS)
    n = max(1, round(seconds * SAMPLE_RATE / BLOCK))
    hops = OPERATORS + 1
    if Graph().buffer_size != BUFFER_SIZE:
        raise RuntimeError(f"Graph's default buffer is {Graph().buffer_size}, not {BUFFER_SIZE}")
    chunks = make_chunks(n)
    chain, chain_sink = build_graph(chunks, OPERATORS)
    empty, empty_sink = build_graph(chunks, 0)

    variants: dict[str, Callable[[], Awaitable[int]]] = {
        "graph": lambda: run_graph(chain, chain_sink),
        "bare": lambda: run_bare(chunks, OPERATORS, BUFFER_SIZE),
        "bare_nowait": lambda: run_bare_nowait(chunks, OPERATORS, BUFFER_SIZE),
        "graph_empty": lambda: run_graph(empty, empty_sink),
        "bare_empty": lambda: run_bare(chunks, 0, BUFFER_SIZE),
    }
    repetition = 0

    async def one_round(k: int) -> dict[str, float]:
        chain = ["graph", "bare", "bare_nowait"]
        chain = chain[k % 3 :] + chain[: k % 3]
        empty = ["graph_empty", "bare_empty"][:: 1 if k % 2 == 0 else -1]
        return {name: await _timed(variants[name], n, name) for name in chain + empty}

    def run() -> dict[str, float]:
        nonlocal repetition
        k = repetition
        repetition += 1
        metrics: dict[str, float] = {}
        for backend in options.backends:
            wall = anyio.run(one_round, k, backend=backend)
            us = 1e6 / n
            graph_marginal = (wall["graph"] - wall["graph_empty"]) * us / OPERATORS
            bare_marginal = (wall["bare"] - wall["bare_empty"]) * us / OPERATORS
            p = f"{backend}_"
            metrics[p + "graph_us_per_chunk_hop"] = wall["graph"] * us / hops
            metrics[p + "bare_us_per_chunk_hop"] = wall["bare"] * us / hops
            metrics[p + "ratio_graph_bare"] = wall["graph"] / wall["bare"]
            metrics[p + "bare_nowait_us_per_chunk_hop"] = wall["bare_nowait"] * us / hops
            metrics[p + "ratio_graph_bare_nowait"] = wall["graph"] / wall["bare_nowait"]
            metrics[p + "graph_empty_us_per_chunk"] = wall["graph_empty"] * us
            metrics[p + "bare_empty_us_per_chunk"] = wall["bare_empty"] * us
            metrics[p + "graph_us_per_operator"] = graph_marginal
            metrics[p + "bare_us_per_forwarder"] = bare_marginal
            metrics[p + "ratio_marginal"] = graph_marginal / bare_marginal
            metrics[p + "graph_wall_s"] = wall["graph"]
            metrics[p + "bare_wall_s"] = wall["bare"]
        return metrics

    def checks(medians: Mapping[str, float]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for backend in options.backends:
            p = f"{backend}_"
            out[f"{p}ratio_graph_bare <= {TARGET_RATIO}"] = (
                medians[p + "ratio_graph_bare"] <= TARGET_RATIO
            )
            out[f"{p}graph_us_per_chunk_hop < {TARGET_US_PER_HOP}"] = (
                medians[p + "graph_us_per_chunk_hop"] < TARGET_US_PER_HOP
            )
        return out

    def profile() -> None:
        anyio.run(run_graph, chain, chain_sink, backend=options.backends[0])

    return Prepared(
        run=run,
        params={
            "chunks": n,
            "media_seconds": n * BLOCK / SAMPLE_RATE,
            "block_frames": BLOCK,
            "sample_rate": SAMPLE_RATE,
            "channels": CHANNELS,
            "operators": OPERATORS,
            "hops": hops,
            "buffer_size": BUFFER_SIZE,
            "backends": list(options.backends),
            "targets": {
                "ratio_graph_bare_max": TARGET_RATIO,
                "us_per_chunk_hop_max": TARGET_US_PER_HOP,
            },
        },
        checks=checks,
        profile=profile,
    )
