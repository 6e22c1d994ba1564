"""The async door's cost: AsyncStore on ThreadedAdapter (every backend) and on the
native AsyncPostgresAdapter, against the sync store and against the raw async driver
(psycopg's AsyncConnection, and the same through an AsyncConnectionPool; same
decoding), on one get by key; and throughput of 64 coroutines on 8 lanes (or a pool of
8 connections) against 8 threads on the sync store.

    .venv/bin/python -m benchmarks.async_door [--seconds 2] [--backends sqlite,postgres]

Prints numbers and asserts nothing but that every path read the same row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from noorm.adapters.threaded import ThreadedAdapter
from noorm.kit import AsyncStore, Store
from noorm.spec import Adapter

from .workload import SCHEMA, conversation, conversations

KEY = b"k" * 32
CALLS = 2000
ROUNDS = 5


def _adapter(backend: str, connections: int) -> Adapter:
    if backend == "sqlite":
        from noorm.adapters.sqlite import SQLiteAdapter

        return SQLiteAdapter(os.path.join(tempfile.mkdtemp(), "async.sqlite3"))
    from noorm.adapters.postgres import PostgresAdapter

    url = os.environ.get("NOORM_POSTGRES_URL", "postgresql://noorm:noorm@127.0.0.1:5432/noorm")
    return PostgresAdapter(url, schema="bench_async", max_connections=connections)


def _per_call(run: Callable[[], None]) -> float:
    """Median µs per call over ROUNDS samples of CALLS calls."""
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) / CALLS * 1e6)
    return statistics.median(samples)


async def _aper_call(run: Callable[[], Awaitable[None]]) -> float:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - start) / CALLS * 1e6)
    return statistics.median(samples)


async def _raw_async_get(
    url: str,
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[Any]]]:
    """psycopg's AsyncConnection, the statement prepared by psycopg, rows decoded as the
    store decodes them (dict, JSON parsed, aware UTC datetimes)."""
    import psycopg

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    cur = conn.cursor()
    sql = 'SELECT "id", "created_at", "metadata" FROM "bench_async"."conversations" WHERE "id" = %s'

    async def get() -> Any:
        await cur.execute(sql, ("c1",))
        r = await cur.fetchone()
        assert r is not None
        return {"id": r[0], "created_at": r[1].astimezone(UTC), "metadata": r[2]}

    async def run() -> None:
        for _ in range(CALLS):
            await get()

    return run, get


async def _raw_pool_get(url: str) -> tuple[Callable[[], Awaitable[None]], Any]:
    """The raw get with a connection taken from an AsyncConnectionPool of 8 per call
    (``getconn``/``putconn``)."""
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(url, min_size=8, max_size=8, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    sql = 'SELECT "id", "created_at", "metadata" FROM "bench_async"."conversations" WHERE "id" = %s'

    async def run() -> None:
        for _ in range(CALLS):
            conn = await pool.getconn()  # as the adapter takes one (no context manager)
            try:
                cur = await conn.execute(sql, ("c1",))
                r = await cur.fetchone()
                assert r is not None
                {"id": r[0], "created_at": r[1].astimezone(UTC), "metadata": r[2]}
            finally:
                await pool.putconn(conn)

    return run, pool


async def _tasks_throughput(get: Callable[[], Awaitable[Any]], seconds: float) -> float:
    """Gets per second of 64 coroutines calling ``get`` for ``seconds``."""
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await get()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(64)))
    return done / (time.perf_counter() - start)


def measure(backend: str, seconds: float) -> dict[str, Any]:
    sync_adapter = _adapter(backend, 8)
    store = Store(SCHEMA, sync_adapter, cursor_key=KEY)
    store.bootstrap()
    store.upsert(conversations, conversation("c1", 0, {"user": "1"}), update=["metadata"])
    expected = store.get(conversations, {"id": "c1"})

    def sync_run() -> None:
        for _ in range(CALLS):
            store.get(conversations, {"id": "c1"})

    out: dict[str, Any] = {"backend": backend, "sync_store_us": _per_call(sync_run)}

    async def on_loop() -> None:
        threaded = ThreadedAdapter(sync_adapter, threads=8)
        astore = AsyncStore(SCHEMA, threaded, cursor_key=KEY)
        assert await astore.get(conversations, {"id": "c1"}) == expected

        async def async_run() -> None:
            for _ in range(CALLS):
                await astore.get(conversations, {"id": "c1"})

        out["async_store_us"] = await _aper_call(async_run)
        if backend == "postgres":
            import psycopg

            from noorm.adapters.postgres.async_adapter import AsyncPostgresAdapter

            url = os.environ.get(
                "NOORM_POSTGRES_URL", "postgresql://noorm:noorm@127.0.0.1:5432/noorm"
            )
            raw_run, raw_get = await _raw_async_get(url)
            assert await raw_get() == expected
            pool_run, pool = await _raw_pool_get(url)
            native = AsyncPostgresAdapter(url, schema="bench_async", max_connections=8)
            nstore = AsyncStore(SCHEMA, native, cursor_key=KEY)
            assert await nstore.get(conversations, {"id": "c1"}) == expected
            # The native door on one connection, as the raw path holds one.
            one = await psycopg.AsyncConnection.connect(url, autocommit=True)
            cstore = AsyncStore(
                SCHEMA, AsyncPostgresAdapter(one, schema="bench_async"), cursor_key=KEY
            )
            assert await cstore.get(conversations, {"id": "c1"}) == expected

            async def native_run() -> None:
                for _ in range(CALLS):
                    await nstore.get(conversations, {"id": "c1"})

            async def conn_run() -> None:
                for _ in range(CALLS):
                    await cstore.get(conversations, {"id": "c1"})

            # Interleaved, so that drift in the machine's load hits all four alike.
            raw, pooled, door, on_one = [], [], [], []
            for _ in range(3):
                raw.append(await _aper_call(raw_run))
                pooled.append(await _aper_call(pool_run))
                door.append(await _aper_call(native_run))
                on_one.append(await _aper_call(conn_run))
            out["raw_async_us"] = statistics.median(raw)
            out["raw_pool_us"] = statistics.median(pooled)
            out["native_store_us"] = statistics.median(door)
            out["native_conn_us"] = statistics.median(on_one)
            await one.close()
            out["native_64_tasks_ops_s"] = await _tasks_throughput(
                lambda: nstore.get(conversations, {"id": "c1"}), seconds
            )
            await native.close()
            await pool.close()
        # Throughput: 64 coroutines on 8 lanes, as many gets as they can in `seconds`.
        out["async_64_tasks_ops_s"] = await _tasks_throughput(
            lambda: astore.get(conversations, {"id": "c1"}), seconds
        )

    asyncio.run(on_loop())
    # The same with 8 threads on the sync store.
    counts = [0] * 8
    stop = time.perf_counter() + seconds

    def thread_worker(n: int) -> None:
        while time.perf_counter() < stop:
            store.get(conversations, {"id": "c1"})
            counts[n] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=thread_worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["sync_8_threads_ops_s"] = sum(counts) / (time.perf_counter() - start)
    sync_adapter.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        result = measure(backend, args.seconds)
        print(json.dumps(result))
        line = (
            f"{backend}: get by key: sync store {result['sync_store_us']:.1f} µs, "
            f"AsyncStore+ThreadedAdapter {result['async_store_us']:.1f} µs "
            f"({result['async_store_us'] / result['sync_store_us']:.2f}x sync)"
        )
        if "raw_async_us" in result:
            raw = result["raw_async_us"]
            line += (
                f", raw psycopg AsyncConnection {raw:.1f} µs "
                f"(threaded door/raw {result['async_store_us'] / raw:.2f}x)\n"
                f"{backend}: native AsyncPostgresAdapter {result['native_store_us']:.1f} µs: "
                f"{result['native_store_us'] / raw:.2f}x raw AsyncConnection, "
                f"{result['native_store_us'] / result['raw_pool_us']:.2f}x raw through "
                f"AsyncConnectionPool ({result['raw_pool_us']:.1f} µs); on one borrowed "
                f"AsyncConnection, as raw: {result['native_conn_us']:.1f} µs "
                f"({result['native_conn_us'] / raw:.2f}x raw); 64 tasks on a pool "
                f"of 8: {result['native_64_tasks_ops_s']:.0f} ops/s"
            )
        print(line)
        print(
            f"{backend}: throughput: 64 tasks on 8 lanes {result['async_64_tasks_ops_s']:.0f} "
            f"ops/s, 8 threads on the sync store {result['sync_8_threads_ops_s']:.0f} ops/s"
        )


if __name__ == "__main__":
    main()
