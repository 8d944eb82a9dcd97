"""A live device that disappears mid-stream (issue 7): the JACK server under a running
``mediastream live``, and under a DeviceSource -> AudioFileSink / DeviceSink graph, is
killed (or frozen). The run ends, never hangs, with a non-zero exit and one line naming
the device, and the recording made so far is a valid file.

What PortAudio does (libportaudio 19.6, ``pa_jack.c``): when the server goes, libjack
calls PortAudio's shutdown callback, which only marks the streams inactive (no finished
callback); stopping or closing such a stream then waits for the dead server's process
thread (10 minutes), and terminating PortAudio fails an assertion and aborts the
process. mediastream notices the inactive stream within 50 ms, leaves it open and
skips PortAudio's exit handler (``stream.devices.close_stream``).

Each server here is started by the test and is never seen by this process's own
PortAudio (terminating it after the kill would abort pytest), so the graph runs in a
child interpreter, like the CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from sinks import DeviceSink, MemorySink
from stream import AudioChunk, DeviceSource, Graph
from tests.live_support import PERIOD, RATE, jack_env, jack_ports, jack_server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).with_name("mediastream")
DEVICE = "device 0 'system' (JACK Audio Connection Kit)"


def _start_jackd(name: str) -> subprocess.Popen[bytes]:
    """``jackd`` on the dummy driver, once its ports are listed.

    Its messages go to a file: a pipe nobody reads fills up (jackd logs every xrun on
    a loaded machine) and then blocks the server for good.
    """
    with tempfile.TemporaryFile() as log:  # the server keeps its own descriptor
        server = subprocess.Popen(
            ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", str(RATE), "-p",
             str(PERIOD)],
            env={**os.environ, **jack_env(name)},
            stdout=log,
            stderr=log,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while "system:playback_1" not in jack_ports(name, must_answer=False):
        if server.poll() is not None or time.monotonic() > deadline:
            _stop_jackd(server)
            pytest.fail(f"jackd did not start (exit {server.poll()})")
        time.sleep(0.05)
    return server


def _stop_jackd(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGCONT)  # a frozen server must be able to act on SIGTERM
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


@contextlib.contextmanager
def doomed_jack() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A JACK dummy server for the test to kill: (name, process).

    jackd registers every server in a shared table of 8 slots (``/dev/shm/
    jack-shm-registry``) that only a clean exit frees: a killed server's slot stays
    taken until a server of the same name starts. So after a SIGKILL, a server of the
    same name is started and stopped cleanly, leaving the table as it was; the
    semaphores its clients could not remove (``/dev/shm/jack_sem.*``, named after the
    server) are removed too.
    """
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        pytest.fail("jackd (Debian package jackd2) is needed: `apt-get install jackd2`")
    name = f"mediastream-doomed-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    server = _start_jackd(name)
    try:
        yield name, server
    finally:
        if server.poll() is None:
            _stop_jackd(server)
        if server.returncode == -signal.SIGKILL:  # its registry slot is still taken
            _stop_jackd(_start_jackd(name))
        for leftover in Path("/dev/shm").glob(f"jack*_{name}_*"):
            leftover.unlink(missing_ok=True)


def _child_env(name: str) -> dict[str, str]:
    return {**os.environ, **jack_env(name), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}


def _wait_for_ports(name: str, proc: subprocess.Popen[str], count: int) -> list[str]:
    """The child's PortAudio ports, once it has ``count`` of them (its streams run)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ports = [p for p in jack_ports(name, must_answer=False) if p.startswith("PortAudio:")]
        if len(ports) >= count:
            return ports
        if proc.poll() is not None:
            pytest.fail(f"the child ended before its device ran: {proc.communicate()}")
        time.sleep(0.05)
    pytest.fail(f"the child's {count} JACK ports did not appear in 60 s")


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str, float]:
    """Wait for the child to end on its own: (stdout, stderr, seconds it took)."""
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running {timeout:g} s after the device went (hang): {err[-2000:]}")
    return out, err, time.monotonic() - t0


def _start_live(name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(BIN), "live", "--no-progress", "--print-every", "0.2"],
        env=_child_env(name),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # until audio went round (a round trip measured)
        if "xruns:" in line and "ms (" in line:
            return proc
    pytest.fail(f"mediastream live never ran: {proc.communicate()}")


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_live_ends_naming_the_device_when_its_server_dies(sig: str) -> None:
    with doomed_jack() as (name, server):
        proc = _start_live(name)
        server.send_signal(getattr(signal, sig))
        server.wait(10)
        _, err, took = _finish(proc, timeout=60)
    assert proc.returncode == 1, err
    (line,) = err.strip().splitlines()  # one line, no traceback
    assert line.startswith("mediastream live: error: node 'input' failed at "), line
    assert f"DuplexDevice: input {DEVICE} stopped delivering audio after frame " in line
    assert "the device is gone" in line
    assert took < 30  # seconds in practice; generous for a loaded machine


def test_live_ends_naming_the_device_when_its_server_freezes() -> None:
    with doomed_jack() as (name, server):
        proc = _start_live(name)
        server.send_signal(signal.SIGSTOP)  # alive but no longer running: no callbacks
        _, err, took = _finish(proc, timeout=60)
    assert proc.returncode == 1, err
    (line,) = err.strip().splitlines()
    assert f"DuplexDevice: input {DEVICE} delivered nothing for 2 s after frame " in line, line
    assert "the device stopped running" in line
    assert took >= 2.0  # the stall watchdog's 2 s; then closing gives up after 2 s more


GRAPH = textwrap.dedent(
    """
    import json, sys
    from operators import Gain
    from sinks import AudioFileSink, DeviceSink
    from stream import DeviceSource, Graph, NodeError

    wav = sys.argv[1]
    recording = AudioFileSink(wav)
    g = Graph()
    src = g.add(DeviceSource(channels=1, blocksize=256), "mic")
    g.connect(src["audio"], g.add(recording, "recording"))
    g.chain(src["audio"], g.add(Gain(-6.0), "gain"), g.add(DeviceSink(blocksize=256), "speaker"))
    try:
        g.run_sync()
    except NodeError as err:
        notes = [n for e in (err, err.__cause__) for n in getattr(e, "__notes__", [])]
        print(json.dumps({"node": err.node, "cause": type(err.__cause__).__name__,
                          "message": str(err), "notes": notes,
                          "frames": recording.frames_written}))
        sys.exit(1)
    print("finished without an error")
    """
)


def test_graph_ends_and_keeps_the_recording_when_the_server_dies(tmp_path: Path) -> None:
    wav = tmp_path / "mic.wav"
    with doomed_jack() as (name, server):
        env = _child_env(name)
        metro = subprocess.Popen(
            ["jack_metro", "-b", "600", "-f", "880", "-A", "0.9", "-D", "20", "-n", "metro"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", GRAPH, str(wav)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            ports = _wait_for_ports(name, proc, 2)  # the mic's input, the speaker's output
            click = next(p for p in jack_ports(name) if p.startswith("metro:"))
            mic = next(p for p in ports if ":in_" in p)
            res = subprocess.run(
                ["jack_connect", click, mic], env=env, capture_output=True, text=True, timeout=10
            )
            if res.returncode != 0:
                proc.kill()
                pytest.fail(f"jack_connect: {res.stderr}; the child: {proc.communicate()}")
            time.sleep(1.5)  # clicks recorded
            server.kill()
            server.wait(10)
            out, err, took = _finish(proc, timeout=60)
        finally:
            if metro.poll() is None:
                metro.kill()
            metro.wait(10)
    assert proc.returncode == 1, (out, err)
    assert err == "", err
    report = json.loads(out)
    assert report["node"] in ("mic", "speaker") and report["cause"] == "MediaError"
    assert DEVICE in report["message"] and "the device is gone" in report["message"]
    assert took < 30
    # The recording up to the loss is a valid WAV with every frame that reached it ...
    with av.open(str(wav)) as c:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert len(samples) == report["frames"] >= RATE  # at least the 1.5 s before the kill
    # ... and those frames are the clicks the server carried (amplitude 0.9, 10 per s).
    assert np.abs(samples).max() / 32768 > 0.5


def test_a_source_and_a_sink_open_their_streams_one_at_a_time() -> None:
    """A graph opens its nodes concurrently (worker threads), and PortAudio is not
    thread-safe: before opens were serialised, a DeviceSource and a DeviceSink in one
    graph failed most runs on JACK ("Insufficient memory", "Unanticipated host
    error") or deadlocked."""
    with jack_server():
        for _ in range(4):
            tap = MemorySink()
            g = Graph()
            src = g.add(DeviceSource(channels=1, blocksize=PERIOD, duration=0.2), "mic")
            g.connect(src["audio"], g.add(tap, "tap"))
            g.connect(src["audio"], g.add(DeviceSink(blocksize=PERIOD), "speaker"))
            g.run_sync()
            frames = sum(i.frames for i in tap.items if isinstance(i, AudioChunk))
            assert frames == round(0.2 * RATE)
