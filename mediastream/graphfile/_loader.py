"""Graph files: any graph of sources, operators and sinks described in TOML.

``mediastream run pipeline.toml`` and ``mediastream batch`` build graphs from these
files; :func:`load_graph` does it from Python. A file looks like::

    [graph]                      # optional: Graph settings
    description = "compress and diarize a talk"
    buffer_size = 16             # items per edge

    [params]                     # values for ${name} in strings; --set name=value
    input = "talk.mp4"

    [nodes.media]                # a node: its name, its type, its parameters
    type = "file"
    path = "${input}"
    audio = { sample_rate = 16000, channels = 1 }
    video = false

    [nodes.comp]
    type = "compressor"
    input = "media.audio"        # node or node.port; an array joins several in time
    threshold_db = -24
    ratio = 3

    [nodes.out]
    type = "audio_file"
    input = "comp"
    path = "compressed.wav"      # inside the output folder (--out)

Rules:

* ``type`` names one of the registered node types (``mediastream run --types`` lists
  them with their parameters); other keys are that class's keyword arguments, checked
  against its type hints, then by the class itself (ranges, units).
* ``input`` connects a node: ``"node"``, ``"node.port"``, an array of those (joined in
  time order), or a table ``{ fg = "a.video", bg = "b.video" }`` for nodes with named
  input ports.
* Output paths of sinks are relative to the output folder and may not leave it
  (absolute paths and ``..`` are refused). Input paths are relative to the current
  directory.
* ``${name}`` is replaced by the parameter ``name`` (``$${`` writes a literal ``${``);
  a string that is exactly one ``${name}`` takes the parameter's TOML value when the
  key wants a number or a boolean (``--set threshold=-18``).
* Nothing in a file is executed or imported by name: types map to the classes their
  packages declared (:mod:`mediastream.graphfile.registry`).

Every error names the file, the line and the key (:class:`~mediastream.GraphFileError`).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from stream import (
    EventSpec,
    Graph,
    GraphError,
    MediaError,
    NodeType,
    NodeValueError,
    OutputPathError,
    ParameterError,
)

from ._convert import (
    BadValue,
    Param,
    ParamText,
    convert,
    describe_type,
    is_required,
    params_of,
)
from ._errors import GraphFileError
from .registry import NodeRegistry, RegistryError, node_types

__all__ = ["GraphFile", "describe_types", "load_graph"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# A graph file describes nodes; anything larger is a mistake (or hostile), and the
# TOML parser is slow on huge values (about 1 s per MB).
MAX_GRAPH_FILE_BYTES = 1024 * 1024
# Deepest nesting of tables and arrays a graph file may use (a few levels are needed).
MAX_NESTING = 16
_PLACEHOLDER = re.compile(r"\$(\$?)\{([^}]*)\}")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GRAPH_KEYS = {"description": str, "buffer_size": int, "max_skew_s": float, "max_batch": int}


@dataclass
class GraphFile:
    """A graph built from a file.

    Attributes:
        graph: the :class:`~stream.Graph`, validated and ready to run.
        path: the file (None when built from text).
        out_dir: the folder sink outputs go to.
        params: the parameters after ``--set`` overrides.
        outputs: files the sinks write, in node order.
        event_nodes: operators whose events the graph produces (for printing).
        description: ``[graph] description``.
        node_types: node name -> type name.
    """

    graph: Graph
    path: Path | None
    out_dir: Path
    params: dict[str, str]
    outputs: list[Path] = field(default_factory=list)
    event_nodes: list[str] = field(default_factory=list)
    description: str | None = None
    node_types: dict[str, str] = field(default_factory=dict)


_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\]++|\\.)*+"')


class _Lines:
    """Where each key is written: TOML parsers keep no positions, so the text is
    scanned for table headers and ``key =`` lines (inline tables included)."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
    _KEY = re.compile(r"""(?:^|[{,])\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
                      r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")  # fmt: skip

    def __init__(self, text: str) -> None:
        self.where: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                table = self._split(header.group(1))
                for n in range(1, len(table) + 1):
                    self.where.setdefault(table[:n], number)
                continue
            # Inline tables: keys after '{' nest under the key before it.
            stack = list(table)
            depth = [len(stack)]
            pos = 0
            last: tuple[str, ...] | None = None
            stripped = self._strip_strings(line)
            for m in self._KEY.finditer(stripped):
                opened = stripped.count("{", pos, m.start(1)) - stripped.count("}", pos, m.start(1))
                pos = m.start(1)
                if opened > 0 and last is not None:
                    depth.append(len(stack))
                    stack = [*stack, *last]
                elif opened < 0 and len(depth) > 1:
                    stack = stack[: depth.pop()]
                key = self._split(line[m.start(1) : m.end(1)])  # quoted keys intact
                self.where.setdefault((*stack, *key), number)
                last = key

    @staticmethod
    def _strip_strings(line: str) -> str:
        # Keep positions, blank out string contents and comments (a '=' inside a string).
        # Possessive (no backtracking state per character): linear on long strings.
        out = re.sub(_DOUBLE_QUOTED, lambda m: '"' + " " * (len(m.group()) - 2) + '"', line)
        out = re.sub(r"'[^']*'", lambda m: "'" + " " * (len(m.group()) - 2) + "'", out)
        hash_at = out.find("#")
        return out if hash_at < 0 else out[:hash_at]

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)', dotted)
        return tuple(a or b or c for a, b, c in parts)

    def line(self, *path: str) -> int | None:
        """The line of the deepest written prefix of ``path``."""
        for n in range(len(path), 0, -1):
            if path[:n] in self.where:
                return self.where[path[:n]]
        return None


class _Builder:
    def __init__(
        self,
        text: str,
        path: Path | None,
        params: Mapping[str, str] | None,
        out_dir: Path,
        overrides: Mapping[str, Mapping[str, Any]] | None,
    ) -> None:
        self.text = text
        self.path = path
        self.label = os.fspath(path) if path is not None else "<graph>"
        self.set_params = dict(params or {})
        self.out_dir = out_dir
        self.overrides = overrides or {}
        self.lines = _Lines(text)
        self.refs: list[tuple[str, str, str]] = []  # (consumer, upstream, port or "")

    def fail(self, message: str, *key: str, line: int | None = None) -> GraphFileError:
        if line is None and key:
            line = self.lines.line(*key)
        where = f"{self.label}:{line}" if line is not None else self.label
        shown = ".".join(key)
        prefix = f"{where}: {shown}: " if shown else f"{where}: "
        return GraphFileError(prefix + message, path=self.label, line=line, key=shown or None)

    # -- parsing ----------------------------------------------------------------------
    def parse(self) -> dict[str, Any]:
        try:
            data = tomllib.loads(self.text)
        except RecursionError:
            raise GraphFileError(
                f"{self.label}: arrays or tables are nested too deeply to read (a graph "
                f"file needs at most {MAX_NESTING} levels)",
                path=self.label, line=None, key=None,
            ) from None  # fmt: skip
        except tomllib.TOMLDecodeError as exc:
            msg = str(exc)
            m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
            line = int(m.group(1)) if m else None
            detail = msg[: m.start()].strip() if m else msg
            col = f":{m.group(2)}" if m else ""
            where = f"{self.label}:{line}{col}" if line is not None else self.label
            raise GraphFileError(
                f"{where}: not valid TOML: {detail}", path=self.label, line=line, key=None
            ) from None
        too_deep = _deepest(data, MAX_NESTING)
        if too_deep is not None:
            raise self.fail(f"nested more than {MAX_NESTING} levels deep", *too_deep)
        for key in data:
            if key not in ("graph", "params", "nodes"):
                raise self.fail(
                    f"unknown section; a graph file has [graph], [params] and [nodes.NAME]"
                    f"{_suggest(key, ['graph', 'params', 'nodes'])}",
                    key,
                )
        return data

    def resolve_params(self, data: dict[str, Any]) -> dict[str, str]:
        declared = data.get("params", {})
        if not isinstance(declared, dict):
            raise self.fail("must be a table of name = value", "params")
        out: dict[str, str] = {}
        for name, value in declared.items():
            if not _PARAM_NAME.match(name):
                raise self.fail("a parameter name is letters, digits and _", "params", name)
            if isinstance(value, (dict, list)):
                raise self.fail("a parameter is a string, number or boolean", "params", name)
            out[name] = _toml_text(value)
        for name, value in self.set_params.items():
            if "\n" in value or "\r" in value:
                raise GraphFileError(
                    f"{self.label}: --set {name}=...: a parameter value is one line",
                    path=self.label, line=None, key=name,
                )  # fmt: skip
            if not _PARAM_NAME.match(name):
                raise GraphFileError(
                    f"{self.label}: --set {name}=...: a parameter name is letters, digits and _",
                    path=self.label, line=None, key=name,
                )  # fmt: skip
            if name not in out and name not in self.used_params():
                known = sorted(set(out) | self.used_params())
                raise GraphFileError(
                    f"{self.label}: --set {name}=...: the graph file has no parameter "
                    f"{name!r}{_suggest(name, known)} (its parameters: "
                    f"{', '.join(known) or 'none'})",
                    path=self.label, line=None, key=name,
                )  # fmt: skip
            out[name] = value
        return out

    def used_params(self) -> set[str]:
        """Names the file's ``${name}`` placeholders use (``$${...}`` is literal)."""
        return {m.group(2) for m in _PLACEHOLDER.finditer(self.text) if not m.group(1)}

    def substitute(
        self, value: Any, want: Any, params: dict[str, str], key: tuple[str, ...]
    ) -> Any:
        if isinstance(value, list):
            return [self.substitute(v, Any, params, key) for v in value]
        if isinstance(value, dict):
            return {k: self.substitute(v, Any, params, (*key, k)) for k, v in value.items()}
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and not whole.group(1):
            # Typed where the key wants a number or a boolean (convert() reads it).
            return ParamText(params[self._param_name(whole.group(2), params, key)])

        def repl(m: re.Match[str]) -> str:
            if m.group(1):
                return "${" + m.group(2) + "}"
            return params[self._param_name(m.group(2), params, key)]

        return _PLACEHOLDER.sub(repl, value)

    def _param_name(self, name: str, params: dict[str, str], key: tuple[str, ...]) -> str:
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            raise self.fail(
                f"${{{name}}} names no parameter (known: {known}); declare it under "
                f"[params] or pass --set {name}=VALUE",
                *key,
            )
        return name

    # -- building ---------------------------------------------------------------------
    def build(self) -> GraphFile:
        data = self.parse()
        params = self.resolve_params(data)
        settings = data.get("graph", {})
        if not isinstance(settings, dict):
            raise self.fail("must be a table", "graph")
        kwargs: dict[str, Any] = {}
        for key, value in settings.items():
            if key not in _GRAPH_KEYS:
                raise self.fail(f"unknown setting{_suggest(key, list(_GRAPH_KEYS))}", "graph", key)
            value = self.substitute(value, _GRAPH_KEYS[key], params, ("graph", key))
            try:
                kwargs[key] = convert(value, _GRAPH_KEYS[key])
            except BadValue as exc:
                raise self.fail(str(exc), "graph", key) from None
        description = kwargs.pop("description", None)
        try:
            graph = Graph(**kwargs)
        except ParameterError as exc:
            named = [k for k in kwargs if k in str(exc)]
            raise self.fail(str(exc), "graph", *named[:1]) from None
        nodes = data.get("nodes")
        if not isinstance(nodes, dict) or not nodes:
            raise self.fail("no nodes: add tables [nodes.NAME] with a type = ...", line=None)
        result = GraphFile(graph, self.path, self.out_dir, params, description=description)
        inputs: dict[str, Any] = {}
        for name, table in nodes.items():
            if not _NAME.match(name):
                raise self.fail(
                    "a node name starts with a letter or _ and holds letters, digits, _ and -",
                    "nodes", name,
                )  # fmt: skip
            if not isinstance(table, dict):
                raise self.fail("must be a table with a type = ...", "nodes", name)
            nt = self.node_type(name, table)
            result.node_types[name] = nt.name
            if nt.role == "source":
                if "input" in table:
                    raise self.fail("a source takes no input", "nodes", name, "input")
            elif "input" not in table:
                raise self.fail(
                    f"{nt.role} {name!r} needs an input = \"node\" or \"node.port\"",
                    "nodes", name,
                )  # fmt: skip
            else:
                inputs[name] = table["input"]
            obj = self.instantiate(name, nt, table, params, result)
            graph.add(obj, name)
            if nt.role == "operator":
                result.event_nodes.append(name)
        for name, spec in inputs.items():
            self.connect(graph, name, spec, nodes)
        out_specs = self.validate(graph, nodes)
        result.event_nodes = [
            n
            for n in result.event_nodes
            if any(isinstance(s, EventSpec) for s in out_specs.get(n, {}).values())
        ]
        return result

    def node_type(self, name: str, table: dict[str, Any]) -> NodeType:
        try:
            registry = node_types()
        except RegistryError as exc:
            raise self.fail(str(exc), "nodes", name, "type") from None
        types = registry.types
        kind = table.get("type")
        if kind is None:
            raise self.fail(
                f"no type = ...; one of: {', '.join(types)}", "nodes", name
            )
        if not isinstance(kind, str) or kind not in types:
            raise self.fail(
                f"unknown node type {kind!r}{_suggest(str(kind), list(types))} "
                f"(types: {', '.join(types)}){_broken(registry)}",
                "nodes", name, "type",
            )  # fmt: skip
        return types[kind]

    def instantiate(
        self,
        name: str,
        nt: NodeType,
        table: dict[str, Any],
        params: dict[str, str],
        result: GraphFile,
    ) -> Any:
        try:
            known = params_of(nt)
        except ImportError as exc:  # an optional dependency is missing
            raise self.fail(f"node type {nt.name!r} is unavailable: {exc}", "nodes", name,
                            "type") from None
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, raw in table.items():
            if key in ("type", "input"):
                continue
            where = ("nodes", name, key)
            if key in nt.extra:
                extra[key] = self.substitute(raw, Any, params, where)
                continue
            if key not in known:
                choices = [*known, *nt.extra]
                raise self.fail(
                    f"{nt.name} has no parameter {key!r}{_suggest(key, choices)} "
                    f"(it has: {', '.join(choices)})",
                    *where,
                )
            p = known[key]
            if key in nt.output_paths:
                value = self.substitute(raw, Any, params, where)
                kwargs[p.arg] = self.output_path(value, where, result)
                continue
            value = self.substitute(raw, p.type, params, where)
            try:
                kwargs[p.arg] = convert(value, p.type)
            except BadValue as exc:
                raise self.fail(str(exc), *where, *exc.path) from None
        missing = [
            k for k, p in known.items()
            if is_required(p) and p.arg not in kwargs and p.arg not in self.overrides.get(name, {})
        ]  # fmt: skip
        if missing:
            raise self.fail(f"{nt.name} needs {', '.join(missing)} = ...", "nodes", name)
        kwargs.update(self.overrides.get(name, {}))
        try:
            return nt.make(kwargs, extra)
        except (GraphFileError, MediaError):
            raise  # a missing or unreadable input is not a malformed graph file
        except NodeValueError as exc:  # a build hook refused one of its keys
            raise self.fail(str(exc), "nodes", name, exc.key) from exc
        except (ParameterError, ValueError, TypeError, OSError) as exc:
            raise self.fail(
                f"{nt.name}: {exc}", "nodes", name, *self._key_in(str(exc), table, known)
            ) from exc

    @staticmethod
    def _key_in(message: str, table: dict[str, Any], known: Mapping[str, Param]) -> tuple[str, ...]:
        """The table key an error message talks about, when one is named in it."""
        for key in table:
            names = {key} | ({known[key].arg} if key in known else set())
            if any(re.search(rf"\b{re.escape(n)}\b", message) for n in names):
                return (key,)
        return ()

    def output_path(self, value: Any, where: tuple[str, ...], result: GraphFile) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail("expected a file name inside the output folder", *where)
        rel = PurePath(value)
        if rel.is_absolute() or ".." in rel.parts or value.startswith("~"):
            raise self.fail(
                f"output paths are relative to the output folder (--out) and stay inside "
                f"it; got {value!r}",
                *where,
            )
        target = self.out_dir / rel
        if not target.resolve().is_relative_to(self.out_dir.resolve()):
            raise self.fail(
                f"{value!r} resolves outside the output folder (through a symbolic link)",
                *where,
            )
        if any(os.path.normpath(o) == os.path.normpath(target) for o in result.outputs):
            raise self.fail(f"another sink already writes {value!r}", *where)
        result.outputs.append(target)
        return os.fspath(target)

    def connect(self, graph: Graph, name: str, spec: Any, nodes: dict[str, Any]) -> None:
        where = ("nodes", name, "input")
        if isinstance(spec, str):
            pairs: list[tuple[str | None, str]] = [(None, spec)]
        elif isinstance(spec, list) and spec and all(isinstance(s, str) for s in spec):
            pairs = [(None, s) for s in spec]
        elif isinstance(spec, dict) and spec:
            pairs = []
            for port, ups in spec.items():
                ups = ups if isinstance(ups, list) else [ups]
                if not ups or not all(isinstance(u, str) for u in ups):
                    raise self.fail('expected "node" or "node.port"', *where, port)
                pairs += [(port, u) for u in ups]
        else:
            raise self.fail(
                'expected "node", "node.port", an array of those, or a table port = "node"',
                *where,
            )
        for port, up in pairs:
            node, _, up_port = up.partition(".")
            if node not in nodes:
                raise self.fail(
                    f"no node named {node!r}{_suggest(node, list(nodes))}", *where,
                    *((port,) if port else ()),
                )  # fmt: skip
            if node == name:
                raise self.fail("a node cannot feed itself", *where)
            self.refs.append((name, node, up_port))
            src = graph[node][up_port] if up_port else graph[node]
            dst = graph[name][port] if port else graph[name]
            try:
                graph.connect(src, dst)
            except GraphError as exc:
                raise self.fail(str(exc), *where, *((port,) if port else ())) from None

    def validate(self, graph: Graph, nodes: dict[str, Any]) -> dict[str, dict[str, Any]]:
        try:
            return graph.validate().out_specs
        except (GraphError, ParameterError) as exc:
            # Point at the input line of the node that asked for a missing port, else
            # of the last node the message names.
            m = re.search(r"'([^']+)' has no output '([^']+)'", str(exc))
            blamed = [c for c, up, port in self.refs if m and (up, port) == m.groups()]
            named = [n for n in nodes if f"'{n}'" in str(exc)]
            consumers = blamed or [n for n in named if "input" in nodes[n]]
            key = ("nodes", consumers[-1], "input") if consumers else ()
            if isinstance(exc, OutputPathError):
                # An output path problem is at the path of the (last) sink it names.
                writers = [n for n in named if "path" in nodes[n] and "input" in nodes[n]]
                key = ("nodes", writers[-1], "path") if writers else key
            raise self.fail(str(exc), *key) from None


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _deepest(data: Any, limit: int) -> tuple[str, ...] | None:
    """The key of the first value nested more than ``limit`` levels, else None.

    Iterative, so no nesting depth can exhaust the interpreter's stack.
    """
    todo: list[tuple[Any, tuple[str, ...], int]] = [(data, (), 0)]
    while todo:
        value, key, depth = todo.pop()
        if depth > limit:
            return key[: limit + 1]
        if isinstance(value, dict):
            todo.extend((v, (*key, str(k)), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((v, key, depth + 1) for v in value)
    return None


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_graph(
    path: str | os.PathLike[str] | None = None,
    *,
    text: str | None = None,
    params: Mapping[str, str] | None = None,
    out_dir: str | os.PathLike[str] = ".",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> GraphFile:
    """Build the graph a TOML file (or ``text``) describes (module docs for the format).

    Args:
        path: the graph file.
        text: the file's content instead of ``path``.
        params: values for ``${name}`` placeholders, over the file's ``[params]``.
        out_dir: folder the sinks' relative output paths are resolved in (created).
        overrides: node name -> keyword arguments given as Python objects (e.g. a
            shared embedding model), applied over the file's.

    Raises:
        GraphFileError: the file is not valid TOML, names an unknown type, node, port
            or parameter, gives a value of the wrong kind or out of range, or builds a
            graph that does not validate; the message starts with ``file:line: key:``.
    """
    if (path is None) == (text is None):
        raise ParameterError("load_graph: give a path or text, not both")
    file: Path | None = None
    if path is not None:
        file = Path(path)
        try:
            with open(file, "rb") as fh:
                raw = fh.read(MAX_GRAPH_FILE_BYTES + 1)
            if len(raw) > MAX_GRAPH_FILE_BYTES:
                raise GraphFileError(
                    f"{file}: the graph file is larger than {MAX_GRAPH_FILE_BYTES // 1024} KiB; "
                    "a graph file describes nodes, it does not carry data",
                    path=os.fspath(file), line=None, key=None,
                )  # fmt: skip
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GraphFileError(
                f"{file}: cannot read the graph file: {exc}", path=os.fspath(file), line=None,
                key=None,
            ) from None  # fmt: skip
    assert text is not None
    if len(text) > MAX_GRAPH_FILE_BYTES:
        raise GraphFileError(
            f"<graph>: the graph text is longer than {MAX_GRAPH_FILE_BYTES // 1024} KiB; "
            "a graph file describes nodes, it does not carry data",
            path="<graph>", line=None, key=None,
        )  # fmt: skip
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"cannot use {os.fspath(out)!r} as the output folder: {exc}") from None
    return _Builder(text, file, params, out, overrides).build()


def _broken(registry: NodeRegistry) -> str:
    if not registry.broken:
        return ""
    return "; node types that could not be loaded: " + "; ".join(
        f"{origin} ({why})" for origin, why in registry.broken.items()
    )


def describe_types() -> str:
    """The node types a graph file may use, with their keys, types, defaults and origin."""
    registry = node_types()
    lines: list[str] = []
    for role in ("source", "operator", "sink"):
        lines.append(f"{role}s:")
        for nt in registry.types.values():
            if nt.role != role:
                continue
            lines.append(f"  {nt.name:<18} {nt.summary}  [{registry.origins[nt.name]}]")
            try:
                known = params_of(nt)
            except ImportError as exc:  # an optional dependency is missing
                lines.append(f"      (unavailable: {exc})")
                continue
            for key, p in known.items():
                if describe_type(p.type).startswith("(not settable"):
                    continue
                default = "required" if is_required(p) else f"default {_toml_default(p.default)}"
                lines.append(f"      {key:<22} {describe_type(p.type):<28} {default}")
            for key, what in nt.extra.items():
                lines.append(f"      {key:<22} {what}")
    for origin, why in registry.broken.items():
        lines.append(f"not loaded: {origin}: {why}")
    return "\n".join(lines)


def _toml_default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
