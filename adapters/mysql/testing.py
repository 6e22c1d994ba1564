"""A conformance factory: a MySQLAdapter on a fresh database, dropped on close().

    pytest --pyargs noorm.conformance \\
        --noorm-adapter=noorm.adapters.mysql.testing:conformance_factory

The server URL comes from ``NOORM_MYSQL_URL`` (``eval "$(ci/services)"`` sets it; the
user needs CREATE and DROP on ``noorm_test_*`` databases). Without it, and with a
reachable Docker engine, a throwaway ``mysql:8`` container is started once per process
(testcontainers, ``pip install 'no-orm[containers]'``). Each call creates a database
``noorm_test_<hex>`` through one shared administrative connection and returns an
adapter on it; ``conformance_factory.same_database(adapter)`` opens a second,
independent adapter (its own connections) on the same database, for BOOT-3.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import shutil
import subprocess
import threading
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import pymysql

from noorm.spec import Adapter

from .adapter import MySQLAdapter
from .connection import Connection, ConnectParams, connect, parse_url

__all__ = ["URL_ENV", "ConformanceFactory", "DroppingMySQLAdapter", "conformance_factory"]

URL_ENV = "NOORM_MYSQL_URL"
CONTAINER_IMAGE = "mysql:8"


class DroppingMySQLAdapter(MySQLAdapter):
    """A MySQLAdapter that drops its database when closed (test databases only)."""

    def close(self) -> None:
        if not self._closed:
            # Best effort: the name is unique, so a leftover database harms nothing.
            drop = f"DROP DATABASE IF EXISTS {self.dialect.quote(self.database)}"
            with (
                contextlib.suppress(Exception),
                self._free_session(None) as session,
                session.conn.cursor() as cursor,
            ):
                cursor.execute(drop)
        super().close()


class ConformanceFactory:
    """Callable: each call returns an adapter on a new ``noorm_test_<hex>`` database."""

    def __init__(self, url_env: str = URL_ENV) -> None:
        self._url_env = url_env
        self._admins: dict[str, Connection] = {}
        self._container_url: str | None = None
        self._lock = threading.Lock()

    def url(self) -> str:
        """The server URL: from the environment, else from a container started on demand."""
        url = os.environ.get(self._url_env)
        if url:
            return url
        with self._lock:
            if self._container_url is None:
                self._container_url = _start_container(self._url_env)
            return self._container_url

    def __call__(self) -> Adapter:
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
        return DroppingMySQLAdapter(_url(params, name))

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


def _docker_engine() -> bool:
    """Whether ``docker info`` succeeds (a client *and* a reachable engine)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _start_container(url_env: str) -> str:
    """Start a throwaway MySQL 8 server if a Docker engine answers; its root URL."""
    if not _docker_engine():
        raise RuntimeError(
            f"{url_env} is not set and no Docker engine is reachable: point {url_env} at a "
            "MySQL 8 or MariaDB server (mysql://user:password@host:3306/database, a user "
            'allowed to create databases; eval "$(ci/services)" starts MariaDB and exports it)'
        )
    try:
        module: Any = importlib.import_module("testcontainers.mysql")
    except ImportError as exc:
        raise RuntimeError(
            f"{url_env} is not set; to start a MySQL container install "
            "'no-orm[containers]' (testcontainers), or set the variable"
        ) from exc
    # username "root" makes the container use ``password`` as the root password.
    container = module.MySqlContainer(
        CONTAINER_IMAGE, username="root", password="noorm", dbname="noorm"
    ).start()
    atexit.register(container.stop)
    return str(container.get_connection_url())  # mysql+pymysql://root:noorm@host:port/noorm


conformance_factory = ConformanceFactory()
"""The factory to pass as ``--noorm-adapter=noorm.adapters.mysql.testing:conformance_factory``."""
