"""The timeline picture: one row per speaker, the reference above it, the DER in the title."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._checks import DEFAULT_HEIGHT_PX, DEFAULT_WIDTH_PX, check_size
from ._data import PlotData, _collect
from ._figure import _colours, _figure, _save, _time_axis
from ._rttm import RttmTurn, _reference
from ._types import EventDict, FloatArray, PathLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
