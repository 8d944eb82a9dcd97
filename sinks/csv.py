"""CsvSink: one row per event, flushed as produced.

Columns, in order: ``kind``, ``start``, ``end`` (exact source units), ``time_base``
(seconds per unit, a fraction string such as ``1/48000``), ``start_s``, ``end_s``
(seconds, rounded to 1 ns), then one column per payload field, then ``extra``.

Payload columns are the ``columns`` given, or else the fields of the first event's
payload (dataclass fields in declaration order, or mapping keys in insertion order).
Strings and numbers are written as they are, ``None`` as an empty cell, booleans as
``true``/``false`` and nested values (tuples, lists, mappings, dataclasses) as JSON.
As in JSON Lines (:meth:`stream.Event.to_json`), NaN becomes an empty cell (JSON
``null``) and infinities ``inf``/``-inf``.
A later event's payload fields that are not in the header go, as one JSON object, in
the final ``extra`` column (empty when there are none); header fields a payload
lacks are left empty.

A row that cannot be read back is refused with an EncodeError and nothing of it is
written: a cell longer than 131072 characters (:data:`FIELD_LIMIT`; Python's ``csv``
reader refuses longer fields), or text UTF-8 cannot hold (a lone surrogate).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stream import EncodeError, Event, Item, ParameterError, Sink, StreamSpec

from ._text import PathOrFile, TextOutput, check_kinds, kinds_filter

__all__ = ["CsvSink"]

BASE_COLUMNS: tuple[str, ...] = ("kind", "start", "end", "time_base", "start_s", "end_s")
"""The columns every row starts with."""

EXTRA_COLUMN = "extra"
"""The last column: payload fields not in the header, as a JSON object."""

FIELD_LIMIT = 131072
"""The longest cell written, in characters: Python's ``csv`` module refuses longer
fields by default (``csv.field_size_limit()``), so a row holding one is refused."""


def _payload_fields(payload: Any) -> dict[str, Any]:
    """A JSON-compatible payload as a field -> value dict (``{"value": x}`` for scalars)."""
    if payload is None:
        return {}
    if isinstance(payload, dict):
        return payload
    return {"value": payload}


def _cell(value: Any) -> str | int | float:
    """One CSV cell from a JSON-compatible value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return value
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class CsvSink(Sink):
    """Writes every event as one CSV row (``csv`` module, excel dialect), flushed per row.

    Args:
        path_or_file: a path (``str`` or ``os.PathLike``; parent directories are
            created, an existing file is truncated) or an open text file (opened with
            ``newline=""``), flushed after every row but never closed here; ``"-"``:
            standard output.
        columns: payload field names, in order, one column each (default ``None``:
            the fields of the first event's payload).
        kinds: event kinds to keep (default ``None``: every kind).

    Attributes:
        header: the header row, known once the first event arrived (or at ``open()``
            when ``columns`` is given).
        rows_written: data rows written since ``open()`` (the header not counted).

    The header is ``kind, start, end, time_base, start_s, end_s``, the payload
    columns, then ``extra``. A payload field whose name clashes with a fixed column (or
    with a name given that way to an earlier field) is headed ``payload.<name>``, so
    header names are unique. Writing failures raise :class:`stream.EncodeError`
    naming the file; so does text that UTF-8 cannot hold (a lone surrogate), and the
    event is then not written at all.
    """

    accepts = frozenset({"events"})

    def __init__(
        self,
        path_or_file: PathOrFile,
        *,
        columns: Sequence[str] | None = None,
        kinds: Iterable[str] | None = None,
    ) -> None:
        self._out = TextOutput(path_or_file, "CsvSink")
        self.kinds = kinds_filter(kinds, "CsvSink")
        self.columns: tuple[str, ...] | None = None
        if columns is not None:
            if isinstance(columns, str):
                raise ParameterError(
                    f"CsvSink: columns must be a sequence of payload field names, "
                    f"e.g. [{columns!r}], got the string {columns!r}"
                )
            cols = tuple(columns)
            bad = [c for c in cols if not isinstance(c, str) or not c]
            if bad:
                raise ParameterError(f"CsvSink: columns must be non-empty strings, got {bad!r}")
            dupes = sorted({c for c in cols if cols.count(c) > 1})
            if dupes:
                raise ParameterError(f"CsvSink: columns {dupes} appear more than once")
            self.columns = cols
        self._fields: tuple[str, ...] | None = self.columns
        self.header: tuple[str, ...] | None = None
        self.rows_written = 0
        self._writer: Any = None

    @property
    def path(self) -> Path | None:
        """The output path, or None when writing to a file object."""
        return self._out.path

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        """Accept events; reject a ``kinds`` filter that matches none of the input's kinds."""
        check_kinds("CsvSink", self.kinds, inputs)

    def open(self) -> None:
        """Open (or create) the output; with ``columns`` given, write the header now."""
        f = self._out.open()
        self._writer = csv.writer(f)
        self._fields = self.columns
        self.header = None
        self.rows_written = 0
        if self._fields is not None:
            self._write_header(self._fields)

    def _write_header(self, fields: tuple[str, ...]) -> None:
        used = {*BASE_COLUMNS, EXTRA_COLUMN}
        named = []
        for field in fields:
            name = field
            while name in used:  # "kind" -> "payload.kind" -> "payload.payload.kind"...
                name = f"payload.{name}"
            used.add(name)
            named.append(name)
        header = (*BASE_COLUMNS, *named, EXTRA_COLUMN)
        self._write_row(header)
        self.header = header

    def _write_row(self, row: Sequence[str | int | float]) -> None:
        if self._writer is None:
            raise ValueError(
                f"CsvSink: {self._out.name!r} is not open (write before open() or after close())"
            )
        for i, cell in enumerate(row):
            if isinstance(cell, str) and len(cell) > FIELD_LIMIT:
                column = self.header[i] if self.header is not None else f"header cell {i}"
                raise EncodeError(
                    f"CsvSink: cannot write to {self._out.name!r}: column {column!r} would "
                    f"hold {len(cell)} characters, more than CSV readers take by default "
                    f"({FIELD_LIMIT}, Python's csv module); JsonLinesSink has no such limit"
                )
        try:
            # csv.writer hands the whole row to one file.write() call.
            self._writer.writerow(row)
            f = self._out.file
            assert f is not None
            f.flush()
        except UnicodeEncodeError as exc:  # nothing of the row was written
            raise self._out.unencodable(exc) from exc
        except OSError as exc:
            raise EncodeError(f"CsvSink: writing {self._out.name!r} failed: {exc}") from exc

    def write(self, item: Item) -> None:
        """Write ``item`` as one row if it is an event of a kind that is kept."""
        if not isinstance(item, Event):
            raise TypeError(f"CsvSink takes events, got {type(item).__name__}")
        if self.kinds is not None and item.kind not in self.kinds:
            return
        d = item.to_dict()
        payload = _payload_fields(d["payload"])
        if self._fields is None:
            self._write_header(tuple(payload))  # a refused header leaves it for the next event
            self._fields = tuple(payload)
        extra = {k: v for k, v in payload.items() if k not in self._fields}
        try:
            row = [
                d["kind"],
                d["start"],
                d["end"],
                d["time_base"],
                d["start_s"],
                d["end_s"],
                *(_cell(payload.get(f)) for f in self._fields),
                json.dumps(extra, separators=(",", ":"), allow_nan=False) if extra else "",
            ]
        except (TypeError, ValueError) as exc:
            raise EncodeError(
                f"CsvSink: cannot write event {item.kind!r} to {self._out.name!r}: "
                f"its payload is not JSON-serialisable: {exc}"
            ) from exc
        self._write_row(row)
        self.rows_written += 1

    def close(self, error: BaseException | None = None) -> None:
        """Write the header if no event came (so the file is a valid CSV), flush, close.

        A caller's file object is only flushed. Idempotent.
        """
        if self._writer is not None and self.header is None:
            try:
                self._write_header(self._fields or ())
            except EncodeError as exc:
                if error is None:
                    self._out.close(error)
                    raise
                error.add_note(str(exc))
        self._writer = None
        self._out.close(error)
