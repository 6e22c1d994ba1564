"""A conformance factory: a MySQLAdapter on a fresh database, dropped on close().

    pytest --pyargs noorm.conformance \\
        --noorm-adapter=noorm.adapters.mysql.testing:conformance_factory

The server URL comes from ``NOORM_MYSQL_URL`` (``eval "$(ci/services)"`` sets it; the
user needs CREATE and DROP on ``noorm_test_*`` databases). Without it, and with a
reachable Docker engine, a throwaway ``mysql:8`` container (or the image
``NOORM_MYSQL_IMAGE`` names) is started once per process
(testcontainers, ``pip install 'no-orm[containers]'``). Each call creates a database
``noorm_test_<hex>`` through one shared administrative connection and returns an
adapter on it; ``conformance_factory.same_database(adapter)`` opens a second,
independent adapter (its own connections) on the same database, for BOOT-3.

``async_conformance_factory`` is the same for the native async door
(:class:`~.async_adapter.AsyncMySQLAdapter`, ``noorm certify mysql --async``): the
database is created the same way, the adapter is opened in the suite's event loop.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import pymysql

from noorm.adapters.servers import ServerURL
from noorm.spec import Adapter, AsyncAdapter

from ..sql.program import Command, command
from .adapter import MySQLAdapter
from .async_adapter import AsyncMySQLAdapter
from .connection import Connection, ConnectParams, connect, parse_url
from .core import MySQLCore

__all__ = [
    "URL_ENV",
    "AsyncConformanceFactory",
    "ConformanceFactory",
    "DroppingAsyncMySQLAdapter",
    "DroppingMySQLAdapter",
    "async_conformance_factory",
    "conformance_factory",
]

URL_ENV = "NOORM_MYSQL_URL"
CONTAINER_IMAGE = "mysql:8"
IMAGE_ENV = "NOORM_MYSQL_IMAGE"


class DroppingMySQLAdapter(MySQLAdapter):
    """A MySQLAdapter that drops its database when closed (test databases only)."""

    def close(self) -> None:
        if not self._closed:
            # Best effort: the name is unique, so a leftover database harms nothing.
            with contextlib.suppress(Exception), self._free_session(None) as session:
                self.drive(session, _drop(self))
        super().close()


class DroppingAsyncMySQLAdapter(AsyncMySQLAdapter):
    """An AsyncMySQLAdapter that drops its database when closed (test databases only)."""

    async def close(self) -> None:
        if not self._closed and self._ready:
            with contextlib.suppress(Exception):
                async with self.session() as session:
                    await self.drive(session, _drop(self))
        await super().close()


def _drop(adapter: MySQLCore[Any]) -> Command:
    return command(f"DROP DATABASE IF EXISTS {adapter.dialect.quote(adapter.database)}")


class ConformanceFactory:
    """Callable: each call returns an adapter on a new ``noorm_test_<hex>`` database."""

    def __init__(self, url_env: str = URL_ENV) -> None:
        self.url: Callable[[], str] = ServerURL(
            url_env,
            image=CONTAINER_IMAGE,
            image_env=IMAGE_ENV,
            module=("testcontainers.community.mysql", "testcontainers.mysql"),
            # username "root" makes the container use ``password`` as the root password.
            container=lambda module, image: module.MySqlContainer(
                image, username="root", password="noorm", dbname="noorm"
            ).start(),
            url_of=lambda container: str(container.get_connection_url()),
            hint="a MySQL 8 or MariaDB server (mysql://user:password@host:3306/database, "
            "a user allowed to create databases)",
        )
        self._admins: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def __call__(self) -> Adapter:
        return DroppingMySQLAdapter(self.database_url())

    def database_url(self) -> str:
        """The URL of a new, empty ``noorm_test_<hex>`` database."""
        params = parse_url(self.url())
        name = f"noorm_test_{uuid.uuid4().hex}"
        with self._lock:
            admin = self._admin(params)
            try:
                with admin.cursor() as cursor:
                    cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            except pymysql.err.MySQLError:
                self._admins.pop(_server(params), None)  # perhaps stale: reconnect next time
                admin.close()
                raise
        return _url(params, name)

    def same_database(self, adapter: Adapter) -> Adapter:
        """A second adapter, with its own connections, on the database of ``adapter``."""
        if not isinstance(adapter, MySQLAdapter):
            raise TypeError(f"expected a MySQLAdapter, got {type(adapter).__name__}")
        return MySQLAdapter(_url(parse_url(self.url()), adapter.database))

    def _admin(self, params: ConnectParams) -> Connection:
        key = _server(params)
        admin = self._admins.get(key)
        if admin is None or not admin.open:
            admin = self._admins[key] = connect(params)
            atexit.register(admin.close)
        return admin


def _server(params: ConnectParams) -> str:
    return f"{params.user}@{params.where}"


def _url(params: ConnectParams, database: str) -> str:
    """``params`` as a URL on ``database``."""
    auth = f"{quote(params.user, safe='')}:{quote(params.password, safe='')}"
    query = urlencode({k: v for k, v in params.options.items() if k != "connect_timeout"})
    host = f"[{params.host}]" if ":" in params.host else params.host
    return f"mysql://{auth}@{host}:{params.port}/{database}" + (f"?{query}" if query else "")


conformance_factory = ConformanceFactory()
"""The factory to pass as ``--noorm-adapter=noorm.adapters.mysql.testing:conformance_factory``."""


class AsyncConformanceFactory:
    """The async door's factory (``noorm certify mysql --async``): each call, inside the
    suite's event loop, an open :class:`AsyncMySQLAdapter` on a new database, made and
    dropped as the sync factory's; the server is the sync factory's."""

    def __init__(self, sync: ConformanceFactory | None = None) -> None:
        self._sync = sync or conformance_factory

    async def __call__(self) -> AsyncAdapter:
        adapter = DroppingAsyncMySQLAdapter(self._sync.database_url())
        try:
            return await adapter.connect()  # the server's capabilities before the suite reads them
        except BaseException:
            await adapter.close()
            raise

    def same_database(self, adapter: AsyncAdapter) -> AsyncAdapter:
        """A second adapter, with its own connections, on the database of ``adapter``."""
        if not isinstance(adapter, AsyncMySQLAdapter):
            raise TypeError(f"expected an AsyncMySQLAdapter, got {type(adapter).__name__}")
        return AsyncMySQLAdapter(_url(parse_url(self._sync.url()), adapter.database))


async_conformance_factory = AsyncConformanceFactory()
"""``noorm certify --factory noorm.adapters.mysql.testing:async_conformance_factory --async``
(what ``noorm certify mysql --async`` runs)."""
