"""The built-in adapter factories, and the registry ``noorm certify NAME`` reads.

Each factory returns a fresh adapter on an empty database per call. A backend that
needs a server reads its URL from an environment variable (``noorm certify --url``
sets it), so adding one is one :class:`Target` line plus its factory.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from noorm.spec import Adapter

from .async_door import ThreadedFactory

__all__ = [
    "TARGETS",
    "MemoryFactory",
    "SQLiteFactory",
    "Target",
    "async_doors",
    "memory",
    "sqlite",
]


@dataclass(frozen=True, slots=True)
class Target:
    """A named built-in adapter: its factory (``module:attribute``) and URL variable."""

    name: str
    factory: str
    description: str
    url_env: str | None = None
    """The environment variable holding the server URL; None for serverless backends."""
    native_async: str | None = None
    """The factory of the adapter's native async door; None: the sync adapter on
    worker threads (:class:`~noorm.adapters.threaded.ThreadedAdapter`)."""

    def load(self) -> Callable[[], Adapter]:
        """The factory itself, imported (its driver too, for a server target)."""
        module, _, attribute = self.factory.partition(":")
        factory: Callable[[], Adapter] = getattr(importlib.import_module(module), attribute)
        return factory

    @property
    def async_factory(self) -> str:
        """The factory of the target's async door (``noorm certify NAME --async``)."""
        return f"{__name__}:async_doors.{self.name}"


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("memory", f"{__name__}:memory", "the in-process reference adapter"),
        Target("sqlite", f"{__name__}:sqlite", "SQLite on a fresh temporary file per test"),
        Target(
            "postgres",
            "noorm.adapters.postgres.testing:conformance_factory",
            "PostgreSQL (psycopg 3), fresh schema per test",
            "NOORM_POSTGRES_URL",
            "noorm.adapters.postgres.testing:async_conformance_factory",
        ),
        Target(
            "citus",
            "noorm.adapters.postgres.testing:citus_factory",
            "Citus (distributed PostgreSQL) coordinator, every model partitioned",
            "NOORM_CITUS_URL",
        ),
        Target(
            "mysql",
            "noorm.adapters.mysql.testing:conformance_factory",
            "MySQL 8 / MariaDB (PyMySQL), fresh database per test",
            "NOORM_MYSQL_URL",
            "noorm.adapters.mysql.testing:async_conformance_factory",
        ),
        Target(
            "mongodb",
            "noorm.adapters.mongodb.testing:conformance_factory",
            "MongoDB or FerretDB (pymongo), fresh database per test",
            "NOORM_MONGODB_URL",
            "noorm.adapters.mongodb.testing:async_conformance_factory",
        ),
    )
}


class MemoryFactory:
    """A new in-memory adapter per call: every instance starts empty.

    The database of a memory adapter is the adapter object itself (it is thread-safe),
    so ``same_database`` returns it: threads sharing it are the in-process equivalent
    of two processes sharing a server.
    """

    def __call__(self) -> Adapter:
        from noorm.adapters.memory import MemoryAdapter

        return MemoryAdapter()

    def same_database(self, adapter: Adapter) -> Adapter:
        return adapter


memory = MemoryFactory()


class SQLiteFactory:
    """SQLite on a new temporary file per call; the file goes when the adapter does.

    ``same_database`` opens a second adapter (its own connection) on the same file, which
    is what the concurrent-bootstrap clause needs.
    """

    def __init__(self) -> None:
        self._paths: dict[int, str] = {}

    def __call__(self) -> Adapter:
        from noorm.adapters.sqlite import SQLiteAdapter

        directory = tempfile.mkdtemp(prefix="noorm-conformance-")
        path = os.path.join(directory, "db.sqlite3")
        adapter = SQLiteAdapter(path)
        self._paths[id(adapter)] = path
        weakref.finalize(adapter, self._forget, id(adapter), directory)
        return adapter

    def _forget(self, key: int, directory: str) -> None:
        self._paths.pop(key, None)
        shutil.rmtree(directory, ignore_errors=True)

    def same_database(self, adapter: Adapter) -> Adapter:
        from noorm.adapters.sqlite import SQLiteAdapter

        return SQLiteAdapter(self._paths[id(adapter)])


sqlite = SQLiteFactory()


class _AsyncDoors:
    """``async_doors.NAME``: the async factory of built-in target NAME: its native async
    adapter's, or else its sync adapter on worker threads."""

    def __getattr__(self, name: str) -> Callable[[], object]:
        target = TARGETS.get(name)
        if target is None:
            raise AttributeError(name)
        if target.native_async is not None:
            module, _, attribute = target.native_async.partition(":")
            native: Callable[[], object] = getattr(importlib.import_module(module), attribute)
            return native
        return ThreadedFactory(target.factory)


async_doors = _AsyncDoors()
