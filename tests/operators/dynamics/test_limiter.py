"""Limiter: true lookahead, exact delay, length, ceiling never exceeded, invariance."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators import DynamicsReading, Limiter
from stream import AudioChunk, AudioSpec, Event, Item, ParameterError
from tests.chunking import chunk_audio, cut_points

from ._util import RATE, run, split

CEIL = 10 ** (-1 / 20)


def test_gain_reaches_the_ceiling_before_the_peak_arrives() -> None:
    p, lookahead = 10_000, 240
    x = np.full((2, 40_000), 0.1, np.float32)
    x[0, p : p + 30] = 2.0
    lim = Limiter(-1.0, 5.0, 50.0)
    y, _ = run(lim, chunk_audio(x, RATE, [5000, p - 3, p + 1]), 2)
    assert lim.lookahead_frames == lookahead
    gain = y[1].astype(np.float64) / 0.1
    # Untouched until the peak enters the lookahead window, then a monotonic ramp
    # that is complete on the first frame of the peak.
    np.testing.assert_array_equal(y[:, : p - lookahead], x[:, : p - lookahead])
    ramp = gain[p - lookahead : p + 1]
    assert np.all(np.diff(ramp) < 0)
    assert abs(y[0, p]) <= CEIL and abs(y[0, p]) >= CEIL * (1 - 1e-6)
    np.testing.assert_allclose(np.abs(y[0, p : p + 30]), CEIL, rtol=1e-6)
    # Released afterwards: back to unity a few release times after the peak.
    assert gain[-1] == pytest.approx(1.0, abs=1e-4)
    assert lim.violations == 0


def test_output_is_delayed_by_exactly_the_lookahead() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.5, 0.5, (2, 5000)).astype(np.float32)  # never above the ceiling
    lim = Limiter(-1.0, 2.5, 50.0)
    lim.configure({"in": AudioSpec(RATE, 2)})
    lookahead = 120
    assert lim.latency == Fraction(lookahead, RATE) == Fraction(1, 400)
    lim.reset()
    fed, emitted = 0, 0
    out: list[Item] = []
    origin = 96_000  # a stream that does not start at frame 0
    for chunk in chunk_audio(x, RATE, [1, 50, 119, 121, 400, 3000], start=origin):
        got = lim.process(chunk)
        fed += chunk.frames
        for item in got:
            assert isinstance(item, AudioChunk) and item.start == origin + emitted
            emitted += item.frames
        assert emitted == max(0, fed - lookahead)
        out.extend(got)
    tail = lim.flush()
    assert sum(c.frames for c in tail if isinstance(c, AudioChunk)) == lookahead
    y, _ = split(out + list(tail))
    # Below the ceiling the signal passes bit-exact, on its own timeline.
    assert y.tobytes() == x.tobytes()


@pytest.mark.parametrize("total", [1, 7, 239, 240, 241, 1000])
def test_output_length_equals_input_length(total: int) -> None:
    x = np.full((1, total), 3.0, np.float32)
    y, _ = run(
        Limiter(lookahead_ms=5.0), chunk_audio(x, RATE, [total // 2] if total > 1 else []), 1
    )
    assert y.shape == (1, total)
    assert np.all(np.abs(y) <= CEIL)


loud = st.tuples(
    st.integers(1, 3000),
    st.floats(0.01, 200.0),
    st.sampled_from(["gauss", "impulses", "steps"]),
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    spec=loud,
    channels=st.integers(1, 3),
    lookahead_ms=st.sampled_from([0.0, 0.02, 0.5, 5.0]),
    release_ms=st.sampled_from([0.0, 5.0, 50.0]),
    ceiling_db=st.sampled_from([-0.1, -1.0, -6.0, -23.7]),
)
def test_ceiling_never_exceeded_and_chunk_invariant(
    data: st.DataObject,
    spec: tuple[int, float, str],
    channels: int,
    lookahead_ms: float,
    release_ms: float,
    ceiling_db: float,
) -> None:
    total, scale, shape = spec
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    if shape == "gauss":
        x = rng.standard_normal((channels, total)) * scale
    elif shape == "impulses":
        x = rng.standard_normal((channels, total)) * 0.05
        hits = rng.integers(0, total, size=max(1, total // 50))
        x[rng.integers(0, channels, hits.size), hits] = rng.choice([-1, 1], hits.size) * scale
    else:
        x = np.repeat(rng.uniform(-scale, scale, (channels, total // 97 + 1)), 97, axis=1)
        x = x[:, :total]
    audio = x.astype(np.float32)
    meter = data.draw(st.sampled_from([None, 1.0]))

    def make() -> Limiter:
        return Limiter(ceiling_db, lookahead_ms, release_ms, meter_interval_ms=meter)

    lim = make()
    y, events = run(lim, chunk_audio(audio, RATE, data.draw(cut_points(total))), channels)
    ceiling = 10 ** (ceiling_db / 20)
    assert y.shape == audio.shape
    assert float(np.abs(y).max()) <= ceiling
    assert lim.violations == 0  # the rounding-only caps never did more than rounding
    whole_y, whole_events = run(make(), chunk_audio(audio, RATE, []), channels)
    assert whole_y.tobytes() == y.tobytes()
    assert whole_events == events


def test_meter_events_follow_the_delayed_audio() -> None:
    x = np.full((1, 4800), 2.0, np.float32)
    lim = Limiter(-6.0, 5.0, meter_interval_ms=10.0)
    lim.configure({"in": AudioSpec(RATE, 1)})
    lim.reset()
    audio_end = 0
    events: list[Event[DynamicsReading]] = []
    for chunk in chunk_audio(x, RATE, list(range(300, 4800, 300))):
        for item in lim.process(chunk):
            if isinstance(item, AudioChunk):
                audio_end = item.end
            else:
                assert isinstance(item, Event)
                assert item.end <= audio_end  # never ahead of the audio it describes
                events.append(item)
    events += [e for e in lim.flush() if isinstance(e, Event)]
    assert [(e.start, e.end) for e in events] == [(k * 480, k * 480 + 480) for k in range(10)]
    reading = events[5].payload
    assert reading.input_peak_dbfs[0] == pytest.approx(6.0206, abs=1e-3)
    assert reading.output_peak_dbfs[0] == pytest.approx(-6.0, abs=1e-4)
    assert reading.gain_reduction_db[0] == pytest.approx(12.0206, abs=1e-3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ceiling_db": 1.0},
        {"ceiling_db": float("nan")},
        {"lookahead_ms": -1.0},
        {"lookahead_ms": float("nan")},
        {"lookahead_ms": 2000.0},
        {"release_ms": -5.0},
    ],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        Limiter(**kwargs)


def test_non_finite_input_names_the_frame() -> None:
    x = np.zeros((1, 3000), np.float32)
    x[0, 1234] = -np.inf
    with pytest.raises(ValueError, match="frame 1234"):
        run(Limiter(), chunk_audio(x, RATE, [1000, 2000]), 1)


@pytest.mark.parametrize("prefix", [1, 137, 5000])
def test_silence_before_the_signal_changes_no_bit(prefix: int) -> None:
    # The state after silence is the reset state (the moving sum is exact), so a
    # signal gives the same output bits wherever it starts in the stream.
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((2, 6000)) * 3).astype(np.float32)
    alone, _ = run(Limiter(), chunk_audio(x, RATE, [2999]), 2)
    padded = np.concatenate([np.zeros((2, prefix), np.float32), x], axis=1)
    later, _ = run(Limiter(), chunk_audio(padded, RATE, [prefix // 2 + 1, 4000]), 2)
    assert later[:, prefix:].tobytes() == alone.tobytes()
    assert not later[:, :prefix].any()


def _reference(x: np.ndarray, ceiling_db: float, lookahead: int, release: float) -> np.ndarray:
    """The limiter's definition, frame by frame in NumPy/Python (see ``limiter._limit``):
    the input, then ``lookahead`` frames of silence (what ``flush()`` feeds)."""
    ceiling = 10 ** (ceiling_db / 20)
    c32 = np.float32(ceiling)
    if float(c32) > ceiling:
        c32 = np.nextafter(c32, np.float32(0.0))
    w = lookahead + 1
    frames = x.shape[1]
    xs = np.concatenate([x, np.zeros((x.shape[0], lookahead), np.float32)], axis=1)
    peak = np.abs(xs.astype(np.float64)).max(axis=0)
    g = ceiling / np.maximum(peak, ceiling)
    before = np.ones(lookahead)  # silence before the stream: g = 1
    h = np.lib.stride_tricks.sliding_window_view(np.concatenate([before, g]), w).min(axis=1)
    hq = np.concatenate([np.full(w, 2**44, np.int64), (h * 2**44).astype(np.int64)])
    total = np.cumsum(hq)
    sums = total[w:] - total[:-w]  # sum of hq over frames n-L..n
    gain, out = 1.0, np.empty((x.shape[0], frames), np.float32)
    for n in range(frames + lookahead):
        s = float(sums[n]) / (2.0**44 * w)
        gain = s if s < gain else s + release * (gain - s)
        k = n - lookahead
        if k >= 0:
            applied = min(gain, g[k])
            y = (xs[:, k].astype(np.float64) * applied).astype(np.float32)
            out[:, k] = np.clip(y, -c32, c32)
    return out


@pytest.mark.parametrize(("lookahead_ms", "release_ms"), [(5.0, 50.0), (0.5, 0.0), (0.0, 5.0)])
def test_matches_the_frame_by_frame_definition(lookahead_ms: float, release_ms: float) -> None:
    # The block kernel (vectorised passes, van Herk--Gil-Werman minimum) gives the bits
    # of the definition computed frame by frame, whatever the chunking.
    rng = np.random.default_rng(7)
    levels = np.repeat(10 ** (rng.uniform(-30, 12, size=40) / 20), 100)[:3000]
    x = (rng.standard_normal((2, 3000)) * 0.3 * levels).astype(np.float32)
    lim = Limiter(-1.0, lookahead_ms, release_ms)
    y, _ = run(lim, chunk_audio(x, RATE, [1, 2, 257, 300, 1999]), 2)
    from operators.dynamics._params import coefficient

    ref = _reference(x, -1.0, lim.lookahead_frames, coefficient(release_ms, RATE))
    assert y.tobytes() == ref.tobytes()
