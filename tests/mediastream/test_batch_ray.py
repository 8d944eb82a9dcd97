"""``mediastream batch`` on a local Ray instance with 2 CPUs (started once for the
module, shut down at its end; no dashboard, no usage stats, a 200 MB object store):

* generated files through Ray give byte-identical outputs to running each graph in
  this process;
* a worker killed (SIGKILL) while it runs an input: the input is retried and its
  folder is complete and identical to a local run; nothing of the killed attempt
  stays;
* an input that keeps failing is reported (summary, exit code 1), the others' outputs
  stay;
* diarization with the models in shared actors gives the RTTM of a local run, and
  speakers are linked across conversations that share voices (an enrolled name is
  carried over as the global label).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediastream.batch import BatchReport, BatchSettings, run_batch
from mediastream.cli import main
from mediastream.synth import write_media
from tests.mediastream.batch_support import (
    DYNAMICS,
    diarize_graph,
    run_locally,
    same_files,
    write_graph,
    write_wav,
)
from tests.operators.speaker import synth_speech


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[Any]:
    import ray

    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED",)}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def dynamics(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("ray-media")
    inputs = [root / f"take{i}.wav" for i in range(4)]
    for i, path in enumerate(inputs):
        write_media(path, 2.0 + 0.5 * i, video=False, seed=10 + i)
    return write_graph(root, "dynamics.toml", DYNAMICS), inputs


def test_ray_batch_equals_running_each_file_locally(
    dynamics: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    graph, inputs = dynamics
    report = run_batch(graph, inputs, tmp_path / "out")  # joins the module's instance
    ref = run_locally(graph, inputs, tmp_path / "ref")
    assert report.ok, [r.error for r in report.results]
    for r in report.results:
        same_files(ref[r.stem], tmp_path / "out" / r.stem)
        assert r.attempts == 1 and r.pid not in (0, os.getpid())  # ran in a worker
    ex = report.summary["executor"]
    assert ex["kind"] == "ray" and ex["cluster_cpus"] == 2.0
    assert report.summary["totals"]["media_s"] == pytest.approx(2 + 2.5 + 3 + 3.5, abs=0.05)
    assert not (tmp_path / "out" / ".partial").exists()


def test_a_killed_worker_is_retried_and_the_output_is_complete(tmp_path: Path) -> None:
    """The test reads the pid of the worker running the long input from the attempt's
    marker file, waits until that attempt has written meter lines (the graph is
    running), and SIGKILLs the worker. The retry's folder equals a local run's."""
    long = tmp_path / "long.wav"
    write_media(long, 40.0, video=False, seed=3)
    short = tmp_path / "short.wav"
    write_media(short, 2.0, video=False, seed=4)
    graph = write_graph(tmp_path, "dynamics.toml", DYNAMICS)
    out = tmp_path / "out"
    box: dict[str, BatchReport] = {}
    thread = threading.Thread(
        target=lambda: box.update(report=run_batch(graph, [long, short], out)), daemon=True
    )
    thread.start()
    marker = out / ".partial" / "long.1.json"
    meters = out / ".partial" / "long.1" / "meters" / "levels.jsonl"
    deadline = time.monotonic() + 120
    while not (meters.exists() and meters.stat().st_size > 0):
        assert time.monotonic() < deadline and thread.is_alive(), "attempt 1 never ran"
        time.sleep(0.005)
    pid = json.loads(marker.read_text())["pid"]
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive()
    report = box["report"]
    r = {x.stem: x for x in report.results}
    assert r["long"].status == "ok" and r["long"].attempts == 2, r["long"]
    assert "Worker" in r["long"].errors[0] or "died" in r["long"].errors[0], r["long"].errors
    assert r["long"].pid != pid
    assert r["short"].status == "ok" and r["short"].attempts == 1
    assert report.summary["totals"]["retried_attempts"] == 1
    ref = run_locally(graph, [long], tmp_path / "ref")
    same_files(ref["long"], out / "long")
    assert not (out / ".partial").exists()


def test_an_input_failing_every_attempt_is_reported(
    dynamics: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph, inputs = dynamics
    out = tmp_path / "out"
    code = main(["batch", str(graph), str(inputs[0]), str(tmp_path / "gone.wav"),
                 "--out", str(out), "--retries", "2", "--no-progress"])  # fmt: skip
    assert code == 1
    assert "1 of 2 inputs failed" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    gone = summary["inputs"][1]
    assert gone["status"] == "failed" and gone["attempts"] == 3 and len(gone["errors"]) == 3
    assert summary["inputs"][0]["status"] == "ok"
    assert (out / inputs[0].stem / "compressed.wav").is_file()


# -- diarization: shared model actors and cross-file speaker linking ------------------

V = synth_speech.VOICES  # us1 (female), en1 (male), de2 (male), de5 (female)
# Each pair is a male and a female voice (the same-sex pairs are the ones the
# segmentation model mixes up); us1 and en1 recur in two conversations each.
CONVERSATIONS = ((V[0], V[1]), (V[1], V[3]), (V[2], V[0]))

needs_voices = pytest.mark.skipif(
    not synth_speech.available(),
    reason="espeak-ng and the MBROLA voices are not installed (make installs them: "
    "target speech-synth-packages)",
)


@pytest.fixture(scope="module")
def diarized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three 6-turn conversations (about 20 s each) through Ray, both models in shared
    actors, with us1 enrolled as "ann" from a sentence of hers; and the reference run
    in this process with its own models."""
    root = tmp_path_factory.mktemp("ray-diarize")
    files, truths = [], []
    for i, voices in enumerate(CONVERSATIONS):
        conv = synth_speech.conversation(6, seed=300 + i, voices=voices)
        files.append(write_wav(root / f"conv{i}.wav", conv.audio))
        truths.append(conv.turns)
    ann = write_wav(root / "ann.wav", synth_speech.utterance(V[0], synth_speech.SENTENCES[3]))
    graph = diarize_graph(root, {"ann": ann})
    report = run_batch(graph, files, root / "out", BatchSettings(shared_models="all"))
    from tests.operators.speaker.support import campplus, segmentation

    models = {"diarize": {"embedding": campplus(), "segmentation": segmentation()}}
    ref = run_locally(graph, files, root / "ref", models)
    return {"report": report, "out": root / "out", "ref": ref, "truths": truths}


def _voice_of(rttm: Path, truth: Any) -> dict[str, str]:
    """Each RTTM label -> the true voice it overlaps most."""
    overlap: dict[str, dict[str, float]] = {}
    for line in rttm.read_text().splitlines():
        f = line.split()
        start, end, label = float(f[3]), float(f[3]) + float(f[4]), f[7]
        for s, e, voice in truth:
            o = max(0.0, min(end, e) - max(start, s))
            overlap.setdefault(label, {}).setdefault(voice, 0.0)
            overlap[label][voice] += o
    return {label: max(v, key=v.__getitem__) for label, v in overlap.items()}


@needs_voices
def test_shared_model_actors_give_the_local_rttm(diarized: dict[str, Any]) -> None:
    report = diarized["report"]
    assert report.ok, [r.error for r in report.results]
    stats = report.summary["model_actors"]
    assert stats["embedding:campplus#0"]["requests"] > 0
    assert stats["segmentation:None#0"]["requests"] > 0
    for r in report.results:
        got = (diarized["out"] / r.stem / "speakers.rttm").read_text()
        assert got == (diarized["ref"][r.stem] / "speakers.rttm").read_text()
        assert got.count("SPEAKER") >= 5


@needs_voices
def test_speakers_are_linked_across_conversations(diarized: dict[str, Any]) -> None:
    """Every voice gets one global label in every conversation it speaks in, different
    voices different labels; us1 is "ann" everywhere (enrolled), the others S0, S1...
    The global RTTM is the local one relabelled."""
    out = diarized["out"]
    doc = json.loads((out / "speakers.json").read_text())
    assert doc["distance"] == 0.25 and doc["models"] == ["campplus"]
    global_voice: dict[str, str] = {}
    for i, truth in enumerate(diarized["truths"]):
        stem = f"conv{i}"
        local = _voice_of(out / stem / "speakers.rttm", truth)
        glob = _voice_of(out / stem / "speakers.global.rttm", truth)
        assert sorted(set(local.values())) == sorted(set(CONVERSATIONS[i])), local
        mapping = doc["files"][stem]["diarize"]
        for label, voice in local.items():
            g = mapping[label]
            assert glob[g] == voice
            assert global_voice.setdefault(g, voice) == voice, (g, voice, global_voice)
        lines = (out / stem / "speakers.rttm").read_text().splitlines()
        relabelled = (out / stem / "speakers.global.rttm").read_text().splitlines()
        assert len(lines) == len(relabelled)
        for a, b in zip(lines, relabelled, strict=True):
            fa, fb = a.split(), b.split()
            assert fa[3:5] == fb[3:5] and fb[1] == stem and mapping[fa[7]] == fb[7]
    assert len(set(global_voice.values())) == len(global_voice) == 4
    assert {v: g for g, v in global_voice.items()}[V[0]] == "ann"
    assert sorted(global_voice) == ["S0", "S1", "S2", "ann"]
    # Each speaker's weight is its seconds of speech: the sum of its turns.
    for s in doc["speakers"]:
        for m in s["members"]:
            turns = [json.loads(x) for x in (out / m["input"] / "turns.jsonl").open()]
            total = sum(t["end_s"] - t["start_s"] for t in turns
                        if t["payload"]["speaker"] == m["label"])  # fmt: skip
            assert m["speech_s"] == pytest.approx(total, abs=0.002)
    speech = {s["label"]: s["speech_s"] for s in doc["speakers"]}
    assert all(seconds > 5.0 for seconds in speech.values())
    summary = diarized["report"].summary["speakers"]
    assert summary["linked"] and summary["global_speakers"] == 4
    assert np.isclose(sum(speech.values()), sum(
        m["speech_s"] for s in doc["speakers"] for m in s["members"]), atol=0.01)  # fmt: skip
