"""``mediastream.batch`` without Ray: output folder names, the sequential executor (same
outputs as running each graph directly, bounded retries, failures reported with exit
code 1), settings checks, the CLI's usage errors, and Ray staying out of ``import
stream``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mediastream.batch import (
    BatchSettings,
    Built,
    DiarizerModels,
    GraphFileRecipe,
    PythonRecipe,
    input_stems,
    run_batch,
)
from mediastream.cli import main
from mediastream.synth import write_media
from stream import AudioFormat, FileSource, Graph, ParameterError
from tests.mediastream.batch_support import DYNAMICS, run_locally, same_files, write_graph


def test_input_stems_are_unique_safe_folder_names() -> None:
    stems = input_stems(
        [
            "/a/talk.wav",
            "/b/talk.mp3",
            "/c/TALK.flac",
            "../../etc/passwd",
            "/x/..wav",
            "/y/summary.json.wav",
            "https://host/path/My%20Show%20%231.mp4?x=1",
            "/z/ünï cödé;rm -rf.wav",
            "/d/.hidden",
            "/e/talk-2.wav",
        ]
    )
    assert stems == [
        "talk",
        "talk-2",
        "TALK-3",
        "passwd",
        "wav",
        "summary.json-2",
        "My_Show_1",
        "n_c_d_rm_-rf",
        "hidden",
        "talk-2-2",
    ]
    assert len({s.lower() for s in stems}) == len(stems)
    for s in stems:
        assert "/" not in s and not s.startswith(".") and s not in ("summary.json", "speakers.json")
    assert input_stems(["/a/...", "/b/+"]) == ["input", "+"]
    # A URL's user name and password never reach a folder name.
    assert input_stems(["rtsp://user:secret@cam1/", "http://u:p@cam2:8554"]) == [
        "cam1", "cam2_8554"]  # fmt: skip
    with pytest.raises(ParameterError, match="empty"):
        input_stems([""])


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("batch-media")
    inputs = [root / f"clip{i}.wav" for i in range(3)]
    for i, path in enumerate(inputs):
        write_media(path, 2.0 + i, video=False, seed=i)
    return write_graph(root, "dynamics.toml", DYNAMICS), inputs


def test_sequential_batch_equals_running_each_graph(
    media: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    """Every input's folder holds exactly the files running its graph directly writes,
    byte for byte; the summary says so; no attempt folder is left behind."""
    graph, inputs = media
    seen = []
    report = run_batch(graph, inputs, tmp_path / "out", BatchSettings(ray=False),
                       progress=seen.append)  # fmt: skip
    ref = run_locally(graph, inputs, tmp_path / "ref")
    assert report.ok
    for r in report.results:
        names = same_files(ref[r.stem], tmp_path / "out" / r.stem)
        assert sorted(r.outputs) == sorted(f"{r.stem}/{n}" for n in names)
        assert r.attempts == 1 and r.media_s == pytest.approx(2.0 + r.index, abs=0.01)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["executor"]["kind"] == "local"
    totals = summary["totals"]
    assert totals["inputs"] == totals["ok"] == 3 and totals["failed"] == 0
    assert totals["media_s"] == pytest.approx(9.0, abs=0.03)
    assert totals["files_per_minute"] > 0 and totals["x_real_time"] > 0
    assert [e["stem"] for e in summary["inputs"]] == ["clip0", "clip1", "clip2"]
    assert summary["speakers"] is None
    assert not (tmp_path / "out" / ".partial").exists()
    assert [p.done for p in seen] == [1, 2, 3]


def test_failed_inputs_are_retried_reported_and_exit_1(
    media: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing and a damaged input fail after 1 + retries attempts; the CLI exits 1
    naming them; the good input's outputs are complete; the damaged input's partial
    outputs are kept aside (not in its folder) and named in the summary."""
    graph, inputs = media
    bad = tmp_path / "damaged.wav"
    data = inputs[2].read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # header says 4 s, 2 s are there
    out = tmp_path / "out"
    code = main(["batch", str(graph), str(inputs[0]), str(tmp_path / "missing.wav"), str(bad),
                 "--out", str(out), "--sequential", "--retries", "1", "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "2 of 3 inputs failed" in captured.err and "missing.wav" in captured.err
    assert "ok      " in captured.out and "FAILED  " in captured.out
    summary = json.loads((out / "summary.json").read_text())
    by = {e["stem"]: e for e in summary["inputs"]}
    assert summary["status"] == "failed" and summary["totals"]["failed"] == 2
    assert by["clip0"]["status"] == "ok" and (out / "clip0" / "compressed.wav").is_file()
    for stem, what in (("missing", "no such file"), ("damaged", "truncated")):
        entry = by[stem]
        assert entry["status"] == "failed" and entry["attempts"] == 2, entry
        assert len(entry["errors"]) == 2 and what in entry["error"], entry
        assert not (out / stem).exists()
    assert by["missing"]["partial_outputs"] is None
    partial = out / by["damaged"]["partial_outputs"]
    assert (partial / "compressed.wav").stat().st_size > 0  # what was decoded before the cut


def test_graph_definition_errors_are_not_retried(tmp_path: Path) -> None:
    """A parameter error in the graph fails the same way every time: one attempt."""
    write_media(tmp_path / "a.wav", 1.0, video=False)
    graph = write_graph(tmp_path, "bad.toml", DYNAMICS.replace("ratio = 4", "ratio = 0.5"))
    report = run_batch(graph, [tmp_path / "a.wav"], tmp_path / "out",
                       BatchSettings(ray=False, retries=3))  # fmt: skip
    (r,) = report.results
    assert r.status == "failed" and r.attempts == 1 and "ratio" in (r.error or "")


def _escaping_graph(input: str, out_dir: Path, overrides: object) -> Built:
    from sinks import JsonLinesSink

    g = Graph()
    src = g.add(FileSource(input, audio=AudioFormat(chunk_frames=4096), video=False), "file")
    from operators import LevelMeter

    meter = g.add(LevelMeter(), "meter")
    outside = out_dir.parent / "elsewhere.jsonl"
    g.chain(src, meter, g.add(JsonLinesSink(outside), "out"))
    return Built(g, [outside], ["meter"])


def test_a_recipe_writing_outside_its_folder_is_refused(tmp_path: Path) -> None:
    write_media(tmp_path / "a.wav", 1.0, video=False)
    recipe = PythonRecipe(_escaping_graph)
    report = run_batch(recipe, [tmp_path / "a.wav"], tmp_path / "out", BatchSettings(ray=False))
    (r,) = report.results
    assert r.status == "failed" and r.attempts == 1 and "outside" in (r.error or "")
    assert not (tmp_path / "out" / "elsewhere.jsonl").exists()


def test_graph_file_recipe_reads_diarizer_models(tmp_path: Path) -> None:
    path = write_graph(tmp_path, "g.toml", """
[params]
model = "ge2e"
[nodes.media]
type = "file"
path = "${input}"
[nodes.d1]
type = "diarizer"
input = "media.audio"
model = "${model}"
mode = "vad"
batch_size = 8
[nodes.d2]
type = "diarizer"
input = "media.audio"
segmentation = "seg.ckpt"
threads = 2
""")  # fmt: skip
    recipe = GraphFileRecipe.open(path, {"model": "campplus"})
    assert recipe.diarizers == {
        "d1": DiarizerModels(embedding="campplus", mode="vad", batch_size=8),
        "d2": DiarizerModels(segmentation="seg.ckpt", threads=2),
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"retries": -1}, "retries"),
        ({"cpus_per_input": 0}, "cpus_per_input"),
        ({"num_cpus": 0}, "num_cpus"),
        ({"num_cpus": 2, "address": "auto"}, "local instance"),
        ({"shared_models": "some"}, "shared_models"),
        ({"model_actors": 0}, "model_actors"),
        ({"num_gpus_per_model": 1}, "shared_models"),
        ({"num_gpus_per_model": -1, "shared_models": "all"}, "num_gpus_per_model"),
        ({"link_distance": 3.0}, "link_distance"),
        ({"object_store_mb": 0}, "object_store_mb"),
    ],
)
def test_bad_settings_are_parameter_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        BatchSettings(**kwargs)  # type: ignore[arg-type]


def test_cli_usage_errors_exit_2(
    media: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph, inputs = media
    out = str(tmp_path / "out")
    assert main(["batch", str(tmp_path / "nope.toml"), str(inputs[0]), "--out", out]) == 2
    assert "cannot read the graph file" in capsys.readouterr().err
    args = ["batch", str(graph), str(inputs[0]), "--out", out]
    fixed = write_graph(tmp_path, "fixed.toml", DYNAMICS.replace("${input}", str(inputs[0])))
    assert main(["batch", str(fixed), str(inputs[0]), "--out", out]) == 2
    assert "never uses ${input}" in capsys.readouterr().err
    assert main([*args, "--ray", "auto", "--num-cpus", "2"]) == 2
    assert main([*args, "--num-gpus-per-model", "1", "--shared-models", "none"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(graph), "--out", out])  # no input
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([*args, "--retries", "-1"])
    assert exc.value.code == 2
    assert not (tmp_path / "out" / "summary.json").exists()


def test_ray_stays_out_of_import_stream() -> None:
    """Neither ``import stream`` nor ``import mediastream.batch`` (nor the CLI's parser)
    imports Ray, torch or pyannote."""
    code = (
        "import sys, stream, mediastream.batch, mediastream.cli; mediastream.cli.build_parser(); "
        "print(sorted(m for m in ('ray', 'torch', 'pyannote.audio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_folder_the_batch_did_not_write_is_left_alone(
    media: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    """An existing DIR/<name>/ not written by a batch is never replaced (the run stops
    before starting); one written by an earlier batch is replaced by the new run."""
    graph, inputs = media
    out = tmp_path / "out"
    (out / "clip0").mkdir(parents=True)
    (out / "clip0" / "IMPORTANT.txt").write_text("precious")
    with pytest.raises(ParameterError, match="clip0, not written by mediastream batch"):
        run_batch(graph, inputs[:1], out, BatchSettings(ray=False))
    assert (out / "clip0" / "IMPORTANT.txt").read_text() == "precious"
    assert not (out / "summary.json").exists()
    out2 = tmp_path / "out2"
    first = run_batch(graph, inputs[:1], out2, BatchSettings(ray=False))
    again = run_batch(graph, inputs[:1], out2, BatchSettings(ray=False))
    assert first.ok and again.ok
    assert (out2 / "clip0" / ".mediastream-batch").is_file()
    assert again.results[0].outputs == first.results[0].outputs
    assert all((out2 / o).is_file() for o in again.results[0].outputs)
