"""``live_soak``: a long ``mediastream live`` run on a JACK dummy device, counting xruns.

A soak, not a speed comparison: one repetition starts a JACK server with the dummy
driver (paced in real time like a sound card; ``jackd`` from Debian ``jackd2``),
starts ``mediastream live --duration S`` (compressor -> limiter, 48 kHz stereo,
256-frame blocks) as its own process, feeds it ``jack_metro`` clicks (a loud
transient every 100 ms, so the compressor and limiter work) on both inputs, and
parses the per-second status lines. Start-up is the first 2 s: the counts after
the first status line at t >= 2 s are the soak's xruns (target: zero). The process's
resident memory is sampled from ``/proc/PID/status`` at the first status line and at
the end.

Run it with one repetition and no warm-up::

    .venv/bin/python bench/run.py live_soak --seconds 600 --repeats 1 --warmup 0 \\
        --backends asyncio

(``--seconds`` is the soak's length, default 600; ``--quick`` 5 s.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from harness import Options, Prepared, register

RATE = 48000
PERIOD = 256
DEFAULT_SECONDS = 600.0
QUICK_SECONDS = 5.0
STATUS = re.compile(
    r"^\s*([\d.]+) s  round trip ([\d.]+) ms.*?max ([\d.]+) ms\).*xruns: (\d+) overruns "
    r"\(\d+ frames\), (\d+) input overflows, (\d+) underruns \((\d+) frames\)"
)
METER = re.compile(r"^\s+(compressor|limiter)\s+in\s+(.*?) dBFS .*reduction\s+(.*?) dB")
BIN = Path(sys.executable).with_name("mediastream")


def _env(name: str) -> dict[str, str]:
    return {
        **os.environ,
        "JACK_DEFAULT_SERVER": name,
        "JACK_NO_START_SERVER": "1",
        "JACK_NO_AUDIO_RESERVATION": "1",
    }


def _ports(env: Mapping[str, str]) -> list[str]:
    res = subprocess.run(["jack_lsp"], env=dict(env), capture_output=True, text=True)
    return res.stdout.split("\n") if res.returncode == 0 else []


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"live_soak: {what} did not happen in {timeout:g} s")
        time.sleep(0.05)


def soak(seconds: float) -> dict[str, float]:
    """One soak of ``seconds``; returns the figures (see the module docs)."""
    for tool in ("jackd", "jack_lsp", "jack_connect", "jack_metro"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"live_soak needs {tool} (Debian package jackd2)")
    name = f"mediastream-soak-{os.getpid()}-{time.monotonic_ns()}"
    env = _env(name)
    server = subprocess.Popen(
        ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", str(RATE), "-p", str(PERIOD)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metro = live = None
    try:
        _wait(lambda: "system:playback_1" in _ports(env), 10, "jackd start")
        metro = subprocess.Popen(
            ["jack_metro", "-b", "600", "-f", "880", "-A", "0.9", "-D", "20", "-n", "metro"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: any(p.startswith("metro:") for p in _ports(env)), 10, "jack_metro")
        click = next(p for p in _ports(env) if p.startswith("metro:"))
        live = subprocess.Popen(
            [str(BIN), "live", "--duration", f"{seconds:g}", "--print-every", "1",
             "--no-progress"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        ins: list[str] = []

        def inputs_up() -> bool:
            nonlocal ins
            ins = [p for p in _ports(env) if p.startswith("PortAudio") and ":in_" in p]
            return len(ins) >= 2 or live.poll() is not None  # type: ignore[union-attr]

        _wait(inputs_up, 60, "the live command's ports")
        for port in ins:
            subprocess.run(["jack_connect", click, port], env=env, check=True)
        statuses: list[tuple[float, ...]] = []
        rss_start = rss_end = float("nan")
        peak_in_db = reduction_db = -200.0
        assert live.stdout is not None
        for line in live.stdout:
            meter = METER.match(line)
            if meter and meter.group(1) == "compressor":  # proves the clicks get through
                peak_in_db = max([peak_in_db, *map(float, meter.group(2).split())])
                reduction_db = max([reduction_db, *map(float, meter.group(3).split())])
            m = STATUS.match(line)
            if not m:
                continue
            statuses.append(tuple(float(g) for g in m.groups()))
            if len(statuses) == 1:  # the first line with a measured round trip
                rss_start = _rss_mb(live.pid)
            elif live.poll() is None:
                rss_end = _rss_mb(live.pid)
        err = live.stderr.read() if live.stderr else ""
        if live.wait() != 0 or len(statuses) < 2:
            raise RuntimeError(f"live_soak: mediastream live failed ({live.returncode}): {err}")
    finally:
        for proc in (live, metro):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # Start-up: the first 2 s (the limiter's lookahead leaves the output one short
    # block behind once, and the first round trip is being measured).
    first = next((s for s in statuses if s[0] >= 2.0), statuses[0])
    last = statuses[-1]
    return {
        "soak_s": last[0],
        "overruns_after_startup": last[3] - first[3],
        "input_overflows_after_startup": last[4] - first[4],
        "underruns_after_startup": last[5] - first[5],
        "underrun_frames_after_startup": last[6] - first[6],
        "underruns_startup": first[5],
        "overruns_startup": first[3],
        "input_overflows_startup": first[4],
        "round_trip_last_ms": last[1],
        "round_trip_max_ms": last[2],
        "compressor_input_peak_max_dbfs": peak_in_db,
        "compressor_reduction_max_db": reduction_db,
        "rss_first_status_mb": rss_start,
        "rss_last_status_mb": rss_end,
    }


@register(
    "live_soak",
    "mediastream live (compressor -> limiter) on a JACK dummy device for --seconds "
    "(default 600), fed clicks: xruns after start-up (target 0), round trip, RSS",
)
def prepare(options: Options) -> Prepared:
    seconds = options.seconds or (QUICK_SECONDS if options.quick else DEFAULT_SECONDS)

    def checks(medians: Mapping[str, float]) -> dict[str, bool]:
        return {
            "no overruns after start-up": medians["overruns_after_startup"] == 0,
            "no underruns after start-up": medians["underruns_after_startup"] == 0,
            "no input overflows after start-up": medians["input_overflows_after_startup"] == 0,
        }

    return Prepared(
        run=lambda: soak(seconds),
        params={
            "seconds": seconds,
            "sample_rate": RATE,
            "channels": 2,
            "blocksize": PERIOD,
            "jack_period": PERIOD,
            "input": "jack_metro clicks, 600 bpm, 880 Hz, amplitude 0.9, 20 ms",
        },
        checks=checks,
    )
