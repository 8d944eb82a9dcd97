"""``live_diarize_soak``: ``mediastream diarize --input-device`` fed a real conversation
in real time on a JACK dummy device, counting lost input and timing the decisions.

A soak, not a speed comparison: one repetition starts a JACK server with the dummy
driver (paced in real time like a sound card, tests/live_support.py), starts
``mediastream diarize --input-device --duration S`` (segmentation-3.0 + CAM++, the
device at 48 kHz mono, 1024-frame blocks, resampled to 16 kHz) as its own process,
and plays pyannote's ``sample.wav`` (30 s, two real voices), resampled to 48 kHz and
repeated back to back, into its input. Metrics, from the command's own summary:
``overruns`` (input blocks the graph was too late for: replaced by silence; target 0),
``input_overflows`` (PortAudio's flags: JACK cycles missed, by anyone),
``turn_latency_median_s`` / ``_p95_s`` / ``_max_s`` (from the capture of a turn's last
frame to the moment the command printed the decided turn), ``turns``, ``speakers``,
``cpu_share`` (CPU seconds of the command / seconds of audio: 1.0 is one core),
``rss_start_mb`` / ``rss_warm_mb`` / ``rss_end_mb`` (sampled from ``/proc`` 5 s into
the input, 120 s into it (or half-way, for inputs under 4 minutes) and at its end: the
first minutes are warm-up, model sessions and buffers reaching their steady sizes, so
growth is judged from the warm sample on).

    .venv/bin/python bench/run.py live_diarize_soak --seconds 600 --repeats 1 --warmup 0

(``--seconds``: the input's length, default 600; ``--quick``: 40 s.)
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from harness import Options, Prepared, register

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.* (the JACK rig) when run as bench/run.py
    sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).with_name("mediastream")
DEFAULT_SECONDS = 600.0
QUICK_SECONDS = 40.0
SUMMARY = re.compile(
    r"live: (\d+) overruns \((\d+) frames replaced by silence\), (\d+) input overflows"
    r"(?:; a turn was decided ([\d.]+) s \(median; p95 ([\d.]+) s, max ([\d.]+) s\))?"
)
TOTALS = re.compile(r"(\d+) turns, (\d+) speakers")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _conversation(seconds: float) -> np.ndarray:
    """sample.wav at 48 kHz, repeated to ``seconds``, as (frames, 1) float32."""
    from tests.live_support import RATE, speech_at_device_rate

    one = speech_at_device_rate()
    reps = int(np.ceil(seconds * RATE / one.shape[0]))
    return np.tile(one, reps)[: int(seconds * RATE), None].astype(np.float32)


def soak(seconds: float) -> dict[str, float]:
    from tests.live_support import Rig, jack_env, jack_server, new_input_ports

    speech = _conversation(seconds)
    with jack_server() as jack:
        rig = Rig(jack, 1, record_s=1.0)
        before = {p for p in jack.ports() if p.startswith("PortAudio")}
        proc = subprocess.Popen(
            [str(BIN), "diarize", "--input-device", "--duration", f"{seconds + 8:g}",
             "--no-progress"],
            env={**os.environ, **jack_env(jack.name), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            ins = new_input_ports(jack, before, proc, timeout=180.0)
            if len(ins) != 1:
                raise RuntimeError(f"diarize opened no input port ({ins}, exit {proc.poll()})")
            jack.connect(rig.outputs[0], ins[0])
            rig.play(speech)
            time.sleep(5.0)
            rss_start = _rss_mb(proc.pid)
            warm_at = time.monotonic() + min(120.0, seconds / 2) - 5.0
            rss_warm = float("nan")
            while not rig.done_playing() and proc.poll() is None:
                time.sleep(0.5)
                if math.isnan(rss_warm) and time.monotonic() >= warm_at:
                    rss_warm = _rss_mb(proc.pid)
            rss_end = _rss_mb(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out = proc.stdout.read() if proc.stdout else ""
            err = proc.stderr.read() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
            rig.close()
    if proc.returncode != 0:
        raise RuntimeError(f"diarize failed ({proc.returncode}):\n{err[-3000:]}")
    m = SUMMARY.search(out)
    t = TOTALS.search(out)
    if m is None or t is None:
        raise RuntimeError(f"no live summary in the output:\n{out[-3000:]}")
    nan = float("nan")
    return {
        "overruns": float(m.group(1)),
        "dropped_frames": float(m.group(2)),
        "input_overflows": float(m.group(3)),
        "turn_latency_median_s": float(m.group(4)) if m.group(4) else nan,
        "turn_latency_p95_s": float(m.group(5)) if m.group(5) else nan,
        "turn_latency_max_s": float(m.group(6)) if m.group(6) else nan,
        "turns": float(t.group(1)),
        "speakers": float(t.group(2)),
        "cpu_share": (usage.ru_utime + usage.ru_stime) / (seconds + 8),
        "rss_start_mb": rss_start,
        "rss_warm_mb": rss_warm,
        "rss_end_mb": rss_end,
    }


@register(
    "live_diarize_soak",
    "mediastream diarize --input-device on a JACK dummy device, a real conversation in real "
    "time: lost input, turn latency, CPU",
)
def prepare(options: Options) -> Prepared:
    seconds = options.seconds or (QUICK_SECONDS if options.quick else DEFAULT_SECONDS)

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        return {
            "no overruns (no captured audio dropped)": m["overruns"] == 0,
            "turns decided": m["turns"] > 0,
            "RSS after warm-up grows <= 10 %": m["rss_end_mb"] <= 1.1 * m["rss_warm_mb"],
        }

    params = {
        "seconds": seconds,
        "input": "pyannote sample.wav (2 voices) at 48 kHz mono, repeated",
        "command": f"mediastream diarize --input-device --duration {seconds + 8:g} --no-progress",
    }
    return Prepared(run=lambda: soak(seconds), params=params, checks=checks)
