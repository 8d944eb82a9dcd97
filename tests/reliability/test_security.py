"""Security checks (issue 7): no code execution from data, no output path taken from
input metadata.

The source scan reads every module of the three packages with ``ast`` (so comments
and strings do not count) and fails on ``eval``/``exec``/``compile``, ``pickle`` /
``marshal`` / ``dill`` loading, ``yaml.load`` without a safe loader and
``torch.load`` without ``weights_only=True``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import av
import pytest

from mediastream.cli import main
from mediastream.synth import write_media
from tests.operators.video.pairs import PairSpec, write_pair

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("stream", "operators", "sinks")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword_is(call: ast.Call, name: str, value: object) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value == value
        for k in call.keywords
    )


def unsafe_calls(source: str, filename: str) -> list[str]:
    """``file:line: call`` for every call that can run code taken from data."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        bad = False
        if name in ("eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec"):
            bad = True
        elif name.split(".")[0] in ("pickle", "cPickle", "marshal", "dill", "cloudpickle"):
            bad = last in ("load", "loads", "Unpickler")
        elif last == "load" and name.split(".")[0] == "torch":
            bad = not _keyword_is(node, "weights_only", True)
        elif name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load"):
            loader = [k for k in node.keywords if k.arg == "Loader"]
            bad = name == "yaml.unsafe_load" or not (
                loader and "Safe" in _dotted(loader[0].value)
            )
        if bad:
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_the_scanner_finds_what_it_looks_for() -> None:
    source = "\n".join(
        [
            "import pickle, torch, yaml",
            "eval(text)",
            "exec(code)",
            "pickle.loads(blob)",
            "torch.load(path)",
            "torch.load(path, weights_only=False)",
            "yaml.load(stream)",
            "torch.load(path, map_location='cpu', weights_only=True)",  # fine
            "yaml.load(stream, Loader=yaml.SafeLoader)",  # fine
            "model.eval()",  # fine: a method called eval
        ]
    )
    lines = [int(f.split(":")[1]) for f in unsafe_calls(source, "x.py")]
    assert lines == [2, 3, 4, 5, 6, 7]


# Reviewed exceptions, by file and call. silero-vad ships its model as a TorchScript
# archive inside its wheel (a fixed file of an installed package, never a user path);
# torch.jit.load has no weights_only and does not unpickle Python objects.
REVIEWED = {("operators/speaker/vad.py", "torch.jit.load(")}


def test_no_code_is_loaded_from_data_in_the_packages() -> None:
    found = []
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 30
    for path in files:
        found += unsafe_calls(path.read_text(), str(path.relative_to(ROOT)))
    found = [
        f for f in found if not any(f.startswith(file) and call in f for file, call in REVIEWED)
    ]
    assert not found, "unsafe calls:\n" + "\n".join(found)


# -- outputs go where the user said, whatever the input's metadata says ----------------------

HOSTILE = {
    "title": "../../escaped",
    "filename": "../../escaped.wav",
    "comment": "/tmp/escaped",
    "artist": "..",
}


def _with_metadata(src: Path, dst: Path) -> Path:
    """Remux ``src`` with hostile metadata on the container and every stream."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        o.metadata.update(HOSTILE)
        streams = {}
        for s in i.streams:
            out = o.add_stream_from_template(s)
            out.metadata.update(HOSTILE)
            streams[s.index] = out
        for packet in i.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            o.mux(packet)
    return dst


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", ["dynamics", "align"])
def test_output_names_never_come_from_input_metadata(tmp_path: Path, command: str) -> None:
    inputs, outputs = tmp_path / "in" / "deep", tmp_path / "out" / "deep"
    inputs.mkdir(parents=True)
    outputs.mkdir(parents=True)
    if command == "dynamics":
        write_media(tmp_path / "plain.mkv", 1.0, video=False)
        src = _with_metadata(tmp_path / "plain.mkv", inputs / "in.mkv")
        args = ["dynamics", str(src), str(outputs / "out.flac")]
        args += ["--meter-jsonl", str(outputs / "m.jsonl")]
        expected = {outputs / "out.flac", outputs / "m.jsonl"}
    else:
        fg, bg, _ = write_pair(tmp_path, PairSpec(bg_frames=72, fg_frames=40, cut_at=None))
        fg = _with_metadata(fg, inputs / "fg.mkv")
        bg = _with_metadata(bg, inputs / "bg.mkv")
        args = ["align", str(fg), str(bg), "--out", str(outputs / "pairs.jsonl")]
        args += ["--composite", str(outputs / "comp.mp4")]
        expected = {outputs / "pairs.jsonl", outputs / "comp.mp4"}
    with av.open(str(args[1])) as c:
        assert c.metadata.get("title") == HOSTILE["title"]  # the metadata is really there
    before = _files(tmp_path)
    assert main([*args, "--quiet"]) == 0
    assert _files(tmp_path) - before == expected
    assert not list(Path("/tmp").glob("escaped*"))
