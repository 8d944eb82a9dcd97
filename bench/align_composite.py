"""``align_composite``: ``mediastream align --composite`` against decoding and encoding alone.

The composite is a sink in the alignment graph (mediastream/composite.py): as pairs
become final it takes the fg and bg frames the alignment's own sources decoded (a
window of up to ``composite_cache_mb`` per input; a frame that left it is decoded
again by the sink), draws the fg over the bg at the registered region and encodes the
frame, in the same pass as the alignment. What bounds
it is the work no composite can avoid: decoding both inputs at full size and encoding
one bg-sized frame per fg frame. Side by side, on the generated 1080p pair of the
``align`` benchmark (``tests/operators/video/pairs.py``: 1920x1080 24 fps bg, 720x404
30 fps fg cut from it, H.264), order alternating per repetition, ``gc.collect()`` first:

* ``composite_s``: ``build_align_graph(setup, composite_path=OUT.mp4)`` run to the end
  (the two decodes, shrunk to the working size for the aligner, registration,
  fingerprints, online DTW, and the composite sink: the sources' frames converted to
  RGB, the overlay, libx264 at CRF 20), with the default 512 MB window;
* ``composite_no_cache_s``: the same with ``composite_cache_mb=0``: the sink decodes
  both files a second time (how the composite worked before the window);
* ``decode_encode_s``: every fg frame and the bg frames up to the last one the
  composite uses decoded to RGB (as the composite sink decodes them), and as many
  bg-sized RGB frames (the bg frames themselves) encoded with the same encoder and
  settings (``sinks.VideoFileSink``): no alignment, no overlay.

``ratio`` = ``decode_encode_s / composite_s`` (check: >= 0.8, the issue's target);
``ratio_no_cache`` the same for ``composite_no_cache_s``. ``sink_decoded_frames``
(and ``sink_decoded_no_cache_frames``): frames the sink decoded itself (0: every frame
came from the window); ``cache_peak_mb``: the most the two windows held, in MiB. The
composite's frame count must equal the fg's.

    .venv/bin/python bench/run.py align_composite --repeats 5
"""

from __future__ import annotations

import atexit
import gc
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

from harness import Options, Prepared, register

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

TARGET_RATIO = 0.8


def _decode_encode(fg: str, bg: str, fg_frames: int, bg_frames: int, out: Path) -> int:
    """Decode every fg frame and the first ``bg_frames`` bg frames to RGB (bg frame
    ``k * bg_frames // fg_frames`` by fg frame ``k``, as a steady path would) and encode
    the bg frame of each fg frame; returns the frames encoded."""
    import av
    import numpy as np

    from sinks import VideoFileSink
    from stream import VideoFrame, VideoSpec

    with av.open(fg) as fgc, av.open(bg) as bgc:
        fgs, bgs = fgc.streams.video[0], bgc.streams.video[0]
        rate = Fraction(fgs.average_rate or 25)
        tb = Fraction(fgs.time_base or Fraction(1, 90000))
        size = (bgs.codec_context.width, bgs.codec_context.height)
        sink = VideoFileSink(out, frame_rate=rate, codec="libx264", pixel_format="yuv420p", crf=20)
        sink.configure({"in": VideoSpec(*size, "rgb24", rate, tb)})
        sink.open()
        bg_iter = bgc.decode(bgs)
        bg_img = None
        bg_index = -1
        written = 0
        try:
            for k, frame in enumerate(fgc.decode(fgs)):
                frame.to_ndarray(format="rgb24")
                want = min(bg_frames - 1, k * bg_frames // max(1, fg_frames))
                while bg_index < want:
                    bg_img = next(bg_iter).to_ndarray(format="rgb24")
                    bg_index += 1
                assert bg_img is not None
                pts = frame.pts if frame.pts is not None else k
                sink.write(VideoFrame(np.ascontiguousarray(bg_img), k, pts, tb))
                written += 1
        finally:
            sink.close()
    return written


@register("align_composite", "align --composite (one pass) vs decode + encode alone, 1080p")
def prepare(options: Options) -> Prepared:
    from align import _spec

    from mediastream.align import align_setup, build_align_graph
    from tests.operators.video.pairs import write_pair

    tmp = Path(tempfile.mkdtemp(prefix="bench-align-composite-"))
    atexit.register(shutil.rmtree, tmp, True)
    spec = _spec(options.quick, options.seconds)
    fg_path, bg_path, truth = write_pair(tmp, spec)
    setup = align_setup(fg_path, bg_path)
    last_bg = int(max(truth)) + 1
    rep = [0]

    def _composite(cache_mb: float) -> tuple[float, int, int, float]:
        out = tmp / "composite.mp4"
        g = build_align_graph(setup, composite_path=out, composite_cache_mb=cache_mb)
        gc.collect()
        t0 = time.perf_counter()
        g.run_sync()
        elapsed = time.perf_counter() - t0
        sink = g.node("composite")
        return (
            elapsed,
            int(getattr(sink, "frames_written", 0)),
            int(getattr(sink, "frames_decoded", -1)),
            float(getattr(sink, "cache_peak_mb", 0.0)),
        )

    def composite() -> tuple[float, int, int, float]:
        return _composite(512.0)

    def composite_no_cache() -> tuple[float, int, int, float]:
        return _composite(0.0)

    def baseline() -> tuple[float, int, int, float]:
        gc.collect()
        t0 = time.perf_counter()
        n = _decode_encode(str(fg_path), str(bg_path), len(truth), last_bg, tmp / "baseline.mp4")
        return time.perf_counter() - t0, n, 0, 0.0

    variants = [composite, baseline, composite_no_cache]

    def run() -> dict[str, float]:
        k = rep[0] % len(variants)
        order = variants[k:] + variants[:k]
        rep[0] += 1
        got = {f.__name__: f() for f in order}
        c_s, c_n, c_dec, c_mb = got["composite"]
        b_s, b_n, _, _ = got["baseline"]
        n_s, n_n, n_dec, _ = got["composite_no_cache"]
        return {
            "composite_s": c_s,
            "composite_no_cache_s": n_s,
            "decode_encode_s": b_s,
            "ratio": b_s / c_s,
            "ratio_no_cache": b_s / n_s,
            "composite_frames": float(c_n),
            "composite_no_cache_frames": float(n_n),
            "baseline_frames": float(b_n),
            "fg_frames": float(len(truth)),
            "sink_decoded_frames": float(c_dec),
            "sink_decoded_no_cache_frames": float(n_dec),
            "cache_peak_mb": c_mb * 1e6 / 2**20,  # MiB
        }

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        return {
            f"composite >= {TARGET_RATIO} of decode + encode alone": m["ratio"] >= TARGET_RATIO,
            "one composite frame per fg frame": m["composite_frames"] == m["fg_frames"]
            and m["composite_no_cache_frames"] == m["fg_frames"],
        }

    params = {
        "bg": f"{spec.bg_size[0]}x{spec.bg_size[1]} {spec.bg_fps} fps {spec.bg_frames} frames",
        "fg": f"{spec.fg_size[0]}x{spec.fg_size[1]} {spec.fg_fps} fps {len(truth)} frames",
        "bg_frames_decoded_by_baseline": last_bg,
        "encoder": "libx264 crf 20 yuv420p",
        "composite_cache_mb": 512.0,
    }
    return Prepared(run=run, params=params, checks=checks)
