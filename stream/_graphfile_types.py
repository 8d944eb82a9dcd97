"""The node types a graph file may name, and how TOML values become their arguments.

Each type maps to one class the project ships (imported lazily, only when a file names
it); nothing in a graph file is ever evaluated or imported by name. Keyword arguments
are checked against the class's own type hints: TOML integers and floats for
``float``, integers for ``int``, booleans, strings, ``Literal`` choices, arrays for
sequences and tuples, tables for mappings and for dataclasses such as
:class:`~stream.AudioFormat`. The classes then check ranges themselves.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import os
import tomllib
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "NODE_TYPES",
    "BadValue",
    "ParamText",
    "NodeType",
    "Param",
    "convert",
    "describe_type",
    "is_required",
    "params_of",
]

Role = Literal["source", "operator", "sink"]


class BadValue(Exception):
    """A TOML value does not fit a parameter; the message says what was expected.

    ``shape`` is True when the value is of the wrong kind altogether (a string for a
    number), False when it is of the right kind but refused (out of range, unknown
    field); ``path`` names the keys inside an inline table where it went wrong.
    """

    def __init__(self, message: str, *, shape: bool = True, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.shape = shape
        self.path = path


@dataclass(frozen=True)
class NodeType:
    """A node type a graph file may name.

    Attributes:
        name: the ``type = "..."`` value.
        role: source, operator or sink.
        target: ``"module:Class"`` of the class built (a fixed string, never from a file).
        summary: one line for ``mediastream run --types``.
        renames: graph-file key -> constructor argument (``path`` -> ``path_or_file``).
        output_paths: keys whose values are output files, resolved inside the output
            folder.
        hidden: constructor arguments a graph file may not set (Python objects).
        extra: keys handled by the type's builder rather than the constructor.
    """

    name: str
    role: Role
    target: str
    summary: str
    renames: Mapping[str, str] = field(default_factory=dict)
    output_paths: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)

    def cls(self) -> type[Any]:
        module, _, attr = self.target.partition(":")
        obj: type[Any] = getattr(importlib.import_module(module), attr)
        return obj


_SINK_PATH = {"path": "path_or_file"}

NODE_TYPES: dict[str, NodeType] = {
    t.name: t
    for t in (
        NodeType("file", "source", "stream.sources.file:FileSource",
                 "decode a media file or URL (PyAV): ports 'audio', 'video'"),
        NodeType("device", "source", "stream.sources.device:DeviceSource",
                 "record from an audio input device (PortAudio): port 'audio'"),
        NodeType("gain", "operator", "operators.gain:Gain", "a fixed gain in dB"),
        NodeType("level_meter", "operator", "operators.meters.level:LevelMeter",
                 "peak/RMS level events (dBFS) per window"),
        NodeType("envelope_follower", "operator", "operators.dynamics.envelope:EnvelopeFollower",
                 "the signal's envelope (attack/release ms) as audio"),
        NodeType("compressor", "operator", "operators.dynamics.compressor:Compressor",
                 "feed-forward compressor (threshold dB, ratio, knee, attack/release ms)"),
        NodeType("limiter", "operator", "operators.dynamics.limiter:Limiter",
                 "lookahead brick-wall limiter (ceiling dB, lookahead/release ms)"),
        NodeType("gate", "operator", "operators.dynamics.gate:Gate",
                 "noise gate / downward expander (threshold/range dB, hold ms)"),
        NodeType("frame_stats", "operator", "operators.video.frame_stats:FrameStats",
                 "brightness, motion and scene cuts per video frame"),
        NodeType("fingerprint", "operator", "operators.video.fingerprint:Fingerprint",
                 "perceptual fingerprints (pHash, thumbnail, histogram) per frame"),
        NodeType("video_align", "operator", "operators.video.align:VideoAlign",
                 "online DTW alignment of a foreground video to its background: ports "
                 "'fg', 'bg'"),
        NodeType("diarizer", "operator", "operators.speaker.diarizer:OnlineDiarizer",
                 "online speaker diarization (segmentation-3.0 + CAM++): speaker turns",
                 renames={"model": "embedding"}, hidden=("enrolled",),
                 extra={"enrol": "table of name = reference clip path"}),
        NodeType("jsonl", "sink", "sinks.jsonl:JsonLinesSink",
                 "events as JSON Lines", renames=_SINK_PATH, output_paths=("path",)),
        NodeType("csv", "sink", "sinks.csv:CsvSink",
                 "events as CSV rows", renames=_SINK_PATH, output_paths=("path",)),
        NodeType("rttm", "sink", "sinks.rttm:RttmSink",
                 "speaker turns as RTTM", renames=_SINK_PATH, output_paths=("path",)),
        NodeType("audio_file", "sink", "sinks.audio_file:AudioFileSink",
                 "audio to a file (codec from the extension: wav, flac, opus...)",
                 output_paths=("path",)),
        NodeType("video_file", "sink", "sinks.video_file:VideoFileSink",
                 "video to a file (H.264 by default)", output_paths=("path",)),
        NodeType("audio_device", "sink", "sinks.device:DeviceSink",
                 "play audio on an output device (PortAudio)"),
        NodeType("plot", "sink", "sinks.plot:PlotSink",
                 "PNG pictures: diarization timeline, DTW cost band, gain reduction",
                 renames={"path": "out_dir"}, output_paths=("path",)),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Param:
    """One settable keyword argument: its file key, type and default."""

    key: str
    arg: str
    type: Any
    default: Any


class _AnyForUnknown(dict[str, Any]):
    """A module's names; those seen only by type checkers resolve to ``Any``."""

    def __missing__(self, key: str) -> Any:
        import builtins

        return getattr(builtins, key, Any)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    module = importlib.import_module(fn.__module__)
    names = _AnyForUnknown({**vars(module), "os": os, "Path": Path, "Fraction": Fraction})
    try:
        return typing.get_type_hints(fn, globalns={}, localns=names)
    except (TypeError, NameError):
        pass
    # One annotation at a time: those that do not resolve are not settable from a file.
    out: dict[str, Any] = {}
    for name, ann in getattr(fn, "__annotations__", {}).items():

        def one() -> None: ...

        one.__annotations__ = {name: ann}
        try:
            out[name] = typing.get_type_hints(one, globalns={}, localns=names)[name]
        except (TypeError, NameError):
            out[name] = Any
    return out


def params_of(nt: NodeType) -> dict[str, Param]:
    """The keys a graph file may set on a node of type ``nt`` (constructor order)."""
    init = nt.cls().__init__
    hints = _hints(init)
    back = {arg: key for key, arg in nt.renames.items()}
    out: dict[str, Param] = {}
    for name, p in inspect.signature(init).parameters.items():
        if name == "self" or name.startswith("_") or name in nt.hidden:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        key = back.get(name, name)
        default = p.default if p.default is not inspect.Parameter.empty else _REQUIRED
        out[key] = Param(key, name, hints.get(name, Any), default)
    return out


class _Required:
    def __repr__(self) -> str:
        return "(required)"


_REQUIRED: Any = _Required()


def is_required(p: Param) -> bool:
    """Whether a graph file must give this key."""
    return p.default is _REQUIRED


def describe_type(tp: Any) -> str:
    """A short human name of a hint: ``float``, ``"peak" | "rms"``, ``table``..."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return "(not settable from a file)"
    if origin in (typing.Union, types.UnionType):
        parts = [describe_type(a) for a in typing.get_args(tp) if a is not type(None)]
        return " | ".join(dict.fromkeys(parts))
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if tp in (float, int, bool, str):
        return str(tp.__name__)
    if tp is Fraction:
        return "number or 'a/b'"
    if origin in (tuple, list, Sequence, Collection, Iterable) or tp in (tuple, list):
        return "array"
    if origin is Mapping or dataclasses.is_dataclass(tp):
        return "table"
    if tp is Path or tp is os.PathLike or origin is os.PathLike:
        return "path"
    return getattr(tp, "__name__", str(tp))


class ParamText(str):
    """The text of a ``${name}`` parameter that filled a whole value: read as a TOML
    value (a number, a boolean) where the key does not take a string."""


def convert(value: Any, tp: Any) -> Any:
    """``value`` (parsed TOML) as the hint ``tp`` wants, or :class:`BadValue`."""
    if isinstance(value, ParamText):
        try:
            return convert(str(value), tp)
        except BadValue:
            try:
                parsed = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                raise BadValue(
                    f"expected {describe_type(tp)}, got the parameter value {str(value)!r}"
                ) from None
            return convert(parsed, tp)
    if tp is Any:
        raise BadValue("cannot be set from a graph file (it takes a Python object)")
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(tp):
            if member is type(None):
                continue
            try:
                return convert(value, member)
            except BadValue as exc:
                if not exc.shape:  # the right kind of value, refused: say why
                    raise
        raise BadValue(f"expected {describe_type(tp)}, got {_show(value)}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise BadValue(f"expected one of {', '.join(map(repr, choices))}; got {_show(value)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise BadValue(f"expected true or false, got {_show(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise BadValue(f"expected a number, got {_show(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            raise BadValue(f"expected an integer, got {_show(value)} (write it without '.0')")
        raise BadValue(f"expected an integer, got {_show(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise BadValue(f"expected a string, got {_show(value)}")
    if tp is Fraction:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return Fraction(value).limit_denominator(1_000_000)
        if isinstance(value, str):
            try:
                return Fraction(value)
            except (ValueError, ZeroDivisionError):
                pass
        raise BadValue(f"expected a number or a ratio like '30000/1001', got {_show(value)}")
    if tp is Path or tp is os.PathLike or origin is os.PathLike:
        if isinstance(value, str):
            return value
        raise BadValue(f"expected a path (string), got {_show(value)}")
    if origin is tuple or tp is tuple:
        if not isinstance(value, list):
            raise BadValue(f"expected an array, got {_show(value)}")
        args = typing.get_args(tp)
        if args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise BadValue(f"expected an array of {len(args)} values, got {len(value)}")
            return tuple(convert(v, a) for v, a in zip(value, args, strict=True))
        item = args[0] if args else Any
        return tuple(value if item is Any else convert(v, item) for v in value)
    if origin in (list, Sequence, Collection, Iterable) or tp is list:
        if not isinstance(value, list):
            raise BadValue(f"expected an array, got {_show(value)}")
        (item,) = typing.get_args(tp) or (Any,)
        return [v if item is Any else convert(v, item) for v in value]
    if origin is Mapping:
        if not isinstance(value, dict):
            raise BadValue(f"expected a table, got {_show(value)}")
        kt, vt = typing.get_args(tp) or (str, Any)
        return {convert(k, kt): v if vt is Any else convert(v, vt) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise BadValue(f"expected a table of {tp.__name__} fields, got {_show(value)}")
        hints = _hints(tp.__init__)
        fields = {f.name for f in dataclasses.fields(tp) if f.init}
        kwargs: dict[str, Any] = {}
        for k, v in value.items():
            if k not in fields:
                raise BadValue(
                    f"{tp.__name__} has no field {k!r} (it has {', '.join(sorted(fields))})",
                    shape=False,
                    path=(k,),
                )
            try:
                kwargs[k] = convert(v, hints.get(k, Any))
            except BadValue as exc:
                raise BadValue(str(exc), shape=False, path=(k, *exc.path)) from None
        try:
            return tp(**kwargs)
        except ValueError as exc:  # ParameterError: out of range
            named = [k for k in kwargs if k in str(exc)]
            raise BadValue(str(exc), shape=False, path=tuple(named[:1])) from None
    raise BadValue(f"cannot be set from a graph file (it takes a {describe_type(tp)})")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"the string {value!r}"
    return repr(value)
