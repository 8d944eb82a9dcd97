"""JsonLinesSink: one JSON object per event, one event per line, flushed as produced.

Each line is :meth:`stream.Event.to_json`: ``kind``, ``start``/``end`` in exact source
units, ``time_base`` (a fraction string such as ``"1/48000"``), ``start_s``/``end_s``
(seconds, rounded to 1 ns) and the ``payload``.  A line is written with one ``write``
call and flushed to the operating system at once (no ``fsync``), so the file is valid
JSON Lines up to the last event even if the process is killed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from stream import EncodeError, Event, Item, Sink, StreamSpec

from ._text import PathOrFile, TextOutput, check_kinds, kinds_filter

__all__ = ["JsonLinesSink"]


class JsonLinesSink(Sink):
    """Writes every event as one JSON line (``event.to_json() + "\\n"``), flushed at once.

    Args:
        path_or_file: a path (``str`` or ``os.PathLike``; parent directories are
            created, the file is truncated unless ``append``) or an open text file,
            which is flushed after every line but never closed here; ``"-"``:
            standard output.
        kinds: event kinds to keep (default ``None``: every kind).
        append: add to an existing file instead of truncating it (default False;
            paths only).

    Attributes:
        lines_written: lines written since ``open()`` (events that passed the filter).

    Each line holds exact units (``start``, ``end``), the ``time_base`` as a fraction
    string, ``start_s``/``end_s`` in seconds (rounded to 1 ns) and the payload.
    Writing failures raise :class:`stream.EncodeError` naming the file.
    """

    accepts = frozenset({"events"})

    def __init__(
        self,
        path_or_file: PathOrFile,
        *,
        kinds: Iterable[str] | None = None,
        append: bool = False,
    ) -> None:
        self._out = TextOutput(path_or_file, "JsonLinesSink", append=append)
        self.kinds = kinds_filter(kinds, "JsonLinesSink")
        self.lines_written = 0

    @property
    def path(self) -> Path | None:
        """The output path, or None when writing to a file object."""
        return self._out.path

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        """Accept events; reject a ``kinds`` filter that matches none of the input's kinds."""
        check_kinds("JsonLinesSink", self.kinds, inputs)

    def open(self) -> None:
        """Open (or create) the output; resets ``lines_written``."""
        self._out.open()
        self.lines_written = 0

    def write(self, item: Item) -> None:
        """Write ``item`` as one line if it is an event of a kind that is kept."""
        if not isinstance(item, Event):
            raise TypeError(f"JsonLinesSink takes events, got {type(item).__name__}")
        if self.kinds is not None and item.kind not in self.kinds:
            return
        try:
            line = item.to_json() + "\n"
        except (TypeError, ValueError) as exc:
            raise EncodeError(
                f"JsonLinesSink: cannot write event {item.kind!r} to {self._out.name!r}: "
                f"its payload is not JSON-serialisable: {exc}"
            ) from exc
        self._out.write(line)
        self.lines_written += 1

    def close(self, error: BaseException | None = None) -> None:
        """Flush and close the file (a caller's file object is only flushed); idempotent."""
        self._out.close(error)
