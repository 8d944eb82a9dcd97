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


@pytest.mark.filterwarnings("ignore:.*is damaged at:RuntimeWarning")  # reported damage
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


# -- a seeded mutator in a second process: no hang, our errors only, the true timeline ----

# Seconds of mutants per format (``MEDIASTREAM_FUZZ_BUDGET_S``); another seed with
# ``MEDIASTREAM_FUZZ_SEED``.
FUZZ_BUDGET_S = float(os.environ.get("MEDIASTREAM_FUZZ_BUDGET_S", "4"))
SLACK_S = 0.3  # one codec frame: FLAC's 4608 samples at 16 kHz are 0.288 s

_FUZZ_CHILD = r"""
import json, random, sys, time, traceback
from pathlib import Path
from stream import AudioChunk, DecodeError, FileSource, MediaStreamError, VideoFrame

original, mutant, seed, budget, slack = (
    Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
    float(sys.argv[5]))
data = original.read_bytes()
truth = FileSource(original).info.duration_s


def mutate(rng, data):
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        n = len(out)
        at = rng.randrange(max(1, n))
        op = rng.choice(["flip", "flip", "truncate", "duplicate", "remove", "insert"])
        if op == "flip":
            for _ in range(rng.randint(1, 16) if n else 0):
                out[rng.randrange(n)] ^= rng.randint(1, 255)
        elif op == "truncate":
            del out[max(1, at):]
        elif op == "duplicate":
            size = rng.randint(1, 4096)
            out[at:at] = out[at : at + size]
        elif op == "remove":
            del out[at : at + rng.randint(1, 4096)]
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 256))
    return bytes(out)


start = time.monotonic()
i = 0
while time.monotonic() - start < budget:
    rng = random.Random(seed * 1_000_003 + i)
    mutant.write_bytes(mutate(rng, data))
    print(json.dumps({"start": i}), flush=True)
    result = {"i": i}
    try:
        src = FileSource(mutant, on_error=rng.choice(["raise", "skip"]))
        declared = src.info.duration_s or 0.0
        problems = []
        last_audio = {}
        last_pts = {}
        end = 0.0
        try:
            for port, item in src:
                if isinstance(item, AudioChunk):
                    if port in last_audio and item.start != last_audio[port]:
                        problems.append(f"{port}: chunk at {item.start} after {last_audio[port]}")
                    last_audio[port] = item.end
                    end = max(end, item.end / item.sample_rate)
                elif isinstance(item, VideoFrame):
                    if port in last_pts and item.pts <= last_pts[port]:
                        problems.append(f"{port}: pts {item.pts} after {last_pts[port]}")
                    last_pts[port] = item.pts
                    end = max(end, float(item.pts * item.time_base))
            result["outcome"] = "ok"
        except MediaStreamError as exc:
            result["outcome"] = "error"
            result["error"] = f"{type(exc).__name__}: {exc}"
            result["decode"] = isinstance(exc, DecodeError)
        result["end"] = end
        # MP3 states no length (FFmpeg estimates it): a duplicated stretch is audio.
        # A mutant whose header lost its length (Matroska's Duration) cannot tell a
        # jump of its timestamps from a pause: the hole is filled, as in a recording.
        exact = src.info.format in ("wav", "flac", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")
        exact = exact and src.info.duration_s is not None
        result["bound"] = max(truth or 0.0, declared) + slack if exact else float("inf")
        result["problems"] = problems
    except MediaStreamError as exc:
        result["outcome"] = "open_error"
        result["error"] = f"{type(exc).__name__}: {exc}"
    except BaseException:
        result["outcome"] = "leak"
        result["error"] = traceback.format_exc()
    print(json.dumps(result), flush=True)
    i += 1
print(json.dumps({"done": i}), flush=True)
"""


@pytest.fixture(scope="module")
def longer_originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzz_timeline")
    out = {}
    for name, kwargs in {
        "a.wav": {"video": False, "channels": 1, "sample_rate": 8000},
        "a.flac": {"video": False, "channels": 2, "sample_rate": 16000},
        "a.mp3": {"video": False, "channels": 1, "sample_rate": 16000},
        "av.mp4": {"width": 64, "height": 36, "sample_rate": 16000},
        "av.mkv": {"width": 64, "height": 36, "sample_rate": 16000},
    }.items():
        write_media(d / name, 2.0, **kwargs)  # type: ignore[arg-type]
        out[name] = d / name
    return out


@pytest.mark.parametrize("name", ["a.wav", "a.flac", "a.mp3", "av.mp4", "av.mkv"])
def test_mutants_never_hang_leak_or_shift_the_timeline(
    longer_originals: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """Seeded mutants (bytes flipped, truncated, chunks duplicated, removed, garbage
    inserted), read in a second process for FUZZ_BUDGET_S seconds under a hard time
    limit: no hang, no exception but mediastream's own naming the file (a decode
    error also naming the time), and no read that succeeds with an invented timeline:
    audio contiguous, video pts increasing, nothing past the longer of the true and
    the declared duration plus one codec frame (where the container states its
    length: not MP3, nor a mutant whose header lost it). A failure names the seed and mutant,
    kept in ``tmp_path`` to reproduce it."""
    import json
    import subprocess
    import sys
    import textwrap

    root = Path(__file__).resolve().parents[2]
    seed = sum(map(ord, name)) + int(os.environ.get("MEDIASTREAM_FUZZ_SEED", "0"))
    mutant = tmp_path / f"mutant{Path(name).suffix}"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_FUZZ_CHILD), str(longer_originals[name]),
         str(mutant), str(seed), str(FUZZ_BUDGET_S), str(SLACK_S)],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=FUZZ_BUDGET_S + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        started = [json.loads(x)["start"] for x in stdout.splitlines() if '"start"' in x]
        pytest.fail(f"hang on mutant {started[-1] if started else '?'} (seed {seed}): {mutant}")
    assert proc.returncode == 0, stderr
    results = [json.loads(x) for x in stdout.splitlines()]
    done = [r["done"] for r in results if "done" in r]
    assert done and done[0] >= 5, stdout[-2000:]
    failures = []
    for r in results:
        if "outcome" not in r:
            continue
        where = f"seed {seed} mutant {r['i']}"
        if r["outcome"] == "leak":
            failures.append(f"{where}: {r['error']}")
        elif r["outcome"] in ("error", "open_error"):
            if str(mutant) not in r["error"]:
                failures.append(f"{where}: error without the file name: {r['error']}")
            elif r.get("decode") and "t=" not in r["error"] and "stream" not in r["error"]:
                failures.append(f"{where}: decode error without the time: {r['error']}")
        if r.get("problems"):
            failures.append(f"{where}: timeline not monotonic: {r['problems'][:3]}")
        if r["outcome"] == "ok" and r["end"] > r["bound"]:
            failures.append(f"{where}: read ended at {r['end']:.3f} s > {r['bound']:.3f} s")
    assert not failures, "\n".join(failures[:10])
