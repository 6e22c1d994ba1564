"""The SQLite adapter: one connection, one lock, explicit transactions.

Pass a path (``":memory:"`` works) and the adapter opens and owns the connection, in
autocommit mode (``isolation_level=None``) usable from any thread. Or pass an open
``sqlite3.Connection`` you own; it must then

- be in autocommit mode (``isolation_level=None``) and not inside a transaction: the
  adapter issues ``BEGIN IMMEDIATE`` / ``SAVEPOINT`` / ``COMMIT`` itself;
- return ``str`` for TEXT (the default ``text_factory``) and use no ``detect_types``
  converters for INTEGER, REAL or TEXT columns;
- be opened with ``check_same_thread=False`` if the adapter is used from several threads.

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

from noorm.spec.adapter import Capability
from noorm.spec.errors import BackendError, UnsupportedError

from ..sql.adapter import Session, SQLAdapter
from ..sql.compiler import DDL, Compiled
from .dialect import SQLiteDialect, json_paths_work

__all__ = ["SQLiteAdapter"]

_MIN_VERSION = (3, 24, 0)  # INSERT ... ON CONFLICT DO NOTHING
_EXISTING = "SELECT type, name FROM main.sqlite_master WHERE type IN ('table', 'index')"


class SQLiteAdapter(SQLAdapter[sqlite3.Connection]):
    """A no-orm adapter on the standard-library ``sqlite3`` module."""

    name = "sqlite"
    dialect: SQLiteDialect
    capabilities = frozenset(
        {
            Capability.TRANSACTIONS,
            Capability.SAVEPOINTS,
            Capability.JSON_PATHS,
            Capability.CONCURRENT_BOOTSTRAP,
            Capability.LOCKING_READS,
            Capability.ATOMIC_UPDATES,
        }
    )

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

    def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def close(self) -> None:
        """Close the connection if the adapter opened it; later calls raise BackendError."""
        with self._shared.lock:
            if not self._closed:
                self._closed = True
                if self._owned:
                    self._conn.close()

    @contextmanager
    def _session(self) -> Iterator[Session[sqlite3.Connection]]:
        with self._shared.lock:
            if self._closed:
                raise BackendError("the adapter is closed")
            yield self._shared

    def _missing(self, session: Session[sqlite3.Connection], ddl: list[DDL]) -> list[DDL]:
        existing = {
            (kind, name) for kind, name in self._query(session, Compiled(_EXISTING, []), None)
        }
        return [statement for statement in ddl if _creates(statement) not in existing]

    def _cursor(self, conn: sqlite3.Connection) -> sqlite3.Cursor:
        cursor = conn.cursor()
        cursor.row_factory = None
        return cursor

    def _in_transaction(self, conn: sqlite3.Connection) -> bool:
        return conn.in_transaction


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
