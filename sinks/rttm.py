"""RttmSink: speaker turns as RTTM lines (NIST Rich Transcription Time Marked).

One ``SPEAKER <uri> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>`` line per
``"speaker_turn"`` event, times in seconds with millisecond precision, written and
flushed as each turn arrives, so the file is valid up to the last turn even if the
run is interrupted. The speaker column is the enrolled name when the turn carries one,
otherwise the diarizer's label. Other event kinds are ignored.
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

from .jsonl import PathOrFile, _TextOutput

__all__ = ["RttmSink"]


def _field(value: str, what: str) -> str:
    text = str(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"RttmSink: {what} {text!r} is empty or contains whitespace")
    return text


class RttmSink(Sink):
    """Writes ``"speaker_turn"`` events as RTTM ``SPEAKER`` lines.

    Args:
        path_or_file: a path (parent directories are created; truncated) or an open
            text file (flushed per line, never closed here).
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
        self._out = _TextOutput(path_or_file, "RttmSink")
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
