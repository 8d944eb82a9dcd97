"""PlotData: the events the pictures are drawn from, collected in bounded memory.

Events are read and checked here (:meth:`PlotData.add`); what is kept per picture and
how it is bounded is in the :mod:`mediastream.plot` docs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from stream import ParameterError

from ._rows import _Rows
from ._types import EventDict

KINDS = frozenset({"speaker_turn", "align_pair", "align_band", "dynamics"})
"""The event kinds the pictures are drawn from (others are counted and ignored)."""

_MAX_POINTS = 20_000
_MAX_SERIES = 16  # dynamics meters drawn at most (stage instances)


class _Series:
    """One dynamics meter (a stage instance): rows start, end, input, output, reduction."""

    def __init__(self, label: str, cap: int) -> None:
        self.label = label
        self.rows = _Rows("flMMM", cap)
        self.last_end = -math.inf
        self.channels = 0


class PlotData:
    """What the pictures need, collected event by event in bounded memory.

    Args:
        max_points: most rows kept per series (alignment pairs, alignment bands, each
            dynamics stage) before neighbours are merged (default 20 000; an even
            number >= 100). See the :mod:`mediastream.plot` docs for what merging keeps.

    Feed it event dicts (:meth:`stream.Event.to_dict`) with :meth:`add`; kinds other
    than :data:`KINDS` are counted in :attr:`kinds` and otherwise ignored.
    """

    def __init__(self, *, max_points: int = _MAX_POINTS) -> None:
        if isinstance(max_points, bool) or not isinstance(max_points, int):
            raise ParameterError(f"max_points must be an int, got {max_points!r}")
        if max_points < 100 or max_points % 2:
            raise ParameterError(f"max_points must be an even number >= 100, got {max_points}")
        self.max_points = max_points
        self.kinds: dict[str, int] = {}
        self.turns = _Rows("fff", None)  # start_s, end_s, label id
        self.labels: dict[str, int] = {}
        self.pairs = _Rows("ffMm", max_points)  # fg, bg, cost, final (1/0)
        self.forced = 0
        self.cost_sum = 0.0
        self.bands: _Rows | None = None  # fg, bg_lo, costs...
        self.band_width = 0
        self.dynamics: dict[str, list[_Series]] = {}

    # -- reading -------------------------------------------------------------------
    @property
    def has_timeline(self) -> bool:
        """Speaker turns arrived."""
        return self.turns.count > 0

    @property
    def has_alignment(self) -> bool:
        """Alignment pairs or bands arrived."""
        return self.pairs.count > 0 or (self.bands is not None and self.bands.count > 0)

    @property
    def has_dynamics(self) -> bool:
        """Dynamics readings arrived."""
        return bool(self.dynamics)

    @property
    def empty(self) -> bool:
        """Nothing to draw."""
        return not (self.has_timeline or self.has_alignment or self.has_dynamics)

    def add(self, event: EventDict, where: str = "event") -> bool:
        """Take one event dict; returns whether a picture uses it.

        ``where`` names the event in error messages (``"results.jsonl:12"``). A
        malformed event of a kind the pictures use raises :class:`stream.ParameterError`.
        """
        if not isinstance(event, Mapping):
            raise ParameterError(f"{where}: not an event (a JSON object), got {event!r:.80}")
        kind = event.get("kind")
        if not isinstance(kind, str):
            raise ParameterError(f"{where}: not an event: no \"kind\" string in {event!r:.80}")
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if kind not in KINDS:
            return False
        try:
            payload = event["payload"]
            if not isinstance(payload, Mapping):
                raise TypeError(f"payload is {type(payload).__name__}, not an object")
            if kind == "speaker_turn":
                self._turn(event, payload)
            elif kind == "align_pair":
                self._pair(payload)
            elif kind == "align_band":
                self._band(payload)
            else:
                self._reading(event, payload)
        except KeyError as exc:
            raise ParameterError(f"{where}: {kind!r} event without field {exc}") from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ParameterError(f"{where}: malformed {kind!r} event: {exc}") from None
        return True

    def _turn(self, event: EventDict, payload: Mapping[str, Any]) -> None:
        start, end = _span(event)
        label = payload.get("name") or payload["speaker"]
        if not isinstance(label, str):
            raise TypeError(f"speaker {label!r} is not a string")
        ident = self.labels.setdefault(label, len(self.labels))
        self.turns.add((start, end, ident))

    def _pair(self, payload: Mapping[str, Any]) -> None:
        fg, bg = _int(payload["fg_index"], "fg_index"), _int(payload["bg_index"], "bg_index")
        cost = _num(payload["cost"], "cost")
        final = payload["final"]
        if not isinstance(final, bool):
            raise TypeError(f"final {final!r} is not true/false")
        self.pairs.add((fg, bg, cost, float(final)))
        self.forced += not final
        if math.isfinite(cost):
            self.cost_sum += cost

    def _band(self, payload: Mapping[str, Any]) -> None:
        fg, lo = _int(payload["fg_index"], "fg_index"), _int(payload["bg_lo"], "bg_lo")
        costs = payload["costs"]
        if not isinstance(costs, list | tuple) or not costs:
            raise TypeError(f"costs must be a non-empty list, got {costs!r:.80}")
        if self.bands is None:
            self.band_width = len(costs)
            self.bands = _Rows("f" * (2 + len(costs)), self.max_points)
        elif len(costs) != self.band_width:
            raise ValueError(
                f"a band of {len(costs)} cells after bands of {self.band_width}: draw the "
                "alignments of different runs (band settings) one at a time"
            )
        row = np.empty(2 + len(costs), np.float64)
        row[0], row[1] = fg, lo
        row[2:] = [_num(c, "costs") for c in costs]
        self.bands.add(row)

    def _reading(self, event: EventDict, payload: Mapping[str, Any]) -> None:
        start, end = _span(event)
        stage = payload["stage"]
        if not isinstance(stage, str) or not stage:
            raise TypeError(f"stage {stage!r} is not a name")
        values = []
        channels = 0
        for field in ("input_peak_dbfs", "output_peak_dbfs", "gain_reduction_db"):
            seq = payload[field]
            if not isinstance(seq, list | tuple) or not seq:
                raise TypeError(f"{field} must be a non-empty list, got {seq!r:.80}")
            nums = [v for v in (_num(x, field) for x in seq) if not math.isnan(v)]
            values.append(max(nums) if nums else math.nan)
            channels = max(channels, len(seq))
        # Readings of one meter follow each other in time; a reading that starts before
        # the last one of every meter of this stage seen so far comes from another one
        # (two compressors in a graph, or a second run).
        series = self.dynamics.setdefault(stage, [])
        for s in series:
            if start >= s.last_end - 1e-9:
                break
        else:
            if sum(map(len, self.dynamics.values())) >= _MAX_SERIES:
                raise ValueError(
                    f"more than {_MAX_SERIES} dynamics meters overlap in time (stage "
                    f"{stage!r} at {start:.3f} s): draw the runs one at a time"
                )
            label = stage if not series else f"{stage} {len(series) + 1}"
            s = _Series(label, self.max_points)
            series.append(s)
        s.rows.add((start, end, *values))
        s.last_end = end
        s.channels = max(s.channels, channels)

    def describe_kinds(self) -> str:
        """``"level x120, frame_stats x300"``: what arrived, for messages."""
        if not self.kinds:
            return "no events"
        return ", ".join(f"{k} x{n}" for k, n in sorted(self.kinds.items()))


def _num(value: Any, what: str) -> float:
    """A JSON number (None/"nan" -> NaN, "inf"/"-inf" as the JSON form writes them)."""
    if value is None:
        return math.nan
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} {value!r} is not a number")
    return float(value)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} {value!r} is not a whole number")
    return value


def _span(event: EventDict) -> tuple[float, float]:
    """Start and end in seconds: ``start_s``/``end_s``, else exact units x time base."""
    if "start_s" in event and "end_s" in event:
        start, end = _num(event["start_s"], "start_s"), _num(event["end_s"], "end_s")
    else:
        tb = Fraction(str(event["time_base"]))
        start = float(_int(event["start"], "start") * tb)
        end = float(_int(event["end"], "end") * tb)
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise ValueError(f"times {start!r}..{end!r} s are not an interval")
    return start, end


def _collect(events: Iterable[EventDict], *kinds: str) -> PlotData:
    """The events of ``kinds`` collected (others counted only); none is an error."""
    data = PlotData()
    for k, event in enumerate(events):
        if isinstance(event, Mapping) and event.get("kind") not in kinds:
            kind = str(event.get("kind"))
            data.kinds[kind] = data.kinds.get(kind, 0) + 1
        else:
            data.add(event, f"event {k}")
    if not any(data.kinds.get(k) for k in kinds):
        raise ParameterError(
            f"nothing to plot: no {' or '.join(repr(k) for k in kinds)} events among those "
            f"given ({data.describe_kinds()})"
        )
    return data
