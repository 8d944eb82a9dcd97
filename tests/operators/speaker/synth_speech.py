"""Synthetic conversations with known turns: espeak-ng driving MBROLA voices.

Debian packages (installed by ``make``'s ``speech-synth-packages`` target): espeak-ng
and mbrola with the voices mbrola-us1, mbrola-en1, mbrola-de2 and mbrola-de5 (the
voices live in Debian's contrib/non-free areas). Four voices distinct enough for
speaker diarization: mb-us1 (US female), mb-en1 (UK male), mb-de2-en (male) and
mb-de5-en (female), the last two German voices reading English.

Measured: CAM++ puts every clean 1.5 s window nearer its own voice's centroid than any
other (distance <= 0.27 against >= 0.43; centroids 0.39-0.60 apart, like the two
speakers of pyannote's sample.wav, 0.53). Same-sex pairs share espeak-ng's prosody:
median F0 193/191 Hz (us1/de5) and 101/99 Hz (en1/de2), one speaking rate. The
segmentation-3.0 model puts two of these voices under one local speaker in about a
third of its 5 s buffers, mostly en1 + de2 and us1 + de5; giving each voice its own
pitch and rate (espeak-ng -p/-s), its own level or its own room does not change that.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 16000
VOICES = ("mb-us1", "mb-en1", "mb-de2-en", "mb-de5-en")
SENTENCES = (
    "The quarterly numbers look better than we expected.",
    "I think the shipping delays are still the main problem.",
    "Could you send me the report before the meeting on Thursday?",
    "We should hire two more engineers for the mobile team.",
    "That sounds reasonable, but the budget is already tight.",
    "Let me check with finance and get back to you tomorrow.",
    "The customers in the north region are asking for a discount.",
    "Our new supplier delivered everything on time this month.",
    "I disagree, the quality of the last batch was rather poor.",
    "Maybe we can run a small pilot before we commit to anything.",
    "The weather was terrible, so the conference started late.",
    "Honestly, I have not seen the latest version of the design.",
    "We could move the launch to the first week of September.",
    "The servers were down for almost an hour last night.",
    "Please make sure everybody has access to the shared folder.",
    "I will prepare a short summary of the options for the board.",
)


@dataclass(frozen=True)
class Conversation:
    """Mono float32 audio at 16 kHz and its turns ``(start_s, end_s, voice)``."""

    audio: npt.NDArray[np.float32]
    turns: tuple[tuple[float, float, str], ...]

    def reference(self) -> object:
        """The turns as a pyannote ``Annotation``."""
        from pyannote.core import Annotation, Segment

        ref = Annotation()
        for start, end, voice in self.turns:
            ref[Segment(start, end)] = voice
        return ref

    def rttm(self, uri: str) -> str:
        """The turns as RTTM text."""
        return "".join(
            f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {v} <NA> <NA>\n"
            for s, e, v in self.turns
        )


def available() -> bool:
    """Whether espeak-ng and the four MBROLA voices are installed."""
    if shutil.which("espeak-ng") is None or shutil.which("mbrola") is None:
        return False
    return all(Path("/usr/share/mbrola", v.split("-")[1]).exists() for v in VOICES)


@functools.cache
def utterance(voice: str, text: str) -> npt.NDArray[np.float32]:
    """One sentence spoken by ``voice``, 16 kHz mono, silence trimmed at both ends."""
    from operators.speaker import load_clip

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "u.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "165", "-w", str(path), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        x = load_clip(path, RATE)
    frames = x[: x.size // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > 10 ** (-40 / 20))
    return x[loud[0] * 160 : (loud[-1] + 1) * 160].copy()


def conversation(
    turns: int,
    seed: int,
    voices: tuple[str, ...] = VOICES,
    pause_s: tuple[float, float] = (0.3, 0.9),
) -> Conversation:
    """``turns`` sentences by ``voices`` (never the same voice twice in a row), separated
    by pauses drawn from ``pause_s``, over a faint noise floor (-70 dBFS)."""
    rng = np.random.default_rng(seed)
    parts: list[npt.NDArray[np.float32]] = []
    out: list[tuple[float, float, str]] = []
    t = 0
    prev = -1
    for _ in range(turns):
        v = int(rng.integers(len(voices) - 1))
        v = v if v < prev or prev < 0 else v + 1
        if prev < 0:
            v = int(rng.integers(len(voices)))
        prev = v
        pause = np.zeros(int(rng.uniform(*pause_s) * RATE), np.float32)
        u = utterance(voices[v], SENTENCES[int(rng.integers(len(SENTENCES)))])
        parts += [pause, u]
        t += pause.size
        out.append((t / RATE, (t + u.size) / RATE, voices[v]))
        t += u.size
    parts.append(np.zeros(RATE // 2, np.float32))
    audio = np.concatenate(parts)
    audio += rng.normal(0, 10 ** (-70 / 20), audio.size).astype(np.float32)
    return Conversation(audio.astype(np.float32), tuple(out))
