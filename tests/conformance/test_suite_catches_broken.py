"""The suite certifies the real adapters and refuses deliberately broken ones, precisely.

Every run is a separate ``python -m pytest --pyargs noorm.conformance ...`` process over
the whole suite, as an adapter author would run it; the runs go in parallel and are
judged by their reports. A broken adapter must fail exactly the clauses its broken rule
belongs to (``BROKEN``): a test of another clause failing too would mean that test
depends on behaviour it does not check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from noorm.conformance.clauses import CLAUSE_CAPABILITIES, CLAUSES
from noorm.spec import SPEC_VERSION

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


def _certify(factory: str, report: Path) -> Run:
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "noorm.conformance",
        f"--noorm-adapter={factory}", f"--noorm-report={report}",
        "-q", "-p", "no:cacheprovider",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    assert report.exists(), f"{factory}: no report written\n{output[-3000:]}"
    return Run(factory, done.returncode, output, json.loads(report.read_text()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    directory = tmp_path_factory.mktemp("certify")
    plans = {name: f"tests.conformance.broken:{name}" for name in BROKEN}
    plans["memory"] = "noorm.conformance.targets:memory"
    plans["sqlite"] = "noorm.conformance.targets:sqlite"
    plans["no_capabilities"] = "tests.conformance.broken:no_capabilities"
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {
            name: pool.submit(_certify, factory, directory / f"{name}.json")
            for name, factory in plans.items()
        }
        yield {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_adapter_fails_exactly_the_clauses_of_its_broken_rule(
    runs: dict[str, Run], name: str
) -> None:
    run = runs[name]
    assert run.report["certified"] is False
    assert run.returncode == 1, run.output[-3000:]
    failures = {
        r["id"]: r.get("blamed") or r["clauses"]
        for r in run.report["results"]
        if r["outcome"] == "failed"
    }
    assert run.failed_clauses() == BROKEN[name], json.dumps(failures, indent=1)
    assert run.report["summary"]["not_run"] == 0
    reasons = run.report["why_not_certified"]
    assert {r.split(" ", 1)[0] for r in reasons} == BROKEN[name], reasons  # only failures


@pytest.mark.parametrize("name", ["memory", "sqlite"])
def test_the_built_in_adapters_are_certified(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    failures = [
        f"{r['id']}: {r.get('reason')}" for r in run.report["results"] if r["outcome"] != "passed"
    ]
    assert failures == [], f"{name}: not passed:\n" + "\n".join(failures) + run.output[-4000:]
    assert run.report["certified"] is True and run.report["why_not_certified"] == []
    assert run.returncode == 0
    assert all(v["outcome"] == "passed" for v in run.report["clauses"].values())


@pytest.mark.parametrize("name", ["memory", "sqlite"])
def test_the_report_has_every_required_field(runs: dict[str, Run], name: str) -> None:
    report = runs[name].report
    for key in (
        "adapter", "adapter_version", "server_version", "spec_version", "capabilities",
        "results", "clauses", "summary", "certified", "why_not_certified", "versions",
        "selection", "generated_at", "duration",
    ):  # fmt: skip
        assert key in report, key
    assert report["adapter"] == name
    assert report["spec_version"] == SPEC_VERSION
    assert set(report["summary"]) == {"passed", "failed", "skipped", "not_run"}
    assert sum(report["summary"].values()) == len(report["results"]) > 400
    assert {"id", "clause", "outcome"} <= set(report["results"][0])
    assert set(report["clauses"]) == set(CLAUSES)
    assert set(report["versions"]) == {"no-orm", "no-orm commit", "python", "pytest", "driver"}
    assert report["selection"]["args"] == ["noorm.conformance"]
    assert not {"keyword", "markexpr", "deselect", "ignore", "lf", "maxfail"} & set(
        report["selection"]
    )


def test_missing_capabilities_are_skipped_with_the_reason_and_still_certified(
    runs: dict[str, Run],
) -> None:
    report = runs["no_capabilities"].report
    skipped = {c: v for c, v in report["clauses"].items() if v["outcome"] == "skipped"}
    assert set(skipped) == set(CLAUSE_CAPABILITIES)
    for clause, entry in skipped.items():
        assert entry["reason"] == f"adapter lacks capability {CLAUSE_CAPABILITIES[clause].value}"
    assert report["summary"]["failed"] == 0 and report["summary"]["skipped"] > 0
    assert report["certified"] is True, report["why_not_certified"]
    assert runs["no_capabilities"].returncode == 0
