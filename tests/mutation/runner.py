"""Run mutants against the tests relevant to each mutated module; report the kill rate.

Nothing here writes to the working tree (except the JSON report, under ``reports/``):

1. a *snapshot* of the project (the working tree, or ``git archive REV`` with
   ``--rev``) is copied to a scratch directory as the installed package: ``pkg/``,
   ``spec/``, ``adapters/``, ... become ``noorm/``, ``noorm/spec``, ...;
2. each worker gets its own copy of the snapshot, and for each mutant writes the
   mutated module into that copy, runs the commands of the module's area there with
   ``PYTHONPATH`` pointing at the copy (checked: ``noorm`` imports from the copy),
   then puts the original module back;
3. no bytecode is written (``PYTHONDONTWRITEBYTECODE=1``), so a mutant of the same
   size and second as the original can never be shadowed by a stale ``.pyc``.

The commands of an area run fastest first (by their time on the unmutated
snapshot), with ``-x`` and a fixed Hypothesis seed; the first failing one kills the
mutant, and so does a command running longer than ``3 x baseline + 10 s``
(``--timeout-factor``).

Guided runs (the default): each command first runs once under coverage with one
context per test (:mod:`tests.mutation.cover`), and a mutant then runs only the tests
that execute its lines. A kill counts once its failing test is seen to pass alone on
the unmutated code; a mutant that survives its tests, or whose lines no test runs
(import-time code), runs the area's whole commands, so guidance saves time and never
changes a verdict to "survived".
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .mutate import Mutant, apply, find_mutants

__all__ = ["AREAS", "COMMANDS", "Area", "Command", "Result", "main"]

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")
PACKAGE_FOLDERS = ("adapters", "conformance", "kit", "spec")
"""The top-level folders mapped under ``noorm/`` (before the mapping: links in ``noorm/``)."""
COPIED = ("tests", "examples", "pyproject.toml")
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache"
)
PYTEST_OPTIONS = ("-x", "-p", "no:cacheprovider", "--hypothesis-seed=0")
"""Stop at the first failure; no cache; the same Hypothesis examples on every run."""
TIMEOUT_FACTOR = 3.0
TIMEOUT_SLACK = 10.0
POSTGRES_ENV = "NOORM_POSTGRES_URL"
MYSQL_ENV = "NOORM_MYSQL_URL"


@dataclass(frozen=True, slots=True)
class Command:
    """One test command, run in the snapshot copy."""

    name: str
    args: tuple[str, ...]
    """Arguments after ``python -m``."""
    needs_env: str | None = None
    """An environment variable (a server URL) the command cannot run without."""
    pytest_args: tuple[str, ...] = ()
    """The same tests as a plain pytest run, without the paths: the guided runs add
    node ids (or :attr:`paths`) to these."""
    paths: tuple[str, ...] = ()


def _pytest(name: str, path: str, needs_env: str | None = None) -> Command:
    return Command(name, ("pytest", "-q", *PYTEST_OPTIONS, path), needs_env, (), (path,))


_EMPTY_INI = "mutation-pytest.ini"
"""An empty pytest configuration in each copy: certify runs the suite without the
project's own settings, and so do the guided runs of the suite."""


def _certify(target: str, factory: str, needs_env: str | None = None) -> Command:
    # certify builds its own pytest command line; PYTEST_ADDOPTS carries the options.
    suite = ("-c", _EMPTY_INI, "--rootdir=.", f"--noorm-adapter={factory}", "-W", "ignore")
    args = ("noorm", "certify", target, "-q")
    return Command(f"certify {target}", args, needs_env, suite, ("noorm/conformance",))


COMMANDS = {
    c.name: c
    for c in (
        _certify("memory", "noorm.conformance.targets:memory"),
        _pytest("test_memory.py", "tests/adapters/test_memory.py"),
        _pytest("test_capabilities.py", "tests/adapters/test_capabilities.py"),
        _certify("sqlite", "noorm.conformance.targets:sqlite"),
        _pytest("test_sqlite.py", "tests/adapters/test_sqlite.py"),
        _pytest("test_sql_compiler.py", "tests/adapters/test_sql_compiler.py"),
        _certify("postgres", "noorm.adapters.postgres.testing:conformance_factory", POSTGRES_ENV),
        _pytest("test_postgres.py", "tests/adapters/test_postgres.py", POSTGRES_ENV),
        # Its server tests need NOORM_CITUS_URL and skip without it; the rest need no server.
        _pytest("test_citus.py", "tests/adapters/test_citus.py"),
        _pytest("test_conflicts.py", "tests/adapters/test_conflicts.py"),
        _certify("mysql", "noorm.adapters.mysql.testing:conformance_factory", MYSQL_ENV),
        _pytest("test_mysql.py", "tests/adapters/test_mysql.py", MYSQL_ENV),
    )
}


@dataclass(frozen=True, slots=True)
class Area:
    """A group of modules and the commands that test them."""

    name: str
    folder: str
    commands: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    """Files of the folder that are not mutated (test scaffolding)."""


_SQLITE = (
    "certify sqlite",
    "test_sqlite.py",
    "test_sql_compiler.py",
    "test_conflicts.py",
    "test_capabilities.py",
)
_POSTGRES = ("certify postgres", "test_postgres.py", "test_citus.py", "test_conflicts.py")
_MYSQL = ("certify mysql", "test_mysql.py")
AREAS = {
    a.name: a
    for a in (
        Area(
            "memory",
            "adapters/memory",
            ("certify memory", "test_memory.py", "test_capabilities.py"),
        ),
        # The shared SQL layer serves SQLite, PostgreSQL and MySQL/MariaDB: a mutant
        # that only one backend's tests can see is not a survivor.
        Area("sql", "adapters/sql", tuple(dict.fromkeys((*_SQLITE, *_POSTGRES, *_MYSQL)))),
        Area("sqlite", "adapters/sqlite", _SQLITE),
        Area("postgres", "adapters/postgres", _POSTGRES, excluded=("testing.py",)),
    )
}


@dataclass(slots=True)
class Result:
    mutant: Mutant
    area: str
    status: str = "pending"
    """killed | timeout | survived | equivalent | skipped"""
    by: str | None = None
    """The command that killed the mutant."""
    detail: str = ""
    seconds: float = 0.0
    reason: str = ""
    """Why the mutant is equivalent (from the equivalent list)."""
    tests: int = 0
    """How many tests the guided run chose (0: none, the whole commands ran)."""
    lines: tuple[int, ...] = ()
    """The lines the mutant touches (the guided run picks the tests that run them)."""


@dataclass(slots=True)
class Stats:
    total: int = 0
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    equivalent: int = 0
    skipped: int = 0
    pending: int = 0
    """Not run yet: only in the report an unfinished run keeps writing."""

    def add(self, status: str) -> None:
        self.total += 1
        setattr(self, status, getattr(self, status) + 1)

    @property
    def rate(self) -> float | None:
        judged = self.killed + self.timeout + self.survived
        return None if judged == 0 else (self.killed + self.timeout) / judged

    def as_dict(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "total": self.total,
            "killed": self.killed,
            "timeout": self.timeout,
            "survived": self.survived,
            "equivalent": self.equivalent,
            "skipped": self.skipped,
            "pending": self.pending,
            "kill_rate": None if rate is None else round(rate, 4),
        }


# --- snapshot ------------------------------------------------------------------------------


def build_snapshot(dest: Path, rev: str | None, overlay: Sequence[str] = ()) -> None:
    """The project at ``rev`` (or the working tree) in ``dest``, package links resolved.

    ``overlay``: files copied from the working tree over a ``rev`` snapshot (e.g. a
    test file being written, run against the committed code); ``FILE=OTHER`` puts the
    file ``OTHER`` (relative to the project, or absolute) in place of ``FILE``.
    """
    if rev is None:
        _copy_project(ROOT, dest)
        return
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
        check=True,
        capture_output=True,
    ).stdout
    staging = dest.with_name(dest.name + "-git")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(staging, filter="data")
    _copy_project(staging, dest)
    shutil.rmtree(staging)
    for item in overlay:
        name, _, origin = item.partition("=")
        relative = Path(name)
        if relative.parts[0] in PACKAGE_FOLDERS:
            relative = Path("noorm", relative)
        elif relative.parts[0] == "pkg":
            relative = Path("noorm", *relative.parts[1:])
        shutil.copy2(ROOT / (origin or name), dest / relative)


def _copy_project(source: Path, dest: Path) -> None:
    """The package as installed (a real ``noorm/``), then the tests and examples."""
    dest.mkdir(parents=True)
    package = dest / "noorm"
    with (source / "pyproject.toml").open("rb") as f:
        setuptools = tomllib.load(f).get("tool", {}).get("setuptools", {})
    mapping: dict[str, str] = setuptools.get("package-dir", {})
    if mapping:  # pkg/ -> noorm, spec/ -> noorm/spec, ... ("noorm" sorts first)
        for name, folder in sorted(mapping.items()):
            target = dest.joinpath(*name.split("."))
            shutil.copytree(source / folder, target, ignore=IGNORED, dirs_exist_ok=True)
    else:  # older revisions: noorm/ with links to the top-level folders
        package.mkdir()
        for entry in (source / "noorm").iterdir():
            if entry.name in PACKAGE_FOLDERS:
                shutil.copytree(source / entry.name, package / entry.name, ignore=IGNORED)
            elif entry.is_file():
                shutil.copy2(entry, package / entry.name)
    for name in COPIED:
        if (source / name).is_dir():
            shutil.copytree(source / name, dest / name, ignore=IGNORED)
        else:
            shutil.copy2(source / name, dest / name)


def module_files(snapshot: Path, areas: Sequence[Area]) -> dict[str, Area]:
    """``adapters/...py`` -> its area, for every mutated module of the areas."""
    files: dict[str, Area] = {}
    for area in areas:
        folder = snapshot / "noorm" / area.folder
        for path in sorted(folder.rglob("*.py")):
            if path.name not in area.excluded:
                files[path.relative_to(snapshot / "noorm").as_posix()] = area
    return files


# --- running -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    passed: bool
    timed_out: bool
    seconds: float
    detail: str
    returncode: int | None = None
    failing: str | None = None
    """A guided run: the short-summary line of the first test that failed
    (``node-id - message``)."""


class Worker:
    """A private copy of the snapshot in which one mutant at a time is applied."""

    def __init__(self, snapshot: Path, copy: Path) -> None:
        shutil.copytree(snapshot, copy)
        (copy / _EMPTY_INI).write_text("[pytest]\n", encoding="utf-8")
        self.root = copy
        self._process: subprocess.Popen[bytes] | None = None

    def env(self, scratch: Path) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.root)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTEST_ADDOPTS"] = " ".join(PYTEST_OPTIONS)
        env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(scratch / "hypothesis")
        env["TMPDIR"] = str(scratch)
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        return env

    def run(
        self, args: Sequence[str], timeout: float, extra_env: Mapping[str, str] | None = None
    ) -> Outcome:
        scratch = Path(tempfile.mkdtemp(prefix="run-", dir=self.root.parent))
        log = scratch / "output.txt"
        start = time.monotonic()
        timed_out = False
        env = self.env(scratch)
        env.update(extra_env or {})
        if extra_env is not None:  # a guided run: the options are on its command line
            env.pop("PYTEST_ADDOPTS")
        try:
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", *args],
                    cwd=self.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                self._process = process
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    self.kill()
            seconds = time.monotonic() - start
            output = log.read_text(encoding="utf-8", errors="replace")
        finally:
            self._process = None
            shutil.rmtree(scratch, ignore_errors=True)
        failing = None
        if extra_env is None:
            passed = not timed_out and process.returncode == 0
        else:
            # A narrowed run of the conformance suite is never certified, so its exit
            # status is 1 even when every test passed: read pytest's short summary
            # (-rfE) instead. Any other status (collection error, crash) is a failure.
            failed = [
                line.split(" ", 1)[1]
                for line in output.splitlines()
                if line.startswith(("FAILED ", "ERROR "))
            ]
            passed = not timed_out and process.returncode in (0, 1) and not failed
            failing = failed[0] if failed else None
        detail = "" if passed else _summary(output)
        return Outcome(passed, timed_out, seconds, detail, process.returncode, failing)

    def kill(self) -> None:
        """End the running command and everything it started (its own session)."""
        process = self._process
        if process is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    @contextmanager
    def mutated(self, mutant: Mutant) -> Iterator[None]:
        path = self.root / "noorm" / mutant.path
        original = path.read_text(encoding="utf-8")
        path.write_text(apply(original, mutant.edits), encoding="utf-8")
        try:
            yield
        finally:
            path.write_text(original, encoding="utf-8")

    def imports_from_copy(self) -> str:
        """Where ``noorm`` is imported from in this copy (must be inside it)."""
        probe = subprocess.run(
            [sys.executable, "-c", "import noorm.adapters.memory as m; print(m.__file__)"],
            cwd=self.root,
            env=self.env(self.root.parent),
            capture_output=True,
            text=True,
            check=True,
        )
        return probe.stdout.strip()


def _summary(output: str) -> str:
    """The most telling line of a failing run's output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for prefix in ("FAILED ", "ERROR ", "NOT CERTIFIED", "E   "):
        for line in lines:
            if line.startswith(prefix):
                return line[:300]
    return lines[-1][:300] if lines else ""


def run_mutant(worker: Worker, result: Result, plan: Sequence[tuple[Command, float]]) -> None:
    """Run the whole commands of the mutant's area (the unguided way)."""
    start = time.monotonic()
    with worker.mutated(result.mutant):
        _run_plan(worker, result, plan)
    result.seconds = time.monotonic() - start


def _run_plan(worker: Worker, result: Result, plan: Sequence[tuple[Command, float]]) -> None:
    result.status = "survived"
    for command, timeout in plan:
        outcome = worker.run(command.args, timeout)
        if outcome.timed_out:
            result.status, result.by = "timeout", command.name
            return
        if not outcome.passed:
            result.status, result.by, result.detail = "killed", command.name, outcome.detail
            return


# --- guided runs -------------------------------------------------------------------------------

COVERAGE_ENV = "NOORM_MUTATION_COVERAGE"
INCLUDE_ENV = "NOORM_MUTATION_INCLUDE"
_SUMMARY = ("-q", "-rfE")
"""Guided runs read the failing tests from pytest's short summary."""


@dataclass(slots=True)
class CoverageMap:
    """Which tests of each command run which line of each mutated module."""

    lines: dict[str, dict[str, dict[int, frozenset[str]]]]
    """command -> module (``adapters/...py``) -> line -> node ids."""
    durations: dict[str, dict[str, float]]
    """command -> node id -> seconds, in the order the tests ran."""
    imported: dict[str, set[int]]
    """module -> the lines run outside any test (at import): every test may see them."""

    def save(self, path: Path, revision: str) -> None:
        data = {
            "revision": revision,
            "lines": {
                c: {m: {str(n): sorted(t) for n, t in ls.items()} for m, ls in mods.items()}
                for c, mods in self.lines.items()
            },
            "durations": self.durations,
            "imported": {m: sorted(ls) for m, ls in self.imported.items()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, revision: str, commands: Sequence[str]) -> CoverageMap | None:
        """The map saved at ``path`` if it is of ``revision`` and has ``commands``."""
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("revision") != revision or not set(commands) <= set(data["lines"]):
            return None
        lines = {
            c: {m: {int(n): frozenset(t) for n, t in ls.items()} for m, ls in mods.items()}
            for c, mods in data["lines"].items()
        }
        imported = {m: set(ls) for m, ls in data["imported"].items()}
        return cls(lines, data["durations"], imported)

    def tests(self, command: str, path: str, lines: Sequence[int]) -> list[str]:
        by_line = self.lines.get(command, {}).get(path, {})
        chosen: set[str] = set()
        for line in lines:
            chosen |= by_line.get(line, frozenset())
        order = self.durations.get(command, {})
        position = {nodeid: i for i, nodeid in enumerate(order)}
        return sorted(chosen, key=lambda t: (position.get(t, len(position)), t))

    def seconds(self, command: str, tests: Sequence[str]) -> float:
        durations = self.durations.get(command, {})
        return sum(durations.get(t, 0.0) for t in tests)


def _guided_args(command: Command, targets: Sequence[str]) -> tuple[str, ...]:
    return ("pytest", *PYTEST_OPTIONS, *_SUMMARY, *command.pytest_args, *targets)


def map_tests(worker: Worker, commands: Sequence[Command]) -> CoverageMap:
    """Run each command once under coverage, one context per test (unmutated copy)."""
    from coverage import CoverageData

    package = worker.root / "noorm"
    test_map = CoverageMap({}, {}, {})
    for command in commands:
        data = worker.root.parent / f"coverage-{command.name.replace(' ', '-')}"
        env = {COVERAGE_ENV: str(data), INCLUDE_ENV: str(package / "adapters" / "*")}
        args = _guided_args(command, command.paths)
        outcome = worker.run(("pytest", "-p", "tests.mutation.cover", *args[1:]), 3600, env)
        if not outcome.passed:
            raise SystemExit(f"coverage run of {command.name} failed: {outcome.detail}")
        covered = CoverageData(basename=str(data))
        covered.read()
        by_module: dict[str, dict[int, frozenset[str]]] = {}
        for name in covered.measured_files():
            path = Path(name)
            if path.is_relative_to(package):
                contexts = covered.contexts_by_lineno(name)
                module = path.relative_to(package).as_posix()
                by_module[module] = {
                    line: frozenset(c for c in found if c) for line, found in contexts.items()
                }
                test_map.imported.setdefault(module, set()).update(
                    line for line, found in contexts.items() if "" in found
                )
        test_map.lines[command.name] = by_module
        durations = Path(str(data) + ".durations.json").read_text(encoding="utf-8")
        test_map.durations[command.name] = json.loads(durations)
        _log(
            f"test map: {command.name}: {len(test_map.durations[command.name])} tests, "
            f"{outcome.seconds:.1f}s under coverage"
        )
    return test_map


class Verified:
    """Whether a test passes on its own on the unmutated code (asked once per test)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    def passes_alone(self, worker: Worker, command: Command, nodeid: str, timeout: float) -> bool:
        with self._lock:
            known = self._known.get((command.name, nodeid))
        if known is None:
            known = worker.run(_guided_args(command, [nodeid]), timeout, {}).passed
            with self._lock:
                self._known[(command.name, nodeid)] = known
        return known


def run_guided(
    worker: Worker,
    result: Result,
    plan: Sequence[tuple[Command, float]],
    test_map: CoverageMap,
    timeout_factor: float,
    verified: Verified,
    confirm: bool = False,
) -> None:
    """Run the tests that execute the mutant's lines.

    The whole plan runs after the guided tests when the lines also run outside any
    test (at import, or in the suite's session set-up, whose effect every test may
    see), when the guide picked a test that fails alone, and (``confirm``) for every
    survivor. Without ``confirm`` a survivor is a candidate: nothing the guided run
    left out executes its lines, so only a test-order effect could kill it.
    """
    start = time.monotonic()
    m = result.mutant
    guide = []
    for command, _ in plan:
        tests = test_map.tests(command.name, m.path, result.lines)
        if tests:
            limit = timeout_factor * test_map.seconds(command.name, tests) + 2 * TIMEOUT_SLACK
            guide.append((command, tests, limit))
    guide.sort(key=lambda g: g[2])
    result.tests = sum(len(tests) for _, tests, _ in guide)
    killer: tuple[Command, str, float] | None = None
    imported = bool(test_map.imported.get(m.path, set()).intersection(result.lines))
    if not guide and not imported and not confirm:
        result.status, result.detail = "survived", "no test runs these lines"
    with worker.mutated(m):
        if guide:
            result.status = "survived"
            result.detail = f"guided: {result.tests} tests"
        for command, tests, limit in guide:
            outcome = worker.run(_guided_args(command, tests), limit, {})
            if outcome.timed_out:
                result.status, result.by = "timeout", f"{command.name} ({len(tests)} tests)"
                break
            if outcome.returncode in (4, 5):  # a node id not found, or nothing ran
                _log(f"guided run of {m.location} found no tests: {outcome.detail}")
                result.status = "pending"
                break
            if not outcome.passed:
                result.status, result.detail = "killed", outcome.detail
                result.by = f"{command.name} ({len(tests)} tests)"
                failing = _failing_test(outcome.failing, tests)
                if failing is not None:
                    killer = (command, failing, limit)
                break
    if killer is not None and not verified.passes_alone(worker, *killer):
        _log(f"{killer[1]} fails alone on the unmutated code: {m.location} runs unguided")
        result.status = "pending"
    if result.status == "pending" or (result.status == "survived" and (confirm or imported)):
        with worker.mutated(m):
            _run_plan(worker, result, plan)
            if result.status == "survived":
                result.detail = "the whole plan"
    result.seconds = time.monotonic() - start


def _failing_test(summary: str | None, tests: Sequence[str]) -> str | None:
    """The node id at the start of a short-summary line (None: not one of ``tests``)."""
    if summary is None:
        return None
    found = [t for t in tests if summary == t or summary.startswith(t + " ")]
    return max(found, key=len) if found else None


def mutant_lines(source: str, mutant: Mutant) -> tuple[int, ...]:
    """The source lines the mutant's edits touch."""
    data = source.encode()
    lines: set[int] = {mutant.line}
    for edit in mutant.edits:
        first = data.count(b"\n", 0, edit.start) + 1
        last = data.count(b"\n", 0, max(edit.start, edit.end - 1)) + 1
        lines.update(range(first, last + 1))
    return tuple(sorted(lines))


# --- selection -------------------------------------------------------------------------------


def load_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, dict[str, Any]]:
    """The equivalent list: key -> entry (``location``, ``mutation``, ``reason``)."""
    if not path.exists():
        return {}
    with path.open("rb") as f:
        data = tomllib.load(f)
    entries: list[dict[str, Any]] = data.get("equivalent", [])
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not entry.get("reason"):
            raise SystemExit(f"{path}: entry {entry.get('key')} has no reason")
        out[str(entry["key"])] = entry
    return out


def sample(results: list[Result], size: int, seed: int) -> list[Result]:
    """A stratified sample: each area gets its share (largest remainder), at least one."""
    by_area: dict[str, list[Result]] = {}
    for r in results:
        by_area.setdefault(r.area, []).append(r)
    total = len(results)
    if size >= total:
        return results
    quota = {a: max(1, size * len(rs) // total) for a, rs in by_area.items()}
    remainders = sorted(by_area, key=lambda a: -((size * len(by_area[a])) % total))
    for area in remainders:
        if sum(quota.values()) >= size:
            break
        quota[area] += 1
    chosen: list[Result] = []
    for area, rs in by_area.items():
        rng = random.Random(f"{seed}:{area}")
        chosen += rng.sample(rs, min(quota[area], len(rs)))
    order = {id(r): i for i, r in enumerate(results)}
    return sorted(chosen, key=lambda r: order[id(r)])


def _matches(mutant: Mutant, selectors: Sequence[str]) -> bool:
    location = mutant.location
    return any(
        s in (mutant.key, location) or location.startswith(s + ":") or mutant.path == s
        for s in selectors
    )


def _ident(m: Mutant) -> tuple[str, str, str]:
    return (m.location, m.operator, m.description)


def _where(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """The :func:`_ident` of a mutant of a JSON report."""
    operator = str(entry["operator"])
    return (str(entry["location"]), operator, str(entry["mutation"]))


def _normal_module(path: str) -> str:
    path = path.strip("/")
    return path.removeprefix("noorm/")


# --- reporting ------------------------------------------------------------------------------


def _rate(stats: Stats) -> str:
    rate = stats.rate
    return "-" if rate is None else f"{100 * rate:.1f}%"


def summary_table(results: Sequence[Result]) -> str:
    rows: list[tuple[str, Stats]] = []
    by_file: dict[str, Stats] = {}
    by_area: dict[str, Stats] = {}
    total = Stats()
    for r in results:
        by_file.setdefault(r.mutant.path, Stats()).add(r.status)
        by_area.setdefault(r.area, Stats()).add(r.status)
        total.add(r.status)
    for area in AREAS:
        if area not in by_area:
            continue
        for path in sorted(by_file):
            if path.startswith(AREAS[area].folder + "/"):
                rows.append((f"  {path}", by_file[path]))
        rows.append((f"{area} (all)", by_area[area]))
    rows.append(("TOTAL", total))
    width = max(len(name) for name, _ in rows)
    head = f"{'module':<{width}}  total  killed  timeout  survived  equivalent  kill rate"
    lines = [head, "-" * len(head)]
    for name, s in rows:
        lines.append(
            f"{name:<{width}}  {s.total:>5}  {s.killed:>6}  {s.timeout:>7}  {s.survived:>8}  "
            f"{s.equivalent:>10}  {_rate(s):>9}"
        )
    return "\n".join(lines)


def _mutant_json(r: Result) -> dict[str, Any]:
    m = r.mutant
    out: dict[str, Any] = {
        "key": m.key,
        "location": m.location,
        "area": r.area,
        "scope": m.scope,
        "operator": m.operator,
        "mutation": m.description,
        "line": m.line_text,
        "mutated_line": m.mutated_text,
        "status": r.status,
        "seconds": round(r.seconds, 2),
    }
    if r.by:
        out["killed_by"] = r.by
    if r.detail:
        out["detail"] = r.detail
    if r.reason:
        out["reason"] = r.reason
    if r.tests:
        out["guided_tests"] = r.tests
    return out


def write_report(
    path: Path,
    results: Sequence[Result],
    meta: Mapping[str, Any],
    stale: Sequence[str],
) -> None:
    by_area: dict[str, Stats] = {}
    total = Stats()
    for r in results:
        by_area.setdefault(r.area, Stats()).add(r.status)
        total.add(r.status)
    report = {
        **meta,
        "areas": {a: s.as_dict() for a, s in by_area.items()},
        "total": total.as_dict(),
        "survivors": [_mutant_json(r) for r in results if r.status == "survived"],
        "stale_equivalent_keys": list(stale),
        "mutants": [_mutant_json(r) for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def equivalent_stub(r: Result) -> str:
    """A TOML entry to paste into the equivalent list (reason to be written)."""
    m = r.mutant
    return (
        f'[[equivalent]]\nkey = "{m.key}"\nlocation = "{m.path}:{m.line}"\n'
        f"mutation = {json.dumps(m.operator + ': ' + m.description, ensure_ascii=False)}\n"
        f"line = {json.dumps(m.line_text, ensure_ascii=False)}\n"
        f'reason = ""\n'
    )


# --- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ci/mutation",
        description="Mutation testing of the memory, SQL, SQLite and PostgreSQL adapters "
        "(see docs/mutation.md).",
    )
    parser.add_argument("--sample", type=int, metavar="N", help="run a stratified sample of N")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="PATH",
        help="only mutate files under PATH, e.g. adapters/memory or "
        "adapters/sql/compiler.py (repeatable)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="only these mutants: a key, or a location prefix FILE:LINE[:COL] (repeatable)",
    )
    parser.add_argument(
        "--operator", action="append", default=[], help="only mutants of this operator"
    )
    parser.add_argument(
        "--rev", help="mutate the committed revision REV (git archive) instead of the work tree"
    )
    parser.add_argument(
        "--overlay",
        action="append",
        default=[],
        metavar="FILE",
        help="with --rev: copy this working-tree file (FILE=OTHER: the file OTHER) over "
        "the snapshot's FILE (repeatable)",
    )
    parser.add_argument("--workers", type=int, default=1, help="parallel workers (default 1)")
    parser.add_argument(
        "--timeout-factor",
        type=float,
        default=TIMEOUT_FACTOR,
        help=f"a command is a timeout after FACTOR x its baseline + {TIMEOUT_SLACK:g} s "
        f"(default {TIMEOUT_FACTOR:g}; raise it on a loaded machine, where a slow run "
        "would otherwise count as a kill)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=ROOT / "reports" / "mutation.json",
        help="the JSON report (default reports/mutation.json)",
    )
    parser.add_argument(
        "--check-equivalent",
        action="store_true",
        help="also run the mutants listed as equivalent (a killed one is a stale entry)",
    )
    parser.add_argument(
        "--same-as",
        type=Path,
        metavar="REPORT",
        help="select the mutants of an earlier report (by key, or by location and mutation)",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="REPORT",
        help="take the killed and timed-out mutants of an earlier report as they are "
        "(valid while the mutated code is unchanged: added tests only kill more)",
    )
    parser.add_argument("--list", action="store_true", help="list the selected mutants and exit")
    parser.add_argument(
        "--stubs",
        action="store_true",
        help="with --list: print entries for tests/mutation/equivalent.toml instead",
    )
    parser.add_argument(
        "--fail-under",
        type=float,
        metavar="PCT",
        help="exit 1 when the total kill rate is below PCT percent",
    )
    parser.add_argument(
        "--confirm",
        action="store_true",
        help="rerun every survivor of a guided run against its area's whole commands",
    )
    parser.add_argument(
        "--map",
        type=Path,
        metavar="PATH",
        help="keep the coverage map in PATH and reuse it while the revision is the same "
        "(with --rev)",
    )
    parser.add_argument(
        "--unguided",
        action="store_true",
        help="run every mutant against its area's whole commands (no coverage map)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.time()
    scratch = Path(tempfile.mkdtemp(prefix="noorm-mutation-"))
    try:
        return _main(args, scratch, started)
    finally:
        if args.keep:
            print(f"scratch directory kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _main(args: argparse.Namespace, scratch: Path, started: float) -> int:
    snapshot = scratch / "snapshot"
    if args.rev is not None:  # one commit for the snapshot, the map and the report
        args.rev = _git("rev-parse", "--verify", args.rev + "^{commit}") or args.rev
    build_snapshot(snapshot, args.rev, args.overlay)
    modules = [_normal_module(m) for m in args.module]
    files = module_files(snapshot, list(AREAS.values()))
    if modules:
        files = {p: a for p, a in files.items() if any(p.startswith(m) for m in modules)}
        if not files:
            _log(f"no mutated module matches {', '.join(modules)}")
            return 2
    results: list[Result] = []
    for path, area in files.items():
        source = (snapshot / "noorm" / path).read_text(encoding="utf-8")
        results += [
            Result(m, area.name, lines=mutant_lines(source, m)) for m in find_mutants(source, path)
        ]
    found = len(results)
    if args.only:
        results = [r for r in results if _matches(r.mutant, args.only)]
    if args.operator:
        results = [r for r in results if r.mutant.operator in args.operator]
    if args.same_as is not None:
        listed = json.loads(args.same_as.read_text(encoding="utf-8")).get("mutants", [])
        wanted = {m["key"] for m in listed} | {_where(m) for m in listed}
        results = [r for r in results if r.mutant.key in wanted or _ident(r.mutant) in wanted]
    if args.sample is not None:
        results = sample(results, args.sample, args.seed)
    equivalent = load_equivalent()
    # Only a whole run can tell that an entry of the list matches no mutant any more.
    partial = bool(modules or args.only or args.operator or args.sample is not None or args.same_as)
    keys = {r.mutant.key for r in results}
    stale = [] if partial else sorted(k for k in equivalent if k not in keys)
    for r in results:
        entry = equivalent.get(r.mutant.key)
        if entry is not None:
            r.reason = str(entry["reason"])
            if not args.check_equivalent:
                r.status = "equivalent"
    if args.resume is not None:
        earlier = json.loads(args.resume.read_text(encoding="utf-8"))
        done_before: dict[Any, dict[str, Any]] = {}
        for m in earlier.get("mutants", []):
            if m["status"] in ("killed", "timeout"):
                done_before[m["key"]] = done_before[_where(m)] = m
        for r in results:
            old = done_before.get(r.mutant.key) or done_before.get(_ident(r.mutant))
            if old is not None and r.status == "pending":
                r.status, r.by = str(old["status"]), old.get("killed_by")
                r.detail = f"from {args.resume}: {old.get('detail', '')}".strip()
                r.seconds = float(old.get("seconds", 0.0))
    if args.list and args.stubs:
        print("\n".join(equivalent_stub(r) for r in results))
        return 0
    if args.list:
        for r in results:
            m = r.mutant
            flag = " [equivalent]" if r.reason else ""
            print(f"{m.key}  {m.location}  {m.operator}: {m.description}{flag}")
            print(f"    {m.line_text}\n    {m.mutated_text}")
        _log(f"{len(results)} of {found} mutants")
        return 0

    needed = {c for r in results if r.status == "pending" for c in AREAS[r.area].commands}
    missing = {
        c
        for c in needed
        if COMMANDS[c].needs_env and not os.environ.get(str(COMMANDS[c].needs_env))
    }
    for r in results:
        if r.status == "pending" and set(AREAS[r.area].commands) & missing:
            r.status, r.detail = "skipped", f"no server: {', '.join(sorted(missing))}"
    needed -= missing
    if missing:
        _log(f"skipping mutants that need {', '.join(sorted(missing))} (variable not set)")

    workers = [Worker(snapshot, scratch / f"worker-{i}") for i in range(max(1, args.workers))]
    where = workers[0].imports_from_copy()
    if not where.startswith(str(workers[0].root) + os.sep):
        _log(f"noorm imports from {where}, not from the copy: refusing to run")
        return 2
    _log(f"snapshot: {args.rev or 'working tree'}; noorm imports from the copy ({where})")

    baseline: dict[str, float] = {}
    for name in sorted(needed):
        outcome = workers[0].run(COMMANDS[name].args, timeout=1800)
        if not outcome.passed:
            _log(f"baseline: {name} fails on the unmutated snapshot: {outcome.detail}")
            _log("fix the tree (or use --rev REV of a green commit) before mutation testing")
            return 2
        baseline[name] = outcome.seconds
        _log(f"baseline: {name} passed in {outcome.seconds:.1f}s")
    plans = {
        area.name: sorted(
            (
                (COMMANDS[c], args.timeout_factor * baseline[c] + TIMEOUT_SLACK)
                for c in area.commands
                if c in baseline
            ),
            key=lambda pair: pair[1],
        )
        for area in AREAS.values()
    }

    pending = [r for r in results if r.status == "pending"]
    coverage_map = None
    revision = _git("rev-parse", args.rev or "HEAD")
    if not args.unguided and pending:
        commands = sorted(needed)
        if args.map is not None and args.rev is not None:
            coverage_map = CoverageMap.load(args.map, revision, commands)
        if coverage_map is None:
            coverage_map = map_tests(workers[0], [COMMANDS[c] for c in commands])
            if args.map is not None and args.rev is not None:
                coverage_map.save(args.map, revision)
        else:
            _log(f"test map: {args.map} (revision {revision[:12]})")
    verified = Verified()

    def meta() -> dict[str, Any]:
        return {
            "command": "ci/mutation " + " ".join(sys.argv[1:]),
            "snapshot": args.rev or "working tree",
            "overlay": args.overlay,
            "resumed_from": None if args.resume is None else str(args.resume),
            "revision": revision,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "wall_seconds": round(time.time() - started, 1),
            "workers": len(workers),
            "mutants_found": found,
            "baseline_seconds": {k: round(v, 2) for k, v in baseline.items()},
            "timeout_factor": args.timeout_factor,
            "guided": coverage_map is not None,
        }

    written = time.monotonic()
    _log(f"{len(pending)} mutants to run ({found} found), {len(workers)} worker(s)")
    idle: list[Worker] = list(workers)
    lock = threading.Lock()
    done = 0

    def job(r: Result) -> None:
        nonlocal done, written
        with lock:
            worker = idle.pop()
        try:
            if coverage_map is None:
                run_mutant(worker, r, plans[r.area])
            else:
                run_guided(
                    worker,
                    r,
                    plans[r.area],
                    coverage_map,
                    args.timeout_factor,
                    verified,
                    args.confirm,
                )
        finally:
            with lock:
                idle.append(worker)
                done += 1
                by = f" by {r.by}" if r.by else ""
                by += f" [guided: {r.tests} tests]" if r.tests else ""
                # An unfinished run keeps its results: --resume REPORT goes on from them.
                if time.monotonic() - written > 60:
                    write_report(args.report, results, meta(), stale)
                    written = time.monotonic()
                _log(
                    f"[{done}/{len(pending)}] {r.status.upper():8} {r.mutant.location} "
                    f"{r.mutant.operator}: {r.mutant.description}{by} ({r.seconds:.1f}s)"
                )

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(workers)) as pool:
        futures = [pool.submit(job, r) for r in pending]
        try:
            for future in concurrent.futures.as_completed(futures):
                future.result()
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            for worker in workers:
                worker.kill()
            raise

    wall = time.time() - started
    print(summary_table(results))
    total = Stats()
    for r in results:
        total.add(r.status)
    write_report(args.report, results, meta(), stale)
    survivors = [r for r in results if r.status == "survived"]
    if survivors:
        print(f"\n{len(survivors)} survivor(s):")
        for r in survivors:
            m = r.mutant
            print(f"  {m.key}  {m.location}  {m.operator}: {m.description}")
            print(f"      - {m.line_text}\n      + {m.mutated_text}")
    stale_killed = [r for r in results if r.reason and r.status in ("killed", "timeout")]
    for r in stale_killed:
        print(f"listed as equivalent but killed: {r.mutant.key} {r.mutant.location}")
    for key in stale:
        print(f"equivalent entry matches no mutant (stale): {key}")
    print(f"\nreport: {args.report}; wall time {wall:.0f}s")
    rate = total.rate
    if args.fail_under is not None and rate is not None and 100 * rate < args.fail_under:
        print(f"kill rate {100 * rate:.1f}% is below {args.fail_under}%")
        return 1
    return 0


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()
