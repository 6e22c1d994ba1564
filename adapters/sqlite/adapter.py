"""The SQLite adapter: one connection, one lock, explicit transactions.

Pass a path (``":memory:"`` works) and the adapter opens and owns the connection, in
autocommit mode (``isolation_level=None``) usable from any thread. Or pass an open
``sqlite3.Connection`` you own; it must then

- be in autocommit mode (``isolation_level=None``) and not inside a transaction: the
  adapter issues ``BEGIN IMMEDIATE`` / ``SAVEPOINT`` / ``COMMIT`` itself;
- return ``str`` for TEXT (the default ``text_factory``) and use no ``detect_types``
  converters for INTEGER, REAL or TEXT columns;
- be opened with ``check_same_thread=False`` if the adapter is used from several threads.

The adapter turns off SQLite's double-quoted string literals on it where Python can
(3.12+), so an unknown column name is an error rather than a string.
Its ``row_factory`` does not matter (the adapter's cursors use plain tuples), and
:meth:`SQLiteAdapter.close` leaves it open. Anything else you run on that connection
while the adapter is using it is your concern: the adapter's lock covers only its own
calls.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from noorm.spec.adapter import Capability
from noorm.spec.errors import BackendError, UnsupportedError
from noorm.spec.operations import Find, Operation, Upsert, UpsertResult
from noorm.spec.schema import Model, Schema

from ..sql.adapter import Session, SQLAdapter
from ..sql.compiler import DDL, Compiled
from ..sql.core import as_program, joining, locking_outside
from ..sql.introspect import Catalog
from ..sql.program import Command, Plan, Program, Query
from .catalog import read_catalog
from .dialect import SQLiteDialect, json_paths_work

__all__ = ["SQLiteAdapter"]

T = TypeVar("T")

_MIN_VERSION = (3, 24, 0)  # INSERT ... ON CONFLICT DO NOTHING
_RETURNING = (3, 35, 0)  # UPDATE ... RETURNING
_UPSERT_ATTEMPTS = 3
_COLUMN_NAMES = "SELECT name FROM pragma_table_info(?, 'main')"
_EXISTING = "SELECT type, name FROM main.sqlite_master WHERE type IN ('table', 'index')"


class SQLiteAdapter(SQLAdapter[sqlite3.Connection]):
    """A no-orm adapter on the standard-library ``sqlite3`` module."""

    name = "sqlite"
    dialect: SQLiteDialect
    capabilities = SQLAdapter.capabilities | {
        Capability.CONCURRENT_BOOTSTRAP,  # bootstrap under a lock
        Capability.SCHEMA_INTROSPECTION,  # catalog(): columns, types, keys compared
    }
    reuse_cursor = True
    driver_errors = (sqlite3.Error, UnicodeEncodeError)

    def __init__(
        self,
        target: str | os.PathLike[str] | sqlite3.Connection,
        *,
        timeout: float = 5.0,
        cache_size: int = 512,
    ) -> None:
        """``timeout``: seconds a statement waits for another connection's lock (owned only)."""
        if sqlite3.sqlite_version_info < _MIN_VERSION:
            raise UnsupportedError(
                f"SQLite {sqlite3.sqlite_version} is too old; no-orm needs "
                + ".".join(map(str, _MIN_VERSION))
            )
        if isinstance(target, sqlite3.Connection):
            _check_borrowed(target)
            conn, self._owned = target, False
        else:
            conn = sqlite3.connect(
                target,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=cache_size,
            )
            self._owned = True
        try:
            literals_off = _no_string_identifiers(conn)
            paths = json_paths_work(conn)
            dialect = SQLiteDialect(
                strict=sqlite3.sqlite_version_info >= (3, 37, 0),
                nulls_clause=sqlite3.sqlite_version_info >= (3, 30, 0),
                max_params=_max_params(conn),
                json_path_strings=paths,
                json_path_quotes=paths and json_paths_work(conn, quotes=True),
                schema="main",
            )
        except BaseException:
            if self._owned:
                conn.close()
            raise
        super().__init__(dialect, cache_size=cache_size)
        self._conn = conn
        self._shared = Session(conn)
        self._closed = False
        self._returning = sqlite3.sqlite_version_info >= _RETURNING
        """Upserts update first with ``UPDATE ... RETURNING`` (see :meth:`run_upsert`)."""
        self._checked: dict[int, Model[Any]] | None = None if literals_off else {}
        """Models whose columns all exist (by id), where SQLite may read a missing
        column's name as a string; None where it cannot."""

    def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def close(self) -> None:
        """Close the connection if the adapter opened it; later calls raise BackendError."""
        with self._shared.lock:
            if not self._closed:
                self._closed = True
                if self._shared.cursor is not None:
                    self._shared.cursor.close()
                if self._owned:
                    self._conn.close()

    def statement(self, op: Operation[Any]) -> str | None:
        if isinstance(op, Upsert) and self._returning:  # the first of its statements
            if not op.update:
                return self.compiler.select_key(op.model, op.row, op.where).sql
            upsert = self.compiler.upsert_update(op)
            return self.compiler.returning(upsert, self.compiler.table(op.model)).sql
        return super().statement(op)

    def execute(self, op: Operation[T]) -> T:
        """:meth:`SQLAdapter.execute` with the one session's lock taken directly."""
        if type(op) is Find and op.for_update:
            raise locking_outside(op)
        session = self._shared
        with session.lock:
            if self._closed:
                raise BackendError("the adapter is closed")
            if session.depth:  # this thread's own open transaction
                raise joining(op.model.name)
            result: T = self.drive(session, self.run(session, op))
            return result

    @contextmanager
    def session(self) -> Iterator[Session[sqlite3.Connection]]:
        with self._shared.lock:
            if self._closed:
                raise BackendError("the adapter is closed")
            yield self._shared

    def run_upsert(self, session: Session[sqlite3.Connection], op: Upsert) -> Plan:
        """Update first, in one ``UPDATE ... RETURNING`` (SQLite 3.35+), insert otherwise.

        An existing row in the scope is updated and read back by one statement, with no
        transaction around it (without update fields, one scoped SELECT reads it); a new
        row takes a second statement, the insert-or-skip. Each statement is atomic and
        SQLite runs one writer at a time, so when the insert finds the row after all,
        another connection inserted it in between: the scoped statement runs again, and
        only if it still misses a row that exists is the row outside the scope. Older
        SQLite takes the generic protocol, in a transaction.
        """
        if not self._returning:
            return super().run_upsert(session, op)
        return self._upsert_returning(op)

    def _upsert_returning(self, op: Upsert) -> Program[UpsertResult[dict[str, Any]] | None]:
        model = op.model.name
        compiler = self.compiler
        table = compiler.table(op.model)
        if op.update:
            scoped = compiler.returning(compiler.upsert_update(op), table)
        else:
            scoped = compiler.select_key(op.model, op.row, op.where)
        for _ in range(_UPSERT_ATTEMPTS):
            rows = yield Query(scoped, model)
            if rows:
                return UpsertResult(table.decode(rows)[0], inserted=False)
            insert = compiler.upsert_insert(op)
            if (yield Command(insert, model)):
                return UpsertResult(table.written(insert.params), inserted=True)
            rows = yield Query(scoped, model)  # the key exists: in the scope?
            if rows:
                return UpsertResult(table.decode(rows)[0], inserted=False)
            if op.where is not None:
                anywhere = compiler.select_key(op.model, op.row, None)
                if (yield Query(anywhere, model)):
                    return None  # the existing row is outside the scope: left alone
            # The row went away again in between: start over.
        raise BackendError("the row kept changing while it was upserted", model=model)

    def missing(self, session: Session[sqlite3.Connection], ddl: list[DDL]) -> Program[list[DDL]]:
        existing = {(kind, name) for kind, name in (yield Query(Compiled(_EXISTING, []), None))}
        return [statement for statement in ddl if _creates(statement) not in existing]

    def run(self, session: Session[sqlite3.Connection], op: Operation[Any]) -> Plan:
        checked = self._checked
        plan = super().run(session, op)
        if checked is not None and checked.get(id(op.model)) is not op.model:
            return self._checking(op.model, checked, plan)
        return plan

    def _checking(
        self, model: Model[Any], checked: dict[int, Model[Any]], plan: Plan
    ) -> Program[Any]:
        yield from self._check_columns(model, checked)
        return (yield from as_program(plan))

    def _check_columns(self, model: Model[Any], checked: dict[int, Model[Any]]) -> Program[None]:
        """Refuse a model naming a column its table lacks, once per Model object: this
        SQLite would read ``"note"`` as the string 'note' (no setconfig before Python
        3.12). A missing table is left to the statement itself (BOOT-4)."""
        rows = yield Query(Compiled(_COLUMN_NAMES, [model.name]), model.name)
        if not rows:
            return
        found = {str(row[0]) for row in rows}
        for field in model.fields:
            if field.name not in found:
                raise BackendError(
                    "the table has no such column: run bootstrap() with this model",
                    model=model.name,
                    field=field.name,
                )
        if len(checked) > 1024:
            checked.clear()
        checked[id(model)] = model

    def catalog(
        self, session: Session[sqlite3.Connection], schema: Schema, tables: list[str]
    ) -> Program[Catalog]:
        index_names = [index.name for model in schema.models for index in model.indexes]
        return read_catalog(self.dialect, tables, index_names)

    def cursor(self, conn: sqlite3.Connection) -> sqlite3.Cursor:
        cursor = conn.cursor()
        cursor.row_factory = None
        return cursor

    def in_transaction(self, conn: sqlite3.Connection) -> bool:
        return conn.in_transaction


def _no_string_identifiers(conn: sqlite3.Connection) -> bool:
    """Turn off SQLite's misfeature of reading an unknown double-quoted identifier as a
    string literal (``"note"`` becoming the text 'note'), where Python can (3.12+:
    ``setconfig``); whether it did. Elsewhere every model's columns are checked on its
    first use, and bootstrap() compares every table with its model (BOOT-7)."""
    setconfig = getattr(conn, "setconfig", None)
    codes = [getattr(sqlite3, f"SQLITE_DBCONFIG_DQS_{kind}", None) for kind in ("DML", "DDL")]
    if setconfig is None or None in codes:
        return False
    for code in codes:
        setconfig(code, False)
    return True


def _max_params(conn: sqlite3.Connection) -> int:
    """Bound parameters per statement (SQLITE_LIMIT_VARIABLE_NUMBER)."""
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+; absent from pysqlite3
    limit = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", None)
    if getlimit is not None and limit is not None:
        return int(getlimit(limit))
    return 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def _creates(statement: DDL) -> tuple[str, str]:
    """What ``statement`` creates, as (type, name) in ``sqlite_master``."""
    if statement.index_name is not None:
        return ("index", statement.index_name)
    return ("table", statement.model)


def _check_borrowed(conn: sqlite3.Connection) -> None:
    if conn.isolation_level is not None or getattr(conn, "autocommit", -1) is False:
        raise ValueError(
            "pass a connection in autocommit mode (sqlite3.connect(..., isolation_level=None)): "
            "the adapter begins and commits transactions itself"
        )
    if conn.in_transaction:
        raise ValueError("the connection is inside a transaction; commit or roll it back first")
    if conn.text_factory is not str:
        raise ValueError("the connection's text_factory must be str")
