"""Fuzzing FileSource with mutated real media files (issue 7).

Small WAV, FLAC, MP4 and MKV files are written with PyAV, then hypothesis flips bytes,
truncates, inserts garbage and duplicates chunks. Every mutant is opened and run
through a graph under a time limit: the run ends normally or raises one of
mediastream's own exceptions (a NodeError whose cause is one of ours too), never
hangs, never leaks a PyAV or Python error, never crashes the interpreter.

``MEDIASTREAM_FUZZ_EXAMPLES=2000`` (per format) explores further than the default 100,
with random seeds instead of the fixed derandomised sequence.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediastream.synth import write_media
from sinks import MemorySink
from stream import FileSource, Graph, MediaStreamError, NodeError

EXAMPLES = int(os.environ.get("MEDIASTREAM_FUZZ_EXAMPLES", "100"))
TIME_LIMIT_S = 20.0  # one mutant; a healthy one takes a few ms

Mutation = tuple[str, float, float, bytes]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0.0), st.just(b"")),
    st.tuples(st.just("insert"), st.floats(0, 1), st.just(0.0), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("duplicate"), st.floats(0, 1), st.floats(0, 1), st.just(b"")),
)


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    out = bytearray(data)
    for kind, a, b, payload in mutations:
        n = len(out)
        at = min(n, int(a * n))
        if kind == "flip":
            for i, byte in enumerate(payload):
                j = (at + i * max(1, int(b * 997))) % max(1, n)
                if n:
                    out[j] ^= byte or 0xFF
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = payload
        else:  # duplicate a chunk of up to 4 KiB right after itself
            size = min(n - at, 1 + int(b * 4096))
            out[at:at] = out[at : at + size]
    return bytes(out)


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("fuzz")
    out = {}
    for name, kwargs in {
        "a.wav": {"video": False, "channels": 1, "sample_rate": 8000},
        "a.flac": {"video": False, "channels": 2, "sample_rate": 16000},
        "av.mp4": {"width": 64, "height": 36, "sample_rate": 16000},
        "av.mkv": {"width": 64, "height": 36, "sample_rate": 16000},
    }.items():
        write_media(d / name, 0.6, **kwargs)  # type: ignore[arg-type]
        out[name] = (d / name).read_bytes()
    return out


def _run(path: Path) -> None:
    """Open ``path`` and decode every stream through a graph, within the time limit."""
    try:
        src = FileSource(path)
    except MediaStreamError:
        return
    g = Graph()
    node = g.add(src, "file")
    for port in src.specs():
        g.connect(node[port], g.add(MemorySink(), f"sink_{port.replace(':', '_')}"))

    async def run() -> None:
        with anyio.fail_after(TIME_LIMIT_S):
            await g.run()

    try:
        anyio.run(run)
    except NodeError as exc:
        cause = exc.__cause__
        assert isinstance(cause, MediaStreamError), f"{type(cause).__name__}: {cause}"
    except MediaStreamError:
        pass


@pytest.mark.parametrize("name", ["a.wav", "a.flac", "av.mp4", "av.mkv"])
def test_mutated_files_fail_only_with_our_errors(
    originals: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    directory = tmp_path_factory.mktemp("mutants")
    path = directory / name

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize="MEDIASTREAM_FUZZ_EXAMPLES" not in os.environ,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(mutation, min_size=1, max_size=4))
    def check(mutations: list[Mutation]) -> None:
        path.write_bytes(mutate(originals[name], mutations))
        _run(path)

    check()
