"""The output file of the media sinks as FFmpeg writes it through PyAV.

FFmpeg's own file protocol buffers its writes and drops the error of a write that
fails in the background (``/dev/full`` took a whole FLAC without one error); written
through this Python object, every failed write raises in Python and reaches the sink.
It is unbuffered (a seek never has to flush a write that then fails where PyAV cannot
report it) and writes whole buffers (a short write is retried; a failure raises).

The file is opened by :func:`sinks._lock.open_locked` (one writer per file); ``"-"``
is the standard output (a duplicate of descriptor 1, never locked or truncated).
"""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path
from typing import Any

from ._lock import open_locked

__all__ = ["STDOUT", "RawFile"]

STDOUT = "-"
"""The path that means the standard output."""


class RawFile(io.RawIOBase):
    """An output file for PyAV: unbuffered, whole writes, seekable only when the
    file is (a pipe or a terminal is not: WAV then gets a streamable header).
    ``regular``: a regular file, the only kind a sink reads back or patches."""

    def __init__(self, path: Path, owner: str, name: str | None = None) -> None:
        if str(path) == STDOUT:
            sys.stdout.flush()
            fd = os.dup(sys.stdout.fileno())
        else:
            fd = open_locked(path, owner)
        self._fd = fd
        self.name = name or str(path)  # lets FFmpeg guess the muxer from the extension
        self.regular = stat.S_ISREG(os.fstat(fd).st_mode)  # may be read back, patched
        try:  # a pipe, FIFO, socket or terminal cannot seek; /dev/null "can"
            os.lseek(fd, 0, os.SEEK_CUR)
            self._seekable = True
        except OSError:
            self._seekable = False

    def fileno(self) -> int:
        return self._fd

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += os.write(self._fd, view[done:])
        return done

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation(f"{self.name} is not seekable")
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def close(self) -> None:
        if not self.closed:
            fd, self._fd = self._fd, -1
            try:
                os.close(fd)
            finally:
                super().close()
