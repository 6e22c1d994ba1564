"""What ``noorm certify`` prints while the suite runs: one line per clause group.

``noorm certify`` replaces pytest's terminal output with this reporter, so a run prints
the adapter under test, a line for each clause group (``SCH``, ``FLT``, ``LIM``, ...)
as its last test ends, every failure with its assertion, and then, from the command,
one verdict. A plain ``pytest --pyargs noorm.conformance`` run keeps pytest's output.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

import pytest

__all__ = ["ClauseProgress"]

_FAILURES_SHOWN = 5
"""Failures printed under a group line (the report keeps them all)."""


@dataclass(slots=True)
class _Group:
    clauses: set[str] = field(default_factory=set)
    tests: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    """node id -> the failure's last assertion line."""
    skipped: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)


class ClauseProgress:
    """A pytest plugin: progress per clause group in place of the terminal reporter."""

    def __init__(self, *, quiet: bool = False, out: TextIO | None = None) -> None:
        self.quiet = quiet
        self.out = out or sys.stdout
        self.groups: dict[str, _Group] = {}
        self.group_of: dict[str, str] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            config.pluginmanager.unregister(reporter)

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._print(f"ERROR collecting {report.nodeid}:\n{report.longreprtext}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        headers = session.config.hook.pytest_report_header(
            config=session.config, start_path=session.config.rootpath
        )
        for lines in headers:
            for line in [lines] if isinstance(lines, str) else lines or []:
                if line.startswith("noorm:"):
                    self._print(line)
        for item in session.items:
            clauses = [str(c) for m in item.iter_markers("clause") for c in m.args]
            name = clauses[0].split("-")[0] if clauses else "other"
            group = self.groups.setdefault(name, _Group())
            group.clauses.update(c for c in clauses if c.split("-")[0] == name)
            group.tests.add(item.nodeid)
            self.group_of[item.nodeid] = name
        self._print(f"{len(session.items)} tests in {len(self.groups)} clause groups")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = self.group_of.get(report.nodeid)
        if name is None:
            return
        group = self.groups[name]
        if report.failed and report.nodeid not in group.failed:
            lines = [ln for ln in report.longreprtext.splitlines() if ln.startswith("E ")]
            group.failed[report.nodeid] = (lines[0][1:].strip() if lines else report.when)[:120]
        elif report.skipped:
            group.skipped.add(report.nodeid)
        if report.when == "teardown":
            group.done.add(report.nodeid)
            if group.done == group.tests:
                self._group_done(name, group)

    def _group_done(self, name: str, group: _Group) -> None:
        failed = len(group.failed)
        skipped = len(group.skipped - group.failed.keys())
        passed = len(group.tests) - failed - skipped
        if self.quiet and not failed:
            return
        clauses = f"{len(group.clauses)} clause{'s' if len(group.clauses) != 1 else ''}"
        counts = f"{passed} passed" + (f", {failed} FAILED" if failed else "")
        counts += f", {skipped} skipped" if skipped else ""
        self._print(f"  {name:<6} {clauses:<11} {len(group.tests):>4} tests: {counts}")
        for nodeid, why in list(group.failed.items())[:_FAILURES_SHOWN]:
            self._print(f"         FAILED {nodeid}: {why}")
        if failed > _FAILURES_SHOWN:
            self._print(f"         ... and {failed - _FAILURES_SHOWN} more (see the report)")
