"""Live audio through real PortAudio streams on a JACK dummy server (no sound card).

Every test here opens real PortAudio streams; a second stream (the rig) injects a
known signal into the device under test and records what it plays, over JACK
client-to-client connections, which carry float32 audio unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
import pytest

from sinks import DeviceSink, MemorySink
from stream import (
    ArraySource,
    AudioChunk,
    DeviceSource,
    DuplexDevice,
    Graph,
    Item,
    LiveStats,
    MediaError,
    MediaOpenError,
    NodeError,
    Operator,
    ParameterError,
    XrunInfo,
    list_devices,
)
from tests.live_support import (
    PERIOD,
    RATE,
    JackServer,
    Rig,
    first_nonzero,
    jack_server,
    locate,
    port_number,
)


@pytest.fixture(scope="module")
def jack() -> Iterator[JackServer]:
    with jack_server() as server:
        yield server


def chain_ops() -> list[Operator]:
    """The dynamics chain under test: compressor then limiter (fresh instances)."""
    from operators import Compressor, Limiter

    return [
        Compressor(threshold_db=-20, ratio=4, attack_ms=5, release_ms=50),
        Limiter(ceiling_db=-3, lookahead_ms=2, release_ms=30),
    ]


def run_offline(ops: list[Operator], audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    items: list[Item] = [AudioChunk(np.ascontiguousarray(audio), RATE, 0)]
    for op in ops:
        items = [i for i in op.run_all(items) if isinstance(i, AudioChunk)]
    return np.concatenate([i.data for i in items], axis=1)


def burst(channels: int, seconds: float) -> npt.NDArray[np.float32]:
    """A tone burst (frames, channels): quiet half then loud half, first sample != 0."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    amp = np.where(t < seconds / 2, 0.2, 0.9)
    cols = [amp * np.sin(2 * np.pi * (440 + 220 * c) * t + 0.5) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


def new_ports(jack: JackServer, before: set[str], count: int) -> tuple[list[str], list[str]]:
    ports = jack.wait_ports("PortAudio:", len(before) + count, timeout=30)
    new = sorted(set(ports) - before, key=port_number)
    return [p for p in new if ":in_" in p], [p for p in new if ":out_" in p]


def wire(jack: JackServer, rig: Rig, dut_in: int, dut_out: int, signal: Any) -> threading.Thread:
    """In a thread: wait for the device under test's ports, connect the rig, play."""
    before = {p for p in jack.ports() if p.startswith("PortAudio:")}

    def run() -> None:
        ins, outs = new_ports(jack, before, dut_in + dut_out)
        assert len(ins) == dut_in and len(outs) == dut_out, (ins, outs)
        for src, dst in zip(rig.outputs, ins, strict=False):
            jack.connect(src, dst)
        for src, dst in zip(outs, rig.inputs, strict=False):
            jack.connect(src, dst)
        if signal is not None:
            rig.play(signal)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_jack_device_is_listed(jack: JackServer) -> None:
    devices = list_devices()
    jack_devices = [d for d in devices if d.hostapi.startswith("JACK")]
    assert [d.name for d in jack_devices] == ["system"]
    system = jack_devices[0]
    assert (system.input_channels, system.output_channels) == (2, 2)
    assert system.default_sample_rate == RATE
    assert system.default_input and system.default_output
    assert "system (JACK Audio Connection Kit): 2 in, 2 out, 48000 Hz" in system.describe()


def _duplex_once(
    jack: JackServer, signal: npt.NDArray[np.float32]
) -> tuple[LiveStats, MemorySink, MemorySink, npt.NDArray[np.float32], float]:
    """One run of rig -> DuplexDevice -> chain -> DuplexDevice -> rig."""
    channels = signal.shape[1]
    rig = Rig(jack, channels, record_s=3.0)
    try:
        duplex = DuplexDevice(
            sample_rate=RATE, channels=channels, blocksize=PERIOD, prefill_blocks=3, duration=1.5
        )
        g = Graph()
        src = g.add(duplex.source, "mic")
        ops = [g.add(op) for op in chain_ops()]
        tap = MemorySink()
        g.connect(src["audio"], g.add(tap, "tap"))
        xruns = MemorySink()
        g.connect(src["events"], g.add(xruns, "xruns"))
        g.chain(src["audio"], *ops, g.add(duplex.sink, "speaker"))
        wiring = wire(jack, rig, channels, channels, signal)
        t0 = time.monotonic()
        g.run_sync()
        wall = time.monotonic() - t0
        wiring.join(5)
        time.sleep(0.05)
    finally:
        rig.close()
    return duplex.stats(), tap, xruns, rig.recorded[: rig.recorded_frames].T.copy(), wall


def test_duplex_chain_round_trip_is_bit_exact(jack: JackServer) -> None:
    """Signal -> DuplexDevice.source -> compressor -> limiter -> DuplexDevice.sink.

    The rig checks what the device captured (the burst, bit-exact) and what it played
    (the offline run of the same chain on the captured audio, bit-exact).

    On a heavily loaded machine a run may lose audio (JACK misses a cycle, the graph
    is late): such a run must have reported it (overruns, input overflows or
    underruns) and is repeated, 3 runs at most; a mismatch nobody reported fails.
    """
    channels = 2
    signal = burst(channels, 0.5)
    run_offline(chain_ops(), np.zeros((channels, 4 * PERIOD), np.float32))  # compile kernels
    for attempt in range(3):
        stats, tap, xruns, recorded, wall = _duplex_once(jack, signal)
        captured = tap.audio()
        onset = first_nonzero(captured.T)
        expected = run_offline(chain_ops(), captured)
        delay = first_nonzero(recorded.T) - first_nonzero(expected.T)
        played = recorded[:, delay : delay + expected.shape[1]]
        exact = (
            np.array_equal(captured[:, onset : onset + len(signal)], signal.T)
            and played.shape == expected.shape
            and np.array_equal(played, expected)
        )
        reported = stats.overruns + stats.input_overflows + stats.underruns
        if exact or reported == 0 or attempt == 2:
            break
    assert 1.5 <= wall < 4.0  # paced by the device clock
    assert (stats.overruns, stats.dropped_frames, stats.underruns) == (0, 0, 0), stats
    assert captured.shape == (channels, int(1.5 * RATE))
    assert [c.start for c in tap.items] == list(range(0, int(1.5 * RATE), PERIOD))
    np.testing.assert_array_equal(captured[:, onset : onset + len(signal)], signal.T)
    assert not captured[:, :onset].any() and not captured[:, onset + len(signal) :].any()
    assert delay > 0
    np.testing.assert_array_equal(played, expected)
    # The measured round trip: at least one block of processing plus the device's
    # buffers; each part is whole JACK periods here.
    rt = stats.round_trip_frames
    assert rt is not None and stats.round_trip_min_s is not None
    assert rt % PERIOD == 0 and PERIOD <= rt <= 16 * PERIOD, rt
    assert stats.round_trip_max_s == pytest.approx(stats.round_trip_s)
    # Under CPU load JACK reports xruns (PortAudio: input overflow) while the
    # client-to-client audio may still arrive intact: counted and reported as events.
    assert all(e.payload.cause == "input_overflow" for e in xruns.items)
    assert len(xruns.items) == stats.input_overflows


def test_device_sink_plays_a_file_paced_by_the_device(jack: JackServer) -> None:
    rng = np.random.default_rng(7)
    audio = rng.uniform(-0.5, 0.5, (2, int(0.6 * RATE))).astype(np.float32)  # never repeats
    rig = Rig(jack, 2, record_s=2.0)
    try:
        g = Graph()
        sink = DeviceSink(blocksize=PERIOD, queue_blocks=4)
        g.chain(g.add(ArraySource.audio(audio, RATE, 1000)), g.add(sink, "speaker"))
        before = {p for p in jack.ports() if p.startswith("PortAudio:")}
        done = threading.Event()

        def connect() -> None:
            _, outs = new_ports(jack, before, 2)
            for src, dst in zip(outs, rig.inputs, strict=True):
                jack.connect(src, dst)
            done.set()

        # The sink waits for room: the first 4 blocks queue up at once, the rest at
        # the device's pace, so the connection is in place long before the burst ends.
        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        t0 = time.monotonic()
        g.run_sync(backend="trio")
        wall = time.monotonic() - t0
        thread.join(5)
        assert done.is_set()
    finally:
        rig.close()
    assert wall >= 0.6 - 4 * PERIOD / RATE  # paced: never faster than the device plays
    assert sink.underruns == 0
    recorded = rig.recorded[: rig.recorded_frames].T
    # The first blocks may have been played before the rig was connected (channel by
    # channel): what each channel recorded is an exact suffix of the file's channel.
    for c in range(2):
        onset = first_nonzero(recorded[c])
        start = locate(audio[c], recorded[c, onset : onset + 16])
        assert len(start) == 1 and start[0] < audio.shape[1] // 2, start
        n = audio.shape[1] - start[0]
        np.testing.assert_array_equal(recorded[c, onset : onset + n], audio[c, start[0] :])
        assert not recorded[c, onset + n :].any()


class Sleepy(Operator):
    """Takes ``delay_s`` per chunk on the event loop: a graph that cannot keep up."""

    accepts = frozenset({"audio"})

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def process(self, item: Item) -> list[Item]:
        time.sleep(self.delay_s)
        return [item]


@pytest.mark.anyio
async def test_overruns_are_counted_reported_and_filled_with_silence(jack: JackServer) -> None:
    rig = Rig(jack, 1, record_s=2.0)
    try:
        source = DeviceSource(channels=1, blocksize=PERIOD, queue_blocks=2, duration=0.8)
        g = Graph()
        src = g.add(source, "mic")
        audio, events = MemorySink(), MemorySink()
        g.chain(src["audio"], g.add(Sleepy(0.02)), g.add(audio))
        g.connect(src["events"], g.add(events))
        wire(jack, rig, 1, 0, np.full((RATE, 1), 0.25, np.float32))
        await g.run()
    finally:
        rig.close()
    stats = source.stats()
    data = audio.audio()
    assert data.shape == (1, int(0.8 * RATE))
    assert [c.start for c in audio.items] == list(
        np.cumsum([0] + [c.frames for c in audio.items[:-1]])
    )
    xruns = [e for e in events.items if e.kind == "xrun"]
    assert stats.overruns > 0 and xruns
    overruns = [e for e in xruns if e.payload.cause == "overrun"]
    assert sum(e.end - e.start for e in overruns) == stats.dropped_frames > 0
    assert stats.dropped_frames <= stats.overruns * PERIOD  # the last may pass the end
    last: XrunInfo = overruns[-1].payload
    assert (last.overruns, last.dropped_frames) == (stats.overruns, stats.dropped_frames)
    for e in overruns:  # what was lost is silence, at the frames the event names
        assert not data[:, e.start : e.end].any()


def test_overrun_fails_the_graph_when_asked(jack: JackServer) -> None:
    source = DeviceSource(channels=1, blocksize=PERIOD, queue_blocks=2, on_overrun="fail")
    g = Graph()
    g.chain(g.add(source, "mic")["audio"], g.add(Sleepy(0.02)), g.add(MemorySink()))
    with pytest.raises(NodeError) as info:
        g.run_sync()
    assert info.value.node == "mic"
    assert isinstance(info.value.cause, MediaError)
    assert "overrun at frame" in str(info.value) and "on_overrun='fail'" in str(info.value)
    assert not [p for p in jack.ports() if p.startswith("PortAudio:in")]


def test_missing_or_refused_device_names_it_and_lists_devices(jack: JackServer) -> None:
    for device, needle in (
        ("no such card", "no input device matches 'no such card'"),
        (7, "no audio device with index 7"),
    ):
        with pytest.raises(MediaOpenError) as info:
            DeviceSource(device, channels=1).open(["audio"])
        assert needle in str(info.value)
        assert "system (JACK Audio Connection Kit): 2 in, 2 out" in str(info.value)
    with pytest.raises(MediaOpenError, match=r"refuses 44100 Hz.*default rate is 48000 Hz"):
        DeviceSource("system", sample_rate=44100).open(["audio"])
    with pytest.raises(MediaOpenError, match="has 2 output channels, 6 asked for"):
        DeviceSink(channels=6, sample_rate=RATE).open()
    # Through a graph: the node and the cause.
    g = Graph()
    g.chain(g.add(DeviceSource("nope"), "mic")["audio"], g.add(MemorySink()))
    with pytest.raises(NodeError, match=r"node 'mic' failed.*no input device matches 'nope'"):
        g.run_sync()


def test_parameters_are_checked() -> None:
    with pytest.raises(ParameterError, match="blocksize"):
        DeviceSource(blocksize=-1)
    with pytest.raises(ParameterError, match="latency"):
        DeviceSource(latency="fast")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="on_overrun"):
        DeviceSource(on_overrun="ignore")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="queue_blocks"):
        DeviceSink(queue_blocks=1)
    with pytest.raises(ParameterError, match="duration"):
        DuplexDevice(duration=0)
    # Less than one frame: the source would deliver nothing at all.
    with pytest.raises(ParameterError, match=r"duration=1e-06 s is less than one frame at 48000"):
        DeviceSource(duration=1e-6)
    with pytest.raises(ParameterError, match="less than one frame"):
        DuplexDevice(duration=1e-5, sample_rate=RATE)
    assert DeviceSource(duration=1.5 / RATE).duration == Fraction(2, RATE)  # rounds to 2
    # queue_blocks is checked before prefill_blocks is compared with it.
    for bad in ("4", None, 2.5):
        with pytest.raises(ParameterError, match="queue_blocks must be an int >= 2"):
            DeviceSink(queue_blocks=bad, prefill_blocks=1)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_cancel_from_outside_closes_the_stream_at_once(jack: JackServer) -> None:
    duplex = DuplexDevice(channels=1, blocksize=PERIOD)  # no duration: runs until cancelled
    g = Graph()
    tap = MemorySink()
    src = g.add(duplex.source, "mic")
    g.connect(src["audio"], g.add(tap))
    g.chain(src["audio"], g.add(duplex.sink, "speaker"))
    cancelled_at = 0.0
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(g.run)
            while len(tap.items) < 20:  # data flows
                await anyio.sleep(0.01)
            cancelled_at = time.monotonic()
            scope.cancel()
    closed_in = time.monotonic() - cancelled_at
    assert closed_in < 0.5
    assert tap.closed and tap.error is not None
    assert not [p for p in jack.ports() if p.startswith("PortAudio:")]  # client's ports gone
    assert duplex._stream is None


def test_source_stats_keep_the_device_latency_after_close(jack: JackServer) -> None:
    # PortAudio's JACK host reports 0 s input latency on the dummy server, so this
    # checks the contract (same reading during and after the run, counters kept), not
    # a nonzero value: no device here reports one.
    source = DeviceSource(channels=1, blocksize=PERIOD, duration=0.05)
    source.open(["audio"])
    while source.read(8):
        pass
    during = source.stats().device_latency_s
    assert during == (float(source._stream.latency), 0.0)
    source.close()
    after = source.stats()
    assert after.device_latency_s == during
    assert after.dropped_frames == 0 and after.sample_rate == RATE


def test_failed_duplex_open_leaves_no_half_behind(jack: JackServer) -> None:
    duplex = DuplexDevice("no such card", channels=1, blocksize=PERIOD)
    with pytest.raises(MediaOpenError, match="no input device matches 'no such card'"):
        duplex.source.open(["audio"])
    assert duplex._halves == set() and duplex._stream is None
    with pytest.raises(MediaOpenError, match="no input device matches 'no such card'"):
        duplex.sink.open()
    assert duplex._halves == set() and duplex._stream is None
    assert not [p for p in jack.ports() if p.startswith("PortAudio:")]


def test_direct_use_without_a_graph(jack: JackServer) -> None:
    """read() and write() block the calling thread (scripts, notebooks) and time out."""
    rig = Rig(jack, 1, record_s=2.0)
    try:
        source = DeviceSource(channels=1, blocksize=PERIOD, duration=0.2)
        source.open(["audio", "events"])
        chunks: list[Item] = []
        while batch := source.read(8):
            chunks.extend(item for _, item in batch)
        source.close()
        assert sum(c.frames for c in chunks if isinstance(c, AudioChunk)) == int(0.2 * RATE)

        sink = DeviceSink(sample_rate=RATE, channels=1, blocksize=PERIOD, queue_blocks=2)
        before = {p for p in jack.ports() if p.startswith("PortAudio:")}
        sink.open()
        _, outs = new_ports(jack, before, 1)
        jack.connect(outs[0], rig.inputs[0])
        ramp = (np.arange(1, 9601, dtype=np.float32) / 9600).reshape(1, -1)
        t0 = time.monotonic()
        for i in range(0, ramp.shape[1], 480):
            sink.write(AudioChunk(ramp[:, i : i + 480].copy(), RATE, i))
        sink.close()
        wall = time.monotonic() - t0
    finally:
        rig.close()
    assert wall >= 0.2 - 2 * PERIOD / RATE  # write() waited for the device
    recorded = rig.recorded[: rig.recorded_frames, 0]
    onset = first_nonzero(recorded)
    np.testing.assert_array_equal(recorded[onset : onset + 9600], ramp[0])
    with pytest.raises(RuntimeError, match="write\\(\\) before open\\(\\)"):
        DeviceSink(sample_rate=RATE, channels=1).write(AudioChunk(ramp[:, :4].copy(), RATE, 0))


def test_underruns_are_counted_or_fail_when_asked(jack: JackServer) -> None:
    """A file graph slower than real time starves the device: silence is played and
    counted, or the graph stops with the frame position (on_underrun='fail')."""
    audio = np.full((1, int(0.4 * RATE)), 0.25, np.float32)
    counted = DeviceSink(blocksize=PERIOD)
    g = Graph()
    g.chain(g.add(ArraySource.audio(audio, RATE, PERIOD)), g.add(Sleepy(0.012)), g.add(counted))
    g.run_sync()
    assert counted.underruns > 0 and counted.underrun_frames > 0

    failing = DeviceSink(blocksize=PERIOD, on_underrun="fail")
    g = Graph()
    g.chain(
        g.add(ArraySource.audio(audio, RATE, PERIOD)),
        g.add(Sleepy(0.012)),
        g.add(failing, "speaker"),
    )
    with pytest.raises(NodeError, match=r"node 'speaker' failed.*underrun before frame \d+"):
        g.run_sync()
    with pytest.raises(ParameterError, match="on_underrun"):
        DeviceSink(on_underrun="ignore")  # type: ignore[arg-type]
