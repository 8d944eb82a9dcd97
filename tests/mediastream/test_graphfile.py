"""Graph files (TOML): building, parameters, and errors that name the line and key."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from mediastream.graphfile import GraphFileError, describe_types, load_graph
from mediastream.synth import write_media
from operators import Compressor
from sinks import AudioFileSink
from stream import AudioFormat, FileSource, Graph, ParameterError

BIN = Path(sys.executable).with_name("mediastream")

GRAPH = """\
[graph]
description = "compress a file"
buffer_size = 8

[params]
input = "in.wav"
threshold = "-30"

[nodes.media]
type = "file"
path = "${input}"
audio = { sample_rate = 48000, channels = 2, chunk_frames = 777 }
video = false

[nodes.comp]
type = "compressor"
input = "media.audio"
threshold_db = "${threshold}"
ratio = 4
meter_interval_ms = 50

[nodes.out]
type = "audio_file"
input = "comp"
path = "comp.wav"

[nodes.events]
type = "jsonl"
input = ["comp"]
path = "meters/events.jsonl"
"""


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gf") / "in.wav"
    write_media(path, 2.0, video=False, sample_rate=48000, channels=2)
    return path


def _decode(path: Path) -> np.ndarray:
    with av.open(os.fspath(path)) as c:
        return np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)


def test_a_graph_file_builds_the_same_graph_as_python(tmp_path: Path, wav: Path) -> None:
    gf = load_graph(text=GRAPH, params={"input": os.fspath(wav)}, out_dir=tmp_path / "a")
    assert gf.description == "compress a file"
    assert gf.graph.buffer_size == 8
    assert gf.node_types == {"media": "file", "comp": "compressor", "out": "audio_file",
                             "events": "jsonl"}  # fmt: skip
    assert gf.event_nodes == ["comp"]
    assert gf.outputs == [tmp_path / "a" / "comp.wav", tmp_path / "a" / "meters" / "events.jsonl"]
    comp = gf.graph.node("comp")
    assert isinstance(comp, Compressor) and comp.threshold_db == -30.0
    gf.graph.run_sync()

    g = Graph()
    src = g.add(FileSource(wav, audio=AudioFormat(48000, 2, 777), video=False), "media")
    c = g.add(Compressor(threshold_db=-30, ratio=4, meter_interval_ms=50), "comp")
    g.connect(src["audio"], c)
    g.connect(c, g.add(AudioFileSink(tmp_path / "b.wav"), "out"))
    g.run_sync()
    np.testing.assert_array_equal(_decode(tmp_path / "a" / "comp.wav"), _decode(tmp_path / "b.wav"))
    lines = (tmp_path / "a" / "meters" / "events.jsonl").read_text().splitlines()
    assert len(lines) == 40  # 2 s in 50 ms windows


def test_params_set_and_placeholders(tmp_path: Path, wav: Path) -> None:
    text = GRAPH.replace('description = "compress a file"',
                         'description = "cost $${not_a_param} ${threshold} dB"')  # fmt: skip
    gf = load_graph(
        text=text, params={"input": os.fspath(wav), "threshold": "-12.5"}, out_dir=tmp_path
    )
    # A whole-string placeholder takes the parameter's TOML value where a number is wanted.
    assert gf.graph.node("comp").threshold_db == -12.5  # type: ignore[union-attr]
    assert gf.description == "cost ${not_a_param} -12.5 dB"
    assert gf.params["threshold"] == "-12.5"


def test_file_on_disk_and_overrides(tmp_path: Path, wav: Path) -> None:
    path = tmp_path / "g.toml"
    path.write_text(GRAPH)
    gf = load_graph(
        path, params={"input": os.fspath(wav)}, out_dir=tmp_path / "o",
        overrides={"comp": {"ratio": 8.0}},
    )  # fmt: skip
    assert gf.path == path
    assert gf.graph.node("comp").ratio == 8.0  # type: ignore[union-attr]


def _err(text: str, tmp_path: Path, wav: Path) -> GraphFileError:
    with pytest.raises(GraphFileError) as info:
        load_graph(text=text, params={"input": os.fspath(wav)}, out_dir=tmp_path)
    return info.value


# (edit of GRAPH, expected line, expected key, a fragment of the message)
BAD = {
    "toml syntax": (("ratio = 4", "ratio = "), 19, None, "not valid TOML"),
    "unknown type": (('type = "compressor"', 'type = "compresor"'), 16, "nodes.comp.type",
                     "did you mean 'compressor'"),
    "type is code": (('type = "compressor"', 'type = "os:system"'), 16, "nodes.comp.type",
                     "unknown node type 'os:system'"),
    "unknown key": (("ratio = 4", "ratoi = 4"), 19, "nodes.comp.ratoi", "did you mean 'ratio'"),
    "wrong kind": (("ratio = 4", 'ratio = "four"'), 19, "nodes.comp.ratio", "expected a number"),
    "out of range": (("ratio = 4", "ratio = 0.5"), 19, "nodes.comp.ratio", "must be >= 1"),
    "float for int": (("chunk_frames = 777", "chunk_frames = 777.0"), 12,
                      "nodes.media.audio.chunk_frames", "expected an integer"),
    "inline field": (("channels = 2,", "chanels = 2,"), 12, "nodes.media.audio.chanels",
                     "no field 'chanels'"),
    "inline range": (("chunk_frames = 777", "chunk_frames = 0"), 12,
                     "nodes.media.audio.chunk_frames", "chunk_frames must be >= 1"),
    "unknown input": (('input = "comp"', 'input = "cmp"'), 24, "nodes.out.input",
                      "no node named 'cmp' (did you mean 'comp'?)"),
    "unknown port": (('input = "media.audio"', 'input = "media.vidoe"'), 17, "nodes.comp.input",
                     "has no output 'vidoe'"),
    "escaping path": (('path = "comp.wav"', 'path = "../comp.wav"'), 25, "nodes.out.path",
                      "stay inside"),
    "absolute path": (('path = "comp.wav"', 'path = "/tmp/comp.wav"'), 25, "nodes.out.path",
                      "relative to the output folder"),
    "unknown param": (('"${threshold}"', '"${treshold}"'), 18, "nodes.comp.threshold_db",
                      "${treshold} names no parameter"),
    "unknown section": (("[graph]", "[grahp]"), 1, "grahp", "did you mean 'graph'"),
    "graph setting": (("buffer_size = 8", "buffer_size = 0"), 3, "graph.buffer_size",
                      "buffer_size must be >= 1"),
    "no type": (('type = "audio_file"\n', ""), 22, "nodes.out", "no type"),
    "sink without input": (('input = "comp"\n', ""), 22, "nodes.out", "needs an input"),
    "source with input": (('video = false', 'video = false\ninput = "comp"'), 14,
                          "nodes.media.input", "takes no input"),
    "bad node name": (("[nodes.out]", '[nodes."o u t"]'), 22, "nodes.o u t", "node name"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_graph_files_name_the_line_and_key(tmp_path: Path, wav: Path, case: str) -> None:
    (old, new), line, key, fragment = BAD[case]
    assert old in GRAPH
    err = _err(GRAPH.replace(old, new, 1), tmp_path, wav)
    message = str(err)
    assert err.line == line, message
    assert err.key == key, message
    assert message.startswith(f"<graph>:{line}"), message
    assert fragment in message, message
    # Errors cross process boundaries (Ray) intact.
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.line, back.key) == (message, err.line, err.key)


def test_mismatched_nodes_point_at_the_consumer_input(tmp_path: Path) -> None:
    mp4 = tmp_path / "av.mp4"
    write_media(mp4, 1.0, width=64, height=36)
    text = GRAPH.replace("video = false", "video = true").replace(
        'input = "media.audio"', 'input = "media.video"'
    )
    err = _err(text, tmp_path, mp4)
    assert err.line == 17 and err.key == "nodes.comp.input"
    assert "Compressor takes audio, got video" in str(err)


def test_missing_file_and_empty_graph(tmp_path: Path) -> None:
    with pytest.raises(GraphFileError, match="cannot read the graph file"):
        load_graph(tmp_path / "nope.toml")
    with pytest.raises(GraphFileError, match="no nodes"):
        load_graph(text="[graph]\n", out_dir=tmp_path)
    with pytest.raises(ParameterError):
        load_graph(out_dir=tmp_path)


def test_describe_types_lists_every_type_with_units() -> None:
    text = describe_types()
    for name in ("file", "compressor", "limiter", "gate", "diarizer", "video_align", "rttm",
                 "audio_file", "plot"):  # fmt: skip
        assert f"  {name} " in text
    assert "threshold_db" in text and "ceiling_db" in text and "lookahead_ms" in text


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, cwd=cwd, timeout=120,
        env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip


def test_cli_run_check_run_and_errors(tmp_path: Path, wav: Path) -> None:
    (tmp_path / "g.toml").write_text(GRAPH)
    res = _cli("run", "g.toml", "--set", f"input={wav}", "--check", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "graph is valid" in res.stdout and "comp (compressor)" in res.stdout
    res = _cli("run", "g.toml", "--set", f"input={wav}", "--out", "o", "--no-progress",
               cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "o" / "comp.wav").stat().st_size > 0
    assert "x real time" in res.stdout and "comp.wav" in res.stdout
    (tmp_path / "bad.toml").write_text(GRAPH.replace("ratio = 4", "ratio = 0.5"))
    res = _cli("run", "bad.toml", "--check", "--set", f"input={wav}", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "mediastream run: error: bad.toml:19: nodes.comp.ratio: compressor: "
        "Compressor.ratio must be >= 1 (inf allowed), got 0.5"
    )
    res = _cli("run", "--types", cwd=tmp_path)
    assert res.returncode == 0 and "video_align" in res.stdout


def test_diarizer_node_enrols_named_voices_from_clips(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.find_spec("pyannote.audio")
    assert spec is not None and spec.origin is not None
    sample = Path(spec.origin).parent / "sample" / "sample.wav"
    clip = tmp_path / "ann.wav"
    with av.open(os.fspath(sample)) as c:  # 10.6-14.6 s: one voice of the sample
        audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    write_media(clip, 4.0, video=False, sample_rate=16000,
                audio_data=(audio[:, 169_600:233_600].astype(np.float32) / 32768))  # fmt: skip
    text = f"""
[nodes.speech]
type = "file"
path = "{sample}"
audio = {{ sample_rate = 16000, channels = 1 }}
video = false

[nodes.diarize]
type = "diarizer"
input = "speech.audio"
model = "campplus"
enrol = {{ ann = "{clip}" }}
max_speakers = 4

[nodes.rttm]
type = "rttm"
input = "diarize"
path = "turns.rttm"
"""
    gf = load_graph(text=text, out_dir=tmp_path)
    node = gf.graph.node("diarize")
    assert node.enrolled_names == ["ann"]  # type: ignore[union-attr]
    bad = text.replace(f'enrol = {{ ann = "{clip}" }}', 'enrol = ["ann.wav"]')
    with pytest.raises(GraphFileError, match=r"^<graph>:12: nodes.diarize.enrol: expected a table"):
        load_graph(text=bad, out_dir=tmp_path)


def test_placeholders_inside_inline_tables_take_numbers(tmp_path: Path, wav: Path) -> None:
    text = GRAPH.replace("[params]", '[params]\nrate = 16000\nlinked = "false"').replace(
        "sample_rate = 48000", 'sample_rate = "${rate}"'
    ).replace("ratio = 4", 'ratio = 4\nlink = "${linked}"')
    gf = load_graph(text=text, params={"input": os.fspath(wav)}, out_dir=tmp_path)
    assert gf.graph.node("media").specs()["audio"].sample_rate == 16000  # type: ignore[union-attr]
    assert gf.graph.node("comp").link is False  # type: ignore[union-attr]
    with pytest.raises(GraphFileError, match=r"sample_rate: expected int, got the parameter"):
        load_graph(text=text, params={"input": os.fspath(wav), "rate": "fast"}, out_dir=tmp_path)
    with pytest.raises(GraphFileError, match="a parameter value is one line"):
        load_graph(text=text, params={"input": os.fspath(wav), "rate": "1\nx = 2"},
                   out_dir=tmp_path)  # fmt: skip


def test_a_missing_port_blames_the_node_that_asked_for_it(tmp_path: Path, wav: Path) -> None:
    text = GRAPH.replace("meter_interval_ms = 50\n", "").replace(
        'input = ["comp"]', 'input = "comp.events"'
    )
    err = _err(text, tmp_path, wav)
    assert (err.line, err.key) == (28, "nodes.events.input"), str(err)
    assert "'comp' has no output 'events'" in str(err)


def test_output_paths_are_unique_and_do_not_leave_through_links(tmp_path: Path, wav: Path) -> None:
    text = GRAPH.replace('path = "meters/events.jsonl"', 'path = "./comp.wav"')
    err = _err(text, tmp_path, wav)
    assert err.key == "nodes.events.path" and "another sink already writes" in str(err)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "meters").symlink_to(outside)
    with pytest.raises(GraphFileError, match="resolves outside the output folder"):
        load_graph(text=GRAPH, params={"input": os.fspath(wav)}, out_dir=tmp_path / "o")
    assert list(outside.iterdir()) == []


def test_quoted_keys_keep_their_line(tmp_path: Path, wav: Path) -> None:
    err = _err(GRAPH.replace("ratio = 4", '"ratio" = "four"'), tmp_path, wav)
    assert (err.line, err.key) == (19, "nodes.comp.ratio"), str(err)


def test_an_output_folder_that_is_a_file_is_a_parameter_error(tmp_path: Path, wav: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ParameterError, match=r"cannot use .* as the output folder"):
        load_graph(text=GRAPH, params={"input": os.fspath(wav)}, out_dir=tmp_path / "afile")


def test_cli_runs_a_graph_without_events(tmp_path: Path, wav: Path) -> None:
    text = GRAPH.replace("meter_interval_ms = 50\n", "")
    text = text[: text.index("[nodes.events]")]
    (tmp_path / "g.toml").write_text(text)
    res = _cli("run", "g.toml", "--set", f"input={wav}", "--out", "o", "--no-progress",
               cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "o" / "comp.wav").stat().st_size > 100_000
    assert "x real time" in res.stdout
