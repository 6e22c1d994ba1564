"""Conformance factories: a MongoAdapter (or an AsyncMongoAdapter) on a fresh database,
dropped on close().

    pytest --pyargs noorm.conformance \\
        --noorm-adapter=noorm.adapters.mongodb.testing:conformance_factory
    noorm certify --factory noorm.adapters.mongodb.testing:async_conformance_factory --async

The server URL comes from ``NOORM_MONGODB_URL`` (``eval "$(ci/services)"`` sets it);
without it, a ``mongo:7`` container (or the image ``NOORM_MONGODB_IMAGE`` names) where
a Docker engine answers.
One client per URL is shared by the adapters the factory makes, so a test costs a
database, not a connection pool. ``conformance_factory.same_database(adapter)`` opens
a second, independent adapter (its own client) on the same database, for BOOT-3.
``async_conformance_factory`` does the same with AsyncMongoAdapter; it is called inside
the event loop and returns a coroutine. Its shared client is one per event loop (an
AsyncMongoClient belongs to the loop it first ran on).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import uuid
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import PyMongoError

from noorm.adapters.servers import ServerURL
from noorm.spec import Adapter

from .adapter import URL_TIMEOUT_MS, MongoAdapter
from .async_adapter import AsyncMongoAdapter

__all__ = [
    "URL_ENV",
    "AsyncConformanceFactory",
    "ConformanceFactory",
    "DroppingAsyncMongoAdapter",
    "DroppingMongoAdapter",
    "async_conformance_factory",
    "conformance_factory",
]

URL_ENV = "NOORM_MONGODB_URL"
CONTAINER_IMAGE = "mongo:7"
"""Started through testcontainers where no URL is set and a Docker engine answers."""
IMAGE_ENV = "NOORM_MONGODB_IMAGE"
"""Names another image to start instead (``ci/images`` builds ``noorm-local/ferretdb:1``)."""


class DroppingMongoAdapter(MongoAdapter):
    """A MongoAdapter that drops its database when closed (test databases only)."""

    def close(self) -> None:
        if not self._closed:
            # Best effort: the name is unique, so a leftover database harms nothing.
            with contextlib.suppress(PyMongoError):
                self._client.drop_database(self.database_name)
        super().close()


class DroppingAsyncMongoAdapter(AsyncMongoAdapter):
    """An AsyncMongoAdapter that drops its database when closed (test databases only)."""

    async def close(self) -> None:
        if not self._core.closed:
            with contextlib.suppress(PyMongoError):  # best effort, as DroppingMongoAdapter
                await self._client.drop_database(self.database_name)
        await super().close()


def fresh_name() -> str:
    """A new test database's name."""
    return f"noorm_test_{uuid.uuid4().hex}"


class _Factory:
    """What both factories share: the server URL and the adapters' options."""

    def __init__(self, url_env: str = URL_ENV, **options: Any) -> None:
        self.url: Callable[[], str] = ServerURL(
            url_env,
            image=CONTAINER_IMAGE,
            image_env=IMAGE_ENV,
            module=("testcontainers.community.mongodb", "testcontainers.mongodb"),
            container=lambda module, image: module.MongoDbContainer(image).start(),
            url_of=lambda container: str(container.get_connection_url()),
            hint="a MongoDB or FerretDB server, e.g. mongodb://127.0.0.1:27017/",
        )
        self._options = options
        """Keyword arguments for every adapter made, e.g. allow_non_atomic_transactions."""
        self._lock = threading.Lock()


class ConformanceFactory(_Factory):
    """Callable: each call returns an adapter on a new ``noorm_test_<uuid>`` database."""

    def __init__(self, url_env: str = URL_ENV, **options: Any) -> None:
        super().__init__(url_env, **options)
        self._clients: dict[str, MongoClient[Any]] = {}

    def __call__(self) -> Adapter:
        return DroppingMongoAdapter(self._client(self.url()), fresh_name(), **self._options)

    def same_database(self, adapter: Adapter) -> Adapter:
        """A second adapter, with its own client, on the database of ``adapter``."""
        if not isinstance(adapter, MongoAdapter):
            raise TypeError(f"expected a MongoAdapter, got {type(adapter).__name__}")
        return MongoAdapter(self.url(), adapter.database_name)

    def _client(self, url: str) -> MongoClient[Any]:
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = MongoClient(url, serverSelectionTimeoutMS=URL_TIMEOUT_MS)
                self._clients[url] = client
                atexit.register(client.close)
            return client


class AsyncConformanceFactory(_Factory):
    """:class:`ConformanceFactory` for the async door: each call (inside the event loop)
    returns a coroutine of a :class:`DroppingAsyncMongoAdapter` on a new database."""

    def __init__(self, url_env: str = URL_ENV, **options: Any) -> None:
        super().__init__(url_env, **options)
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, AsyncMongoClient[Any]]
        ] = weakref.WeakKeyDictionary()

    def __call__(self) -> Coroutine[Any, Any, AsyncMongoAdapter]:
        return DroppingAsyncMongoAdapter.open(
            self._client(self.url()), fresh_name(), **self._options
        )

    def same_database(self, adapter: AsyncMongoAdapter) -> Coroutine[Any, Any, AsyncMongoAdapter]:
        """A second adapter, with its own client, on the database of ``adapter``."""
        if not isinstance(adapter, AsyncMongoAdapter):
            raise TypeError(f"expected an AsyncMongoAdapter, got {type(adapter).__name__}")
        return AsyncMongoAdapter.open(self.url(), adapter.database_name)

    def _client(self, url: str) -> AsyncMongoClient[Any]:
        loop = asyncio.get_running_loop()
        with self._lock:
            clients = self._clients.setdefault(loop, {})
            client = clients.get(url)
            if client is None:
                client = AsyncMongoClient(url, serverSelectionTimeoutMS=URL_TIMEOUT_MS)
                clients[url] = client
                atexit.register(_close_on, loop, client)
            return client


def _close_on(loop: asyncio.AbstractEventLoop, client: AsyncMongoClient[Any]) -> None:
    """At exit, close ``client`` on its loop if that loop still runs (the suite's does)."""
    if loop.is_running() and not loop.is_closed():
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout=5)


conformance_factory = ConformanceFactory()
"""The factory to pass as ``--noorm-adapter=noorm.adapters.mongodb.testing:conformance_factory``."""
async_conformance_factory = AsyncConformanceFactory()
"""The async door's: ``noorm certify --factory
noorm.adapters.mongodb.testing:async_conformance_factory --async``."""
