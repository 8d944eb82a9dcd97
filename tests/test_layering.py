"""The layers hold: stream <- operators, sinks <- mediastream (import-linter contracts).

The same check runs in ``make lint`` (part of ``make test``); here it also has to fail
when a lower layer imports a higher one, so it cannot pass by checking nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("stream", "operators", "sinks", "mediastream")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _copy_tree(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_repository_keeps_its_layers() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "message"),
    [
        ("stream/_specs.py", "import mediastream.cli", "stream is not allowed to import mediastream"),
        ("stream/_graph.py", "from operators import Gain", "stream is not allowed to import operators"),
        ("sinks/memory.py", "import mediastream.plot", "sinks is not allowed to import mediastream"),
        ("operators/gain.py", "from sinks import MemorySink", "operators is not allowed to import sinks"),
    ],
)
def test_an_import_from_below_breaks_the_check(
    tmp_path: Path, module: str, wrong_import: str, message: str
) -> None:
    tree = _copy_tree(tmp_path)
    path = tree / module
    # Inside a function, as lazy imports are: those count too.
    path.write_text(path.read_text() + f"\n\ndef _wrong() -> None:\n    {wrong_import}  # noqa\n")
    res = _lint(tree)
    assert res.returncode == 1, res.stdout
    assert message in res.stdout
    assert "0 kept, 1 broken" in res.stdout
