"""The MySQL 8 / MariaDB adapter for asyncio (aiomysql): a URL or a borrowed connection.

``AsyncMySQLAdapter("mysql://user:pw@host/db")`` owns a small pool of aiomysql
connections (up to ``max_connections``), opened on first use (or by ``await
adapter.connect()``, or ``async with``) and closed by ``await adapter.close()``. The pool
keeps the sync adapter's rules: connections are in autocommit mode with
``CLIENT.FOUND_ROWS``, a connection that failed or was cancelled in the middle of a
statement is closed instead of going back, and one that rested (or that the server
wrote to or closed meanwhile, see :mod:`noorm.adapters.sql.health`) answers a ping
before it is lent. Given an ``aiomysql.Connection`` you own, the adapter borrows it and
never closes it: it serves one call or transaction at a time.

What each operation sends is :class:`~.core.MySQLCore`'s, exactly as for the sync
:class:`~.adapter.MySQLAdapter`, and the server is inspected by the same program on the
first connection: the two doors differ only in how they wait. The URL options are the
sync adapter's, except ``read_timeout`` and ``write_timeout``, which aiomysql lacks.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol, TypeVar, cast

import aiomysql
import pymysql

from noorm.spec.errors import BackendError
from noorm.spec.operations import Find, Operation

from ..sql.async_adapter import AsyncSQLAdapter
from ..sql.health import needs_ping
from .connection import (
    ConnectParams,
    cannot_connect,
    check_settings,
    connect_options,
    offers_tls,
    parse_url,
    tls_context,
)
from .core import SHOW_WARNINGS, MySQLCore, PooledSession, json_warning

__all__ = ["AsyncConnection", "AsyncMySQLAdapter"]

T = TypeVar("T")

_UNSUPPORTED_OPTIONS = ("read_timeout", "write_timeout")
_QUIT_SECONDS = 1.0


class AsyncConnection(Protocol):
    """The part of an ``aiomysql.Connection`` the adapter uses (aiomysql has no types)."""

    @property
    def closed(self) -> bool: ...

    @property
    def client_flag(self) -> int: ...

    @property
    def charset(self) -> str: ...

    def get_autocommit(self) -> bool: ...

    async def ping(self, reconnect: bool = ...) -> None: ...

    async def ensure_closed(self) -> None: ...

    def close(self) -> None: ...


_Session = PooledSession[AsyncConnection]


class _Quiet(aiomysql.Cursor):  # type: ignore[misc]  # aiomysql is untyped
    """An aiomysql cursor that does not run ``SHOW WARNINGS`` by itself after a statement
    that warned (nor turn each warning into a Python warning): as with PyMySQL, the
    adapter asks for them only where it must (MariaDB's JSON warnings)."""

    async def _show_warnings(self, conn: object) -> None:
        return None

    def _escape_args(self, args: Sequence[Any], conn: Any) -> tuple[str, ...]:
        """A tuple parameter (an IN list) as PyMySQL's own connections escape it:
        aiomysql leaves it to ``escape_item``, which PyMySQL 1.1 no longer lets quote one."""
        return tuple(_literal(conn, arg) for arg in args)

    @property
    def warning_count(self) -> int:
        result = self._result
        return int(result.warning_count) if result is not None else 0


class _Cursor:
    """An aiomysql cursor for the shared layer: the sync adapter's ``_Cursor``, awaited.

    ``busy`` stays set when a statement was interrupted (the task was cancelled while it
    waited for the server): the connection's reply is unread, so the pool closes it.
    """

    __slots__ = ("_check_json", "_cursor", "busy")

    def __init__(self, cursor: _Quiet, check_json: bool) -> None:
        self._cursor = cursor
        self._check_json = check_json
        self.busy = False

    @property
    def rowcount(self) -> int:
        count: int = self._cursor.rowcount
        return count

    @property
    def warning_count(self) -> int:
        return self._cursor.warning_count

    async def execute(self, sql: str, params: Sequence[Any], /) -> None:
        self.busy = True
        try:
            await self._cursor.execute(sql, params or None)
            if self._check_json and self._cursor.warning_count:
                cursor = _Quiet(self._cursor.connection, False)
                try:
                    await cursor.execute(SHOW_WARNINGS)
                    error = json_warning(await cursor.fetchall())
                finally:
                    await cursor.close()
                if error is not None:
                    raise error
        except Exception:
            self.busy = False  # the server answered (with an error): the connection is fine
            raise
        self.busy = False

    async def fetchall(self) -> Sequence[Sequence[Any]]:
        rows: Sequence[Sequence[Any]] = await self._cursor.fetchall()
        return rows

    async def close(self) -> None:
        await self._cursor.close()


class AsyncMySQLAdapter(MySQLCore[AsyncConnection], AsyncSQLAdapter[AsyncConnection]):
    """A no-orm async adapter (:class:`~noorm.spec.AsyncAdapter`) on MySQL 8.0.17+ or
    MariaDB 10.6+ through aiomysql.

    The server's capabilities (``JSON_PATHS`` depends on it) and dialect are known once
    the adapter is open: ``await adapter.connect()`` before building a store on it when
    the server may be one whose JSON paths fail the probe.
    """

    def __init__(
        self,
        target: str | AsyncConnection,
        *,
        max_connections: int = 8,
        connect_timeout: float = 5.0,
        cache_size: int = 512,
    ) -> None:
        """``max_connections``: connections open at once (1 for a borrowed connection)."""
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        super().__init__(cache_size=cache_size)
        self._params: ConnectParams | None = None
        self._borrowed: AsyncConnection | None = None
        self._idle: list[_Session] = []
        if isinstance(target, str):
            self._params = parse_url(target, connect_timeout=connect_timeout)
            unsupported = [o for o in _UNSUPPORTED_OPTIONS if o in self._params.options]
            if unsupported:
                raise ValueError(f"aiomysql has no {', '.join(unsupported)}: leave it out")
            self._open_count = 0
        elif isinstance(target, aiomysql.Connection):
            if target.closed:
                raise ValueError("the connection is closed")
            check_settings(target)
            self._borrowed = target
            self._idle.append(_Session(target))
            self._open_count = 1
            max_connections = 1
        else:
            raise TypeError(
                f"expected a URL or an aiomysql.Connection, got {type(target).__name__}"
            )
        self._tls: ssl.SSLContext | None = None
        self._tls_known = False
        self._slots = asyncio.Semaphore(max_connections)
        self._opening = asyncio.Lock()
        self._ready = False
        self._closed = False

    # --- the AsyncAdapter protocol ---------------------------------------------------------

    async def connect(self) -> AsyncMySQLAdapter:
        """Open a first connection and inspect the server (its flavour, version, limits
        and JSON paths); the first call does this by itself. A failure leaves the adapter
        unconnected: a later call tries again."""
        if not self._ready:
            async with self._opening:
                if not self._ready:
                    session = await self._acquire()
                    try:
                        await self.drive(session, self.inspect(session))
                    except BaseException:
                        session.dead = True
                        raise
                    finally:
                        self._release(session)
                    self._ready = True
        return self

    async def server_version(self) -> str:
        """e.g. ``"MariaDB 10.11.19"`` or ``"MySQL 8.0.36"``."""
        await self.connect()
        return self._server_version

    def driver_version(self) -> str:
        """e.g. ``"aiomysql 0.3.2"``."""
        try:
            return f"aiomysql {importlib.metadata.version('aiomysql')}"
        except importlib.metadata.PackageNotFoundError:  # a copy without its metadata
            return f"aiomysql {aiomysql.__version__}"

    async def close(self) -> None:
        """Close the connections the adapter opened; later calls raise BackendError.

        Connections in use by another task are closed when that call ends.
        """
        if self._closed:
            return
        self._closed = True
        idle, self._idle = self._idle, []
        self._open_count -= len(idle)
        for session in idle:
            await self._quit(session.conn)

    async def __aenter__(self) -> AsyncMySQLAdapter:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- connections -------------------------------------------------------------------------

    async def execute(self, op: Operation[T]) -> T:
        """:meth:`AsyncSQLAdapter.execute` with a pooled session taken and given back
        directly: the usual call skips the context managers of :meth:`session`."""
        if not self._ready or (type(op) is Find and op.for_update):
            return await super().execute(op)
        self._tasks.refuse_inside(op.model.name)
        session = await self._acquire()
        try:
            return cast(T, await self.drive(session, self.run(session, op)))
        finally:
            self._release(session)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[_Session]:
        if not self._ready:
            await self.connect()
        session = await self._acquire()
        try:
            yield session
        finally:
            self._release(session)

    async def _acquire(self) -> _Session:
        if self._closed:
            raise BackendError("the adapter is closed")
        await self._slots.acquire()
        try:
            if self._closed:
                raise BackendError("the adapter is closed")
            if self._idle:
                session = self._idle.pop()
                if not _due(session):
                    return session
                try:
                    await session.conn.ping(False)
                    return session
                except Exception:  # gone while idle: replace it
                    self._open_count -= 1
                    self._discard(session.conn)
            self._open_count += 1
            try:
                return _Session(await self._connect())
            except BaseException:
                self._open_count -= 1
                raise
        except BaseException:
            self._slots.release()
            raise

    def _release(self, session: _Session) -> None:
        """Give ``session`` back (no waiting, so it runs even in a cancelled task)."""
        cursor = session.cursor
        if session.dead or self._closed or (cursor is not None and cursor.busy):
            self._open_count -= 1
            self._discard(session.conn)
        else:
            session.idle_since = time.monotonic()
            self._idle.append(session)
        self._slots.release()

    async def _connect(self) -> AsyncConnection:
        params = self._params
        if params is None:
            raise BackendError(
                "the borrowed connection was lost; pass a URL to let the adapter open new ones"
            )
        if not self._tls_known:
            self._tls, self._tls_known = tls_context(params), True
        options = connect_options(params)
        options["db"] = options.pop("database")
        for key in ("connect_timeout", "unix_socket"):
            if key in params.options:
                options[key] = params.options[key]
        try:
            conn: AsyncConnection = await aiomysql.connect(
                ssl=self._tls, cursorclass=_Quiet, **options
            )
        except pymysql.err.MySQLError as exc:
            raise BackendError(cannot_connect(params, exc)) from exc
        except OSError as exc:  # e.g. a unix socket path that does not exist
            raise BackendError(f"cannot connect to {params.where}: {exc}") from exc
        if not any(key.startswith("ssl") for key in params.options) and not offers_tls(
            params, conn
        ):
            self._tls = None  # skip building a context the next connections could not use
        return conn

    def _discard(self, conn: AsyncConnection) -> None:
        if conn is not self._borrowed:
            conn.close()

    async def _quit(self, conn: AsyncConnection) -> None:
        """Say goodbye to the server (COM_QUIT), then close the socket."""
        if conn is self._borrowed:
            return
        with suppress(Exception):
            await asyncio.wait_for(conn.ensure_closed(), _QUIT_SECONDS)
        conn.close()

    def cursor(self, conn: AsyncConnection) -> _Cursor:
        return _Cursor(_Quiet(conn, False), self.dialect.json_warnings)


def _literal(conn: Any, value: Any) -> str:
    if type(value) in (tuple, list, set, frozenset):
        return "(" + ",".join([_literal(conn, item) for item in value]) + ")"
    literal: str = conn.escape(value)
    return literal


def _due(session: _Session) -> bool:
    """Whether a resting connection must answer a ping before it is lent: it rested
    long, or the server wrote to it or closed it (asyncio may have read that already:
    it is in the stream's buffer, or the stream ended)."""
    conn: Any = session.conn
    writer, reader = conn._writer, conn._reader
    if writer is None or reader is None:
        return True
    if reader.exception() is not None or getattr(reader, "_eof", False):
        return True
    if getattr(reader, "_buffer", None):
        return True
    return needs_ping(writer.transport.get_extra_info("socket"), session.idle_since)
