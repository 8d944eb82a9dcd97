"""How TOML values become the keyword arguments of a node type's class.

Node types come from the registry (:mod:`mediastream.graphfile.registry`); a class is
imported only when a file names its type, and nothing in a graph file is ever evaluated
or imported by name. Keyword arguments
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
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from stream import NodeType

__all__ = [
    "BadValue",
    "ParamText",
    "Param",
    "convert",
    "describe_type",
    "is_required",
    "params_of",
]

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
