"""The workload on SQLAlchemy Core 2.x, with statements built once.

Tables are described to SQLAlchemy as the store created them (the namespace is
bootstrapped by no-orm), with types that decode like the store: JSON parsed, aware UTC
datetimes (a TypeDecorator where the column holds epoch milliseconds (SQLite) or a
naive UTC DATETIME (MariaDB)); rows become dicts with ``Row._asdict()``.

Connections: SQLite uses one connection, commit-as-you-go (pysqlite begins implicitly
before a write, so reads cost no BEGIN). PostgreSQL and MariaDB use one AUTOCOMMIT
connection for single statements, as careful code does to avoid a BEGIN/COMMIT round
trip per statement, and a second, transactional connection (``with conn.begin()``) for
multi-statement work.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    and_,
    bindparam,
    create_engine,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeEngine

from noorm.adapters.sql.codec import dump_json

from .workload import PAGE, Impl, Row

__all__ = ["SQLAlchemyImpl"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class EpochMs(TypeDecorator[datetime]):
    """SQLite: INTEGER epoch milliseconds <-> aware UTC datetime."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> int | None:
        return None if value is None else (value - EPOCH) // _MS

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else EPOCH + timedelta(milliseconds=value)


class NaiveUTC(TypeDecorator[datetime]):
    """MariaDB: DATETIME(3) holding the UTC wall clock <-> aware UTC datetime."""

    impl = mysql.DATETIME(fsp=3)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else datetime.replace(value, tzinfo=UTC)


def _types(backend: str) -> tuple[TypeEngine[Any], TypeEngine[Any]]:
    """(timestamp type, json type) for ``backend``."""
    if backend == "postgres":
        return DateTime(timezone=True), postgresql.JSONB(none_as_null=True)
    if backend == "mysql":
        return NaiveUTC(), JSON(none_as_null=True)
    return EpochMs(), JSON(none_as_null=True)


def engine_for(backend: str, url: str | None, conn: sqlite3.Connection | None) -> Engine:
    if backend in ("sqlite", "sqlite-file"):
        assert conn is not None
        # pysqlite's default: BEGIN implicitly before a write ("" is DEFERRED).
        conn.isolation_level = ""  # type: ignore[assignment]
        return create_engine(
            "sqlite://", creator=lambda: conn, poolclass=StaticPool, json_serializer=dump_json
        )
    assert url is not None
    if backend == "postgres":
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        return create_engine(url, connect_args={"options": "-c TimeZone=UTC"})
    url = url.replace("mysql://", "mysql+pymysql://", 1) + "?charset=utf8mb4"
    return create_engine(
        url,
        json_serializer=dump_json,
        connect_args={"init_command": "SET SESSION time_zone = '+00:00'"},
    )


class SQLAlchemyImpl(Impl):
    kind = "sqlalchemy"

    def __init__(
        self,
        backend: str,
        *,
        url: str | None = None,
        schema: str | None = None,
        sqlite_conn: sqlite3.Connection | None = None,
    ) -> None:
        self.backend = backend
        self.engine = engine_for(backend, url, sqlite_conn)
        self.single = backend in ("sqlite", "sqlite-file")
        if self.single:
            self.ac = self.tx = self.engine.connect()
        else:
            self.ac = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self.tx = self.engine.connect()
        self._build(schema)

    def _build(self, schema: str | None) -> None:
        ts, js = _types(self.backend)
        md = MetaData(schema=schema)
        conv = Table(
            "conversations",
            md,
            Column("id", String(255), primary_key=True),
            Column("created_at", ts, nullable=False),
            Column("metadata", js, nullable=True),
        )
        items = Table(
            "conversation_items",
            md,
            Column("id", String(255), primary_key=True),
            Column("conversation_id", String(255), primary_key=True),
            Column("created_at", ts, nullable=False),
            Column("type", String(64), nullable=False),
            Column("data", js, nullable=False),
        )
        c, i = conv.c, items.c
        self.insert_conv = insert(conv)
        self.get_conv = select(conv).where(c.id == bindparam("cid"))
        page1 = (
            select(items)
            .where(i.conversation_id == bindparam("cid"))
            .order_by(i.created_at.desc(), i.id.desc())
            .limit(PAGE + 1)
        )
        self.page1 = page1
        after_ts = bindparam("ts", type_=ts)
        after_id = bindparam("iid", type_=String(255))
        if self.backend == "mysql":  # no index range on a row value in MariaDB (see raw_sql)
            keyset = and_(
                i.created_at <= after_ts,
                or_(i.created_at < after_ts, and_(i.created_at == after_ts, i.id < after_id)),
            )
        else:
            keyset = tuple_(i.created_at, i.id) < tuple_(after_ts, after_id)
        self.page2 = page1.where(keyset)
        self.insert_item = insert(items)
        self.update = update(conv).where(c.id == bindparam("cid")).values(metadata=bindparam("md"))
        cols = (c.id, c.created_at, c["metadata"])
        self.upsert: Any
        if self.backend == "postgres":
            pg = postgresql.insert(conv)
            self.upsert = pg.on_conflict_do_update(
                index_elements=[c.id], set_={"metadata": pg.excluded["metadata"]}
            ).returning(*cols, literal_column("(xmax = 0)").label("inserted"))
        elif self.backend == "mysql":
            my = mysql.insert(conv)
            self.upsert = my.on_duplicate_key_update(
                {"metadata": my.inserted["metadata"]}
            ).returning(*cols)
        else:
            lite = sqlite.insert(conv)
            self.upsert = lite.on_conflict_do_update(
                index_elements=[c.id], set_={"metadata": lite.excluded["metadata"]}
            ).returning(*cols)
        self.count = (
            select(func.count()).select_from(items).where(i.conversation_id == bindparam("cid"))
        )
        self.delete = delete(conv).where(c.id == bindparam("cid"))

    def _done(self) -> None:
        if self.single:
            self.ac.commit()

    def insert_conversation(self, row: Row) -> Row:
        self.ac.execute(self.insert_conv, row)
        self._done()
        return row

    def get_conversation(self, cid: str) -> Row | None:
        r = self.ac.execute(self.get_conv, {"cid": cid}).first()
        self._done()
        return None if r is None else r._asdict()

    def list_items(self, cid: str, cursor: Any) -> tuple[list[Row], Any]:
        if cursor is None:
            result = self.ac.execute(self.page1, {"cid": cid})
        else:
            result = self.ac.execute(self.page2, {"cid": cid, "ts": cursor[0], "iid": cursor[1]})
        rows = [r._asdict() for r in result]
        self._done()
        if len(rows) <= PAGE:
            return rows, None
        del rows[PAGE:]
        return rows, (rows[-1]["created_at"], rows[-1]["id"])

    def insert_items(self, rows: list[Row]) -> list[Row]:
        if self.backend == "mysql":  # PyMySQL's executemany: one multi-row INSERT
            self.ac.execute(self.insert_item, rows)
        elif self.single:
            self.ac.execute(self.insert_item, rows)
            self.ac.commit()
        else:  # psycopg's executemany: one statement per row (pipelined)
            with self.tx.begin():
                self.tx.execute(self.insert_item, rows)
        return rows

    def insert_items_loop(self, rows: list[Row]) -> list[Row]:
        tx, stmt = self.tx, self.insert_item
        if self.single:
            for r in rows:
                tx.execute(stmt, r)
            tx.commit()
            return rows
        with tx.begin():
            for r in rows:
                tx.execute(stmt, r)
        return rows

    def update_metadata(self, cid: str, metadata: dict[str, str]) -> int:
        n = self.ac.execute(self.update, {"cid": cid, "md": metadata}).rowcount
        self._done()
        return n

    def upsert_conversation(self, row: Row) -> tuple[Row, bool | None]:
        r = self.ac.execute(self.upsert, row).one()
        self._done()
        found = r._asdict()
        inserted = found.pop("inserted", None)
        return found, inserted

    def count_items(self, cid: str) -> int:
        n = self.ac.execute(self.count, {"cid": cid}).scalar_one()
        self._done()
        return int(n)

    def delete_conversation(self, cid: str) -> int:
        n = self.ac.execute(self.delete, {"cid": cid}).rowcount
        self._done()
        return n

    def close(self) -> None:
        self.ac.close()
        if self.tx is not self.ac:
            self.tx.close()
        self.engine.dispose()
