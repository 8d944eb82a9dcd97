"""`mediastream align` and the align graph on generated video pairs (written with PyAV)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from mediastream.align import AlignSummary, align_setup, build_align_graph
from tests.operators.video.pairs import PairSpec, generate, write_pair

BIN = Path(sys.executable).with_name("mediastream")

CASES = {
    "crop 0.8 grade noise, 24 fps": PairSpec(),
    "24->30 drops dups cut": PairSpec(fg_fps=30, fg_frames=80, drops=(20, 21), dups=(40, 55),
                                      noise=4.0),
    "60->50 scale 0.5 start 70": PairSpec(bg_fps=60, bg_frames=300, fg_fps=50, fg_frames=150,
                                          start=70, cut_at=180, scale=0.5,
                                          crop=(20, 30, 240, 136)),
    "scale 1.0 late start": PairSpec(bg_frames=200, start=120, scale=1.0, crop=(64, 36, 192, 108),
                                     cut_at=150, gamma=1.2),
}  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, env=env, timeout=300
    )


def _pairs(path: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [e["payload"] for e in lines if e["kind"] == "align_pair"]


@pytest.mark.parametrize("name", list(CASES))
def test_cli_aligns_generated_pairs_within_the_error_budget(tmp_path: Path, name: str) -> None:
    spec = CASES[name]
    fg, bg, gt = write_pair(tmp_path, spec)
    out = tmp_path / "pairs.jsonl"
    res = run("align", str(fg), str(bg), "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    pairs = _pairs(out)
    assert [p["fg_index"] for p in pairs] == list(range(len(gt)))
    err = np.abs(np.array([p["bg_index"] for p in pairs]) - gt)
    assert err.mean() <= 0.5 and err.max() <= 2, err
    # The summary: frames, where the fg sits, the scale, cost, speed.
    assert f"frames aligned: {len(gt)} (0 forced" in res.stdout
    x, y, w, _ = spec.crop
    line = next(s for s in res.stdout.splitlines() if s.startswith("fg sits at"))
    fx, fy = (float(t.split("=")[1]) for t in line.split()[3:5])
    assert abs(fx - x) <= 2 and abs(fy - y) <= 2
    scale = float(line.split("scale ")[1].split(",")[0])
    assert scale == pytest.approx(spec.fg_size[0] / w, rel=0.03)
    assert "mean cost" in res.stdout and "x real time" in res.stdout


def test_fg_starting_beyond_the_join_skew_does_not_stall(tmp_path: Path) -> None:
    # The fg starts 11 s into the bg: more than Graph's default max_skew_s (10 s).
    spec = PairSpec(bg_size=(192, 108), bg_fps=24, bg_frames=13 * 24, start=11 * 24,
                    fg_frames=36, crop=(40, 20, 120, 68), scale=1.0, cut_at=None)  # fmt: skip
    fg, bg, gt = write_pair(tmp_path, spec)
    setup = align_setup(fg, bg)
    graph = build_align_graph(
        setup, pairs_path=tmp_path / "p.jsonl", composite_path=tmp_path / "c.mp4"
    )
    assert graph.max_skew is not None and graph.max_skew < 11
    graph.run_sync()
    pairs = _pairs(tmp_path / "p.jsonl")
    assert [p["bg_index"] for p in pairs] == gt.tolist()
    # The composite is written in the same run, whatever the fg's start offset.
    with av.open(str(tmp_path / "c.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(gt)


def test_fg_starting_past_max_pending_stops_with_the_time(tmp_path: Path) -> None:
    # The fg starts 3 s into the bg; --max-pending-s 1 (plus --max-lag 10 frames).
    spec = PairSpec(bg_size=(192, 108), bg_fps=24, bg_frames=5 * 24, start=3 * 24,
                    fg_frames=36, crop=(40, 20, 120, 68), scale=1.0, cut_at=None)  # fmt: skip
    fg, bg, _ = write_pair(tmp_path, spec)
    comp = tmp_path / "c.mp4"
    res = run("align", str(fg), str(bg), "--composite", str(comp), "--max-pending-s", "1",
              "--max-lag", "10", "--no-progress")  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "node 'align' failed at t=1.4" in res.stderr, res.stderr
    assert "max_pending_s=1 s plus max_lag=10" in res.stderr
    assert not comp.exists()  # nothing was paired: no file


def test_composite_overlays_fg_on_bg_in_fg_timing(tmp_path: Path) -> None:
    spec = PairSpec(fg_fps=30, fg_frames=45, bg_frames=100, cut_at=None, noise=0.0, gamma=1.0,
                    gain=(1.0, 1.0, 1.0), offset=0.0)  # fmt: skip
    fg, bg, gt = write_pair(tmp_path, spec)
    comp = tmp_path / "comp.mp4"
    res = run("align", str(fg), str(bg), "--composite", str(comp), "--quiet")
    assert res.returncode == 0, res.stderr
    fg_imgs, bg_imgs, _ = generate(spec)
    with av.open(str(comp)) as c:
        stream = c.streams.video[0]
        assert (stream.width, stream.height) == spec.bg_size
        assert stream.average_rate == 30
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
    assert len(frames) == len(gt)
    x, y, w, h = spec.crop
    for k in (0, 20, 44):
        img = frames[k].astype(np.float32)
        outside = np.abs(img[:y] - bg_imgs[gt[k]][:y]).mean()
        inside = np.abs(
            img[y + 2 : y + h - 2, x + 2 : x + w - 2]
            - cv2.resize(fg_imgs[k], (w, h)).astype(np.float32)[2:-2, 2:-2]
        ).mean()
        assert outside < 6 and inside < 12, (k, outside, inside)


def test_summary_counts_and_bad_input(tmp_path: Path) -> None:
    spec = PairSpec(bg_frames=80, fg_frames=24, cut_at=None)
    fg, bg, gt = write_pair(tmp_path, spec)
    setup = align_setup(fg, bg)
    summary = AlignSummary(setup)
    graph = build_align_graph(setup)
    import anyio

    async def collect() -> None:
        async with graph.events("align") as events:
            async for e in events:
                summary.add(e)

    anyio.run(collect)
    assert summary.frames_aligned == len(gt) and summary.first_bg == gt[0]
    assert summary.mean_cost < 0.1 and "frames aligned: 24" in summary.describe()
    wav = tmp_path / "a.wav"
    from mediastream.synth import write_media

    write_media(wav, 0.5, video=False)
    res = run("align", str(wav), str(bg))
    assert res.returncode == 2 and "no video stream" in res.stderr
    res = run("align", str(fg), str(bg), "--work-width", "8")
    assert res.returncode == 2 and "work_width" in res.stderr


def test_summary_is_in_full_resolution_pixels_when_decoding_shrinks(tmp_path: Path) -> None:
    # bg 640x360 decoded at 320x180 (factor 0.5): offset and scale are reported in
    # the files' own pixels.
    spec = PairSpec(bg_size=(640, 360), bg_frames=72, fg_frames=30, start=20, cut_at=None,
                    crop=(100, 60, 400, 224), scale=0.6)  # fmt: skip
    fg, bg, gt = write_pair(tmp_path, spec)
    setup = align_setup(fg, bg)
    assert setup.factor == 0.5 and setup.work_bg == (320, 180)
    summary = AlignSummary(setup)
    graph = build_align_graph(setup)
    import anyio

    async def collect() -> None:
        async with graph.events("align") as events:
            async for e in events:
                summary.add(e)

    anyio.run(collect)
    assert summary.offset is not None and summary.scale is not None
    assert abs(summary.offset[0] - 100) <= 4 and abs(summary.offset[1] - 60) <= 4
    assert summary.scale == pytest.approx(spec.fg_size[0] / 400, rel=0.03)
    assert summary.frames_aligned == len(gt) and summary.first_bg == gt[0]


def test_unrelated_videos_fail_with_a_clear_message(tmp_path: Path) -> None:
    from tests.operators.video.pairs import write_video

    fg_img, _, _ = generate(PairSpec(seed=5, fg_frames=30, bg_frames=60, cut_at=None))
    _, bg_img, _ = generate(PairSpec(seed=9, fg_frames=30, bg_frames=60, cut_at=None))
    fg = write_video(tmp_path / "fg.mp4", fg_img, 24)
    bg = write_video(tmp_path / "bg.mp4", bg_img, 24)
    res = run("align", str(fg), str(bg), "--no-progress", "--out", str(tmp_path / "p.jsonl"))
    assert res.returncode == 1
    assert "not found in the background" in res.stderr
    assert "registration: not found" in res.stdout
    assert _pairs(tmp_path / "p.jsonl") == []


def test_fit_s_sets_the_final_fit_and_is_checked(tmp_path: Path) -> None:
    spec = PairSpec(bg_frames=160, fg_frames=100, cut_at=None)
    fg, bg, gt = write_pair(tmp_path, spec)
    setup = align_setup(fg, bg)
    for fit_s in (4.0, 0.0):
        graph = build_align_graph(setup, pairs_path=tmp_path / f"p{fit_s}.jsonl", fit_s=fit_s)
        assert graph.node("align").fit_s == fit_s
    out = tmp_path / "pairs.jsonl"
    res = run("align", str(fg), str(bg), "--out", str(out), "--fit-s", "0", "--no-progress")
    assert res.returncode == 0, res.stderr
    err = np.abs(np.array([p["bg_index"] for p in _pairs(out)]) - gt)
    assert len(err) == len(gt) and err.mean() <= 0.5 and err.max() <= 2, err
    res = run("align", str(fg), str(bg), "--fit-s", "61")
    assert res.returncode == 2 and "fit_s" in res.stderr, res.stderr
