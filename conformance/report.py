"""Test outcomes per spec clause, the certification verdict, and the JSON report.

Certification is strict: an adapter is certified only when no test failed, every
skip is a declared missing capability on a non-core clause, and every clause of the
spec was exercised (a run narrowed with ``-k`` reports its clauses but certifies
nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from noorm.spec import SPEC_VERSION

from .clauses import CLAUSE_CAPABILITIES, CLAUSES, is_core

__all__ = [
    "AdapterInfo",
    "Outcome",
    "TestResult",
    "build_report",
    "clause_outcomes",
    "is_certified",
    "write_report",
]

Outcome = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """What a report says about the adapter under test."""

    factory: str
    name: str
    version: str
    server_version: str
    capabilities: frozenset[str]


@dataclass(slots=True)
class TestResult:
    """The outcome of one suite test (setup, call and teardown combined)."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    clauses: tuple[str, ...]
    outcome: Outcome = "passed"
    reason: str | None = None
    capability_skip: bool = False
    """Skipped because the adapter lacks a capability the test declares."""
    duration: float = 0.0

    def record(self, outcome: Outcome, reason: str | None, duration: float) -> None:
        """Fold one phase in: a failure anywhere wins, then a skip, then a pass."""
        self.duration += duration
        rank = {"passed": 0, "skipped": 1, "failed": 2}
        if rank[outcome] > rank[self.outcome]:
            self.outcome = outcome
            self.reason = reason

    @property
    def acceptable_skip(self) -> bool:
        """A skip certification tolerates: a declared missing capability, no core clause."""
        return self.capability_skip and not any(is_core(c) for c in self.clauses)


def clause_outcomes(results: Iterable[TestResult]) -> dict[str, dict[str, Any]]:
    """Per clause of the spec: the combined outcome of its tests, with counts and reasons.

    A clause failed if any of its tests failed; it is skipped if every test was skipped;
    passed if at least one test passed and none failed; ``not_run`` if no test ran.
    """
    by_clause: dict[str, list[TestResult]] = {c: [] for c in CLAUSES}
    for result in results:
        for clause in result.clauses:
            by_clause.setdefault(clause, []).append(result)
    out: dict[str, dict[str, Any]] = {}
    for clause, tests in by_clause.items():
        counts = {o: sum(t.outcome == o for t in tests) for o in ("passed", "failed", "skipped")}
        if counts["failed"]:
            outcome = "failed"
            reasons = [t.nodeid for t in tests if t.outcome == "failed"]
        elif not tests:
            outcome = "not_run"
            reasons = ["no test of this clause ran"]
        elif counts["passed"] == 0:
            outcome = "skipped"
            reasons = sorted({t.reason or "skipped" for t in tests})
        else:
            outcome = "passed"
            reasons = sorted({t.reason or "skipped" for t in tests if t.outcome == "skipped"})
        entry: dict[str, Any] = {
            "outcome": outcome,
            "title": CLAUSES.get(clause, "(not a clause of this spec version)"),
            "core": is_core(clause),
            "tests": len(tests),
            **counts,
        }
        if clause in CLAUSE_CAPABILITIES:
            entry["capability"] = CLAUSE_CAPABILITIES[clause].value
        if reasons:
            entry["reason"] = "; ".join(reasons[:5]) + (" ..." if len(reasons) > 5 else "")
        out[clause] = entry
    return out


def is_certified(results: Sequence[TestResult]) -> bool:
    """Nothing failed, every skip is acceptable, and every clause of the spec was run."""
    if not results:
        return False
    if any(r.outcome == "failed" for r in results):
        return False
    if any(r.outcome == "skipped" and not r.acceptable_skip for r in results):
        return False
    return all(v["outcome"] != "not_run" for v in clause_outcomes(results).values())


def build_report(
    adapter: AdapterInfo, results: Sequence[TestResult], *, started: float, finished: float
) -> dict[str, Any]:
    """The certification report, as JSON-ready data."""
    return {
        "adapter": adapter.name,
        "adapter_version": adapter.version,
        "server_version": adapter.server_version,
        "factory": adapter.factory,
        "spec_version": SPEC_VERSION,
        "capabilities": sorted(adapter.capabilities),
        "certified": is_certified(results),
        "summary": {
            o: sum(r.outcome == o for r in results) for o in ("passed", "failed", "skipped")
        },
        "clauses": clause_outcomes(results),
        "results": [
            {
                "id": r.nodeid,
                "clause": r.clauses[0] if r.clauses else None,
                "clauses": list(r.clauses),
                "outcome": r.outcome,
                **({"reason": r.reason} if r.reason else {}),
                "duration": round(r.duration, 6),
            }
            for r in results
        ],
        "generated_at": datetime.fromtimestamp(finished, UTC).isoformat(timespec="seconds"),
        "duration": round(finished - started, 3),
    }


def write_report(path: str | Path, report: Mapping[str, Any]) -> None:
    """Write the report as indented UTF-8 JSON, creating parent directories."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
