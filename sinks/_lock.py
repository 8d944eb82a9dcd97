"""One writer per output file: every file sink opens its output through
:func:`open_locked`, which takes an exclusive ``flock`` on the file *before* it
truncates it, so a second process (or a second sink in this one) that tries to write
the same file gets a clear error naming it, and the first writer's file is left
untouched.

Only regular files are locked and truncated: a FIFO, a terminal, ``/dev/null`` or
``/dev/stdout`` may well be shared by several writers on purpose.

``flock`` locks are advisory: they stop every mediastream process (and tools that
lock, such as ``flock(1)``), not a program that writes without asking.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path

from stream import EncodeError

__all__ = ["open_locked"]


def open_locked(path: Path, owner: str, *, append: bool = False) -> int:
    """Open ``path`` for writing and return the file descriptor.

    A regular file is created if needed, locked (``LOCK_EX | LOCK_NB``) and only then
    truncated (unless ``append``); the lock lasts until the descriptor is closed.

    Raises:
        EncodeError: the file cannot be opened, or another writer holds its lock (the
            message names the path and says that another process is writing it).
    """
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = True  # created here
    # A regular file is opened for reading too (a header is patched after a failure);
    # a FIFO or device write-only, as a shell redirection opens it.
    flags = (os.O_RDWR if regular else os.O_WRONLY) | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    if append:
        flags |= os.O_APPEND
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        raise EncodeError(f"{owner}: cannot open {str(path)!r} for writing: {exc}") from exc
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise EncodeError(
                        f"{owner}: cannot write {str(path)!r}: another process is writing "
                        "it (it holds a lock on the file); the file was left as it is"
                    ) from exc
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise EncodeError(f"{owner}: cannot lock {str(path)!r}: {exc}") from exc
                # A file system without locks (some network mounts): write unlocked.
            if not append:
                os.ftruncate(fd, 0)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.close(fd)
        if isinstance(exc, OSError) and not isinstance(exc, EncodeError):
            raise EncodeError(f"{owner}: cannot open {str(path)!r} for writing: {exc}") from exc
        raise
    return fd
