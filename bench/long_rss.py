"""Long runs (issue 7): peak resident memory of whole pipelines, long input vs short.

One benchmark per pipeline, ``long_rss_<pipeline>``. Setup (untimed) generates two
inputs, ``--seconds`` long (default 7200: 2 h) and 1/12 of that (10 min for 2 h), into
a temporary directory (removed at exit); one repetition runs the pipeline on each in a
fresh process (``python -m tests.reliability.peak_rss``, short first) and reads its
peak RSS (VmHWM). Pipelines and inputs:

* ``diarize_vad`` / ``diarize_seg``: ``mediastream diarize`` (FileSource at 16 kHz
  mono -> OnlineDiarizer -> RTTM sink, CAM++ embeddings, torch on one thread), light
  mode (silero-vad) and segmentation mode (segmentation-3.0); input: pyannote's
  ``sample.wav`` (30 s, two speakers) tiled to the length, 16-bit WAV.
* ``align``: ``mediastream align`` into a JSON Lines file; input: a pair made of the
  alignment tests' generated content (``tests/operators/video/pairs.py``: 320x180
  24 fps background with moving content; fg cropped from it, rescaled, colour graded
  and noised; H.264). Encoding 2 h of it frame by frame (niced on a busy machine) ran
  85 min without finishing, so only a clip of :data:`CLIP_S` (2 min, or the long
  input's length if that is shorter) is encoded, once per invocation
  (:func:`encode_clip`), and both inputs, short and long, are that clip's packets
  repeated with continued timestamps (:func:`repeat_clip`: stream copy, no
  re-encoding; the clip has no B-frames and starts on an IDR frame, so every
  repetition decodes on its own). The fg clip is the bg clip shifted by :data:`START`
  frames (cyclically), so in the repeated files fg frame ``k`` shows bg frame
  ``k + START`` all along; the fg ends ``2 * START`` frames before the bg. The bg
  jumps back to its first frame at every repetition (a hard cut every 2 min, the
  fg's at the matching place), and bg frames ``j`` and ``j + clip frames`` are
  identical, so which repetition a fg frame is paired with is ambiguous. That does
  not matter to a memory measurement (the aligner's lag window, 90 frames by
  default, is far shorter than the clip).
* ``align_mkv``: the same, both inputs in Matroska instead of MP4 (the same packets).
  FFmpeg's MP4 demuxer reads the whole per-frame sample index when it opens a file
  and holds it (2026-11-24, this machine: opening both files of the 2 h MP4 pair and
  decoding a frame adds 26 960 KiB of RSS, the 10 min pair 2 416 KiB, i.e. ~73 bytes
  per frame over both files); Matroska's demuxer holds a keyframe index only (1 884
  and 1 892 KiB). ``align`` is what an MP4 user gets; ``align_mkv`` isolates the
  pipeline's own memory from the container's index.
* ``dynamics``: FileSource -> dynamics chain -> FLAC; input: ``mediastream.synth``
  speech-like audio, 8 kHz mono WAV.

Metrics: ``short_peak_rss_mb``, ``long_peak_rss_mb``, ``ratio_long_short`` (target
<= 1.10), ``grown_mb`` (long - short), ``*_wall_s`` (the pipeline run, model loading
included, not the interpreter start), ``*_items`` (output lines / frames, proof that
the run went through; for ``align*`` one line per fg frame plus the registration,
checked) and ``long_x_realtime``; ``params.generate_s`` is the wall time spent writing
the inputs. Memory is not timing-sensitive; run it niced beside other work:
``nice -n 19 python bench/run.py long_rss_diarize_vad --repeats 1 --warmup 0``.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from harness import Options, Prepared, register

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.* (the input writers) when run as bench/run.py
    sys.path.insert(0, str(ROOT))
DEFAULT_SECONDS = 7200.0
QUICK_SECONDS = 24.0
ALIGN_QUICK_SECONDS = 48.0  # the short alignment input must hold more than 2 * START frames
SHORT_FRACTION = 12  # the short input is 1/12 of the long one: 10 min for 2 h
TARGET_RATIO = 1.10
FPS = 24  # the generated video pair's frame rate
CLIP_S = 120.0  # the alignment inputs repeat an encoded clip this long, seconds
START = 30  # bg frame shown by fg frame 0, frames
CONTAINERS = {"align": "mp4", "align_mkv": "mkv"}  # the alignment inputs' file type


def _peak_rss(args: list[str]) -> dict[str, float]:
    res = subprocess.run(
        [sys.executable, "-m", "tests.reliability.peak_rss", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"peak_rss {' '.join(args)} failed:\n{res.stderr[-4000:]}")
    result: dict[str, float] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def encode_clip(directory: Path, frames: int) -> tuple[Path, Path]:
    """Encode ``fg_clip.mp4`` and ``bg_clip.mp4`` into ``directory``: H.264, 24 fps,
    ``frames`` frames each; returns their paths (fg, bg).

    bg frame ``j`` is ``Scene(spec).frame(j)`` of ``tests.operators.video.pairs`` (no
    cut); fg frame ``i`` is ``fg_image`` of bg frame ``(i + START) % frames`` (the
    alignment tests' crop, scale, grade and noise, crf 12 as their files). Each scene
    frame is rendered once (the first ``START`` are kept for the fg's last frames).
    No B-frames, so :func:`repeat_clip` can copy the packets.
    """
    import av
    import numpy as np
    import numpy.typing as npt

    from tests.operators.video.pairs import PairSpec, Scene, fg_image

    if frames <= START:
        raise ValueError(f"encode_clip: {frames} frames; the clip needs more than {START}")
    spec = PairSpec(bg_frames=frames, fg_frames=frames, start=START, cut_at=None)
    scene = Scene(spec)
    rng = np.random.default_rng(spec.seed + 1)
    paths = (directory / "fg_clip.mp4", directory / "bg_clip.mp4")
    with av.open(str(paths[0]), "w") as fg, av.open(str(paths[1]), "w") as bg:
        containers = (fg, bg)
        streams = []
        for container, (w, h) in zip(containers, (spec.fg_size, spec.bg_size), strict=True):
            s = container.add_stream("libx264", rate=FPS)
            s.width, s.height = w, h
            s.pix_fmt = "yuv420p"
            s.codec_context.options = {"preset": "ultrafast", "crf": "12", "bf": "0"}
            streams.append(s)

        def put(k: int, image: npt.NDArray[np.uint8]) -> None:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in streams[k].encode(frame):
                containers[k].mux(packet)

        head = []
        for j in range(frames):
            image = scene.frame(j)
            put(1, image)
            if j < START:
                head.append(image)
            else:
                put(0, fg_image(spec, image, rng))
        for image in head:
            put(0, fg_image(spec, image, rng))
        for k, container in enumerate(containers):
            for packet in streams[k].encode():
                container.mux(packet)
    return paths


def repeat_clip(clip: Path, out: Path, frames: int) -> None:
    """Write ``out``: ``frames`` frames, the frames of ``clip`` over and over (the last
    repetition cut short where ``frames`` ends); the container follows ``out``'s
    extension (``.mp4``, ``.mkv``...).

    Stream copy: the clip's packets are read once, held in memory, and muxed again
    with timestamps continued (output frame ``n`` at ``n`` frame durations, in the
    clip's time base; the muxer rescales them to its own, milliseconds for Matroska);
    nothing is decoded or encoded. Raises ``ValueError`` unless the clip allows it: its first
    packet a keyframe, one packet per frame, ``pts == dts == index * duration`` (no
    B-frames: decode order is display order, so a repetition needs nothing of the one
    before, and cutting the last one short leaves no frame without its references).
    """
    import av

    with av.open(str(clip)) as src:
        ins = src.streams.video[0]
        packets = [p for p in src.demux(ins) if p.size]
        if not packets or not packets[0].is_keyframe:
            raise ValueError(f"repeat_clip: {clip} does not start with a keyframe")
        step, time_base = packets[0].duration, ins.time_base
        if not step or time_base is None:
            raise ValueError(f"repeat_clip: {clip} has no frame duration or time base")
        for i, p in enumerate(packets):
            if p.pts != i * step or p.dts != p.pts or p.duration != step:
                raise ValueError(
                    f"repeat_clip: {clip} packet {i} has pts={p.pts} dts={p.dts} "
                    f"duration={p.duration}; needs pts == dts == {i} * {step}"
                )
        payloads = [(bytes(p), p.is_keyframe) for p in packets]
        with av.open(str(out), "w") as dst:
            outs = dst.add_stream_from_template(ins)
            for n in range(frames):
                data, key = payloads[n % len(payloads)]
                packet = av.Packet(data)
                packet.pts = packet.dts = n * step
                packet.duration = step
                packet.is_keyframe = key
                packet.time_base = time_base
                packet.stream = outs
                dst.mux(packet)


def count_frames(path: Path, *, decode: bool = False) -> tuple[int, int | None]:
    """(frames, last pts) of the first video stream of ``path``: packets demuxed, or,
    with ``decode``, frames decoded (every one, the end-to-end check)."""
    import av

    n, last = 0, None
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        items = c.decode(s) if decode else (p for p in c.demux(s) if p.size)
        for item in items:
            n += 1
            last = item.pts
    return n, last


def _align_inputs(
    directory: Path, clips: tuple[Path, Path], seconds: float, container: str
) -> list[str]:
    """The pair of ``seconds`` (bg length) repeated from ``clips`` into ``fg.CONTAINER``
    and ``bg.CONTAINER`` (a file name extension: ``mp4``, ``mkv``); peak_rss arguments."""
    bg_frames = round(seconds * FPS)
    fg_frames = bg_frames - 2 * START
    if fg_frames <= 0:
        raise ValueError(
            f"long_rss_align: a {seconds:g} s input has {bg_frames} bg frames, "
            f"needs more than {2 * START} (use a longer --seconds)"
        )
    fg, bg = directory / f"fg.{container}", directory / f"bg.{container}"
    repeat_clip(clips[0], fg, fg_frames)
    repeat_clip(clips[1], bg, bg_frames)
    for path, frames in ((fg, fg_frames), (bg, bg_frames)):
        n, _ = count_frames(path)
        if n != frames:
            raise RuntimeError(f"long_rss_align: {path} holds {n} frames, wrote {frames}")
    return ["align", str(fg), str(bg), str(directory / "pairs.jsonl")]


def _inputs(
    pipeline: str, directory: Path, seconds: float, clips: tuple[Path, Path] | None
) -> list[str]:
    """Write one input of ``seconds``; returns the peak_rss arguments that run it."""
    from tests.reliability.peak_rss import write_speech_wav

    directory.mkdir(parents=True)
    if pipeline.startswith("diarize"):
        wav = directory / "speech.wav"
        write_speech_wav(wav, seconds)
        mode = pipeline.removeprefix("diarize_")
        return ["diarize", str(wav), str(directory / "out.rttm"), "--mode", mode]
    if pipeline.startswith("align"):
        assert clips is not None
        return _align_inputs(directory, clips, seconds, CONTAINERS[pipeline])
    from mediastream.synth import write_media

    src = directory / "in.wav"
    write_media(src, seconds, video=False, sample_rate=8000, channels=1)
    return ["dynamics", str(src), str(directory / "out.flac")]


def _prepare(pipeline: str) -> Callable[[Options], Prepared]:
    def prepare(options: Options) -> Prepared:
        quick_s = ALIGN_QUICK_SECONDS if pipeline.startswith("align") else QUICK_SECONDS
        long_s = options.seconds or (quick_s if options.quick else DEFAULT_SECONDS)
        short_s = long_s / SHORT_FRACTION
        work = Path(tempfile.mkdtemp(prefix=f"long_rss_{pipeline}_"))
        atexit.register(shutil.rmtree, work, ignore_errors=True)
        t0 = time.perf_counter()
        clips = None
        clip_frames = min(round(CLIP_S * FPS), round(long_s * FPS))
        if pipeline.startswith("align"):  # one clip, encoded once, for both inputs
            clips = encode_clip(work, clip_frames)
        runs = {
            "short": _inputs(pipeline, work / "short", short_s, clips),
            "long": _inputs(pipeline, work / "long", long_s, clips),
        }
        generate_s = time.perf_counter() - t0
        print(f"{pipeline}: inputs written in {generate_s:.0f} s", file=sys.stderr)

        def run() -> dict[str, float]:
            out: dict[str, float] = {}
            for size, args in runs.items():  # short first
                r = _peak_rss(args)
                out[f"{size}_peak_rss_mb"] = r["peak_rss_kb"] / 1024
                out[f"{size}_baseline_rss_mb"] = r["baseline_kb"] / 1024
                out[f"{size}_wall_s"] = r["wall_s"]
                out[f"{size}_items"] = r["items"]
                print(f"{pipeline} {size}: {json.dumps(r)}", file=sys.stderr)
            out["ratio_long_short"] = out["long_peak_rss_mb"] / out["short_peak_rss_mb"]
            out["grown_mb"] = out["long_peak_rss_mb"] - out["short_peak_rss_mb"]
            out["long_x_realtime"] = long_s / out["long_wall_s"]
            return out

        params: dict[str, object] = {
            "pipeline": pipeline,
            "long_s": long_s,
            "short_s": short_s,
            "generate_s": generate_s,
            "command": ["python", "-m", "tests.reliability.peak_rss", *runs["long"]],
        }
        if pipeline.startswith("align"):
            params["container"] = CONTAINERS[pipeline]
            params["clip_frames"] = clip_frames
            params["fg_frames"] = {
                size: round(s * FPS) - 2 * START
                for size, s in (("short", short_s), ("long", long_s))
            }

        def checks(m: Mapping[str, float]) -> dict[str, bool]:
            ok = m["ratio_long_short"] <= TARGET_RATIO
            out = {f"peak RSS long <= {TARGET_RATIO} x short": ok}
            if pipeline.startswith("align"):  # a pair line per fg frame, and the registration
                fg = round(long_s * FPS) - 2 * START
                out["every long fg frame paired"] = m["long_items"] == fg + 1
            return out

        return Prepared(run=run, params=params, checks=checks)

    return prepare


DESCRIPTIONS = {
    "diarize_vad": "peak RSS, long vs 1/12 input: mediastream diarize, light mode (silero+CAM++)",
    "diarize_seg": "peak RSS, long vs 1/12 input: mediastream diarize, segmentation-3.0+CAM++",
    "align": "peak RSS, long vs 1/12 input: mediastream align on a generated 24 fps MP4 pair",
    "align_mkv": "peak RSS, long vs 1/12 input: mediastream align, the same pair in Matroska",
    "dynamics": "peak RSS, long vs 1/12 input: FileSource -> dynamics chain -> FLAC",
}

for _name, _description in DESCRIPTIONS.items():
    register(f"long_rss_{_name}", _description)(_prepare(_name))
