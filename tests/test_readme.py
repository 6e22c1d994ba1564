"""The README's Python blocks, in order, are one program: it runs and type-checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .docs_code import ROOT, mypy_strict, pyright_strict, python_blocks, write_program

README = ROOT / "README.md"


def _program(tmp_path: Path) -> Path:
    assert len(python_blocks(README)) >= 3, "the README lost its code blocks"
    return write_program(README, tmp_path, "readme_program.py")


def test_the_readme_code_runs(tmp_path: Path) -> None:
    program = _program(tmp_path)
    env = {**os.environ, "CURSOR_KEY": "k" * 32, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(program)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "app.sqlite3").exists()


def test_the_readme_code_type_checks_strictly(tmp_path: Path) -> None:
    run = mypy_strict(_program(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_readme_code_type_checks_under_pyright_too(tmp_path: Path) -> None:
    run = pyright_strict(_program(tmp_path))
    if run is None:
        pytest.skip("pyright is not installed (npm install -g pyright)")
    assert run.returncode == 0, run.stdout + run.stderr
