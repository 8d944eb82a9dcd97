"""Text outputs shared by the text sinks (:mod:`sinks.jsonl`, :mod:`sinks.csv`,
:mod:`sinks.rttm`): a path or an open file written one whole line at a time, and the
``kinds`` filter of event sinks.

A line is written with one ``write`` call and flushed to the operating system at once
(no ``fsync``), and a write that fails part way is cut back, so a file ends with its
last complete line even if the process is killed or the disk fills up; a reader
that follows the file (``tail -f``) sees whole lines only.  A path is locked
(:mod:`sinks._lock`) before it is truncated: a second process writing the same file
fails naming it instead of mixing its lines in.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, TypeAlias, cast

from stream import EncodeError, EventSpec, IncompatibleInputError, ParameterError, StreamSpec

from ._lock import open_locked

__all__ = ["PathOrFile", "TextOutput", "check_kinds", "kinds_filter"]

PathOrFile: TypeAlias = "str | os.PathLike[str] | IO[str]"
"""A path (``str``/``os.PathLike``) or an open text file object."""


def kinds_filter(kinds: Iterable[str] | None, owner: str) -> frozenset[str] | None:
    """Validate a ``kinds`` parameter: ``None`` (every kind) or a non-empty set of names."""
    if kinds is None:
        return None
    if isinstance(kinds, str):
        raise ParameterError(
            f"{owner}: kinds must be a collection of event kinds, e.g. [{kinds!r}], "
            f"got the string {kinds!r}"
        )
    try:
        chosen = frozenset(kinds)
    except TypeError:
        raise ParameterError(
            f"{owner}: kinds must be an iterable of str, got {type(kinds).__name__}"
        ) from None
    bad = [k for k in chosen if not isinstance(k, str) or not k]
    if bad:
        raise ParameterError(f"{owner}: kinds must be non-empty strings, got {bad!r}")
    if not chosen:
        raise ParameterError(
            f"{owner}: kinds is empty, so nothing would be written; use None for every kind"
        )
    return chosen


def check_kinds(owner: str, kinds: frozenset[str] | None, inputs: Mapping[str, StreamSpec]) -> None:
    """configure(): events only, and a kinds filter that can match what arrives."""
    for spec in inputs.values():
        if not isinstance(spec, EventSpec):
            raise IncompatibleInputError(f"{owner} accepts events, got {spec}")
        if kinds is not None and spec.kinds is not None and not kinds & spec.kinds:
            raise IncompatibleInputError(
                f"{owner} keeps only kinds {sorted(kinds)} but its input carries {spec}: "
                "it would write nothing"
            )


class _WholeWrites(io.TextIOBase):
    """A UTF-8 text file written straight to the OS, one ``write`` call per string.

    A write that fails part way (the disk filled up) is cut back, so the file always
    ends with the last complete line or row; nothing is buffered, so ``flush`` has
    nothing to do and ``close`` cannot fail on pending data.  Unseekable outputs
    (a pipe, FIFO, terminal, ``/dev/stdout`` on one of those) are written the same way,
    but a partial write there cannot be taken back.
    """

    def __init__(self, path: Path, append: bool, owner: str) -> None:
        # Locked before it is truncated: a second writer fails and leaves it alone.
        fd = open_locked(path, owner, append=append)
        self._raw = open(fd, "ab" if append else "wb", buffering=0)  # noqa: SIM115
        try:
            # None: unseekable, nothing to cut back to.
            self._size: int | None = (
                self._raw.seek(0, os.SEEK_END) if self._raw.seekable() else None
            )
        except BaseException:
            self._raw.close()
            raise
        self._name = str(path)

    @property
    def name(self) -> str:
        return self._name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = memoryview(text.encode("utf-8"))
        done = 0
        try:
            while done < len(data):
                done += self._raw.write(data[done:]) or 0
        except OSError:
            if done and self._size is not None:  # cut the partial write back off
                with contextlib.suppress(OSError):
                    self._raw.truncate(self._size)
                    self._raw.seek(self._size)
            raise
        if self._size is not None:
            self._size += len(data)
        return len(text)

    def close(self) -> None:
        self._raw.close()
        super().close()


class TextOutput:
    """A text file given as a path (opened, created, closed here) or as an open file.

    A file object given by the caller is flushed but never closed.  Errors name the
    file and raise :class:`stream.EncodeError`.
    """

    def __init__(self, target: PathOrFile, owner: str, *, append: bool = False) -> None:
        self.owner = owner
        self.append = append
        self.path: Path | None = None
        self._given: IO[str] | None = None
        self.file: IO[str] | None = None
        if isinstance(target, str) and target in ("-", "pipe:1"):
            # Standard output: written where it stands (never reopened, so a shell's
            # `>>` keeps appending); `path` says "-" for the output-path checks.
            if append:
                raise ParameterError(f"{owner}: append=True applies to files, not to '-'")
            self._given = sys.stdout
            self.path = Path("-")
            self.name = "<stdout>"
        elif isinstance(target, (str, os.PathLike)):
            path = Path(target)
            if not str(target):
                raise ParameterError(f"{owner}: path_or_file is an empty path")
            if path.is_dir():
                raise ParameterError(f"{owner}: path_or_file {str(path)!r} is a directory")
            self.path = path
            self.name = str(path)
        elif callable(getattr(target, "write", None)):
            if isinstance(target, (io.RawIOBase, io.BufferedIOBase)) or "b" in str(
                getattr(target, "mode", "")
            ):
                raise ParameterError(
                    f"{owner}: path_or_file must be a text file (opened with 'w'), "
                    f"got a binary file {target!r}"
                )
            if append:
                raise ParameterError(
                    f"{owner}: append=True applies to paths; a file object is written "
                    "where it stands"
                )
            self._given = target
            self.name = str(getattr(target, "name", None) or repr(target))
        else:
            raise ParameterError(
                f"{owner}: path_or_file must be a path (str or os.PathLike) or an open "
                f"text file, got {type(target).__name__}"
            )

    def open(self) -> IO[str]:
        """Open (paths: create parent directories; truncate unless appending)."""
        if self.file is not None:
            return self.file
        if self._given is not None:
            self.file = self._given
            return self.file
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # No newline translation: lines end with "\n" (or what csv writes).
            self.file = cast(IO[str], _WholeWrites(self.path, self.append, self.owner))
        except EncodeError:
            raise
        except OSError as exc:
            raise EncodeError(
                f"{self.owner}: cannot open {self.name!r} for writing: {exc}"
            ) from exc
        return self.file

    def write(self, text: str) -> None:
        """Write ``text`` with one ``write`` call and flush it to the OS.

        Text the file's encoding cannot hold (a lone surrogate, which no UTF-8 file
        can) is refused whole with an EncodeError: nothing of it is written.
        """
        f = self.file
        if f is None:
            raise ValueError(
                f"{self.owner}: {self.name!r} is not open (write before open() or after close())"
            )
        try:
            f.write(text)
            f.flush()
        except UnicodeEncodeError as exc:
            raise self.unencodable(exc) from exc
        except OSError as exc:
            raise EncodeError(f"{self.owner}: writing {self.name!r} failed: {exc}") from exc

    def unencodable(self, exc: UnicodeEncodeError) -> EncodeError:
        """The error for text the file's encoding cannot hold, naming the character."""
        bad = exc.object[exc.start : exc.end]
        encoding = "UTF-8" if exc.encoding.replace("-", "").lower() == "utf8" else exc.encoding
        surrogate = bool(bad) and 0xD800 <= ord(bad[0]) <= 0xDFFF
        return EncodeError(
            f"{self.owner}: cannot write to {self.name!r}: {bad!r} (character {exc.start} "
            f"of the line) cannot be encoded in {encoding}"
            + (" (a lone surrogate)" if surrogate else "")
        )

    def close(self, error: BaseException | None) -> None:
        """Flush; close it if this object opened it.  Idempotent.

        After a failure (``error`` set) a further error here is attached to ``error``
        as a note instead of being raised, so the first error stays the one reported.
        """
        f, self.file = self.file, None
        if f is None:
            return
        try:
            if f is self._given:
                if not f.closed:
                    f.flush()
            else:
                f.close()
        except (OSError, ValueError) as exc:
            if error is not None:
                error.add_note(f"{self.owner}: closing {self.name!r} also failed: {exc}")
                return
            raise EncodeError(f"{self.owner}: closing {self.name!r} failed: {exc}") from exc
