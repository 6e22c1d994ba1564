"""The PostgreSQL adapter on Citus (PART-4): distribution plan, error names, mismatches.

The planning and error-parsing tests need no server. The others run on a Citus
coordinator (``NOORM_CITUS_URL``, started by ``ci/citus``) and skip, saying so, without one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from noorm.adapters.postgres.citus import DistributedTable, distribution_plan
from noorm.adapters.postgres.dialect import PostgresDialect, constraint_from_message
from noorm.kit import Store
from noorm.spec import (
    Adapter,
    BackendError,
    ConflictError,
    Count,
    DuplicateKeyError,
    Field,
    Find,
    Index,
    Insert,
    IntegerType,
    Model,
    Order,
    Schema,
    SchemaMismatchError,
    StringType,
    eq,
    gt,
)

if TYPE_CHECKING:
    import psycopg

ORGS = Model("orgs", [Field("org", IntegerType())], primary_key=["org"], partition_key="org")
USERS = Model(
    "users",
    [Field("org", IntegerType()), Field("id", StringType(8)), Field("email", StringType(32))],
    primary_key=["org", "id"],
    indexes=[Index("users_email", ["org", "email"], unique=True)],
    partition_key="org",
    colocate_with="orgs",
)
LOCAL = Model("local_things", [Field("id", IntegerType())], primary_key=["id"])
SCHEMA = Schema([USERS, ORGS, LOCAL])


def _dialect() -> PostgresDialect:
    return PostgresDialect("s")


def test_the_plan_distributes_anchors_first_and_colocates() -> None:
    plan = distribution_plan(_dialect(), SCHEMA, {"orgs", "users", "local_things"}, {})
    assert [d.model for d in plan] == ["orgs", "users"]  # local_things stays local
    assert plan[0].sql == (
        "SELECT create_distributed_table('\"s\".\"orgs\"', 'org', colocate_with => 'default')"
    )
    assert 'colocate_with => \'"s"."orgs"\'' in plan[1].sql
    assert distribution_plan(_dialect(), SCHEMA, set(), _existing(1, 1)) == []


def _existing(orgs: int, users: int, column: str = "org") -> dict[str, DistributedTable]:
    return {
        "orgs": DistributedTable("h", "org", orgs),
        "users": DistributedTable("h", column, users),
    }


@pytest.mark.parametrize(
    ("existing", "model", "message"),
    [
        (_existing(1, 2), "users", "not colocated with 'orgs'"),
        (_existing(1, 1, column="id"), "users", "distributed by 'id'"),
        ({"orgs": DistributedTable("h", "org", 1)}, "users", "not distributed"),
        (
            {**_existing(1, 1), "local_things": DistributedTable("h", "id", 3)},
            "local_things",
            "no partition key",
        ),
        (
            {"orgs": DistributedTable("n", None, 4), "users": DistributedTable("h", "org", 4)},
            "orgs",
            "not distributed",
        ),
    ],
)
def test_an_existing_table_distributed_otherwise_is_a_mismatch(
    existing: dict[str, DistributedTable], model: str, message: str
) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        distribution_plan(_dialect(), SCHEMA, set(), existing)
    assert caught.value.model == model and message in str(caught.value)


def test_a_colocated_table_whose_anchor_is_new_is_a_mismatch() -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        distribution_plan(_dialect(), SCHEMA, {"orgs"}, _existing(1, 1))
    assert caught.value.model == "users"


class _Diag:
    constraint_name = None


class _CitusError(Exception):
    sqlstate = "23505"
    diag = _Diag()


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ('duplicate key value violates unique constraint "users_email_102008"', "users_email"),
        ('duplicate key value violates unique constraint "t_pkey_102041"', "t_pkey"),
        ('duplicate key value violates unique constraint "a""b_7"', 'a"b'),
        ("could not create unique index", None),
    ],
)
def test_the_constraint_is_read_from_the_message_without_the_shard_suffix(
    message: str, name: str | None
) -> None:
    assert constraint_from_message(_CitusError(message)) == name
    error = _dialect().classify_error(_CitusError(message), "users")
    assert isinstance(error, DuplicateKeyError) and error.model == "users"
    assert (name or "duplicate key") in str(error)


class _CopyError(_CitusError):
    sqlstate = "XX000"


def test_a_duplicate_in_a_distributed_copy_is_a_duplicate_key_error() -> None:
    """Citus re-raises a worker's unique violation during COPY as an internal error."""
    message = 'duplicate key value violates unique constraint "batch_pkey_175897"'
    error = _dialect().classify_error(_CopyError(message), "batch")
    assert isinstance(error, DuplicateKeyError) and "constraint batch_pkey)" in str(error)
    other = _dialect().classify_error(_CopyError("something else"), "batch")
    assert not isinstance(other, DuplicateKeyError)


# --- on a Citus coordinator ----------------------------------------------------------------

needs_citus = pytest.mark.skipif(
    not os.environ.get("NOORM_CITUS_URL"), reason="needs NOORM_CITUS_URL (ci/citus)"
)


@pytest.fixture
def citus() -> Iterator[Adapter]:
    from noorm.adapters.postgres.testing import CITUS_URL_ENV, ConformanceFactory

    adapter = ConformanceFactory(CITUS_URL_ENV)()
    yield adapter
    adapter.close()


@needs_citus
def test_bootstrap_distributes_and_a_second_run_is_a_no_op(citus: Adapter) -> None:
    from noorm.adapters.postgres import PostgresAdapter

    assert isinstance(citus, PostgresAdapter) and citus.citus_version()
    store = Store(SCHEMA, citus)
    planned = store.bootstrap(dry_run=True)
    assert sum("create_distributed_table" in s for s in planned) == 2
    assert store.bootstrap() == planned and store.bootstrap() == []
    store.insert_many(ORGS, [{"org": k} for k in range(8)])
    store.insert_many(USERS, [{"org": k % 8, "id": f"u{k}", "email": f"e{k}"} for k in range(40)])
    with pytest.raises(DuplicateKeyError, match=r"constraint users_email\)"):
        store.insert(USERS, {"org": 1, "id": "new", "email": "e1"})
    with pytest.raises(DuplicateKeyError, match=r"constraint users_pkey\)"):
        store.insert(USERS, {"org": 1, "id": "u1", "email": "other"})
    # A locking read over every shard: Citus refuses FOR UPDATE there; the rows are locked
    # by key instead, and the read returns what a plain read returns.
    with store.transaction() as tx:
        locked = tx.find(USERS, gt("org", 2), for_update=True).rows
        assert locked == tx.find(USERS, gt("org", 2)).rows and len(locked) == 25
    # The model unpartitioned over its distributed table: a mismatch, nothing changed.
    with pytest.raises(SchemaMismatchError) as caught:
        Store(Schema([USERS.replace(partition_key=(), colocate_with=None)]), citus).bootstrap()
    assert caught.value.model == "users" and caught.value.field == "org"
    assert store.count(USERS) == 40


@needs_citus
def test_a_local_table_later_partitioned_is_a_mismatch(citus: Adapter) -> None:
    plain = Schema([ORGS.replace(partition_key=())])
    Store(plain, citus).bootstrap()
    with pytest.raises(SchemaMismatchError) as caught:
        Store(Schema([ORGS]), citus).bootstrap(dry_run=True)
    assert caught.value.model == "orgs" and "not distributed" in str(caught.value)


# --- pinned by mutation testing ----------------------------------------------------------------


def _release(url: str) -> tuple[int, str]:
    """The server's version number and the Citus release, read outside the adapter."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(b"SELECT citus_version()").fetchone()
        assert row is not None
        return conn.info.server_version, str(row[0]).split()[1]


@needs_citus
def test_the_server_version_names_the_citus_release(citus: Adapter) -> None:
    from noorm.adapters.postgres.adapter import version_text

    number, release = _release(os.environ["NOORM_CITUS_URL"])
    assert citus.server_version() == f"{version_text(number)}, Citus {release}"


def _users(count: int) -> list[dict[str, object]]:
    return [{"org": k % 8, "id": f"u{k}", "email": f"e{k}"} for k in range(count)]


@needs_citus
def test_reads_and_locking_reads_on_citus(citus: Adapter) -> None:
    """A plain read runs anywhere; a locking read FOR UPDATE where Citus runs it (a local
    table, one shard), otherwise by key: either way the rows read are locked."""
    import psycopg

    from noorm.adapters.postgres import PostgresAdapter

    assert isinstance(citus, PostgresAdapter)
    store = Store(SCHEMA, citus)
    store.bootstrap()
    store.insert_many(ORGS, [{"org": k} for k in range(8)])
    store.insert_many(USERS, _users(40))
    store.insert_many(LOCAL, [{"id": k} for k in range(3)])
    by_id = (Order("id"),)
    assert len(citus.execute(Find(USERS, gt("org", 2), by_id))) == 25  # outside a transaction
    table = psycopg.sql.Identifier(citus.schema, "users")
    lock = psycopg.sql.SQL("SELECT id FROM {} WHERE org = %s AND id = %s FOR UPDATE NOWAIT")
    with citus.transaction() as tx, psycopg.connect(os.environ["NOORM_CITUS_URL"]) as other:
        assert tx.execute(Find(LOCAL, None, by_id, for_update=True)) == [
            {"id": k} for k in range(3)
        ]
        one_shard = tx.execute(Find(USERS, eq("org", 1), by_id, for_update=True))
        assert [r["id"] for r in one_shard] == ["u1", "u17", "u25", "u33", "u9"]
        locked = tx.execute(Find(USERS, gt("org", 2), by_id, for_update=True))
        assert len(locked) == 25
        for row in (locked[0], locked[-1], one_shard[0]):
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(lock.format(table), (row["org"], row["id"]))
            other.rollback()
        free = other.execute(lock.format(table), (2, "u2")).fetchall()
        assert free == [("u2",)]  # not read, not locked
        other.rollback()


@needs_citus
def test_a_locking_read_reuses_the_sessions_cursor(citus: Adapter) -> None:
    from noorm.adapters.postgres import PostgresAdapter

    assert isinstance(citus, PostgresAdapter)
    Store(SCHEMA, citus).bootstrap()
    citus.execute(Insert(USERS, tuple(_users(16))))
    opened: list[object] = []

    class Counting(PostgresAdapter):
        def cursor(self, conn: Any) -> psycopg.Cursor[Any]:
            opened.append(conn)
            return super().cursor(conn)

    adapter = Counting(os.environ["NOORM_CITUS_URL"], schema=citus.schema, max_connections=1)
    try:
        with adapter.transaction() as tx:
            for _ in range(3):
                assert len(tx.execute(Find(USERS, gt("org", 2), (), for_update=True))) == 10
                assert len(tx.execute(Find(USERS, eq("org", 3), (), for_update=True))) == 2
        assert len(opened) == 1
    finally:
        adapter.close()


@needs_citus
def test_a_failed_locking_read_is_a_backend_error(citus: Adapter) -> None:
    import psycopg

    Store(SCHEMA, citus).bootstrap()
    missing = Model("nowhere", ORGS.fields, primary_key=["org"], partition_key="org")
    with pytest.raises(BackendError, match="does not exist") as caught, citus.transaction() as tx:
        tx.execute(Find(missing, gt("org", 2), (), for_update=True))
    assert caught.value.model == "nowhere"
    assert isinstance(caught.value.__cause__, psycopg.errors.UndefinedTable)


@needs_citus
def test_a_locking_read_whose_rows_keep_changing_gives_up(
    citus: Adapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows locked by key are read again until no new one shows up, for at most 8 rounds
    (docs/backends/postgres.md)."""
    import psycopg

    from noorm.adapters.postgres import PostgresAdapter

    assert isinstance(citus, PostgresAdapter)
    Store(SCHEMA, citus).bootstrap()
    citus.execute(Insert(USERS, tuple(_users(8))))
    query = citus._query
    insert = psycopg.sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(
        psycopg.sql.Identifier(citus.schema, "users")
    )
    added: list[int] = []
    with psycopg.connect(os.environ["NOORM_CITUS_URL"], autocommit=True) as other:

        def growing(session: Any, compiled: Any, model: str | None, *rest: Any) -> Any:
            if model == "users" and not compiled.sql.endswith("FOR UPDATE"):
                added.append(100 + len(added))  # a writer adds a row before each read
                other.execute(insert, (3, f"n{added[-1]}", f"n{added[-1]}"))
            return query(session, compiled, model, *rest)

        monkeypatch.setattr(citus, "_query", growing)
        with (
            pytest.raises(ConflictError, match="kept changing") as caught,
            citus.transaction() as tx,
        ):
            tx.execute(Find(USERS, gt("org", 2), (), for_update=True))
        monkeypatch.undo()
    assert caught.value.model == "users" and len(added) == 8


@needs_citus
def test_bootstrap_runs_its_ddl_over_one_connection_per_worker(citus: Adapter) -> None:
    """Sequential multi-shard mode for the whole of bootstrap's transaction (citus.py:
    several tables distributed and indexed in one transaction), and for it only."""
    from noorm.adapters.postgres import PostgresAdapter
    from noorm.adapters.sql.compiler import Compiled
    from noorm.adapters.sql.program import Query

    assert isinstance(citus, PostgresAdapter)
    show = Compiled("SHOW citus.multi_shard_modify_mode", [])
    modes: list[str] = []

    class Watching(PostgresAdapter):
        def bootstrap_plan(self, session: Any, schema: Schema, ddl: Any) -> Any:
            todo = yield from super().bootstrap_plan(session, schema, ddl)
            modes.append(str((yield Query(show, None))[0][0]))
            return todo

    adapter = Watching(os.environ["NOORM_CITUS_URL"], schema=citus.schema, max_connections=1)
    try:
        assert len(adapter.bootstrap(SCHEMA)) == 6
        with adapter.transaction() as tx:
            assert tx.execute(Find(ORGS, None, ())) == []
            modes.append(str(adapter._query(adapter._local.session, show, None)[0][0]))
        assert modes == ["sequential", "parallel"]
    finally:
        adapter.close()


@needs_citus
def test_a_schema_name_with_a_quote_is_distributed_too() -> None:
    """create_distributed_table takes the table as a string literal: quotes are doubled."""
    import uuid

    import psycopg

    from noorm.adapters.postgres import PostgresAdapter

    url = os.environ["NOORM_CITUS_URL"]
    name = f"noorm_it's_{uuid.uuid4().hex[:8]}"
    quoted = '"' + name + '"'
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {quoted}".encode())
    adapter = PostgresAdapter(url, schema=name, max_connections=1)
    try:
        store = Store(Schema([ORGS, USERS]), adapter)
        assert sum("create_distributed_table" in s for s in store.bootstrap()) == 2
        assert store.bootstrap() == []
        store.insert_many(ORGS, [{"org": k} for k in range(4)])
        assert store.count(ORGS) == 4
    finally:
        adapter.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {quoted} CASCADE".encode())


@needs_citus
def test_a_field_added_to_a_distributed_model_only_alters_its_table(citus: Adapter) -> None:
    """BOOT-5 on Citus: the ADD COLUMN propagates to the shards; the table stays
    distributed as it was and is not distributed again."""
    from noorm.adapters.postgres import PostgresAdapter

    assert isinstance(citus, PostgresAdapter)
    Store(SCHEMA, citus).bootstrap()
    noted = ORGS.with_field(Field("note", StringType(5), nullable=True))
    wider = Schema([USERS, noted, LOCAL])
    added = f'ALTER TABLE "{citus.schema}"."orgs" ADD COLUMN "note" VARCHAR(5) COLLATE "C"'
    assert Store(wider, citus).bootstrap(dry_run=True) == [added]
    assert Store(wider, citus).bootstrap() == [added]
    store = Store(wider, citus)
    store.insert(noted, {"org": 1, "note": "hi"})
    assert store.find(noted, gt("org", 0)).rows == [{"org": 1, "note": "hi"}]
    assert store.bootstrap() == []


@needs_citus
def test_sessions_stay_bounded_with_a_pool_of_many_connections(citus: Adapter) -> None:
    """The adapter keeps one session per pooled connection; once it knows 64, it drops
    those of connections the pool closed whenever it meets a new one, however many of
    the others are open. (On the coordinator: it accepts the 66 connections this needs.)"""
    from psycopg_pool import ConnectionPool

    from noorm.adapters.postgres import PostgresAdapter

    assert isinstance(citus, PostgresAdapter)
    Store(Schema([LOCAL]), citus).bootstrap()
    size = 66
    pool: ConnectionPool[Any] = ConnectionPool(
        os.environ["NOORM_CITUS_URL"], min_size=size, max_size=size, open=True
    )
    adapter = PostgresAdapter(pool, schema=citus.schema)
    try:
        pool.wait(30)
        for _ in range(size):  # the pool lends its idle connections in turn
            assert adapter.execute(Count(LOCAL, None)) == 0
        assert len(adapter._sessions) == size
        for _ in range(8):
            with pool.connection() as lent:
                lent.close()  # the pool replaces it
        for _ in range(2 * size):
            assert adapter.execute(Count(LOCAL, None)) == 0
        assert len(adapter._sessions) <= size
    finally:
        adapter.close()
        pool.close()
