"""Graph-file node types of the speaker operators (entry point ``operators-speaker``).

A ``diarizer`` node may enrol known voices from reference clips::

    [nodes.diarize]
    type = "diarizer"
    enrol = { ann = "ann.wav", bob = "bob.flac" }

which :func:`build_diarizer` turns into the ``embedding`` model and ``enrolled``
profiles the operator takes (the model is loaded once, for both), and load thresholds
tuned by ``mediastream diarize-tune`` with ``profile = "meeting.toml"`` (keys given in
the node win over the profile's). Every other key is a
parameter of :class:`~operators.speaker.diarizer.OnlineDiarizer`, the speaker-count
hints included (``num_speakers = 2``, or ``min_speakers``/``max_speakers``).
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

from stream import NodeType, NodeValueError

__all__ = ["NODE_TYPES", "build_diarizer"]


def build_diarizer(cls: type[Any], kwargs: dict[str, Any], extra: dict[str, Any]) -> Any:
    """Build an ``OnlineDiarizer``; ``extra["enrol"]`` (name -> clip path) enrols voices,
    ``extra["profile"]`` (a profile path) sets the thresholds the node does not."""
    profile = extra.get("profile")
    if profile is not None:
        if not isinstance(profile, str):
            raise NodeValueError("profile", 'expected the path of a profile, "tuned.toml"')
        from stream import ParameterError

        from .profile import read_profile

        try:
            kwargs = {**read_profile(profile), **kwargs}
        except ParameterError as exc:
            raise NodeValueError("profile", str(exc)) from None
    clips = extra.get("enrol")
    if clips is None:
        return cls(**kwargs)
    if not isinstance(clips, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in clips.items()
    ):
        raise NodeValueError("enrol", 'expected a table of name = "clip.wav"')
    from .backends import load_embedding_model
    from .enrol import enrol

    model = kwargs.get("embedding", "campplus")
    if isinstance(model, str | PurePath):
        model = load_embedding_model(
            model if isinstance(model, str) else Path(model),
            device=kwargs.get("device", "cpu"),
            threads=kwargs.get("threads"),
            engine=kwargs.get("engine", "auto"),
        )
    return cls(**{**kwargs, "embedding": model, "enrolled": enrol(model, clips)})


NODE_TYPES = [
    NodeType("diarizer", "operator", "operators.speaker.diarizer:OnlineDiarizer",
             "online speaker diarization (segmentation-3.0 + CAM++): speaker turns",
             renames={"model": "embedding"}, hidden=("enrolled",),
             extra={"enrol": "table of name = reference clip path",
                    "profile": "path of a profile written by mediastream diarize-tune"},
             build="operators.speaker.nodes:build_diarizer"),
]  # fmt: skip
