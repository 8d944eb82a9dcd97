"""The public API type-checks in users' code (mypy --strict), as the packages ship
py.typed markers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

USER_CODE = """\
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import anyio

from operators import LevelMeter
from sinks import JsonLinesSink, MemorySink
from stream import AudioChunk, AudioFormat, Event, FileSource, Graph, Item, Operator, StreamSpec


@dataclass(frozen=True)
class Peak:
    value: float


class PeakOp(Operator):
    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        return super().configure(inputs)

    def process(self, item: Item) -> list[Event[Peak]]:
        assert isinstance(item, AudioChunk)
        return [Event.from_frames("peak", item.start, item.end, item.sample_rate, Peak(1.0))]


def main() -> None:
    g = Graph()
    src = g.add(FileSource("talk.mp4", audio=AudioFormat(16000, 1), video=False), "file")
    meter = g.add(LevelMeter(interval_ms=100), "meter")
    g.chain(src, meter, g.add(JsonLinesSink("levels.jsonl"), "out"))
    stats = g.run_sync(backend="trio")
    print(stats.table())
    mem = MemorySink()
    g.connect(meter, g.add(mem, "mem"))

    async def consume() -> None:
        async with g.events() as events:
            async for e in events:
                print(e.start_s, e.kind, e.payload)

    anyio.run(consume)
"""


def test_user_code_passes_mypy_strict(tmp_path: Path) -> None:
    for package in ("stream", "operators", "sinks"):
        assert (ROOT / package / "py.typed").is_file()
    script = tmp_path / "user.py"
    script.write_text(USER_CODE)
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"MYPYPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
