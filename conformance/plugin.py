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

With an adapter under test every run ends in a verdict, and the exit status is non-zero
unless the adapter is certified. The plugin enumerates the installed suite itself (each
``test_*`` module of this package, collected on its own), so a run narrowed in any way
(``-k``, ``-m``, ``--deselect``, ``--ignore``, naming some tests, ``--lf``, ``--sw``,
``-x``) is reported as not certified, naming what was left out and why.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from noorm.spec import Adapter, Capability

from .async_door import SyncDoor, is_async, sync_door
from .clauses import CLAUSES, is_core
from .report import AdapterInfo, TestResult, build_report, write_report

__all__ = [
    "AdapterFactory",
    "Certification",
    "Subject",
    "blame",
    "driver_version",
    "lacks",
    "load_factory",
    "subject",
    "suite_modules",
]

AdapterFactory = Callable[[], Adapter]
"""Returns a fresh adapter on an empty database or namespace, every call."""

NO_ADAPTER = "no adapter under test: run with --noorm-adapter=module:factory"

_REASON_CHARS = 1000
"""A failure's message is cut to this length in the report (an assert diff can be huge)."""


_BLAME = "noorm_blame"


def blame(node: pytest.Item, *clauses: str) -> None:
    """Attribute this test's failure to ``clauses`` rather than to every clause it covers.

    A test covering several clauses (the differential ones) calls it once it has worked
    out which rule a failing case breaks, so that the report fails that clause rather
    than every clause the test covers. The test still fails. A clause the test is not
    marked with is added to it (the case exercised that rule too); naming no clause of
    the spec blames every clause the test is marked with.
    """
    node.user_properties.append((_BLAME, tuple(clauses)))


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


_DRIVERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "postgres": ("psycopg", "psycopg", ("__version__",)),
    "mysql": ("pymysql", "PyMySQL", ("__version__", "VERSION")),
    "mongodb": ("pymongo", "pymongo", ("version", "__version__")),
    "sqlite": ("sqlite3", "SQLite", ("sqlite_version",)),
}
"""Built-in adapter package -> (driver module, display name, version attributes)."""


def driver_version(adapter: object) -> str | None:
    """The adapter's driver and its version (``psycopg 3.2.1``); None when there is none.

    An adapter may say it itself with a ``driver_version`` attribute (a str, or a
    callable returning one). For the built-in adapters it is read from the driver module
    they already imported: nothing is imported here, so a driver that is not installed
    is never touched.
    """
    own = getattr(adapter, "driver_version", None)
    if callable(own):
        own = own()
    if own:
        return str(own)
    parts = type(adapter).__module__.split(".")
    known = (
        _DRIVERS.get(parts[2]) if parts[:2] == ["noorm", "adapters"] and len(parts) > 2 else None
    )
    if known is None:
        return None
    module_name, display, attributes = known
    module = sys.modules.get(module_name)
    for attribute in attributes:
        version = getattr(module, attribute, None)
        if version:
            text = ".".join(map(str, version)) if isinstance(version, tuple) else str(version)
            return f"{display} {text}"
    return None


def certified_class(adapter: object) -> str:
    """The class of the adapter under test (through the async door: of the async adapter)."""
    if isinstance(adapter, SyncDoor):
        return adapter.certified_class
    kind = type(adapter)
    return f"{kind.__module__}.{kind.__qualname__}"


def _probe(spec: str, factory: AdapterFactory, door: str = "sync") -> Subject:
    """Open one adapter to learn its name, versions and capabilities, then close it.

    What the adapter must say about itself (a non-empty ``name``, ``version`` and
    ``server_version()``) is checked here: a failure is a certification problem.
    """
    try:
        adapter = factory()
    except Exception as exc:
        raise pytest.UsageError(f"--noorm-adapter {spec}: the factory failed: {exc!r}") from exc
    try:
        if is_async(adapter):
            raise pytest.UsageError(
                f"--noorm-adapter {spec}: {adapter!r} is an async adapter: pass --noorm-async "
                "(noorm certify --async) to certify its async door"
            )
        if not isinstance(adapter, Adapter):
            raise pytest.UsageError(
                f"--noorm-adapter {spec}: {adapter!r} does not implement noorm.spec.Adapter"
            )
        capabilities = frozenset(Capability(c) for c in adapter.capabilities)
        server_version = adapter.server_version()
        said = {
            "name": adapter.name,
            "version": adapter.version,
            "server_version()": server_version,
        }
        problems = tuple(
            f"the adapter's {what} is {value!r}: it must be a non-empty str"
            for what, value in said.items()
            if not isinstance(value, str) or not value.strip()
        )
        info = AdapterInfo(
            factory=spec,
            name=str(adapter.name),
            version=str(adapter.version),
            server_version=str(server_version),
            capabilities=frozenset(c.value for c in capabilities),
            driver=driver_version(adapter),
            problems=problems,
            door=door,
            adapter_class=certified_class(adapter),
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


def suite_modules() -> dict[str, Path]:
    """Every test module of the installed suite (``test_*`` in this package) and its file."""
    package = __name__.rpartition(".")[0]
    found: dict[str, Path] = {}
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if info.name.startswith("test_") and not info.ispkg:
            spec = importlib.util.find_spec(f"{package}.{info.name}")
            if spec is not None and spec.origin is not None:
                found[f"{package}.{info.name}"] = Path(spec.origin)
    return found


_Key = tuple[Path, tuple[str, ...], tuple[tuple[str, int], ...]]


def _key(item: pytest.Item) -> _Key | None:
    """What identifies a test across two collections of its module: file, names, parameters.

    Not the node id: collected a second time, pytest escapes generated parameter ids again.
    """
    chain = item.listchain()
    at = max((k for k, node in enumerate(chain) if isinstance(node, pytest.Module)), default=-1)
    if at < 0:
        return None
    names = (*(node.name for node in chain[at + 1 : -1]), getattr(item, "originalname", item.name))
    callspec = getattr(item, "callspec", None)
    indices = tuple(sorted(callspec.indices.items())) if callspec is not None else ()
    return chain[at].path.resolve(), names, indices


@dataclass(frozen=True, slots=True)
class _Expected:
    """A test of the installed suite: its node id, clauses and module."""

    nodeid: str
    clauses: tuple[str, ...]
    module: str
    module_collected: bool
    """Whether this run collected the test's module (perhaps not this test)."""


def _clauses(item: pytest.Item) -> tuple[str, ...]:
    return tuple(str(c) for mark in item.iter_markers("clause") for c in mark.args)


def _required(item: pytest.Item) -> list[Capability]:
    return [Capability(c) for mark in item.iter_markers("requires") for c in mark.args]


def _items(node: pytest.Item | pytest.Collector) -> Iterator[pytest.Item]:
    if isinstance(node, pytest.Item):
        yield node
    else:
        for child in node.collect():
            yield from _items(child)


_SELECTION: dict[str, str] = {
    "keyword": "-k",
    "markexpr": "-m",
    "deselect": "--deselect",
    "ignore": "--ignore",
    "ignore_glob": "--ignore-glob",
    "lf": "--lf",
    "failedfirst": "--ff",
    "newfirst": "--nf",
    "stepwise": "--sw",
    "stepwise_skip": "--sw-skip",
    "maxfail": "--maxfail",
    "collectonly": "--collect-only",
    "override_ini": "-o",
}
"""Options that choose which tests run (by ``dest``), and how a reason spells them."""

_DESELECTING = ("keyword", "markexpr", "deselect", "lf", "stepwise")
_STOPPING = ("maxfail", "stepwise", "collectonly")


def _selection(config: pytest.Config) -> dict[str, Any]:
    """The options of this run that narrow or order the suite (those not at their default)."""
    chosen: dict[str, Any] = {"args": list(config.args)}
    for dest in _SELECTION:
        value = config.getoption(dest, None)
        if value:
            chosen[dest] = value
    return chosen


def _flags(selection: Mapping[str, Any], dests: tuple[str, ...]) -> str:
    """``-k 'expr', --deselect ...`` for the options of ``dests`` that this run used."""
    used = []
    for dest in dests:
        value = selection.get(dest)
        if value is True:
            used.append(_SELECTION[dest])
        elif isinstance(value, (str, list)):
            shown = " ".join(map(str, value)) if isinstance(value, list) else value
            used.append(f"{_SELECTION[dest]} {shown!r}")
        elif value:
            used.append(f"{_SELECTION[dest]}={value}")
    return ", ".join(used)


def _failure(report: pytest.TestReport) -> str:
    """What went wrong, with the assertion text, and where (``file:line``)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if not message:
        lines = report.longreprtext.strip().splitlines()
        errors = [line[1:].strip() for line in lines if line.startswith("E ")]
        message = "\n".join(errors) or (lines[-1] if lines else f"failed in {report.when}")
    where = f" [{Path(crash.path).name}:{crash.lineno}]" if crash is not None else ""
    room = _REASON_CHARS - len(where)
    return (message if len(message) <= room else message[: room - 4] + " ...") + where


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
        "--noorm-async",
        action="store_true",
        default=False,
        help="the factory returns async adapters (noorm.spec.AsyncAdapter): certify their "
        "async door, through a sync facade that awaits each call",
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
        config.getoption("noorm_adapter", None),
        config.getoption("noorm_report", None),
        door="async" if config.getoption("noorm_async", False) else "sync",
    )
    config.stash[_STATE] = certification
    config.pluginmanager.register(certification, "noorm-certification")


class Certification:
    """The per-run hooks and state: capability skips, results, coverage, the report."""

    def __init__(
        self, factory_spec: str | None, report_path: str | None, *, door: str = "sync"
    ) -> None:
        self.factory_spec = factory_spec
        self.door = door
        self.report_path = report_path
        self.subject: Subject | None = None
        self.collected: dict[str, pytest.Item] = {}
        """Every suite test collected, before any deselection."""
        self.deselected: set[str] = set()
        self.results: dict[str, TestResult] = {}
        """The tests that actually ran (at least their setup), by node id."""
        self.finished: set[str] = set()
        """The tests whose teardown was reported: they ran to the end."""
        self.capability_skips: set[str] = set()
        self.started = time.time()
        self.verdict: list[str] = []

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = time.time()
        if self.factory_spec is not None:
            factory = load_factory(self.factory_spec)
            if self.door == "async":
                factory = sync_door(factory)
            self.subject = _probe(self.factory_spec, factory, self.door)

    def pytest_report_header(self, config: pytest.Config) -> str | None:
        if self.subject is None:
            return None
        info = self.subject.info
        caps = ", ".join(sorted(info.capabilities)) or "none"
        return (
            f"noorm: certifying {info.name} {info.version} ({info.door} door) on "
            f"{info.server_version} "
            f"(capabilities: {caps}; factory {info.factory})"
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Runs before ``-k``/``-m``/``--deselect``/``--lf``/``--sw`` remove anything."""
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
            self.collected[item.nodeid] = item
            missing = [c for c in _required(item) if c not in self.subject.capabilities]
            if missing:
                self.capability_skips.add(item.nodeid)
                item.add_marker(pytest.mark.skip(reason=lacks(missing[0])))

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected.update(item.nodeid for item in items)

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
        item = self.collected.get(report.nodeid)
        if item is None:
            return
        result = self.results.setdefault(report.nodeid, TestResult(report.nodeid, _clauses(item)))
        if report.when == "teardown":
            self.finished.add(report.nodeid)
        if report.failed:
            result.record("failed", _failure(report), report.duration)
            blamed = [v for k, v in report.user_properties if k == _BLAME]
            if blamed and isinstance(blamed[-1], tuple):
                result.blamed = tuple(c for c in blamed[-1] if c in CLAUSES)
                result.clauses += tuple(c for c in result.blamed if c not in result.clauses)
        elif report.skipped:
            result.record("skipped", _skip_reason(report), report.duration)
            result.capability_skip = report.nodeid in self.capability_skips
        else:
            result.record("passed", None, report.duration)

    def _expected(self, session: pytest.Session) -> tuple[dict[_Key, _Expected], list[str]]:
        """Every test of the installed suite, whatever this run chose, and what is wrong.

        Each ``test_*`` module of the package is collected again on its own: with the
        node id this run gave it (so ids match), or, left out of the run, with its path in
        the package. The problems are modules that cannot be collected at all.
        """
        ran = {
            module.path.resolve(): module
            for item in self.collected.values()
            if (module := item.getparent(pytest.Module)) is not None
        }
        expected: dict[_Key, _Expected] = {}
        problems: list[str] = []
        package = __name__.rpartition(".")[0]
        for name, origin in suite_modules().items():
            real = ran.get(origin.resolve())
            if real is not None:
                path, nodeid = real.path, real.nodeid
            else:
                root = origin.parents[package.count(".") + 1]
                path, nodeid = origin, origin.relative_to(root).as_posix()
            module = pytest.Module.from_parent(session, path=path, nodeid=nodeid)
            try:
                items = [(item, _clauses(item), _key(item)) for item in _items(module)]
            except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:
                problems.append(f"suite module {name} cannot be collected: {exc!r}"[:300])
                continue
            for item, clauses, key in items:
                if clauses and key is not None:
                    expected[key] = _Expected(item.nodeid, clauses, name, real is not None)
            if not any(clauses for _, clauses, _ in items):
                problems.append(f"suite module {name} holds no test of a spec clause")
        return expected, problems

    def _not_run(
        self, nodeid: str | None, test: _Expected, selected: set[str], selection: Mapping[str, Any]
    ) -> str:
        """Why a test of the suite (collected as ``nodeid``, if at all) did not run to the end."""
        if nodeid is None:
            if not test.module_collected:
                return f"not collected: module {test.module} was left out of the run"
            return "not collected: the run named only some tests of the suite"
        if nodeid in self.results:
            return "did not finish (the session was interrupted)"
        if nodeid in self.deselected:
            flags = _flags(selection, _DESELECTING)
            return f"deselected ({flags})" if flags else "deselected by a plugin"
        flags = _flags(selection, _STOPPING)
        if nodeid in selected:
            return "collected but not run: the session stopped early" + (
                f" ({flags})" if flags else ""
            )
        return "collected but dropped by a plugin"

    def _results(
        self,
        session: pytest.Session,
        expected: Mapping[_Key, _Expected],
        selection: Mapping[str, Any],
    ) -> list[TestResult]:
        """The results of this run, and a ``not_run`` one for every missing suite test."""
        results = [r for n, r in self.results.items() if n in self.finished]
        collected = {_key(item): nodeid for nodeid, item in self.collected.items()}
        selected = {item.nodeid for item in session.items}
        for key, test in expected.items():
            nodeid = collected.get(key)
            if nodeid is None or nodeid not in self.finished:
                reason = self._not_run(nodeid, test, selected, selection)
                results.append(TestResult(nodeid or test.nodeid, test.clauses, "not_run", reason))
        return results

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.subject is None:
            return
        selection = _selection(session.config)
        expected, problems = self._expected(session)
        results = self._results(session, expected, selection)
        report = build_report(
            self.subject.info,
            results,
            started=self.started,
            finished=time.time(),
            selection=selection,
            problems=problems,
        )
        if self.report_path:
            write_report(self.report_path, report)
        summary = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in report["summary"].items())
        verdict = "CERTIFIED" if report["certified"] else "NOT certified"
        self.verdict = [
            f"noorm: {self.subject.info.name} {self.subject.info.version} is {verdict} "
            f"against spec {report['spec_version']} ({summary})"
            + (f"; report: {self.report_path}" if self.report_path else ""),
            *(f"  - {why}" for why in report["why_not_certified"][:_SHOWN]),
        ]
        if len(report["why_not_certified"]) > _SHOWN:
            self.verdict.append(f"  ... ({len(report['why_not_certified'])} reasons in all)")
        if not report["certified"] and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.verdict:
            terminalreporter.write_sep("=", self.verdict[0], bold=True)
            for line in self.verdict[1:]:
                terminalreporter.write_line(line)


_SHOWN = 10
"""At most this many reasons are printed under the verdict (the report has them all)."""


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)
