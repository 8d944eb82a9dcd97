"""Smoke tests of the long-run memory benchmark (bench/long_rss.py): tiny inputs for
the cheapest pipeline (dynamics) and for the alignment one, whose inputs are an
encoded clip repeated by stream copy (checked here to decode as the clip over and
over)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "run.py"
if str(ROOT / "bench") not in sys.path:  # bench/ modules import each other by name
    sys.path.insert(0, str(ROOT / "bench"))

import long_rss  # noqa: E402


def _bench(tmp_path: Path, name: str, seconds: int) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, str(RUN), name, "--seconds", str(seconds), "--repeats", "1",
         "--warmup", "0", "--backends", "asyncio", "--out-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads((tmp_path / f"{name}.json").read_text())
    return result


def _medians(result: dict[str, object]) -> dict[str, float]:
    metrics = result["metrics"]
    assert isinstance(metrics, dict)
    return {k: v["median"] for k, v in metrics.items()}


def test_long_rss_dynamics_quick(tmp_path: Path) -> None:
    result = _bench(tmp_path, "long_rss_dynamics", 24)
    m = _medians(result)
    assert result["params"]["long_s"] == 24 and result["params"]["short_s"] == 2  # type: ignore[index]
    assert m["short_items"] == 2 * 8000 and m["long_items"] == 24 * 8000
    assert m["short_peak_rss_mb"] > m["short_baseline_rss_mb"] > 0
    assert m["ratio_long_short"] == m["long_peak_rss_mb"] / m["short_peak_rss_mb"]
    assert set(result["checks"]) == {"peak RSS long <= 1.1 x short"}  # type: ignore[arg-type]


def test_long_rss_align_quick(tmp_path: Path) -> None:
    """36 s against 3 s: the clip is the whole 36 s (shorter than CLIP_S), both inputs
    cut from it; every fg frame gets its pair line."""
    result = _bench(tmp_path, "long_rss_align", 36)
    m = _medians(result)
    params = result["params"]
    assert isinstance(params, dict)
    assert params["clip_frames"] == 36 * 24
    assert params["fg_frames"] == {"short": 3 * 24 - 60, "long": 36 * 24 - 60}
    assert m["short_items"] == 3 * 24 - 60 + 1 and m["long_items"] == 36 * 24 - 60 + 1
    assert m["short_peak_rss_mb"] > m["short_baseline_rss_mb"] > 0
    assert result["checks"] == {
        "peak RSS long <= 1.1 x short": m["ratio_long_short"] <= 1.1,
        "every long fg frame paired": True,
    }


def _decoded(path: Path) -> list[tuple[int | None, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format="yuv420p")) for f in c.decode(c.streams.video[0])]


def test_repeated_clip_decodes_as_the_clip_over_and_over(tmp_path: Path) -> None:
    """2.5 repetitions (the last cut short): every frame decodes, pixel for pixel the
    clip's frame ``n % clip``, and timestamps continue evenly (MP4; Matroska: the same
    pictures, timestamps increasing); the repeated fg shows bg
    frame ``k + START`` in fg frame ``k`` all along, across the repetitions' joins (the
    aligner pairs them so)."""
    clip = 72
    fg_clip, bg_clip = long_rss.encode_clip(tmp_path, clip)
    fg, bg = tmp_path / "fg.mp4", tmp_path / "bg.mp4"
    for src, out, frames in ((bg_clip, bg, 180), (fg_clip, fg, 180 - 2 * long_rss.START)):
        long_rss.repeat_clip(src, out, frames)
        ref, got = _decoded(src), _decoded(out)
        step = ref[1][0] - ref[0][0]  # type: ignore[operator]
        assert len(ref) == clip and len(got) == frames
        assert [p for p, _ in got] == [n * step for n in range(frames)]
        for n, (_, image) in enumerate(got):
            assert np.array_equal(image, ref[n % clip][1]), n
        assert long_rss.count_frames(out) == (frames, (frames - 1) * step)
        assert long_rss.count_frames(out, decode=True) == (frames, (frames - 1) * step)
    # The same packets in Matroska (millisecond timestamps): the same pictures.
    long_rss.repeat_clip(bg_clip, tmp_path / "bg.mkv", 100)
    got = _decoded(tmp_path / "bg.mkv")
    ref = _decoded(bg_clip)
    pts = [p for p, _ in got]
    assert len(got) == 100 and pts == sorted(set(pts))  # type: ignore[type-var]
    assert all(np.array_equal(image, ref[n % clip][1]) for n, (_, image) in enumerate(got))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.peak_rss", "align", str(fg), str(bg),
         str(tmp_path / "pairs.jsonl")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    pairs = [(e["payload"]["fg_index"], e["payload"]["bg_index"]) for e in lines
             if e["kind"] == "align_pair"]  # fmt: skip
    assert pairs == [(k, k + long_rss.START) for k in range(180 - 2 * long_rss.START)]


def test_repeat_clip_refuses_a_clip_with_b_frames(tmp_path: Path) -> None:
    """Packets out of display order (B-frames) cannot be repeated by shifting them."""
    path = tmp_path / "b.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.options = {"preset": "veryfast", "bf": "2", "x264-params": "b-adapt=0"}
        for k in range(24):
            image = np.zeros((48, 64, 3), np.uint8)
            image[:, k : k + 16] = 200  # a bar moving right
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(ValueError, match="needs pts == dts"):
        long_rss.repeat_clip(path, tmp_path / "out.mp4", 48)
