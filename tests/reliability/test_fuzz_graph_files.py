"""Malformed graph files (issue 7): mutated TOML never crashes the loader.

A valid graph file is mutated (characters deleted, inserted or replaced, lines
dropped, duplicated or swapped, values replaced by hostile ones); loading it either
builds a graph or raises :class:`~mediastream.GraphFileError` whose message starts with
``file:line`` (or ``file:`` when no line applies) and whose line, when given, exists in
the text (or :class:`~stream.MediaOpenError` naming the input, when the mutation broke
the input's path). No other exception escapes, and nothing is written outside the
output folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediastream import GraphFileError, load_graph
from mediastream.synth import write_media
from stream import MediaOpenError

# The example graph file users start from (one copy for the tests, bench and users).
GRAPH = (Path(__file__).resolve().parents[2] / "examples" / "dynamics.toml").read_text()

HOSTILE = st.sampled_from([
    "", "=", "[", "]", "{", "}", '"', "'", "\n", "#", ".", "${", "${input}", "$${x}",
    "..", "../x", "/etc/passwd", "~/x", "nan", "inf", "-inf", "1e999", "0", "-1",
    "true", "[1, 2]", "{ a = 1 }", '"os:system"', "__import__", "\x00", "\ud7ff", "é",
    "type", "input", "nodes", "graph", "params", "999999999999999999999",
])  # fmt: skip
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzzgf") / "in.wav"
    write_media(path, 0.5, video=False, sample_rate=16000, channels=1)
    return path


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = GRAPH.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "drop", "dup", "swap", "value"]))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        j = draw(st.integers(0, len(line)))
        if op == "delete" and line:
            k = draw(st.integers(j, len(line)))
            lines[i] = line[:j] + line[k:]
        elif op == "insert":
            lines[i] = line[:j] + draw(HOSTILE) + line[j:]
        elif op == "replace":
            lines[i] = line[:j] + draw(HOSTILE) + line[j + 1 :]
        elif op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "swap":
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        elif op == "value" and "=" in line:
            key = line.split("=", 1)[0]
            lines[i] = f"{key}= {draw(HOSTILE)}"
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=mutated())
def test_mutated_graph_files_raise_only_graph_file_errors(
    tmp_path: Path, wav: Path, text: str
) -> None:
    out = tmp_path / "out"
    before = set(tmp_path.iterdir())
    try:
        gf = load_graph(text=text, params={"input": os.fspath(wav)}, out_dir=out)
    except MediaOpenError as exc:  # a mutated input path: the input, not the file, is bad
        assert "cannot open" in str(exc) and "Traceback" not in str(exc)
    except GraphFileError as exc:
        message = str(exc)
        m = re.match(r"<graph>:(\d+)(?::\d+)?: ", message)
        if exc.line is not None:
            assert m is not None and int(m.group(1)) == exc.line, message
            assert 1 <= exc.line <= len(text.splitlines()) + 1, message
        else:
            assert message.startswith("<graph>: "), message
        assert "Traceback" not in message
    else:
        for path in gf.outputs:
            assert path.resolve().is_relative_to(out.resolve()), path
    # Building never writes outside the output folder (sinks create files when run).
    assert set(tmp_path.iterdir()) - before <= {out}


def test_the_unmutated_file_builds(tmp_path: Path, wav: Path) -> None:
    gf = load_graph(text=GRAPH, params={"input": os.fspath(wav)}, out_dir=tmp_path)
    assert gf.event_nodes == ["comp"]
    assert [p.relative_to(tmp_path).as_posix() for p in gf.outputs] == [
        "compressed.wav",
        "meters/levels.jsonl",
    ]
