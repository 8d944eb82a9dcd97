"""Graph files and inputs for the batch tests (tests/mediastream/test_batch*.py)."""

from __future__ import annotations

import wave
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# file -> compressor (with meter events) -> bit-exact float WAV + JSON Lines of meters:
# the example graph file, as users find it.
DYNAMICS = (EXAMPLES / "dynamics.toml").read_text()

# file (16 kHz mono) -> diarizer (segmentation-3.0 + CAM++) -> RTTM + JSON Lines.
DIARIZE = """\
[params]
input = "talk.wav"

[nodes.media]
type = "file"
path = "${input}"
audio = { sample_rate = 16000, channels = 1, chunk_frames = 32768 }
video = false

[nodes.diarize]
type = "diarizer"
input = "media.audio"
model = "campplus"
threads = 1
%s
[nodes.rttm]
type = "rttm"
input = "diarize"
path = "speakers.rttm"

[nodes.turns]
type = "jsonl"
input = "diarize"
path = "turns.jsonl"
"""


def write_graph(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def diarize_graph(folder: Path, enrol: Mapping[str, Path] | None = None) -> Path:
    extra = ""
    if enrol:
        extra = "enrol = { " + ", ".join(f'{k} = "{v}"' for k, v in enrol.items()) + " }\n"
    return write_graph(folder, "diarize.toml", DIARIZE % extra)


def write_wav(path: Path, x: np.ndarray, rate: int = 16000) -> Path:
    """Mono float samples as a 16-bit WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def run_locally(
    graph: Path,
    inputs: Sequence[Path],
    out: Path,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """The reference: each input's graph built by load_graph and run in this process."""
    from mediastream import load_graph

    folders = {}
    for path in inputs:
        folder = out / path.stem
        gf = load_graph(graph, params={"input": str(path)}, out_dir=folder, overrides=overrides)
        gf.graph.run_sync()
        folders[path.stem] = folder
    return folders


def same_files(a: Path, b: Path) -> list[str]:
    """Relative paths of every file under ``a``, after checking ``b`` holds exactly the
    same files with the same bytes (the batch's own ``.mediastream-batch`` mark aside)."""

    def files(root: Path) -> list[str]:
        return sorted(
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and p.name != ".mediastream-batch"
        )

    names, other = files(a), files(b)
    assert names == other, (names, other)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    return names
