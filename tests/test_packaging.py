"""The package is assembled without links, and each of its modules loads once.

``noorm`` is mapped from top-level folders (``pkg/``, ``spec/``, ``kit/``, ...) by
``[tool.setuptools]`` in pyproject.toml. These tests hold the repository to that: no
symbolic links, every sub-package listed, and, in a run of the suite from the
repository root (where ``conformance/`` is also a top-level package on ``sys.path``),
every module imported under its ``noorm.*`` name only. ``ci/wheel`` checks the built
sdist and wheel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

import noorm
from noorm.conformance.plugin import suite_modules

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("pkg", "spec", "kit", "adapters", "conformance")
"""The top-level folders the package is made of (pkg/ is ``noorm`` itself)."""


def _setuptools() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        table: dict[str, Any] = tomllib.load(f)["tool"]["setuptools"]
    return table


def test_the_repository_holds_no_symbolic_links() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line for line in listed if line.startswith("120000 ")] == []
    for folder in FOLDERS:
        links = [p for p in (ROOT / folder).rglob("*") if p.is_symlink()]
        assert links == [], links


def test_every_sub_package_is_listed_and_mapped() -> None:
    table = _setuptools()
    mapping: dict[str, str] = table["package-dir"]
    assert sorted(mapping.values()) == sorted(FOLDERS)
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                inner = init.parent.relative_to(ROOT / folder).parts
                found.add(".".join((name, *inner)))
    assert sorted(table["packages"]) == sorted(found)


def test_the_package_in_use_is_the_mapped_one() -> None:
    """Each ``noorm`` sub-package is its folder's files (through links when editable)."""
    import noorm.adapters
    import noorm.conformance
    import noorm.kit
    import noorm.spec

    for name, folder in _setuptools()["package-dir"].items():
        module = sys.modules[name]
        assert module.__file__ is not None
        assert Path(module.__file__).resolve() == ROOT / folder / "__init__.py", name
    assert (Path(noorm.spec.__file__).parent / "schema.schema.json").is_file()


PROBE = '''
"""Records, at the end of the session, every loaded module and its file."""
import json, os, sys

def pytest_sessionfinish(session):
    files = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path:
            files[name] = os.path.realpath(path)
    with open(os.environ["NOORM_PROBE_OUT"], "w") as f:
        json.dump(files, f)
'''


def test_a_run_of_the_suite_from_the_repository_root_loads_each_module_once(
    tmp_path: Path,
) -> None:
    """``python -m pytest --pyargs noorm.conformance`` from the root, as a developer would.

    The root is on ``sys.path`` there, so ``conformance`` (the folder) is importable as a
    top-level package: were the suite's files collected as ``conformance.test_*``, they
    would import a second ``conformance.plugin``, without the adapter under test.
    """
    (tmp_path / "noorm_probe.py").write_text(textwrap.dedent(PROBE))
    out = tmp_path / "modules.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]),
        "NOORM_PROBE_OUT": str(out),
    }
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "noorm_probe",
            "--pyargs", "noorm.conformance", "-k", "hierarchy or closed_adapter", "-q",
            "--noorm-adapter=noorm.conformance.targets:sqlite",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # Two tests of the suite ran, one with the adapter (a narrowed run is not certified).
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert re.fullmatch(r"2 passed, \d+ deselected in [\d.]+s", summary), run.stdout[-3000:]
    files: dict[str, str] = json.loads(out.read_text())
    tops = {name.partition(".")[0] for name in files}
    assert not tops & set(FOLDERS), sorted(tops & set(FOLDERS))
    by_file: dict[str, list[str]] = {}
    for name, path in files.items():
        if any(Path(path).is_relative_to(ROOT / folder) for folder in FOLDERS):
            by_file.setdefault(path, []).append(name)
    twice = {path: names for path, names in by_file.items() if len(names) > 1}
    assert twice == {}
    for name in suite_modules():
        assert name in files, f"{name} was not collected"
    package = Path(noorm.__file__).resolve().parent
    assert files["noorm"] == str(package / "__init__.py")
