"""The async door's cost: AsyncStore on ThreadedAdapter against the sync store, and
against the raw async driver (psycopg's AsyncConnection, same decoding), on one get by
key; and throughput of 64 coroutines on 8 lanes against 8 threads on the sync store.

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
            url = os.environ.get(
                "NOORM_POSTGRES_URL", "postgresql://noorm:noorm@127.0.0.1:5432/noorm"
            )
            raw_run, raw_get = await _raw_async_get(url)
            assert await raw_get() == expected
            out["raw_async_us"] = await _aper_call(raw_run)
        # Throughput: 64 coroutines on 8 lanes, as many gets as they can in `seconds`.
        done = 0
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await astore.get(conversations, {"id": "c1"})
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(64)))
        out["async_64_tasks_ops_s"] = done / (time.perf_counter() - start)

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
            line += (
                f", raw psycopg AsyncConnection {result['raw_async_us']:.1f} µs "
                f"(door/raw {result['async_store_us'] / result['raw_async_us']:.2f}x)"
            )
        print(line)
        print(
            f"{backend}: throughput: 64 tasks on 8 lanes {result['async_64_tasks_ops_s']:.0f} "
            f"ops/s, 8 threads on the sync store {result['sync_8_threads_ops_s']:.0f} ops/s"
        )


if __name__ == "__main__":
    main()
