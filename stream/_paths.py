"""Output paths checked against inputs and against each other, before anything is written.

One check that every entry point uses: :meth:`stream.Graph.validate` runs it over the
graph's file sources and file sinks, and the commands run it over the outputs they
write outside the graph, before they load models or open anything for writing.

Files are compared by identity, not by spelling: an existing file by device and inode
(so ``./in/../x.wav``, a symlink and a hard link all count as the same file), a file
that does not exist yet by its fully resolved path. ``-`` and ``pipe:`` names are the
standard streams (``-`` read is stdin, ``-`` written is stdout). Character devices
(``/dev/null``) are never a conflict: writing two outputs to ``/dev/null`` is a way to
discard both.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from ._exceptions import ParameterError

__all__ = ["OutputPathError", "check_output_paths", "file_key"]

PathLike = str | os.PathLike[str]

_STDIN = ("-", "pipe:", "pipe:0", "/dev/stdin")
_STDOUT = ("-", "pipe:", "pipe:1", "/dev/stdout")


class OutputPathError(ParameterError):
    """An output would overwrite an input, or two outputs would write one file.

    Raised before anything is opened for writing, so the input is untouched.
    """


def file_key(path: PathLike, *, output: bool) -> tuple[object, ...] | None:
    """What identifies ``path``: equal keys are one file; None: never a conflict.

    Args:
        path: a file path, ``-``/``pipe:N`` (standard streams) or a URL.
        output: True for a path about to be written (``-`` is stdout), False for one
            read (``-`` is stdin).
    """
    text = os.fspath(path)
    if text in (_STDOUT if output else _STDIN):
        return ("stdout",) if output else ("stdin",)
    if text.startswith("pipe:"):
        return ("pipe", text)
    if "://" in text:
        return ("url", text)
    try:
        st = os.stat(text)  # follows symlinks: a link and its target are one file
    except OSError:
        # Not there yet (or unreadable): its resolved spelling is its identity.
        return ("new", os.path.realpath(text))
    if stat.S_ISCHR(st.st_mode):
        return None
    return ("file", st.st_dev, st.st_ino)


def check_output_paths(
    inputs: Iterable[tuple[str, PathLike]], outputs: Iterable[tuple[str, PathLike]]
) -> None:
    """Refuse an output that is an input, or two outputs that are one file.

    Args:
        inputs: ``(who, path)`` for every file read, ``who`` naming its reader
            (``"source 'in'"``, ``"the input"``).
        outputs: ``(who, path)`` for every file written.

    Raises:
        OutputPathError: naming both parties and the path as given.
    """
    read: dict[tuple[object, ...], tuple[str, str]] = {}
    for who, path in inputs:
        key = file_key(path, output=False)
        if key is not None:
            read.setdefault(key, (who, os.fspath(path)))
    written: dict[tuple[object, ...], tuple[str, str]] = {}
    for who, path in outputs:
        text = os.fspath(path)
        key = file_key(path, output=True)
        if key is None:
            continue
        if key in read:
            reader, rpath = read[key]
            same = "" if rpath == text else f" (the same file as {rpath!r})"
            raise OutputPathError(
                f"{who} would write {text!r}{same}, which is the input of {reader}: "
                "refusing to overwrite an input; choose another output path"
            )
        if key in written:
            other, opath = written[key]
            same = "" if opath == text else f" (the same file as {opath!r})"
            raise OutputPathError(
                f"{other} and {who} would both write {text!r}{same}: give each output its own path"
            )
        written[key] = (who, text)


def node_paths(
    nodes: Sequence[tuple[str, str, object]],
) -> tuple[list[tuple[str, PathLike]], list[tuple[str, PathLike]]]:
    """Inputs and outputs of graph nodes ``(name, role, obj)`` that name a file.

    A node names a file through its ``path`` attribute (file sources and file sinks);
    a sink writing to an open file object has ``path`` None.
    """
    inputs: list[tuple[str, PathLike]] = []
    outputs: list[tuple[str, PathLike]] = []
    for name, role, obj in nodes:
        path = getattr(obj, "path", None)
        if not isinstance(path, (str, Path)) or not os.fspath(path):
            continue
        if role == "source":
            inputs.append((f"source {name!r}", path))
        elif role == "sink":
            outputs.append((f"sink {name!r}", path))
    return inputs, outputs
