"""The ``mediastream`` command line.

Exit codes: 0 success, 1 a processing error (the message names the node or file and
the stream position), 2 bad usage (a bad parameter, a malformed graph file), 130
interrupted (Ctrl-C), 143 terminated (SIGTERM, handled like Ctrl-C). Outputs written
before a failure stay valid. Each command lives in its own module of
:mod:`mediastream.commands`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import signal
import sys
import warnings
from collections.abc import Sequence
from types import FrameType
from typing import Any

from mediastream.graphfile import GraphFileError
from stream import MediaStreamError, ParameterError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from mediastream import __version__
    from mediastream.commands import add_parsers

    parser = argparse.ArgumentParser(
        prog="mediastream",
        description="Streaming media processing: decode in chunks, run stateful operators, "
        "emit results the moment they exist.",
    )
    parser.add_argument("--version", action="version", version=f"mediastream {__version__}")
    add_parsers(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


# Options that name an output file, and the names that mean standard output.
OUTPUT_OPTIONS = ("output", "jsonl", "csv", "rttm", "meter_jsonl")
STDOUT_NAMES = ("-", "pipe:1", "/dev/stdout")


def _one_line_warning(command: str) -> Any:
    """Warnings (damaged input skipped, ...) as one line on stderr, not Python's
    four-line form with the source line."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        print(f"mediastream {command}: warning: {message}", file=file or sys.stderr)

    return show


def _errno_in_chain(exc: BaseException, code: int) -> bool:
    """Whether ``exc`` or an exception it was raised from is an OSError with ``code``."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno == code:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _broken_pipe(exc: BaseException) -> bool:
    """Whether ``exc`` comes from writing to a pipe whose reader went away."""
    return _errno_in_chain(exc, errno.EPIPE)


def _interrupted_call(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a system call a signal interrupted (EINTR)."""
    return _errno_in_chain(exc, errno.EINTR) or "Interrupted system call" in str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mediastream`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if hasattr(args, "quiet") and any(
        getattr(args, name, None) in STDOUT_NAMES for name in OUTPUT_OPTIONS
    ):
        # Standard output carries the data: nothing else may be printed there.
        args.quiet = True
    terminated = False
    previous_show = warnings.showwarning
    warnings.showwarning = _one_line_warning(args.command)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # SIGTERM (kill, systemd, docker stop) unwinds exactly like Ctrl-C: whatever
        # handles SIGINT now (asyncio's or trio's runner, or Python's default that
        # raises KeyboardInterrupt) takes it, so every sink closes and devices stop.
        nonlocal terminated
        terminated = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous: Any = None
    with contextlib.suppress(ValueError):  # not the main thread: leave SIGTERM alone
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        code: int = args.func(args)
        return code
    except (ParameterError, GraphFileError) as exc:
        print(f"mediastream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MediaStreamError as exc:
        if _broken_pipe(exc):  # `mediastream dynamics x - | head -c 100`: like SIGPIPE
            return 0
        if not _interrupted_call(exc):
            print(f"mediastream {args.command}: error: {exc}", file=sys.stderr)
            return 1
        # Ctrl-C while blocked in the decoder (opening a FIFO no one writes): FFmpeg
        # reports EINTR before Python sees the signal. It is an interruption.
        print(f"mediastream {args.command}: interrupted ({exc})", file=sys.stderr)
        return 143 if terminated else 130
    except KeyboardInterrupt:
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        print(
            f"mediastream {args.command}: {what}; outputs written so far are closed and valid",
            file=sys.stderr,
        )
        return 143 if terminated else 130
    except BrokenPipeError:  # e.g. `mediastream meter x | head`
        return 0
    finally:
        warnings.showwarning = previous_show
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
