"""The PostgreSQL adapter (psycopg 3): a connection, a pool, or a URL.

``PostgresAdapter(url)`` owns a small ``psycopg_pool.ConnectionPool`` and closes it in
:meth:`~PostgresAdapter.close`. Given a ``psycopg.Connection`` or a ``ConnectionPool``
you own, the adapter borrows it and never closes it:

- a connection is used by one call at a time (a lock, like the SQLite adapter);
- a pool lends one connection per operation, and one for the whole of a transaction.

Either way a connection must be idle when the adapter gets it. The adapter issues
``BEGIN``/``SAVEPOINT``/``COMMIT`` itself, so it runs in autocommit mode; a connection
that is not is switched for the adapter's call and switched back (in psycopg 3 that is
a client-side flag, not a round trip). Each connection keeps one cursor of the
adapter's (see :mod:`.core` for its loaders) for its next statements.

The programs — what each operation sends — are :class:`~.core.PostgresCore`'s, shared
with the async door (:mod:`.async_adapter`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeAlias, TypeVar, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from noorm.spec.errors import BackendError
from noorm.spec.operations import Find, Operation

from ..sql.adapter import Session, SQLAdapter
from ..sql.health import RestTracker, unsolicited
from .core import Copy, PostgresCore, copy_values, prepare_cursor, version_text
from .dialect import one_line

__all__ = ["CONNECT_TIMEOUT", "PostgresAdapter", "connect_error", "pool_settings", "version_text"]

Connection: TypeAlias = "psycopg.Connection[Any]"
T = TypeVar("T")

CONNECT_TIMEOUT = 10
"""Seconds a URL connection attempt may take (unless the URL sets ``connect_timeout``)."""


class PostgresAdapter(PostgresCore[Connection], SQLAdapter[Connection]):
    """A no-orm adapter on PostgreSQL through psycopg 3."""

    reuse_cursor = True

    def __init__(
        self,
        target: str | Connection | ConnectionPool[Any],
        *,
        schema: str | None = None,
        max_connections: int = 4,
        connect_timeout: int = CONNECT_TIMEOUT,
        cache_size: int = 512,
    ) -> None:
        """``schema`` qualifies every table and index; None: the connection's
        ``current_schema()`` (the first existing schema of its ``search_path``), looked up
        once, here.

        ``max_connections`` and ``connect_timeout`` apply to the pool a URL opens.
        """
        super().__init__(schema, cache_size)
        self._pool: ConnectionPool[Any] | None = None
        self._rested: _RestedCheck | None = None
        self._shared: Session[Connection] | None = None  # a borrowed connection's session
        self._owned = isinstance(target, str)
        if isinstance(target, str):
            self._rested = _RestedCheck()
            self._pool = _open_pool(target, max_connections, connect_timeout, self._rested)
        elif isinstance(target, ConnectionPool):
            self._pool = target
        elif isinstance(target, psycopg.Connection):
            self._shared = Session(target)
        else:
            raise TypeError(
                "expected a URL, a psycopg.Connection or a psycopg_pool.ConnectionPool, "
                f"got {type(target).__name__}"
            )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        if schema is None:
            try:
                with self.session() as session:
                    self._use_schema(self.drive(session, self._current_schema()))
            except BaseException:
                self.close()
                raise

    # --- the Adapter protocol ---------------------------------------------------------------

    def server_version(self) -> str:
        """``"PostgreSQL 15.20"``: the server's version number, without the build suffix;
        ``"PostgreSQL 15.20, Citus 13.2.2"`` where the database has Citus."""
        if self._server_version is None:
            with self.session() as session:
                return str(self.drive(session, self._version(session)))
        return self._server_version

    def close(self) -> None:
        """Close the pool the adapter opened; later calls raise BackendError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._owned and self._pool is not None:
            self._pool.close()

    # --- connections -------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session[Connection]]:
        held: Session[Connection] | None = getattr(self._local, "session", None)
        if held is not None:
            # This thread is inside one of our calls: an open transaction. The base class
            # refuses to run outside it (a second pooled connection could deadlock on it).
            with held.lock:
                yield held
            return
        with self._acquire() as session:
            self._local.session = session
            try:
                yield session
            finally:
                self._local.session = None

    def _acquire(self) -> AbstractContextManager[Session[Connection]]:
        if self._closed:
            raise BackendError("the adapter is closed")
        if self._shared is not None:
            return self._borrow_shared(self._shared)
        return self._borrow_pooled()

    @contextmanager
    def _borrow_shared(self, session: Session[Connection]) -> Iterator[Session[Connection]]:
        with session.lock:
            if self._closed:
                raise BackendError("the adapter is closed")
            _check_borrowed(session.conn)
            with _autocommit(session.conn):
                yield session

    def execute(self, op: Operation[T]) -> T:
        """:meth:`SQLAdapter.execute` with a pooled connection taken and given back
        directly: the usual call skips the context managers of :meth:`session`."""
        pool = self._pool
        if (
            pool is None
            or self._closed
            or getattr(self._local, "session", None) is not None
            or (type(op) is Find and op.for_update)
        ):
            return super().execute(op)
        conn = self._take(pool)
        try:
            session = self._session_of(conn)
            self._local.session = session
            try:
                if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
                    return cast(T, self.drive(session, self.run(session, op)))
                with _autocommit(conn):  # a pool of the host's that lends them otherwise
                    return cast(T, self.drive(session, self.run(session, op)))
            finally:
                self._local.session = None
        finally:
            self._give(pool, conn)

    @contextmanager
    def _borrow_pooled(self) -> Iterator[Session[Connection]]:
        assert self._pool is not None
        pool = self._pool
        conn = self._take(pool)
        try:
            with _autocommit(conn):
                yield self._session_of(conn)
        finally:
            self._give(pool, conn)

    def _take(self, pool: ConnectionPool[Any]) -> Connection:
        try:
            conn: Connection = pool.getconn()
        except psycopg.Error as exc:
            raise BackendError(f"no connection from the pool: {one_line(exc)}") from exc
        return conn

    def _give(self, pool: ConnectionPool[Any], conn: Connection) -> None:
        if self._rested is not None:
            self._rested.returned(conn)
        pool.putconn(conn)

    def cursor(self, conn: Connection) -> psycopg.Cursor[Any]:
        return prepare_cursor(conn.cursor(binary=True, row_factory=tuple_row))

    def citus_version(self) -> str | None:
        """The version of the Citus extension in the database, or None (plain PostgreSQL):
        with Citus, bootstrap distributes partitioned models (PART-4)."""
        with self.session() as session:
            return self.drive(session, self._citus_in()) or None

    def step(self, session: Session[Connection], step: Any) -> Any:
        if type(step) is Copy:
            cursor = session.conn.cursor()
            try:
                with cursor.copy(self.compiler.copy(step.table)) as copy:
                    for row in step.rows:
                        copy.write_row(copy_values(step.table, row))
            except psycopg.Error as exc:
                raise self._failed(session, exc, step.model) from exc
            finally:
                cursor.close()
            return None
        return super().step(session, step)


# --- helpers ------------------------------------------------------------------------------------


def _check_borrowed(conn: Connection) -> None:
    """A given connection that died says so (the adapter cannot open another one)."""
    if conn.closed or unsolicited(conn):
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error as exc:
            raise BackendError(
                f"the borrowed connection was lost ({one_line(exc)}); pass a URL or a "
                "psycopg_pool.ConnectionPool to let the adapter open new connections"
            ) from exc


@contextmanager
def _autocommit(conn: Connection) -> Iterator[None]:
    """Autocommit for the adapter's call, restored afterwards; refuses a busy connection."""
    if conn.closed:
        raise BackendError("the connection is closed")
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise BackendError(
            "the connection is inside a transaction the adapter did not open: "
            "commit or roll it back first"
        )
    if conn.autocommit:
        yield
        return
    conn.autocommit = True
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
            conn.autocommit = False


class _RestedCheck(RestTracker):
    """The ``check`` of the pool an adapter opens: a connection that rested longer than
    ``sql.health.PING_AFTER_IDLE``, or that the server wrote to or closed while it rested,
    answers an empty query before it is lent, and the pool replaces one that does not.
    Busy connections skip the round trip."""

    __slots__ = ()

    def __call__(self, conn: Connection) -> None:
        if self.due(conn):
            ConnectionPool.check_connection(conn)


def pool_settings(url: str, connect_timeout: int) -> tuple[dict[str, Any], float]:
    """The connection settings of the pool a URL opens, and how long opening may take."""
    try:
        settings = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise BackendError(
            "invalid PostgreSQL URL (expected postgresql://user:password@host:port/database)"
        ) from exc
    kwargs: dict[str, Any] = {"autocommit": True, "client_encoding": "UTF8"}
    if "connect_timeout" not in settings:
        kwargs["connect_timeout"] = connect_timeout
    return kwargs, float(kwargs.get("connect_timeout", connect_timeout))


def _open_pool(
    url: str, max_connections: int, connect_timeout: int, check: _RestedCheck
) -> ConnectionPool[Any]:
    """A pool on ``url``, after one direct connection that fails fast and says why."""
    kwargs, timeout = pool_settings(url, connect_timeout)
    try:
        psycopg.connect(url, **kwargs).close()
    except psycopg.Error as exc:
        raise connect_error(url, exc) from exc
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=1, max_size=max(1, max_connections), kwargs=kwargs, open=False,
        name="noorm", check=check,
    )  # fmt: skip
    try:
        pool.open(wait=True, timeout=timeout)
    except psycopg.Error as exc:
        pool.close()
        raise BackendError(f"cannot open a connection pool: {one_line(exc)}") from exc
    return pool


def connect_error(url: str, exc: BaseException) -> BackendError:
    """A one-line BackendError for a failed connection; never shows the password."""
    settings = conninfo_to_dict(url)
    host = settings.get("host") or settings.get("hostaddr") or "localhost"
    where = f"{host}:{settings.get('port') or 5432}"
    who = f'database "{settings.get("dbname", "")}", user "{settings.get("user", "")}"'
    reason = one_line(exc).rpartition(" failed: ")[2]
    for prefix in ("FATAL:", "ERROR:"):
        reason = reason.removeprefix(prefix).strip()
    return BackendError(f"cannot connect to PostgreSQL at {where} ({who}): {reason}")
