"""FileSource over HTTP from a real local server: whole reads, and servers that stall."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mediastream.synth import write_media
from operators import LevelMeter
from sinks import JsonLinesSink
from stream import FileSource, Graph, MediaOpenError, NodeError


class Server:
    """Serves one file over HTTP/1.1; ``send_bytes`` limits what is sent before stalling,
    ``answer=False`` accepts connections and never answers."""

    def __init__(self, data: bytes, send_bytes: int | None = None, answer: bool = True) -> None:
        self.data = data
        self.send_bytes = len(data) if send_bytes is None else send_bytes
        self.answer = answer
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/media.wav"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if self.answer:
                    head = (
                        "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\n"
                        f"Content-Length: {len(self.data)}\r\nConnection: close\r\n\r\n"
                    )
                    conn.sendall(head.encode() + self.data[: self.send_bytes])
                self.stop.wait(60)  # stall (or, when everything was sent, linger)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("net") / "media.wav"
    write_media(path, 10.0, video=False)  # 48 kHz stereo 16-bit: 1.92 MB
    return path


@pytest.fixture
def serve(wav: Path) -> Iterator[type[Server]]:
    servers: list[Server] = []

    class Tracked(Server):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            servers.append(self)

    yield Tracked
    for s in servers:
        s.close()


def test_http_read_equals_the_file(wav: Path, serve: type[Server]) -> None:
    server = serve(wav.read_bytes())
    over_http = np.concatenate([c.data for _, c in FileSource(server.url)], axis=1)
    local = np.concatenate([c.data for _, c in FileSource(wav)], axis=1)
    assert np.array_equal(over_http, local)


def test_stalled_server_fails_after_the_timeout_keeping_what_arrived(
    wav: Path, serve: type[Server], tmp_path: Path
) -> None:
    server = serve(wav.read_bytes(), send_bytes=400_000)  # ~2 s of audio, then silence
    out = tmp_path / "levels.jsonl"
    g = Graph()
    src = g.add(FileSource(server.url, timeout=1.0), "file")
    g.chain(src, g.add(LevelMeter(100), "meter"), g.add(JsonLinesSink(out), "jsonl"))
    t0 = time.monotonic()
    with pytest.raises(NodeError) as info:
        g.run_sync()
    assert time.monotonic() - t0 < 15
    assert info.value.node == "file"
    assert "no data from the network for 1 s (timeout)" in str(info.value)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert 15 <= len(events) <= 21  # the ~2 s that arrived, in 100 ms windows


def test_server_that_never_answers_fails_at_open(wav: Path, serve: type[Server]) -> None:
    server = serve(wav.read_bytes(), answer=False)
    t0 = time.monotonic()
    with pytest.raises(MediaOpenError, match=r"no answer from the network for 1 s"):
        FileSource(server.url, timeout=1.0)
    assert time.monotonic() - t0 < 10
