"""The workload in hand-written SQL on the drivers: sqlite3, psycopg 3, PyMySQL.

What a careful engineer writes: one connection in autocommit mode and one reused
cursor, statement texts built once (sqlite3 caches prepared statements by text; psycopg
prepares a statement server-side after its 5th use), keyset pagination on
``(created_at, id)``, and the same decoding as the store: dict rows, JSON parsed,
aware UTC datetimes.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pymysql
from psycopg.types.json import Jsonb
from pymysql.constants import CLIENT

from .workload import PAGE, Impl, Row

__all__ = ["RawMySQL", "RawPostgres", "RawSQLite"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_loads = json.loads
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

CONV_COLS = '"id", "created_at", "metadata"'
ITEM_COLS = '"id", "conversation_id", "created_at", "type", "data"'


def _page(rows: list[Row]) -> tuple[list[Row], Any]:
    """The first PAGE rows, and the keyset cursor (created_at, id) of the last one."""
    if len(rows) <= PAGE:
        return rows, None
    del rows[PAGE:]
    last = rows[-1]
    return rows, (last["created_at"], last["id"])


class _SQLStatements:
    """The statements of one SQL dialect; ``q`` quotes, ``p`` is the placeholder."""

    def __init__(self, conv: str, items: str, q: str, p: str, keyset: str) -> None:
        c, i = conv, items
        cc, ic = CONV_COLS.replace('"', q), ITEM_COLS.replace('"', q)
        self.insert_conv = f"INSERT INTO {c} ({cc}) VALUES ({p}, {p}, {p})"  # noqa: S608
        self.get_conv = f"SELECT {cc} FROM {c} WHERE {q}id{q} = {p}"  # noqa: S608
        order = f"ORDER BY {q}created_at{q} DESC, {q}id{q} DESC LIMIT {PAGE + 1}"
        where = f"WHERE {q}conversation_id{q} = {p}"
        self.page1 = f"SELECT {ic} FROM {i} {where} {order}"  # noqa: S608
        self.page2 = f"SELECT {ic} FROM {i} {where} AND {keyset} {order}"  # noqa: S608
        self.insert_item = f"INSERT INTO {i} ({ic}) VALUES ({p}, {p}, {p}, {p}, {p})"  # noqa: S608
        self.update = f"UPDATE {c} SET {q}metadata{q} = {p} WHERE {q}id{q} = {p}"  # noqa: S608
        self.count = f"SELECT COUNT(*) FROM {i} {where}"  # noqa: S608
        self.delete = f"DELETE FROM {c} WHERE {q}id{q} = {p}"  # noqa: S608
        self._values = f"({p}, {p}, {p}, {p}, {p})"
        self._items = f"INSERT INTO {i} ({ic}) VALUES "  # noqa: S608
        self._many: dict[int, str] = {}

    def insert_items(self, n: int) -> str:
        """One multi-row INSERT of ``n`` items (its text cached per ``n``)."""
        sql = self._many.get(n)
        if sql is None:
            sql = self._many[n] = self._items + ", ".join([self._values] * n)
        return sql


# --- SQLite -------------------------------------------------------------------------------------


def _ms(value: datetime) -> int:
    return (value - EPOCH) // _MS


def _sqlite_conv(r: Any) -> Row:
    md = r[2]
    return {
        "id": r[0],
        "created_at": EPOCH + timedelta(milliseconds=r[1]),
        "metadata": None if md is None else _loads(md),
    }


def _sqlite_item(r: Any) -> Row:
    return {
        "id": r[0],
        "conversation_id": r[1],
        "created_at": EPOCH + timedelta(milliseconds=r[2]),
        "type": r[3],
        "data": _loads(r[4]),
    }


class RawSQLite(Impl):
    """sqlite3 in autocommit mode (``isolation_level=None``), explicit BEGIN/COMMIT."""

    kind = "raw"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.cur = conn.cursor()
        keyset = '("created_at", "id") < (?, ?)'
        self.sql = _SQLStatements('"conversations"', '"conversation_items"', '"', "?", keyset)
        upsert = self.sql.insert_conv + (
            ' ON CONFLICT ("id") DO UPDATE SET "metadata" = excluded."metadata" '
            f"RETURNING {CONV_COLS}"
        )
        self.upsert = upsert

    @staticmethod
    def _conv_params(row: Row) -> tuple[Any, ...]:
        md = row["metadata"]
        return (row["id"], _ms(row["created_at"]), None if md is None else _dumps(md))

    @staticmethod
    def _item_params(r: Row) -> tuple[Any, ...]:
        return (r["id"], r["conversation_id"], _ms(r["created_at"]), r["type"], _dumps(r["data"]))

    def insert_conversation(self, row: Row) -> Row:
        self.cur.execute(self.sql.insert_conv, self._conv_params(row))
        return row

    def get_conversation(self, cid: str) -> Row | None:
        r = self.cur.execute(self.sql.get_conv, (cid,)).fetchone()
        return None if r is None else _sqlite_conv(r)

    def list_items(self, cid: str, cursor: Any) -> tuple[list[Row], Any]:
        if cursor is None:
            found = self.cur.execute(self.sql.page1, (cid,)).fetchall()
        else:
            found = self.cur.execute(self.sql.page2, (cid, _ms(cursor[0]), cursor[1])).fetchall()
        return _page([_sqlite_item(r) for r in found])

    def insert_items(self, rows: list[Row]) -> list[Row]:
        cur = self.cur
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.executemany(self.sql.insert_item, [self._item_params(r) for r in rows])
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        return rows

    def insert_items_loop(self, rows: list[Row]) -> list[Row]:
        cur = self.cur
        cur.execute("BEGIN IMMEDIATE")
        try:
            for r in rows:
                cur.execute(self.sql.insert_item, self._item_params(r))
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        return rows

    def update_metadata(self, cid: str, metadata: dict[str, str]) -> int:
        return self.cur.execute(self.sql.update, (_dumps(metadata), cid)).rowcount

    def upsert_conversation(self, row: Row) -> tuple[Row, bool | None]:
        r = self.cur.execute(self.upsert, self._conv_params(row)).fetchone()
        return _sqlite_conv(r), None

    def count_items(self, cid: str) -> int:
        return int(self.cur.execute(self.sql.count, (cid,)).fetchone()[0])

    def delete_conversation(self, cid: str) -> int:
        return self.cur.execute(self.sql.delete, (cid,)).rowcount

    def close(self) -> None:
        self.cur.close()


# --- PostgreSQL ---------------------------------------------------------------------------------


def _pg_conv(r: Any) -> Row:
    return {"id": r[0], "created_at": r[1], "metadata": r[2]}


def _pg_item(r: Any) -> Row:
    return {"id": r[0], "conversation_id": r[1], "created_at": r[2], "type": r[3], "data": r[4]}


class RawPostgres(Impl):
    """psycopg 3: one autocommit connection with ``TimeZone=UTC`` (so timestamptz comes
    back in UTC), one reused cursor, psycopg's own jsonb and timestamptz loaders."""

    kind = "raw"

    def __init__(self, url: str, schema: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC")
        self.cur = self.conn.cursor()
        keyset = '("created_at", "id") < (%s, %s)'
        s = f'"{schema}".'
        self.sql = _SQLStatements(
            f'{s}"conversations"', f'{s}"conversation_items"', '"', "%s", keyset
        )
        self.upsert = self.sql.insert_conv + (
            ' ON CONFLICT ("id") DO UPDATE SET "metadata" = EXCLUDED."metadata" '
            f"RETURNING {CONV_COLS}, (xmax = 0)"
        )

    @staticmethod
    def _conv_params(row: Row) -> tuple[Any, ...]:
        md = row["metadata"]
        return (row["id"], row["created_at"], None if md is None else Jsonb(md))

    def insert_conversation(self, row: Row) -> Row:
        self.cur.execute(self.sql.insert_conv, self._conv_params(row))
        return row

    def get_conversation(self, cid: str) -> Row | None:
        r = self.cur.execute(self.sql.get_conv, (cid,)).fetchone()
        return None if r is None else _pg_conv(r)

    def list_items(self, cid: str, cursor: Any) -> tuple[list[Row], Any]:
        if cursor is None:
            found = self.cur.execute(self.sql.page1, (cid,)).fetchall()
        else:
            found = self.cur.execute(self.sql.page2, (cid, cursor[0], cursor[1])).fetchall()
        return _page([_pg_item(r) for r in found])

    def insert_items(self, rows: list[Row]) -> list[Row]:
        params: list[Any] = []
        for r in rows:
            params += (r["id"], r["conversation_id"], r["created_at"], r["type"], Jsonb(r["data"]))
        self.cur.execute(self.sql.insert_items(len(rows)), params)
        return rows

    def insert_items_loop(self, rows: list[Row]) -> list[Row]:
        cur, sql = self.cur, self.sql.insert_item
        with self.conn.transaction():
            for r in rows:
                cur.execute(
                    sql,
                    (r["id"], r["conversation_id"], r["created_at"], r["type"], Jsonb(r["data"])),
                )
        return rows

    def update_metadata(self, cid: str, metadata: dict[str, str]) -> int:
        return self.cur.execute(self.sql.update, (Jsonb(metadata), cid)).rowcount

    def upsert_conversation(self, row: Row) -> tuple[Row, bool | None]:
        r = self.cur.execute(self.upsert, self._conv_params(row)).fetchone()
        assert r is not None
        return _pg_conv(r), bool(r[3])

    def count_items(self, cid: str) -> int:
        r = self.cur.execute(self.sql.count, (cid,)).fetchone()
        assert r is not None
        return int(r[0])

    def delete_conversation(self, cid: str) -> int:
        return self.cur.execute(self.sql.delete, (cid,)).rowcount

    def close(self) -> None:
        self.cur.close()
        self.conn.close()


# --- MariaDB / MySQL ----------------------------------------------------------------------------


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _my_conv(r: Any) -> Row:
    md = r[2]
    return {
        "id": r[0],
        "created_at": r[1].replace(tzinfo=UTC),
        "metadata": None if md is None else _loads(md),
    }


def _my_item(r: Any) -> Row:
    return {
        "id": r[0],
        "conversation_id": r[1],
        "created_at": r[2].replace(tzinfo=UTC),
        "type": r[3],
        "data": _loads(r[4]),
    }


class RawMySQL(Impl):
    """PyMySQL: one autocommit connection (``CLIENT.FOUND_ROWS``: UPDATE counts matched
    rows, as the store does), one reused cursor. Keyset pagination is spelled out with OR:
    MariaDB does not range-scan an index on a row-value comparison (EXPLAIN says ``ref``)."""

    kind = "raw"

    def __init__(self, params: dict[str, Any]) -> None:
        self.conn = pymysql.connect(**params, client_flag=CLIENT.FOUND_ROWS)
        self.cur = self.conn.cursor()
        keyset = "`created_at` <= %s AND (`created_at` < %s OR (`created_at` = %s AND `id` < %s))"
        self.sql = _SQLStatements("`conversations`", "`conversation_items`", "`", "%s", keyset)
        cols = CONV_COLS.replace('"', "`")
        self.upsert = self.sql.insert_conv + (
            f" ON DUPLICATE KEY UPDATE `metadata` = VALUES(`metadata`) RETURNING {cols}"
        )

    @staticmethod
    def _conv_params(row: Row) -> tuple[Any, ...]:
        md = row["metadata"]
        return (row["id"], _naive_utc(row["created_at"]), None if md is None else _dumps(md))

    @staticmethod
    def _item_params(r: Row) -> tuple[Any, ...]:
        return (
            r["id"],
            r["conversation_id"],
            _naive_utc(r["created_at"]),
            r["type"],
            _dumps(r["data"]),
        )

    def insert_conversation(self, row: Row) -> Row:
        self.cur.execute(self.sql.insert_conv, self._conv_params(row))
        return row

    def get_conversation(self, cid: str) -> Row | None:
        self.cur.execute(self.sql.get_conv, (cid,))
        r = self.cur.fetchone()
        return None if r is None else _my_conv(r)

    def list_items(self, cid: str, cursor: Any) -> tuple[list[Row], Any]:
        if cursor is None:
            self.cur.execute(self.sql.page1, (cid,))
        else:
            t = _naive_utc(cursor[0])
            self.cur.execute(self.sql.page2, (cid, t, t, t, cursor[1]))
        return _page([_my_item(r) for r in self.cur.fetchall()])

    def insert_items(self, rows: list[Row]) -> list[Row]:
        # PyMySQL turns executemany of an INSERT ... VALUES into one multi-row statement.
        self.cur.executemany(self.sql.insert_item, [self._item_params(r) for r in rows])
        return rows

    def insert_items_loop(self, rows: list[Row]) -> list[Row]:
        self.conn.begin()
        try:
            for r in rows:
                self.cur.execute(self.sql.insert_item, self._item_params(r))
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()
        return rows

    def update_metadata(self, cid: str, metadata: dict[str, str]) -> int:
        return int(self.cur.execute(self.sql.update, (_dumps(metadata), cid)))

    def upsert_conversation(self, row: Row) -> tuple[Row, bool | None]:
        self.cur.execute(self.upsert, self._conv_params(row))
        return _my_conv(self.cur.fetchone()), None

    def count_items(self, cid: str) -> int:
        self.cur.execute(self.sql.count, (cid,))
        return int(self.cur.fetchone()[0])

    def delete_conversation(self, cid: str) -> int:
        return int(self.cur.execute(self.sql.delete, (cid,)))

    def close(self) -> None:
        self.cur.close()
        self.conn.close()
