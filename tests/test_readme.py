"""The README's Python blocks, in order, are one program: it runs and type-checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _program(tmp_path: Path) -> Path:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) >= 3, "the README lost its code blocks"
    path = tmp_path / "readme_program.py"
    path.write_text("\n\n".join(blocks), encoding="utf-8")
    return path


def test_the_readme_code_runs(tmp_path: Path) -> None:
    program = _program(tmp_path)
    env = {**os.environ, "CURSOR_KEY": "k" * 32, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(program)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "app.sqlite3").exists()


def test_the_readme_code_type_checks_strictly(tmp_path: Path) -> None:
    program = _program(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(program)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_readme_code_type_checks_under_pyright_too(tmp_path: Path) -> None:
    import json
    import shutil

    import pytest

    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (npm install -g pyright)")
    program = _program(tmp_path)
    config = {
        "pythonVersion": "3.11",
        "typeCheckingMode": "strict",
        "extraPaths": [str(ROOT)],
        "venvPath": str(Path(sys.executable).parents[2]),
        "venv": Path(sys.executable).parents[1].name,
    }
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    run = subprocess.run(
        [pyright, program.name], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
