"""Speaker-count hints (num_speakers, min_speakers, max_speakers): checked once with clear
errors, and taking effect on real speech (pyannote's sample.wav, two speakers), streaming
and offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from operators.speaker import LinkageClustering, OnlineDiarizer
from operators.speaker.offline import diarize_offline
from operators.speaker.settings import DEFAULT_MAX_SPEAKERS, speaker_counts
from stream import ParameterError

from .support import RATE, campplus, der, sample_audio, sample_reference, segmentation


def _seg(**kw: object) -> OnlineDiarizer:
    return OnlineDiarizer(campplus(), segmentation=segmentation(), **kw)  # type: ignore[arg-type]


def _speakers(events: list) -> set[str]:
    return {e.payload.speaker for e in events if e.kind == "speaker_turn"}


@pytest.mark.parametrize(
    ("counts", "resolved"),
    [
        ((None, None, None), (None, 1, DEFAULT_MAX_SPEAKERS)),
        ((3, None, None), (3, 3, 3)),
        ((3, 3, 3), (3, 3, 3)),
        ((None, 2, None), (None, 2, DEFAULT_MAX_SPEAKERS)),
        ((None, 25, None), (None, 25, 25)),
        ((None, None, 4), (None, 1, 4)),
        ((None, 2, 4), (None, 2, 4)),
    ],
)
def test_counts_resolve(counts: tuple, resolved: tuple) -> None:
    assert speaker_counts(*counts) == resolved


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_speakers": 0}, "num_speakers must be an int >= 1"),
        ({"num_speakers": 2.0}, "num_speakers must be an int >= 1"),
        ({"num_speakers": True}, "num_speakers must be an int >= 1"),
        ({"min_speakers": -1}, "min_speakers must be an int >= 1"),
        ({"max_speakers": 0}, "max_speakers must be an int >= 1"),
        ({"max_speakers": "4"}, "max_speakers must be an int >= 1"),
        ({"num_speakers": 2, "min_speakers": 3}, "num_speakers=2 contradicts min_speakers=3"),
        ({"num_speakers": 2, "max_speakers": 5}, "num_speakers=2 contradicts max_speakers=5"),
        ({"min_speakers": 4, "max_speakers": 3}, "min_speakers=4 is more than max_speakers=3"),
        ({"num_speakers": 2, "clustering": "centroid"}, "need clustering='linkage'"),
        (
            {"max_speakers": 1, "enrolled": {"a": np.ones(192), "b": -np.ones(192)}},
            "2 enrolled voices but at most 1 speakers",
        ),
    ],
)
def test_bad_counts_are_refused_naming_the_parameter(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        _seg(**kwargs)


def test_settings_and_clustering_carry_the_counts() -> None:
    op = _seg(num_speakers=3)
    assert op.settings.num_speakers == 3
    assert (op.min_speakers, op.max_speakers) == (3, 3)
    assert isinstance(op.clustering, LinkageClustering)
    assert (op.clustering.min_speakers, op.clustering.max_speakers) == (3, 3)
    assert op.num_speakers == 0  # the attribute counts the speakers found so far
    with pytest.raises(ParameterError, match="min_speakers"):
        LinkageClustering(0.5, min_speakers=3, max_speakers=2)


def test_max_speakers_caps_the_speakers_on_real_speech() -> None:
    events = _seg(max_speakers=1).run_all(sample_audio(), RATE, chunk_frames=4096)
    assert len(_speakers(events)) == 1
    assert len(_speakers(_seg().run_all(sample_audio(), RATE, chunk_frames=4096))) == 2


def test_min_speakers_separates_voices_a_high_cut_merges() -> None:
    """A cut of 0.9 (near the distance between two different voices) merges the two
    speakers of sample.wav; num_speakers=2 lowers it until both are found."""
    x, ref = sample_audio(), sample_reference()
    merged = _seg(linkage_distance=0.9, new_speaker_distance=1.5).run_all(x, RATE, 4096)
    assert len(_speakers(merged)) == 1
    hinted = _seg(linkage_distance=0.9, new_speaker_distance=1.5, num_speakers=2).run_all(
        x, RATE, 4096
    )
    assert len(_speakers(hinted)) == 2
    d_merged, d_hinted = der(ref, merged, 0.5), der(ref, hinted, 0.5)
    print(f"sample.wav cut 0.9: DER {d_merged:.3f}, with num_speakers=2: {d_hinted:.3f}")
    # Measured 0.31 with the hint: the cut is lowered only once the second voice has
    # spoken for a while, and the turns already final stay with the first speaker.
    assert d_hinted < d_merged - 0.2
    assert d_hinted <= 0.4


def test_offline_mode_honours_the_counts() -> None:
    x, ref = sample_audio(), sample_reference()
    assert len(_speakers(diarize_offline(_seg(num_speakers=1), x))) == 1
    merged = diarize_offline(_seg(), x, threshold=1.5, clustering="agglomerative")
    assert len(_speakers(merged)) == 1
    hinted = diarize_offline(_seg(min_speakers=2), x, threshold=1.5, clustering="agglomerative")
    assert len(_speakers(hinted)) == 2
    assert der(ref, hinted, 0.5) <= 0.05
    # The default (hindsight) clustering's streaming pass cannot find three voices in
    # sample.wav; it falls back to the agglomerative one, which cuts into three.
    assert len(_speakers(diarize_offline(_seg(min_speakers=3), x))) == 3


def test_graph_file_diarizer_node_takes_the_counts(tmp_path: Path) -> None:
    from mediastream.graphfile import GraphFileError, load_graph
    from tests.operators.speaker.support import sample_dir

    text = f"""
[nodes.speech]
type = "file"
path = "{sample_dir() / "sample.wav"}"
audio = {{ sample_rate = 16000, channels = 1 }}
video = false

[nodes.diarize]
type = "diarizer"
input = "speech.audio"
num_speakers = 2

[nodes.rttm]
type = "rttm"
input = "diarize"
path = "turns.rttm"
"""
    gf = load_graph(text=text, out_dir=tmp_path)
    node = gf.graph.node("diarize")
    assert node.settings.num_speakers == 2  # type: ignore[union-attr]
    bad = text.replace("num_speakers = 2", "num_speakers = 2\nmin_speakers = 3")
    with pytest.raises((GraphFileError, ParameterError), match="contradicts min_speakers=3"):
        load_graph(text=bad, out_dir=tmp_path)
