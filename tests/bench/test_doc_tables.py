"""The benchmark tables in the docs are generated from bench/results/*.json
(bench/doc_tables.py): they match the results, and a changed result makes the check fail."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "doc_tables.py"
RESULTS = ROOT / "bench" / "results"
DOCS = (ROOT / "docs" / "benchmarks.md", ROOT / "bench" / "README.md")
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

import doc_tables  # noqa: E402


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _copy(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A copy of the results and of the two documents, to change without touching them."""
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    docs = []
    for i, doc in enumerate(DOCS):
        copy = tmp_path / f"{i}-{doc.name}"
        shutil.copyfile(doc, copy)
        docs.append(copy)
    return results, docs


def test_docs_tables_match_the_results() -> None:
    proc = _run("--check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


def test_changed_result_fails_the_check_until_regenerated(tmp_path: Path) -> None:
    results, docs = _copy(tmp_path)
    assert _run("--check", "--results", results, *docs).returncode == 0  # the copy matches

    path = results / "dynamics_vs_pedalboard.json"
    data = json.loads(path.read_text())
    data["metrics"]["ours_compressor_512_ns"]["median"] = 123.456
    path.write_text(json.dumps(data, indent=2) + "\n")
    before = [d.read_text() for d in docs]

    proc = _run("--check", "--results", results, *docs)
    assert proc.returncode == 1
    assert "table 'dynamics_vs_pedalboard' differs from" in proc.stderr
    assert "bench/results/dynamics_vs_pedalboard.json" in proc.stderr
    assert "+| compressor, 512-frame streaming | ns per sample per channel | 123 (" in proc.stderr
    assert "run `python bench/doc_tables.py` to regenerate them" in proc.stderr
    assert [d.read_text() for d in docs] == before  # --check writes nothing

    proc = _run("--results", results, *docs)
    assert proc.returncode == 0, proc.stderr
    assert "| 123 (" in docs[0].read_text()
    assert _run("--check", "--results", results, *docs).returncode == 0


def test_changed_command_or_date_fails_the_check(tmp_path: Path) -> None:
    results, docs = _copy(tmp_path)
    path = results / "align.json"
    data = json.loads(path.read_text())
    data["timestamp"] = "2030-01-02T03:04:05+00:00"
    path.write_text(json.dumps(data))
    proc = _run("--check", "--results", results, *docs)
    assert proc.returncode == 1
    assert "run 2030-01-02 03:04 UTC" in proc.stderr


def test_a_results_file_without_a_table_fails(tmp_path: Path) -> None:
    results, docs = _copy(tmp_path)
    data = json.loads((results / "align.json").read_text())
    data["benchmark"] = "new_benchmark"
    (results / "new_benchmark.json").write_text(json.dumps(data))
    proc = _run("--check", "--results", results, *docs)
    assert proc.returncode == 1
    assert "bench/results/new_benchmark.json feed no table" in proc.stderr


def test_bad_markers_are_errors(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    for text, message in [
        ("<!-- bench:nope -->\n<!-- /bench:nope -->\n", "unknown block 'nope'"),
        ("<!-- bench:align -->\nno end\n", "block 'align' has no closing"),
        ("<!-- bench:align -->\n<!-- /bench:long_rss -->\n", "closed as 'long_rss'"),
        ("<!-- bench:no_such_results/metrics -->\n<!-- /bench:no_such_results/metrics -->\n",
         "bench/results/no_such_results.json, which does not exist"),
    ]:  # fmt: skip
        doc.write_text(text)
        proc = _run("--check", doc, *DOCS)
        assert proc.returncode == 1, text
        assert message in proc.stderr, proc.stderr


def test_a_metric_the_table_reads_must_exist(tmp_path: Path) -> None:
    results, docs = _copy(tmp_path)
    path = results / "batch_ray.json"
    data = json.loads(path.read_text())
    del data["metrics"]["speedup"]
    path.write_text(json.dumps(data))
    proc = _run("--check", "--results", results, *docs)
    assert proc.returncode == 1
    assert "has no metric 'speedup'" in proc.stderr


def test_every_table_names_unit_peer_command_date_and_machine() -> None:
    results = doc_tables.load_results(RESULTS)
    for block, spec in doc_tables.TABLES.items():
        text = doc_tables.render_block(block, results)
        for stem in spec.sources():
            assert f"`{results[stem]['command']}` → `bench/results/{stem}.json`" in text
        # One machine line, or one per machine when the sources ran on several.
        assert " UTC, " in text and ("- Machine: " in text or "- Machine of " in text)
        if isinstance(spec, doc_tables.Table):
            assert all(row.unit for row in spec.rows), block
            assert all(row.against or not row.peer_metric for row in spec.rows), block
        else:
            assert spec.against and all(c.unit for c in spec.columns), block


def test_every_metric_of_every_result_has_a_unit() -> None:
    results = doc_tables.load_results(RESULTS)
    unitless = [
        f"{stem}: {name}"
        for stem, result in results.items()
        for name in result["metrics"]
        if doc_tables._unit(name) == "—"
    ]
    assert unitless == []


def test_numbers_keep_three_significant_digits() -> None:
    fmt = doc_tables._fmt
    assert [fmt(v) for v in (0.0, 217.0, 4.84125, 12.66, 0.0755, 1.0997, -74.0)] == [
        "0", "217", "4.84", "12.7", "0.0755", "1.10", "-74",
    ]  # fmt: skip
    assert fmt(1.0997, 5) == "1.0997"
    assert fmt(float("nan")) == "n/a"
