"""A conformance factory: a PostgresAdapter on a fresh schema, dropped on close().

    pytest --pyargs noorm.conformance \\
        --noorm-adapter=noorm.adapters.postgres.testing:conformance_factory

The server URL comes from ``NOORM_POSTGRES_URL`` (``eval "$(ci/services)"`` sets it).
Without it, and with a Docker engine reachable, a throwaway ``postgres:16`` container
is started with testcontainers (``pip install 'no-orm[containers]'``) and stopped at
exit. Each adapter gets a new ``noorm_test_<uuid>`` schema, with every table
schema-qualified, so one pool per URL serves every test: a test costs a schema, not a
connection. ``conformance_factory.same_database(adapter)`` opens a second, independent
adapter (its own pool) on the same schema, for BOOT-3.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import threading
import uuid
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from noorm.spec import Adapter, BackendError

from .adapter import CONNECT_TIMEOUT, PostgresAdapter, connect_error

__all__ = ["URL_ENV", "ConformanceFactory", "DroppingPostgresAdapter", "conformance_factory"]

URL_ENV = "NOORM_POSTGRES_URL"
CONTAINER_IMAGE = "postgres:16"


class DroppingPostgresAdapter(PostgresAdapter):
    """A PostgresAdapter that drops its schema when closed (test schemas only)."""

    def close(self) -> None:
        if not self._closed and self.schema is not None:
            # Best effort: the name is unique, so a leftover schema harms nothing.
            with contextlib.suppress(BackendError, psycopg.Error), self._session() as session:
                drop = f"DROP SCHEMA IF EXISTS {self.dialect.quote(self.schema)} CASCADE"
                session.conn.execute(drop.encode())
        super().close()


class ConformanceFactory:
    """Callable: each call returns an adapter on a new ``noorm_test_<uuid>`` schema."""

    def __init__(self, url_env: str = URL_ENV) -> None:
        self._url_env = url_env
        self._pools: dict[str, ConnectionPool[Any]] = {}
        self._container_url: str | None = None
        self._lock = threading.Lock()

    def url(self) -> str:
        url = os.environ.get(self._url_env)
        if url:
            return url
        with self._lock:
            if self._container_url is None:
                self._container_url = _start_container(self._url_env)
            return self._container_url

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


def _start_container(url_env: str) -> str:
    """The URL of a throwaway PostgreSQL container, or a RuntimeError saying what to do."""
    docker = shutil.which("docker")
    reachable = False
    if docker is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            reachable = (
                subprocess.run(
                    [docker, "info"], capture_output=True, timeout=15, check=False
                ).returncode
                == 0
            )
    if not reachable:
        raise RuntimeError(
            f"{url_env} is not set and no Docker engine is reachable: point {url_env} at a "
            'PostgreSQL server (eval "$(ci/services)" starts one and exports it), e.g. '
            "postgresql://user:password@127.0.0.1:5432/database"
        )
    try:
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RuntimeError(
            f"{url_env} is not set; to start a {CONTAINER_IMAGE} container instead, "
            "pip install 'no-orm[containers]'"
        ) from exc
    container = PostgresContainer(CONTAINER_IMAGE, driver=None).start()
    atexit.register(container.stop)
    return str(container.get_connection_url())


conformance_factory = ConformanceFactory()
"""The factory to pass as ``--noorm-adapter=noorm.adapters.postgres.testing:conformance_factory``."""
