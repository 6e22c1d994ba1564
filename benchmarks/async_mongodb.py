"""The native async MongoDB adapter's cost: AsyncMongoAdapter against raw
``AsyncMongoClient`` calls (same document layout, same decoding: rows as dicts, aware
UTC datetimes) on a get by key, a one-row insert and a page of 20 items; and the
throughput of 64 tasks doing gets through each. Both share one event loop and server.

    .venv/bin/python -m benchmarks.async_mongodb [--seconds 2]

NOORM_MONGODB_URL names the server (``eval "$(ci/services)"`` starts FerretDB). Prints
numbers and asserts nothing but that both paths read the same rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from pymongo import AsyncMongoClient

from noorm.adapters.mongodb import AsyncMongoAdapter
from noorm.spec import Find, Insert, Order, eq

from .async_door import CALLS, _aper_call, _tasks_throughput
from .raw_mongo import _SORT, _conv, _conv_doc, _item
from .workload import PAGE, SCHEMA, conversation, conversation_items, conversations, item

URL = os.environ.get("NOORM_MONGODB_URL", "mongodb://127.0.0.1:27017/")
GET = Find(conversations, eq("id", "c1"), (Order("id"),), 1)
"""The kit's get by key: limit 1, ordered by the key."""
PAGE_OP = Find(
    conversation_items,
    eq("conversation_id", "conv-list"),
    (Order("created_at", True), Order("id", True)),
    PAGE + 1,
)


async def measure(seconds: float) -> dict[str, Any]:
    """Median µs per call (``_aper_call``: ROUNDS samples of CALLS calls) of each
    operation through each path, then each path's 64-task throughput."""
    name = f"noorm_bench_{uuid.uuid4().hex}"
    adapter = await AsyncMongoAdapter.open(URL, name)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(URL, tz_aware=True, tzinfo=UTC)
    db = client[name]
    out: dict[str, Any] = {"backend": await adapter.server_version(), "calls": CALLS}
    try:
        await adapter.bootstrap(SCHEMA)
        await adapter.execute(Insert(conversations, (conversation("c1", 0, {"user": "1"}),)))
        rows = tuple(item("conv-list", f"i{n:04}", n, n) for n in range(100))
        await adapter.execute(Insert(conversation_items, rows))

        async def raw_get() -> Any:
            doc = await db["conversations"].find_one({"_id": "c1"})
            return None if doc is None else _conv(doc)

        async def raw_page() -> list[Any]:
            cursor = db["conversation_items"].find(
                {"conversation_id": "conv-list"}, sort=_SORT, limit=PAGE + 1
            )
            return [_item(d) for d in await cursor.to_list()]

        assert await adapter.execute(GET) == [await raw_get()]
        assert await adapter.execute(PAGE_OP) == await raw_page()

        def loop(call: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for _ in range(CALLS):
                    await call()

            return run

        seq = iter(range(10**9))

        def fresh() -> Any:
            return conversation(f"x{next(seq)}", 0, {"user": "1"})

        out["get_us"] = await _aper_call(loop(lambda: adapter.execute(GET)))
        out["raw_get_us"] = await _aper_call(loop(raw_get))
        out["insert_us"] = await _aper_call(
            loop(lambda: adapter.execute(Insert(conversations, (fresh(),))))
        )
        out["raw_insert_us"] = await _aper_call(
            loop(lambda: db["conversations"].insert_one(_conv_doc(fresh())))
        )
        out["page20_us"] = await _aper_call(loop(lambda: adapter.execute(PAGE_OP)))
        out["raw_page20_us"] = await _aper_call(loop(raw_page))
        out["tasks64_ops_s"] = await _tasks_throughput(lambda: adapter.execute(GET), seconds)
        out["raw_tasks64_ops_s"] = await _tasks_throughput(raw_get, seconds)
    finally:
        await adapter.close()
        await client.drop_database(name)
        await client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    result = asyncio.run(measure(args.seconds))
    print(json.dumps(result))
    print(f"{result['backend']}: per-op wall time, AsyncMongoAdapter vs raw AsyncMongoClient")
    for op, key in (("get by key", "get"), ("insert 1 row", "insert"), ("page of 20", "page20")):
        ours, raw = result[f"{key}_us"], result[f"raw_{key}_us"]
        print(f"  {op:<13} {ours:8.1f} µs vs {raw:8.1f} µs ({ours / raw:.2f}x)")
    ours, raw = result["tasks64_ops_s"], result["raw_tasks64_ops_s"]
    print(f"  64 tasks, get: {ours:.0f} ops/s vs {raw:.0f} ops/s ({ours / raw:.2f}x)")


if __name__ == "__main__":
    main()
