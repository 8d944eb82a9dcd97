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

__all__ = ["DiarizeSettings", "LiveInput", "build_diarize_graph"]


@dataclass
class LiveInput:
    """An audio input device to diarize live (``mediastream diarize --input-device``).

    Attributes:
        device: PortAudio device index or name (None: the default input).
        sample_rate: the device's rate, Hz (default 48000); resampled to the models'.
        blocksize: frames per device callback (default 1024).
        duration_s: stop after this many seconds (None: until :meth:`DeviceSource.stop`,
            Ctrl-C in the CLI).
        record: also write the captured audio (at the device's rate) to this file (a
            ``.wav`` is float32, bit for bit what the diarizer got; other extensions
            use their default codec).
        queue_s: seconds of input the device hand-off holds while the models work
            (default 4: a forward pass on a busy machine must not lose audio).
    """

    device: int | str | None = None
    sample_rate: int = 48000
    blocksize: int = 1024
    duration_s: float | None = None
    record: str | os.PathLike[str] | None = None
    queue_s: float = 4.0


@dataclass
class DiarizeSettings:
    """What ``mediastream diarize`` builds (seconds, names and paths; see OnlineDiarizer).

    Attributes:
        mode: ``"segmentation"`` or ``"vad"``.
        model: ``"campplus"``, ``"ge2e"`` or a pyannote embedding checkpoint/hub id.
        segmentation: pyannote segmentation checkpoint/hub id (None: segmentation-3.0).
        latency_s: finalisation latency (None: the mode's default).
        enrol: name -> reference clip path.
        device, threads: where the models run and their intra-op threads.
        engine: ``"auto"`` (default), ``"onnx"`` or ``"torch"`` (see
            :class:`~operators.speaker.diarizer.OnlineDiarizer`).
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
    engine: str = "auto"
    chunk_frames: int = 32768
    emit_embeddings: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def build_diarize_graph(
    path: str | LiveInput,
    settings: DiarizeSettings,
    *,
    rttm: str | os.PathLike[str] | None = None,
    jsonl: str | os.PathLike[str] | None = None,
    uri: str | None = None,
) -> tuple[Graph, OnlineDiarizer]:
    """``FileSource(path, 16 kHz mono) -> OnlineDiarizer -> [RttmSink] [JsonLinesSink]``,
    or for a :class:`LiveInput`, ``DeviceSource -> Resample(16 kHz) -> OnlineDiarizer``
    (and the captured audio to ``record``).

    The source node is named ``"file"`` or ``"input"``, the diarizer ``"diarize"``;
    returns the graph and the operator (whose ``num_speakers``/``labels`` grow while it
    runs).
    """
    from operators import Resample
    from operators.speaker import OnlineDiarizer, enrol, load_embedding_model
    from sinks import AudioFileSink, JsonLinesSink, RttmSink
    from stream import AudioFormat, DeviceSource, FileSource, ParameterError, check_output_paths

    # Open the input and check every output first: a missing file, an output that is
    # the input, two outputs on one file or an RTTM file id that RTTM cannot hold fail
    # before any model loads (that takes seconds).
    live = path if isinstance(path, LiveInput) else None
    file_path = path if isinstance(path, str) else ""
    source: FileSource | DeviceSource
    inputs: list[tuple[str, str | os.PathLike[str]]] = []
    if live is None:
        source = FileSource(
            file_path, audio=AudioFormat(16000, 1, settings.chunk_frames), video=False
        )
        inputs.append(("source 'file'", file_path))
    else:
        from stream.devices import find_device, portaudio_calls

        with portaudio_calls("diarize"):  # a missing device fails before the models load
            find_device("DeviceSource", live.device, "input", 1, live.sample_rate)
        source = DeviceSource(
            live.device,
            sample_rate=live.sample_rate,
            channels=1,
            blocksize=live.blocksize,
            queue_blocks=max(16, round(live.queue_s * live.sample_rate / live.blocksize)),
            duration=live.duration_s,
        )
    outputs: list[tuple[str, str | os.PathLike[str]]] = []
    rttm_sink = jsonl_sink = record_sink = None
    if rttm is not None:
        default = "live" if live is not None else os.path.splitext(os.path.basename(file_path))[0]
        name = uri or default or "stream"
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
    if live is not None and live.record is not None:
        # A WAV recording is float32: bit for bit what was captured and diarized.
        wav = os.fspath(live.record).lower().endswith(".wav")
        record_sink = AudioFileSink(live.record, codec="pcm_f32le" if wav else None)
        outputs.append(("sink 'record'", live.record))
    check_output_paths(inputs, outputs)
    model = load_embedding_model(
        settings.model, device=settings.device, threads=settings.threads, engine=settings.engine
    )
    if live is None and model.sample_rate != 16000:
        source = FileSource(
            file_path, audio=AudioFormat(model.sample_rate, 1, settings.chunk_frames), video=False
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
        engine=settings.engine,
        **settings.options,
    )
    g = Graph()
    if live is None:
        g.connect(g.add(source, "file"), (node := g.add(op, "diarize")))
    else:
        src = g.add(source, "input")
        node = g.add(op, "diarize")
        if live.sample_rate != model.sample_rate:
            resample = g.add(Resample(model.sample_rate), "resample")
            g.connect(src["audio"], resample)
            g.connect(resample, node)
        else:
            g.connect(src["audio"], node)
        if record_sink is not None:
            g.connect(src["audio"], g.add(record_sink, "record"))
    if rttm_sink is not None:
        g.connect(node, g.add(rttm_sink, "rttm"))
    if jsonl_sink is not None:
        g.connect(node, g.add(jsonl_sink, "jsonl"))
    return g, op
