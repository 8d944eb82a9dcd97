"""The graph behind ``mediastream diarize``: file/URL -> OnlineDiarizer -> RTTM / JSON Lines.

Models are imported lazily (torch and pyannote load only when a pipeline is built).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream import Graph

if TYPE_CHECKING:
    from operators.speaker import OnlineDiarizer

__all__ = ["DiarizeSettings", "build_diarize_graph"]


@dataclass
class DiarizeSettings:
    """What ``mediastream diarize`` builds (seconds, names and paths; see OnlineDiarizer).

    Attributes:
        mode: ``"segmentation"`` or ``"vad"``.
        model: ``"campplus"``, ``"ge2e"`` or a pyannote embedding checkpoint/hub id.
        segmentation: pyannote segmentation checkpoint/hub id (None: segmentation-3.0).
        latency_s: finalisation latency (None: the mode's default).
        enrol: name -> reference clip path.
        device, threads: torch settings.
        chunk_frames: decoded chunk size in frames (default 32768, about 2 s at 16 kHz:
            a file is read ahead anyway, and the diarizer batches the buffers and
            windows that one chunk completes; smaller chunks cost throughput, not
            accuracy).
        emit_embeddings: also write ``speaker_embedding`` events to JSON Lines.
    """

    mode: str = "segmentation"
    model: str = "campplus"
    segmentation: str | None = None
    latency_s: float | None = None
    enrol: Mapping[str, str | os.PathLike[str]] = field(default_factory=dict)
    device: str = "cpu"
    threads: int | None = None
    chunk_frames: int = 32768
    emit_embeddings: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def build_diarize_graph(
    path: str,
    settings: DiarizeSettings,
    *,
    rttm: str | os.PathLike[str] | None = None,
    jsonl: str | os.PathLike[str] | None = None,
    uri: str | None = None,
) -> tuple[Graph, OnlineDiarizer]:
    """``FileSource(path, 16 kHz mono) -> OnlineDiarizer -> [RttmSink] [JsonLinesSink]``.

    The diarizer node is named ``"diarize"``; returns the graph and the operator (whose
    ``num_speakers``/``labels`` grow while it runs).
    """
    from operators.speaker import OnlineDiarizer, enrol, load_embedding_model
    from sinks import JsonLinesSink, RttmSink
    from stream import AudioFormat, FileSource, ParameterError, check_output_paths

    # Open the input and check every output first: a missing file, an output that is
    # the input, two outputs on one file or an RTTM file id that RTTM cannot hold fail
    # before any model loads (that takes seconds).
    source = FileSource(path, audio=AudioFormat(16000, 1, settings.chunk_frames), video=False)
    outputs: list[tuple[str, str | os.PathLike[str]]] = []
    rttm_sink = jsonl_sink = None
    if rttm is not None:
        name = uri or os.path.splitext(os.path.basename(path))[0] or "stream"
        name = "".join("_" if c.isspace() else c for c in name)
        try:
            rttm_sink = RttmSink(rttm, uri=name)
        except ParameterError as exc:
            how = "" if uri else (
                " (the file id is the input's name without its extension; give another "
                "with --uri NAME, or uri= from Python)"
            )  # fmt: skip
            raise ParameterError(f"{exc}{how}") from None
        outputs.append(("sink 'rttm'", rttm))
    if jsonl is not None:
        jsonl_sink = JsonLinesSink(jsonl)
        outputs.append(("sink 'jsonl'", jsonl))
    check_output_paths([("source 'file'", path)], outputs)
    model = load_embedding_model(settings.model, device=settings.device, threads=settings.threads)
    if model.sample_rate != 16000:
        source = FileSource(
            path, audio=AudioFormat(model.sample_rate, 1, settings.chunk_frames), video=False
        )
    enrolled = enrol(model, settings.enrol) if settings.enrol else None
    op = OnlineDiarizer(
        model,
        mode=settings.mode,
        segmentation=settings.segmentation,
        latency_s=settings.latency_s,
        enrolled=enrolled,
        emit_embeddings=settings.emit_embeddings,
        device=settings.device,
        threads=settings.threads,
        **settings.options,
    )
    g = Graph()
    src = g.add(source, "file")
    node = g.add(op, "diarize")
    g.connect(src, node)
    if rttm_sink is not None:
        g.connect(node, g.add(rttm_sink, "rttm"))
    if jsonl_sink is not None:
        g.connect(node, g.add(jsonl_sink, "jsonl"))
    return g, op
