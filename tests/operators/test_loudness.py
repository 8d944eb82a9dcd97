"""LoudnessMeter: BS.1770-4 / EBU R128 figures against pyloudnorm and FFmpeg's ebur128,
EBU Tech 3341/3342 test signals, chunk invariance, errors."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.loudness import LoudnessMeter, LoudnessReading, LoudnessSummary
from operators.loudness._filters import TP_TAPS, k_weighting, true_peak_phases
from stream import AudioChunk, AudioSpec, Event, Item, ParameterError
from tests.chunking import chunk_audio, cut_points

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from ffmpeg_ebur128 import ebur128  # noqa: E402  (bench/: FFmpeg's meter, the reference)

pyloudnorm = pytest.importorskip("pyloudnorm")

RATE = 48_000


def _meter(
    x: npt.NDArray[np.float32], cuts: list[int], rate: int = RATE, **kwargs: object
) -> tuple[LoudnessMeter, list[Event[LoudnessReading]]]:
    m = LoudnessMeter(**kwargs)  # type: ignore[arg-type]
    m.configure({"in": AudioSpec(rate, x.shape[0])})
    out: list[Item] = []
    for chunk in chunk_audio(x, rate, cuts):
        out.extend(m.process(chunk))
    out.extend(m.flush())
    events = [e for e in out if isinstance(e, Event)]
    assert len(events) == len(out)
    return m, events  # type: ignore[return-value]


def _ffmpeg(x: npt.NDArray[np.float32], rate: int = RATE) -> dict[str, float]:
    return ebur128(x, rate)


def _sine(
    freq: float, dbfs: float, seconds: float, rate: int = RATE, phase: float = 0.0
) -> npt.NDArray[np.float64]:
    t = np.arange(round(seconds * rate)) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)


def _stereo(*parts: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    mono = np.concatenate(parts)
    return np.stack([mono, mono]).astype(np.float32)


def _music(seconds: float, seed: int = 0) -> npt.NDArray[np.float32]:
    """Chords of decaying harmonic notes over a noise bed, the level moving by sections."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    x = np.zeros((2, n))
    note = RATE // 4
    for start in range(0, n, note):
        end = min(n, start + note)
        tt = t[start:end] - t[start]
        for f0 in rng.choice([110, 147, 196, 220, 262, 330, 392, 440], size=3):
            for h in range(1, 6):
                amp = 0.15 / h * np.exp(-tt * rng.uniform(2, 8))
                pan = rng.uniform(0.3, 1.0)
                wave = amp * np.sin(2 * np.pi * f0 * h * tt + rng.uniform(0, 6.3))
                x[0, start:end] += pan * wave
                x[1, start:end] += (1.3 - pan) * wave
    x += rng.standard_normal((2, n)) * 0.01
    sections = np.repeat(10 ** (rng.uniform(-12, 0, size=n // RATE + 1) / 20), RATE)[:n]
    return (x * sections).astype(np.float32)


def _speech(seconds: float, seed: int = 1) -> npt.NDArray[np.float32]:
    """Syllable-like bursts (voiced harmonics, noise) with pauses, mono."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    x = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.08, 0.3) * RATE)
        end = min(n, pos + length)
        tt = np.arange(end - pos) / RATE
        f0 = rng.uniform(90, 220)
        env = np.sin(np.pi * tt / tt[-1]) if end - pos > 1 else np.ones(1)
        voiced = sum(np.sin(2 * np.pi * f0 * h * tt) / h for h in range(1, 12))
        x[pos:end] = 0.2 * env * (voiced + 0.3 * rng.standard_normal(end - pos))
        pos = end + int(rng.choice([0.02, 0.05, 0.4, 0.8]) * RATE)
    return x[np.newaxis].astype(np.float32)


def test_k_weighting_at_48k_is_bs1770s_table() -> None:
    coef = k_weighting(48_000)
    shelf = [
        1.53512485958697,
        -2.69169618940638,
        1.19839281085285,
        -1.69065929318241,
        0.73248077421585,
    ]
    highpass = [1.0, -2.0, 1.0, -1.99004745483398, 0.99007225036621]
    np.testing.assert_allclose(coef, shelf + highpass, atol=1e-10)


SIGNALS = {
    "music": lambda: _music(12.0),
    "speech": lambda: _speech(12.0),
    "tech3341_case3": lambda: _stereo(
        _sine(1000, -36, 2.0), _sine(1000, -23, 6.0), _sine(1000, -36, 2.0)
    ),
    "tech3342_case1": lambda: _stereo(_sine(1000, -20, 6.0), _sine(1000, -30, 6.0)),
}


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_integrated_matches_pyloudnorm(name: str) -> None:
    x = SIGNALS[name]()
    m, _ = _meter(x, [4801, 100_000], interval_ms=None, true_peak=False)
    ours = m.summary().integrated_lufs
    assert ours is not None
    data = x.T.astype(np.float64)
    if x.shape[0] == 1:
        data = data[:, 0]
    # pyloudnorm's "DeMan" filter derives the K-weighting as we do (from the analogue
    # prototypes); its default one, fitted at 48 kHz, differs by a few hundredths.
    exact = pyloudnorm.Meter(RATE, filter_class="DeMan").integrated_loudness(data)
    assert ours == pytest.approx(exact, abs=0.01)  # 0.01 LU: the histogram's bins
    fitted = pyloudnorm.Meter(RATE).integrated_loudness(data)
    assert ours == pytest.approx(fitted, abs=0.1)


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_every_figure_matches_ffmpeg_ebur128(name: str) -> None:
    x = SIGNALS[name]()
    m, events = _meter(x, [12_345], interval_ms=None)
    ff = _ffmpeg(x)
    s = m.summary()
    final = events[-1].payload
    assert final.final and events[-1].end == x.shape[1]
    assert s.integrated_lufs == pytest.approx(ff["I"], abs=0.1)
    assert s.loudness_range_lu == pytest.approx(ff["LRA"], abs=0.1)
    assert s.lra_low_lufs == pytest.approx(ff["LRA.low"], abs=0.1)
    assert s.lra_high_lufs == pytest.approx(ff["LRA.high"], abs=0.1)
    assert final.momentary_lufs == pytest.approx(ff["M"], abs=0.1)
    assert final.short_term_lufs == pytest.approx(ff["S"], abs=0.1)
    assert s.true_peak_dbtp == pytest.approx(ff["TP"], abs=0.1)
    assert final.integrated_lufs == s.integrated_lufs
    assert final.true_peak_dbtp == s.true_peak_dbtp


def test_tech3341_steady_tones_read_their_level() -> None:
    # EBU Tech 3341 cases 1 and 2: a 1 kHz stereo sine at -23 / -33 dBFS reads -23 / -33
    # LUFS (M, S, I; tolerance +-0.1 LU), LRA 0.
    for level in (-23.0, -33.0):
        x = _stereo(_sine(1000, level, 5.0))
        m, events = _meter(x, [], interval_ms=1000.0)
        for e in events[3:]:
            r = e.payload
            assert r.momentary_lufs == pytest.approx(level, abs=0.1)
            assert r.short_term_lufs == pytest.approx(level, abs=0.1)
            assert r.integrated_lufs == pytest.approx(level, abs=0.1)
        assert m.summary().loudness_range_lu == pytest.approx(0.0, abs=0.1)


def test_gates_drop_silence_and_quiet_passages() -> None:
    # Tech 3341 case 4: 10 s -72, 10 s -36, 60 s -23, 10 s -36, 10 s -72 dBFS; the
    # absolute gate drops the -72 stretches, the relative one the -36 ones: I = -23.
    parts = [(-72, 10.0), (-36, 10.0), (-23, 60.0), (-36, 10.0), (-72, 10.0)]
    x = _stereo(*(_sine(1000, db, s) for db, s in parts))
    m, _ = _meter(x, [], interval_ms=None)
    assert m.summary().integrated_lufs == pytest.approx(-23.0, abs=0.1)
    silent, _ = _meter(np.zeros((2, RATE), np.float32), [], interval_ms=None)
    s = silent.summary()
    assert s.integrated_lufs is None and s.true_peak_dbtp is None and s.loudness_range_lu == 0.0


@pytest.mark.parametrize(("low", "high"), [(-30.0, -20.0), (-20.0, -15.0), (-40.0, -20.0)])
def test_tech3342_loudness_range(low: float, high: float) -> None:
    # EBU Tech 3342 cases 1-3 (shortened to 6 s + 6 s): LRA = the level step (+-1 LU).
    x = _stereo(_sine(1000, high, 6.0), _sine(1000, low, 6.0))
    m, _ = _meter(x, [], interval_ms=None)
    assert m.summary().loudness_range_lu == pytest.approx(high - low, abs=1.0)
    assert m.summary().loudness_range_lu == pytest.approx(_ffmpeg(x)["LRA"], abs=0.1)


@pytest.mark.parametrize("phase_deg", [0.0, 45.0, 60.0])
def test_true_peak_of_a_quarter_rate_sine(phase_deg: float) -> None:
    # A sine at fs/4 whose samples miss its crests (Tech 3341 true-peak cases): the
    # sample peak is low by up to 3 dB, the true peak reads the crest, -6.02 dBTP.
    x = _stereo(_sine(RATE / 4, -6.0206, 2.0, phase=math.radians(phase_deg)))
    m, _ = _meter(x, [], interval_ms=None)
    tp = m.summary().true_peak_dbtp
    assert tp is not None and -6.0206 - 0.4 <= tp <= -6.0206 + 0.2
    assert tp >= 20 * math.log10(float(np.abs(x).max()))


@pytest.mark.parametrize("stereo", [True, False])
def test_two_lane_k_weighting_is_the_scalar_recursion_bit_for_bit(stereo: bool) -> None:
    # The kernel runs both channels in one <2 x double> (LLVM IR); each lane must do
    # the scalar definition's operations in its order: the direct form I below, FMAs
    # as math.fma would round them (np.float64 has no fma, so fused products are
    # computed exactly in fractions and rounded once).
    from fractions import Fraction

    from operators.loudness._kernel import _k_weighted_squares

    def fma(a: float, b: float, c: float) -> float:
        return float(Fraction(a) * Fraction(b) + Fraction(c))

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 300)) * 0.3).astype(np.float32)
    coef = k_weighting(44_100)
    b0, b1, b2 = coef[:3]
    na1, na2, nd1, nd2 = -coef[3], -coef[4], -coef[8], -coef[9]
    pc = np.array([v for c in (b0, b1, b2, na1, na2, nd1, nd2) for v in (c, c)])
    state = rng.standard_normal((2, 6)) * 0.01  # x1 x2 y1 y2 z1 z2, mid-stream
    acc = np.array([0.5, 0.25])
    got_state, got_acc = state.copy(), acc.copy()
    d = 1 if stereo else 0
    for lo, hi in ((0, 1), (1, 117), (117, 300)):  # any split: the state carries
        _k_weighted_squares(
            x[0, lo:hi], x[d, lo:hi], pc, got_state[0], got_state[d], got_acc, 0, d, np.zeros(14)
        )
    for c in range(d + 1):
        x1, x2, y1, y2, z1, z2 = (float(v) for v in state[c])
        a = float(acc[c])
        for v in x[c].astype(np.float64):
            u = fma(b2, x2, fma(b1, x1, b0 * float(v)))
            y = fma(na1, y1, fma(na2, y2, u))
            z = fma(nd1, z1, fma(nd2, z2, ((y - y1) - y1) + y2))
            a = fma(z, z, a)
            x2, x1, y2, y1, z2, z1 = x1, float(v), y1, y, z1, z
        assert got_state[c].tolist() == [x1, x2, y1, y2, z1, z2]
        assert got_acc[c] == a
    if not stereo:
        assert got_acc[1] == acc[1]  # one channel: the other accumulator is untouched


def test_true_peak_phases_are_symmetric() -> None:
    # The kernel folds the taps on this symmetry (phase 2 symmetric, phase 3 = phase 1
    # reversed), so it must hold exactly.
    phases = true_peak_phases()
    assert phases.shape == (3, TP_TAPS)
    assert phases[1].tobytes() == phases[1, ::-1].tobytes()
    assert phases[2].tobytes() == phases[0, ::-1].tobytes()


@pytest.mark.parametrize("seed", [0, 1])
def test_true_peak_is_the_largest_interpolated_sample(seed: int) -> None:
    # Against the direct polyphase sums in float64, over the stream and the
    # interpolation past its end; bursts over quiet stretches, so that most blocks are
    # below the peak so far (which the kernel may skip) and some are not.
    rng = np.random.default_rng(seed)
    n = 3 * RATE + 777
    levels = np.repeat(10 ** (rng.uniform(-40, 0, size=n // 3000 + 1) / 20), 3000)[:n]
    x = (rng.standard_normal((2, n)) * 0.3 * levels).astype(np.float32)
    m, _ = _meter(x, [5000, 5001, 70_000], interval_ms=None)
    phases = true_peak_phases().astype(np.float64)
    for c in range(2):
        padded = np.concatenate([np.zeros(TP_TAPS), x[c].astype(np.float64), np.zeros(TP_TAPS)])
        peak = float(np.abs(x[c]).max())
        for p in range(3):
            # output i: sum_k phases[p, k] * padded[i + TP_TAPS - k], i = 0 .. n + TP_TAPS - 1
            y = np.convolve(padded, phases[p])[TP_TAPS : TP_TAPS + n + TP_TAPS]
            peak = max(peak, float(np.abs(y).max()))
        got = m.summary().true_peak_dbtp_per_channel[c]
        assert got is not None
        assert got == pytest.approx(20 * math.log10(peak), abs=1e-5)


def test_events_tile_the_stream_at_the_interval() -> None:
    x = _music(3.25)
    _, events = _meter(x, [1000, 50_000], interval_ms=500.0)
    assert [(e.start, e.end) for e in events] == [
        (k * 24_000, (k + 1) * 24_000) for k in range(6)
    ] + [(144_000, 156_000)]
    assert [e.payload.final for e in events] == [False] * 6 + [True]
    assert events[0].payload.momentary_lufs is not None  # 500 ms in: one 400 ms block
    assert events[4].payload.short_term_lufs is None  # 2.5 s in: no 3 s window yet
    assert events[5].payload.short_term_lufs is not None


@settings(max_examples=25, deadline=None)
@given(data=st.data(), channels=st.integers(1, 3), rate=st.sampled_from([8000, 44_100]))
def test_chunk_invariant_bit_for_bit(data: st.DataObject, channels: int, rate: int) -> None:
    total = data.draw(st.integers(1, rate * 4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    levels = np.repeat(10 ** (rng.uniform(-60, 6, size=total // 800 + 1) / 20), 800)[:total]
    x = (rng.standard_normal((channels, total)) * 0.2 * levels).astype(np.float32)
    whole, whole_events = _meter(x, [], rate=rate, interval_ms=200.0)
    cut, cut_events = _meter(x, data.draw(cut_points(total)), rate=rate, interval_ms=200.0)
    assert cut_events == whole_events  # frozen dataclasses of floats: exact equality
    assert cut.summary() == whole.summary()
    assert cut._m.fst.tobytes() == whole._m.fst.tobytes()
    assert cut._m.hist.tobytes() == whole._m.hist.tobytes()


def test_stream_not_starting_at_zero_and_reset() -> None:
    x = _music(2.0)
    m, events = _meter(x, [], interval_ms=1000.0)
    m.reset()
    out: list[Item] = []
    for chunk in chunk_audio(x, RATE, [777], start=10 * RATE):
        out.extend(m.process(chunk))
    out.extend(m.flush())
    shifted = [e for e in out if isinstance(e, Event)]
    assert [e.payload for e in shifted] == [e.payload for e in events]
    assert [e.start - 10 * RATE for e in shifted] == [e.start for e in events]


def test_errors_name_the_frame_and_the_gap() -> None:
    x = np.zeros((2, 9000), np.float32)
    x[1, 4321] = np.nan
    with pytest.raises(ValueError, match="frame 4321"):
        _meter(x, [4000], interval_ms=None)
    m = LoudnessMeter()
    m.configure({"in": AudioSpec(RATE, 2)})
    m.process(AudioChunk(np.zeros((2, 100), np.float32), RATE, 0))
    with pytest.raises(ValueError, match="starts at frame 300, expected 100"):
        m.process(AudioChunk(np.zeros((2, 100), np.float32), RATE, 300))
    with pytest.raises(ValueError, match="configured for 48000 Hz 2 ch"):
        m.process(AudioChunk(np.zeros((1, 100), np.float32), RATE, 100))


@pytest.mark.parametrize(
    "kwargs",
    [{"interval_ms": 10.0}, {"interval_ms": float("nan")}, {"channel_weights": [1.0, -1.0]}],
)
def test_bad_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        LoudnessMeter(**kwargs)  # type: ignore[arg-type]


def test_summary_type() -> None:
    m, _ = _meter(_music(1.0), [], interval_ms=None)
    s = m.summary()
    assert isinstance(s, LoudnessSummary) and s.seconds == 1.0
    assert s.max_momentary_lufs is not None and s.max_short_term_lufs is None


def test_rates_below_8k_are_refused() -> None:
    from stream import IncompatibleInputError

    with pytest.raises(IncompatibleInputError, match="at least 8000 Hz"):
        LoudnessMeter().configure({"in": AudioSpec(4000, 1)})
