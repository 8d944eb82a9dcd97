"""FFmpeg's EBU R128 meter (``ebur128``), the reference the loudness benchmark and the
LoudnessMeter tests compare with. No benchmark harness here, so tests import it too.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt
from av.filter import Graph

__all__ = ["ebur128"]


def ebur128(x: npt.NDArray[np.float32], rate: int) -> dict[str, float]:
    """FFmpeg's ebur128 filter on ``x`` (float32 ``(channels, frames)``, mono or stereo, at
    ``rate`` Hz) through PyAV's filter graph: its figures at the end (``I``, ``LRA``,
    ``M``, ``S``, ... as FFmpeg names them, and ``TP``, the true peak in dBTP)."""
    layout = {1: "mono", 2: "stereo"}[x.shape[0]]
    graph = Graph()
    src = graph.add_abuffer(
        format="fltp", sample_rate=rate, layout=layout, time_base=Fraction(1, rate)
    )
    ebur = graph.add("ebur128", "metadata=1:peak=true")
    sink = graph.add("abuffersink")
    src.link_to(ebur)
    ebur.link_to(sink)
    graph.configure()
    last: dict[str, str] = {}

    def drain() -> None:
        nonlocal last
        while True:
            try:
                last = dict(graph.pull().metadata)
            except (av.BlockingIOError, av.EOFError):
                return

    step = rate // 10
    for i in range(0, x.shape[1], step):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(x[:, i : i + step]), format="fltp", layout=layout
        )
        frame.sample_rate = rate
        frame.pts = i
        frame.time_base = Fraction(1, rate)
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    r = {k.removeprefix("lavfi.r128."): float(v) for k, v in last.items()}
    r["TP"] = 20 * math.log10(r["true_peak"])
    return r
