"""The backends: where each implementation's namespace lives, created fresh, and how
to open no-orm's adapter on it.

Namespaces: a PostgreSQL schema, a MariaDB database, a MongoDB database, an SQLite file
(or connection, for ``:memory:``), one per implementation, named ``bench_<kind>``. Every
namespace gets its tables from ``store.bootstrap()``, so all three implementations run
on exactly the same tables and indexes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from noorm.kit import Store
from noorm.spec import Adapter

from .workload import SCHEMA

__all__ = [
    "ALL",
    "SQL_BACKENDS",
    "Backend",
    "Namespace",
    "mongodb_url",
    "mysql_params",
    "mysql_url",
    "postgres_url",
    "reachable",
    "sqlite_connect",
]

ALL = ("sqlite", "sqlite-file", "postgres", "mysql", "mongodb")
SQL_BACKENDS = frozenset({"sqlite", "sqlite-file", "postgres", "mysql"})


def postgres_url() -> str:
    return os.environ.get("NOORM_POSTGRES_URL", "postgresql://noorm:noorm@127.0.0.1:5432/noorm")


def mysql_url(database: str | None = None) -> str:
    url = os.environ.get("NOORM_MYSQL_URL", "mysql://noorm:noorm@127.0.0.1:3306/noorm")
    if database is None:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def mongodb_url() -> str:
    return os.environ.get("NOORM_MONGODB_URL", "mongodb://127.0.0.1:27017/")


def sqlite_connect(path: str) -> sqlite3.Connection:
    """An autocommit connection as the adapter opens it; a file gets WAL and
    ``synchronous=NORMAL`` (no fsync per commit) for all three implementations alike."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@dataclass
class Namespace:
    """One implementation's fresh namespace, its tables already bootstrapped."""

    backend: str
    name: str
    sqlite_conn: sqlite3.Connection | None = None
    """SQLite: the connection holding it (for ``:memory:``, the only way in)."""
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for step in reversed(self.cleanup):
            step()
        self.cleanup.clear()


class Backend:
    """Opens fresh namespaces and no-orm adapters on one backend."""

    def __init__(self, name: str) -> None:
        if name not in ALL:
            raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(ALL)}")
        self.name = name
        self._tmp: str | None = None

    @property
    def sql(self) -> bool:
        return self.name in SQL_BACKENDS

    def adapter(self, namespace: str, sqlite_conn: sqlite3.Connection | None = None) -> Adapter:
        """no-orm's adapter on ``namespace``, opened as a host library would."""
        if self.name in ("sqlite", "sqlite-file"):
            from noorm.adapters.sqlite import SQLiteAdapter

            assert sqlite_conn is not None
            return SQLiteAdapter(sqlite_conn)
        if self.name == "postgres":
            from noorm.adapters.postgres import PostgresAdapter

            return PostgresAdapter(postgres_url(), schema=namespace)
        if self.name == "mysql":
            from noorm.adapters.mysql import MySQLAdapter

            return MySQLAdapter(mysql_url(namespace))
        from noorm.adapters.mongodb import MongoAdapter

        return MongoAdapter(mongodb_url(), namespace)

    def sqlite_path(self, namespace: str) -> str:
        if self.name == "sqlite":
            return ":memory:"
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="noorm-bench-")
        return str(Path(self._tmp) / f"{namespace}.sqlite3")

    def drop(self, namespace: str) -> None:
        """Remove ``namespace`` and everything in it (no-op if absent)."""
        if self.name == "postgres":
            import psycopg

            with psycopg.connect(postgres_url(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE')
        elif self.name == "mysql":
            conn = _mysql_admin()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS `{namespace}`")
            finally:
                conn.close()
        elif self.name == "mongodb":
            import pymongo

            client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongodb_url())
            try:
                client.drop_database(namespace)
            finally:
                client.close()
        elif self.name == "sqlite-file":
            for suffix in ("", "-wal", "-shm"):
                Path(self.sqlite_path(namespace) + suffix).unlink(missing_ok=True)

    def fresh(self, namespace: str) -> Namespace:
        """Drop and recreate ``namespace`` with the hebo tables, bootstrapped by no-orm."""
        self.drop(namespace)
        ns = Namespace(self.name, namespace)
        if self.name == "mysql":
            conn = _mysql_admin()
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        f"CREATE DATABASE `{namespace}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    )
            finally:
                conn.close()
        if self.name in ("sqlite", "sqlite-file"):
            ns.sqlite_conn = sqlite_connect(self.sqlite_path(namespace))
            ns.cleanup.append(ns.sqlite_conn.close)
        adapter = self.adapter(namespace, ns.sqlite_conn)
        try:
            Store(SCHEMA, adapter).bootstrap()
        finally:
            adapter.close()
        ns.cleanup.append(lambda: self.drop(namespace))
        return ns

    def server_version(self) -> str:
        if self.name in ("sqlite", "sqlite-file"):
            return f"SQLite {sqlite3.sqlite_version}"
        if self.name == "mysql":
            from noorm.adapters.mysql import MySQLAdapter

            adapter: Adapter = MySQLAdapter(mysql_url())
        else:
            adapter = self.adapter("bench_version")  # creates nothing until bootstrap
        try:
            return adapter.server_version()
        finally:
            adapter.close()

    def available(self) -> str | None:
        """None if the server answers, else why not."""
        try:
            self.server_version()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def reachable(names: list[str]) -> list[Backend]:
    """The backends whose server answers; the others are reported on stderr and skipped."""
    ready = []
    for name in names:
        backend = Backend(name)
        problem = backend.available()
        if problem is None:
            ready.append(backend)
        else:
            print(f"skipping {name}: {problem}", file=sys.stderr)
    return ready


def _mysql_admin() -> Any:
    import pymysql

    parts = urlsplit(mysql_url())
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "",
        password=parts.password or "",
        autocommit=True,
    )


def mysql_params(database: str) -> dict[str, Any]:
    """pymysql.connect keyword arguments for ``database`` (autocommit, utf8mb4, UTC)."""
    parts = urlsplit(mysql_url())
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "",
        "password": parts.password or "",
        "database": database,
        "charset": "utf8mb4",
        "autocommit": True,
        "init_command": "SET SESSION time_zone = '+00:00', "
        "sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
    }
