"""Bulk loading for the scale benchmark: one big conversation among many small ones,
written with each driver's bulk path straight into the tables ``store.bootstrap()``
created, in exactly the form the adapter writes (checked by :func:`verify`).

Stored forms, per the adapters' codecs: SQLite keeps timestamps as INTEGER epoch
milliseconds and JSON as compact text; PostgreSQL TIMESTAMPTZ and JSONB; MariaDB
DATETIME(3) holding the UTC wall clock and JSON as compact LONGTEXT; MongoDB a BSON
date, and a composite key as ``_id: {conversation_id, id}`` plus the key fields at top
level.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from noorm.kit import Store

from .backends import Backend, Namespace, mongodb_url, mysql_params, postgres_url
from .workload import BASE, Row, conversation_items, conversations

__all__ = ["BIG", "Layout", "Loader", "loader_for", "verify"]

BIG = "conv-big"
OTHER_ITEMS = 100
CHUNK = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class Layout:
    """``rows`` items in all: half of them in BIG, the rest 100 per other conversation."""

    rows: int

    @property
    def big(self) -> int:
        return self.rows // 2

    @property
    def others(self) -> int:
        return max(1, (self.rows - self.big) // OTHER_ITEMS)

    @property
    def deep(self) -> int:
        """The position (0 = newest) half-way into BIG: where the deep page starts."""
        return self.big // 2

    def big_id(self, k: int) -> str:
        """BIG's k-th item, oldest first; two items share each millisecond (ties on id)."""
        return f"it-{k:09d}"

    def big_item(self, k: int) -> Row:
        return _item(BIG, self.big_id(k), k // 2, k)

    def at_position(self, p: int) -> Row:
        """BIG's item at position ``p`` of the newest-first order."""
        return self.big_item(self.big - 1 - p)

    def conversations(self) -> Iterator[Row]:
        yield {"id": BIG, "created_at": BASE, "metadata": {"user": "big"}}
        for m in range(self.others):
            created = BASE + timedelta(milliseconds=m)
            yield {"id": f"conv-{m:07d}", "created_at": created, "metadata": {"user": f"u{m % 7}"}}

    def items(self) -> Iterator[Row]:
        """Every item, BIG's interleaved in time with the others'."""
        per_other = self.others * OTHER_ITEMS
        for k in range(max(self.big, per_other)):
            if k < self.big:
                yield self.big_item(k)
            if k < per_other:
                m, j = divmod(k, OTHER_ITEMS)
                yield _item(f"conv-{m:07d}", f"ot-{j:04d}", k * self.big // per_other // 2, k)


def _item(cid: str, iid: str, ms: int, n: int) -> Row:
    data = {
        "id": iid,
        "type": "message",
        "role": "user" if n % 2 else "assistant",
        "content": [{"type": "input_text", "text": f"message {n}"}],
    }
    created = BASE + timedelta(milliseconds=ms)
    return {
        "id": iid,
        "conversation_id": cid,
        "created_at": created,
        "type": "message",
        "data": data,
    }


def _chunks(rows: Iterable[Row], size: int = CHUNK) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class Loader(ABC):
    """Writes rows with the driver's bulk path; reads back a row's stored form."""

    @abstractmethod
    def load(self, table: str, rows: Iterable[Row]) -> None: ...

    @abstractmethod
    def stored_item(self, cid: str, iid: str) -> Any:
        """The item's stored columns (or document) without its id, as the driver reads them."""

    def analyze(self) -> None:  # noqa: B027 (optional)
        """Refresh the planner's statistics, as the server's own background job would."""

    @abstractmethod
    def close(self) -> None: ...


class SQLiteLoader(Loader):
    """executemany of one prepared INSERT in one transaction: sqlite3's fastest path."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def load(self, table: str, rows: Iterable[Row]) -> None:
        if table == "conversations":
            sql = 'INSERT INTO "conversations" VALUES (?, ?, ?)'
            params: Iterator[tuple[Any, ...]] = (
                (r["id"], (r["created_at"] - EPOCH) // _MS, _dumps(r["metadata"])) for r in rows
            )
        else:
            sql = 'INSERT INTO "conversation_items" VALUES (?, ?, ?, ?, ?)'
            params = (
                (
                    r["id"],
                    r["conversation_id"],
                    (r["created_at"] - EPOCH) // _MS,
                    r["type"],
                    _dumps(r["data"]),
                )
                for r in rows
            )
        self.conn.execute("BEGIN")
        self.conn.executemany(sql, params)
        self.conn.execute("COMMIT")

    def stored_item(self, cid: str, iid: str) -> Any:
        return self.conn.execute(
            'SELECT "conversation_id", "created_at", "type", "data" FROM "conversation_items" '
            'WHERE "conversation_id" = ? AND "id" = ?',
            (cid, iid),
        ).fetchone()

    def close(self) -> None:
        pass  # the namespace owns the connection


class PostgresLoader(Loader):
    """COPY ... FROM STDIN (text format): timestamps with their offset, JSON as text."""

    def __init__(self, schema: str) -> None:
        import psycopg

        self.schema = schema
        self.conn = psycopg.connect(postgres_url(), autocommit=True)

    def load(self, table: str, rows: Iterable[Row]) -> None:
        name = f'"{self.schema}"."{table}"'
        with self.conn.transaction(), self.conn.cursor() as cur:
            if table == "conversations":
                copy = f'COPY {name} ("id", "created_at", "metadata") FROM STDIN'
                with cur.copy(copy) as c:
                    for r in rows:
                        c.write_row((r["id"], r["created_at"], _dumps(r["metadata"])))
            else:
                cols = '"id", "conversation_id", "created_at", "type", "data"'
                with cur.copy(f"COPY {name} ({cols}) FROM STDIN") as c:
                    for r in rows:
                        c.write_row(
                            (
                                r["id"],
                                r["conversation_id"],
                                r["created_at"],
                                r["type"],
                                _dumps(r["data"]),
                            )
                        )

    def stored_item(self, cid: str, iid: str) -> Any:
        table = f'"{self.schema}"."conversation_items"'
        sql = f'SELECT "conversation_id", "created_at", "type", "data"::text FROM {table} '  # noqa: S608
        return self.conn.execute(
            sql + 'WHERE "conversation_id" = %s AND "id" = %s', (cid, iid)
        ).fetchone()

    def analyze(self) -> None:
        self.conn.execute(f'ANALYZE "{self.schema}"."conversations"')
        self.conn.execute(f'ANALYZE "{self.schema}"."conversation_items"')

    def close(self) -> None:
        self.conn.close()


class MySQLLoader(Loader):
    """Multi-row INSERTs (PyMySQL's executemany), CHUNK rows each, in one transaction."""

    def __init__(self, database: str) -> None:
        import pymysql

        self.conn = pymysql.connect(**mysql_params(database))

    def load(self, table: str, rows: Iterable[Row]) -> None:
        with self.conn.cursor() as cur:
            self.conn.begin()
            for chunk in _chunks(rows):
                if table == "conversations":
                    cur.executemany(
                        "INSERT INTO `conversations` VALUES (%s, %s, %s)",
                        [(r["id"], _naive(r["created_at"]), _dumps(r["metadata"])) for r in chunk],
                    )
                else:
                    cur.executemany(
                        "INSERT INTO `conversation_items` VALUES (%s, %s, %s, %s, %s)",
                        [
                            (
                                r["id"],
                                r["conversation_id"],
                                _naive(r["created_at"]),
                                r["type"],
                                _dumps(r["data"]),
                            )
                            for r in chunk
                        ],
                    )
            self.conn.commit()

    def stored_item(self, cid: str, iid: str) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT `conversation_id`, `created_at`, `type`, `data` FROM `conversation_items` "
                "WHERE `conversation_id` = %s AND `id` = %s",
                (cid, iid),
            )
            return cur.fetchone()

    def analyze(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("ANALYZE TABLE `conversations`, `conversation_items`")
            cur.fetchall()

    def close(self) -> None:
        self.conn.close()


class MongoLoader(Loader):
    """insert_many(ordered=False) of CHUNK documents in the adapter's layout."""

    def __init__(self, database: str) -> None:
        from pymongo import MongoClient

        self.client: Any = MongoClient(mongodb_url(), tz_aware=True, tzinfo=UTC)
        self.db = self.client[database]

    def load(self, table: str, rows: Iterable[Row]) -> None:
        coll = self.db[table]
        for chunk in _chunks(rows):
            if table == "conversations":
                docs = [
                    {"_id": r["id"], "created_at": r["created_at"], "metadata": r["metadata"]}
                    for r in chunk
                ]
            else:
                docs = [
                    {
                        "_id": {"0": r["conversation_id"], "1": r["id"]},
                        "id": r["id"],
                        "conversation_id": r["conversation_id"],
                        "created_at": r["created_at"],
                        "type": r["type"],
                        "data": r["data"],
                    }
                    for r in chunk
                ]
            coll.insert_many(docs, ordered=False)

    def stored_item(self, cid: str, iid: str) -> Any:
        doc = self.db["conversation_items"].find_one({"conversation_id": cid, "id": iid})
        if doc is None:
            return None
        del doc["_id"], doc["id"]
        doc["data"].pop("id", None)
        return list(doc.items())

    def close(self) -> None:
        self.client.close()


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def loader_for(backend: Backend, ns: Namespace) -> Loader:
    if backend.name in ("sqlite", "sqlite-file"):
        assert ns.sqlite_conn is not None
        return SQLiteLoader(ns.sqlite_conn)
    if backend.name == "postgres":
        return PostgresLoader(ns.name)
    if backend.name == "mysql":
        return MySQLLoader(ns.name)
    return MongoLoader(ns.name)


def verify(store: Store, loader: Loader, layout: Layout) -> list[str]:
    """Problems found (none: the loaded rows are what the adapter would have written).

    1. A few loaded rows read back through the store equal the generated rows, and the
       store counts BIG's items right.
    2. A probe item written by the store and its twin written by the loader have the
       same stored form (columns or document, the id aside).
    """
    problems = []
    for k in (0, 1, layout.big // 2, layout.big - 1):
        want = layout.big_item(k)
        got = store.get(conversation_items, {"conversation_id": BIG, "id": want["id"]})
        if got != want:
            problems.append(f"item {want['id']}: the store reads {got!r}, loaded {want!r}")
    want_conv = next(layout.conversations())
    if (got_conv := store.get(conversations, {"id": BIG})) != want_conv:
        problems.append(f"conversation {BIG}: the store reads {got_conv!r}")
    if (n := store.count(conversation_items, {"conversation_id": BIG})) != layout.big:
        problems.append(f"count of {BIG}'s items: {n}, loaded {layout.big}")
    probe = _item("conv-probe", "probe-store", 123_456, 7)
    twin = {**probe, "id": "probe-load", "data": {**probe["data"], "id": "probe-load"}}
    probe["data"]["id"] = "probe-store"
    store.insert(conversation_items, probe)
    loader.load("conversation_items", [twin])
    by_store = loader.stored_item("conv-probe", "probe-store")
    by_loader = loader.stored_item("conv-probe", "probe-load")
    if by_store is None or _without_ids(by_store) != _without_ids(by_loader):
        problems.append(f"stored forms differ: store {by_store!r}, loader {by_loader!r}")
    store.delete(conversation_items, where={"conversation_id": "conv-probe"})
    return problems


def _without_ids(stored: Any) -> Any:
    """A stored row with the item id removed from its JSON data (the ids differ)."""
    if stored is None:
        return None
    return [
        s.replace("probe-store", "").replace("probe-load", "") if isinstance(s, str) else s
        for s in stored
    ]
