"""Run one pipeline in a fresh process and report its peak resident memory.

``python -m tests.reliability.peak_rss dynamics IN OUT [--slow-ms MS]`` runs
FileSource -> dynamics chain -> AudioFileSink (each write delayed by ``--slow-ms`` to
make the sink the bottleneck); ``python -m tests.reliability.peak_rss align FG BG
PAIRS`` runs the alignment graph into a JSON Lines file. It prints one JSON object:
``{"peak_rss_kb": VmHWM, "baseline_kb": VmHWM before the run, "items": ...}``.
VmHWM is the kernel's high-water mark of the resident set (``/proc/self/status``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from stream import AudioFormat, FileSource, Graph, Item


def vm_hwm_kb() -> int:
    """Peak resident set size of this process so far, KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_dynamics(src: str, out: str, slow_ms: float) -> int:
    from operators.dynamics import DynamicsSettings, build_dynamics_chain
    from sinks import AudioFileSink

    class SlowSink(AudioFileSink):
        def write(self, item: Item) -> None:
            if slow_ms:
                time.sleep(slow_ms / 1e3)
            super().write(item)

    g = Graph()
    file = g.add(FileSource(src, video=False, audio=AudioFormat(chunk_frames=1024)), "file")
    chain = build_dynamics_chain(g, file["audio"], DynamicsSettings())
    sink = SlowSink(out)
    g.connect(chain.audio, g.add(sink, "out"))
    g.run_sync()
    return sink.frames_written


def run_align(fg: str, bg: str, pairs: str) -> int:
    from stream.align import align_setup, build_align_graph

    graph = build_align_graph(align_setup(fg, bg), pairs_path=pairs)
    graph.run_sync()
    return len(Path(pairs).read_text().splitlines())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pipeline", choices=["dynamics", "align"])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--slow-ms", type=float, default=0.0)
    args = parser.parse_args()
    # Load what any run loads (Numba kernels, PyAV, OpenCV) before taking the baseline.
    import av  # noqa: F401

    import operators.dynamics
    import operators.video  # noqa: F401

    baseline = vm_hwm_kb()
    start = time.perf_counter()
    if args.pipeline == "dynamics":
        items = run_dynamics(args.paths[0], args.paths[1], args.slow_ms)
    else:
        items = run_align(*args.paths[:3])
    wall = time.perf_counter() - start
    print(
        json.dumps(
            {"peak_rss_kb": vm_hwm_kb(), "baseline_kb": baseline, "items": items, "wall_s": wall}
        )
    )


if __name__ == "__main__":
    main()
