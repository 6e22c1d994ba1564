"""A markdown document's Python blocks as one program, the output the document shows,
and the strict type checks both the README's and the guide's programs pass."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of ``path``, in order."""
    text = path.read_text(encoding="utf-8")
    return [body for lang, body in _FENCE.findall(text) if lang == "python"]


def shown_output(path: Path) -> str:
    """What ``path`` says its program prints: every ```text block that directly follows
    a ```python block (nothing but blank lines between them), concatenated in order."""
    text = path.read_text(encoding="utf-8")
    shown: list[str] = []
    previous, end = "", 0
    for fence in _FENCE.finditer(text):
        lang, body = fence.group(1), fence.group(2)
        if lang == "text" and previous == "python" and not text[end : fence.start()].strip():
            shown.append(body)
        previous, end = lang, fence.end()
    return "".join(shown)


def write_program(path: Path, directory: Path, name: str) -> Path:
    """The Python blocks of ``path`` as one program, ``directory/name``."""
    program = directory / name
    program.write_text("\n\n".join(python_blocks(path)), encoding="utf-8")
    return program


def mypy_strict(program: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(program)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def pyright_strict(program: Path) -> subprocess.CompletedProcess[str] | None:
    """pyright in strict mode on ``program`` (its directory gets the config); None
    where pyright is not installed."""
    pyright = shutil.which("pyright")
    if pyright is None:
        return None
    config = {
        "pythonVersion": "3.11",
        "typeCheckingMode": "strict",
        "extraPaths": [str(ROOT)],
        "venvPath": str(Path(sys.executable).parents[2]),
        "venv": Path(sys.executable).parents[1].name,
    }
    (program.parent / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [pyright, program.name], cwd=program.parent, capture_output=True, text=True, timeout=300
    )
