"""``mediastream diarize-tune`` and diarizer profiles (operators/speaker/tuning.py,
profile.py; mediastream/diarize_tune.py): the search and its cross-validation on real
speech (pyannote's sample.wav, cut in two recordings, with its reference), the profile
and every place that loads it, and the errors users meet."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mediastream.graphfile import GraphFileError, load_graph
from mediastream.synth import write_media
from operators.speaker.profile import read_profile, write_profile
from operators.speaker.tuning import DEFAULTS, GRIDS, TUNABLE, Trial, cross_validate, read_rttm
from stream import ParameterError
from tests.operators.speaker.support import RATE, sample_audio, sample_dir

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediastream", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _two_recordings(tmp_path: Path) -> tuple[list[Path], Path]:
    """sample.wav cut at 15 s into ``first.wav`` and ``second.wav``, and an RTTM of both
    from sample.rttm (turns clipped to each half, times shifted)."""
    x = sample_audio()
    half = 15 * RATE
    paths = []
    for name, part in (("first", x[:half]), ("second", x[half:])):
        path = tmp_path / f"{name}.wav"
        write_media(path, part.shape[0] / RATE, video=False, sample_rate=RATE,
                    audio_data=part[None, :])  # fmt: skip
        paths.append(path)
    lines = []
    for seg, _, label in read_rttm(sample_dir() / "sample.rttm")["sample"].itertracks(
        yield_label=True
    ):
        for name, t0 in (("first", 0.0), ("second", 15.0)):
            start, end = max(seg.start, t0) - t0, min(seg.end, t0 + 15.0) - t0
            if end > start:
                lines.append(
                    f"SPEAKER {name} 1 {start:.3f} {end - start:.3f} <NA> <NA> {label} <NA> <NA>"
                )
    rttm = tmp_path / "ref.rttm"
    rttm.write_text("\n".join(lines) + "\n")
    return paths, rttm


def test_tuning_on_real_speech_writes_a_profile_that_diarize_loads(tmp_path: Path) -> None:
    (first, second), rttm = _two_recordings(tmp_path)
    profile = tmp_path / "sample.toml"
    res = _cli("diarize-tune", first, second, "--reference", rttm, "--out", profile,
               "--threads", "1", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "[30/30]" in out  # the quick grid, every point scored
    for name in GRIDS["quick"]:
        assert f"  {name}:" in out  # its DER curve
    assert "<- chosen" in out and "cross-validated (leave one recording out)" in out
    params = read_profile(profile)
    assert set(params) == set(GRIDS["quick"])
    for name, value in params.items():
        assert value in GRIDS["quick"][name]
    info = tomllib.loads(profile.read_text())["tuning"]
    assert info["recordings"] == ["first", "second"] and info["folds"] == 2
    # The defaults are a point of the grid, so the chosen setting is at least as good.
    assert 0 <= info["der"] <= info["default_der"] + 1e-12
    assert 0 <= info["cross_validated_der"] < 0.5
    assert info["der"] < 0.2  # two clear voices: a working diarizer gets most of it right

    res = _cli("diarize", first, "--profile", profile, "--rttm", tmp_path / "first.rttm",
               "--quiet", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "first.rttm").read_text().startswith("SPEAKER first 1 ")


def test_cross_validation_chooses_on_the_other_files_and_breaks_ties_towards_defaults() -> None:
    def trial(linkage: float, errors: dict[str, float]) -> Trial:
        t = Trial({"linkage_distance": linkage})
        t.errors = {u: (e, 10.0) for u, e in errors.items()}
        return t

    trials = [
        trial(0.3, {"a": 1.0, "b": 1.0, "c": 9.0}),
        trial(0.38, {"a": 2.0, "b": 2.0, "c": 2.0}),
        trial(0.5, {"a": 2.0, "b": 2.0, "c": 2.0}),  # equal to 0.38 everywhere
    ]
    cv = cross_validate(trials)
    assert cv.chosen.params == {"linkage_distance": 0.38}  # 6/30 < 11/30; tie -> default
    folds = {tuple(held): (params["linkage_distance"], der) for held, params, der in cv.folds}
    # Leaving out a or b, the others (b or a, and c) prefer 0.38; leaving out c, 0.3 wins.
    assert folds == {("a",): (0.38, 0.2), ("b",): (0.38, 0.2), ("c",): (0.3, 0.9)}
    assert math.isclose(cv.held_out_der, (2.0 + 2.0 + 9.0) / 30.0)
    two = cross_validate(trials, folds=2)
    assert [held for held, _, _ in two.folds] == [["a", "c"], ["b"]]
    assert DEFAULTS["linkage_distance"] == 0.38


def test_profiles_are_checked_and_name_the_file_and_key(tmp_path: Path) -> None:
    good = tmp_path / "p.toml"
    write_profile(good, {"linkage_distance": 0.46, "min_cluster_size": 6.0}, {"der": 0.1}, "x")
    assert read_profile(good) == {"linkage_distance": 0.46, "min_cluster_size": 6.0}
    cases = {
        "[diarizer]\nlinkage_distanse = 0.4\n": r"unknown parameter 'linkage_distanse' "
        r"\(did you mean 'linkage_distance'\?\)",
        "[diarizer]\nlinkage_distance = 3.0\n": r"linkage_distance must be a number in \[0, 2\]",
        "[diarizer]\nonset = true\n": "onset must be a number",
        "linkage_distance = 0.4\n": r"no \[diarizer\] table",
        "[diarizer\n": "not valid TOML",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ParameterError, match=message) as err:
            read_profile(bad)
        assert "bad.toml" in str(err.value)
    with pytest.raises(ParameterError, match="cannot read diarizer profile"):
        read_profile(tmp_path / "missing.toml")
    with pytest.raises(ParameterError, match="cannot set 'clustering'"):
        write_profile(tmp_path / "q.toml", {"clustering": 1.0})
    assert set(TUNABLE) >= set(GRIDS["standard"])


def test_a_graph_file_diarizer_takes_a_profile_and_its_own_keys_win(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    write_profile(profile, {"linkage_distance": 0.5, "min_cluster_size": 5.0})
    text = f"""
[nodes.speech]
type = "file"
path = "{sample_dir() / "sample.wav"}"
audio = {{ sample_rate = 16000, channels = 1 }}
video = false

[nodes.diarize]
type = "diarizer"
input = "speech.audio"
profile = "{profile}"
min_cluster_size = 12

[nodes.rttm]
type = "rttm"
input = "diarize"
path = "turns.rttm"
"""
    gf = load_graph(text=text, out_dir=tmp_path)
    settings = gf.graph.node("diarize").settings  # type: ignore[union-attr]
    assert (settings.linkage_distance, settings.min_cluster_size) == (0.5, 12.0)
    (tmp_path / "bad.toml").write_text("[diarizer]\nnew_speaker = 0.7\n")
    bad = text.replace(str(profile), str(tmp_path / "bad.toml"))
    with pytest.raises(GraphFileError, match=r":11: nodes.diarize.profile: .*'new_speaker'"):
        load_graph(text=bad, out_dir=tmp_path)


def test_tuning_errors_name_the_file_before_models_load(tmp_path: Path) -> None:
    (first, second), rttm = _two_recordings(tmp_path)
    stray = tmp_path / "third.wav"
    stray.write_bytes(first.read_bytes())
    res = _cli("diarize-tune", first, stray, "--reference", rttm, "--out", tmp_path / "p.toml",
               cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2
    assert "no reference for" in res.stderr and "third.wav" in res.stderr
    assert "'third'" in res.stderr and "first, second" in res.stderr
    broken = tmp_path / "broken.rttm"
    broken.write_text("SPEAKER first 1 0.0 abc <NA> <NA> A <NA> <NA>\n")
    res = _cli("diarize-tune", first, "--reference", broken, "--out", tmp_path / "p.toml",
               cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2 and "broken.rttm:1: the duration must be seconds" in res.stderr
    res = _cli("diarize-tune", first, second, "--reference", rttm, "--out", rttm, cwd=tmp_path)
    assert res.returncode == 2 and "ref.rttm" in res.stderr
    assert rttm.read_text().startswith("SPEAKER")  # the reference was not overwritten
    res = _cli("diarize", first, "--profile", tmp_path / "none.toml", cwd=tmp_path)
    assert res.returncode == 2 and "cannot read diarizer profile" in res.stderr
