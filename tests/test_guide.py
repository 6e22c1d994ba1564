"""docs/guide.md's Python blocks, in order, are one program: it runs on SQLite, prints
what the guide shows after each block, and type-checks strictly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .docs_code import ROOT, mypy_strict, pyright_strict, python_blocks, shown_output, write_program

GUIDE = ROOT / "docs" / "guide.md"


def _program(tmp_path: Path) -> Path:
    assert len(python_blocks(GUIDE)) >= 10, "the guide lost its code blocks"
    return write_program(GUIDE, tmp_path, "guide_program.py")


def test_the_guide_code_runs_and_prints_what_the_guide_shows(tmp_path: Path) -> None:
    program = _program(tmp_path)
    # The guide's defaults on every run: no cursor key or server URL from this shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOORM_", "HEBO_"))}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, str(program)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == shown_output(GUIDE), "a block's output differs from the guide's"
    assert (tmp_path / "hebo.sqlite3").exists()


def test_the_guide_code_type_checks_strictly(tmp_path: Path) -> None:
    run = mypy_strict(_program(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_guide_code_type_checks_under_pyright_too(tmp_path: Path) -> None:
    run = pyright_strict(_program(tmp_path))
    if run is None:
        pytest.skip("pyright is not installed (npm install -g pyright)")
    assert run.returncode == 0, run.stdout + run.stderr
