"""Graph-file node types come from the packages that own them, through entry points.

A third-party package (tests/mediastream/plugin_pkg, installed here by pip into a
temporary folder) adds a node type that ``mediastream run`` builds and runs, with no
change to this repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from mediastream.graphfile import GraphFileError, load_graph
from mediastream.graphfile.registry import NodeRegistry, RegistryError, node_types
from mediastream.synth import write_media
from stream import NodeType, NodeValueError

PLUGIN = Path(__file__).with_name("plugin_pkg")
BIN = Path(sys.executable).with_name("mediastream")

BUILT_IN = {
    "file", "device", "gain", "level_meter", "envelope_follower", "compressor", "limiter",
    "gate", "frame_stats", "fingerprint", "video_align", "diarizer", "jsonl", "csv", "rttm",
    "audio_file", "video_file", "audio_device", "plot",
}  # fmt: skip


def test_each_package_declares_its_own_node_types() -> None:
    reg = node_types(reload=True)
    assert set(reg.types) >= BUILT_IN
    assert not reg.broken
    owners = {name: reg.types[name].target.split(".")[0] for name in BUILT_IN}
    # The package that owns the class declared it.
    for name, origin in reg.origins.items():
        if name in BUILT_IN:
            assert origin.startswith("mediastream "), origin
            declared_by = origin.split()[1].split("-")[0]
            assert owners[name] == declared_by, (name, origin)


def test_one_name_declared_twice_is_an_error_naming_both() -> None:
    a = NodeType("x", "operator", "operators.gain:Gain", "one")
    b = NodeType("x", "operator", "operators.gain:Gain", "two")
    with pytest.raises(RegistryError, match=r"'x' is declared twice: by pkg-a a and by pkg-b b"):
        NodeRegistry.from_declarations([("pkg-a a", [a]), ("pkg-b b", [b])])


def test_a_declaration_that_is_not_a_list_of_node_types_is_reported() -> None:
    reg = NodeRegistry.from_declarations([("pkg c", {"not": "a list"})])
    assert reg.broken == {"pkg c": "does not name a list of stream.NodeType"}
    assert not reg.types


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name"}, "use letters, digits and _"),
        ({"name": "Upper"}, "must be lower case"),
        ({"role": "filter"}, "is not one of source, operator, sink"),
        ({"extra": {"k": "v"}}, "extra keys need a build hook"),
    ],
)
def test_node_type_declarations_are_checked(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "name": "ok", "role": "operator", "target": "operators.gain:Gain", "summary": "s",
    }  # fmt: skip
    with pytest.raises(ValueError, match=message):
        NodeType(**{**args, **kwargs})  # type: ignore[arg-type]


def test_node_value_error_pickles_with_its_key() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(NodeValueError("enrol", "expected a table")))
    assert err.key == "enrol" and str(err) == "expected a table"


def _install_plugin(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(PLUGIN, src)  # pip builds in place: keep the repository clean
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(src)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert any(target.glob("mediastream_polarity-0.0.1.dist-info"))
    return target


def _decode(path: Path) -> npt.NDArray[np.float32]:
    with av.open(str(path)) as c:
        return np.concatenate(
            [f.to_ndarray() for f in c.decode(audio=0)], axis=-1
        ).astype(np.float32)


GRAPH = """\
[nodes.media]
type = "file"
path = "in.wav"
video = false

[nodes.flip]
type = "polarity"
input = "media.audio"
scale = 0.5

[nodes.flipped]
type = "audio_file"
input = "flip"
path = "flipped.wav"
codec = "pcm_f32le"

[nodes.plain]
type = "audio_file"
input = "media.audio"
path = "plain.wav"
codec = "pcm_f32le"
"""


def test_an_installed_plugin_adds_a_node_type_to_mediastream_run(tmp_path: Path) -> None:
    site = _install_plugin(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    write_media(work / "in.wav", 1.0, video=False, sample_rate=16000, channels=1)
    (work / "g.toml").write_text(GRAPH)
    env = {**os.environ, "PYTHONPATH": str(site)}

    types = subprocess.run([str(BIN), "run", "--types"], env=env, capture_output=True,
                           text=True, timeout=120, check=True).stdout  # fmt: skip
    assert "polarity" in types and "[mediastream-polarity polarity]" in types
    assert "invert" in types and "scale" in types  # its keys, read from its type hints

    res = subprocess.run([str(BIN), "run", "g.toml", "--out", "o", "--quiet"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    flipped, plain = _decode(work / "o" / "flipped.wav"), _decode(work / "o" / "plain.wav")
    assert plain.shape == flipped.shape and np.abs(plain).max() > 0.01
    np.testing.assert_array_equal(flipped, (plain * np.float32(-0.5)).astype(np.float32))

    # Its own parameter checks, reported at the key's line like any node type's.
    (work / "bad.toml").write_text(GRAPH.replace("scale = 0.5", "scale = 9.0"))
    res = subprocess.run([str(BIN), "run", "bad.toml", "--check"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2
    assert "bad.toml:9: nodes.flip.scale: polarity: Polarity.scale must be within [0, 4]" in (
        res.stderr
    )


def test_without_the_plugin_its_type_is_unknown(tmp_path: Path) -> None:
    wav = tmp_path / "in.wav"
    write_media(wav, 0.5, video=False, sample_rate=16000, channels=1)
    text = GRAPH.replace('path = "in.wav"', f'path = "{wav}"')
    with pytest.raises(GraphFileError, match=r"^<graph>:7: nodes.flip.type: unknown node type "
                       r"'polarity'"):  # fmt: skip
        load_graph(text=text, out_dir=tmp_path / "out")
