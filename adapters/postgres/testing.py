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

import asyncio
import atexit
import contextlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from noorm.adapters.servers import ServerURL
from noorm.spec import Adapter, AsyncAdapter, BackendError, Schema

from .adapter import CONNECT_TIMEOUT, PostgresAdapter, connect_error
from .async_adapter import AsyncPostgresAdapter

__all__ = [
    "CITUS_URL_ENV",
    "URL_ENV",
    "AsyncConformanceFactory",
    "CitusFactory",
    "ConformanceFactory",
    "DroppingAsyncPostgresAdapter",
    "DroppingPostgresAdapter",
    "PartitioningPostgresAdapter",
    "async_conformance_factory",
    "citus_factory",
    "conformance_factory",
]

URL_ENV = "NOORM_POSTGRES_URL"
CONTAINER_IMAGE = "postgres:16"
IMAGE_ENV = "NOORM_POSTGRES_IMAGE"
CITUS_URL_ENV = "NOORM_CITUS_URL"
CITUS_IMAGE = "citusdata/citus:13.0"
CITUS_IMAGE_ENV = "NOORM_CITUS_IMAGE"


class DroppingPostgresAdapter(PostgresAdapter):
    """A PostgresAdapter that drops its schema when closed (test schemas only)."""

    def __init__(self, target: Any, *, schema: str, **options: Any) -> None:
        super().__init__(target, schema=schema, **options)

    def close(self) -> None:
        if not self._closed:
            # Best effort: the name is unique, so a leftover schema harms nothing.
            with contextlib.suppress(BackendError, psycopg.Error), self.session() as session:
                drop = f"DROP SCHEMA IF EXISTS {self.dialect.schema_name()} CASCADE"
                session.conn.execute(drop.encode())
        super().close()


class DroppingAsyncPostgresAdapter(AsyncPostgresAdapter):
    """An AsyncPostgresAdapter that drops its schema when closed (test schemas only)."""

    async def close(self) -> None:
        if not self._closed:
            drop = f"DROP SCHEMA IF EXISTS {self.dialect.schema_name()} CASCADE"
            with contextlib.suppress(BackendError, psycopg.Error):
                async with self.session() as session:
                    await session.conn.execute(drop.encode())
        await super().close()


class PartitioningPostgresAdapter(DroppingPostgresAdapter):
    """A test-schema adapter that bootstraps every model partitioned (the ``citus``
    target): each model without a partition key is given its first primary-key field
    (:func:`noorm.conformance.partitioning.partition_every_model`)."""

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        from noorm.conformance.partitioning import partition_every_model  # no import cycle

        return super().bootstrap(partition_every_model(schema), dry_run=dry_run)


class ConformanceFactory:
    """Callable: each call returns an adapter on a new ``noorm_test_<uuid>`` schema."""

    adapter_class: type[DroppingPostgresAdapter] = DroppingPostgresAdapter

    def __init__(
        self,
        url_env: str = URL_ENV,
        *,
        image: str = CONTAINER_IMAGE,
        image_env: str = IMAGE_ENV,
    ) -> None:
        self.url: Callable[[], str] = ServerURL(
            url_env,
            image=image,
            image_env=image_env,
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
        return self.adapter_class(pool, schema=schema)

    def same_database(self, adapter: Adapter) -> Adapter:
        """A second adapter, with its own pool, on the schema of ``adapter``."""
        if not isinstance(adapter, PostgresAdapter):
            raise TypeError(f"expected a PostgresAdapter, got {type(adapter).__name__}")
        if isinstance(adapter, PartitioningPostgresAdapter):
            return _Partitioning(self.url(), schema=adapter.schema)
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


class AsyncConformanceFactory:
    """The async door's factory (``noorm certify postgres --async``): each call, inside
    the suite's event loop, an :class:`AsyncPostgresAdapter` on a new schema, on one
    ``AsyncConnectionPool`` per URL and loop; the server is the sync factory's."""

    def __init__(self, sync: ConformanceFactory | None = None) -> None:
        self._sync = sync or conformance_factory
        self._pools: dict[tuple[str, int], AsyncConnectionPool[Any]] = {}

    async def __call__(self) -> AsyncAdapter:
        pool = await self._pool(self._sync.url())
        schema = f"noorm_test_{uuid.uuid4().hex}"
        async with pool.connection() as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
        return DroppingAsyncPostgresAdapter(pool, schema=schema)

    def same_database(self, adapter: AsyncAdapter) -> AsyncAdapter:
        """A second adapter, with its own pool, on the schema of ``adapter``."""
        if not isinstance(adapter, AsyncPostgresAdapter):
            raise TypeError(f"expected an AsyncPostgresAdapter, got {type(adapter).__name__}")
        return AsyncPostgresAdapter(self._sync.url(), schema=adapter.schema)

    async def _pool(self, url: str) -> AsyncConnectionPool[Any]:
        key = (url, id(asyncio.get_running_loop()))
        pool = self._pools.get(key)
        if pool is None:
            kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}
            try:
                await (await psycopg.AsyncConnection.connect(url, **kwargs)).close()
            except psycopg.Error as exc:
                raise connect_error(url, exc) from exc
            pool = AsyncConnectionPool(url, min_size=1, max_size=8, kwargs=kwargs, open=False)
            await pool.open(wait=True)
            self._pools[key] = pool
        return pool


async_conformance_factory = AsyncConformanceFactory()
"""``noorm certify --factory noorm.adapters.postgres.testing:async_conformance_factory
--async`` (what ``noorm certify postgres --async`` runs)."""


class _Partitioning(PostgresAdapter):
    """A second adapter on a partitioning adapter's schema (BOOT-3), partitioning alike."""

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        from noorm.conformance.partitioning import partition_every_model  # no import cycle

        return super().bootstrap(partition_every_model(schema), dry_run=dry_run)


class CitusFactory(ConformanceFactory):
    """The ``citus`` target: a Citus coordinator (``NOORM_CITUS_URL``; ``ci/citus`` starts
    a coordinator and two workers), every suite model partitioned. Without the URL and
    with a Docker engine, the official ``citusdata/citus`` image (single node) through
    testcontainers. The factory refuses a server without the Citus extension: the target
    would silently certify plain PostgreSQL."""

    adapter_class = PartitioningPostgresAdapter

    def __init__(self) -> None:
        super().__init__(CITUS_URL_ENV, image=CITUS_IMAGE, image_env=CITUS_IMAGE_ENV)

    def __call__(self) -> Adapter:
        adapter = super().__call__()
        assert isinstance(adapter, PostgresAdapter)
        if adapter.citus_version() is None:
            adapter.close()
            raise BackendError(
                f"the server at {CITUS_URL_ENV} has no Citus extension in this database: "
                "CREATE EXTENSION citus (ci/citus sets a cluster up)"
            )
        return adapter


citus_factory = CitusFactory()
"""``--noorm-adapter=noorm.adapters.postgres.testing:citus_factory`` (``noorm certify citus``)."""
