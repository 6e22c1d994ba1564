"""The pytest plugin: inert without an adapter, strict about skips, honest in its report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from noorm.conformance.clauses import CLAUSES
from noorm.conformance.report import TestResult, clause_outcomes, is_certified

ROOT = Path(__file__).resolve().parents[2]
MEMORY = "--noorm-adapter=noorm.conformance.targets:memory"


def pytest_run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_an_adapter_the_suite_skips_cleanly() -> None:
    run = pytest_run("--pyargs", "noorm.conformance", "-q", "-rs")
    assert run.returncode == 0, run.stdout[-2000:]
    assert "no adapter under test: run with --noorm-adapter=module:factory" in run.stdout
    summary = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ skipped in [\d.]+s", summary), summary


def test_unrelated_tests_are_untouched(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    run = pytest_run("-q", str(tmp_path / "test_plain.py"), MEMORY, cwd=tmp_path)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout
    assert "certified" not in run.stdout.lower()


def test_skips_of_core_clauses_fail_and_missing_capabilities_skip(tmp_path: Path) -> None:
    (tmp_path / "test_marks.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.clause("NULL-1")
            def test_core_skipped():
                pytest.skip("not today")

            @pytest.mark.clause("TX-2")
            @pytest.mark.requires("savepoints")
            def test_capability_skipped():
                raise AssertionError("must not run")

            @pytest.mark.clause("OP-GET")
            @pytest.mark.requires("savepoints")
            def test_core_clause_under_requires():
                raise AssertionError("must not run")

            @pytest.mark.clause("OP-FIND")
            def test_passes():
                pass
            """
        )
    )
    report = tmp_path / "report.json"
    run = pytest_run(
        "-q", "-rA", str(tmp_path / "test_marks.py"),
        "--noorm-adapter=tests.conformance.broken:no_capabilities",
        f"--noorm-report={report}",
    )  # fmt: skip
    assert run.returncode == 1, run.stdout
    data = json.loads(report.read_text())
    outcomes = {r["id"].split("::")[-1]: r for r in data["results"]}
    assert outcomes["test_core_skipped"]["outcome"] == "failed"
    assert "core clause(s) NULL-1 can never be skipped" in outcomes["test_core_skipped"]["reason"]
    assert outcomes["test_capability_skipped"]["outcome"] == "skipped"
    assert outcomes["test_capability_skipped"]["reason"] == "adapter lacks capability savepoints"
    assert outcomes["test_core_clause_under_requires"]["outcome"] == "failed"
    assert outcomes["test_passes"]["outcome"] == "passed"
    assert data["clauses"]["TX-2"]["outcome"] == "skipped"
    assert data["clauses"]["NULL-1"]["outcome"] == "failed"
    assert data["clauses"]["OP-FIND"]["outcome"] == "passed"
    assert data["clauses"]["SCH-1"]["outcome"] == "not_run"
    assert data["certified"] is False
    assert data["adapter"] == "no-capabilities" and data["capabilities"] == []


def test_an_unknown_clause_or_factory_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_unknown.py").write_text(
        "import pytest\n\n@pytest.mark.clause('NOPE-1')\ndef test_x():\n    pass\n"
    )
    run = pytest_run(str(tmp_path / "test_unknown.py"), MEMORY, cwd=tmp_path)
    assert run.returncode == 4 and "unknown spec clause" in run.stderr, run.stderr
    for factory in ("nomodule", "json:nope", "no.such.module:f", "json:__name__"):
        run = pytest_run("--pyargs", "noorm.conformance.test_errors", f"--noorm-adapter={factory}")
        assert run.returncode == 4, (factory, run.stdout, run.stderr)
        assert "--noorm-adapter" in run.stderr


def _result(clause: str, outcome: str = "passed", capability_skip: bool = False) -> TestResult:
    result = TestResult(f"t::{clause}", (clause,))
    result.record(outcome, None if outcome == "passed" else "why", 0.0)  # type: ignore[arg-type]
    result.capability_skip = capability_skip
    return result


def test_certification_rules() -> None:
    every = [_result(c) for c in CLAUSES]
    assert is_certified(every)
    assert not is_certified(every[1:]), "a clause without any test run is not certified"
    assert not is_certified([*every, _result("SCH-1", "failed")])
    assert is_certified([*every, _result("TX-2", "skipped", capability_skip=True)])
    assert not is_certified([*every, _result("TX-2", "skipped", capability_skip=False)])
    assert not is_certified([*every, _result("SCH-1", "skipped", capability_skip=True)])
    assert not is_certified([])
    outcomes = clause_outcomes([_result("TX-2", "skipped", capability_skip=True)])
    assert (
        outcomes["TX-2"]["outcome"] == "skipped" and outcomes["TX-2"]["capability"] == "savepoints"
    )
    assert outcomes["SCH-1"] == {**outcomes["SCH-1"], "outcome": "not_run", "core": True}


def test_deselected_tests_count_as_not_run(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    run = pytest_run(
        "--pyargs", "noorm.conformance.test_errors", "-k", "hierarchy", MEMORY,
        f"--noorm-report={report}",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout
    data = json.loads(report.read_text())
    assert data["summary"] == {"passed": 1, "failed": 0, "skipped": 0}
    assert data["clauses"]["ERR-1"]["outcome"] == "passed"
    assert data["clauses"]["OP-GET"]["outcome"] == "not_run"
    assert data["certified"] is False
    assert "NOT certified" in run.stdout
