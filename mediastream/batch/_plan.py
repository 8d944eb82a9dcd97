"""What a batch runs: the graph recipe per input, the diarizer models it holds, and the
output folder of each input (a unique, safe name derived from the input's path)."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from mediastream.graphfile import GraphFileError
from stream import Graph, ParameterError

__all__ = [
    "BuiltGraph",
    "DiarizerModels",
    "GraphFileRecipe",
    "GraphRecipe",
    "PythonRecipe",
    "input_stems",
]

# Names in the output folder that are not per-input folders.
RESERVED = frozenset({"summary.json", "speakers.json"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class BuiltGraph(Protocol):
    """A graph built for one input (``mediastream.GraphFile`` is one)."""

    graph: Graph
    outputs: list[Path]
    event_nodes: list[str]


@dataclass
class Built:
    """A :class:`BuiltGraph` for recipes written in Python."""

    graph: Graph
    outputs: list[Path] = field(default_factory=list)
    event_nodes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DiarizerModels:
    """The models of one diarizer node (``OnlineDiarizer`` arguments).

    Attributes:
        embedding: embedding model name or checkpoint (``"campplus"``...).
        segmentation: segmentation checkpoint, or None for segmentation-3.0.
        mode: ``"segmentation"`` or ``"vad"`` (no segmentation model).
        device, threads, batch_size: as for the models' constructors.
    """

    embedding: str = "campplus"
    segmentation: str | None = None
    mode: str = "segmentation"
    device: str = "cpu"
    threads: int | None = None
    batch_size: int = 32


class GraphRecipe(Protocol):
    """How a batch builds the graph of one input.

    ``diarizers`` names the diarizer nodes and their models (so that the batch can
    load each model once per worker, or share it through a model actor);
    ``build(input, out_dir, overrides)`` builds the graph for ``input`` with its sink
    outputs inside ``out_dir`` and ``overrides`` (node -> keyword arguments, e.g.
    ``{"diarize": {"embedding": model}}``) applied to the nodes.
    """

    @property
    def name(self) -> str: ...

    @property
    def diarizers(self) -> Mapping[str, DiarizerModels]: ...

    def build(
        self, input: str, out_dir: Path, overrides: Mapping[str, Mapping[str, Any]]
    ) -> BuiltGraph: ...


@dataclass(frozen=True)
class GraphFileRecipe:
    """A graph file (TOML, :func:`mediastream.load_graph`), with ``input`` set per input.

    Args:
        path: the graph file.
        params: values for its ``${name}`` placeholders (``input`` is set per input).
    """

    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    diarizers: Mapping[str, DiarizerModels] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | os.PathLike[str], params: Mapping[str, str] | None = None
             ) -> GraphFileRecipe:  # fmt: skip
        """Read the file once: its diarizer nodes and their models."""
        label = os.fspath(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except OSError as exc:
            raise GraphFileError(
                f"{label}: cannot read the graph file: {exc}", path=label, line=None, key=None
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise GraphFileError(
                f"{label}: not valid TOML: {exc}", path=label, line=None, key=None
            ) from None
        if not re.search(r"(?<!\$)\$\{input\}", text):
            raise GraphFileError(
                f"{label}: the graph never uses ${{input}}: every input would run the same "
                'graph (write path = "${input}" in its file source)',
                path=label, line=None, key=None,
            )  # fmt: skip
        declared = data.get("params", {})
        values = {k: str(v) for k, v in declared.items()} if isinstance(declared, dict) else {}
        values.update(params or {})
        nodes = data.get("nodes", {})
        found: dict[str, DiarizerModels] = {}
        for name, table in nodes.items() if isinstance(nodes, dict) else ():
            if isinstance(table, dict) and table.get("type") == "diarizer":
                found[name] = _diarizer_models(label, name, table, values)
        return cls(os.path.abspath(label), dict(params or {}), found)

    @property
    def name(self) -> str:
        return self.path

    def build(
        self, input: str, out_dir: Path, overrides: Mapping[str, Mapping[str, Any]]
    ) -> BuiltGraph:
        from mediastream.graphfile import load_graph

        params = {**self.params, "input": input}
        return load_graph(self.path, params=params, out_dir=out_dir, overrides=overrides)


def _diarizer_models(
    label: str, node: str, table: Mapping[str, Any], params: Mapping[str, str]
) -> DiarizerModels:
    def value(key: str, default: Any) -> Any:
        v = table.get(key, default)
        if isinstance(v, str):
            v = _PLACEHOLDER.sub(lambda m: params.get(m.group(1), m.group(0)), v)
        return v

    try:
        threads = value("threads", None)
        return DiarizerModels(
            embedding=str(value("model", "campplus")),
            segmentation=None if value("segmentation", None) is None
            else str(value("segmentation", None)),
            mode=str(value("mode", "segmentation")),
            device=str(value("device", "cpu")),
            threads=None if threads is None else int(threads),
            batch_size=int(value("batch_size", 32)),
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise GraphFileError(
            f"{label}: nodes.{node}: {exc}", path=label, line=None, key=f"nodes.{node}"
        ) from None


@dataclass(frozen=True)
class PythonRecipe:
    """A graph built by a Python function ``factory(input, out_dir, overrides)``
    returning a :class:`BuiltGraph` (e.g. ``Built(graph, outputs)``). On Ray the
    function is pickled to the workers: define it in an importable module.

    Args:
        factory: builds the graph of one input; sinks write inside ``out_dir``; it
            applies ``overrides[node]`` (keyword arguments) to the nodes it names.
        diarizers: the diarizer nodes the factory builds and their models.
        label: a name for the summary.
    """

    factory: Callable[[str, Path, Mapping[str, Mapping[str, Any]]], BuiltGraph]
    diarizers: Mapping[str, DiarizerModels] = field(default_factory=dict)
    label: str = "python"

    @property
    def name(self) -> str:
        return self.label

    def build(
        self, input: str, out_dir: Path, overrides: Mapping[str, Mapping[str, Any]]
    ) -> BuiltGraph:
        return self.factory(input, out_dir, overrides)


def _stem(text: str) -> str:
    """A folder name from an input path or URL: its file name without the extension,
    characters other than letters, digits and ``._+-`` replaced by ``_``."""
    if "://" in text:
        parts = urlsplit(text)
        host = parts.hostname or ""  # never the user name or password of the URL
        name = PurePosixPath(unquote(parts.path)).name or (
            f"{host}_{parts.port}" if parts.port else host
        )
    else:
        name = Path(text).name
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = _UNSAFE.sub("_", stem).strip("._") or "input"
    return stem[:120]


def input_stems(inputs: Sequence[str]) -> list[str]:
    """One output folder name per input, unique (case-insensitively: ``-2``, ``-3``...
    added in input order), never hidden, never ``..``, never a name the batch writes
    itself (``summary.json``, ``speakers.json``)."""
    out: list[str] = []
    taken: set[str] = set()
    for text in inputs:
        if not text:
            raise ParameterError("an input path is empty")
        base = _stem(text)
        stem, n = base, 1
        while stem.lower() in taken or stem in RESERVED:
            n += 1
            stem = f"{base}-{n}"
        taken.add(stem.lower())
        out.append(stem)
    return out
