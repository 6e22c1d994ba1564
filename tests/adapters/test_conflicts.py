"""Lock wait timeouts as ConflictError (ISO-4), on real servers, per SQL backend.

The conformance suite provokes deadlocks; a lock wait timeout needs a backend setting
(SQLite's busy timeout, PostgreSQL's ``lock_timeout``, InnoDB's
``innodb_lock_wait_timeout``), so it is pinned here. InnoDB keeps the transaction open
after a lock wait timeout; the adapter rolls it back, so the outcome is the same as on
the other backends: the whole transaction is gone and its block cannot commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from noorm.conformance.models import ITEMS, SCHEMA, item
from noorm.kit import Store
from noorm.spec import Adapter, BackendError, ConflictError, NoOrmError

KEY = {"id": "row"}


def _store(adapter: Adapter) -> Store:
    return Store(SCHEMA, adapter, cursor_key=b"k" * 32)


def check_lock_wait_timeout(holder: Adapter, waiter: Adapter, cause: str) -> None:
    """``waiter`` times out on a row ``holder`` locked: ConflictError, all of it undone."""
    first, second = _store(holder), _store(waiter)
    first.bootstrap()
    first.insert(ITEMS, item("row", i=0))
    with first.transaction() as tx:
        assert tx.get(ITEMS, KEY, for_update=True) is not None
        with pytest.raises(NoOrmError) as ended, second.transaction() as other:
            other.insert(ITEMS, item("mark"))
            with pytest.raises(ConflictError) as caught:
                other.update(ITEMS, {"i": 5}, key=KEY)
            assert isinstance(caught.value, BackendError)
            assert type(caught.value.__cause__).__name__ == cause
            assert caught.value.model == "items"
            with pytest.raises(NoOrmError):
                other.insert(ITEMS, item("late"))
        assert isinstance(ended.value, BackendError)
        tx.update(ITEMS, {"i": 1}, key=KEY)
    assert [(r["id"], r["i"]) for r in first.find(ITEMS).rows] == [("row", 1)]
    with second.transaction() as other:  # the waiter's connection is usable again
        other.insert(ITEMS, item("after"))
    assert second.count(ITEMS) == 2


def test_sqlite_busy_is_a_conflict(tmp_path: Path) -> None:
    from noorm.adapters.sqlite import SQLiteAdapter

    path = tmp_path / "db.sqlite3"
    holder, waiter = SQLiteAdapter(path), SQLiteAdapter(path, timeout=0.2)
    try:
        store, other = _store(holder), _store(waiter)
        store.bootstrap()
        store.insert(ITEMS, item("row", i=0))
        with store.transaction() as tx:
            tx.get(ITEMS, KEY, for_update=True)
            with pytest.raises(ConflictError) as caught, other.transaction():
                pytest.fail("BEGIN IMMEDIATE went through while another connection wrote")
            assert type(caught.value.__cause__).__name__ == "OperationalError"
            with pytest.raises(ConflictError):
                other.update(ITEMS, {"i": 5}, key=KEY)
        row = other.get(ITEMS, KEY)
        assert row is not None and row["i"] == 0
    finally:
        holder.close()
        waiter.close()


def test_a_failed_commit_is_rolled_back(tmp_path: Path) -> None:
    """COMMIT meets a reader's lock (rollback journal): the block's error is a
    ConflictError, the adapter rolls back, so nothing was written and the next
    transaction on the same connection starts cleanly."""
    import sqlite3

    from noorm.adapters.sqlite import SQLiteAdapter

    path = tmp_path / "db.sqlite3"
    adapter = SQLiteAdapter(path, timeout=0.2)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        store = _store(adapter)
        store.bootstrap()
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM items").fetchone() == (0,)  # SHARED lock
        with pytest.raises(ConflictError) as caught, store.transaction() as tx:
            tx.insert(ITEMS, item("lost"))
        assert type(caught.value.__cause__).__name__ == "OperationalError"
        reader.execute("COMMIT")
        assert store.count(ITEMS) == 0
        with store.transaction() as tx:
            tx.insert(ITEMS, item("kept"))
        assert [r["id"] for r in store.find(ITEMS).rows] == ["kept"]
    finally:
        reader.close()
        adapter.close()


@pytest.fixture
def postgres() -> Iterator[tuple[Adapter, Adapter]]:
    if not os.environ.get("NOORM_POSTGRES_URL"):
        pytest.skip("NOORM_POSTGRES_URL is not set")
    import psycopg

    from noorm.adapters.postgres import PostgresAdapter
    from noorm.adapters.postgres.testing import conformance_factory

    holder = conformance_factory()
    assert isinstance(holder, PostgresAdapter)
    conn: Any = psycopg.connect(os.environ["NOORM_POSTGRES_URL"], autocommit=True)
    conn.execute("SET lock_timeout = '200ms'")
    try:
        yield holder, PostgresAdapter(conn, schema=holder.schema)
    finally:
        conn.close()
        holder.close()


def test_postgres_lock_timeout_is_a_conflict(postgres: tuple[Adapter, Adapter]) -> None:
    check_lock_wait_timeout(*postgres, "LockNotAvailable")


@pytest.fixture
def mysql() -> Iterator[tuple[Adapter, Adapter]]:
    if not os.environ.get("NOORM_MYSQL_URL"):
        pytest.skip("NOORM_MYSQL_URL is not set")
    from noorm.adapters.mysql import MySQLAdapter
    from noorm.adapters.mysql.connection import connect, parse_url
    from noorm.adapters.mysql.testing import conformance_factory

    holder = conformance_factory()
    assert isinstance(holder, MySQLAdapter)
    conn = connect(parse_url(os.environ["NOORM_MYSQL_URL"]).with_database(holder.database))
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    try:
        yield holder, MySQLAdapter(conn)
    finally:
        conn.close()
        holder.close()


def test_mysql_lock_wait_timeout_is_a_conflict(mysql: tuple[Adapter, Adapter]) -> None:
    """InnoDB would keep the transaction, and "mark", after error 1205; the adapter
    rolls it back (ISO-4)."""
    check_lock_wait_timeout(*mysql, "OperationalError")
