"""The public surface of ``stream``: ``__all__`` and a light import."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import stream
import stream.sources

HEAVY = ("torch", "torchaudio", "pyannote", "cv2", "sounddevice")

EXPECTED = {
    "EOS", "ArraySource", "AudioChunk", "AudioFormat", "AudioSpec", "Bound", "DecodeError",
    "EncodeError", "EndOfStream", "Event", "EventSpec", "EventStream", "FileSource", "Graph",
    "GraphError", "IncompatibleInputError", "Item", "MediaInfo", "MediaError",
    "MediaOpenError", "MediaStreamError", "NodeError", "NodeRef", "NodeStats", "Operator",
    "ParameterError", "PortRef", "RunStats", "Sink", "Source", "StreamInfo",
    "StreamMismatchError", "StreamSpec", "VideoFormat", "VideoFrame", "VideoSpec",
    "channel_layout", "describe_position", "item_end_time", "item_time", "probe",
    # node types that graph files name (declared by each package, see mediastream)
    "NodeType", "NodeValueError", "OutputPathError", "check_output_paths",
    # live audio
    "DeviceInfo", "DeviceSource", "DuplexDevice", "LiveStats", "XrunInfo", "list_devices",
}  # fmt: skip


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_is_exactly_the_public_names() -> None:
    assert len(stream.__all__) == len(set(stream.__all__))
    assert set(stream.__all__) == EXPECTED
    assert _public_names(stream) == set(stream.__all__)
    for name in stream.__all__:
        assert getattr(stream, name) is not None


def test_sources_all() -> None:
    assert _public_names(stream.sources) == set(stream.sources.__all__)
    for name in stream.sources.__all__:
        assert getattr(stream.sources, name) is getattr(stream, name)


def test_public_classes_say_they_belong_to_stream() -> None:
    # Documented objects come from the private modules, re-exported here.
    assert stream.Graph.__module__ == "stream._graph"
    assert stream.NodeError.__module__ == "stream._exceptions"


def test_exception_tree() -> None:
    s = stream
    assert issubclass(s.GraphError, s.MediaStreamError) and issubclass(s.GraphError, ValueError)
    assert issubclass(s.StreamMismatchError, s.GraphError)
    assert issubclass(s.NodeValueError, s.ParameterError)
    assert issubclass(s.OutputPathError, s.ParameterError)  # bad usage: exit 2
    assert issubclass(s.ParameterError, ValueError)
    assert issubclass(s.MediaOpenError, s.MediaError) and issubclass(s.MediaOpenError, OSError)
    assert issubclass(s.EncodeError, OSError) and issubclass(s.DecodeError, s.MediaError)
    assert issubclass(s.NodeError, s.MediaStreamError)
    assert not issubclass(s.NodeError, ValueError)


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout


def test_import_stream_is_light() -> None:
    code = (
        "import sys, json\n"
        "import stream, stream._runtime, stream.sources\n"
        f"print(json.dumps([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]))\n"
    )
    assert json.loads(_run(code)) == []


def test_import_stream_imports_no_layer_above_it() -> None:
    # The runtime sits at the bottom: importing it loads no operator, sink or application.
    code = (
        "import sys, json\n"
        "import stream, stream.sources, stream.devices, stream.handoff, stream.nodetype\n"
        "above = ('operators', 'sinks', 'mediastream')\n"
        "print(json.dumps([m for m in sys.modules if m.split('.')[0] in above]))\n"
    )
    assert json.loads(_run(code)) == []


def test_import_and_run_without_warnings() -> None:
    # Deprecated anyio aliases and the like would turn into errors here.
    code = (
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "import numpy as np\n"
        "import stream\n"
        "from sinks import MemorySink\n"
        "g = stream.Graph()\n"
        "g.chain(g.add(stream.ArraySource.audio(np.zeros(480), 48000, 48)), g.add(MemorySink()))\n"
        "for backend in ('asyncio', 'trio'):\n"
        "    g.run_sync(backend=backend)\n"
        "print('ok')\n"
    )
    assert _run(code).strip() == "ok"
