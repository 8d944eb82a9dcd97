"""Pictures of results: PNG files drawn from events, for people who would rather look.

Three pictures, each from the JSON form of events (:meth:`stream.Event.to_dict`, one
line of a :class:`sinks.JsonLinesSink` file: ``{"kind", "start", "end", "time_base",
"start_s", "end_s", "payload"}``):

* **timeline** (:func:`plot_timeline`, ``"speaker_turn"`` events): one row per speaker;
  with a reference RTTM, the reference above it on the same time axis and, when
  ``pyannote.metrics`` is installed, the diarization error rate in the title (overlap
  scored, at collar 0 s and 0.5 s), hypothesis speakers coloured like the reference
  speakers they map to.
* **alignment** (:func:`plot_alignment`, ``"align_pair"`` and ``"align_band"`` events of
  :class:`operators.video.VideoAlign`): the DTW cost band as an image (x: fg frame,
  y: bg frame, colour: local cost, blank outside the band) with the chosen path over
  it, pairs forced out by the maximum lag (``final`` False) marked with crosses, and
  the cost along the path below. Pairs alone (no bands) draw the path and its cost.
* **dynamics** (:func:`plot_dynamics`, ``"dynamics"`` events of the dynamics
  operators' meters): input and output peak levels (dBFS) over time above, gain
  reduction (dB, drawn downwards) below, one colour per stage (compressor, limiter,
  gate...). Peaks and reductions are the largest over the channels.

:func:`plot_results` reads JSON Lines files line by line and writes every picture it
has data for; :class:`PlotData` is the collector behind all of them (and behind
:class:`sinks.PlotSink`).

**Sizes.** Every PNG is exactly ``width_px`` x ``height_px`` pixels (default 1600 x 900
at 100 dpi: figure inches are ``px / 100``).

**Memory.** What is kept is compact and bounded, whatever the length of the run:
speaker turns are kept whole (24 bytes each: a few thousand per hour of speech);
alignment pairs keep at most ``max_points`` rows (default 20 000; 32 bytes each), band
rows at most ``max_points`` (``8 * (2 * band + 3)`` bytes each), and each dynamics stage
at most ``max_points`` readings (40 bytes each). Past that, neighbouring rows are merged
two by two, and the number of events per row doubles: dynamics rows keep the largest
peaks and gain reduction of the readings they merge (the envelope survives), pair rows
keep the first pair, the largest cost and whether any pair was forced, band rows keep
the first band. A 10-hour run at 100 ms meter windows thus keeps about 15 000 readings
of 2.4 s per stage: more than the picture has pixels.

matplotlib is optional (``pip install 'mediastream[plot]'``) and imported only when a
picture is drawn; ``pyannote.metrics`` only when a reference is scored.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ._exceptions import EncodeError, MediaStreamError, ParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_HEIGHT_PX",
    "DEFAULT_NAMES",
    "DEFAULT_WIDTH_PX",
    "DPI",
    "KINDS",
    "PICTURES",
    "PlotData",
    "RttmTurn",
    "check_matplotlib",
    "check_names",
    "check_size",
    "plot_alignment",
    "plot_dynamics",
    "plot_results",
    "plot_timeline",
    "read_rttm",
]

DPI = 100
"""Dots per inch of every figure: its size in inches is ``px / DPI``."""
DEFAULT_WIDTH_PX = 1600
"""Default picture width, pixels."""
DEFAULT_HEIGHT_PX = 900
"""Default picture height, pixels."""
PICTURES = ("timeline", "alignment", "dynamics")
"""The pictures, in the order they are written."""
DEFAULT_NAMES: Mapping[str, str] = {p: f"{p}.png" for p in PICTURES}
"""File name of each picture in the output folder."""
KINDS = frozenset({"speaker_turn", "align_pair", "align_band", "dynamics"})
"""The event kinds the pictures are drawn from (others are counted and ignored)."""

_MIN_W, _MIN_H, _MAX_PX = 320, 240, 8000
_MAX_POINTS = 20_000
_MAX_SERIES = 16  # dynamics meters drawn at most (stage instances)

PathLike: TypeAlias = "str | os.PathLike[str]"
EventDict: TypeAlias = Mapping[str, Any]
FloatArray: TypeAlias = npt.NDArray[np.float64]


# -- checks ------------------------------------------------------------------------


def check_matplotlib() -> None:
    """Raise :class:`stream.MediaStreamError` with the install hint if matplotlib is missing.

    Does not import it (a ``find_spec`` look-up).
    """
    if importlib.util.find_spec("matplotlib") is None:
        raise MediaStreamError(
            "drawing pictures needs matplotlib, which is not installed: "
            "pip install 'mediastream[plot]' (or matplotlib>=3.7)"
        )


def check_size(width_px: int, height_px: int) -> tuple[int, int]:
    """Validate picture sizes (whole pixels, 320..8000 wide, 240..8000 high)."""
    for name, value, low in (("width_px", width_px, _MIN_W), ("height_px", height_px, _MIN_H)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{name} must be a whole number of pixels, got {value!r}")
        if not low <= value <= _MAX_PX:
            raise ParameterError(f"{name} must be {low}..{_MAX_PX} px, got {value} px")
    return width_px, height_px


def check_names(names: Mapping[str, str] | None) -> dict[str, str]:
    """The file name of every picture: :data:`DEFAULT_NAMES` updated with ``names``."""
    out = dict(DEFAULT_NAMES)
    if names is None:
        return out
    if not isinstance(names, Mapping):
        raise ParameterError(
            f"names must map pictures ({', '.join(PICTURES)}) to file names, got "
            f"{type(names).__name__}"
        )
    for key, value in names.items():
        if key not in DEFAULT_NAMES:
            raise ParameterError(
                f"names: unknown picture {key!r}; the pictures are {', '.join(PICTURES)}"
            )
        if not isinstance(value, str) or not value or value in (".", ".."):
            raise ParameterError(f"names[{key!r}] must be a file name, got {value!r}")
        if os.sep in value or (os.altsep and os.altsep in value):
            raise ParameterError(
                f"names[{key!r}] must be a file name inside the output folder, got {value!r}"
            )
        out[key] = value
    if len(set(out.values())) != len(out):
        raise ParameterError(f"names: two pictures would share a file name: {out}")
    return out


# -- compact storage ---------------------------------------------------------------


class _Rows:
    """float64 rows of ``len(rules)`` columns, at most ``cap`` stored (None: no bound).

    Past ``cap``, neighbouring stored rows are merged two by two and ``stride`` (events
    per stored row) doubles. ``rules`` says how a column merges: ``f`` first, ``l``
    last, ``M`` largest, ``m`` smallest (NaN ignored).
    """

    def __init__(self, rules: str, cap: int | None) -> None:
        if cap is not None and (cap < 2 or cap % 2):
            raise ValueError(f"cap must be an even number >= 2, got {cap}")
        self.rules = rules
        self.cap = cap
        cols = len(rules)
        self._data = np.empty((16, cols), np.float64)
        self.n = 0  # stored rows
        self.stride = 1
        self.count = 0  # rows added
        self._acc = np.empty(cols, np.float64)
        self._acc_n = 0
        r = np.frombuffer(rules.encode(), np.uint8)
        self._last = r == ord("l")
        self._max = r == ord("M")
        self._min = r == ord("m")

    def _merge(self, a: FloatArray, b: FloatArray) -> FloatArray:
        out = np.where(self._last, b, a)
        out = np.where(self._max, np.fmax(a, b), out)
        return np.where(self._min, np.fmin(a, b), out)

    def add(self, row: Sequence[float] | FloatArray) -> None:
        """Add one row (``len(rules)`` numbers)."""
        self.count += 1
        if self._acc_n == 0:
            self._acc[:] = row
        else:
            self._acc[:] = self._merge(self._acc, np.asarray(row, np.float64))
        self._acc_n += 1
        if self._acc_n >= self.stride:
            self._push()

    def _push(self) -> None:
        if self.cap is not None and self.n == self.cap:
            d, half = self._data, self.n // 2
            d[:half] = self._merge(d[0 : self.n : 2], d[1 : self.n : 2])
            self.n = half
            self.stride *= 2
            if self._acc_n < self.stride:  # the row stays open in the doubled stride
                return
        if self.n == self._data.shape[0]:
            size = 2 * self.n if self.cap is None else min(2 * self.n, self.cap)
            grown = np.empty((size, self._data.shape[1]), np.float64)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n] = self._acc
        self.n += 1
        self._acc_n = 0

    def rows(self) -> FloatArray:
        """Every stored row, the open one (fewer than ``stride`` events) last."""
        if self._acc_n:
            return np.concatenate([self._data[: self.n], self._acc[np.newaxis]])
        return self._data[: self.n].copy()


@dataclass(frozen=True, slots=True)
class RttmTurn:
    """One reference turn: ``label`` speaks from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    label: str


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
            number >= 100). See the module docs for what merging keeps.

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

    # -- writing -------------------------------------------------------------------
    def write(
        self,
        out_dir: PathLike,
        *,
        reference: PathLike | Sequence[RttmTurn] | None = None,
        width_px: int = DEFAULT_WIDTH_PX,
        height_px: int = DEFAULT_HEIGHT_PX,
        names: Mapping[str, str] | None = None,
    ) -> list[Path]:
        """Write the pictures there is data for into ``out_dir``; returns their paths.

        ``reference`` (an RTTM path or :func:`read_rttm` turns) adds the reference panel
        to the timeline. Nothing to draw writes nothing (an empty list).
        """
        check_size(width_px, height_px)
        files = check_names(names)
        ref = _reference(reference)
        if self.empty:
            return []
        check_matplotlib()
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ParameterError(f"output folder {str(out)!r} is a file")
        written: list[Path] = []
        if self.has_timeline:
            written.append(
                _draw_timeline(self, ref, out / files["timeline"], width_px, height_px)
            )
        elif ref is not None:
            warnings.warn(
                "a reference RTTM was given but no speaker_turn events arrived: "
                "no timeline drawn",
                RuntimeWarning,
                stacklevel=2,
            )
        if self.has_alignment:
            written.append(_draw_alignment(self, out / files["alignment"], width_px, height_px))
        if self.has_dynamics:
            written.append(_draw_dynamics(self, out / files["dynamics"], width_px, height_px))
        return written

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


# -- reference RTTM ----------------------------------------------------------------


def read_rttm(path: PathLike) -> list[RttmTurn]:
    """The ``SPEAKER`` lines of an RTTM file of one recording, as :class:`RttmTurn`.

    Lines are ``SPEAKER <uri> <channel> <onset s> <duration s> <NA> <NA> <speaker> ...``;
    blank lines, comments (``;;``, ``#``) and other RTTM line types are skipped. Raises
    :class:`stream.ParameterError` naming the file and line for a malformed line, for a
    file of several recordings (uris) or without any SPEAKER line.
    """
    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"reference RTTM {str(p)!r}: no such file")
    turns: list[RttmTurn] = []
    uris: set[str] = set()
    try:
        with open(p, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields or fields[0].startswith((";", "#")) or fields[0] != "SPEAKER":
                    continue
                where = f"reference RTTM {str(p)!r} line {lineno}"
                if len(fields) < 8:
                    raise ParameterError(
                        f"{where}: a SPEAKER line has at least 8 fields (SPEAKER uri channel "
                        f"onset duration <NA> <NA> speaker), got {len(fields)}"
                    )
                try:
                    onset, duration = float(fields[3]), float(fields[4])
                except ValueError:
                    raise ParameterError(
                        f"{where}: onset {fields[3]!r} and duration {fields[4]!r} must be "
                        "seconds"
                    ) from None
                if not (math.isfinite(onset) and math.isfinite(duration)) or duration < 0:
                    raise ParameterError(
                        f"{where}: onset {onset} s and duration {duration} s must be finite, "
                        "the duration >= 0"
                    )
                uris.add(fields[1])
                turns.append(RttmTurn(onset, onset + duration, fields[7]))
    except UnicodeDecodeError as exc:
        raise ParameterError(f"reference RTTM {str(p)!r} is not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ParameterError(f"reference RTTM {str(p)!r} cannot be read: {exc}") from None
    if not turns:
        raise ParameterError(f"reference RTTM {str(p)!r} holds no SPEAKER lines")
    if len(uris) > 1:
        raise ParameterError(
            f"reference RTTM {str(p)!r} holds {len(uris)} recordings "
            f"({', '.join(sorted(uris)[:5])}...): give the RTTM of one recording"
        )
    return turns


def _reference(reference: PathLike | Sequence[RttmTurn] | None) -> list[RttmTurn] | None:
    if reference is None:
        return None
    if isinstance(reference, str | os.PathLike):
        return read_rttm(reference)
    turns = list(reference)
    if not turns or not all(isinstance(t, RttmTurn) for t in turns):
        raise ParameterError(
            "reference must be an RTTM path or a non-empty list of RttmTurn (read_rttm)"
        )
    return turns


# -- drawing helpers ---------------------------------------------------------------


def _figure(width_px: int, height_px: int) -> Figure:
    check_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    """Write the PNG next to ``path`` and move it in place (never a half-written PNG)."""
    part = path.with_name(f".{path.name}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as f:
            fig.savefig(f, format="png", dpi=DPI)
        os.replace(part, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise EncodeError(f"cannot write the picture {str(path)!r}: {exc}") from exc
    return path


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)


def _hms(seconds: float, _pos: object = None) -> str:
    s = round(seconds)
    sign, s = ("-" if s < 0 else ""), abs(s)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def _time_axis(ax: Axes, t0: float, t1: float) -> None:
    """Seconds below 2 minutes, ``m:ss`` / ``h:mm:ss`` ticks on whole steps above."""
    span = max(t1 - t0, 1e-6)
    if span <= 120:
        ax.set_xlabel("time (s)")
        return
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    step = next((s for s in _TIME_STEPS if span / s <= 12), 3600 * math.ceil(span / 43200))
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(_hms))
    ax.set_xlabel("time (h:mm:ss)" if t1 >= 3600 else "time (m:ss)")


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    k = 10 if n <= 10 else 20
    return [cmap(i % k) for i in range(n)]


# -- timeline ----------------------------------------------------------------------


def _first_seen(starts: FloatArray, ids: npt.NDArray[np.int64], n: int) -> list[int]:
    first = np.full(n, np.inf)
    np.minimum.at(first, ids, starts)
    return [int(i) for i in np.argsort(first, kind="stable")]


def _score(
    hyp: list[tuple[float, float, str]], ref: list[RttmTurn]
) -> tuple[str, dict[str, str]]:
    """DER text for the title and the hypothesis -> reference speaker mapping."""
    try:
        # Through import_module: pyannote.core/metrics ship no type information, and
        # users type-checking code that imports sinks must not need an override.
        core: Any = importlib.import_module("pyannote.core")
        metrics: Any = importlib.import_module("pyannote.metrics.diarization")
    except ImportError:
        return "DER: install pyannote.metrics to score", {}
    Annotation, Segment = core.Annotation, core.Segment
    DiarizationErrorRate = metrics.DiarizationErrorRate
    reference, hypothesis = Annotation(), Annotation()
    for k, t in enumerate(ref):
        if t.end > t.start:
            reference[Segment(t.start, t.end), k] = t.label
    for k, (s, e, label) in enumerate(hyp):
        if e > s:
            hypothesis[Segment(s, e), k] = label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "uem was approximated by the union of extents"
        rates = [
            float(DiarizationErrorRate(collar=c, skip_overlap=False)(reference, hypothesis))
            for c in (0.0, 0.5)
        ]
        mapping = DiarizationErrorRate().optimal_mapping(reference, hypothesis)
    text = (
        f"DER {100 * rates[0]:.1f} % at collar 0 s, {100 * rates[1]:.1f} % at collar 0.5 s "
        "(overlap scored)"
    )
    return text, {str(h): str(r) for h, r in mapping.items()}


def _speaker_rows(
    ax: Axes,
    rows: list[tuple[str, FloatArray, Any]],
    title: str,
) -> None:
    for y, (_, spans, colour) in enumerate(rows):
        ax.broken_barh(
            np.column_stack([spans[:, 0], spans[:, 1] - spans[:, 0]]).tolist(),
            (y - 0.4, 0.8),
            facecolors=colour,
            # A hairline edge in the same colour: turns narrower than a pixel (a long
            # run) still show.
            edgecolors=colour,
            linewidth=0.6,
        )
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, loc="left", fontsize="medium")


def _draw_timeline(
    data: PlotData, ref: list[RttmTurn] | None, path: Path, width_px: int, height_px: int
) -> Path:
    rows = data.turns.rows()
    starts, ends, ids = rows[:, 0], rows[:, 1], rows[:, 2].astype(np.int64)
    names = list(data.labels)
    order = _first_seen(starts, ids, len(names))
    t0, t1 = float(starts.min()), float(ends.max())
    speech = _union_length(starts, ends)
    suptitle = "speaker timeline"
    fig = _figure(width_px, height_px)
    hyp_colours: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    if ref is not None:
        r_labels = list(dict.fromkeys(t.label for t in sorted(ref, key=lambda t: t.start)))
        r_spans: dict[str, list[tuple[float, float]]] = {lab: [] for lab in r_labels}
        for t in ref:
            r_spans[t.label].append((t.start, t.end))
        hyp = [(float(s), float(e), names[int(i)]) for s, e, i in rows]
        score, mapping = _score(hyp, ref)
        suptitle += f": {score}"
        n_colours = len(r_labels) + len(names)
        palette = _colours(n_colours)
        ref_colour = {lab: palette[i] for i, lab in enumerate(r_labels)}
        spare = iter(palette[len(r_labels) :])
        # Hypothesis speakers in the order of the reference speakers they map to.
        rank = {lab: i for i, lab in enumerate(r_labels)}
        order.sort(key=lambda i: rank.get(mapping.get(names[i], ""), len(rank)))
        for i in order:
            mapped = mapping.get(names[i])
            hyp_colours[names[i]] = ref_colour[mapped] if mapped in ref_colour else next(spare)
        r_t0 = min(t.start for t in ref)
        r_t1 = max(t.end for t in ref)
        t0, t1 = min(t0, r_t0), max(t1, r_t1)
        heights = [max(2, len(r_labels)), max(2, len(names))]
        ax_ref, ax = fig.subplots(2, 1, sharex=True, height_ratios=heights)
        _speaker_rows(
            ax_ref,
            [(lab, np.asarray(r_spans[lab], np.float64), ref_colour[lab]) for lab in r_labels],
            f"reference: {len(r_labels)} speakers, {len(ref)} turns, "
            f"{_union_length(*_columns(ref)):.1f} s of speech",
        )
    else:
        palette = _colours(len(names))
        for k, i in enumerate(order):
            hyp_colours[names[i]] = palette[k]
        ax = fig.subplots()
    mapped_to = mapping if ref is not None else {}
    _speaker_rows(
        ax,
        [
            (
                f"{names[i]} = {mapped_to[names[i]]}"
                if mapped_to.get(names[i], names[i]) != names[i]
                else names[i],
                rows[ids == i, :2],
                hyp_colours[names[i]],
            )
            for i in order
        ],
        f"hypothesis: {len(names)} speakers, {data.turns.count} turns, "
        f"{speech:.1f} s of speech",
    )
    pad = 0.01 * max(t1 - t0, 1.0)
    ax.set_xlim(max(0.0, t0 - pad) if t0 >= 0 else t0 - pad, t1 + pad)
    _time_axis(ax, t0, t1)
    fig.suptitle(suptitle)
    return _save(fig, path)


def _columns(ref: list[RttmTurn]) -> tuple[FloatArray, FloatArray]:
    return (
        np.array([t.start for t in ref], np.float64),
        np.array([t.end for t in ref], np.float64),
    )


def _union_length(starts: FloatArray, ends: FloatArray) -> float:
    """Seconds covered by at least one of the intervals (overlaps counted once)."""
    if starts.size == 0:
        return 0.0
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.maximum.accumulate(e)
    # An interval starts a new covered run where it begins after everything before ends.
    new = np.concatenate([[True], s[1:] > reach[:-1]])
    run = np.cumsum(new) - 1
    run_start = s[new]
    run_end = np.zeros(run_start.size)
    np.maximum.at(run_end, run, e)
    return float(np.sum(run_end - run_start))


def plot_timeline(
    turns: Iterable[EventDict],
    out_png: PathLike,
    reference: PathLike | Sequence[RttmTurn] | None = None,
    *,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
) -> Path:
    """Draw the diarization timeline of ``"speaker_turn"`` event dicts into ``out_png``.

    One row per speaker (the enrolled name when a turn carries one, else the label).
    With ``reference`` (an RTTM path or :func:`read_rttm` turns) the reference is drawn
    above on the same time axis, and the DER (pyannote.metrics, overlap scored, collar
    0 s and 0.5 s) goes in the title. Other event kinds are ignored; no turn at all is a
    :class:`stream.ParameterError`. Returns the path written.
    """
    check_size(width_px, height_px)
    ref = _reference(reference)
    data = _collect(turns, "speaker_turn")
    return _draw_timeline(data, ref, Path(out_png), width_px, height_px)


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


# -- alignment ---------------------------------------------------------------------


def _band_image(
    bands: FloatArray, width: int, max_cols: int, max_rows: int
) -> tuple[FloatArray, tuple[float, float, float, float]] | None:
    """The band cells as an image of at most ``max_rows x max_cols`` (lowest cost per
    pixel, NaN outside the band) and its extent in frames; None without a finite cell."""
    fg = bands[:, 0:1]
    bg = bands[:, 1:2] + np.arange(width)
    costs = bands[:, 2:]
    ok = np.isfinite(costs)
    if not ok.any():
        return None
    fgs = np.broadcast_to(fg, costs.shape)[ok]
    bgs = bg[ok]
    vals = costs[ok]
    f0, f1 = float(fgs.min()), float(fgs.max())
    b0, b1 = float(bgs.min()), float(bgs.max())
    fspan, bspan = f1 - f0 + 1, b1 - b0 + 1
    cols, rows = int(min(fspan, max_cols)), int(min(bspan, max_rows))
    c = ((fgs - f0) * cols // fspan).astype(np.int64)
    r = ((bgs - b0) * rows // bspan).astype(np.int64)
    img = np.full((rows, cols), np.nan)
    np.fmin.at(img, (r, c), vals)
    return img, (f0 - 0.5, f1 + 0.5, b0 - 0.5, b1 + 0.5)


def _draw_alignment(data: PlotData, path: Path, width_px: int, height_px: int) -> Path:
    pairs = data.pairs.rows()
    fig = _figure(width_px, height_px)
    ax, ax_cost = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    parts = [f"{data.pairs.count} pairs"]
    if data.bands is not None and data.bands.count:
        made = _band_image(data.bands.rows(), data.band_width, width_px, height_px)
        if made is not None:
            img, extent = made
            from matplotlib import colormaps

            finite = img[np.isfinite(img)]
            top = max(0.05, float(np.percentile(finite, 99)))
            cmap = colormaps["viridis"].with_extremes(bad="white")
            im = ax.imshow(
                img, origin="lower", aspect="auto", interpolation="nearest", extent=extent,
                cmap=cmap, vmin=0.0, vmax=top,
            )  # fmt: skip
            fig.colorbar(im, ax=ax, label="local cost (1 - correlation)", pad=0.01)
            parts.append(f"band of {data.band_width} bg frames")
            if data.bands.stride > 1:
                parts.append(f"one band in {data.bands.stride} drawn")
    if data.pairs.count:
        fg, bg, cost, final = pairs[:, 0], pairs[:, 1], pairs[:, 2], pairs[:, 3]
        forced = final < 0.5
        ax.plot(fg, bg, color="#e8202a", lw=1.2, label="chosen path (bg frame per fg frame)")
        ax_cost.plot(fg, cost, color="#1f5fa8", lw=0.9, label="cost along the path")
        if forced.any():
            label = "forced out by max_lag (final=False)"
            ax.scatter(fg[forced], bg[forced], marker="x", s=36, color="#ff9f00", lw=1.5,
                       label=label, zorder=3)  # fmt: skip
            ax_cost.scatter(fg[forced], cost[forced], marker="x", s=30, color="#ff9f00",
                            lw=1.2, zorder=3)  # fmt: skip
        ax.legend(loc="upper left", fontsize="small")
        mean = data.cost_sum / data.pairs.count
        parts += [f"{data.forced} forced", f"mean cost {mean:.3f}"]
        if data.pairs.stride > 1:
            parts.append(f"one point per {data.pairs.stride} pairs")
        ax_cost.set_ylim(bottom=0.0)
    ax.set_ylabel("bg frame")
    ax.grid(alpha=0.25)
    ax_cost.set_ylabel("cost")
    ax_cost.set_xlabel("fg frame")
    ax_cost.grid(alpha=0.25)
    fig.suptitle("video alignment: " + ", ".join(parts))
    return _save(fig, path)


def plot_alignment(
    pairs: Iterable[EventDict],
    bands: Iterable[EventDict] | None,
    out_png: PathLike,
    *,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
) -> Path:
    """Draw a video alignment: the DTW cost band, the chosen path and its cost.

    ``pairs`` are ``"align_pair"`` event dicts, ``bands`` the ``"align_band"`` ones
    (``VideoAlign(band_costs=True)``; None or empty: path and cost only). The band is an
    image (x: fg frame, y: bg frame, colour: local cost ``1 - correlation``, blank
    outside the band), the path is drawn over it, pairs forced out by ``max_lag`` are
    crosses; the cost along the path is below. Returns the path written.
    """
    check_size(width_px, height_px)
    events = list(pairs) if bands is None else [*pairs, *bands]
    data = _collect(events, "align_pair", "align_band")
    return _draw_alignment(data, Path(out_png), width_px, height_px)


# -- dynamics ----------------------------------------------------------------------


def _steps(rows: FloatArray, col: int) -> tuple[FloatArray, FloatArray]:
    """Step-line x, y of column ``col`` over the readings' [start, end) windows."""
    x = np.empty(2 * rows.shape[0])
    y = np.empty_like(x)
    x[0::2], x[1::2] = rows[:, 0], rows[:, 1]
    y[0::2] = y[1::2] = rows[:, col]
    return x, y


def _chain(rows: list[FloatArray]) -> list[int | None]:
    """For each meter, the meter whose output is its input (a chain such as gate ->
    compressor -> limiter: same windows, same peaks within 0.01 dB), else None."""
    fed: list[int | None] = [None] * len(rows)
    for a, ra in enumerate(rows):
        for b, rb in enumerate(rows):
            if a == b or fed[a] is not None or ra.shape != rb.shape:
                continue
            if np.array_equal(ra[:, :2], rb[:, :2]) and np.allclose(
                ra[:, 2], rb[:, 3], rtol=0.0, atol=0.01, equal_nan=True
            ):
                fed[a] = b
    return fed


def _chain_order(fed: list[int | None]) -> list[int]:
    """Meters in chain order: each head, then the meters it feeds, in turn."""
    order: list[int] = []
    pending = [i for i, f in enumerate(fed) if f is None or f == i]
    while pending:
        i = pending.pop(0)
        if i in order:
            continue
        order.append(i)
        pending[:0] = [j for j, f in enumerate(fed) if f == i and j not in order]
    return order + [i for i in range(len(fed)) if i not in order]  # cycles (never seen)


def _draw_dynamics(data: PlotData, path: Path, width_px: int, height_px: int) -> Path:
    found = [s for group in data.dynamics.values() for s in group]
    all_rows = [s.rows.rows() for s in found]
    fed = _chain(all_rows)
    order = _chain_order(fed)
    fig = _figure(width_px, height_px)
    ax, ax_gr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    palette = _colours(len(found))
    lows, highs, worst, t0, t1 = [], [], 0.0, math.inf, -math.inf
    parts = []
    for k, i in enumerate(order):
        s, rows, colour = found[i], all_rows[i], palette[k]
        t0, t1 = min(t0, float(rows[0, 0])), max(t1, float(rows[-1, 1]))
        x, y_in = _steps(rows, 2)
        _, y_out = _steps(rows, 3)
        _, gr = _steps(rows, 4)
        # Later stages draw thinner on top, so an earlier stage's line that they
        # leave unchanged still shows around them.
        lw = max(0.8, 2.6 - 0.6 * k)
        if fed[i] is None:  # a chain's input (a fed meter's input is drawn as an output)
            ax.plot(x, y_in, color="0.72", lw=3.4, label=f"{s.label} in")
        ax.plot(x, y_out, color=colour, lw=lw, label=f"{s.label} out")
        ax_gr.fill_between(x, 0.0, -gr, color=colour, alpha=0.25, lw=0)
        ax_gr.plot(x, -gr, color=colour, lw=1.0, label=s.label)
        for y in (y_in, y_out):
            fin = y[np.isfinite(y)]
            if fin.size:
                lows.append(float(fin.min()))
                highs.append(float(fin.max()))
        g = gr[np.isfinite(gr)]
        most = float(g.max()) if g.size else 0.0
        worst = max(worst, most)
        merged = f", {s.rows.stride} readings per point" if s.rows.stride > 1 else ""
        parts.append(f"{s.label} (max {most:.1f} dB{merged})")
    floor = max(min(lows, default=-60.0) - 3.0, -80.0)
    ax.set_ylim(floor, max(0.0, max(highs, default=0.0)) + 1.0)
    ax.set_ylabel("peak level (dBFS, max over channels)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small", ncols=min(len(found) + 1, 4))
    ax_gr.set_ylim(-max(1.0, 1.1 * worst), 0.5)
    ax_gr.set_ylabel("gain reduction (dB)")
    ax_gr.grid(alpha=0.3)
    ax_gr.legend(loc="lower left", fontsize="small", ncols=min(len(found), 4))
    ax_gr.set_xlim(t0, t1)
    _time_axis(ax_gr, t0, t1)
    fig.suptitle("dynamics, gain reduction: " + ", ".join(parts))
    return _save(fig, path)


def plot_dynamics(
    readings: Iterable[EventDict],
    out_png: PathLike,
    *,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
) -> Path:
    """Draw ``"dynamics"`` event dicts (meter readings of Compressor, Limiter, Gate...).

    Above: peak level in dBFS, the largest over the channels, as steps over each
    reading's window: every stage's output and the input of each chain (grey,
    underneath; a stage whose input peaks equal another stage's output peaks is taken to
    follow it, and its input is that output); the axis runs from 3 dB below the lowest
    peak (not below -80 dBFS) to 0 dBFS or the highest peak. Below: gain reduction in
    dB, drawn downwards. Every stage in the readings is drawn and labelled
    (a second meter of the same stage, e.g. two compressors, is ``"compressor 2"``).
    Returns the path written.
    """
    check_size(width_px, height_px)
    data = _collect(readings, "dynamics")
    return _draw_dynamics(data, Path(out_png), width_px, height_px)


# -- JSON Lines --------------------------------------------------------------------


def _result_files(inputs: PathLike | Iterable[PathLike]) -> list[Path]:
    given = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not given:
        raise ParameterError("no results given: name JSON Lines files or folders of them")
    files: list[Path] = []
    for item in given:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.glob("*.jsonl") if q.is_file())
            if not found:
                raise ParameterError(f"results folder {str(p)!r} holds no .jsonl files")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ParameterError(f"results {str(p)!r}: no such file or folder")
    return files


def _read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` of each non-blank line, read one at a time.

    A line that is not JSON raises :class:`stream.ParameterError` naming the file and
    line, unless it is the last one (a run cut off while writing it): that one is
    skipped with a ``RuntimeWarning``.
    """
    broken: tuple[int, str] | None = None
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                if broken is not None:
                    raise ParameterError(
                        f"{path}:{broken[0]}: not a JSON event line ({broken[1]}); only the "
                        "last line of an interrupted run may be cut short"
                    )
                try:
                    value = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    broken = (lineno, str(exc))
                    continue
                yield lineno, value
    except OSError as exc:
        raise ParameterError(f"results {str(path)!r} cannot be read: {exc}") from None
    if broken is not None:
        warnings.warn(
            f"{path}:{broken[0]}: skipped the last line, which is cut short (an interrupted "
            f"run?): {broken[1]}",
            RuntimeWarning,
            stacklevel=2,
        )


def plot_results(
    inputs: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    reference: PathLike | Sequence[RttmTurn] | None = None,
    *,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
    names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Draw every picture the JSON Lines results have data for; returns the PNGs written.

    ``inputs``: JSON Lines files (:class:`sinks.JsonLinesSink` output) or folders (every
    ``*.jsonl`` in them, sorted by name), read line by line; their events are drawn
    together. ``timeline.png`` needs ``"speaker_turn"`` events, ``alignment.png``
    ``"align_pair"``/``"align_band"``, ``dynamics.png`` ``"dynamics"`` (file names can be
    changed with ``names``). A cut-off last line is skipped with a warning; a broken line
    anywhere else, a missing file or nothing to plot is a :class:`stream.ParameterError`
    naming the file (and line).
    """
    check_size(width_px, height_px)
    check_names(names)
    ref = _reference(reference)
    files = _result_files(inputs)
    data = PlotData()
    for path in files:
        for lineno, value in _read_lines(path):
            data.add(value, f"{path}:{lineno}")
    if data.empty:
        raise ParameterError(
            f"nothing to plot in {', '.join(str(p) for p in files)}: no speaker_turn, "
            f"align_pair or dynamics events ({data.describe_kinds()})"
        )
    return data.write(
        out_dir, reference=ref, width_px=width_px, height_px=height_px, names=names
    )
