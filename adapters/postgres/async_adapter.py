"""The PostgreSQL adapter for asyncio (psycopg 3): an async connection, an async pool, or a URL.

``AsyncPostgresAdapter(url)`` owns a ``psycopg_pool.AsyncConnectionPool``, opened on
first use (or by ``await adapter.connect()``) and closed by ``await adapter.close()``.
Given a ``psycopg.AsyncConnection`` or an ``AsyncConnectionPool`` you own, the adapter
borrows it and never closes it: a connection serves one call at a time (an
``asyncio.Lock``), a pool lends one connection per operation and one for the whole of a
transaction. Without ``schema=``, the connection's ``current_schema()`` is looked up
on first use.

What each operation sends is :class:`~.core.PostgresCore`'s, exactly as for the sync
:class:`~.adapter.PostgresAdapter`: the two doors differ only in how they wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, TypeVar, cast

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from noorm.spec.errors import BackendError
from noorm.spec.operations import Find, Operation

from ..sql.async_adapter import AsyncSQLAdapter
from ..sql.core import Session
from ..sql.health import RestTracker, unsolicited
from .adapter import CONNECT_TIMEOUT, connect_error, pool_settings
from .core import Copy, PostgresCore, copy_values, prepare_cursor
from .dialect import one_line

__all__ = ["AsyncPostgresAdapter"]

AsyncConnection: TypeAlias = "psycopg.AsyncConnection[Any]"
T = TypeVar("T")


class AsyncPostgresAdapter(PostgresCore[AsyncConnection], AsyncSQLAdapter[AsyncConnection]):
    """A no-orm async adapter (:class:`~noorm.spec.AsyncAdapter`) on PostgreSQL through psycopg 3."""

    reuse_cursor = True

    def __init__(
        self,
        target: str | AsyncConnection | AsyncConnectionPool[Any],
        *,
        schema: str | None = None,
        max_connections: int = 8,
        connect_timeout: int = CONNECT_TIMEOUT,
        cache_size: int = 512,
    ) -> None:
        """``max_connections`` and ``connect_timeout`` apply to the pool a URL opens."""
        super().__init__(schema, cache_size)
        self._url: str | None = None
        self._pool: AsyncConnectionPool[Any] | None = None
        self._shared: Session[AsyncConnection] | None = None
        self._shared_lock = asyncio.Lock()
        self._rested: _RestedCheck | None = None
        self._owned = isinstance(target, str)
        if isinstance(target, str):
            self._url = target
            self._rested = _RestedCheck()
            kwargs, timeout = pool_settings(target, connect_timeout)
            self._connect_kwargs = kwargs
            self._timeout = timeout
            self._pool = AsyncConnectionPool(
                target, min_size=1, max_size=max(1, max_connections), kwargs=kwargs,
                open=False, name="noorm-async", check=self._rested,
            )  # fmt: skip
        elif isinstance(target, AsyncConnectionPool):
            self._pool = target
        elif isinstance(target, psycopg.AsyncConnection):
            self._shared = Session(target)
        else:
            raise TypeError(
                "expected a URL, a psycopg.AsyncConnection or a psycopg_pool.AsyncConnectionPool, "
                f"got {type(target).__name__}"
            )
        self._ready = False
        self._opening = asyncio.Lock()
        self._closed = False

    # --- the AsyncAdapter protocol ---------------------------------------------------------

    async def connect(self) -> AsyncPostgresAdapter:
        """Open the pool a URL names (one direct connection first, which fails fast and
        says why) and look the schema up; the first call does this by itself."""
        if not self._ready:
            async with self._opening:
                if not self._ready:
                    await self._open()
        return self

    async def _open(self) -> None:
        if self._closed:
            raise BackendError("the adapter is closed")
        if self._owned and self._pool is not None and self._url is not None:
            url = self._url
            try:
                conn = await psycopg.AsyncConnection.connect(url, **self._connect_kwargs)
            except psycopg.Error as exc:
                raise connect_error(url, exc) from exc
            await conn.close()
            try:
                await self._pool.open(wait=True, timeout=self._timeout)
            except psycopg.Error as exc:
                await self._pool.close()
                raise BackendError(f"cannot open a connection pool: {one_line(exc)}") from exc
        if not hasattr(self, "schema"):
            async with self._lend() as session:
                self._use_schema(await self.drive(session, self._current_schema()))
        self._ready = True

    async def server_version(self) -> str:
        """``"PostgreSQL 15.20"`` (``", Citus 13.2.2"`` added where the database has Citus)."""
        if self._server_version is None:
            async with self.session() as session:
                return str(await self.drive(session, self._version(session)))
        return self._server_version

    async def citus_version(self) -> str | None:
        """The version of the Citus extension in the database, or None (plain PostgreSQL)."""
        async with self.session() as session:
            return await self.drive(session, self._citus_in()) or None

    async def close(self) -> None:
        """Close the pool the adapter opened; later calls raise BackendError."""
        if self._closed:
            return
        self._closed = True
        if self._owned and self._pool is not None:
            await self._pool.close()

    async def __aenter__(self) -> AsyncPostgresAdapter:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- connections -------------------------------------------------------------------------

    async def execute(self, op: Operation[T]) -> T:
        """:meth:`AsyncSQLAdapter.execute` with the connection taken and given back
        directly: the usual call skips the context managers of :meth:`session`."""
        if not self._ready or self._closed or (type(op) is Find and op.for_update):
            return await super().execute(op)
        self._tasks.refuse_inside(op.model.name)
        pool = self._pool
        if pool is None:
            return await self._execute_shared(op)
        conn = await self._take(pool)
        try:
            session = self._session_of(conn)
            if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
                return cast(T, await self.drive(session, self.run(session, op)))
            async with _autocommit(conn):  # a pool of the host's that lends them otherwise
                return cast(T, await self.drive(session, self.run(session, op)))
        finally:
            await self._give(pool, conn)

    async def _execute_shared(self, op: Operation[T]) -> T:
        """``op`` on the borrowed connection, one call at a time."""
        shared = self._shared
        assert shared is not None
        async with self._shared_lock:
            if self._closed:
                raise BackendError("the adapter is closed")
            conn = shared.conn
            if conn.closed or unsolicited(conn):
                await _check_borrowed(conn)
            if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
                return cast(T, await self.drive(shared, self.run(shared, op)))
            async with _autocommit(conn):
                return cast(T, await self.drive(shared, self.run(shared, op)))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session[AsyncConnection]]:
        if not self._ready:
            await self.connect()
        async with self._lend() as session:
            yield session

    @asynccontextmanager
    async def _lend(self) -> AsyncIterator[Session[AsyncConnection]]:
        if self._closed:
            raise BackendError("the adapter is closed")
        shared = self._shared
        if shared is not None:
            async with self._shared_lock:
                if self._closed:
                    raise BackendError("the adapter is closed")
                await _check_borrowed(shared.conn)
                async with _autocommit(shared.conn):
                    yield shared
            return
        assert self._pool is not None
        pool = self._pool
        conn = await self._take(pool)
        try:
            async with _autocommit(conn):
                yield self._session_of(conn)
        finally:
            await self._give(pool, conn)

    async def _take(self, pool: AsyncConnectionPool[Any]) -> AsyncConnection:
        try:
            conn: AsyncConnection = await pool.getconn()
        except psycopg.Error as exc:
            raise BackendError(f"no connection from the pool: {one_line(exc)}") from exc
        return conn

    async def _give(self, pool: AsyncConnectionPool[Any], conn: AsyncConnection) -> None:
        if self._rested is not None:
            self._rested.returned(conn)
        await pool.putconn(conn)

    def cursor(self, conn: AsyncConnection) -> psycopg.AsyncCursor[Any]:
        return prepare_cursor(conn.cursor(binary=True, row_factory=tuple_row))

    async def step(self, session: Session[AsyncConnection], step: Any) -> Any:
        if type(step) is Copy:
            cursor = session.conn.cursor()
            try:
                async with cursor.copy(self.compiler.copy(step.table)) as copy:
                    for row in step.rows:
                        await copy.write_row(copy_values(step.table, row))
            except psycopg.Error as exc:
                raise (await self._failed(session, exc, step.model)) from exc
            finally:
                await cursor.close()
            return None
        return await super().step(session, step)


async def _check_borrowed(conn: AsyncConnection) -> None:
    """A given connection that died says so (the adapter cannot open another one)."""
    if conn.closed or unsolicited(conn):
        try:
            await AsyncConnectionPool.check_connection(conn)
        except psycopg.Error as exc:
            raise BackendError(
                f"the borrowed connection was lost ({one_line(exc)}); pass a URL or a "
                "psycopg_pool.AsyncConnectionPool to let the adapter open new connections"
            ) from exc


@asynccontextmanager
async def _autocommit(conn: AsyncConnection) -> AsyncIterator[None]:
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
    await conn.set_autocommit(True)
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
            await conn.set_autocommit(False)


class _RestedCheck(RestTracker):
    """The ``check`` of the pool an adapter opens (see the sync adapter's)."""

    __slots__ = ()

    async def __call__(self, conn: AsyncConnection) -> None:
        if self.due(conn):
            await AsyncConnectionPool.check_connection(conn)
