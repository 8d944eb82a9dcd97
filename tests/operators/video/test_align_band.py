"""VideoAlign(band_costs=True): the DTW band row of every pair, as "align_band" events."""

from __future__ import annotations

import json
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.video import AlignBand, AlignPair, VideoAlign
from stream import Event, EventSpec, VideoFrame, VideoSpec

from .pairs import PairSpec, generate, interleave, video_frames


def _align(
    fg: list[VideoFrame], bg: list[VideoFrame], order: list[bool] | None = None, **kw: object
) -> tuple[VideoAlign, tuple[EventSpec, ...], list[Event[object]]]:
    op = VideoAlign(**kw)  # type: ignore[arg-type]
    rate = {p: Fraction(1, 1) / f[0].time_base for p, f in (("fg", fg), ("bg", bg))}
    specs = op.configure(
        {
            p: VideoSpec(f[0].width, f[0].height, "gray", rate[p])
            for p, f in (("fg", fg), ("bg", bg))
        }
    )
    if order is None:  # the runtime's time order
        tagged: list[tuple[str, VideoFrame]] = [("fg", f) for f in fg]
        tagged += [("bg", b) for b in bg]
        items = sorted(
            tagged,
            key=lambda t: (t[1].time, t[0] == "bg"),
        )
    else:
        items = list(interleave(fg, bg, order))
    out: list[Event[object]] = []
    for port, f in items:
        out += op.process_port(port, f)  # type: ignore[arg-type]
    out += op.flush()  # type: ignore[arg-type]
    return op, specs, out  # type: ignore[return-value]


# The fg runs up to the last bg frame, so the last bands reach past the bg's end.
_SPEC = PairSpec(fg_fps=30, fg_frames=50, bg_frames=80, start=40, drops=(20,), dups=(30,),
                 cut_at=70)  # fmt: skip
_DATA = generate(_SPEC)
_FG = video_frames(_DATA[0], _SPEC.fg_fps)
_BG = video_frames(_DATA[1], _SPEC.bg_fps)
_REFERENCE: list[Event[object]] = []  # band_costs events in the runtime's time order


def _reference() -> list[Event[object]]:
    if not _REFERENCE:
        _REFERENCE.extend(_align(_FG, _BG, band_costs=True)[2])
    return _REFERENCE


def _check_bands(events: list[Event[object]], band: int) -> int:
    """Every pair is followed by its band, which holds the pair's cell; returns pairs."""
    pairs = 0
    for k, e in enumerate(events):
        if e.kind != "align_pair":
            assert e.kind != "align_band" or events[k - 1].kind == "align_pair"
            continue
        pairs += 1
        b = events[k + 1]
        assert b.kind == "align_band"
        assert (b.start, b.end, b.time_base) == (e.start, e.end, e.time_base)
        pair, row = e.payload, b.payload
        assert isinstance(pair, AlignPair) and isinstance(row, AlignBand)
        assert row.fg_index == pair.fg_index
        assert len(row.costs) == 2 * band + 1
        assert row.bg_lo <= pair.bg_index < row.bg_lo + len(row.costs)
        assert row.costs[pair.bg_index - row.bg_lo] == pair.cost
        assert all(c is None or 0.0 <= c <= 2.0 for c in row.costs)
    return pairs


def test_each_pair_is_followed_by_its_band_and_the_rest_is_unchanged() -> None:
    events = _reference()
    _, specs, plain = _align(_FG, _BG)
    # Without the band events, exactly the default output.
    assert [e for e in events if e.kind != "align_band"] == plain
    assert _check_bands(events, band=8) == len(_DATA[2])
    # The tail of the fg shows the last bg frames: its bands reach past the bg (None),
    # and the JSON form writes those cells as null.
    last = events[-1]
    assert isinstance(last.payload, AlignBand) and last.payload.costs[-1] is None
    assert json.loads(last.to_json())["payload"]["costs"][-1] is None
    assert specs == (EventSpec(frozenset({"align_pair", "align_registration"})),)
    _, specs, _ = _align(_FG[:1], _BG[:1], band_costs=True)
    assert specs == (EventSpec(frozenset({"align_pair", "align_registration", "align_band"})),)


def test_forced_pairs_get_their_band_too() -> None:
    _, _, plain = _align(_FG, _BG, band=3, max_lag=2)
    _, _, events = _align(_FG, _BG, band=3, max_lag=2, band_costs=True)
    assert [e for e in events if e.kind != "align_band"] == plain
    forced = [e for e in plain if isinstance(e.payload, AlignPair) and not e.payload.final]
    assert forced, "max_lag=2 should force pairs out on this clip"
    assert _check_bands(events, band=3) == len(_DATA[2])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.booleans(), max_size=200))
def test_bands_do_not_depend_on_the_interleaving_of_fg_and_bg(order: list[bool]) -> None:
    _, _, events = _align(_FG, _BG, order, band_costs=True)
    assert events == _reference()
