"""The native async PostgreSQL door (psycopg's AsyncConnection / AsyncConnectionPool).

What the conformance suite does not reach: the three ways to construct it, who closes
what, the connection states it refuses or restores, COPY batches and their errors, and
that both doors send the same statements. Task rules and cancellation run in
tests/kit/test_async_store.py on both async doors.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

pytest.importorskip("psycopg", reason="pip install 'no-orm[postgres]'")

import psycopg
from psycopg_pool import AsyncConnectionPool

from noorm.adapters.postgres import PostgresAdapter
from noorm.adapters.postgres.async_adapter import AsyncPostgresAdapter
from noorm.kit import AsyncStore
from noorm.spec import AsyncAdapter, BackendError, DuplicateKeyError
from noorm.spec.operations import Count, Find, Insert, Upsert

from .support import DOCS, SCHEMA, doc

URL = os.environ.get("NOORM_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(
    not URL, reason='no PostgreSQL server: set NOORM_POSTGRES_URL (eval "$(ci/services)")'
)


def _schema() -> str:
    return f"noorm_test_{uuid.uuid4().hex}"


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(main())


def _closed(pool: AsyncConnectionPool[Any]) -> bool:
    return bool(pool.closed)


async def _drop(schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def test_an_owned_pool_opens_on_first_use_and_closes_with_the_adapter() -> None:
    async def main() -> None:
        schema = _schema()
        adapter = AsyncPostgresAdapter(URL, schema=schema, max_connections=2)
        assert isinstance(adapter, AsyncAdapter)
        try:
            assert await adapter.bootstrap(SCHEMA)  # opens the pool
            assert (await adapter.server_version()).startswith("PostgreSQL ")
            pool = adapter._pool
            assert pool is not None and not _closed(pool)
        finally:
            await adapter.close()
            await _drop(schema)
        assert _closed(pool)
        with pytest.raises(BackendError, match="closed"):
            await adapter.execute(Count(DOCS, None))

    run(main)


def test_a_borrowed_pool_and_connection_stay_open_and_keep_their_mode() -> None:
    async def main() -> None:
        schema = _schema()
        async with AsyncConnectionPool(URL, min_size=1, max_size=2, open=False) as pool:
            adapter = AsyncPostgresAdapter(pool, schema=schema)  # lends non-autocommit ones
            await adapter.bootstrap(SCHEMA)
            await adapter.execute(Insert(DOCS, (doc(1),)))
            await adapter.close()
            assert not pool.closed
            async with pool.connection() as conn:
                assert conn.autocommit is False  # switched for the call and back
        conn = await psycopg.AsyncConnection.connect(URL)  # not in autocommit mode
        try:
            adapter = AsyncPostgresAdapter(conn, schema=schema)
            assert await adapter.execute(Count(DOCS, None)) == 1
            assert conn.autocommit is False
            await conn.execute(b"SELECT 1")  # the host opens a transaction on it
            with pytest.raises(BackendError, match="inside a transaction the adapter did not"):
                await adapter.execute(Count(DOCS, None))
            await conn.rollback()
            await adapter.close()
            assert not conn.closed
        finally:
            await conn.close()
            await _drop(schema)

    run(main)


def test_the_schema_is_looked_up_when_none_is_given() -> None:
    async def main() -> None:
        adapter = AsyncPostgresAdapter(URL)
        try:
            async with adapter:
                assert adapter.schema == "public"
        finally:
            await adapter.close()

    run(main)


def test_an_unreachable_server_is_one_clear_error_without_the_password() -> None:
    async def main() -> None:
        adapter = AsyncPostgresAdapter(
            "postgresql://noorm:s3cret@127.0.0.1:1/noorm", connect_timeout=2
        )
        with pytest.raises(
            BackendError, match=r"cannot connect to PostgreSQL at 127\.0\.0\.1:1"
        ) as e:
            await adapter.execute(Count(DOCS, None))
        assert "s3cret" not in str(e.value)
        assert isinstance(e.value.__cause__, psycopg.Error)
        await adapter.close()

    run(main)


def test_copy_batches_are_atomic_and_their_errors_portable() -> None:
    """A batch of 16+ rows is one COPY: a duplicate anywhere writes nothing."""

    async def main() -> None:
        schema = _schema()
        adapter = AsyncPostgresAdapter(URL, schema=schema, max_connections=2)
        try:
            await adapter.bootstrap(SCHEMA)
            await adapter.execute(Insert(DOCS, tuple(doc(n) for n in range(40))))
            assert await adapter.execute(Count(DOCS, None)) == 40
            batch = (*tuple(doc(n) for n in range(100, 130)), doc(5))
            with pytest.raises(DuplicateKeyError) as e:
                await adapter.execute(Insert(DOCS, batch))
            assert e.value.model == "docs"
            assert isinstance(e.value.__cause__, psycopg.Error)
            assert await adapter.execute(Count(DOCS, None)) == 40
            with pytest.raises(RuntimeError):
                async with adapter.transaction() as tx:  # COPY inside a transaction
                    await tx.execute(Insert(DOCS, batch[:-1]))
                    assert await tx.execute(Count(DOCS, None)) == 70
                    raise RuntimeError("roll it back")
            assert await adapter.execute(Count(DOCS, None)) == 40
            async with adapter.transaction() as tx:
                await tx.execute(Insert(DOCS, batch[:-1]))
            assert await adapter.execute(Count(DOCS, None)) == 70
        finally:
            await adapter.close()
            await _drop(schema)

    run(main)


def test_both_doors_send_the_same_statements_and_read_the_same_rows() -> None:
    async def main() -> None:
        schema = _schema()
        sync = PostgresAdapter(URL, schema=schema, max_connections=1)
        native = AsyncPostgresAdapter(URL, schema=schema, max_connections=1)
        try:
            assert sync.bootstrap(SCHEMA) != []
            assert await native.bootstrap(SCHEMA) == []  # already there: nothing to do
            ops: list[Any] = [
                Insert(DOCS, (doc(1, s="a"),)),
                Upsert(DOCS, doc(1, s="b"), ("s",)),
                Find(DOCS, None, ()),
                Count(DOCS, None),
            ]
            for op in ops:
                assert native.statement(op) == sync.statement(op)
            await native.execute(ops[0])
            assert await native.execute(ops[1]) == sync.execute(Upsert(DOCS, doc(1, s="b"), ()))
            assert await native.execute(ops[2]) == sync.execute(ops[2])
        finally:
            sync.close()
            await native.close()
            await _drop(schema)

    run(main)


def test_a_store_runs_on_the_native_door() -> None:
    async def main() -> None:
        schema = _schema()
        adapter = AsyncPostgresAdapter(URL, schema=schema)
        store = AsyncStore(SCHEMA, adapter, cursor_key=b"k" * 32)
        try:
            await store.bootstrap()
            rows = store.rows(DOCS)
            await rows.insert_many([doc(n) for n in range(30)])
            page = await rows.find(order_by="id", limit=7)
            assert [r["id"] for r in page.rows] == [doc(n)["id"] for n in range(7)]
            assert page.next_cursor is not None
        finally:
            await adapter.close()
            await _drop(schema)

    run(main)


def test_a_borrowed_connection_serves_concurrent_tasks_one_call_at_a_time() -> None:
    """psycopg refuses a second query on a connection while one runs; the adapter's
    lock queues the tasks instead, transactions included."""

    async def main() -> None:
        schema = _schema()
        conn = await psycopg.AsyncConnection.connect(URL, autocommit=True)
        adapter = AsyncPostgresAdapter(conn, schema=schema)
        try:
            await adapter.bootstrap(SCHEMA)

            async def write(n: int) -> None:
                if n % 3:
                    await adapter.execute(Insert(DOCS, (doc(n),)))
                    return
                async with adapter.transaction() as tx:
                    await tx.execute(Insert(DOCS, (doc(n),)))
                    assert await tx.execute(Count(DOCS, None)) >= 1

            await asyncio.gather(*(write(n) for n in range(30)))
            counts = await asyncio.gather(*(adapter.execute(Count(DOCS, None)) for _ in range(10)))
            assert counts == [30] * 10
        finally:
            await adapter.close()
            await conn.close()
            await _drop(schema)

    run(main)


def test_a_statement_cancelled_mid_flight_gives_its_connection_back() -> None:
    """A task cancelled while its statement runs: the connection goes back to the pool
    (which replaces it if it is not idle), and the next call works, on a pool of one."""
    from noorm.adapters.sql import query

    async def main() -> None:
        schema = _schema()
        adapter = AsyncPostgresAdapter(URL, schema=schema, max_connections=1)
        try:
            await adapter.bootstrap(SCHEMA)

            async def slow() -> None:
                async with adapter.session() as session:
                    await adapter.drive(session, query("SELECT pg_sleep(5)"))

            task = asyncio.create_task(slow())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for n in range(3):  # the one connection serves again, within seconds
                await asyncio.wait_for(adapter.execute(Insert(DOCS, (doc(n),))), 4)
            assert await asyncio.wait_for(adapter.execute(Count(DOCS, None)), 4) == 3
        finally:
            await adapter.close()
            await _drop(schema)

    run(main)
