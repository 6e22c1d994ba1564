"""The suite certifies the real adapters and refuses deliberately broken ones.

Every run is a separate ``python -m pytest --pyargs noorm.conformance ...`` process, as an
adapter author would run it; the runs go in parallel and are judged by their reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from noorm.conformance.clauses import CLAUSE_CAPABILITIES

from .broken import BROKEN

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    factory: str
    returncode: int
    output: str
    report: dict[str, Any]

    def failed_clauses(self) -> set[str]:
        return {c for c, v in self.report["clauses"].items() if v["outcome"] == "failed"}


def _start(factory: str, modules: list[str], report: Path) -> subprocess.Popen[str]:
    targets = [f"noorm.conformance.{m}" for m in modules] or ["noorm.conformance"]
    command = [
        sys.executable, "-m", "pytest", "--pyargs", *targets,
        f"--noorm-adapter={factory}", f"--noorm-report={report}",
        "-q", "-p", "no:cacheprovider",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    directory = tmp_path_factory.mktemp("certify")
    plans = {name: (f"tests.conformance.broken:{name}", mods) for name, (_, mods) in BROKEN.items()}
    plans["memory"] = ("noorm.conformance.targets:memory", [])
    plans["sqlite"] = ("noorm.conformance.targets:sqlite", [])
    plans["no_capabilities"] = ("tests.conformance.broken:no_capabilities", [])
    started = {
        name: (
            factory,
            directory / f"{name}.json",
            _start(factory, mods, directory / f"{name}.json"),
        )
        for name, (factory, mods) in plans.items()
    }
    results: dict[str, Run] = {}
    for name, (factory, report, process) in started.items():
        output, _ = process.communicate(timeout=300)
        assert report.exists(), f"{name}: no report written\n{output[-3000:]}"
        results[name] = Run(factory, process.returncode, output, json.loads(report.read_text()))
    yield results


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_adapter_is_not_certified_and_its_clause_fails(
    runs: dict[str, Run], name: str
) -> None:
    run = runs[name]
    clause, _ = BROKEN[name]
    assert run.report["certified"] is False
    assert run.returncode != 0
    assert run.report["summary"]["failed"] > 0
    assert clause in run.failed_clauses(), (
        f"{name} should fail {clause}; failed: {sorted(run.failed_clauses())}"
    )


@pytest.mark.parametrize("name", ["memory", "sqlite"])
def test_the_built_in_adapters_are_certified(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    failures = [r["id"] for r in run.report["results"] if r["outcome"] != "passed"]
    assert failures == [], f"{name}: not passed:\n" + "\n".join(failures) + run.output[-4000:]
    assert run.report["certified"] is True
    assert run.returncode == 0
    assert all(v["outcome"] == "passed" for v in run.report["clauses"].values())


@pytest.mark.parametrize("name", ["memory", "sqlite"])
def test_the_report_has_every_required_field(runs: dict[str, Run], name: str) -> None:
    report = runs[name].report
    for key in (
        "adapter", "adapter_version", "server_version", "spec_version", "capabilities",
        "results", "clauses", "summary", "certified", "generated_at", "duration",
    ):  # fmt: skip
        assert key in report, key
    assert report["adapter"] == name
    from noorm.spec import SPEC_VERSION

    assert report["spec_version"] == SPEC_VERSION
    assert set(report["summary"]) == {"passed", "failed", "skipped"}
    assert sum(report["summary"].values()) == len(report["results"]) > 300
    assert {"id", "clause", "outcome"} <= set(report["results"][0])
    from noorm.conformance.clauses import CLAUSES

    assert set(report["clauses"]) == set(CLAUSES)


def test_missing_capabilities_are_skipped_with_the_reason_and_still_certified(
    runs: dict[str, Run],
) -> None:
    report = runs["no_capabilities"].report
    skipped = {c: v for c, v in report["clauses"].items() if v["outcome"] == "skipped"}
    assert set(skipped) == set(CLAUSE_CAPABILITIES)
    for clause, entry in skipped.items():
        assert entry["reason"] == f"adapter lacks capability {CLAUSE_CAPABILITIES[clause].value}"
    assert report["summary"]["failed"] == 0 and report["summary"]["skipped"] > 0
    assert report["certified"] is True
    assert runs["no_capabilities"].returncode == 0
