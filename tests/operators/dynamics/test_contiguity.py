"""Dynamics operators and meters refuse input chunks with a gap or an overlap."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from operators import Compressor, EnvelopeFollower, Gate, LevelMeter, Limiter
from operators.dynamics.meter import Meter
from stream import AudioChunk, AudioSpec, Operator

from ._util import RATE

FACTORIES: dict[str, Callable[[], Operator]] = {
    "compressor": lambda: Compressor(),
    "compressor-metered": lambda: Compressor(meter_interval_ms=5.0),
    "limiter": lambda: Limiter(),
    "limiter-metered": lambda: Limiter(meter_interval_ms=5.0),
    "gate": lambda: Gate(),
    "gate-metered": lambda: Gate(meter_interval_ms=5.0),
    "envelope": lambda: EnvelopeFollower(),
    "envelope-metered": lambda: EnvelopeFollower(meter_interval_ms=5.0),
    "level-meter": lambda: LevelMeter(interval_ms=5.0),
}


def _chunk(start: int, frames: int = 480) -> AudioChunk:
    rng = np.random.default_rng(start)
    return AudioChunk(rng.uniform(-0.5, 0.5, (2, frames)).astype(np.float32), RATE, start)


def _configured(name: str) -> Operator:
    op = FACTORIES[name]()
    op.configure({"in": AudioSpec(RATE, 2)})
    op.reset()
    return op


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize(("second", "kind"), [(5000, "gap"), (1240, "overlap")])
def test_gap_or_overlap_is_refused_naming_both_frames(name: str, second: int, kind: str) -> None:
    op = _configured(name)
    op.process(_chunk(1000))
    with pytest.raises(ValueError, match=rf"starts at frame {second}, expected 1480") as info:
        op.process(_chunk(second))
    assert "gap or overlap" in str(info.value), kind


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_contiguous_chunks_from_any_start_and_reset_forgets_the_position(name: str) -> None:
    op = _configured(name)
    op.process(_chunk(1000))
    op.process(_chunk(1480, 0))  # an empty chunk at the right place is fine
    op.process(_chunk(1480))
    op.process(_chunk(1960))
    op.flush()
    op.reset()
    op.process(_chunk(5000))  # a new run may start anywhere
    op.process(_chunk(5480))


def test_limiter_keeps_the_timeline_of_contiguous_input() -> None:
    """The case from review: a gap used to vanish from the limiter's output timestamps."""
    op = _configured("limiter")
    out = [*op.process(_chunk(1000)), *op.process(_chunk(1480)), *op.flush()]
    chunks = [c for c in out if isinstance(c, AudioChunk)]
    assert chunks[0].start == 1000
    assert sum(c.frames for c in chunks) == 960
    assert chunks[-1].end == 1960


def test_sidechain_compressor_refuses_a_gap_on_the_main_input() -> None:
    op = Compressor(sidechain=True)
    op.configure({"in": AudioSpec(RATE, 2), "sidechain": AudioSpec(RATE, 2)})
    op.reset()
    op.process_port("in", _chunk(0))
    op.process_port("sidechain", _chunk(0))
    with pytest.raises(ValueError, match="starts at frame 960, expected 480"):
        op.process_port("in", _chunk(960))


def test_meter_refuses_blocks_that_do_not_follow() -> None:
    meter = Meter("Limiter", 5.0)
    meter.configure(RATE, 1)
    x = np.zeros((1, 100), np.float32)
    g = np.ones((1, 100), np.float64)
    meter.feed(x, x, g, 1000)
    with pytest.raises(ValueError, match="starting at frame 5000, expected 1100"):
        meter.feed(x, x, g, 5000)
    with pytest.raises(ValueError, match="starting at frame 1050, expected 1100"):
        meter.feed(x, x, g, 1050)
    meter.reset()
    meter.feed(x, x, g, 5000)
