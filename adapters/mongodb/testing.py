"""A conformance factory: a MongoAdapter on a fresh database, dropped on close().

    pytest --pyargs noorm.conformance \\
        --noorm-adapter=noorm.adapters.mongodb.testing:conformance_factory

The server URL comes from ``NOORM_MONGODB_URL`` (``eval "$(ci/services)"`` sets it);
without it, a ``mongo:7`` container (or the image ``NOORM_MONGODB_IMAGE`` names) where
a Docker engine answers.
One client per URL is shared by the adapters the factory makes, so a test costs a
database, not a connection pool. ``conformance_factory.same_database(adapter)`` opens
a second, independent adapter (its own client) on the same database, for BOOT-3.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from noorm.adapters.servers import ServerURL
from noorm.spec import Adapter

from .adapter import URL_TIMEOUT_MS, MongoAdapter

__all__ = ["URL_ENV", "ConformanceFactory", "DroppingMongoAdapter", "conformance_factory"]

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


class ConformanceFactory:
    """Callable: each call returns an adapter on a new ``noorm_test_<uuid>`` database."""

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
        self._clients: dict[str, MongoClient[Any]] = {}
        self._lock = threading.Lock()

    def __call__(self) -> Adapter:
        return DroppingMongoAdapter(
            self._client(self.url()), f"noorm_test_{uuid.uuid4().hex}", **self._options
        )

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


conformance_factory = ConformanceFactory()
"""The factory to pass as ``--noorm-adapter=noorm.adapters.mongodb.testing:conformance_factory``."""
