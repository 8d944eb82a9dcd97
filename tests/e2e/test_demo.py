"""`mediastream demo` end to end on its embedded default input (issue 6).

One run of the real demo: inputs generated from pyannote.audio's sample speech and the
moving synthetic video, the example graph file, real models, every output checked.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from mediastream.demo import ensure_demo_inputs
from mediastream.plot import DEFAULT_HEIGHT_PX, DEFAULT_WIDTH_PX

BIN = Path(sys.executable).with_name("mediastream")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (and a check that it is a PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo") / "out"
    res = subprocess.run(
        [str(BIN), "demo", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return out, res


def test_demo_writes_every_output(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, res = demo
    for name in ("demo-input.mp4", "demo-target.mp4", "demo-reference.rttm", "processed.wav",
                 "speakers.rttm", "pairs.jsonl", "events.jsonl", "composite.mp4",
                 "timeline.png", "alignment.png", "dynamics.png"):  # fmt: skip
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        assert str(path) in res.stdout or name.startswith("demo-"), name
    assert "x real time" in res.stdout and "speakers:" in res.stdout


def test_demo_audio_is_processed_whole(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = demo
    with av.open(os.fspath(out / "processed.wav")) as c:
        s = c.streams.audio[0]
        assert s.sample_rate == 48000 and s.codec_context.channels == 2
        frames = list(c.decode(s))
        audio = np.concatenate([f.to_ndarray() for f in frames], axis=1)  # s16, interleaved
    n = sum(f.samples for f in frames)
    assert abs(n - 30 * 48000) <= 1024  # pyannote's sample is 30 s
    peak_db = 20 * np.log10(np.abs(audio).max() / 32768)
    assert -3.3 <= peak_db <= -2.9  # the limiter's ceiling (-3 dBFS), reached
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    stages = {e["payload"]["stage"] for e in events if e["kind"] == "dynamics"}
    assert stages == {"gate", "compressor", "limiter"}
    reduction = [max(e["payload"]["gain_reduction_db"]) for e in events
                 if e["kind"] == "dynamics" and e["payload"]["stage"] == "compressor"]  # fmt: skip
    assert max(reduction) > 6
    ends = [e["end_s"] for e in events]
    assert ends == sorted(ends), "the events join keeps time order"


def test_demo_diarization_matches_the_reference(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    out, res = demo

    def read(path: Path) -> Annotation:
        ann = Annotation()
        for line in path.read_text().splitlines():
            f = line.split()
            ann[Segment(float(f[3]), float(f[3]) + float(f[4]))] = f[7]
        return ann

    ref, hyp = read(out / "demo-reference.rttm"), read(out / "speakers.rttm")
    uem = Timeline([Segment(0, 30)])
    der = DiarizationErrorRate(collar=0.5)(ref, hyp, uem=uem)
    assert der < 0.12, der
    assert len(hyp.labels()) == len(ref.labels()) == 2  # the sample's two speakers (issue 20)
    assert "diarization error rate vs the reference" in res.stdout


def test_demo_alignment_finds_the_crop_and_the_timing(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, res = demo
    events = [json.loads(x) for x in (out / "pairs.jsonl").read_text().splitlines()]
    reg = next(e["payload"] for e in events if e["kind"] == "align_registration")
    assert abs(reg["x"] - 64) <= 1 and abs(reg["y"] - 36) <= 1
    assert reg["scale"] == pytest.approx(0.75, abs=0.01)
    pairs = [e["payload"] for e in events if e["kind"] == "align_pair"]
    assert [p["fg_index"] for p in pairs] == list(range(660))  # 22 s at 30 fps
    truth = np.round((4.0 + np.arange(660) / 30) * 25).astype(int)
    err = np.abs(np.array([p["bg_index"] for p in pairs]) - truth)
    assert err.max() <= 1 and err.mean() < 0.1
    assert "the target's first frame is the input's at 4.00 s" in res.stdout
    with av.open(os.fspath(out / "composite.mp4")) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (320, 180)
        assert sum(1 for _ in c.decode(s)) == 660


def test_demo_pictures_have_the_documented_size(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo
    for name in ("timeline.png", "alignment.png", "dynamics.png"):
        assert png_size(out / name) == (DEFAULT_WIDTH_PX, DEFAULT_HEIGHT_PX), name


def test_demo_reuses_its_generated_inputs(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo
    before = {p: p.stat().st_mtime_ns for p in out.glob("demo-*")}
    inputs = ensure_demo_inputs(out)
    assert inputs.media == out / "demo-input.mp4"
    assert {p: p.stat().st_mtime_ns for p in out.glob("demo-*")} == before


def test_a_damaged_demo_input_is_made_again(
    demo: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    import shutil

    out, _ = demo
    for p in out.glob("demo-*"):
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "demo-input.mp4").write_bytes(os.urandom(5000))  # stamp still matches
    inputs = ensure_demo_inputs(tmp_path)
    with av.open(os.fspath(inputs.media)) as c:
        assert c.streams.video[0].frames == 750 and len(c.streams.audio) == 1
