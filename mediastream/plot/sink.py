"""PlotSink: PNG pictures of the results, drawn when the run ends.

The sink keeps what the pictures need in compact, bounded form as events arrive
(:class:`mediastream.plot.PlotData`) and draws them in :meth:`PlotSink.close`, after a
failure or an interruption too (pictures of what was processed). matplotlib is
imported only then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from stream import (
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    ParameterError,
    Sink,
    StreamSpec,
    describe_position,
)

from ._checks import (
    DEFAULT_HEIGHT_PX,
    DEFAULT_WIDTH_PX,
    check_matplotlib,
    check_names,
    check_size,
)
from ._data import KINDS, PlotData
from ._rttm import RttmTurn, read_rttm
from ._write import write_pictures

__all__ = ["PlotSink"]

_MAX_POINTS = 20_000


class PlotSink(Sink):
    """Draws ``timeline.png``, ``alignment.png`` and ``dynamics.png`` when the run ends.

    Args:
        out_dir: folder of the pictures (created when they are written).
        reference: an RTTM file of the recording (read now): the timeline gets a
            reference panel and, with pyannote.metrics installed, the DER in its title.
        width_px: width of every picture, pixels (default 1600; 320..8000).
        height_px: height, pixels (default 900; 240..8000).
        names: file names of the pictures (``{"timeline": "turns.png"}``; default
            ``timeline.png``, ``alignment.png``, ``dynamics.png``).
        max_points: most rows kept per series before neighbours are merged (default
            20 000; see :mod:`mediastream.plot`).

    Consumes ``"speaker_turn"`` (timeline), ``"align_pair"`` and ``"align_band"``
    (alignment) and ``"dynamics"`` (dynamics) events; other kinds are ignored. Only the
    pictures there is data for are written; :attr:`written` lists them after
    :meth:`close`. Memory stays bounded (module docs of :mod:`mediastream.plot`: about
    20 000 rows per series, speaker turns kept whole). Drawing takes about a second per
    picture, at the end of the run, on the thread that closes the sink.

    An error while drawing after a failed run is added as a note to that run's error
    (which stays the one raised); after a clean run it is raised
    (:class:`stream.EncodeError` when a PNG cannot be written). Construction raises
    :class:`stream.ParameterError` for bad parameters or an unreadable reference, and
    :class:`stream.MediaStreamError` when matplotlib is not installed (the ``plot``
    extra).
    """

    accepts = frozenset({"events"})

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        reference: str | os.PathLike[str] | Sequence[RttmTurn] | None = None,
        width_px: int = DEFAULT_WIDTH_PX,
        height_px: int = DEFAULT_HEIGHT_PX,
        names: Mapping[str, str] | None = None,
        max_points: int = _MAX_POINTS,
    ) -> None:
        if not isinstance(out_dir, str | os.PathLike) or not str(out_dir):
            raise ParameterError(f"PlotSink: out_dir must be a folder path, got {out_dir!r}")
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ParameterError(f"PlotSink: out_dir {str(self.out_dir)!r} is a file")
        self.width_px, self.height_px = check_size(width_px, height_px)
        self.names = check_names(names)
        if reference is None:
            self.reference: list[RttmTurn] | None = None
        elif isinstance(reference, str | os.PathLike):
            self.reference = read_rttm(reference)
        else:
            self.reference = list(reference)
            if not self.reference or not all(isinstance(t, RttmTurn) for t in self.reference):
                raise ParameterError(
                    "PlotSink: reference must be an RTTM path or a non-empty list of RttmTurn"
                )
        check_matplotlib()
        PlotData(max_points=max_points)  # validates max_points
        self.max_points = max_points
        self._data: PlotData | None = None
        self.written: list[Path] = []

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        """Accept events; reject an input that can carry none of the kinds drawn."""
        for spec in inputs.values():
            if not isinstance(spec, EventSpec):
                raise IncompatibleInputError(f"PlotSink accepts events, got {spec}")
            if spec.kinds is not None and not KINDS & spec.kinds:
                raise IncompatibleInputError(
                    f"PlotSink draws {', '.join(sorted(KINDS))} events but its input carries "
                    f"{spec}: it would draw nothing"
                )

    def open(self) -> None:
        """Start collecting (forgets what an earlier run collected)."""
        self._data = PlotData(max_points=self.max_points)
        self.written = []

    def write(self, item: Item) -> None:
        """Keep what the pictures need from ``item`` (an event; other kinds ignored)."""
        if not isinstance(item, Event):
            raise TypeError(f"PlotSink takes events, got {type(item).__name__}")
        if self._data is None:
            raise ValueError("PlotSink: write before open() or after close()")
        if item.kind in KINDS:
            self._data.add(item.to_dict(), f"PlotSink: event at {describe_position(item)}")

    def close(self, error: BaseException | None = None) -> None:
        """Draw the pictures there is data for (after a failure too); idempotent."""
        data, self._data = self._data, None
        if data is None or data.empty:
            return
        try:
            self.written = write_pictures(data,
                self.out_dir,
                reference=self.reference,
                width_px=self.width_px,
                height_px=self.height_px,
                names=self.names,
            )
        except Exception as exc:
            if error is None:
                raise
            error.add_note(f"PlotSink: drawing the pictures in {str(self.out_dir)!r} also "
                           f"failed: {exc!r}")  # fmt: skip
