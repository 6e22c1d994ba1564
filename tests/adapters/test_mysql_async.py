"""The native async MySQL/MariaDB door (aiomysql).

What the conformance suite does not reach: the two ways to construct it, who closes
what, lazy opening, an unreachable server, batches split to fit the packet and their
errors, a connection killed while it rested, and that both doors send the same
statements. Task rules and cancellation run in tests/kit/test_async_store.py on both
async doors.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

pytest.importorskip("aiomysql", reason="pip install 'no-orm[mysql]'")

import aiomysql
import pymysql

from noorm.adapters.mysql import MySQLAdapter
from noorm.adapters.mysql.async_adapter import AsyncMySQLAdapter
from noorm.adapters.mysql.connection import SESSION_SETUP, parse_url
from noorm.adapters.mysql.testing import conformance_factory
from noorm.kit import AsyncStore
from noorm.spec import AsyncAdapter, BackendError, DuplicateKeyError
from noorm.spec.operations import Count, Find, Insert, Upsert

from .support import DOCS, SCHEMA, doc

URL = os.environ.get("NOORM_MYSQL_URL", "")
pytestmark = pytest.mark.skipif(
    not URL, reason='no MySQL/MariaDB server: set NOORM_MYSQL_URL (eval "$(ci/services)")'
)


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(main())


def on_database(main: Callable[[str], Coroutine[Any, Any, Any]]) -> None:
    """``main`` run on the URL of a new, empty database, dropped afterwards."""
    url = conformance_factory.database_url()
    try:
        asyncio.run(main(url))
    finally:
        _drop(url)


def _drop(url: str) -> None:
    params = parse_url(url)
    conn = pymysql.connect(
        host=params.host, port=params.port, user=params.user, password=params.password
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{params.database}`")
    finally:
        conn.close()


async def _borrowed(url: str, **options: Any) -> Any:
    params = parse_url(url)
    settings: dict[str, Any] = {
        "host": params.host,
        "port": params.port,
        "user": params.user,
        "password": params.password,
        "db": params.database,
        "charset": "utf8mb4",
        "autocommit": True,
        "client_flag": pymysql.constants.CLIENT.FOUND_ROWS,
        "init_command": SESSION_SETUP,
    }
    return await aiomysql.connect(**{**settings, **options})


def test_an_owned_pool_opens_on_first_use_and_closes_with_the_adapter() -> None:
    async def main(url: str) -> None:
        adapter = AsyncMySQLAdapter(url, max_connections=2)
        assert isinstance(adapter, AsyncAdapter)
        assert adapter._open_count == 0  # nothing opened yet
        try:
            assert await adapter.bootstrap(SCHEMA)  # opens the first connection
            assert (await adapter.server_version()).split()[0] in ("MariaDB", "MySQL")
            assert adapter.driver_version().startswith("aiomysql ")
            await asyncio.gather(*(adapter.execute(Count(DOCS, None)) for _ in range(10)))
            assert 1 <= adapter._open_count <= 2
        finally:
            await adapter.close()
        assert adapter._open_count == 0
        with pytest.raises(BackendError, match="closed"):
            await adapter.execute(Count(DOCS, None))

    on_database(main)


def test_async_with_opens_and_closes() -> None:
    async def main(url: str) -> None:
        async with AsyncMySQLAdapter(url) as adapter:
            assert adapter.database == parse_url(url).database
            assert adapter.max_allowed_packet > 0
        with pytest.raises(BackendError, match="closed"):
            await adapter.execute(Count(DOCS, None))

    on_database(main)


def test_a_borrowed_connection_is_used_one_call_at_a_time_and_left_open() -> None:
    async def main(url: str) -> None:
        conn = await _borrowed(url)
        try:
            adapter = AsyncMySQLAdapter(conn)
            await adapter.bootstrap(SCHEMA)
            await adapter.execute(Insert(DOCS, (doc(1),)))
            counted = await asyncio.gather(*(adapter.execute(Count(DOCS, None)) for _ in range(5)))
            assert counted == [1] * 5
            await adapter.close()
            assert not conn.closed
            cursor = await conn.cursor()
            await cursor.execute("SELECT COUNT(*) FROM docs")
            assert await cursor.fetchall() == ((1,),)
            await cursor.close()
        finally:
            conn.close()

    on_database(main)


def test_unsuitable_connections_are_refused() -> None:
    async def main(url: str) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"client_flag": 0}, "FOUND_ROWS"),
            ({"autocommit": False}, "autocommit"),
            ({"charset": "latin1"}, "utf8mb4"),
        ]
        for options, match in cases:
            conn = await _borrowed(url, **options)
            with pytest.raises(ValueError, match=match):
                AsyncMySQLAdapter(conn)
            conn.close()
        with pytest.raises(TypeError):
            AsyncMySQLAdapter(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="read_timeout"):
            AsyncMySQLAdapter(url + "?read_timeout=3")

    on_database(main)


def test_an_unreachable_server_is_one_clear_error_without_the_password() -> None:
    async def main() -> None:
        adapter = AsyncMySQLAdapter("mysql://noorm:s3cret@127.0.0.1:1/noorm", connect_timeout=2)
        with pytest.raises(BackendError, match=r"cannot reach a MySQL/MariaDB server at") as e:
            await adapter.execute(Count(DOCS, None))
        assert "s3cret" not in str(e.value)
        assert isinstance(e.value.__cause__, pymysql.err.MySQLError)
        await adapter.close()

    run(main)


def test_a_big_batch_is_split_and_atomic() -> None:
    """A batch over the packet budget is several INSERTs in one transaction: a duplicate
    in its last chunk writes nothing."""

    async def main(url: str) -> None:
        adapter = AsyncMySQLAdapter(url, max_connections=2)
        try:
            await adapter.connect()
            adapter.max_allowed_packet = 8192  # a few rows per statement
            await adapter.bootstrap(SCHEMA)
            await adapter.execute(Insert(DOCS, (doc(5),)))
            batch = (*tuple(doc(n, s="x" * 20) for n in range(100, 400)), doc(5))
            with pytest.raises(DuplicateKeyError) as e:
                await adapter.execute(Insert(DOCS, batch))
            assert e.value.model == "docs"
            assert isinstance(e.value.__cause__, pymysql.err.MySQLError)
            assert await adapter.execute(Count(DOCS, None)) == 1
            await adapter.execute(Insert(DOCS, batch[:-1]))
            assert await adapter.execute(Count(DOCS, None)) == 301
        finally:
            await adapter.close()

    on_database(main)


def test_a_connection_killed_while_it_rested_is_replaced_before_use() -> None:
    async def main(url: str) -> None:
        adapter = AsyncMySQLAdapter(url, max_connections=1)
        try:
            await adapter.bootstrap(SCHEMA)
            (session,) = adapter._idle
            rows = await adapter.drive(session, _connection_id())
            victim = rows[0][0]
            killer = await _borrowed(url)
            cursor = await killer.cursor()
            await cursor.execute("KILL %s", (victim,))
            killer.close()
            deadline = time.monotonic() + 5
            conn: Any = session.conn
            reader = conn._reader  # aiomysql's stream
            while not reader.at_eof() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert await adapter.execute(Count(DOCS, None)) == 0  # a new connection
            assert session not in adapter._idle
        finally:
            await adapter.close()

    on_database(main)


def _connection_id() -> Any:
    from noorm.adapters.sql.program import query

    return query("SELECT CONNECTION_ID()")


def test_a_cancelled_statement_closes_its_connection() -> None:
    async def main(url: str) -> None:
        adapter = AsyncMySQLAdapter(url, max_connections=1)
        try:
            await adapter.bootstrap(SCHEMA)
            (session,) = adapter._idle
            task = asyncio.create_task(adapter.execute(Count(DOCS, None)))
            await asyncio.sleep(0)  # the statement is sent; its answer not read
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await adapter.execute(Count(DOCS, None)) == 0
            assert session not in adapter._idle
        finally:
            await adapter.close()

    on_database(main)


def test_both_doors_send_the_same_statements_and_read_the_same_rows() -> None:
    async def main(url: str) -> None:
        sync = MySQLAdapter(url, max_connections=1)
        native = AsyncMySQLAdapter(url, max_connections=1)
        try:
            assert sync.bootstrap(SCHEMA) != []
            assert await native.bootstrap(SCHEMA) == []  # already there: nothing to do
            assert native.capabilities == sync.capabilities
            assert type(native.dialect) is type(sync.dialect)
            ops: list[Any] = [
                Insert(DOCS, (doc(1, s="a", j={"k": [1, "x"]}),)),
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

    on_database(main)


def test_a_store_runs_on_the_native_door() -> None:
    async def main(url: str) -> None:
        adapter = await AsyncMySQLAdapter(url).connect()
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

    on_database(main)
