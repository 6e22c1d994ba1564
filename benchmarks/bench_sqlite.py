"""Per-operation overhead of the no-orm store over the raw sqlite3 driver.

Prints microseconds per operation for the same work done through ``Store`` on the
SQLite adapter and through hand-written SQL on ``sqlite3``, and the ratio. Numbers,
not assertions: run it, compare runs.

    .venv/bin/python benchmarks/bench_sqlite.py [N]
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from noorm.adapters.memory import MemoryAdapter
from noorm.adapters.sqlite import SQLiteAdapter
from noorm.kit import Store
from noorm.spec import desc, eq, path
from noorm.spec.values import to_epoch_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from hebo_gateway.models import SCHEMA, conversations

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def timed(label: str, n: int, fn: Callable[[int], Any]) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    per_op = (time.perf_counter() - start) / n * 1e6
    print(f"  {label:<34} {per_op:9.1f} us/op")
    return per_op


def row(i: int) -> dict[str, Any]:
    return {
        "id": f"c{i:08d}",
        "created_at": BASE + timedelta(milliseconds=i),
        "metadata": {"user": str(i % 10)},
    }


def bench_store(store: Store, n: int) -> dict[str, float]:
    store.bootstrap()
    return {
        "insert": timed("insert (one row)", n, lambda i: store.insert(conversations, row(i))),
        "get": timed(
            "get by primary key", n, lambda i: store.get(conversations, {"id": f"c{i:08d}"})
        ),
        "find": timed(
            "find 20 by json path, ordered",
            n // 10,
            lambda i: store.find(
                conversations,
                eq(path("metadata", "user"), str(i % 10)),
                order_by=[desc("created_at"), desc("id")],
                limit=20,
            ),
        ),
        "insert_many": timed(
            "insert_many (100 rows)",
            n // 100,
            lambda i: store.insert_many(conversations, [row(n + i * 100 + j) for j in range(100)]),
        ),
    }


def bench_raw(conn: sqlite3.Connection, n: int) -> dict[str, float]:
    conn.execute(
        'CREATE TABLE "conversations" ("id" TEXT NOT NULL PRIMARY KEY, "created_at" INTEGER NOT NULL, "metadata" TEXT) STRICT'
    )
    conn.execute('CREATE INDEX "ix" ON "conversations" ("created_at" DESC, "id" DESC)')

    def insert(i: int) -> None:
        r = row(i)
        conn.execute(
            'INSERT INTO "conversations" VALUES (?, ?, ?)',
            (r["id"], to_epoch_ms(r["created_at"]), json.dumps(r["metadata"])),
        )

    def get(i: int) -> Any:
        found = conn.execute(
            'SELECT "id", "created_at", "metadata" FROM "conversations" WHERE "id" = ?',
            (f"c{i:08d}",),
        ).fetchone()
        return (found[0], datetime.fromtimestamp(found[1] / 1000, UTC), json.loads(found[2]))

    def find(i: int) -> Any:
        rows = conn.execute(
            'SELECT "id", "created_at", "metadata" FROM "conversations" WHERE json_type("metadata", \'$.user\') = \'text\' '
            'AND json_extract("metadata", \'$.user\') = ? ORDER BY "created_at" DESC, "id" DESC LIMIT 21',
            (str(i % 10),),
        ).fetchall()
        return [(r[0], datetime.fromtimestamp(r[1] / 1000, UTC), json.loads(r[2])) for r in rows]

    def insert_many(i: int) -> None:
        batch = [row(n + i * 100 + j) for j in range(100)]
        conn.execute("BEGIN")  # one atomic batch, as insert_many is
        conn.executemany(
            'INSERT INTO "conversations" VALUES (?, ?, ?)',
            [(r["id"], to_epoch_ms(r["created_at"]), json.dumps(r["metadata"])) for r in batch],
        )
        conn.execute("COMMIT")

    return {
        "insert": timed("insert (one row)", n, insert),
        "get": timed("get by primary key", n, get),
        "find": timed("find 20 by json path, ordered", n // 10, find),
        "insert_many": timed("insert_many (100 rows)", n // 100, insert_many),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        print(f"raw sqlite3 (autocommit), n={n}")
        raw_conn = sqlite3.connect(Path(tmp) / "raw.sqlite3", isolation_level=None)
        raw_conn.execute("PRAGMA journal_mode=WAL")
        raw = bench_raw(raw_conn, n)
        raw_conn.close()
        print(f"no-orm Store on SQLiteAdapter, n={n}")
        noorm_conn = sqlite3.connect(
            Path(tmp) / "noorm.sqlite3", isolation_level=None, check_same_thread=False
        )
        noorm_conn.execute("PRAGMA journal_mode=WAL")
        adapter = SQLiteAdapter(noorm_conn)
        ours = bench_store(Store(SCHEMA, adapter), n)
        adapter.close()
        noorm_conn.close()
    print(f"no-orm Store on MemoryAdapter, n={n}")
    bench_store(Store(SCHEMA, MemoryAdapter()), n)
    print("overhead (no-orm / raw):")
    for op, raw_us in raw.items():
        print(f"  {op:<12} {ours[op] / raw_us:5.2f}x  (+{ours[op] - raw_us:.1f} us/op)")


if __name__ == "__main__":
    main()
