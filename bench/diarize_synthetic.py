"""Diarization accuracy on synthetic 4-speaker conversations (issue 5's DER target).

``diarize_synthetic_der``
    Conversations generated with espeak-ng + MBROLA voices (mb-us1, mb-en1, mb-de2-en,
    mb-de5-en; ``tests/operators/speaker/synth_speech.py``), known turns as the
    reference, DER (overlap scored) at collar 0.5 s and 0 s from pyannote.metrics.
    Seeds 7-16 of 20- and 40-turn conversations (60-125 s each) by default: seeds 1-6
    were used to choose ``LinkageClustering``'s defaults, so these are held out.
    ``--seconds`` is ignored; ``--quick`` runs one 20-turn conversation.

    Configurations, each streamed in 4096-frame chunks through ``process()``:

    * ``seg_linkage``: the default: segmentation-3.0 + CAM++, linkage clustering;
    * ``seg_centroid``: the same models with ``clustering="centroid"`` (the previous
      default, one decision per embedding against running centroids);
    * ``seg_offline``: ``diarize_offline(clustering="agglomerative")`` of the same
      models (average linkage over the whole file, independent of the streaming
      clustering);
    * ``light``: silero-vad + CAM++ windows (light mode, centroid clustering).

    Metrics: ``<config>_der05`` (DER of the whole set: errors summed over the
    conversations, as DER is reported for a corpus), ``_der05_mean`` / ``_max`` (per
    conversation), ``_over5`` (conversations above 5 %), ``_der0`` (corpus, collar 0),
    ``<config>_speakers_ok`` (fraction of conversations where exactly 4 speakers were
    found). Deterministic up to float noise: one repetition is enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from harness import Options, Prepared, register

SEEDS = tuple(range(7, 17))
TURNS = (20, 40)
CHUNK = 4096
TARGET_DER = 0.05


@register(
    "diarize_synthetic_der",
    "DER on synthetic 4-speaker conversations: linkage vs centroid clustering vs offline",
)
def prepare(options: Options) -> Prepared:
    from operators.speaker import OnlineDiarizer
    from operators.speaker.offline import diarize_offline
    from tests.operators.speaker import synth_speech
    from tests.operators.speaker.support import (
        RATE,
        annotation,
        campplus,
        segmentation,
        silero,
    )

    if not synth_speech.available():
        raise RuntimeError(
            "espeak-ng and the MBROLA voices are not installed (make speech-synth-packages)"
        )
    cases = [(20, SEEDS[0])] if options.quick else [(t, s) for t in TURNS for s in SEEDS]
    convs = [synth_speech.conversation(t, seed=s) for t, s in cases]

    def seg(clustering: str) -> Any:
        return OnlineDiarizer(campplus(), segmentation=segmentation(), clustering=clustering)

    makers: dict[str, Any] = {
        "seg_linkage": lambda: seg("linkage"),
        "seg_centroid": lambda: seg("centroid"),
        "light": lambda: OnlineDiarizer(campplus(), mode="vad", vad=silero()),
    }

    def run() -> dict[str, float]:
        from pyannote.metrics.diarization import DiarizationErrorRate

        names = [*makers, "seg_offline"]
        rows: dict[str, list[tuple[float, bool]]] = {k: [] for k in names}
        corpus = {
            (k, c): DiarizationErrorRate(collar=c, skip_overlap=False)
            for k in names
            for c in (0.5, 0.0)
        }

        def score(name: str, ref: Any, events: list[Any], n: int, uri: str) -> None:
            hyp = annotation(events)
            d = corpus[name, 0.5](ref, hyp, uri=uri)
            corpus[name, 0.0](ref, hyp, uri=uri)
            rows[name].append((float(d), n == 4))

        for i, conv in enumerate(convs):
            ref = conv.reference()
            for name, make in makers.items():
                op = make()
                ev = op.run_all(conv.audio, RATE, chunk_frames=CHUNK)
                score(name, ref, ev, op.num_speakers, f"c{i}")
                if name == "seg_linkage":
                    off = diarize_offline(op, conv.audio, clustering="agglomerative")
                    n_off = len({e.payload.speaker for e in off})
                    score("seg_offline", ref, off, n_off, f"c{i}")
        out: dict[str, float] = {}
        for name, r in rows.items():
            a = np.array([d for d, _ in r], np.float64)
            out[f"{name}_der05"] = abs(corpus[name, 0.5])
            out[f"{name}_der05_mean"] = float(a.mean())
            out[f"{name}_der05_max"] = float(a.max())
            out[f"{name}_over5"] = float((a > TARGET_DER).sum())
            out[f"{name}_der0"] = abs(corpus[name, 0.0])
            out[f"{name}_speakers_ok"] = float(np.mean([ok for _, ok in r]))
        return out

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        return {
            f"seg_linkage_der05 (corpus) <= {TARGET_DER}": m["seg_linkage_der05"] <= TARGET_DER,
            "seg_linkage_der05 <= seg_offline_der05 + 0.03": m["seg_linkage_der05"]
            <= m["seg_offline_der05"] + 0.03,
            "seg_linkage_speakers_ok == 1": m["seg_linkage_speakers_ok"] == 1.0,
        }

    return Prepared(
        run=run,
        params={
            "conversations": [f"{t} turns, seed {s}" for t, s in cases],
            "seconds_of_audio": round(sum(c.audio.size for c in convs) / RATE, 1),
            "chunk_frames": CHUNK,
        },
        checks=checks,
    )
