"""The pytest plugin: inert without an adapter, strict about skips, honest in its report."""

from __future__ import annotations

import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import noorm.conformance
from noorm.adapters.memory import MemoryAdapter
from noorm.conformance.clauses import CLAUSES
from noorm.conformance.plugin import driver_version
from noorm.conformance.report import TestResult, clause_outcomes, is_certified

ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(noorm.conformance.__file__).absolute().parent
"""The installed suite: in the (strict) editable install, links under build/ to conformance/."""
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
    run = pytest_run("-q", str(tmp_path / "test_plain.py"), cwd=tmp_path)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout
    assert "certified" not in run.stdout.lower()


def test_an_adapter_under_test_always_gets_a_verdict(tmp_path: Path) -> None:
    """Asking to certify and running none of the suite is a narrowed run, not a pass."""
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    report = tmp_path / "r.json"
    run = pytest_run(
        "-q", str(tmp_path / "test_plain.py"), MEMORY, f"--noorm-report={report}", cwd=tmp_path
    )
    assert "1 passed" in run.stdout and run.returncode == 1, run.stdout
    assert "NOT certified" in run.stdout
    data = json.loads(report.read_text())
    assert data["summary"]["passed"] == 0 and data["summary"]["not_run"] > 400
    assert all(r["outcome"] == "not_run" for r in data["results"])


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
    # The suite's own tests of these clauses did not run: incomplete, not passed.
    assert data["clauses"]["TX-2"]["outcome"] == "incomplete"
    assert data["clauses"]["NULL-1"]["outcome"] == "failed"
    assert data["clauses"]["OP-FIND"]["outcome"] == "incomplete"
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
    assert run.returncode == 1, run.stdout
    data = json.loads(report.read_text())
    assert data["summary"]["passed"] == 1 and data["summary"]["failed"] == 0
    assert data["summary"]["not_run"] > 400
    assert data["clauses"]["ERR-1"]["outcome"] == "incomplete"
    assert data["clauses"]["OP-GET"]["outcome"] == "not_run"
    assert data["certified"] is False
    assert data["selection"]["args"] == ["noorm.conformance.test_errors"]
    assert data["selection"]["keyword"] == "hierarchy"
    assert any(
        w.endswith("not run: deselected (-k 'hierarchy')") for w in data["why_not_certified"]
    )
    assert "NOT certified" in run.stdout


def _narrowed(
    *args: str, tmp_path: Path, adapter: str = MEMORY, cwd: Path = ROOT
) -> dict[str, Any]:
    """Run the suite narrowed by ``args``; expect a failing exit status, return the report."""
    report = tmp_path / "narrowed.json"
    run = pytest_run(*args, adapter, f"--noorm-report={report}", "-q", cwd=cwd)
    assert run.returncode != 0, run.stdout[-3000:] + run.stderr[-3000:]
    data: dict[str, Any] = json.loads(report.read_text())
    assert data["certified"] is False and data["why_not_certified"]
    return data


ERRORS = "noorm.conformance.test_errors"
VALUES_FILE = str(SUITE / "test_values.py")
HIERARCHY = Path(os.path.relpath(SUITE / "test_errors.py", ROOT)).as_posix() + (
    "::test_the_error_hierarchy"
)
"""The node id of one test of the suite, in a run from the repository root."""


@pytest.mark.parametrize(
    "args,reason,selection",
    [
        pytest.param(
            ["--pyargs", ERRORS, "-m", "not clause"],
            "not run: deselected (-m 'not clause')",
            {"markexpr": "not clause"},
            id="markexpr",
        ),
        pytest.param(
            ["--pyargs", ERRORS, "--deselect", HIERARCHY],
            f"1 test(s) not run: deselected (--deselect '{HIERARCHY}')",
            {"deselect": [HIERARCHY]},
            id="deselect",
        ),
        pytest.param(
            ["--pyargs", "noorm.conformance", "--ignore", VALUES_FILE, "-k", "hierarchy"],
            "not run: not collected: module noorm.conformance.test_values was left out of the run",
            {"ignore": [VALUES_FILE], "keyword": "hierarchy"},
            id="ignore",
        ),
        pytest.param(
            [str(SUITE / "test_errors.py") + "::test_the_error_hierarchy"],
            "not run: not collected: the run named only some tests of the suite",
            {},
            id="node-id",
        ),
        pytest.param(
            ["--pyargs", "noorm.conformance.test_reading", ERRORS, "-x"],
            "not run: collected but not run: the session stopped early (--maxfail=1)",
            {"maxfail": 1},
            id="exitfirst",
        ),
    ],
)
def test_every_way_of_narrowing_the_suite_is_named_in_the_report(
    tmp_path: Path, args: list[str], reason: str, selection: dict[str, Any]
) -> None:
    adapter = "--noorm-adapter=tests.conformance.broken:drops_limit" if "-x" in args else MEMORY
    data = _narrowed(*args, tmp_path=tmp_path, adapter=adapter)
    assert any(w.endswith(reason) for w in data["why_not_certified"]), data["why_not_certified"]
    assert selection.items() <= data["selection"].items()
    assert data["summary"]["not_run"] > 0


def test_last_failed_reruns_are_not_certified(tmp_path: Path) -> None:
    cache = ["-p", "cacheprovider", "-o", f"cache_dir={tmp_path / 'cache'}"]
    broken = "--noorm-adapter=tests.conformance.broken:drops_limit"
    first = _narrowed(
        *cache, "--pyargs", "noorm.conformance.test_reading", tmp_path=tmp_path, adapter=broken
    )
    assert first["clauses"]["OP-FIND"]["outcome"] == "failed"
    again = _narrowed(
        *cache,
        "--lf",
        "--pyargs",
        "noorm.conformance.test_reading",
        tmp_path=tmp_path,
        adapter=broken,
    )
    assert again["summary"]["passed"] + again["summary"]["failed"] == 1
    assert any(w.endswith("not run: deselected (--lf)") for w in again["why_not_certified"])
    assert again["selection"]["lf"] is True


def test_a_failure_keeps_its_assertion_text_and_the_report_its_versions(tmp_path: Path) -> None:
    data = _narrowed(
        "--pyargs", "noorm.conformance.test_reading", "-k", "honours_the_limit",
        tmp_path=tmp_path, adapter="--noorm-adapter=tests.conformance.broken:drops_limit",
    )  # fmt: skip
    failed = [r for r in data["results"] if r["outcome"] == "failed"]
    assert [r["id"].split("::")[-1] for r in failed] == [
        "test_the_adapter_itself_honours_the_limit_of_a_find"
    ]
    reason = failed[0]["reason"]
    assert reason.startswith("AssertionError: (None, (Order(field='id', descending=False),), 1)")
    assert "Left contains 6 more items" in reason and reason.endswith("]")
    assert len(reason) <= 1000
    assert data["why_not_certified"][0].startswith("OP-FIND failed (1 test(s)): ")
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():  # a checkout (a copy without .git records None)
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert data["versions"]["no-orm commit"] in (head, head + "+")
    else:
        assert data["versions"]["no-orm commit"] is None
    del data["versions"]["no-orm commit"]
    assert data["versions"] == {
        "no-orm": metadata.version("no-orm"),
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "driver": None,
    }


def test_an_empty_server_version_is_a_certification_failure(tmp_path: Path) -> None:
    data = _narrowed(
        "--pyargs", ERRORS, tmp_path=tmp_path,
        adapter="--noorm-adapter=tests.conformance.broken:no_server_version",
    )  # fmt: skip
    assert data["why_not_certified"][0] == (
        "the adapter's server_version() is '': it must be a non-empty str"
    )


def test_a_test_can_blame_its_failure_on_one_of_its_clauses(tmp_path: Path) -> None:
    (tmp_path / "test_blame.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from noorm.conformance.plugin import blame

            @pytest.mark.clause("FLT-1", "NULL-1")
            def test_blames_null(request):
                blame(request.node, "NULL-1", "NOT-A-CLAUSE")
                raise AssertionError("ne matched a NULL row")

            @pytest.mark.clause("FLT-IN")
            def test_blames_another_clause(request):
                blame(request.node, "OP-COUNT")
                raise AssertionError("count disagrees")
            """
        )
    )
    data = _narrowed(str(tmp_path / "test_blame.py"), tmp_path=tmp_path, cwd=tmp_path)
    results = {r["id"].split("::")[-1]: r for r in data["results"]}
    assert results["test_blames_null"]["blamed"] == ["NULL-1"]
    assert results["test_blames_another_clause"]["clauses"] == ["FLT-IN", "OP-COUNT"]
    failed = {c for c, v in data["clauses"].items() if v["outcome"] == "failed"}
    assert failed == {"NULL-1", "OP-COUNT"}


class _Driven:
    driver_version = "exotic-driver 1.2"


class _Called:
    def driver_version(self) -> str:
        return "called 3"


def test_the_driver_version_is_read_without_importing_a_driver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert driver_version(_Driven()) == "exotic-driver 1.2"
    assert driver_version(_Called()) == "called 3"
    assert driver_version(MemoryAdapter()) is None
    assert driver_version(object()) is None
    fake = type("PostgresAdapter", (), {"__module__": "noorm.adapters.postgres.adapter"})
    monkeypatch.delitem(sys.modules, "psycopg", raising=False)
    assert driver_version(fake()) is None  # not imported: not imported here either
    assert "psycopg" not in sys.modules
    monkeypatch.setitem(sys.modules, "psycopg", SimpleNamespace(__version__="3.9.9"))
    assert driver_version(fake()) == "psycopg 3.9.9"
    mysql = type("MySQLAdapter", (), {"__module__": "noorm.adapters.mysql.adapter"})
    monkeypatch.setitem(sys.modules, "pymysql", SimpleNamespace(VERSION=(1, 1, 0)))
    assert driver_version(mysql()) == "PyMySQL 1.1.0"
    sqlite = type("SQLiteAdapter", (), {"__module__": "noorm.adapters.sqlite.adapter"})
    assert driver_version(sqlite()) == f"SQLite {sqlite3.sqlite_version}"


def test_the_report_names_the_certified_class_through_either_door() -> None:
    """A host picking an adapter reads which class was certified: the async door of a
    built-in adapter may be native or the sync adapter on worker threads."""
    from noorm.adapters.memory import MemoryAdapter
    from noorm.conformance.async_door import ThreadedFactory, sync_door
    from noorm.conformance.plugin import certified_class

    plain = MemoryAdapter()
    assert certified_class(plain) == "noorm.adapters.memory.adapter.MemoryAdapter"
    door = sync_door(ThreadedFactory(MemoryAdapter))()
    try:
        assert certified_class(door) == (
            "noorm.adapters.threaded.ThreadedAdapter(noorm.adapters.memory.adapter.MemoryAdapter)"
        )
    finally:
        door.close()
