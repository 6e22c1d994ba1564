"""The MySQL 8 / MariaDB adapter (PyMySQL): ``MySQLAdapter("mysql://user:pw@host/db")``.

``target`` is one of

- a URL: the adapter opens connections itself (up to ``max_connections``, one per
  thread that is using it at that moment) and closes them in :meth:`close`;
- a zero-argument connection factory: the same, with connections from the factory
  (the adapter closes the ones it got from it);
- one open ``pymysql.Connection`` you own: every thread shares it, one call or
  transaction at a time, and :meth:`close` leaves it open.

See :mod:`.connection` for what a connection you pass must look like, and
docs/backends/mysql.md for each way the servers differ from the spec and how it is
handled. What this module adds to :class:`~.core.MySQLCore` (the programs, shared with the
async door :mod:`.async_adapter`): a small connection pool with thread affinity (a
thread's transaction owns its connection) and PyMySQL cursors that turn MariaDB's JSON
warnings into errors.
"""

from __future__ import annotations

import importlib.metadata
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeAlias, TypeVar, cast

import pymysql

from noorm.spec.errors import BackendError
from noorm.spec.operations import Find, Operation

from ..sql.adapter import Session, SQLAdapter
from ..sql.health import needs_ping
from .connection import (
    Connection,
    ConnectionFactory,
    ConnectParams,
    check_connection,
    connect,
    parse_url,
)
from .core import (
    MIN_VERSIONS,
    SHOW_WARNINGS,
    MySQLCore,
    PooledSession,
    json_warning,
    server_flavour,
)
from .dialect import one_line

__all__ = ["MIN_VERSIONS", "MySQLAdapter", "server_flavour"]

T = TypeVar("T")

_Session: TypeAlias = PooledSession[Connection]


def _driver_version() -> str:
    try:
        return f"PyMySQL {importlib.metadata.version('PyMySQL')}"
    except importlib.metadata.PackageNotFoundError:  # a copy without its metadata
        return "PyMySQL " + ".".join(str(n) for n in pymysql.VERSION[:3])


class _Cursor:
    """A PyMySQL cursor for the shared layer.

    It passes ``None`` for an empty parameter list (so a ``%`` in parameterless SQL
    is never read as a marker) and, where the server degrades unreadable JSON to NULL
    with a warning (MariaDB), raises :class:`~.dialect.JsonUnreadable` instead.
    """

    __slots__ = ("_check_json", "_cursor")

    def __init__(self, cursor: pymysql.cursors.Cursor, check_json: bool) -> None:
        self._cursor = cursor
        self._check_json = check_json

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def warning_count(self) -> int:
        count: int = self._cursor.warning_count
        return count

    def execute(self, sql: str, params: Sequence[Any], /) -> None:
        self._cursor.execute(sql, params or None)
        if self._check_json and self._cursor.warning_count:
            with self._cursor.connection.cursor() as cursor:
                cursor.execute(SHOW_WARNINGS)
                error = json_warning(cursor.fetchall())
            if error is not None:
                raise error

    def fetchall(self) -> Sequence[Sequence[Any]]:
        return self._cursor.fetchall()

    def close(self) -> None:
        self._cursor.close()


class MySQLAdapter(MySQLCore[Connection], SQLAdapter[Connection]):
    """A no-orm adapter on MySQL 8.0.17+ or MariaDB 10.6+ through PyMySQL."""

    def __init__(
        self,
        target: str | Connection | ConnectionFactory,
        *,
        max_connections: int = 8,
        connect_timeout: float = 5.0,
        cache_size: int = 512,
    ) -> None:
        """``max_connections``: connections open at once (1 for a borrowed connection)."""
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._params: ConnectParams | None = None
        self._factory: ConnectionFactory | None = None
        self._borrowed: Connection | None = None
        if isinstance(target, str):
            self._params = parse_url(target, connect_timeout=connect_timeout)
        elif isinstance(target, pymysql.Connection):
            check_connection(target)
            self._borrowed = target
            max_connections = 1
        elif callable(target):
            self._factory = target
        else:
            raise TypeError(
                f"expected a URL, a pymysql.Connection or a connection factory, "
                f"got {type(target).__name__}"
            )
        super().__init__(cache_size=cache_size)
        first = _Session(self._borrowed or self._open())
        try:
            self.drive(first, self.inspect(first))
        except BaseException:
            self._discard(first.conn)
            raise
        self._max = max_connections
        self._idle: list[_Session] = [first]
        self._open_count = 1
        self._pool = threading.Condition()
        self._local = threading.local()
        self._closed = False

    # --- identity ---------------------------------------------------------------------------

    def server_version(self) -> str:
        """e.g. ``"MariaDB 10.11.19"`` or ``"MySQL 8.0.36"``."""
        return self._server_version

    def driver_version(self) -> str:
        """e.g. ``"PyMySQL 1.2.4"``: the installed release, not ``pymysql.__version__``
        (2.2.8 there, a MySQLdb-compatibility number)."""
        return _driver_version()

    # --- connections ------------------------------------------------------------------------

    def _open(self) -> Connection:
        if self._params is not None:
            return connect(self._params)
        if self._factory is not None:
            try:
                conn = self._factory()
            except pymysql.err.MySQLError as exc:
                raise BackendError(f"the connection factory failed: {one_line(exc)}") from exc
            if not isinstance(conn, pymysql.Connection):
                raise TypeError(f"the factory returned {type(conn).__name__}, not a connection")
            try:
                check_connection(conn)
            except ValueError:
                conn.close()
                raise
            return conn
        raise BackendError(
            "the borrowed connection was lost; pass a URL or a connection factory to let "
            "the adapter open new ones"
        )

    def _discard(self, conn: Connection) -> None:
        if conn is not self._borrowed:
            with suppress(Exception):
                conn.close()

    def execute(self, op: Operation[T]) -> T:
        """:meth:`SQLAdapter.execute` with a pooled session taken and given back directly:
        the usual call skips the context managers of :meth:`session`."""
        if getattr(self._local, "session", None) is not None or (
            type(op) is Find and op.for_update
        ):
            return super().execute(op)
        session = self._acquire()
        self._local.session = session
        try:
            with session.lock:
                return cast(T, self.drive(session, self.run(session, op)))
        finally:
            self._local.session = None
            self._release(session)

    @contextmanager
    def session(self) -> Iterator[Session[Connection]]:
        held: _Session | None = getattr(self._local, "session", None)
        if held is not None:  # this thread is already inside a call or a transaction
            with held.lock:
                yield held
            return
        session = self._acquire()
        self._local.session = session
        try:
            with session.lock:
                yield session
        finally:
            self._local.session = None
            self._release(session)

    def _acquire(self) -> _Session:
        with self._pool:
            while True:
                if self._closed:
                    raise BackendError("the adapter is closed")
                if self._idle:
                    session: _Session | None = self._idle.pop()
                    break
                if self._open_count < self._max:
                    self._open_count += 1
                    session = None
                    break
                self._pool.wait()
        if session is not None:
            sock = getattr(session.conn, "_sock", None)  # PyMySQL's socket; None once closed
            if not needs_ping(sock, session.idle_since):
                return session
            try:
                session.conn.ping()
                return session
            except pymysql.err.MySQLError:
                self._discard(session.conn)  # gone while idle: replace it
        try:
            return _Session(self._open())
        except BaseException:
            with self._pool:
                self._open_count -= 1
                self._pool.notify()
            raise

    def _release(self, session: _Session) -> None:
        with self._pool:
            if session.dead or self._closed:
                self._open_count -= 1
                self._discard(session.conn)
            else:
                session.idle_since = time.monotonic()
                self._idle.append(session)
            self._pool.notify()

    def close(self) -> None:
        """Close the connections the adapter opened; later calls raise BackendError.

        Connections in use by another thread are closed when that call ends.
        """
        with self._pool:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open_count -= len(idle)
            self._pool.notify_all()
        for session in idle:
            self._discard(session.conn)

    def cursor(self, conn: Connection) -> _Cursor:
        return _Cursor(conn.cursor(), self.dialect.json_warnings)
