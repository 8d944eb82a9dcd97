"""Never lose a user's data (issue 17), the command-line and graph-file half.

Each test reproduces one case of the issue (numbered as there) through the real CLI on
real files; the docstring says what happened before. The file-source and file-sink half
(corrupt FLAC timeline, pipes, full disk, locks, /dev/full, VFR) is in
test_data_safety_io.py.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediastream.cli import main
from mediastream.graphfile import GraphFileError, load_graph
from mediastream.graphfile._loader import MAX_GRAPH_FILE_BYTES, _Lines
from mediastream.synth import write_media
from sinks import AudioFileSink, JsonLinesSink
from stream import FileSource, Graph, GraphError, OutputPathError, check_output_paths

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("safety")
    write_media(folder / "x.wav", 1.0, video=False)
    write_media(folder / "clip.mp4", 1.0, audio=False, width=160, height=90)
    return folder


def _run(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(cwd)
    return main(args)


# -- 1. an output that is an input -----------------------------------------------------
@pytest.mark.parametrize(
    "spelling", ["x.wav", "./in/../x.wav", "link.wav", "hard.wav", "{abs}/x.wav"]
)
def test_1_output_equal_to_input_is_refused_by_identity(
    media: Path, tmp_path: Path, spelling: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Before: `dynamics x.wav x.wav` truncated the input to 114 bytes, then blamed it
    ("file is empty"). Same through ../, a symlink and a hard link."""
    work = tmp_path
    (work / "x.wav").write_bytes((media / "x.wav").read_bytes())
    (work / "in").mkdir()
    (work / "link.wav").symlink_to(work / "x.wav")
    os.link(work / "x.wav", work / "hard.wav")
    before = _digest(work / "x.wav")
    out = spelling.format(abs=work)
    assert _run(["dynamics", "x.wav", out], work, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "refusing to overwrite an input" in err and repr(out.replace("./", "", 1)) in err
    assert _digest(work / "x.wav") == before


@pytest.mark.parametrize(
    "args",
    [
        ["meter", "x.wav", "--jsonl", "x.wav"],
        ["meter", "x.wav", "--csv", "x.wav"],
        ["dynamics", "x.wav", "o.wav", "--meter-jsonl", "x.wav"],
        ["align", "clip.mp4", "x.wav", "--out", "clip.mp4"],
        ["align", "clip.mp4", "x.wav", "--composite", "x.wav"],
    ],
)
def test_1_every_command_refuses_to_write_its_input(
    media: Path, tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Before: each of these overwrote (destroyed) the input, exit 0 or a confusing
    decode error after the damage."""
    for name in ("x.wav", "clip.mp4"):
        (tmp_path / name).write_bytes((media / name).read_bytes())
    before = {n: _digest(tmp_path / n) for n in ("x.wav", "clip.mp4")}
    assert _run(args, tmp_path, monkeypatch) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert {n: _digest(tmp_path / n) for n in before} == before
    assert not (tmp_path / "o.wav").exists()


def test_1_graph_file_sink_on_its_source_is_refused_by_check_and_run(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Before: `run --check` called such a graph valid and `run` destroyed the input."""
    (tmp_path / "x.wav").write_bytes((media / "x.wav").read_bytes())
    graph = tmp_path / "g.toml"
    graph.write_text(
        (EXAMPLES / "dynamics.toml").read_text().replace('"compressed.wav"', '"x.wav"')
    )
    before = _digest(tmp_path / "x.wav")
    for extra in (["--check"], []):
        code = _run(["run", "g.toml", "--set", "input=x.wav", "--out", ".", *extra],
                    tmp_path, monkeypatch)  # fmt: skip
        assert code == 2
        err = capsys.readouterr().err
        # Points at the sink's path line, names both nodes.
        assert "g.toml:36: nodes.out.path: sink 'out' would write 'x.wav'" in err
        assert "input of source 'media'" in err
    assert _digest(tmp_path / "x.wav") == before


def test_1_python_api_refuses_before_opening(media: Path, tmp_path: Path) -> None:
    """The check is in Graph.validate, so the Python API gets it too; nothing is
    opened for writing (the input keeps its bytes)."""
    src = tmp_path / "x.wav"
    src.write_bytes((media / "x.wav").read_bytes())
    before = _digest(src)
    g = Graph()
    g.chain(g.add(FileSource(src, video=False), "in"), g.add(AudioFileSink(src), "out"))
    with pytest.raises(OutputPathError, match=r"sink 'out' would write .* source 'in'"):
        g.run_sync()
    assert _digest(src) == before


# -- 2. two outputs on one path --------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["dynamics", "x.wav", "o.wav", "--meter-jsonl", "o.wav"],
        ["meter", "x.wav", "--jsonl", "o.txt", "--csv", "o.txt"],
        ["meter", "x.wav", "--jsonl", "o.txt", "--csv", "./sub/../o.txt"],
        ["align", "clip.mp4", "x.wav", "--out", "o.txt", "--composite", "o.txt"],
    ],
)
def test_2_two_outputs_on_one_path_are_refused(
    media: Path, tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Before: accepted; the two writers interleaved into one corrupt file."""
    for name in ("x.wav", "clip.mp4"):
        (tmp_path / name).write_bytes((media / name).read_bytes())
    (tmp_path / "sub").mkdir()
    assert _run(args, tmp_path, monkeypatch) == 2
    assert "would both write" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists() and not (tmp_path / "o.txt").exists()


def test_2_python_api_two_sinks_on_one_path(media: Path, tmp_path: Path) -> None:
    g = Graph()
    src = g.add(FileSource(media / "x.wav", video=False), "in")
    g.connect(src, g.add(AudioFileSink(tmp_path / "o.wav"), "a"))
    g.connect(src, g.add(AudioFileSink(tmp_path / "sub" / ".." / "o.wav"), "b"))
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputPathError, match="sink 'a' and sink 'b' would both write"):
        g.validate()


def test_2_discarding_to_dev_null_twice_is_allowed(media: Path) -> None:
    """A character device is never a conflict: /dev/null twice is how one discards."""
    check_output_paths([("in", media / "x.wav")], [("a", "/dev/null"), ("b", "/dev/null")])
    with pytest.raises(
        OutputPathError, match=r"would both write 'pipe:1' \(the same file as '-'\)"
    ):
        check_output_paths([("in", "-")], [("a", "-"), ("b", "pipe:1")])
    # stdin read and stdout written are different streams.
    check_output_paths([("in", "-")], [("a", "-")])


def test_2_event_sink_and_audio_sink_in_one_graph(media: Path, tmp_path: Path) -> None:
    from operators import LevelMeter

    g = Graph()
    src = g.add(FileSource(media / "x.wav", video=False), "in")
    meter = g.add(LevelMeter(), "meter")
    g.connect(src, meter)
    g.connect(meter, g.add(AudioFileSink(tmp_path / "o.wav"), "audio"))
    g.connect(meter["events"], g.add(JsonLinesSink(tmp_path / "o.wav"), "events"))
    with pytest.raises(OutputPathError, match="sink 'audio' and sink 'events'"):
        g.validate()


# -- 8, 9. hostile graph files ---------------------------------------------------------
@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a=", "}")])
@pytest.mark.parametrize("depth", [20, 600, 5000])
def test_8_deep_nesting_is_a_graph_file_error(
    tmp_path: Path, opener: str, closer: str, depth: int, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Before: 600+ levels gave a RecursionError traceback, exit 1."""
    value = opener * depth + ("1" if opener != "[" else "") + closer * depth
    (tmp_path / "deep.toml").write_text(f'[nodes.a]\ntype = "file"\npath = "x"\nfoo = {value}\n')
    assert _run(["run", "deep.toml", "--check"], tmp_path, monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("mediastream run: error: deep.toml")
    assert "nested" in err and "Traceback" not in err


def test_9_graph_file_size_is_capped_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a 10 MB string cost 1.24 GB of memory (30 MB: 3.7 GB) and seconds of
    parsing. Now: refused by size, reading at most the cap."""
    big = tmp_path / "big.toml"
    big.write_text('[params]\nx = "' + "a" * (30 * 1024 * 1024) + '"\n')
    code = subprocess.run(
        [sys.executable, "-c",
         "import re, sys\nfrom mediastream.cli import main\n"
         "code = main(['run', sys.argv[1], '--check'])\n"
         # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forked parent.
         "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])\n"
         "sys.exit(code)",
         str(big)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert code.returncode == 2, code.stderr
    assert f"larger than {MAX_GRAPH_FILE_BYTES // 1024} KiB" in code.stderr
    peak_mb = int(code.stdout.split()[-1]) / 1024
    assert peak_mb < 400, f"peak RSS {peak_mb:.0f} MB refusing a 30 MB graph file"
    with pytest.raises(GraphFileError, match="longer than"):
        load_graph(text="#" * (MAX_GRAPH_FILE_BYTES + 1), out_dir=tmp_path)


def test_9_line_scan_is_linear_in_memory() -> None:
    """The key-position scan blanked strings with a backtracking regex: ~120 bytes of
    regex state per character of a string. Now possessive, so memory stays near the
    text's own size (measured with tracemalloc, which is deterministic)."""
    import tracemalloc

    text = '[params]\nx = "' + 'a\\"' * 300_000 + '"\n[nodes.a]\ntype = "file"\n'
    tracemalloc.start()
    try:
        lines = _Lines(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines.where[("nodes", "a", "type")] == 4
    assert peak < 20 * len(text), f"{peak / 1e6:.0f} MB for {len(text) / 1e6:.1f} MB"


# -- 12. unclear -----------------------------------------------------------------------
def test_12_set_typo_is_an_error_with_a_suggestion(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Before: `--set inptu=x.wav` was ignored; the run then failed on the default
    input ("cannot open 'in.wav'") or, worse, ran on it."""
    (tmp_path / "x.wav").write_bytes((media / "x.wav").read_bytes())
    graph = str(EXAMPLES / "dynamics.toml")
    assert _run(["run", graph, "--set", "inptu=x.wav", "--check"], tmp_path, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "--set inptu=...: the graph file has no parameter 'inptu'" in err
    assert "did you mean 'input'?" in err
    # A parameter the file uses only as ${name}, undeclared, is still settable.
    text = '[nodes.a]\ntype = "file"\npath = "${src}"\n[nodes.o]\ntype = "jsonl"\ninput = "a"\n'
    with pytest.raises(GraphFileError, match=r"no parameter 'scr'.*did you mean 'src'"):
        load_graph(text=text, params={"scr": "x.wav"}, out_dir=tmp_path)


def test_12_cycle_error_names_only_the_cycle(media: Path, tmp_path: Path) -> None:
    """Before: "cycle through ['a', 'b', 'out']": the sink after the cycle was named."""
    (tmp_path / "c.toml").write_text(
        f'[nodes.src]\ntype = "file"\npath = "{media / "x.wav"}"\n'
        '[nodes.a]\ntype = "gain"\ninput = "b"\n'
        '[nodes.b]\ntype = "gain"\ninput = "a"\n'
        '[nodes.out]\ntype = "audio_file"\ninput = "b"\npath = "o.wav"\n'
    )
    with pytest.raises(GraphError, match=r"cycle: 'a' -> 'b' -> 'a'") as info:
        load_graph(tmp_path / "c.toml", out_dir=tmp_path)
    assert "'out'" not in str(info.value) and "'src'" not in str(info.value)


def test_12_ctrl_c_while_opening_a_fifo_exits_130(tmp_path: Path) -> None:
    """Before: Ctrl-C while FFmpeg waited for a writer on a FIFO gave "Interrupted
    system call", exit 1. An interruption is exit 130 (SIGTERM: 143)."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    for sig, expected in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mediastream", "dynamics", str(fifo), str(tmp_path / "o.wav")],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(3.0)  # imports done, blocked opening the FIFO
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == expected, err
        assert "interrupted" in err and "Traceback" not in err


def test_12_info_reports_each_bad_file(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Before: `info` stopped at the first bad file; the rest were never described."""
    (tmp_path / "bad.wav").write_text("not audio\n")
    args = ["info", "bad.wav", str(media / "x.wav"), "missing.wav", str(media / "clip.mp4")]
    assert _run(args, tmp_path, monkeypatch) == 1
    out, err = capsys.readouterr()
    assert "x.wav: wav" in out and "clip.mp4: mov" in out
    assert "'bad.wav'" in err and "'missing.wav'" in err
    assert "2 of 4 files could not be read" in err


# -- what SIGKILL leaves (README "Guarantees") ------------------------------------------
def test_sigkill_leaves_whole_lines_and_a_readable_wav(tmp_path: Path) -> None:
    """SIGKILL cannot be caught, so nothing is finalised; what holds is what was already
    written: JSON Lines end on a whole line (each line reaches the file in one write),
    and a WAV keeps FFmpeg's streaming header (sizes 0xFFFFFFFF), which readers take as
    "to the end of the file": it opens and decodes its whole samples, no error."""
    import json

    from sinks import MemorySink
    from stream import AudioChunk

    write_media(tmp_path / "long.wav", 120.0, video=False)
    out, events = tmp_path / "k.wav", tmp_path / "k.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediastream", "dynamics", str(tmp_path / "long.wav"),
         str(out), "--meter-jsonl", str(events), "--no-progress", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if events.exists() and events.stat().st_size > 20_000:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.kill()
    proc.wait(timeout=10)
    lines = events.read_text().splitlines(keepends=True)
    assert lines and all(line.endswith("\n") for line in lines)
    starts = [json.loads(line)["start"] for line in lines]
    assert starts == sorted(starts)
    assert out.read_bytes()[4:8] == b"\xff\xff\xff\xff"  # never finalised
    g = Graph()
    sink = MemorySink()
    g.chain(g.add(FileSource(out, video=False), "in"), g.add(sink, "mem"))
    g.run_sync()
    frames = sum(i.frames for i in sink.items if isinstance(i, AudioChunk))
    assert 0 < frames < 120 * 48000


# -- 4 (command side). stdin and stdout -----------------------------------------------
def _cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mediastream", *args], capture_output=True, timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip


def test_4_stdin_to_stdout_carries_only_the_audio(media: Path, tmp_path: Path) -> None:
    """`cat x.wav | mediastream dynamics - - | mediastream dynamics - out.wav`: before,
    "-" was "no such file"; and the banner and stats table went to stdout, into the
    audio. Now an output on stdout implies --quiet: stdout carries the data alone, and
    the audio equals the same processing done file to file."""
    wav = (media / "x.wav").read_bytes()
    piped = _cli("dynamics", "-", "-", input=wav)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout[:4] == b"RIFF" and piped.stderr == b""
    (tmp_path / "piped.wav").write_bytes(piped.stdout)
    direct = _cli("dynamics", str(media / "x.wav"), str(tmp_path / "direct.wav"))
    assert direct.returncode == 0, direct.stderr

    def samples(path: Path) -> list[bytes]:
        from sinks import MemorySink
        from stream import AudioChunk

        g = Graph()
        sink = MemorySink()
        g.chain(g.add(FileSource(path, video=False), "in"), g.add(sink, "mem"))
        g.run_sync()
        return [i.data.tobytes() for i in sink.items if isinstance(i, AudioChunk)]

    assert b"".join(samples(tmp_path / "piped.wav")) == b"".join(samples(tmp_path / "direct.wav"))
    # Events to stdout: JSON and nothing else.
    meter = _cli("meter", str(media / "x.wav"), "--jsonl", "-")
    lines = meter.stdout.decode().splitlines()
    assert meter.returncode == 0 and len(lines) == 10
    assert all(line.startswith('{"kind":"level"') for line in lines)
    # Audio and events both on stdout would mix: refused.
    both = _cli("dynamics", str(media / "x.wav"), "-", "--meter-jsonl", "-")
    assert both.returncode == 2 and b"would both write '-'" in both.stderr


def test_4_reader_going_away_ends_quietly(tmp_path: Path) -> None:
    """`mediastream dynamics long.wav - | head -c 100`: like any Unix filter whose
    reader left, the writer stops at once, exit 0, without an error line."""
    write_media(tmp_path / "long.wav", 60.0, video=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediastream", "dynamics", str(tmp_path / "long.wav"), "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.read(100)[:4] == b"RIFF"
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == b""


def test_3_damage_is_one_warning_line_with_on_error_skip(tmp_path: Path) -> None:
    """A damaged FLAC through the CLI: by default exit 1 naming the file and the time;
    with --on-error skip one warning line (not Python's four-line warning form) and a
    complete output on the true timeline."""
    import numpy as np

    good, bad = tmp_path / "good.flac", tmp_path / "bad.flac"
    write_media(good, 10.0, video=False, channels=1)
    data = bytearray(good.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 3000] = np.random.default_rng(0).bytes(3000)
    bad.write_bytes(bytes(data))
    failed = _cli("meter", str(bad), "--quiet", "--no-progress")
    assert failed.returncode == 1
    assert b"'" + str(bad).encode() + b"'" in failed.stderr and b"damaged at t=" in failed.stderr
    skipped = _cli(
        "meter", str(bad), "--on-error", "skip", "--jsonl", str(tmp_path / "m.jsonl"),
        "--quiet", "--no-progress",
    )  # fmt: skip
    assert skipped.returncode == 0, skipped.stderr
    err = skipped.stderr.decode().splitlines()
    assert len(err) >= 1 and all(line.startswith("mediastream meter: warning: ") for line in err)
    assert "t=" in err[0]
    levels = (tmp_path / "m.jsonl").read_text().splitlines()
    assert len(levels) == 100  # 10 s in 100 ms windows: nothing shifted, nothing added


def test_4_align_refuses_a_pipe_it_would_read_twice(media: Path, tmp_path: Path) -> None:
    """Alignment probes, aligns and composites from each input: a pipe would be read
    once and then found empty (before: a second open waited or read leftovers)."""
    fifo = tmp_path / "fg.fifo"
    os.mkfifo(fifo)
    for fg in ("-", str(fifo)):
        run = _cli("align", fg, str(media / "clip.mp4"), input=b"")
        assert run.returncode == 2
        assert b"is a pipe; alignment reads each input more than once" in run.stderr


# -- 11. diarize checks its outputs before it loads models ------------------------------
@pytest.mark.parametrize(
    "name,extra,message",
    [
        ("nan.wav", ["--rttm", "o.rttm"], "give another with --uri NAME"),
        ("NA.wav", ["--rttm", "o.rttm"], "give another with --uri NAME"),
        ("s.wav", ["--rttm", "s.wav"], "refusing to overwrite an input"),
        ("s.wav", ["--rttm", "o.x", "--jsonl", "./o.x"], "would both write"),
    ],
)
def test_11_diarize_refuses_bad_outputs_before_loading_models(
    media: Path, tmp_path: Path, name: str, extra: list[str], message: str
) -> None:
    """Before: an input named nan.wav or NA.wav (a file id RTTM loaders read as a
    missing value) was refused only after 17-27 s of model loading. Now every output is
    checked first: the process never imports torch."""
    (tmp_path / name).write_bytes((media / "x.wav").read_bytes())
    code = (
        "import sys\nfrom mediastream.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "assert 'torch' not in sys.modules, 'models were loaded'\nsys.exit(code)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, "diarize", name, *extra, "--quiet", "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert (tmp_path / name).read_bytes() == (media / "x.wav").read_bytes()


def test_11_uri_names_the_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--uri` sets the RTTM file id, so a file named nan.wav can be diarized."""
    from tests.operators.speaker.support import sample_dir

    (tmp_path / "nan.wav").write_bytes((sample_dir() / "sample.wav").read_bytes())
    args = ["diarize", "nan.wav", "--rttm", "o.rttm", "--uri", "meeting_1", "--quiet",
            "--no-progress"]  # fmt: skip
    assert _run(args, tmp_path, monkeypatch) == 0
    lines = (tmp_path / "o.rttm").read_text().splitlines()
    assert lines and all(line.split()[1] == "meeting_1" for line in lines)
