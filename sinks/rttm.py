"""RttmSink: speaker turns as RTTM lines (NIST Rich Transcription Time Marked).

One ``SPEAKER <uri> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>`` line per
``"speaker_turn"`` event, times in seconds with millisecond precision, written and
flushed as each turn arrives, so the file is valid up to the last turn even if the
run is interrupted. The speaker column is the enrolled name when the turn carries one,
otherwise the diarizer's label. Other event kinds are ignored.

A speaker (or uri) that cannot be one RTTM field is refused with a ValueError and
nothing is written for that turn: empty, containing whitespace (Unicode whitespace
too: ``str.split`` and pandas split on it), or a token that RTTM loaders read back as
a missing value (``NA``, ``<NA>``, ``nan``, ``null``...), starting with a double
quote (read as a quoted field), or holding what UTF-8 cannot encode (a lone
surrogate).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from stream import (
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    ParameterError,
    Sink,
    StreamSpec,
)

from ._text import PathOrFile, TextOutput

__all__ = ["RttmSink"]


# What pandas reads as a missing value rather than text (pyannote.database's RTTM loader
# reads with pandas.read_csv and its default NA tokens): a speaker or uri spelled so
# would not read back.
_MISSING_TOKENS = frozenset(
    ["#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)  # fmt: skip


def _field(value: str, what: str) -> str:
    """``value`` as one RTTM field, or a ValueError saying why it cannot be one."""
    text = str(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"RttmSink: {what} {text!r} is empty or contains whitespace")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"RttmSink: {what} {text!r} cannot be encoded in UTF-8 "
            f"({text[exc.start : exc.end]!r} is a lone surrogate)"
        ) from None
    if text.startswith('"'):
        raise ValueError(
            f"RttmSink: {what} {text!r} starts with a double quote, which RTTM loaders "
            "such as pyannote.database's (pandas) take for the start of a quoted field"
        )
    if text in _MISSING_TOKENS:
        raise ValueError(
            f"RttmSink: {what} {text!r} would read back as a missing value (RTTM loaders "
            "such as pyannote.database's read it with pandas, which takes it for NA)"
        )
    return text


class RttmSink(Sink):
    """Writes ``"speaker_turn"`` events as RTTM ``SPEAKER`` lines.

    Args:
        path_or_file: a path (parent directories are created; truncated) or an open
            text file (flushed per line, never closed here); ``"-"``: standard output.
        uri: the recording name in the second column (default ``"stream"``; no
            whitespace).
        use_names: write the enrolled name instead of the label when a turn has one
            (default True).

    Attributes:
        turns_written: lines written since ``open()``.
    """

    accepts = frozenset({"events"})

    def __init__(
        self, path_or_file: PathOrFile, *, uri: str = "stream", use_names: bool = True
    ) -> None:
        try:
            self.uri = _field(uri, "uri")
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
        self._out = TextOutput(path_or_file, "RttmSink")
        self.use_names = bool(use_names)
        self.turns_written = 0

    @property
    def path(self) -> Path | None:
        """The output path, or None when writing to a file object."""
        return self._out.path

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        """Accept events that may include ``"speaker_turn"``."""
        for spec in inputs.values():
            if not isinstance(spec, EventSpec):
                raise IncompatibleInputError(f"RttmSink accepts events, got {spec}")
            if spec.kinds is not None and "speaker_turn" not in spec.kinds:
                raise IncompatibleInputError(
                    f"RttmSink writes speaker_turn events but its input carries {spec}"
                )

    def open(self) -> None:
        """Open (or create) the output."""
        self._out.open()
        self.turns_written = 0

    def write(self, item: Item) -> None:
        """Write one line for a ``"speaker_turn"`` event; ignore anything else."""
        if not isinstance(item, Event):
            raise TypeError(f"RttmSink takes events, got {type(item).__name__}")
        if item.kind != "speaker_turn":
            return
        p = item.payload
        name = getattr(p, "name", None) if self.use_names else None
        speaker = _field(
            str(name or getattr(p, "speaker", "")), f"speaker of the turn at {item.start_s:.3f} s"
        )
        onset = float(item.start_time)
        duration = float(item.end_time - item.start_time)
        line = f"SPEAKER {self.uri} 1 {onset:.3f} {duration:.3f} <NA> <NA> {speaker} <NA> <NA>\n"
        self._out.write(line)
        self.turns_written += 1

    def close(self, error: BaseException | None = None) -> None:
        """Flush and close the file (a caller's file object is only flushed); idempotent."""
        self._out.close(error)
