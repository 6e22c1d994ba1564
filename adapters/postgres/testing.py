"""A conformance factory: a PostgresAdapter on a fresh schema, dropped on close().

    pytest --pyargs noorm.conformance \\
        --noorm-adapter=noorm.adapters.postgres.testing:conformance_factory

The server URL comes from ``NOORM_POSTGRES_URL`` (``eval "$(ci/services)"`` sets it).
Without it, and with a Docker engine reachable, a throwaway ``postgres:16`` container
(or the image ``NOORM_POSTGRES_IMAGE`` names) is started with testcontainers (``pip install 'no-orm[containers]'``) and stopped at
exit. Each adapter gets a new ``noorm_test_<uuid>`` schema, with every table
schema-qualified, so one pool per URL serves every test: a test costs a schema, not a
connection. ``conformance_factory.same_database(adapter)`` opens a second, independent
adapter (its own pool) on the same schema, for BOOT-3.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from noorm.adapters.servers import ServerURL
from noorm.spec import Adapter, BackendError

from .adapter import CONNECT_TIMEOUT, PostgresAdapter, connect_error

__all__ = ["URL_ENV", "ConformanceFactory", "DroppingPostgresAdapter", "conformance_factory"]

URL_ENV = "NOORM_POSTGRES_URL"
CONTAINER_IMAGE = "postgres:16"
IMAGE_ENV = "NOORM_POSTGRES_IMAGE"


class DroppingPostgresAdapter(PostgresAdapter):
    """A PostgresAdapter that drops its schema when closed (test schemas only)."""

    def __init__(self, target: Any, *, schema: str, **options: Any) -> None:
        super().__init__(target, schema=schema, **options)

    def close(self) -> None:
        if not self._closed:
            # Best effort: the name is unique, so a leftover schema harms nothing.
            with contextlib.suppress(BackendError, psycopg.Error), self._session() as session:
                drop = f"DROP SCHEMA IF EXISTS {self.dialect.schema_name()} CASCADE"
                session.conn.execute(drop.encode())
        super().close()


class ConformanceFactory:
    """Callable: each call returns an adapter on a new ``noorm_test_<uuid>`` schema."""

    def __init__(self, url_env: str = URL_ENV) -> None:
        self.url: Callable[[], str] = ServerURL(
            url_env,
            image=CONTAINER_IMAGE,
            image_env=IMAGE_ENV,
            module=("testcontainers.community.postgres", "testcontainers.postgres"),
            container=lambda module, image: module.PostgresContainer(image, driver=None).start(),
            url_of=lambda container: str(container.get_connection_url()),
            hint="a PostgreSQL server, e.g. postgresql://user:password@127.0.0.1:5432/database",
        )
        self._pools: dict[str, ConnectionPool[Any]] = {}
        self._lock = threading.Lock()

    def __call__(self) -> Adapter:
        pool = self._pool(self.url())
        schema = f"noorm_test_{uuid.uuid4().hex}"
        with pool.connection() as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
        return DroppingPostgresAdapter(pool, schema=schema)

    def same_database(self, adapter: Adapter) -> Adapter:
        """A second adapter, with its own pool, on the schema of ``adapter``."""
        if not isinstance(adapter, PostgresAdapter):
            raise TypeError(f"expected a PostgresAdapter, got {type(adapter).__name__}")
        return PostgresAdapter(self.url(), schema=adapter.schema)

    def _pool(self, url: str) -> ConnectionPool[Any]:
        with self._lock:
            pool = self._pools.get(url)
            if pool is None:
                kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}
                try:
                    psycopg.connect(url, **kwargs).close()  # fail fast, with the reason
                except psycopg.Error as exc:
                    raise connect_error(url, exc) from exc
                pool = ConnectionPool(url, min_size=1, max_size=8, kwargs=kwargs, open=True)
                self._pools[url] = pool
                atexit.register(pool.close)
            return pool


conformance_factory = ConformanceFactory()
"""The factory to pass as ``--noorm-adapter=noorm.adapters.postgres.testing:conformance_factory``."""
