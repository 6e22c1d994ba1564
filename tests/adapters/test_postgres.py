"""The PostgreSQL adapter's own tests, against a real server.

The conformance suite certifies every clause; these tests pin what is specific to
PostgreSQL: path keys as bound data, typed JSONB comparisons, "C" collation, NULL
order, JSONB numbers, the session time zone, native upserts under a scope, aborted
transactions, error mapping (bad URLs included), the three ways to construct the
adapter and concurrent bootstraps.

The server is ``NOORM_POSTGRES_URL`` (``eval "$(ci/services)"``), or the CI default on
127.0.0.1:5432 when something listens there; otherwise the module is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

pytest.importorskip("psycopg", reason="pip install 'no-orm[postgres]'")
pytest.importorskip("psycopg_pool", reason="pip install 'no-orm[postgres]'")

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

import noorm
from noorm.adapters.postgres import PostgresAdapter
from noorm.adapters.postgres import adapter as pg_adapter
from noorm.adapters.postgres import testing as pg_testing
from noorm.adapters.postgres.adapter import connect_error, version_text
from noorm.adapters.postgres.compiler import COPY_ROWS
from noorm.adapters.sql import health
from noorm.spec import (
    ALL,
    Adapter,
    BackendError,
    Capability,
    ConflictError,
    Count,
    Delete,
    DuplicateKeyError,
    Field,
    Filter,
    Find,
    Index,
    Insert,
    IntegerType,
    Model,
    Order,
    Schema,
    SchemaError,
    SchemaMismatchError,
    StringType,
    Update,
    Upsert,
    UpsertResult,
    and_,
    eq,
    gt,
    gte,
    in_,
    is_null,
    lt,
    lte,
    ne,
    not_,
    not_in,
    path,
)
from noorm.spec.values import MAX_TIMESTAMP, MIN_TIMESTAMP

from . import support
from .support import BY_ID, full, listening, user

DEFAULT_URL = "postgresql://noorm:noorm@127.0.0.1:5432/noorm"


def _server_url() -> str | None:
    url = os.environ.get(pg_testing.URL_ENV)
    if url:
        return url
    return DEFAULT_URL if listening("127.0.0.1", 5432, timeout=0.5) else None


_URL = _server_url()
if _URL is None:
    pytest.skip(
        f"no PostgreSQL server: set {pg_testing.URL_ENV} "
        '(eval "$(ci/services)" starts one on 127.0.0.1:5432)',
        allow_module_level=True,
    )
URL: str = _URL

# The shared models, but DOCS has an unbounded string "txt" after "s", and USERS only
# its unique index.
DOCS = Model(
    "docs",
    [*support.DOCS.fields[:2], Field("txt", StringType(), nullable=True), *support.DOCS.fields[2:]],
    primary_key=["id"],
)
USERS = Model(
    "users",
    support.USERS.fields,
    primary_key=["id"],
    indexes=[Index("users_email", ["email"], unique=True)],
)
SCHEMA = Schema([DOCS, USERS])

# Keys that are syntax somewhere: JSON paths, array literals, psycopg placeholders, SQL.
KEYS = (
    "plain", "a.b", 'a"b', "a'b", "'", '"', "$", "$.a", "a[0]", "[", "]", "?", "?|", "%",
    "%s", "%%", "%(x)s", "a\\b", "\\", '\\"', "a b", " ", "", "é", "e\u0301", "日本",
    "\U0001f600", "a\nb", "\x01", "*", ".", "{a,b}", "{", "}", ",", "NULL", "null", "0",
    "-1", "'; DROP TABLE docs; --", "->", "#>",
)  # fmt: skip


def doc(id: int, **values: Any) -> dict[str, Any]:
    """A complete DOCS row (this module's DOCS, with "txt"): NULL where not given."""
    return full(DOCS, id=id, **values)


def ids(executor: Any, where: Filter | None, model: Model[Any] = DOCS) -> list[Any]:
    return support.ids(executor, where, model)


def raw(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a connection of its own (outside any adapter)."""
    with psycopg.connect(URL, autocommit=True) as conn:
        cursor = conn.execute(sql.encode(), params or None)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="module")
def pool() -> Iterator[ConnectionPool[Any]]:
    """A pool as an application would make it (not in autocommit mode)."""
    made: ConnectionPool[Any] = ConnectionPool(URL, min_size=1, max_size=4, open=True)
    yield made
    made.close()


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh, empty schema name; dropped (with everything in it) afterwards."""
    name = f"noorm_pgtest_{uuid.uuid4().hex[:12]}"
    raw(f'CREATE SCHEMA "{name}"')
    yield name
    raw(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def db(pool: ConnectionPool[Any], schema: str) -> Iterator[PostgresAdapter]:
    adapter = PostgresAdapter(pool, schema=schema)
    adapter.bootstrap(SCHEMA)
    yield adapter
    adapter.close()


@pytest.fixture
def conn(schema: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection as an application would open it (not in autocommit mode).

    It depends on ``schema`` so that it closes first: an open transaction of it would
    otherwise block the DROP SCHEMA of the teardown.
    """
    with psycopg.connect(URL) as made:
        yield made


# --- identity and construction ----------------------------------------------------------------


def test_protocol_identity_and_capabilities(db: PostgresAdapter) -> None:
    assert isinstance(db, Adapter)
    assert db.name == "postgres" and db.version == noorm.__version__
    assert db.dialect.name == "postgres"  # PostgresDialect, public: its own name too
    assert db.capabilities == frozenset(Capability)
    major = raw("SHOW server_version_num")[0][0]
    assert db.server_version().startswith(f"PostgreSQL {int(major) // 10000}.")
    assert "(" not in db.server_version()  # no build suffix
    op = Find(DOCS, eq("i", 1), BY_ID, 5)
    assert db.statement(op) is db.statement(Find(DOCS, eq("i", 2), BY_ID, 9))  # cached
    expected = 'SELECT "id", "s", "txt", "n", "i", "b", "t", "j" FROM "{}"."docs" '
    expected += 'WHERE "i" = %s ORDER BY "id" ASC LIMIT %s'
    assert db.statement(op) == expected.format(db.schema)


def test_a_url_adapter_owns_its_pool(schema: str) -> None:
    adapter = PostgresAdapter(URL, schema=schema, max_connections=2)
    adapter.bootstrap(SCHEMA)
    adapter.execute(Insert(DOCS, (doc(1),)))
    assert ids(adapter, None) == [1]
    own = adapter._pool
    assert own is not None
    adapter.close()
    adapter.close()  # idempotent
    assert own.closed
    with pytest.raises(BackendError, match="closed"):
        adapter.execute(Count(DOCS, None))


def test_a_borrowed_pool_is_not_closed_and_its_connections_are_restored(
    pool: ConnectionPool[Any], schema: str
) -> None:
    adapter = PostgresAdapter(pool, schema=schema)
    adapter.bootstrap(SCHEMA)
    with adapter.transaction() as tx:
        tx.execute(Insert(DOCS, (doc(1),)))
    adapter.close()
    assert not pool.closed
    with pool.connection() as back:  # autocommit was switched for the adapter only
        assert back.autocommit is False
        assert back.info.transaction_status == TransactionStatus.IDLE
    with pytest.raises(BackendError, match="closed"):
        adapter.execute(Count(DOCS, None))


def test_one_cursor_per_connection_with_the_loaders_registered_once(
    pool: ConnectionPool[Any], schema: str, conn: psycopg.Connection[Any]
) -> None:
    """Statements reuse their connection's cursor, whose loaders the adapter registered
    when it opened it; the connection's own loaders stay psycopg's."""
    opened: list[psycopg.Cursor[Any]] = []

    class Counting(PostgresAdapter):
        def cursor(self, conn: Any) -> psycopg.Cursor[Any]:
            cursor = super().cursor(conn)
            opened.append(cursor)
            return cursor

    for target in (pool, conn):
        opened.clear()
        adapter = Counting(target, schema=schema)
        adapter.bootstrap(SCHEMA)
        for n in range(5):
            adapter.execute(Insert(DOCS, (doc(n, t=datetime(2026, 1, 1, tzinfo=UTC)),)))
            assert adapter.execute(Find(DOCS, eq("id", n), BY_ID))[0]["t"].tzinfo is UTC
            with adapter.transaction() as tx:
                tx.execute(Update(DOCS, eq("id", n), {"i": n}))
        assert 1 <= len(opened) <= (pool.max_size if target is pool else 1)
        adapter.execute(Delete(DOCS, ALL))
        adapter.close()
    with conn.cursor(binary=True) as cursor:  # psycopg's own loaders: the session zone
        cursor.execute("SET TIME ZONE 'Europe/Paris'")
        cursor.execute("SELECT '2026-01-01T00:00:00Z'::timestamptz")
        row = cursor.fetchone()
        assert row is not None and row[0].utcoffset() == timedelta(hours=1)
        cursor.execute("RESET TIME ZONE")


def test_a_borrowed_connection(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.row_factory = psycopg.rows.dict_row  # the adapter's cursors ignore it
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    adapter.execute(Insert(DOCS, (doc(1, j={"a": 1}),)))
    assert adapter.execute(Find(DOCS, None, BY_ID))[0]["j"] == {"a": 1}
    assert conn.autocommit is False  # restored after every call
    adapter.close()
    assert not conn.closed
    count = psycopg.sql.SQL("SELECT count(*) AS c FROM {}.docs").format(
        psycopg.sql.Identifier(schema)
    )
    assert conn.execute(count).fetchone() == {"c": 1}


def test_a_connection_inside_a_transaction_is_refused(
    conn: psycopg.Connection[Any], schema: str
) -> None:
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    conn.execute(b"SELECT 1")  # psycopg opens a transaction: it is the caller's
    with pytest.raises(BackendError, match="inside a transaction"):
        adapter.execute(Count(DOCS, None))
    conn.rollback()
    assert adapter.execute(Count(DOCS, None)) == 0


def test_other_targets_are_refused() -> None:
    with pytest.raises(TypeError, match=r"URL, a psycopg\.Connection or"):
        PostgresAdapter(42)  # type: ignore[arg-type]


# --- connection errors --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _variant(**changes: str) -> str:
    return make_conninfo(URL, **changes)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"host": "127.0.0.1", "port": "FREE"}, "Connection refused"),
        ({"password": "wrong-secret"}, "password authentication failed"),
        ({"dbname": "noorm_no_such_database"}, 'database "noorm_no_such_database" does not exist'),
    ],
    ids=["refused", "credentials", "database"],
)
def test_bad_urls_fail_fast_with_a_one_line_reason(change: dict[str, str], reason: str) -> None:
    if change.get("port") == "FREE":
        change = {**change, "port": str(_free_port())}
    url = _variant(**change, connect_timeout="3")
    with pytest.raises(BackendError) as caught:
        PostgresAdapter(url)
    message = str(caught.value)
    assert message.startswith("cannot connect to PostgreSQL at ") and reason in message
    assert "\n" not in message and "wrong-secret" not in message
    password = conninfo_to_dict(URL).get("password")
    assert not password or f":{password}@" not in message
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


def test_a_malformed_url_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="invalid PostgreSQL URL") as caught:
        PostgresAdapter("not a url, user=u password=secret")
    assert "secret" not in str(caught.value)


# --- json paths -------------------------------------------------------------------------------


def test_every_key_selects_exactly_itself(db: PostgresAdapter) -> None:
    rows = []
    for k, key in enumerate(KEYS):
        # Decoys: a longer key, the key one level down, and what a parser might split to.
        document = {key: k, key + "x": -1, "a": {"b": -2}, "nest": {key: -3}, "b": -4}
        rows.append(doc(k, j=document))
    db.execute(Insert(DOCS, tuple(rows)))
    for k, key in enumerate(KEYS):
        assert ids(db, eq(path("j", key), k)) == [k], repr(key)
        assert ids(db, eq(path("j", "nest", key), -3)) == [k], repr(key)
        assert ids(db, eq(path("j", key + "x"), -1)) == [k], repr(key)
        assert ids(db, and_(eq(path("j", key), k), not_(is_null(path("j", key))))) == [k]
    assert db.execute(Count(DOCS, None)) == len(KEYS)  # nothing was dropped or injected


def test_keys_never_index_arrays_nor_match_partially(db: PostgresAdapter) -> None:
    db.execute(
        Insert(
            DOCS,
            (
                doc(1, j={"l": ["x", "y"], "a": {"b": 1}}),
                doc(2, j={"l": {"0": "x", "-1": "y"}, "a.b": 2}),
                doc(3, j=["x"]),
                doc(4, j="x"),
            ),
        )
    )
    assert ids(db, eq(path("j", "l", "0"), "x")) == [2]
    assert ids(db, eq(path("j", "l", "-1"), "y")) == [2]
    assert ids(db, eq(path("j", "0"), "x")) == []
    assert ids(db, eq(path("j", "a.b"), 2)) == [2]
    assert ids(db, eq(path("j", "a", "b"), 1)) == [1]
    assert ids(db, is_null(path("j", "l", "0"))) == [1, 3, 4]


TYPED = {
    1: {"v": 1},
    2: {"v": 1.0},
    3: {"v": 1.5},
    4: {"v": "1"},
    5: {"v": True},
    6: {"v": False},
    7: {"v": 0},
    8: {"v": None},
    9: {"w": 1},
    10: {"v": {"x": 1}},
    11: {"v": [1]},
    12: 1,
    13: None,
    14: {"v": 10},
    15: {"v": 9},
    16: {"v": "10"},
    17: {"v": "9"},
}
V = path("j", "v")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (eq(V, 1), [1, 2]),
        (eq(V, 1.0), [1, 2]),
        (eq(V, "1"), [4]),
        (eq(V, True), [5]),
        (eq(V, 0), [7]),
        (eq(V, False), [6]),
        (gt(V, 9), [14]),  # numeric: 10 > 9
        (gt(V, "9"), []),  # code point: "10" < "9"
        (lt(V, "9"), [4, 16]),
        (gte(V, 1), [1, 2, 3, 14, 15]),
        (lte(V, 1), [1, 2, 7]),
        (lt(V, True), []),
        (gt(V, False), []),
        (ne(V, 1), [3, 4, 5, 6, 7, 10, 11, 14, 15, 16, 17]),
        (ne(V, True), [1, 2, 3, 4, 6, 7, 10, 11, 14, 15, 16, 17]),
        (in_(V, [1, "9", False]), [1, 2, 6, 17]),
        (not_in(V, [1, "1", True]), [3, 6, 7, 10, 11, 14, 15, 16, 17]),
        (not_in(V, []), [1, 2, 3, 4, 5, 6, 7, 10, 11, 14, 15, 16, 17]),
        (is_null(V), [8, 9, 12, 13]),
        (not_(eq(V, 1)), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]),
    ],
    ids=repr,
)
def test_typed_path_comparisons(db: PostgresAdapter, where: Filter, expected: list[int]) -> None:
    db.execute(Insert(DOCS, tuple(doc(k, j=v) for k, v in TYPED.items())))
    assert ids(db, where) == expected


def test_path_strings_compare_by_code_point(db: PostgresAdapter) -> None:
    values = ["B", "a", "b", "z", "é", "\uffff", "\U0001f600"]
    db.execute(Insert(DOCS, tuple(doc(k, j={"v": v}) for k, v in enumerate(values))))
    for k, v in enumerate(values):
        assert ids(db, lt(V, v)) == list(range(k)), v
        assert ids(db, gte(V, v)) == list(range(k, len(values))), v


# --- values -------------------------------------------------------------------------------------


def test_json_numbers_keep_their_kind(db: PostgresAdapter) -> None:
    numbers = [0, 1, -1, 2**53, -(2**53), 1.0, -2.0, 0.1, 1e15, 1e16, 1.5e16, 1e300, -1e300,
               5e-324, 1e-7, 1.7976931348623157e308, 123456789.125]  # fmt: skip
    db.execute(Insert(DOCS, (doc(1, j={"n": numbers, "deep": {"x": [1e300, 2]}}),)))
    got = db.execute(Find(DOCS, None, BY_ID))[0]["j"]
    assert got == {"n": numbers, "deep": {"x": [1e300, 2]}}
    assert [type(v) for v in got["n"]] == [type(v) for v in numbers]
    assert type(got["deep"]["x"][0]) is float and type(got["deep"]["x"][1]) is int
    for number in numbers:
        assert ids(db, eq(path("j", "deep", "x"), number)) == []  # an array, never a number


def test_strings_compare_and_sort_by_code_point(db: PostgresAdapter) -> None:
    values = ["B", "a", "b", "z", "é", "\uffff", "\U0001f600"]
    db.execute(Insert(DOCS, tuple(doc(k, s=v, txt=v) for k, v in enumerate(reversed(values)))))
    for column in ("s", "txt"):
        rows = db.execute(Find(DOCS, None, (Order(column), *BY_ID)))
        assert [r[column] for r in rows] == values
        below = {r[column] for r in db.execute(Find(DOCS, lt(column, "b"), BY_ID))}
        assert below == {"B", "a"}
    collations = raw(
        "SELECT attname, collname FROM pg_attribute a JOIN pg_collation c "
        "ON c.oid = a.attcollation WHERE attrelid = %s::regclass AND attnum > 0",
        f'"{db.schema}"."docs"',
    )
    assert dict(collations) == {"s": "C", "txt": "C"}


def test_null_sorts_lowest(db: PostgresAdapter) -> None:
    t = datetime(2020, 1, 1, tzinfo=UTC)
    db.execute(
        Insert(
            DOCS,
            (
                doc(1, s="a", n=1.0, i=1, b=False, t=t),
                doc(2),
                doc(3, s="b", n=2.0, i=2, b=True, t=t + timedelta(1)),
            ),
        )
    )
    for column in ("s", "n", "i", "b", "t"):
        up = [r["id"] for r in db.execute(Find(DOCS, None, (Order(column), *BY_ID)))]
        down = [r["id"] for r in db.execute(Find(DOCS, None, (Order(column, True), *BY_ID)))]
        assert up[0] == 2 and down[-1] == 2, column
    assert [r["id"] for r in db.execute(Find(DOCS, None, (Order("b"), *BY_ID)))] == [2, 1, 3]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/St_Johns", "UTC"])
def test_timestamps_ignore_the_session_time_zone_and_date_style(
    conn: psycopg.Connection[Any], schema: str, zone: str
) -> None:
    conn.autocommit = True
    conn.execute(f"SET TimeZone TO '{zone}'".encode())
    conn.execute(b"SET DateStyle TO 'SQL, DMY'")
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    stamps = [MIN_TIMESTAMP, datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), MAX_TIMESTAMP]
    adapter.execute(Insert(DOCS, tuple(doc(k, t=ts) for k, ts in enumerate(stamps))))
    rows = adapter.execute(Find(DOCS, None, BY_ID))
    assert [r["t"] for r in rows] == stamps
    assert all(r["t"].tzinfo is UTC for r in rows)
    plus_one = timezone(timedelta(hours=1))
    assert ids(adapter, gt("t", datetime(1970, 1, 1, 1, 0, tzinfo=plus_one))) == [2]
    assert ids(adapter, eq("t", MAX_TIMESTAMP)) == [2]


def test_numbers_round_trip_exactly(db: PostgresAdapter) -> None:
    values = [0.0, 5e-324, 1.7976931348623157e308, -2.2250738585072014e-308, 0.1, 1 / 3]
    db.execute(Insert(DOCS, tuple(doc(k, n=v, i=2**63 - 1 - k) for k, v in enumerate(values))))
    rows = db.execute(Find(DOCS, None, BY_ID))
    assert [r["n"] for r in rows] == values and all(type(r["n"]) is float for r in rows)
    assert rows[0]["i"] == 2**63 - 1 and ids(db, eq("n", 1 / 3)) == [5]


def test_models_and_indexes_may_have_system_column_names(
    pool: ConnectionPool[Any], schema: str
) -> None:
    """Fields may not (LIM-NAME); tables and indexes named like them are just names."""
    with pytest.raises(SchemaError, match="reserved"):
        Model("m", [Field("xmin", IntegerType())], primary_key=["xmin"])
    odd = Model(
        "xmin",
        [Field("id", IntegerType()), Field("v", StringType(5), nullable=True)],
        primary_key=["id"],
        indexes=[Index("ctid", ["v"])],
    )
    adapter = PostgresAdapter(pool, schema=schema)
    adapter.bootstrap(Schema([odd]))
    adapter.execute(Insert(odd, ({"id": 1, "v": "a"},)))
    result = adapter.execute(Upsert(odd, {"id": 1, "v": "b"}, ("v",), eq("v", "a")))
    assert result == UpsertResult({"id": 1, "v": "b"}, inserted=False)
    assert adapter.execute(Find(odd, eq("v", "b"), (Order("id"),))) == [result.row]
    assert adapter.bootstrap(Schema([odd])) == []


def _keyed(name: str, *indexes: str) -> Model[Any]:
    return Model(
        name,
        [Field("id", IntegerType())],
        primary_key=["id"],
        indexes=[Index(index, ["id"]) for index in indexes],
    )


def test_names_postgres_keeps_in_one_namespace_are_refused(db: PostgresAdapter) -> None:
    # An index named like a model, or like a primary key, is refused by the schema itself.
    with pytest.raises(SchemaError, match="name of a model"):
        Schema([_keyed("m", "t"), _keyed("t")])
    with pytest.raises(SchemaError, match="_pkey"):
        _keyed("m", "m_pkey")
    # A model named like another model's primary key is the adapter's to refuse.
    with pytest.raises(SchemaError, match="the primary-key index of model 'm'") as caught:
        db.bootstrap(Schema([_keyed("m"), _keyed("m_pkey")]), dry_run=True)
    assert caught.value.model == "m_pkey"
    assert db.bootstrap(Schema([_keyed("m", "m_id"), _keyed("n", "n_pkeys")])) != []


# --- names resolve to the adapter's own tables (LIM-NAME) ----------------------------------------


@pytest.fixture
def schemas() -> Iterator[Callable[[], str]]:
    """Makes fresh, empty schemas; drops every one afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"noorm_pgtest_{uuid.uuid4().hex[:12]}"
        raw(f'CREATE SCHEMA "{name}"')
        made.append(name)
        return name

    yield make
    for name in made:
        raw(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def on_path(*schemas: str) -> psycopg.Connection[Any]:
    """An autocommit connection whose search_path is ``schemas``."""
    return psycopg.connect(URL, autocommit=True, options=f"-c search_path={','.join(schemas)}")


def contents(schema: str, table: str) -> list[tuple[Any, ...]]:
    """The rows of ``schema.table``, read outside any adapter."""
    query = psycopg.sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(
        psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
    )
    with psycopg.connect(URL, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def renamed(model: Model[Any], name: str) -> Model[Any]:
    """``model`` under a name the schema would refuse (LIM-NAME), bypassing the check."""
    model = Model(model.name, model.fields, primary_key=model.primary_key, indexes=model.indexes)
    model.name = name
    return model


PLAIN = Model(
    "plain",
    [Field("id", IntegerType()), Field("rolname", StringType(64), nullable=True)],
    primary_key=["id"],
)


def test_the_schema_is_current_schema_looked_up_once(
    schemas: Callable[[], str],
) -> None:
    mine = schemas()
    with on_path("noorm_nowhere", mine, "public") as conn:
        adapter = PostgresAdapter(conn)
        assert adapter.schema == mine  # the first schema of the path that exists
        conn.execute(b"SET search_path = public")  # later changes do not move the tables
        assert adapter.bootstrap(Schema([PLAIN]))[0].startswith(
            f'CREATE TABLE IF NOT EXISTS "{mine}"."plain"'
        )
        adapter.execute(Insert(PLAIN, ({"id": 1, "rolname": "x"},)))
        assert contents(mine, "plain") == [(1, "x")]
        adapter.close()


def test_no_current_schema_or_a_system_one_is_refused() -> None:
    with on_path("noorm_nowhere") as conn, pytest.raises(BackendError, match="no current schema"):
        PostgresAdapter(conn)
    for system in ("pg_catalog", "information_schema"):
        with on_path(system) as conn, pytest.raises(BackendError, match="PostgreSQL's own"):
            PostgresAdapter(conn)
    with pytest.raises(ValueError, match="PostgreSQL's own"):
        PostgresAdapter(URL, schema="pg_catalog")


CATALOG_NAMES = ["pg_user", "pg_class", "pg_type", "pg_roles", "pg_settings"]
INFORMATION_NAMES = ["tables", "columns", "views", "routines", "sql_features", "schemata"]


def test_tables_never_resolve_to_the_servers_catalogs(schemas: Callable[[], str]) -> None:
    """pg_catalog comes first on every search_path, and information_schema may be on it:
    tables named like their relations (schema check bypassed for the pg_ ones) are the
    adapter's own, created by bootstrap, empty until written, and written in place."""
    mine = schemas()
    names = CATALOG_NAMES + INFORMATION_NAMES
    with on_path(mine, "information_schema") as conn:
        adapter = PostgresAdapter(conn)
        assert adapter.schema == mine
        models = [renamed(PLAIN, name) for name in names]
        planned = adapter.bootstrap(Schema(models))
        assert len(planned) == len(names)
        assert adapter.bootstrap(Schema(models)) == []
        for n, model in enumerate(models):
            assert adapter.execute(Find(model, None, ())) == [], model.name
            assert adapter.execute(Count(model, None)) == 0, model.name
            adapter.execute(Insert(model, ({"id": n, "rolname": model.name},)))
            assert adapter.execute(Find(model, None, ())) == [{"id": n, "rolname": model.name}]
            result = adapter.execute(Upsert(model, {"id": n, "rolname": "u"}, ("rolname",)))
            assert result == UpsertResult({"id": n, "rolname": "u"}, inserted=False)
            assert adapter.execute(Update(model, ALL, {"rolname": "v"})) == 1
            assert adapter.execute(Delete(model, ALL)) == 1
        adapter.close()
    tables = raw(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r'",
        mine,
    )
    assert sorted(t for (t,) in tables) == sorted(names)


def test_a_table_of_another_schema_on_the_path_is_not_the_adapters(
    schemas: Callable[[], str],
) -> None:
    mine, other = schemas(), schemas()
    raw(f'CREATE TABLE "{other}".plain (id bigint PRIMARY KEY, rolname text)')
    raw(f'CREATE INDEX plain_rolname ON "{other}".plain (rolname)')
    with on_path(other) as conn:
        conn.execute(b"INSERT INTO plain VALUES (7, 'theirs')")
    with_index = Model(
        "plain", PLAIN.fields, primary_key=["id"], indexes=[Index("plain_rolname", ["rolname"])]
    )
    with on_path(mine, other) as conn:
        adapter = PostgresAdapter(conn)
        assert len(adapter.bootstrap(Schema([with_index]))) == 2  # the table and its index
        assert adapter.execute(Find(with_index, None, ())) == []
        adapter.execute(Insert(with_index, ({"id": 1, "rolname": "mine"},)))
        adapter.close()
    assert contents(other, "plain") == [(7, "theirs")]
    assert contents(mine, "plain") == [(1, "mine")]


def test_a_relation_of_another_kind_in_the_schema_is_reported(
    pool: ConnectionPool[Any], schema: str
) -> None:
    raw(f'CREATE VIEW "{schema}".plain AS SELECT 1::bigint AS id, NULL::text AS rolname')
    adapter = PostgresAdapter(pool, schema=schema)
    with pytest.raises(BackendError, match="not a table") as caught:
        adapter.bootstrap(Schema([PLAIN]))
    assert caught.value.model == "plain"
    adapter.close()


# --- writing ------------------------------------------------------------------------------------


def test_duplicate_keys_and_other_driver_errors(db: PostgresAdapter) -> None:
    db.execute(Insert(USERS, (user("u1"),)))
    with pytest.raises(DuplicateKeyError) as dup:
        db.execute(Insert(USERS, (user("u1", email="other@x"),)))
    assert dup.value.model == "users" and "users_pkey" in str(dup.value)
    with pytest.raises(DuplicateKeyError, match="users_email"):
        db.execute(Insert(USERS, (user("u2", email="u1@example.com"),)))
    missing = Model("nowhere", [Field("id", IntegerType())], primary_key=["id"])
    with pytest.raises(BackendError) as caught:
        db.execute(Count(missing, None))
    error = caught.value
    assert error.model == "nowhere" and "[42P01]" in str(error) and "\n" not in str(error)
    assert isinstance(error.__cause__, psycopg.errors.UndefinedTable)


def test_a_batch_is_one_statement_per_chunk_and_all_or_nothing(
    db: PostgresAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = support.record_sql(db, monkeypatch, ["_command"])
    db.execute(Insert(DOCS, tuple(doc(k) for k in range(COPY_ROWS - 1))))
    assert len(ran) == 1 and ran[0].count("(%s") == COPY_ROWS - 1
    db.dialect.max_params = 8 * 4  # four rows per statement
    ran.clear()
    with pytest.raises(DuplicateKeyError):
        db.execute(Insert(DOCS, (*(doc(k) for k in range(100, 110)), doc(0))))
    assert [s for s in ran if s.startswith("INSERT")] == [ran[1], ran[2], ran[3]]
    assert db.execute(Count(DOCS, None)) == COPY_ROWS - 1


def test_larger_batches_are_one_copy(db: PostgresAdapter) -> None:
    rows = tuple(doc(k, s=str(k), j={"k": k}, t=MIN_TIMESTAMP, n=5e-324) for k in range(COPY_ROWS))
    insert = Insert(DOCS, rows)
    columns = ", ".join(f'"{f.name}"' for f in DOCS.fields)
    assert db.statement(insert) == f'COPY "{db.schema}"."docs" ({columns}) FROM STDIN'
    db.execute(insert)
    assert db.execute(Find(DOCS, None, BY_ID)) == list(rows)
    with pytest.raises(DuplicateKeyError) as caught:
        db.execute(Insert(DOCS, (*(doc(k) for k in range(100, 100 + COPY_ROWS)), doc(3))))
    assert caught.value.model == "docs"
    assert db.execute(Count(DOCS, None)) == COPY_ROWS
    with db.transaction() as tx:  # a failed COPY inside a savepoint leaves the rest
        with pytest.raises(DuplicateKeyError), tx.transaction() as inner:
            inner.execute(Insert(DOCS, (*(doc(k) for k in range(200, 240)), doc(200))))
        tx.execute(Insert(DOCS, tuple(doc(k) for k in range(300, 340))))
    assert db.execute(Count(DOCS, None)) == COPY_ROWS + 40


def test_large_batches_use_the_protocol_limit(db: PostgresAdapter) -> None:
    rows = tuple(doc(k, s=str(k), j={"k": k}) for k in range(10_000))  # 80,000 values
    db.execute(Insert(DOCS, rows))
    assert db.execute(Count(DOCS, None)) == 10_000
    with pytest.raises(DuplicateKeyError):
        db.execute(Insert(DOCS, (*(doc(k) for k in range(20_000, 29_000)), doc(5))))
    assert db.execute(Count(DOCS, None)) == 10_000


def test_update_and_delete_counts(db: PostgresAdapter) -> None:
    db.execute(Insert(DOCS, tuple(doc(k, i=k % 3) for k in range(9))))
    assert db.execute(Update(DOCS, eq("i", 1), {"s": "x"})) == 3
    assert db.execute(Update(DOCS, eq("i", 1), {"s": "x"})) == 3  # matched, not changed
    assert db.execute(Update(DOCS, eq("i", 1), {})) == 3
    assert db.execute(Delete(DOCS, not_(eq("s", "x")))) == 6
    assert db.execute(Delete(DOCS, ALL)) == 3


def test_upsert_is_one_statement_that_reports_insert_or_update(db: PostgresAdapter) -> None:
    op = Upsert(USERS, user("u1", n=1), ("n",))
    sql = db.statement(op)
    assert sql is not None and "ON CONFLICT" in sql and sql.endswith("(xmax = 0)")
    assert db.execute(op) == UpsertResult(user("u1", n=1), inserted=True)
    changed = Upsert(USERS, user("u1", tenant="t9", n=2), ("n",))
    assert db.execute(changed) == UpsertResult(user("u1", n=2), inserted=False)
    with db.transaction() as tx:  # a row written earlier in the same transaction
        assert tx.execute(Upsert(USERS, user("u2"), ("n",))).inserted is True  # type: ignore[union-attr]
        assert tx.execute(Upsert(USERS, user("u2", n=3), ("n",))).inserted is False  # type: ignore[union-attr]
        tx.execute(Delete(USERS, eq("id", "u2")))
        assert tx.execute(Upsert(USERS, user("u2", n=4), ("n",))).inserted is True  # type: ignore[union-attr]


def test_scoped_upserts_never_touch_another_scopes_row(db: PostgresAdapter) -> None:
    db.execute(Insert(USERS, (user("u1", tenant="t1", n=1),)))
    other = eq("tenant", "t2")
    assert db.execute(Upsert(USERS, user("u1", tenant="t2", n=9), ("n",), other)) is None
    assert db.execute(Upsert(USERS, user("u1", tenant="t2"), (), other)) is None
    assert db.execute(Find(USERS, None, BY_ID)) == [user("u1", tenant="t1", n=1)]
    mine = and_(eq("tenant", "t1"), not_(is_null("n")))
    result = db.execute(Upsert(USERS, user("u1", tenant="t1", n=5), ("n",), mine))
    assert result == UpsertResult(user("u1", n=5), inserted=False)
    kept = db.execute(Upsert(USERS, user("u1", tenant="t1", n=7), (), mine))
    assert kept == UpsertResult(user("u1", n=5), inserted=False)
    fresh = db.execute(Upsert(USERS, user("u3", tenant="t2"), ("n",), eq("tenant", "t1")))
    assert fresh == UpsertResult(user("u3", tenant="t2"), inserted=True)  # new rows go as given


def test_upsert_with_a_json_path_scope(db: PostgresAdapter) -> None:
    db.execute(Insert(DOCS, (doc(1, i=1, j={"owner": "ann", "it's": 1}),)))
    ann = and_(eq(path("j", "owner"), "ann"), eq(path("j", "it's"), 1))
    bob = eq(path("j", "owner"), "bob")
    assert db.execute(Upsert(DOCS, doc(1, i=2), ("i",), bob)) is None
    result = db.execute(Upsert(DOCS, doc(1, i=3), ("i",), ann))
    assert result is not None and result.row["i"] == 3 and result.row["j"]["owner"] == "ann"


def test_upsert_collisions_on_other_unique_indexes(db: PostgresAdapter) -> None:
    db.execute(Insert(USERS, (user("u1"), user("u2"))))
    with pytest.raises(DuplicateKeyError, match="users_email"):
        db.execute(Upsert(USERS, user("u3", email="u1@example.com"), ("n",)))
    with pytest.raises(DuplicateKeyError, match="users_email"):
        db.execute(Upsert(USERS, user("u2", email="u1@example.com"), ("email",)))


# --- transactions -------------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_commit_rollback_savepoints_and_own_writes(db: PostgresAdapter) -> None:
    with db.transaction() as tx:
        tx.execute(Insert(DOCS, (doc(1),)))
        with pytest.raises(Boom), tx.transaction() as inner:
            inner.execute(Insert(DOCS, (doc(2),)))
            assert ids(inner, None) == [1, 2]
            raise Boom
        assert ids(tx, None) == [1]
    with pytest.raises(Boom), db.transaction() as tx:
        tx.execute(Delete(DOCS, ALL))
        raise Boom
    assert ids(db, None) == [1]


def test_a_failure_inside_a_savepoint_lets_the_transaction_continue(db: PostgresAdapter) -> None:
    db.execute(Insert(USERS, (user("dup"),)))
    with db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        with pytest.raises(DuplicateKeyError), tx.transaction() as savepoint:
            savepoint.execute(Update(USERS, eq("id", "a"), {"n": 5}))
            savepoint.execute(Insert(USERS, (user("dup"),)))
        tx.execute(Insert(USERS, (user("b"),)))
    assert [r["n"] for r in db.execute(Find(USERS, None, BY_ID))] == [None, None, None]
    assert ids(db, None, USERS) == ["a", "b", "dup"]


def test_a_caught_failure_aborts_the_transaction_with_a_clear_error(db: PostgresAdapter) -> None:
    db.execute(Insert(USERS, (user("dup"),)))
    with pytest.raises(BackendError, match="nothing was committed"), db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        with pytest.raises(DuplicateKeyError):
            tx.execute(Insert(USERS, (user("dup"),)))
        with pytest.raises(BackendError, match="aborted it") as later:
            tx.execute(Count(USERS, None))
        assert later.value.model == "users"
        with pytest.raises(BackendError, match="aborted it"):
            tx.transaction().__enter__()
    assert ids(db, None, USERS) == ["dup"]
    with db.transaction() as tx:  # the connection is usable again
        tx.execute(Insert(USERS, (user("b"),)))
    assert ids(db, None, USERS) == ["b", "dup"]


def test_a_failure_caught_inside_a_savepoint_rolls_back_only_the_savepoint(
    db: PostgresAdapter,
) -> None:
    db.execute(Insert(USERS, (user("dup"),)))
    with db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        with (
            pytest.raises(BackendError, match="savepoint was rolled back"),
            tx.transaction() as savepoint,
        ):
            savepoint.execute(Insert(USERS, (user("in-savepoint"),)))
            with pytest.raises(DuplicateKeyError):
                savepoint.execute(Insert(USERS, (user("dup"),)))
        tx.execute(Insert(USERS, (user("b"),)))
    assert ids(db, None, USERS) == ["a", "b", "dup"]


@pytest.mark.parametrize("borrowed", ["connection", "pool"])
def test_a_driver_error_rolls_the_transaction_back_and_frees_the_connection(
    borrowed: str, conn: psycopg.Connection[Any], pool: ConnectionPool[Any], schema: str
) -> None:
    adapter = PostgresAdapter(conn if borrowed == "connection" else pool, schema=schema)
    adapter.bootstrap(SCHEMA)
    missing = Model("nowhere", [Field("id", IntegerType())], primary_key=["id"])
    with pytest.raises(BackendError) as caught, adapter.transaction() as tx:
        tx.execute(Insert(DOCS, (doc(1),)))
        tx.execute(Count(missing, None))
    assert isinstance(caught.value.__cause__, psycopg.errors.UndefinedTable)
    assert ids(adapter, None) == []
    assert conn.info.transaction_status == TransactionStatus.IDLE
    adapter.execute(Insert(DOCS, (doc(2),)))
    assert ids(adapter, None) == [2]


def test_a_pooled_transaction_holds_one_connection_and_others_run_beside_it(
    db: PostgresAdapter,
) -> None:
    pids: list[int] = []
    inside, release = threading.Event(), threading.Event()

    def backend_pid(executor: Any) -> None:
        session = db._local.session
        pids.append(session.conn.info.backend_pid)

    def writer() -> None:
        with db.transaction() as tx:
            backend_pid(tx)
            tx.execute(Insert(DOCS, (doc(1),)))
            inside.set()
            assert release.wait(10)
            tx.execute(Insert(DOCS, (doc(2),)))
            backend_pid(tx)

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(10)
    assert ids(db, None) == []  # another connection: the open transaction is invisible
    release.set()
    thread.join(10)
    assert len(set(pids)) == 1 and ids(db, None) == [1, 2]


def test_a_thread_with_an_open_transaction_cannot_bypass_it(db: PostgresAdapter) -> None:
    with db.transaction() as tx:
        tx.execute(Insert(DOCS, (doc(1),)))
        with pytest.raises(BackendError, match="open transaction"):
            db.execute(Count(DOCS, None))
    assert ids(db, None) == [1]


def test_other_threads_wait_for_a_borrowed_connections_transaction(
    conn: psycopg.Connection[Any], schema: str
) -> None:
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    seen: list[list[Any]] = []
    with adapter.transaction() as tx:
        tx.execute(Insert(DOCS, (doc(1),)))
        reader = threading.Thread(target=lambda: seen.append(ids(adapter, None)))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive()  # waits for the connection
    reader.join(10)
    assert seen == [[1]]


# --- the portable limits (LIM-*) -------------------------------------------------------------------


def test_strings_sort_in_full_whatever_their_length(db: PostgresAdapter) -> None:
    support.check_strings_sort_in_full(db)


def test_keys_and_indexes_at_full_width(db: PostgresAdapter) -> None:
    """B-tree entries hold ~2700 bytes: 512 incompressible astral characters fit."""
    support.check_keys_at_full_width(db)


def test_wide_models(db: PostgresAdapter) -> None:
    support.check_wide_models(db)


def test_rows_of_two_mib(db: PostgresAdapter) -> None:
    support.check_rows_of_two_mib(db)


def test_batches_of_ten_thousand_rows_are_all_or_nothing(db: PostgresAdapter) -> None:
    support.check_batches_at_the_limit(db)


def test_batches_of_several_statements_hold_exactly_their_rows(db: PostgresAdapter) -> None:
    def split() -> None:
        db.dialect.max_params = 4 * 3  # three rows per INSERT (batches under COPY_ROWS)

    assert COPY_ROWS > 15
    support.check_batches_of_several_statements(db, split)


def test_filters_at_the_limits(db: PostgresAdapter) -> None:
    support.check_filters_at_the_limits(db)


def test_filter_trees_of_random_form(db: PostgresAdapter) -> None:
    support.check_random_filter_trees(db, seed=7, count=24)


def test_deep_documents_on_32_key_paths(db: PostgresAdapter) -> None:
    support.check_deep_documents_on_32_key_paths(db)


def test_in_lists_bind_one_typed_array(db: PostgresAdapter) -> None:
    """Any length is one parameter and one statement text; NULL-1 and FLT-IN still hold."""
    sql = db.statement(Find(DOCS, in_("i", [1, 2]), BY_ID))
    assert sql is not None and '"i" = ANY(%s::int8[])' in sql
    assert db.statement(Find(DOCS, in_("i", list(range(70_000))), BY_ID)) is sql
    negated = db.statement(Find(DOCS, not_in("s", ["a"]), BY_ID))
    assert negated is not None and '"s" <> ALL(%s::text[])' in negated
    rows = (
        doc(1, s="é", n=5e-324, i=2**63 - 1, b=True, t=MAX_TIMESTAMP, j={"k": 1}),
        doc(2, s="a", n=0.1, i=-(2**63), b=False, t=MIN_TIMESTAMP, j={"k": "1"}),
        doc(3, j={"k": True}),
    )
    db.execute(Insert(DOCS, rows))
    assert ids(db, in_("i", [*range(70_000), 2**63 - 1])) == [1]  # beyond 65,535 parameters
    assert ids(db, in_("i", [None, -(2**63)])) == [2]
    assert ids(db, not_in("i", [1])) == [1, 2]  # NULL never matches (NULL-1)
    assert ids(db, in_("n", [5e-324, 0.2])) == [1]
    assert ids(db, in_("s", ["é", "b"])) == [1]
    assert ids(db, in_("b", [False])) == [2]
    assert ids(db, in_("t", [MIN_TIMESTAMP, MAX_TIMESTAMP])) == [1, 2]
    assert ids(db, in_("s", [])) == [] and ids(db, not_in("s", [])) == [1, 2]  # FLT-IN
    assert ids(db, in_(path("j", "k"), [1.0, True])) == [1, 3]  # typed: "1" is not 1
    assert ids(db, in_(path("j", "k"), ["1", *map(str, range(20_000))])) == [2]
    assert ids(db, not_in(path("j", "k"), [1])) == [2, 3]


def test_reads_at_the_limits(db: PostgresAdapter) -> None:
    support.check_reads_at_the_limits(db)


def test_values_come_back_as_plain_types(db: PostgresAdapter) -> None:
    support.check_values_come_back_as_plain_types(db)


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_creates_the_schema_and_is_idempotent(pool: ConnectionPool[Any]) -> None:
    name = f"noorm_pgtest_{uuid.uuid4().hex[:12]}"
    adapter = PostgresAdapter(pool, schema=name)
    try:
        planned = adapter.bootstrap(SCHEMA, dry_run=True)
        assert planned[0] == f'CREATE SCHEMA IF NOT EXISTS "{name}"' and len(planned) == 4
        assert raw("SELECT count(*) FROM pg_namespace WHERE nspname = %s", name) == [(0,)]
        assert adapter.bootstrap(SCHEMA) == planned
        assert adapter.bootstrap(SCHEMA) == [] and adapter.bootstrap(SCHEMA, dry_run=True) == []
        raw(f'DROP INDEX "{name}"."users_email"')
        assert adapter.bootstrap(SCHEMA) == [planned[-1]]
    finally:
        adapter.close()
        raw(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_concurrent_bootstraps_all_succeed(schema: str) -> None:
    wide = Schema([DOCS, USERS, *(_keyed(f"more_{k}", f"more_{k}_id") for k in range(6))])
    adapters = [PostgresAdapter(URL, schema=schema, max_connections=1) for _ in range(4)]
    barrier = threading.Barrier(len(adapters))
    ran: list[list[str]] = []
    errors: list[BaseException] = []

    def run(adapter: PostgresAdapter) -> None:
        barrier.wait()
        try:
            ran.append(adapter.bootstrap(wide))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in adapters]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert sorted(len(r) for r in ran) == [0, 0, 0, 15]  # one did it all, under the lock
        adapters[0].execute(Insert(USERS, (user("u1"),)))
        with pytest.raises(DuplicateKeyError):
            adapters[-1].execute(Insert(USERS, (user("u2", email="u1@example.com"),)))
    finally:
        for adapter in adapters:
            adapter.close()


# --- the conformance factory --------------------------------------------------------------------


def test_the_factory_makes_and_drops_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg_testing.URL_ENV, URL)
    factory = pg_testing.ConformanceFactory()
    first = factory()
    assert isinstance(first, PostgresAdapter) and first.schema is not None
    first.bootstrap(SCHEMA)
    second = factory.same_database(first)
    assert isinstance(second, PostgresAdapter) and second.schema == first.schema
    first.execute(Insert(DOCS, (doc(1),)))
    assert ids(second, None) == [1]
    second.close()
    first.close()
    assert raw("SELECT count(*) FROM pg_namespace WHERE nspname = %s", first.schema) == [(0,)]


def test_the_factory_says_how_to_provide_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pg_testing.URL_ENV, raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"NOORM_POSTGRES_URL is not set .*ci/services"):
        pg_testing.ConformanceFactory()()


def test_server_version_is_the_numeric_server_version(db: PostgresAdapter) -> None:
    shown = raw("SHOW server_version")[0][0]
    assert db.server_version() == f"PostgreSQL {shown.split()[0]}"
    assert version_text(150018) == "PostgreSQL 15.18"
    assert version_text(90624) == "PostgreSQL 9.6.24"
    assert version_text(100000) == "PostgreSQL 10.0"  # the first two-part version


def test_a_connect_timeout_in_the_url_wins_over_the_argument(schema: str) -> None:
    sep = "&" if "?" in URL else "?"
    given = PostgresAdapter(f"{URL}{sep}connect_timeout=3", schema=schema, connect_timeout=11)
    default = PostgresAdapter(URL, schema=schema, connect_timeout=11)
    try:
        assert given._pool is not None and default._pool is not None
        given_kwargs, default_kwargs = given._pool.kwargs, default._pool.kwargs
        assert isinstance(given_kwargs, dict) and isinstance(default_kwargs, dict)
        assert "connect_timeout" not in given_kwargs  # the URL's 3 applies
        assert default_kwargs["connect_timeout"] == 11
    finally:
        given.close()
        default.close()


# --- schema evolution (BOOT-5..7) ---------------------------------------------------------

NAMED = Model("named", [Field("id", IntegerType()), Field("s", StringType(10))], primary_key=["id"])


def test_a_changed_max_length_or_collation_is_a_mismatch(
    pool: ConnectionPool[Any], schema: str
) -> None:
    """VARCHAR(n) carries max_length; strings are COLLATE "C" (STR-4)."""
    adapter = PostgresAdapter(pool, schema=schema)
    adapter.bootstrap(Schema([NAMED]))
    wider = NAMED.replace(fields=[Field("id", IntegerType()), Field("s", StringType(20))])
    with pytest.raises(SchemaMismatchError, match=r"character varying\(10\)") as caught:
        adapter.bootstrap(Schema([wider]))
    assert (caught.value.model, caught.value.field) == ("named", "s")
    raw(f'ALTER TABLE "{schema}"."named" ALTER COLUMN "s" TYPE VARCHAR(10) COLLATE "POSIX"')
    with pytest.raises(SchemaMismatchError, match="COLLATE POSIX"):
        adapter.bootstrap(Schema([NAMED]), dry_run=True)
    adapter.close()


def test_an_added_column_waits_for_the_bootstrap_lock(
    pool: ConnectionPool[Any], schema: str
) -> None:
    """The ALTER runs in bootstrap's transaction: a second bootstrap finds it done."""
    adapter = PostgresAdapter(pool, schema=schema)
    adapter.bootstrap(Schema([NAMED]))
    noted = NAMED.with_field(Field("note", StringType(5), nullable=True))
    ran = adapter.bootstrap(Schema([noted]))
    assert ran == [f'ALTER TABLE "{schema}"."named" ADD COLUMN "note" VARCHAR(5) COLLATE "C"']
    assert PostgresAdapter(pool, schema=schema).bootstrap(Schema([noted])) == []
    adapter.close()


# --- pinned by mutation testing ----------------------------------------------------------------


def test_a_url_pool_has_the_documented_defaults(schema: str) -> None:
    """docs/backends/postgres.md: ``connect_timeout`` 10 s, at most 4 connections."""
    adapter = PostgresAdapter(URL, schema=schema)
    try:
        own = adapter._pool
        assert own is not None and own.max_size == 4
        assert isinstance(own.kwargs, dict) and own.kwargs["connect_timeout"] == 10
    finally:
        adapter.close()
    one = PostgresAdapter(URL, schema=schema, max_connections=0)  # at least one connection
    try:
        assert one._pool is not None and one._pool.max_size == 1
        one.bootstrap(SCHEMA)
        assert one.execute(Count(DOCS, None)) == 0
    finally:
        one.close()


def _record_pools(monkeypatch: pytest.MonkeyPatch) -> list[ConnectionPool[Any]]:
    """Every pool the adapter opens from now on."""
    opened: list[ConnectionPool[Any]] = []

    class Recording(ConnectionPool[Any]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(pg_adapter, "ConnectionPool", Recording)
    return opened


def test_a_url_adapter_that_fails_to_start_closes_its_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = _record_pools(monkeypatch)
    with pytest.raises(BackendError, match="no current schema"):
        PostgresAdapter(_variant(options="-c search_path=noorm_nowhere"))
    assert len(opened) == 1 and opened[0].closed


def test_a_url_pool_pings_only_rested_or_disturbed_connections(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lent again at once skips the ping; one the server terminated while
    it rested is noticed (its socket is readable) and replaced before it is lent."""
    monkeypatch.setattr(health, "PING_AFTER_IDLE", 3600.0)  # only the poll may call for one
    pings: list[object] = []
    check = ConnectionPool.check_connection

    def counting(conn: psycopg.Connection[Any]) -> None:
        pings.append(conn)
        check(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counting))
    name = f"noorm_rested_{uuid.uuid4().hex[:8]}"
    adapter = PostgresAdapter(_variant(application_name=name), schema=schema, max_connections=1)
    try:
        adapter.bootstrap(SCHEMA)
        for _ in range(5):
            assert adapter.execute(Count(DOCS, None)) == 0
        assert len(pings) == 1  # the first lend: rested since an unknown time
        terminated = raw(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE application_name = %s",
            name,
        )
        assert terminated == [(True,)]
        adapter.execute(Insert(DOCS, (doc(1),)))  # on a new connection
        assert ids(adapter, None) == [1] and len(pings) > 1
    finally:
        adapter.close()


class _SignallingLock:
    """A session lock that says when another thread has to wait for it."""

    def __init__(self, lock: Any, waiting: threading.Event) -> None:
        self._lock = lock
        self._waiting = waiting

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self._waiting.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_a_call_waiting_for_a_borrowed_connection_fails_once_the_adapter_is_closed(
    conn: psycopg.Connection[Any], schema: str
) -> None:
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    shared = adapter._shared
    assert shared is not None
    waiting = threading.Event()
    shared.lock = _SignallingLock(shared.lock, waiting)  # type: ignore[assignment]
    outcome: list[object] = []

    def count() -> None:
        try:
            outcome.append(adapter.execute(Count(DOCS, None)))
        except BackendError as exc:
            outcome.append(exc)

    with adapter.transaction() as tx:
        tx.execute(Insert(DOCS, (doc(1),)))
        waiter = threading.Thread(target=count)
        waiter.start()
        assert waiting.wait(10)
        adapter.close()
    waiter.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], BackendError)
    assert "closed" in str(outcome[0])


def test_a_pool_that_lends_no_connection_is_a_backend_error(schema: str) -> None:
    own: ConnectionPool[Any] = ConnectionPool(URL, min_size=1, max_size=1, open=True)
    adapter = PostgresAdapter(own, schema=schema)
    own.close()  # the application closed its pool: getconn() raises PoolClosed
    with pytest.raises(BackendError, match="no connection from the pool") as caught:
        adapter.execute(Count(DOCS, None))
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    adapter.close()


def test_jsonb_is_read_in_a_borrowed_connections_encoding(
    conn: psycopg.Connection[Any], schema: str
) -> None:
    conn.execute(b"SET client_encoding TO 'LATIN1'")
    conn.commit()
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    row = doc(1, s="é", txt="ñ", j={"é": "ü", "ß": ["ÿ"]})
    adapter.execute(Insert(DOCS, (row,)))
    assert adapter.execute(Find(DOCS, None, BY_ID)) == [row]
    assert adapter.execute(Find(DOCS, eq(path("j", "é"), "ü"), BY_ID)) == [row]
    adapter.close()


def test_partitioned_tables_and_indexes_are_the_models_own(
    pool: ConnectionPool[Any], schema: str
) -> None:
    """A table the host partitioned (relkind p), with its index (relkind I), is the
    model's table and index: bootstrap has nothing to do, reads and writes go there."""
    indexed = Model(
        "plain", PLAIN.fields, primary_key=["id"], indexes=[Index("plain_rolname", ["rolname"])]
    )
    adapter = PostgresAdapter(pool, schema=schema)
    table, index = adapter.bootstrap(Schema([indexed]), dry_run=True)
    raw(f'{table} PARTITION BY RANGE ("id")')
    raw(f'CREATE TABLE "{schema}"."plain_rest" PARTITION OF "{schema}"."plain" DEFAULT')
    raw(index)
    kinds = raw(
        "SELECT relname, relkind::text FROM pg_class WHERE relnamespace = %s::regnamespace "
        "AND relname IN ('plain', 'plain_rolname') ORDER BY 1",
        schema,
    )
    assert kinds == [("plain", "p"), ("plain_rolname", "I")]
    assert adapter.bootstrap(Schema([indexed])) == []
    adapter.execute(Insert(indexed, ({"id": 1, "rolname": "x"},)))
    assert adapter.execute(Find(indexed, eq("rolname", "x"), ())) == [{"id": 1, "rolname": "x"}]
    adapter.close()


def test_sessions_of_connections_the_pool_replaced_are_forgotten(schema: str) -> None:
    """One session (and cursor) per pooled connection, but not one per connection ever
    lent: those of closed connections are dropped once there are many."""
    own: ConnectionPool[Any] = ConnectionPool(URL, min_size=1, max_size=1, open=True)
    adapter = PostgresAdapter(own, schema=schema)
    try:
        adapter.bootstrap(SCHEMA)
        for _ in range(66):
            assert adapter.execute(Count(DOCS, None)) == 0
            with own.connection() as lent:
                lent.close()  # the pool replaces it
        assert 1 <= len(adapter._sessions) <= 64
    finally:
        adapter.close()
        own.close()


def test_a_batch_of_copy_rows_is_one_copy_on_a_cursor_it_closes(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From 16 rows on (docs/backends/postgres.md), execute() runs the COPY that
    statement() names, on a one-off cursor it closes; the statement cursor is the only
    one left open."""
    made: list[psycopg.Cursor[Any]] = []

    class Tracking(psycopg.Cursor[Any]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    with psycopg.connect(URL, cursor_factory=Tracking) as own:
        adapter = PostgresAdapter(own, schema=schema)
        adapter.bootstrap(SCHEMA)
        ran = support.record_sql(adapter, monkeypatch, ["_command"])
        fewer = Insert(DOCS, tuple(doc(k) for k in range(100, 115)))
        assert adapter.statement(fewer).startswith("INSERT ")  # type: ignore[union-attr]
        insert = Insert(DOCS, tuple(doc(k) for k in range(16)))
        assert adapter.statement(insert).startswith("COPY ")  # type: ignore[union-attr]
        adapter.execute(insert)
        assert ran == []  # no INSERT: the rows went by COPY
        assert adapter.execute(Count(DOCS, None)) == 16
        shared = adapter._shared
        assert shared is not None
        assert [c for c in made if not c.closed] == [shared.cursor]
        adapter.close()


def test_an_upsert_whose_row_keeps_vanishing_gives_up(
    db: PostgresAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Insert-or-read: a conflicting row deleted before it could be read is inserted
    again, but not forever."""
    table = psycopg.sql.Identifier(db.schema, "docs")
    insert = psycopg.sql.SQL("INSERT INTO {} (id) VALUES (1)").format(table)
    delete = psycopg.sql.SQL("DELETE FROM {} WHERE id = 1").format(table)
    with psycopg.connect(URL, autocommit=True) as other:
        support.check_an_upsert_whose_row_keeps_vanishing_gives_up(
            db, monkeypatch, "_query", lambda: other.execute(insert), lambda: other.execute(delete)
        )


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("postgresql://u:secret@db.example:6000/app", "db.example:6000"),
        ("host=db.example hostaddr=10.0.0.9 port=6001 dbname=app user=u", "db.example:6001"),
        ("hostaddr=10.0.0.9 dbname=app user=u", "10.0.0.9:5432"),
        ("dbname=app user=u password=secret", "localhost:5432"),
    ],
)
def test_a_connection_error_says_where_who_and_why(url: str, where: str) -> None:
    """The documented form: host (or hostaddr, or localhost) and port, database and
    user, and the server's reason without libpq's prefix or its severity."""
    for severity in ("FATAL", "ERROR"):
        exc = psycopg.OperationalError(
            f'connection to server at "db.example" (10.0.0.9), port 6000 failed: {severity}:  '
            'password authentication failed for user "u"'
        )
        error = connect_error(url, exc)
        assert str(error) == (
            f'cannot connect to PostgreSQL at {where} (database "app", user "u"): '
            'password authentication failed for user "u"'
        )


def test_a_pool_that_cannot_open_is_closed_and_reported(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The direct connection succeeded, then the pool's own could not be made."""
    opened = _record_pools(monkeypatch)

    def refused(*args: Any, **kwargs: Any) -> psycopg.Connection[Any]:
        raise psycopg.OperationalError("refused for the test")

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(refused))  # not psycopg.connect
    with pytest.raises(BackendError, match="cannot open a connection pool") as caught:
        PostgresAdapter(URL, schema=schema, connect_timeout=1)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    assert len(opened) == 1 and opened[0].closed


def test_a_schema_that_cannot_be_created_names_no_model(conn: psycopg.Connection[Any]) -> None:
    conn.execute(b"SET default_transaction_read_only = on")
    conn.commit()
    adapter = PostgresAdapter(conn, schema=f"noorm_pgtest_{uuid.uuid4().hex[:12]}")
    with pytest.raises(BackendError) as caught:
        adapter.bootstrap(SCHEMA)
    assert not caught.value.model
    assert isinstance(caught.value.__cause__, psycopg.errors.ReadOnlySqlTransaction)
    adapter.close()


def test_a_borrowed_connection_that_died_says_so_on_every_call(
    conn: psycopg.Connection[Any], schema: str
) -> None:
    """docs/backends/postgres.md: "the borrowed connection was lost (...); pass a URL or
    a psycopg_pool.ConnectionPool", with the driver's error as ``__cause__`` (ERR-1)."""
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    pid = conn.info.backend_pid
    assert raw("SELECT pg_terminate_backend(%s, 5000)", pid) == [(True,)]
    for _ in range(2):  # the server's goodbye unread, then a closed connection
        with pytest.raises(BackendError, match="borrowed connection was lost") as caught:
            adapter.execute(Count(DOCS, None))
        assert "pass a URL or a psycopg_pool.ConnectionPool" in str(caught.value)
        assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    with pytest.raises(BackendError, match="borrowed connection was lost"), adapter.transaction():
        pass
    adapter.close()


def test_a_serialization_failure_is_a_conflict(conn: psycopg.Connection[Any], schema: str) -> None:
    """On a connection whose transactions are REPEATABLE READ, a row another transaction
    changed since the snapshot cannot be updated (40001): ConflictError (ISO-4)."""
    conn.execute(b"SET default_transaction_isolation = 'repeatable read'")
    conn.commit()
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    adapter.execute(Insert(DOCS, (doc(1, i=1),)))
    with pytest.raises(ConflictError) as caught, adapter.transaction() as tx:
        assert ids(tx, None) == [1]  # the snapshot
        with psycopg.connect(URL, autocommit=True) as other:
            update = psycopg.sql.SQL("UPDATE {} SET i = 2 WHERE id = 1")
            other.execute(update.format(psycopg.sql.Identifier(schema, "docs")))
        tx.execute(Update(DOCS, eq("id", 1), {"i": 3}))
    assert caught.value.model == "docs"
    assert isinstance(caught.value.__cause__, psycopg.errors.SerializationFailure)
    assert adapter.execute(Find(DOCS, None, BY_ID))[0]["i"] == 2
    adapter.close()


def _waits_for_a_lock(pid: int) -> bool:
    rows = raw("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", pid)
    return rows == [("Lock",)]


def test_a_deadlock_is_a_conflict(db: PostgresAdapter) -> None:
    """The transaction that waited first is the one the server's deadlock check aborts
    (after deadlock_timeout): its block raises ConflictError (ISO-4), nothing committed."""
    db.execute(Insert(DOCS, (doc(1), doc(2))))
    update = psycopg.sql.SQL("UPDATE {} SET i = 9 WHERE id = %s").format(
        psycopg.sql.Identifier(db.schema, "docs")
    )
    pids: list[int] = []
    locked = threading.Event()
    outcome: list[object] = []

    def first() -> None:
        try:
            with db.transaction() as tx:
                tx.execute(Update(DOCS, eq("id", 1), {"i": 1}))
                pids.append(db._local.session.conn.info.backend_pid)
                locked.set()
                tx.execute(Update(DOCS, eq("id", 2), {"i": 1}))  # waits for the other
            outcome.append("committed")
        except BaseException as exc:  # reported below
            outcome.append(exc)

    with psycopg.connect(URL) as other:
        other.execute(update, (2,))
        waiter = threading.Thread(target=first)
        waiter.start()
        assert locked.wait(10)
        for _ in range(1000):  # until the first transaction waits for row 2
            if _waits_for_a_lock(pids[0]):
                break
            time.sleep(0.01)
        other.execute(update, (1,))  # a cycle: the first waiter's check finds it
        waiter.join(10)
        other.commit()
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError)
    assert isinstance(outcome[0].__cause__, psycopg.errors.DeadlockDetected)
    assert [r["i"] for r in db.execute(Find(DOCS, None, BY_ID))] == [9, 9]


def test_a_lock_timeout_is_a_conflict(conn: psycopg.Connection[Any], schema: str) -> None:
    """lock_not_available (55P03, the session's lock_timeout) is ConflictError (ISO-4)."""
    conn.execute(b"SET lock_timeout = '50ms'")
    conn.commit()
    adapter = PostgresAdapter(conn, schema=schema)
    adapter.bootstrap(SCHEMA)
    adapter.execute(Insert(DOCS, (doc(1),)))
    with psycopg.connect(URL) as other:
        update = psycopg.sql.SQL("UPDATE {} SET i = 9 WHERE id = 1")
        other.execute(update.format(psycopg.sql.Identifier(schema, "docs")))  # holds the row
        with pytest.raises(ConflictError) as caught:
            adapter.execute(Update(DOCS, eq("id", 1), {"i": 1}))
        other.rollback()
    assert caught.value.model == "docs"
    assert isinstance(caught.value.__cause__, psycopg.errors.LockNotAvailable)
    adapter.close()


SYSTEM_NAMES = ("tableoid", "xmin", "cmin", "xmax", "cmax", "ctid")


def test_tables_named_like_system_columns_are_stored_upper_cased(
    pool: ConnectionPool[Any], schema: str
) -> None:
    """The stored names of existing tables must not move between versions."""
    models = [renamed(PLAIN, name) for name in SYSTEM_NAMES]
    adapter = PostgresAdapter(pool, schema=schema)
    adapter.bootstrap(Schema(models))
    tables = raw(
        "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace AND relkind = 'r'",
        schema,
    )
    assert sorted(t for (t,) in tables) == sorted(name.upper() for name in SYSTEM_NAMES)
    assert adapter.bootstrap(Schema(models)) == []
    for n, model in enumerate(models):
        adapter.execute(Insert(model, ({"id": n, "rolname": model.name},)))
        assert adapter.execute(Find(model, None, ())) == [{"id": n, "rolname": model.name}]
    adapter.close()


@pytest.mark.parametrize(
    ("columns", "shown"),
    [
        ("(lower(email))", "unique (lower(email"),  # the server's text of the expression
        ('("email", lower(tenant))', "unique (email, lower(tenant"),
        ('("email") INCLUDE ("tenant")', "unique (email, INCLUDE tenant)"),
    ],
    ids=["expression", "column-and-expression", "covering"],
)
def test_an_index_of_another_form_under_a_models_index_name_is_a_mismatch(
    pool: ConnectionPool[Any], schema: str, columns: str, shown: str
) -> None:
    """An expression or an INCLUDE column is part of the stored definition (BOOT-6)."""
    adapter = PostgresAdapter(pool, schema=schema)
    table = adapter.bootstrap(Schema([USERS]), dry_run=True)[0]
    raw(table)
    raw(f'CREATE UNIQUE INDEX "users_email" ON "{schema}"."users" {columns}')
    with pytest.raises(SchemaMismatchError) as caught:
        adapter.bootstrap(Schema([USERS]))
    assert caught.value.model == "users" and caught.value.index == "users_email"
    message = str(caught.value)
    assert f"it exists as {shown}" in message and "the model declares unique (email);" in message
    adapter.close()


def test_a_duplicate_names_its_constraint_as_the_server_reports_it(
    pool: ConnectionPool[Any], schema: str
) -> None:
    """The constraint comes from the error's own field: a name ending in digits is kept
    whole (only Citus's shard names, read from the message, lose such a suffix)."""
    accounts = Model(
        "accounts",
        [Field("id", IntegerType()), Field("email", StringType(20))],
        primary_key=["id"],
        indexes=[Index("accounts_email_2", ["email"], unique=True)],
    )
    adapter = PostgresAdapter(pool, schema=schema)
    adapter.bootstrap(Schema([accounts]))
    adapter.execute(Insert(accounts, ({"id": 1, "email": "a@x"},)))
    with pytest.raises(DuplicateKeyError, match=r"\(constraint accounts_email_2\)") as caught:
        adapter.execute(Insert(accounts, ({"id": 2, "email": "a@x"},)))
    assert caught.value.model == "accounts"
    adapter.close()
