"""Gain: exact factor, chunk invariance, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators import Gain
from stream import AudioChunk, ParameterError
from tests.chunking import chunk_audio, cut_points


def test_gain_factor() -> None:
    x = np.linspace(-1, 1, 101, dtype=np.float32)[np.newaxis, :]
    (out,) = Gain(-6.0206).run_all(x, 8000)
    assert isinstance(out, AudioChunk)
    np.testing.assert_allclose(out.data, x * 0.5, atol=1e-6)
    assert out.data.dtype == np.float32 and out.start == 0


@settings(max_examples=30, deadline=None)
@given(data=st.data(), gain_db=st.floats(-60, 24))
def test_chunk_invariance(data: st.DataObject, gain_db: float) -> None:
    total = data.draw(st.integers(1, 500))
    x = np.random.default_rng(total).uniform(-1, 1, (2, total)).astype(np.float32)
    whole = np.concatenate([c.data for c in Gain(gain_db).run_all(x, 48000)], axis=1)
    chunks = Gain(gain_db).run_all(chunk_audio(x, 48000, data.draw(cut_points(total))))
    assert np.array_equal(np.concatenate([c.data for c in chunks], axis=1), whole)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 200.0])
def test_bad_gain(bad: float) -> None:
    with pytest.raises(ParameterError, match="gain_db"):
        Gain(bad)


def test_nan_names_the_earliest_frame_over_all_channels() -> None:
    # Channel 0 goes bad at frame 100, channel 1 already at frame 5: frame 5 is reported.
    x = np.zeros((2, 200), np.float32)
    x[0, 100] = np.nan
    x[1, 5] = np.inf
    with pytest.raises(ValueError, match=r"at frame 1005 of the input of Gain"):
        Gain(0.0).process(AudioChunk(x, 48000, 1000))
