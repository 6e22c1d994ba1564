"""The ``noorm`` command line (standard library only; pytest is imported on demand).

    noorm certify memory|sqlite [--report PATH] [-k EXPR] [-q]
    noorm certify --factory mypkg.module:factory [--report PATH]
    noorm certify postgres --url postgresql://...
    noorm ddl examples/hebo_gateway/models.py:SCHEMA --dialect postgres
    noorm --version

``certify`` runs the conformance suite (``noorm.conformance``) against a built-in
adapter on a temporary database, or against any factory, prints one line per spec
clause and a verdict, and exits 0 only when the adapter is certified. Subcommands are
small functions registered in :func:`build_parser`, so adding one is one more
``add_*`` function.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``noorm`` console script and of ``python -m noorm``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.command
    try:
        return command(args)
    except CliError as exc:
        parser.exit(2, f"noorm: error: {exc}\n")


def build_parser() -> argparse.ArgumentParser:
    import noorm
    from noorm.spec import SPEC_VERSION

    parser = argparse.ArgumentParser(
        prog="noorm", description="no-orm: a database-independent persistence core."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"no-orm {noorm.__version__} (spec {SPEC_VERSION}, Python {sys.version.split()[0]})",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_certify(commands)
    _add_ddl(commands)
    return parser


class CliError(Exception):
    """A usage problem reported as ``noorm: error: ...`` with exit status 2."""


# --- certify ------------------------------------------------------------------------------


def _add_certify(commands: Any) -> None:
    from noorm.conformance.targets import TARGETS

    names = ", ".join(sorted(TARGETS))
    parser = commands.add_parser(
        "certify",
        help="run the conformance suite against an adapter",
        description="Run the conformance suite against a built-in adapter (on a temporary "
        "database) or against any adapter factory, print the outcome per spec clause and "
        "exit 0 only when the adapter is certified.",
    )
    parser.add_argument("target", nargs="?", metavar="TARGET", help=f"a built-in adapter: {names}")
    parser.add_argument(
        "--factory",
        metavar="MODULE:ATTR",
        help="certify the adapter this factory returns (a fresh, empty database per call)",
    )
    parser.add_argument("--url", help="the server URL, for targets that need one")
    parser.add_argument("--report", metavar="PATH", help="also write the JSON report to PATH")
    parser.add_argument(
        "--async",
        dest="async_door",
        action="store_true",
        help="certify the async door (AsyncAdapter): of the TARGET, or the async adapters "
        "--factory returns",
    )
    parser.add_argument(
        "-k",
        metavar="EXPR",
        dest="keyword",
        help="only run matching tests (a narrowed run is never certified)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only failing clause groups"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every clause, passed ones too"
    )
    parser.set_defaults(command=certify)


def _factory(args: argparse.Namespace) -> str:
    """The ``module:attr`` to certify; sets the target's URL variable from ``--url``."""
    from noorm.conformance.targets import TARGETS

    if args.factory and args.target:
        raise CliError("give either a TARGET or --factory, not both")
    if args.factory:
        if args.url:
            raise CliError("--url is for built-in targets; a --factory gets its own settings")
        return str(args.factory)
    if not args.target:
        raise CliError(f"name a TARGET ({', '.join(sorted(TARGETS))}) or pass --factory")
    target = TARGETS.get(args.target)
    if target is None:
        raise CliError(
            f"unknown target {args.target!r}; choose one of {', '.join(sorted(TARGETS))}"
        )
    if target.url_env is None:
        if args.url:
            raise CliError(f"{target.name} takes no --url")
    elif args.url:
        os.environ[target.url_env] = args.url
    elif not os.environ.get(target.url_env):
        from noorm.adapters.servers import docker_engine

        if not docker_engine():  # with one, the factory starts a throwaway container
            raise CliError(
                f"{target.name} needs --url or the {target.url_env} environment variable "
                "(or a Docker engine, to certify on a throwaway container)"
            )
    return target.async_factory if args.async_door else target.factory


def certify(args: argparse.Namespace) -> int:
    factory = _factory(args)
    try:
        import pytest

        from noorm.conformance.progress import ClauseProgress
    except ImportError:
        raise CliError("certify needs pytest: pip install 'no-orm[conformance]'") from None
    with tempfile.TemporaryDirectory(prefix="noorm-certify-") as scratch:
        report = Path(args.report).resolve() if args.report else Path(scratch) / "report.json"
        options = [
            "--pyargs",
            "noorm.conformance",
            f"--noorm-adapter={factory}",
            f"--noorm-report={report}",
            "-p",
            "no:cacheprovider",
            # An empty config: the project's own pytest settings must not change the suite.
            "-c",
            str(_empty_config(Path(scratch))),
            f"--rootdir={_package_root()}",
            # This process imported noorm before pytest started, so pytest cannot
            # rewrite asserts in the plugin module; the suite's test modules are fine.
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
        ]
        if args.async_door:
            options.append("--noorm-async")
        if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
            options += ["-p", "noorm.conformance.plugin"]
        if args.keyword:
            options += ["-k", args.keyword]
        # A factory module in the working directory stays importable.
        sys.path.insert(0, os.getcwd())
        progress = ClauseProgress(quiet=args.quiet)
        status = int(pytest.main(options, plugins=[progress]))
        if not report.exists():
            print(f"noorm: no report was written (pytest exit status {status})", file=sys.stderr)
            return status or 1
        data = json.loads(report.read_text(encoding="utf-8"))
    print_clauses(data, every=args.verbose)
    print(verdict(data))
    if args.report:
        print(f"report: {report}")
    return 0 if data.get("certified") else (status or 1)


def _package_root() -> Path:
    """The directory holding the ``noorm`` package: test ids then read noorm/conformance/...

    Not resolved: in a (strict) editable install the package is a tree of links to the
    top-level spec/, kit/, ... folders, and the ids follow the package, not its sources.
    """
    import noorm

    return Path(noorm.__file__).absolute().parent.parent


def _empty_config(directory: Path) -> Path:
    path = directory / "pytest.ini"
    path.write_text("[pytest]\n", encoding="utf-8")
    return path


_WHY_SHOWN = 20
"""At most this many reasons are printed under the clause table (the report has them all)."""


def print_clauses(report: dict[str, Any], *, every: bool = True) -> None:
    """One line per spec clause: id, outcome, title (and the reason when not passed);
    without ``every``, only the clauses that did not pass."""
    clauses: dict[str, dict[str, Any]] = report.get("clauses", {})
    if not every:
        clauses = {c: v for c, v in clauses.items() if v["outcome"] != "passed"}
    width = max((len(c) for c in clauses), default=8)
    if not clauses and not report.get("why_not_certified"):
        return
    print()
    print(f"{'clause':<{width}}  {'outcome':<10}  title")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 40}")
    for clause, entry in clauses.items():
        line = f"{clause:<{width}}  {entry['outcome']:<10}  {entry.get('title', '')}"
        if entry["outcome"] != "passed" and entry.get("reason"):
            line += f"  [{_shorten(str(entry['reason']), 90)}]"
        print(line)
    print()
    why: list[str] = report.get("why_not_certified", [])
    if why:
        print("why not certified:")
        for reason in why[:_WHY_SHOWN]:
            print(f"  - {_shorten(reason, 160)}")
        if len(why) > _WHY_SHOWN:
            print(f"  ... and {len(why) - _WHY_SHOWN} more (see the report)")
        print()


def verdict(report: dict[str, Any]) -> str:
    """The one-line verdict."""
    clauses: dict[str, dict[str, Any]] = report.get("clauses", {})
    count = {o: sum(c["outcome"] == o for c in clauses.values()) for o in ("passed", "skipped")}
    adapter = f"{report.get('adapter')} {report.get('adapter_version')}"
    if report.get("door") == "async":
        adapter += " (async door)"
    on = f"on {report.get('server_version')}"
    spec = f"no-orm spec {report.get('spec_version')}"
    if report.get("certified"):
        return (
            f"CERTIFIED: {adapter} {on} conforms to {spec} ({count['passed']} clauses "
            f"passed, {count['skipped']} skipped for missing capabilities)"
        )
    failed = [c for c, v in clauses.items() if v["outcome"] == "failed"]
    not_run = [c for c, v in clauses.items() if v["outcome"] == "not_run"]
    missing = report.get("summary", {}).get("not_run", 0)
    why = []
    if failed:
        why.append(f"failed: {', '.join(failed)}")
    if missing:
        why.append(f"{missing} test(s) of the suite not run")
    if not_run:
        why.append(f"not run: {len(not_run)} clause(s)")
    if not why:
        why.append(_shorten(next(iter(report.get("why_not_certified", [])), "see the report"), 120))
    return f"NOT CERTIFIED: {adapter} {on} against {spec} ({'; '.join(why)})"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- ddl ----------------------------------------------------------------------------------

DIALECTS = {
    "sqlite": "noorm.adapters.sqlite.dialect:SQLiteDialect",
    "postgres": "noorm.adapters.postgres.dialect:PostgresDialect",
    "mysql": "noorm.adapters.mysql.dialect:MySQLDialect",
    "mariadb": "noorm.adapters.mysql.dialect:MariaDBDialect",
}
"""SQL dialects ``noorm ddl`` can print for, without connecting to a server."""


def _add_ddl(commands: Any) -> None:
    parser = commands.add_parser(
        "ddl",
        help="print the bootstrap statements of a schema",
        description="Print the CREATE TABLE / CREATE INDEX statements that bootstrap() runs "
        "on an empty database, for a schema given as MODULE:ATTR (a module name or a .py "
        "path) or as a .json file in the schema's JSON form.",
    )
    parser.add_argument("schema", metavar="MODULE:ATTR|FILE.json")
    parser.add_argument("--dialect", required=True, choices=sorted(DIALECTS))
    parser.set_defaults(command=ddl)


def ddl(args: argparse.Namespace) -> int:
    from noorm.adapters.sql import Compiler

    schema = load_schema(args.schema)
    dialect_cls = _import(DIALECTS[args.dialect])
    # The SQLite adapter qualifies its tables with "main"; print what it runs. A server's
    # schema is only known on a connection, so those statements follow its search path.
    dialect = dialect_cls(schema="main") if args.dialect == "sqlite" else dialect_cls()
    for statement in Compiler(dialect).ddl(schema):
        print(f"{statement.sql};")
    return 0


def load_schema(spec: str) -> Any:
    """A Schema from ``module:attr`` / ``path.py:attr`` (a Schema, a Model or a list of
    models) or from a JSON file in the schema's JSON form."""
    from noorm.spec import Model, Schema, schema_from_json

    if spec.endswith(".json") and ":" not in spec:
        try:
            return schema_from_json(Path(spec).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(f"cannot read {spec}: {exc.strerror}") from None
    value = _import(spec)
    if isinstance(value, Schema):
        return value
    if isinstance(value, Model):
        return Schema([value])
    if isinstance(value, (list, tuple)) and all(isinstance(m, Model) for m in value):
        return Schema(value)
    raise CliError(f"{spec} is a {type(value).__name__}, not a Schema, Model or list of models")


def _import(spec: str) -> Any:
    import importlib
    import importlib.util

    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"expected MODULE:ATTR, got {spec!r}")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            if path.parent.joinpath("__init__.py").exists():  # a module inside a package
                sys.path.insert(0, str(path.parent.parent))
                module = importlib.import_module(f"{path.parent.name}.{path.stem}")
            else:
                sys.path.insert(0, str(path.parent))
                module = importlib.import_module(path.stem)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import {module_name}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise CliError(f"{module_name} has no attribute {attr!r}") from None
