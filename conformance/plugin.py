"""The pytest plugin that certifies an adapter.

    pytest --pyargs noorm.conformance --noorm-adapter=mypkg.module:factory [--noorm-report=r.json]

It is registered through the ``pytest11`` entry point, so it is loaded by every pytest
run in an environment where no-orm is installed. Without ``--noorm-adapter`` it is
inert: the suite's own tests (those marked ``clause``) are skipped with the reason and
nothing else is touched.

The factory is any ``module:attribute`` naming a callable that returns a fresh adapter
on an empty database each call. The plugin calls it once per test and closes the
adapter afterwards. Optionally the factory has a ``same_database(adapter)`` method that
opens a second, independent adapter on the database of ``adapter``; only then can the
concurrent-bootstrap clause (BOOT-3) be verified.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import pytest

from noorm.spec import Adapter, Capability

from .clauses import CLAUSES, is_core
from .report import AdapterInfo, TestResult, build_report, write_report

__all__ = [
    "AdapterFactory",
    "Certification",
    "Subject",
    "lacks",
    "load_factory",
    "subject",
]

AdapterFactory = Callable[[], Adapter]
"""Returns a fresh adapter on an empty database or namespace, every call."""

NO_ADAPTER = "no adapter under test: run with --noorm-adapter=module:factory"


def lacks(capability: Capability) -> str:
    """The skip reason of a test whose capability the adapter does not declare."""
    return f"adapter lacks capability {capability.value}"


@dataclass(frozen=True, slots=True)
class Subject:
    """The adapter under test: its factory and what a probe instance said about it."""

    factory: AdapterFactory
    info: AdapterInfo
    capabilities: frozenset[Capability]

    def same_database(self) -> Callable[[Adapter], Adapter] | None:
        """The factory's optional opener of a second adapter on the same database."""
        opener = getattr(self.factory, "same_database", None)
        return opener if callable(opener) else None


_STATE = pytest.StashKey["Certification"]()


def load_factory(spec: str) -> AdapterFactory:
    """Import ``module:attribute`` (the attribute may be dotted) and check it is callable."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise pytest.UsageError(
            f"--noorm-adapter takes module:attribute (e.g. mypkg.adapter:factory), got {spec!r}"
        )
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise pytest.UsageError(f"--noorm-adapter {spec}: cannot load it: {exc}") from exc
    if not callable(obj):
        raise pytest.UsageError(f"--noorm-adapter {spec}: {obj!r} is not callable")
    factory: AdapterFactory = obj
    return factory


def _probe(spec: str, factory: AdapterFactory) -> Subject:
    """Open one adapter to learn its name, versions and capabilities, then close it."""
    try:
        adapter = factory()
    except Exception as exc:
        raise pytest.UsageError(f"--noorm-adapter {spec}: the factory failed: {exc!r}") from exc
    try:
        if not isinstance(adapter, Adapter):
            raise pytest.UsageError(
                f"--noorm-adapter {spec}: {adapter!r} does not implement noorm.spec.Adapter"
            )
        capabilities = frozenset(Capability(c) for c in adapter.capabilities)
        info = AdapterInfo(
            factory=spec,
            name=str(adapter.name),
            version=str(adapter.version),
            server_version=str(adapter.server_version()),
            capabilities=frozenset(c.value for c in capabilities),
        )
    finally:
        adapter.close()
    return Subject(factory, info, capabilities)


def subject(config: pytest.Config) -> Subject:
    """The adapter under test of this run (the suite's fixtures use it)."""
    state = config.stash.get(_STATE, None)
    if state is None or state.subject is None:
        pytest.skip(NO_ADAPTER)
    return state.subject


def _clauses(item: pytest.Item) -> tuple[str, ...]:
    return tuple(str(c) for mark in item.iter_markers("clause") for c in mark.args)


def _required(item: pytest.Item) -> list[Capability]:
    return [Capability(c) for mark in item.iter_markers("requires") for c in mark.args]


# --- hooks ------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("noorm", "no-orm adapter certification")
    group.addoption(
        "--noorm-adapter",
        metavar="MODULE:FACTORY",
        default=None,
        help="certify the adapter this factory returns (a fresh, empty database per call)",
    )
    group.addoption(
        "--noorm-report",
        metavar="PATH",
        default=None,
        help="write the certification report (JSON) to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clause(*ids): the docs/spec.md clause(s) a conformance test checks"
    )
    config.addinivalue_line(
        "markers",
        "requires(*capabilities): the adapter capabilities a conformance test needs "
        "(skipped without them)",
    )
    certification = Certification(
        config.getoption("noorm_adapter", None), config.getoption("noorm_report", None)
    )
    config.stash[_STATE] = certification
    config.pluginmanager.register(certification, "noorm-certification")


class Certification:
    """The per-run hooks and state: capability skips, results, the report."""

    def __init__(self, factory_spec: str | None, report_path: str | None) -> None:
        self.factory_spec = factory_spec
        self.report_path = report_path
        self.subject: Subject | None = None
        self.clauses: dict[str, tuple[str, ...]] = {}
        """The clauses of every collected suite test (some may be deselected later)."""
        self.results: dict[str, TestResult] = {}
        """The tests that actually ran (at least their setup), by node id."""
        self.capability_skips: set[str] = set()
        self.started = time.time()
        self.verdict: str | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = time.time()
        if self.factory_spec is not None:
            self.subject = _probe(self.factory_spec, load_factory(self.factory_spec))

    def pytest_report_header(self, config: pytest.Config) -> str | None:
        if self.subject is None:
            return None
        info = self.subject.info
        caps = ", ".join(sorted(info.capabilities)) or "none"
        return (
            f"noorm: certifying {info.name} {info.version} on {info.server_version} "
            f"(capabilities: {caps}; factory {info.factory})"
        )

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            clauses = _clauses(item)
            if not clauses:
                continue
            unknown = [c for c in clauses if c not in CLAUSES]
            if unknown:
                raise pytest.UsageError(f"{item.nodeid}: unknown spec clause(s) {unknown}")
            if self.subject is None:
                item.add_marker(pytest.mark.skip(reason=NO_ADAPTER))
                continue
            self.clauses[item.nodeid] = clauses
            missing = [c for c in _required(item) if c not in self.subject.capabilities]
            if missing:
                self.capability_skips.add(item.nodeid)
                item.add_marker(pytest.mark.skip(reason=lacks(missing[0])))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A skipped test of a core clause is a certification failure, reported as one."""
        report = yield
        if self.subject is None or not report.skipped:
            return report
        core = [c for c in _clauses(item) if is_core(c)]
        if core:
            report.outcome = "failed"
            report.longrepr = (
                f"certification failure: core clause(s) {', '.join(core)} can never be "
                f"skipped (skipped because: {_skip_reason(report)})"
            )
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        clauses = self.clauses.get(report.nodeid)
        if clauses is None:
            return
        result = self.results.setdefault(report.nodeid, TestResult(report.nodeid, clauses))
        if report.failed:
            lines = report.longreprtext.strip().splitlines()
            result.record("failed", lines[-1] if lines else report.when, report.duration)
        elif report.skipped:
            result.record("skipped", _skip_reason(report), report.duration)
            result.capability_skip = report.nodeid in self.capability_skips
        else:
            result.record("passed", None, report.duration)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.subject is None or not self.results:
            return
        results = list(self.results.values())
        report = build_report(
            self.subject.info, results, started=self.started, finished=time.time()
        )
        if self.report_path:
            write_report(self.report_path, report)
        summary = report["summary"]
        verdict = "CERTIFIED" if report["certified"] else "NOT certified"
        self.verdict = (
            f"noorm: {self.subject.info.name} {self.subject.info.version} is {verdict} "
            f"against spec {report['spec_version']} ({summary['passed']} passed, "
            f"{summary['failed']} failed, {summary['skipped']} skipped)"
            + (f"; report: {self.report_path}" if self.report_path else "")
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.verdict:
            terminalreporter.write_sep("=", self.verdict, bold=True)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)
