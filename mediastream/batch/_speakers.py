"""Cross-file speaker linking of a finished batch: ``speakers.json`` and global-label
RTTM copies next to each input's outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream import Event

    from ._plan import DiarizerModels
    from ._records import InputResult

__all__ = ["link_batch"]


def _rttm_name(node: str, nodes: Sequence[str], taken: set[str]) -> str:
    name = "speakers.global.rttm" if len(nodes) == 1 else f"speakers.{node}.global.rttm"
    while name in taken:
        name = "_" + name
    return name


def link_batch(
    results: Sequence[InputResult],
    diarizers: Mapping[str, DiarizerModels],
    out_dir: Path,
    distance: float | None,
) -> dict[str, Any] | None:
    """Link the speakers of every finished input (each diarizer node of each input is
    one stream); write ``out_dir/speakers.json`` and ``out_dir/<stem>/speakers.global.rttm``
    (``speakers.<node>.global.rttm`` with several diarizer nodes). Returns what the
    summary says about it, or None when the graph has no diarizer."""
    from operators.speaker import SpeakerTurn
    from operators.speaker.linking import LINK_DISTANCE, link_speakers
    from sinks import RttmSink

    nodes = list(diarizers)
    if not nodes:
        return None
    models = sorted({d.embedding for d in diarizers.values()})
    if distance is None:
        known = {LINK_DISTANCE.get(m) for m in models}
        if len(known) != 1 or None in known:
            return {
                "linked": False,
                "reason": f"no measured linking distance for {', '.join(models)}; "
                "pass --link-distance",
            }
        distance = known.pop()
    assert distance is not None
    streams = [(r, n) for r in results if r.status == "ok" for n in nodes if n in r.speakers]
    linked = link_speakers([r.speakers[n] for r, n in streams], distance)
    files: dict[str, dict[str, dict[str, str]]] = {}
    rttms: dict[str, list[str]] = {}
    for (r, n), labels in zip(streams, linked.labels, strict=True):
        files.setdefault(r.stem, {})[n] = labels
        taken = {Path(p).name for p in r.outputs}
        name = _rttm_name(n, nodes, taken)
        path = out_dir / r.stem / name
        sink = RttmSink(path, uri=r.stem)
        sink.open()
        error: BaseException | None = None
        try:
            for event in r.turns.get(n, []):
                turn = event.payload
                assert isinstance(turn, SpeakerTurn)
                glob = labels.get(turn.speaker, turn.speaker)
                relabelled: Event[Any] = replace(
                    event, payload=replace(turn, speaker=glob, name=None)
                )
                sink.write(relabelled)
        except BaseException as exc:
            error = exc
            raise
        finally:
            sink.close(error)
        rttms.setdefault(r.stem, []).append(f"{r.stem}/{name}")

    def member(i: int, local: str) -> dict[str, Any]:
        r, n = streams[i]
        seconds = next(p.weight for p in r.speakers[n] if p.label == local)
        return {"input": r.stem, "node": n, "label": local, "speech_s": round(seconds, 3)}

    doc = {
        "models": models,
        "distance": distance,
        "speakers": [
            {
                "label": g,
                "name": linked.names.get(g),
                "speech_s": round(float(w), 3),
                "members": [member(i, local) for i, local in linked.members[g]],
            }
            for g, w in zip(linked.speakers, linked.weights, strict=True)
        ],
        "files": files,
    }
    (out_dir / "speakers.json").write_text(json.dumps(doc, indent=2) + "\n")
    return {
        "linked": True,
        "file": "speakers.json",
        "distance": distance,
        "global_speakers": len(linked.speakers),
        "rttm": rttms,
    }
