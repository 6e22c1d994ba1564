"""MySQL/MariaDB's async doors: the native one on aiomysql (AsyncMySQLAdapter), the sync
adapter on worker threads (ThreadedAdapter), and raw aiomysql as their floor.

    pip install 'no-orm[mysql]'   # PyMySQL and aiomysql
    .venv/bin/python -m benchmarks.async_mysql [--seconds 2]

Per get by key (one task, µs): AsyncStore on the native AsyncMySQLAdapter, AsyncStore on
ThreadedAdapter(MySQLAdapter), the sync store, raw aiomysql on one connection and raw
PyMySQL on one connection (both decoding the row as the store does); and gets per
second of 64 tasks on 8 connections: the native door, the threaded door and an
aiomysql pool. Raw aiomysql is the floor of any aiomysql-based
door (the store's own work comes on top of it). Prints numbers; asserts nothing but
that every path read the same row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
from typing import Any
from urllib.parse import urlsplit

from noorm.adapters.threaded import ThreadedAdapter
from noorm.kit import AsyncStore, Store

from .async_door import CALLS, KEY, _aper_call, _per_call, _tasks_throughput
from .workload import SCHEMA, conversation, conversations

SQL = "SELECT `id`, `created_at`, `metadata` FROM `conversations` WHERE `id` = %s"


def _decode(r: Any) -> dict[str, Any]:
    from noorm.adapters.sql.codec import load_json

    return {"id": r[0], "created_at": r[1], "metadata": load_json(r[2])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    import aiomysql
    import pymysql

    from noorm.adapters.mysql import MySQLAdapter
    from noorm.adapters.mysql.async_adapter import AsyncMySQLAdapter

    url = os.environ.get("NOORM_MYSQL_URL", "mysql://noorm:noorm@127.0.0.1:3306/noorm")
    parts = urlsplit(url)
    params = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "",
        "password": parts.password or "",
        "database": parts.path.lstrip("/"),
        "autocommit": True,
    }
    sync_adapter = MySQLAdapter(url, max_connections=8)
    store = Store(SCHEMA, sync_adapter, cursor_key=KEY)
    store.bootstrap()
    store.upsert(conversations, conversation("c1", 0, {"user": "1"}), update=["metadata"])
    expected = store.get(conversations, {"id": "c1"})
    assert expected is not None
    out: dict[str, Any] = {}
    aio_params = {("db" if k == "database" else k): v for k, v in params.items()}

    def sync_run() -> None:
        for _ in range(CALLS):
            store.get(conversations, {"id": "c1"})

    raw_sync = pymysql.connect(**params)

    def raw_sync_run() -> None:
        with raw_sync.cursor() as cur:
            for _ in range(CALLS):
                cur.execute(SQL, ("c1",))
                _decode(cur.fetchone())

    async def on_loop() -> None:
        threaded = ThreadedAdapter(sync_adapter, threads=8)
        astore = AsyncStore(SCHEMA, threaded, cursor_key=KEY)
        assert await astore.get(conversations, {"id": "c1"}) == expected
        native = await AsyncMySQLAdapter(url, max_connections=8).connect()
        nstore = AsyncStore(SCHEMA, native, cursor_key=KEY)
        assert await nstore.get(conversations, {"id": "c1"}) == expected
        conn = await aiomysql.connect(**aio_params)
        cur = await conn.cursor()

        async def raw_get() -> dict[str, Any]:
            await cur.execute(SQL, ("c1",))
            return _decode(await cur.fetchone())

        got = await raw_get()
        assert got["id"] == "c1" and got["metadata"] == expected["metadata"]

        async def door_run() -> None:
            for _ in range(CALLS):
                await astore.get(conversations, {"id": "c1"})

        async def native_run() -> None:
            for _ in range(CALLS):
                await nstore.get(conversations, {"id": "c1"})

        async def raw_run() -> None:
            for _ in range(CALLS):
                await raw_get()

        door, native_door, raw, sync, raws = [], [], [], [], []
        for _ in range(3):  # interleaved: load drift hits every path alike
            native_door.append(await _aper_call(native_run))
            door.append(await _aper_call(door_run))
            raw.append(await _aper_call(raw_run))
            sync.append(_per_call(sync_run))
            raws.append(_per_call(raw_sync_run))
        out["native_door_us"] = statistics.median(native_door)
        out["threaded_door_us"] = statistics.median(door)
        out["raw_aiomysql_us"] = statistics.median(raw)
        out["sync_store_us"] = statistics.median(sync)
        out["raw_pymysql_us"] = statistics.median(raws)
        pool = await aiomysql.create_pool(minsize=8, maxsize=8, **aio_params)

        async def pooled_get() -> None:
            async with pool.acquire() as c, c.cursor() as pc:
                await pc.execute(SQL, ("c1",))
                _decode(await pc.fetchone())

        out["native_door_64_tasks_ops_s"] = await _tasks_throughput(
            lambda: nstore.get(conversations, {"id": "c1"}), args.seconds
        )
        out["threaded_door_64_tasks_ops_s"] = await _tasks_throughput(
            lambda: astore.get(conversations, {"id": "c1"}), args.seconds
        )
        out["raw_aiomysql_pool_64_tasks_ops_s"] = await _tasks_throughput(pooled_get, args.seconds)
        pool.close()
        await pool.wait_closed()
        conn.close()
        await threaded.close()
        await native.close()

    asyncio.run(on_loop())
    raw_sync.close()
    print(json.dumps(out))
    print(
        f"mysql: get by key: native door {out['native_door_us']:.1f} µs, "
        f"threaded door {out['threaded_door_us']:.1f} µs, raw aiomysql "
        f"{out['raw_aiomysql_us']:.1f} µs (the floor of an aiomysql door), sync store "
        f"{out['sync_store_us']:.1f} µs, raw PyMySQL {out['raw_pymysql_us']:.1f} µs; "
        f"64 tasks on 8 connections: native door {out['native_door_64_tasks_ops_s']:.0f} ops/s, "
        f"threaded door {out['threaded_door_64_tasks_ops_s']:.0f} "
        f"ops/s, raw aiomysql pool {out['raw_aiomysql_pool_64_tasks_ops_s']:.0f} ops/s"
    )


if __name__ == "__main__":
    main()
