"""A real PortAudio device without a sound card: a JACK server on its dummy driver.

``jack_server()`` starts ``jackd --no-realtime -n <unique name> -d dummy -r 48000
-p 256`` (the dummy driver is paced by the system clock: real time, like a sound
card), points libjack at it through ``JACK_DEFAULT_SERVER``, and re-initialises
PortAudio in this process (PortAudio enumerates host APIs when it initialises), so
that ``sounddevice`` sees the JACK host API with one device, ``system``.

The dummy driver's ``system:capture_*`` ports carry silence; a known signal gets in
through client-to-client connections, which carry audio bit-exactly (JACK is float32
end to end): :class:`Rig` is a second PortAudio stream that plays a signal into the
device under test and records what the device under test plays.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

RATE = 48000
PERIOD = 256


def jack_env(name: str) -> dict[str, str]:
    """Environment variables that point libjack (and PortAudio) at server ``name``."""
    return {
        "JACK_DEFAULT_SERVER": name,
        "JACK_NO_START_SERVER": "1",  # never auto-start a server with other settings
        "JACK_NO_AUDIO_RESERVATION": "1",  # no D-Bus device reservation (no session bus)
    }


def _terminate_portaudio() -> None:
    if "sounddevice" in sys.modules:
        sd: Any = sys.modules["sounddevice"]
        while sd._initialized:
            sd._terminate()


def _initialize_portaudio() -> None:
    if "sounddevice" in sys.modules:
        sd: Any = sys.modules["sounddevice"]
        if not sd._initialized:
            sd._initialize()


def jack_ports(name: str, *, must_answer: bool = True) -> list[str]:
    """The server's port names (``jack_lsp``); retried while the server is busy."""
    for _ in range(20):
        out = subprocess.run(
            ["jack_lsp"],
            env={**os.environ, **jack_env(name)},
            capture_output=True,
            text=True,
            timeout=10,
        )
        ports = out.stdout.split()
        if out.returncode == 0 and "system:playback_1" in ports:
            return ports
        if not must_answer:
            return []
        time.sleep(0.05)
    raise RuntimeError(f"jack_lsp cannot list the ports of {name!r}: {out.stderr.strip()}")


def jack_connect(name: str, src: str, dst: str) -> None:
    subprocess.run(
        ["jack_connect", src, dst],
        env={**os.environ, **jack_env(name)},
        check=True,
        capture_output=True,
        timeout=10,
    )


@dataclass
class JackServer:
    name: str
    process: subprocess.Popen[bytes]

    def ports(self) -> list[str]:
        return jack_ports(self.name)

    def connect(self, src: str, dst: str) -> None:
        jack_connect(self.name, src, dst)

    def wait_ports(self, prefix: str, count: int, timeout: float = 5.0) -> list[str]:
        """Wait until the ports whose names start with ``prefix`` number ``count``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [p for p in self.ports() if p.startswith(prefix)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


_counter = 0


@contextlib.contextmanager
def jack_server() -> Iterator[JackServer]:
    """Start a JACK dummy server for the duration of the block (see module docs)."""
    global _counter
    if not sys.platform.startswith("linux"):
        pytest.skip("the live-audio rig runs a JACK dummy server, set up on Linux only")
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        pytest.fail(
            "jackd (Debian package jackd2) is needed for the live-audio tests: "
            "`apt-get install jackd2` (make setup installs it)"
        )
    _counter += 1
    name = f"mediastream-test-{os.getpid()}-{_counter}"
    env = jack_env(name)
    # jackd logs every xrun: to a file, never an unread pipe (a full pipe blocks jackd).
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed after jackd exits, below)
    process = subprocess.Popen(
        ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", str(RATE), "-p", str(PERIOD)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    saved = {k: os.environ.get(k) for k in env}
    try:
        deadline = time.monotonic() + 10
        while "system:playback_1" not in jack_ports(name, must_answer=False):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                err = log.read().decode(errors="replace")
                pytest.fail(f"jackd did not start (exit {process.poll()}): {err[-2000:]}")
            time.sleep(0.05)
        os.environ.update(env)
        _terminate_portaudio()
        _initialize_portaudio()
        yield JackServer(name, process)
    finally:
        # PortAudio's JACK client goes first: libjack aborts the process when its
        # server disappears under a live client.
        _terminate_portaudio()
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _initialize_portaudio()


class Rig:
    """A PortAudio duplex stream that plays ``signal`` and records its input.

    Opened first, it owns the PortAudio ports ``PortAudio:out_0..`` and
    ``PortAudio:in_0..`` (PortAudio numbers a client's ports in opening order). Its
    output is silence until :meth:`play`; then ``signal`` once, then silence.
    """

    def __init__(self, jack: JackServer, channels: int, record_s: float) -> None:
        import sounddevice as sd

        self.jack = jack
        self.channels = channels
        self.recorded = np.zeros((int(record_s * RATE), channels), np.float32)
        self.recorded_frames = 0
        self._signal: npt.NDArray[np.float32] | None = None
        self._pos = 0
        self.play_started_at: int | None = None  # rig frame index where playing began
        self._frames = 0
        self._lock = threading.Lock()
        before = {p for p in jack.ports() if p.startswith("PortAudio:")}
        self.stream = sd.Stream(
            samplerate=RATE,
            blocksize=PERIOD,
            channels=channels,
            dtype="float32",
            callback=self._callback,
        )
        self.stream.start()
        new = set(jack.wait_ports("PortAudio:", len(before) + 2 * channels)) - before
        self.outputs = sorted((p for p in new if ":out_" in p), key=port_number)
        self.inputs = sorted((p for p in new if ":in_" in p), key=port_number)
        assert len(self.outputs) == len(self.inputs) == channels, new

    def _callback(self, indata: Any, outdata: Any, frames: int, t: Any, status: Any) -> None:
        n = min(frames, len(self.recorded) - self.recorded_frames)
        self.recorded[self.recorded_frames : self.recorded_frames + n] = indata[:n]
        self.recorded_frames += n
        outdata.fill(0.0)
        sig = self._signal
        if sig is not None and self._pos < len(sig):
            if self.play_started_at is None:
                self.play_started_at = self._frames
            take = min(frames, len(sig) - self._pos)
            outdata[:take] = sig[self._pos : self._pos + take]
            self._pos += take
        self._frames += frames

    def play(self, signal: npt.NDArray[np.float32]) -> None:
        """Play ``signal`` (frames, channels) once, from the next callback on."""
        self._signal = np.ascontiguousarray(signal, dtype=np.float32)

    def done_playing(self) -> bool:
        sig = self._signal
        return sig is not None and self._pos >= len(sig)

    def close(self) -> None:
        self.stream.abort()
        self.stream.close()


def port_number(port: str) -> int:
    """``PortAudio:in_12`` -> 12 (PortAudio numbers ports in opening order)."""
    return int(port.rsplit("_", 1)[1])


def locate(haystack: npt.NDArray[Any], needle: npt.NDArray[Any]) -> list[int]:
    """Every index where the 1-D ``needle`` occurs exactly in the 1-D ``haystack``."""
    windows = np.lib.stride_tricks.sliding_window_view(haystack, len(needle))
    return [int(i) for i in np.flatnonzero(np.all(windows == needle, axis=1))]


def first_nonzero(x: npt.NDArray[Any]) -> int:
    """Index of the first frame with a non-zero sample ((frames, ...) or (channels, frames))."""
    flat = np.abs(x).reshape(x.shape[0], -1).max(axis=1)
    nz = np.flatnonzero(flat)
    assert nz.size, "no signal arrived"
    return int(nz[0])


def new_input_ports(
    jack: JackServer, before: set[str], proc: subprocess.Popen[Any], timeout: float = 120.0
) -> list[str]:
    """The PortAudio input ports that appeared since ``before`` (the ports of a command
    that opened its input device), in port order, once there are some; what there is
    when ``proc`` exits or ``timeout`` s pass (the command loads its models first)."""
    deadline = time.monotonic() + timeout
    new: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        new = [p for p in jack.ports() if p.startswith("PortAudio") and p not in before]
        if any(":in_" in p for p in new):
            break
        time.sleep(0.05)
    return sorted((p for p in new if ":in_" in p), key=port_number)


def speech_at_device_rate() -> npt.NDArray[np.float32]:
    """pyannote's sample.wav (30 s, two real voices) resampled to :data:`RATE`, 1-D."""
    from operators import Resample
    from tests.operators.speaker.support import RATE as SPEECH_RATE
    from tests.operators.speaker.support import sample_audio

    items = Resample(RATE).run_all(sample_audio()[None, :], SPEECH_RATE, chunk_frames=48000)
    return np.concatenate([i.data for i in items], axis=1)[0]
