"""Build-time validation: malformed graphs fail before anything runs, naming nodes."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import pytest

from sinks import MemorySink
from stream import (
    ArraySource,
    AudioSpec,
    EventSpec,
    Graph,
    GraphError,
    IncompatibleInputError,
    Item,
    MediaStreamError,
    Operator,
    ParameterError,
    StreamMismatchError,
    StreamSpec,
)
from tests.stream.support import (
    EventOnlySink,
    PassThrough,
    RecordingSink,
    RequireMono48k,
    TwoInputs,
    TwoPortSource,
    noise,
    tick,
)


def audio_source(rate: int = 48000, channels: int = 1) -> ArraySource:
    return ArraySource.audio(noise(channels, 4800), rate, 480)


def test_errors_are_graph_errors_and_value_errors() -> None:
    assert issubclass(StreamMismatchError, GraphError)
    assert issubclass(GraphError, MediaStreamError)
    assert issubclass(GraphError, ValueError)
    assert issubclass(IncompatibleInputError, ValueError)


def test_empty_graph() -> None:
    with pytest.raises(GraphError, match="empty"):
        Graph().validate()
    with pytest.raises(GraphError, match="empty"):
        Graph().run_sync()


def test_duplicate_name() -> None:
    g = Graph()
    g.add(PassThrough(), "x")
    with pytest.raises(GraphError, match=r"'x'.*already used"):
        g.add(PassThrough(), "x")
    assert g.node_names == ["x"]


def test_same_object_twice() -> None:
    g = Graph()
    op = PassThrough()
    g.add(op, "a")
    with pytest.raises(GraphError, match="already in the graph"):
        g.add(op, "b")


def test_default_names_are_unique_snake_case() -> None:
    g = Graph()
    assert g.add(PassThrough()).name == "pass_through"
    assert g.add(PassThrough()).name == "pass_through_2"
    assert g.add(MemorySink()).name == "memory_sink"


def test_not_a_node() -> None:
    with pytest.raises(GraphError, match="not a Source, Operator or Sink"):
        Graph().add(object())  # type: ignore[arg-type]


def test_unknown_node_name() -> None:
    g = Graph()
    g.add(PassThrough(), "a")
    with pytest.raises(GraphError, match="no node named 'nope'"):
        g.connect("a", "nope")
    with pytest.raises(GraphError, match="no node named 'nope'"):
        g["nope"]


def test_bad_parameters() -> None:
    with pytest.raises(ParameterError, match="buffer_size"):
        Graph(buffer_size=0)
    with pytest.raises(ParameterError, match="max_skew_s"):
        Graph(max_skew_s=0)
    with pytest.raises(ParameterError, match="max_batch"):
        Graph(max_batch=0)
    g = Graph()
    a, b = g.add(audio_source(), "src"), g.add(MemorySink(), "out")
    with pytest.raises(ParameterError, match="buffer_size"):
        g.connect(a, b, buffer_size=0)


def test_connect_direction_errors() -> None:
    g = Graph()
    src = g.add(audio_source(), "src")
    op = g.add(PassThrough(), "op")
    sink = g.add(MemorySink(), "out")
    with pytest.raises(GraphError, match="from sink 'out'"):
        g.connect(sink, op)
    with pytest.raises(GraphError, match="into source 'src'"):
        g.connect(op, src)
    with pytest.raises(GraphError, match="itself"):
        g.connect(op, op)
    with pytest.raises(GraphError, match="no output 'video'"):
        g.connect(src["video"], op)
    with pytest.raises(GraphError, match="no input 'x'"):
        g.connect(src, op["x"])


def test_cycle() -> None:
    g = Graph()
    src = g.add(audio_source(), "src")
    two = g.add(TwoInputs(), "join")
    a = g.add(PassThrough(), "a")
    b = g.add(PassThrough(), "b")
    g.connect(src, two["a"])
    g.chain(two, a, b)
    g.connect(b, two["b"])
    g.connect(b, g.add(MemorySink(), "out"))
    g.chain(b, g.add(PassThrough(), "after"), g.add(MemorySink(), "out2"))
    # The message names the cycle, in order, and nothing downstream of it.
    with pytest.raises(GraphError, match=r"cycle: 'a' -> 'b' -> 'join' -> 'a'$"):
        g.validate()


def test_operator_without_input() -> None:
    g = Graph()
    g.add(PassThrough(), "lonely")
    with pytest.raises(GraphError, match="operator 'lonely' has no input connected"):
        g.validate()


def test_sink_without_input() -> None:
    g = Graph()
    g.chain(g.add(audio_source(), "src"), g.add(MemorySink(), "out"))
    g.add(MemorySink(), "unfed")
    with pytest.raises(GraphError, match="sink 'unfed' has no input connected"):
        g.validate()


def test_unconnected_operator_input_port() -> None:
    g = Graph()
    g.connect(g.add(audio_source(), "src"), g.add(TwoInputs(), "join")["a"])
    with pytest.raises(GraphError, match=r"operator 'join' input\(s\) \['b'\] are not connected"):
        g.validate()


def test_multi_input_operator_needs_a_port() -> None:
    g = Graph()
    src, join = g.add(audio_source(), "src"), g.add(TwoInputs(), "join")
    with pytest.raises(GraphError, match=r"graph\['join'\]\['a'\]"):
        g.connect(src, join)


def test_unconnected_source() -> None:
    g = Graph()
    g.chain(g.add(audio_source(), "src"), g.add(MemorySink(), "out"))
    g.add(audio_source(), "spare")
    with pytest.raises(GraphError, match="source 'spare' is not connected"):
        g.validate()


def test_ambiguous_port_on_multi_port_source_suggests_one() -> None:
    g = Graph()
    g.connect(g.add(TwoPortSource(4, 1), "x"), g.add(MemorySink(), "out"))
    with pytest.raises(GraphError, match="ambiguous") as info:
        g.validate()
    msg = str(info.value)
    assert "graph['x']['audio']" in msg
    assert "'x' -> 'out'" in msg
    assert not isinstance(info.value, StreamMismatchError)


def test_port_picked_by_what_the_downstream_accepts() -> None:
    g = Graph()
    src = g.add(TwoPortSource(4, 1), "x")
    g.connect(src, g.add(RequireMono48k(), "mono"))  # accepts audio only: unambiguous
    g.connect(g["mono"], g.add(MemorySink(), "a"))
    g.connect(src, g.add(EventOnlySink(), "e"))  # accepts events only
    plan = g.validate()
    assert sorted((e.src, e.src_port, e.dst) for e in plan.edges) == [
        ("mono", "audio", "a"),
        ("x", "audio", "mono"),
        ("x", "events", "e"),
    ]


def test_sample_rate_mismatch_between_two_edges_into_one_port() -> None:
    g = Graph()
    g.connect(g.add(audio_source(48000), "mic"), g.add(MemorySink(), "mix"))
    g.connect(g.add(audio_source(44100), "file"), g["mix"])
    with pytest.raises(StreamMismatchError) as info:
        g.validate()
    msg = str(info.value)
    assert "'mic'" in msg and "'file'" in msg and "'mix'" in msg
    assert "44100 Hz" in msg and "48000 Hz" in msg


def test_channel_mismatch_between_two_edges_into_an_operator_port() -> None:
    g = Graph()
    join = g.add(TwoInputs(), "join")
    g.connect(g.add(audio_source(48000, 1), "left"), join["a"])
    g.connect(g.add(audio_source(48000, 2), "stereo"), join["a"])
    g.connect(g.add(audio_source(48000, 1), "other"), join["b"])
    with pytest.raises(StreamMismatchError) as info:
        g.validate()
    msg = str(info.value)
    assert "'left'" in msg and "'stereo'" in msg and "'join'" in msg and "'a'" in msg
    assert "2 ch" in msg and "1 ch" in msg


def test_event_specs_merge_into_one_port() -> None:
    g = Graph()
    sink = MemorySink()
    out = g.add(sink, "out")
    kinds_a = EventSpec(frozenset({"a"}))
    kinds_b = EventSpec(frozenset({"b"}))
    g.connect(g.add(ArraySource([tick("a", 0)], kinds_a), "ea"), out)
    g.connect(g.add(ArraySource([tick("b", 0)], kinds_b), "eb"), out)
    g.validate()
    assert sink.spec == EventSpec(frozenset({"a", "b"}))


@pytest.mark.parametrize(
    ("rate", "channels", "detail"),
    [(44100, 1, "44100 Hz"), (48000, 2, "2 ch")],
)
def test_operator_rejecting_its_input_names_upstream_and_operator(
    rate: int, channels: int, detail: str
) -> None:
    g = Graph()
    g.chain(
        g.add(audio_source(rate, channels), "file"),
        g.add(PassThrough(), "pre"),
        g.add(RequireMono48k(), "vad"),
        g.add(MemorySink(), "out"),
    )
    with pytest.raises(StreamMismatchError) as info:
        g.run_sync()
    msg = str(info.value)
    assert "'pre' -> 'vad'" in msg
    assert "mono 48000 Hz" in msg and detail in msg
    assert isinstance(info.value.__cause__, IncompatibleInputError)


def test_operator_accepting_its_input_validates() -> None:
    g = Graph()
    g.chain(
        g.add(audio_source(), "file"), g.add(RequireMono48k(), "vad"), g.add(MemorySink(), "out")
    )
    plan = g.validate()
    assert plan.out_specs["vad"] == {"audio": AudioSpec(48000, 1)}
    assert plan.order == ["file", "vad", "out"]


def test_event_only_sink_fed_audio() -> None:
    g = Graph()
    g.connect(g.add(audio_source(), "mic"), g.add(EventOnlySink(), "log"))
    with pytest.raises(StreamMismatchError, match="'mic' -> 'log'") as info:
        g.validate()
    assert "events" in str(info.value) and "audio" in str(info.value)


def test_event_only_sink_fed_audio_through_an_explicit_port() -> None:
    g = Graph()
    src = g.add(TwoPortSource(3, 1), "demux")
    g.connect(src["audio"], g.add(EventOnlySink(), "log"))
    with pytest.raises(StreamMismatchError, match="'demux' -> 'log'") as info:
        g.validate()
    assert isinstance(info.value.__cause__, IncompatibleInputError)


def test_nothing_runs_when_validation_fails() -> None:
    produced: list[int] = []

    def gen():  # type: ignore[no-untyped-def]
        for i in range(10):
            produced.append(i)
            yield tick("x", i)

    g = Graph()
    sink = RecordingSink()
    g.connect(g.add(ArraySource(gen, EventSpec()), "src"), g.add(RequireMono48k(), "vad"))
    g.connect(g["vad"], g.add(sink, "out"))
    with pytest.raises(StreamMismatchError):
        g.run_sync()
    assert produced == [] and sink.opened == 0 and sink.close_calls == 0


class _BadSpecs(Operator):
    def __init__(self, outs: tuple[object, ...]) -> None:
        self.outs = outs

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        return self.outs  # type: ignore[return-value]

    def process(self, item: Item) -> list[Item]:
        return []


@pytest.mark.parametrize(
    ("outs", "match"),
    [(("audio",), "not a stream spec"), ((EventSpec(), EventSpec()), "two events outputs")],
)
def test_operator_output_specs_checked(outs: tuple[object, ...], match: str) -> None:
    g = Graph()
    g.chain(g.add(audio_source(), "src"), g.add(_BadSpecs(outs), "bad"))
    with pytest.raises(GraphError, match=match):
        g.validate()


def test_latency_is_summed_along_the_slowest_path() -> None:
    g = Graph()
    src = g.add(audio_source(), "src")
    a = g.add(PassThrough(Fraction(1, 100)), "a")
    b = g.add(PassThrough(Fraction(1, 40)), "b")
    c = g.add(PassThrough(Fraction(1, 1000)), "c")
    out = g.add(MemorySink(), "out")
    g.chain(src, a, b, out)
    g.chain(src, c, out)
    assert g.latency() == {
        "src": 0.0,
        "a": pytest.approx(0.01),
        "b": pytest.approx(0.035),
        "c": pytest.approx(0.001),
        "out": pytest.approx(0.035),
    }


def test_validate_does_not_change_the_graph() -> None:
    g = Graph()
    src = g.add(TwoPortSource(3, 1), "x")
    g.connect(src, g.add(EventOnlySink(), "e"))
    g.validate()
    g.validate()
    assert [e.src_port for e in g._edges] == [None]


def test_array_source_audio_parameters() -> None:
    with pytest.raises(ParameterError, match="floating point"):
        ArraySource.audio(np.zeros(10, np.int16), 48000)
    with pytest.raises(ParameterError, match="sample_rate"):
        ArraySource.audio(np.zeros(10, np.float32), 0)
    with pytest.raises(ParameterError, match="chunk_frames"):
        ArraySource.audio(np.zeros(10, np.float32), 48000, chunk_frames=0)
    with pytest.raises(ParameterError, match="uint8"):
        ArraySource.video(np.zeros((2, 4, 4, 3), np.float32), 25)
