"""Test outcomes per spec clause, the certification verdict, and the JSON report.

Certification is strict: an adapter is certified only when every test of the suite
ran, none failed, every skip is a declared missing capability on a non-core clause,
and the probe found nothing wrong. Whatever stands in the way is listed, one line per
problem, in the report's ``why_not_certified``, so that a narrowed run (``-k``,
``--deselect``, an ignored module, ``-x``) is reported as what it is.
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from noorm.spec import SPEC_VERSION

from .clauses import CLAUSE_CAPABILITIES, CLAUSES, is_core

__all__ = [
    "OUTCOMES",
    "AdapterInfo",
    "Outcome",
    "TestResult",
    "build_report",
    "clause_outcomes",
    "is_certified",
    "versions",
    "why_not_certified",
    "write_report",
]

Outcome = Literal["passed", "failed", "skipped", "not_run"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "skipped", "not_run")

_LISTED = 10
"""At most this many tests or clauses are named in one line of ``why_not_certified``."""


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """What a report says about the adapter under test."""

    factory: str
    name: str
    version: str
    server_version: str
    capabilities: frozenset[str]
    driver: str | None = None
    """The driver and its version (e.g. ``psycopg 3.2.1``); None for in-process adapters."""
    problems: tuple[str, ...] = ()
    """What the probe found wrong with the adapter itself (each one blocks certification)."""
    door: str = "sync"
    """``"sync"`` (:class:`~noorm.spec.Adapter`) or ``"async"`` (an
    :class:`~noorm.spec.AsyncAdapter`, driven through a sync facade)."""
    adapter_class: str = ""
    """The certified adapter's class, e.g. ``noorm.adapters.postgres.async_adapter.
    AsyncPostgresAdapter``; a threaded door names the sync adapter it runs in brackets."""


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
    blamed: tuple[str, ...] = ()
    """The clauses a failure belongs to, when the test worked that out; () means all."""

    def record(self, outcome: Outcome, reason: str | None, duration: float) -> None:
        """Fold one phase in: a failure anywhere wins, then a skip, then a pass."""
        self.duration += duration
        rank = {"passed": 0, "not_run": 0, "skipped": 1, "failed": 2}
        if rank[outcome] > rank[self.outcome]:
            self.outcome = outcome
            self.reason = reason

    def counts_for(self, clause: str) -> bool:
        """Whether this result tells about ``clause``: not a failure blamed on another one."""
        return self.outcome != "failed" or not self.blamed or clause in self.blamed

    @property
    def acceptable_skip(self) -> bool:
        """A skip certification tolerates: a declared missing capability, no core clause."""
        return self.capability_skip and not any(is_core(c) for c in self.clauses)


def clause_outcomes(results: Iterable[TestResult]) -> dict[str, dict[str, Any]]:
    """Per clause of the spec: the combined outcome of its tests, with counts and reasons.

    A clause ``failed`` if any of its tests failed on it; it is ``not_run`` if none of
    its tests ran; ``incomplete`` if only some did, or if a test of it failed on another
    clause (see :attr:`TestResult.blamed`) and so never finished checking this one;
    ``skipped`` if every test was skipped; ``passed`` if at least one test passed and
    none failed.
    """
    by_clause: dict[str, list[TestResult]] = {c: [] for c in CLAUSES}
    for result in results:
        for clause in result.clauses:
            by_clause.setdefault(clause, []).append(result)
    out: dict[str, dict[str, Any]] = {}
    for clause, tests in by_clause.items():
        counted = [t for t in tests if t.counts_for(clause)]
        elsewhere = len(tests) - len(counted)
        counts: dict[str, int] = {o: sum(t.outcome == o for t in counted) for o in OUTCOMES}
        if counts["failed"]:
            outcome = "failed"
            reasons = [f"{t.nodeid}: {t.reason}" for t in counted if t.outcome == "failed"]
        elif counts["not_run"] == len(tests):
            outcome = "not_run"
            reasons = sorted({t.reason or "" for t in tests} - {""}) or ["no test of it ran"]
        elif counts["not_run"] or elsewhere:
            outcome = "incomplete"
            reasons = [f"{elsewhere} test(s) failed on another clause"] if elsewhere else []
            if counts["not_run"]:
                reasons.append(f"{counts['not_run']} of {len(tests)} tests did not run")
                reasons += sorted({t.reason or "" for t in tests if t.outcome == "not_run"} - {""})
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


def why_not_certified(results: Sequence[TestResult], problems: Iterable[str] = ()) -> list[str]:
    """Everything that stands between this run and certification; empty when certified.

    ``problems`` come first (the probe's findings, modules that could not be
    collected); then each failed clause with its first failure, the tests that did not
    run grouped by why, the skips certification does not accept, and the clauses no
    test exercised.
    """
    why = list(problems)
    if not results:
        why.append("no test of the suite ran")
    clauses = clause_outcomes(results)
    for clause, entry in clauses.items():
        if entry["outcome"] == "failed":
            first = next(
                r
                for r in results
                if r.outcome == "failed" and clause in r.clauses and r.counts_for(clause)
            )
            why.append(
                f"{clause} failed ({entry['failed']} test(s)): {first.nodeid}: {first.reason}"
            )
    missing = Counter(r.reason or "not run" for r in results if r.outcome == "not_run")
    why += [f"{count} test(s) not run: {reason}" for reason, count in missing.items()]
    bad_skips = [r for r in results if r.outcome == "skipped" and not r.acceptable_skip]
    why += [
        f"{r.nodeid} was skipped ({r.reason}): only a declared missing capability may skip "
        "a test, and never one of a core clause"
        for r in bad_skips[:_LISTED]
    ]
    if len(bad_skips) > _LISTED:
        why.append(f"... and {len(bad_skips) - _LISTED} more unacceptable skip(s)")
    unrun = [c for c, v in clauses.items() if v["outcome"] == "not_run"]
    if unrun:
        listed = ", ".join(unrun[:_LISTED]) + (" ..." if len(unrun) > _LISTED else "")
        why.append(f"{len(unrun)} clause(s) had no test run: {listed}")
    return why


def is_certified(results: Sequence[TestResult], problems: Iterable[str] = ()) -> bool:
    """Nothing failed, everything ran, every skip is acceptable, nothing else is wrong."""
    return not why_not_certified(results, problems)


def versions(driver: str | None) -> dict[str, str | None]:
    """The versions a report is valid for: no-orm, Python, pytest and the adapter's driver."""
    import pytest

    try:
        noorm_version = metadata.version("no-orm")
    except metadata.PackageNotFoundError:  # run from a source tree
        import noorm

        noorm_version = noorm.__version__
    return {
        "no-orm": noorm_version,
        "no-orm commit": source_commit(),
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "driver": driver,
    }


def source_commit() -> str | None:
    """The git commit of the source tree no-orm runs from, ``+`` when it has changes;
    None for an installed package (no ``.git`` beside it) or without git."""
    import subprocess
    from pathlib import Path

    import noorm

    root = Path(noorm.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+" if dirty else "")


def build_report(
    adapter: AdapterInfo,
    results: Sequence[TestResult],
    *,
    started: float,
    finished: float,
    selection: Mapping[str, Any] | None = None,
    problems: Sequence[str] = (),
) -> dict[str, Any]:
    """The certification report, as JSON-ready data.

    ``selection`` records the options that chose the tests (``-k``, ``--deselect`` ...);
    ``problems`` are findings outside the test results, such as a suite module that
    could not be collected.
    """
    why = why_not_certified(results, [*adapter.problems, *problems])
    return {
        "adapter": adapter.name,
        "adapter_version": adapter.version,
        "server_version": adapter.server_version,
        "factory": adapter.factory,
        "door": adapter.door,
        "adapter_class": adapter.adapter_class,
        "spec_version": SPEC_VERSION,
        "versions": versions(adapter.driver),
        "capabilities": sorted(adapter.capabilities),
        "certified": not why,
        "why_not_certified": why,
        "selection": dict(selection or {}),
        "summary": {o: sum(r.outcome == o for r in results) for o in OUTCOMES},
        "clauses": clause_outcomes(results),
        "results": [
            {
                "id": r.nodeid,
                "clause": r.clauses[0] if r.clauses else None,
                "clauses": list(r.clauses),
                "outcome": r.outcome,
                **({"reason": r.reason} if r.reason else {}),
                **({"blamed": list(r.blamed)} if r.blamed and r.outcome == "failed" else {}),
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
