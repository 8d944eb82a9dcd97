"""The demo: one graph over an embedded default input (``mediastream demo``).

On first run the inputs are generated into the output folder from what the project
ships or depends on:

* ``demo-input.mp4``: pyannote.audio's sample speech (30 s, two speakers, from the
  pyannote.audio wheel), upsampled to 48 kHz stereo AAC, with a moving synthetic
  video (320x180 H.264, 25 fps, :func:`mediastream.synth.synth_frame`);
* ``demo-target.mp4``: a cropped (192x108 region at x=64 y=36, scaled to 144x80) and
  re-timed (30 fps, starting 4 s into the input, 22 s long) copy of that video, the
  alignment target;
* ``demo-reference.rttm``: the sample's reference speaker turns (from the same wheel).

The graph is the example graph file ``examples/demo.toml`` (its copy in the package,
``mediastream/graphs/demo.toml``, is what runs):
in one run it compresses and limits the audio, diarizes the speech online, and
aligns the target video to the input video with online DTW, writing processed audio,
RTTM, pairs and events as JSON Lines, pictures, and the composite video (the target
overlaid on the input where the alignment put it: a
:class:`mediastream.composite.CompositeSink` node, ``composite``, that
:func:`load_demo_graph` adds to the graph; written frame by frame as the pairs
arrive, in the same run).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stream import MediaOpenError, ParameterError

__all__ = [
    "DEMO_GRAPH",
    "DemoInputs",
    "demo_frame",
    "ensure_demo_inputs",
    "load_demo_graph",
]

DEMO_GRAPH = Path(__file__).with_name("graphs") / "demo.toml"

# What the generated inputs are; a change here regenerates them (the stamp differs).
_SPEC: dict[str, Any] = {
    "version": 3,
    "size": [320, 180],
    "fps": 25,
    "rate": 48000,
    "channels": 2,
    "crop": [64, 36, 192, 108],
    "target_size": [144, 80],
    "target_fps": 30,
    "target_start_s": 4.0,
    "target_duration_s": 22.0,
}


class DemoInputs:
    """Paths of the generated demo inputs.

    Attributes:
        media: speech + moving video (``demo-input.mp4``).
        target: the cropped, re-timed video (``demo-target.mp4``).
        reference: reference speaker turns of the speech (``demo-reference.rttm``).
    """

    def __init__(self, folder: Path) -> None:
        self.media = folder / "demo-input.mp4"
        self.target = folder / "demo-target.mp4"
        self.reference = folder / "demo-reference.rttm"
        self.stamp = folder / "demo-inputs.json"

    def all(self) -> list[Path]:
        return [self.media, self.target, self.reference]


def _pyannote_sample() -> tuple[Path, Path]:
    """pyannote.audio's sample speech and its reference RTTM (files in the wheel)."""
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or spec.origin is None:
        raise MediaOpenError("the demo needs pyannote.audio installed (it ships the sample)")
    folder = Path(spec.origin).parent / "sample"
    wav, rttm = folder / "sample.wav", folder / "sample.rttm"
    if not wav.is_file() or not rttm.is_file():
        raise MediaOpenError(f"pyannote.audio's sample is missing from {folder}")
    return wav, rttm


def _decode_speech(path: Path, rate: int, channels: int) -> npt.NDArray[np.float32]:
    """The whole sample (30 s) as float32 ``(channels, frames)`` at ``rate`` (FFmpeg resamples)."""
    import av

    from stream import channel_layout

    blocks: list[npt.NDArray[Any]] = []
    with av.open(os.fspath(path)) as container:
        resampler = av.AudioResampler(format="fltp", layout=channel_layout(channels), rate=rate)
        for frame in container.decode(audio=0):
            blocks += [f.to_ndarray() for f in resampler.resample(frame)]
        blocks += [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(blocks, axis=1).astype(np.float32)


_TEXTURE: list[npt.NDArray[np.float32]] = []


def _texture() -> npt.NDArray[np.float32]:
    """A fixed random colour texture (several octaves of smooth noise), 1.5x the frame."""
    import cv2

    if not _TEXTURE:
        w, h = _SPEC["size"]
        tw, th = w * 3 // 2, h * 3 // 2
        rng = np.random.default_rng(2026)
        tex = np.zeros((th, tw, 3), np.float32)
        for cell, amp in ((60, 90.0), (20, 60.0), (7, 40.0), (3, 25.0)):
            small = rng.random((max(2, th // cell), max(2, tw // cell), 3)).astype(np.float32)
            tex += cv2.resize(small, (tw, th), interpolation=cv2.INTER_CUBIC) * amp
        tex -= tex.min()
        tex *= 215.0 / tex.max()
        _TEXTURE.append((tex + 20.0).astype(np.float32))
    return _TEXTURE[0]


def demo_frame(index: int) -> npt.NDArray[np.uint8]:
    """Frame ``index`` of the demo video: a textured scene panning on a slow path, a
    disc on its own path and a bar whose length encodes the frame number."""
    import cv2

    w, h = _SPEC["size"]
    tex = _texture()
    t = index / _SPEC["fps"]
    ox = round((tex.shape[1] - w) * (0.5 + 0.45 * np.sin(2 * np.pi * t / 11.0)))
    oy = round((tex.shape[0] - h) * (0.5 + 0.45 * np.sin(2 * np.pi * t / 17.0 + 1.0)))
    img = np.ascontiguousarray(tex[oy : oy + h, ox : ox + w]).astype(np.uint8)
    cx = round(w * (0.5 + 0.4 * np.sin(2 * np.pi * 0.23 * t)))
    cy = round(h * (0.5 + 0.35 * np.sin(2 * np.pi * 0.37 * t + 0.5)))
    cv2.circle(img, (cx, cy), max(4, h // 10), (250, 240, 60), thickness=-1)
    bar = int((index % 1000) / 1000 * w)
    img[h - max(2, h // 30) :, :bar] = 255
    return img


def _target_frame(j: int) -> npt.NDArray[np.uint8]:
    """Frame ``j`` of the target: the input's frame at that time, cropped and scaled."""
    import cv2

    x, y, cw, ch = _SPEC["crop"]
    t = _SPEC["target_start_s"] + j / _SPEC["target_fps"]
    source = demo_frame(round(t * _SPEC["fps"]))
    crop = np.ascontiguousarray(source[y : y + ch, x : x + cw])
    out = cv2.resize(crop, tuple(_SPEC["target_size"]), interpolation=cv2.INTER_AREA)
    return np.asarray(out, dtype=np.uint8)


def ensure_demo_inputs(out_dir: str | os.PathLike[str]) -> DemoInputs:
    """The demo inputs in ``out_dir``, generated when missing or made by another version."""
    from mediastream.synth import write_media

    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(
            f"cannot use {os.fspath(folder)!r} as the output folder: {exc}"
        ) from None
    inputs = DemoInputs(folder)
    try:
        stamp = json.loads(inputs.stamp.read_text())
    except (OSError, ValueError):
        stamp = None
    if stamp == _SPEC and all(p.is_file() and p.stat().st_size > 0 for p in inputs.all()):
        try:  # readable, of the right length: reuse (a damaged file is made again)
            from stream import probe

            media, target = probe(inputs.media), probe(inputs.target)
            if (
                media.duration_s is not None and abs(media.duration_s - 30.0) < 0.5
                and target.duration_s is not None
                and abs(target.duration_s - _SPEC["target_duration_s"]) < 0.5
            ):  # fmt: skip
                return inputs
        except MediaOpenError:
            pass
    wav, rttm = _pyannote_sample()
    speech = _decode_speech(wav, _SPEC["rate"], _SPEC["channels"])
    duration = speech.shape[1] / _SPEC["rate"]
    w, h = _SPEC["size"]
    tmp = folder / "demo-input.tmp.mp4"
    write_media(
        tmp, duration, width=w, height=h, fps=_SPEC["fps"], sample_rate=_SPEC["rate"],
        audio_data=speech, frames=demo_frame,
    )  # fmt: skip
    os.replace(tmp, inputs.media)
    tw, th = _SPEC["target_size"]
    tmp = folder / "demo-target.tmp.mp4"
    write_media(
        tmp, _SPEC["target_duration_s"], audio=False, width=tw, height=th,
        fps=_SPEC["target_fps"], frames=_target_frame,
    )  # fmt: skip
    os.replace(tmp, inputs.target)
    shutil.copyfile(rttm, inputs.reference)
    inputs.stamp.write_text(json.dumps(_SPEC))
    return inputs


_COMPOSITE = "composite.mp4"  # the composite video's name in the output folder


def load_demo_graph(inputs: DemoInputs, out_dir: str | os.PathLike[str]) -> Any:
    """The demo's :class:`~mediastream.graphfile.GraphFile`, reading ``inputs``, with a
    ``composite`` node (:class:`~mediastream.composite.CompositeSink`, fed by ``align``)
    writing ``composite.mp4`` in ``out_dir`` during the run."""
    from mediastream.align import align_setup
    from mediastream.composite import CompositeSink
    from mediastream.graphfile import load_graph

    params = {
        "input": os.fspath(inputs.media.resolve()),
        "target": os.fspath(inputs.target.resolve()),
        "reference": os.fspath(inputs.reference.resolve()),
    }
    gf = load_graph(DEMO_GRAPH, params=params, out_dir=out_dir)
    setup = align_setup(inputs.target, inputs.media, work_width=_SPEC["size"][0])
    if setup.factor != 1.0:
        raise ParameterError("the demo composite expects the input at its working size")
    path = gf.out_dir / _COMPOSITE
    composite = CompositeSink(setup, path)
    # The graph's own sources of the aligner's fg and bg hand it their decoded frames.
    composite.attach(gf.graph.node("target"), gf.graph.node("media"))
    gf.graph.connect(gf.graph["align"], gf.graph.add(composite, "composite"))
    gf.outputs.append(path)
    return gf
