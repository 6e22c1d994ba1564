"""The SQLite adapter's own tests, driven through ``execute`` with hand-built operations.

The conformance suite certifies every clause across adapters; these tests pin what
is specific to SQLite and to the shared SQL layer: JSON path keys that need escaping,
typed path comparisons, two-valued NOT, upserts under a scope, savepoints, atomic
batches, statement caching and bootstrapping from two processes at once. Filters and
orders are also checked against the memory adapter (the reference) on generated data.
"""

from __future__ import annotations

import math
import multiprocessing
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import noorm
from noorm.adapters.memory import matches
from noorm.adapters.sqlite import SQLiteAdapter, SQLiteDialect
from noorm.adapters.sqlite.dialect import PACK_IN, json_paths_work
from noorm.kit import Store
from noorm.spec import (
    Adapter,
    BackendError,
    BooleanType,
    Capability,
    Count,
    DuplicateKeyError,
    Field,
    Filter,
    Find,
    Index,
    Insert,
    IntegerType,
    Model,
    NumberType,
    Order,
    Schema,
    SchemaMismatchError,
    StringType,
    TimestampType,
    UnsupportedError,
    Upsert,
    UpsertResult,
    ValidationError,
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

from . import support
from .support import BY_ID, DOCS, SCHEMA, SCOPE_T1, USERS, K, doc, ids, user

# Keys that are syntax in a JSON path somewhere, or that an encoder might mangle.
KEYS = (
    "plain", "a.b", 'a"b', 'a".b', "a'b", "$", "$.a", "a[0]", "[", "]", "?", "a\\b", "\\",
    '\\"', 'a"[0]', "a b", " ", "", "é", "e\u0301", "日本", "\U0001f600", "\ue000", "a\nb",
    "\x01", "\u2028", "*", '"', ".", "..", "$[0]", '"."', "a\\.b", "k\u00a0",
)  # fmt: skip


def open_adapter(
    target: str | Path | sqlite3.Connection, *, json_each: bool = False
) -> SQLiteAdapter:
    adapter = SQLiteAdapter(target)
    adapter.dialect.json_path_strings = not json_each
    adapter.bootstrap(SCHEMA)
    return adapter


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SQLiteAdapter]:
    adapter = open_adapter(tmp_path / "db.sqlite3")
    yield adapter
    adapter.close()


@pytest.fixture(params=["path", "json_each"])
def jdb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLiteAdapter]:
    """An adapter reading json paths through path strings, or forced onto json_each."""
    adapter = open_adapter(tmp_path / "db.sqlite3", json_each=request.param == "json_each")
    yield adapter
    adapter.close()


# --- identity ----------------------------------------------------------------------------------


def test_protocol_identity_and_capabilities(db: SQLiteAdapter) -> None:
    assert isinstance(db, Adapter)
    assert db.name == "sqlite"
    assert db.version == noorm.__version__
    assert db.capabilities == {
        Capability.TRANSACTIONS,
        Capability.SAVEPOINTS,
        Capability.JSON_PATHS,
        Capability.CONCURRENT_BOOTSTRAP,
        Capability.SCHEMA_INTROSPECTION,
        Capability.LOCKING_READS,
        Capability.ATOMIC_UPDATES,
    }
    assert db.server_version() == f"SQLite {sqlite3.sqlite_version}"


# --- JSON path keys ------------------------------------------------------------------------------


def test_this_sqlite_passes_the_path_probe() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        assert json_paths_work(conn)
        quotes = json_paths_work(conn, quotes=True)
    finally:
        conn.close()
    if sqlite3.sqlite_version_info < (3, 45):
        assert not quotes  # a quoted path key ends at the first '"', escaped or not
    adapter = SQLiteAdapter(":memory:")
    assert adapter.dialect.json_path_strings
    assert adapter.dialect.json_path_quotes is quotes
    adapter.close()


def test_every_key_selects_exactly_itself(jdb: SQLiteAdapter) -> None:
    """FLT-JSON-3: each row holds one key as "hit", plus decoys a lax path would hit."""
    rows = []
    for number, key in enumerate(KEYS):
        document: dict[str, Any] = {key: "hit", "nest": {key: number}}
        document.setdefault("a", {"b": "decoy", "[0]": "decoy"})
        document.setdefault("$", "decoy")
        rows.append(doc(number, j=document))
    jdb.execute(Insert(DOCS, tuple(rows)))
    for number, key in enumerate(KEYS):
        expected = [number]
        assert ids(jdb, eq(path("j", key), "hit")) == expected, repr(key)
        assert ids(jdb, eq(path("j", "nest", key), number)) == expected, repr(key)
        assert ids(jdb, in_(path("j", "nest", key), [number, "x"])) == expected, repr(key)
        lacking = [n for n, row in enumerate(rows) if key not in row["j"]]
        assert ids(jdb, is_null(path("j", key))) == lacking, repr(key)
        misses = [n for n in range(len(KEYS)) if n != number]
        assert ids(jdb, not_(eq(path("j", key), "hit"))) == misses, repr(key)
    assert [row["j"] for row in jdb.execute(Find(DOCS, None, BY_ID))] == [r["j"] for r in rows]


def test_keys_never_match_array_indexes_or_partial_keys(jdb: SQLiteAdapter) -> None:
    jdb.execute(
        Insert(
            DOCS,
            (
                doc(1, j={"a": [10, 20]}),
                doc(2, j={"a": {"0": 10}}),
                doc(3, j={"ab": 10, "a": {"b": 10}}),
                doc(4, j=[{"a": 10}]),
                doc(5, j="a"),
            ),
        )
    )
    assert ids(jdb, eq(path("j", "a", "0"), 10)) == [2]
    assert ids(jdb, eq(path("j", "a.b"), 10)) == []
    assert ids(jdb, eq(path("j", "a", "b"), 10)) == [3]
    assert ids(jdb, eq(path("j", "0", "a"), 10)) == []
    assert ids(jdb, is_null(path("j", "a"))) == [4, 5]


# --- typed path comparisons (FLT-JSON-1/2) -----------------------------------------------------------

TYPED = support.TYPED
PRESENT = support.present(TYPED)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (eq(K, 1), [1, 2]),
        (eq(K, 1.0), [1, 2]),
        (eq(K, "1"), [3]),
        (eq(K, True), [4]),
        (eq(K, False), [5]),
        (eq(K, 0), [14]),
        (ne(K, 1), [n for n in PRESENT if n not in (1, 2)]),
        (ne(K, True), [n for n in PRESENT if n != 4]),
        (ne(K, "1"), [n for n in PRESENT if n != 3]),
        (gt(K, 1), [11]),
        (gte(K, 1), [1, 2, 11]),
        (lt(K, 1), [14]),
        (lte(K, 0.0), [14]),
        (lt(K, "b"), [3, 13]),
        (gt(K, "B"), [12, 15]),
        (gt(K, "b"), [15]),
        (gt(K, False), []),
        (lte(K, True), []),
        (is_null(K), [6, 7, 8]),
        (not_(is_null(K)), PRESENT),
        (in_(K, [1, "b", True]), [1, 2, 4, 12]),
        (not_in(K, [1, "b", True]), [n for n in PRESENT if n not in (1, 2, 4, 12)]),
        (not_in(K, []), PRESENT),
        (in_(K, []), []),
        (not_(eq(K, 1)), [n for n in TYPED if n not in (1, 2)]),
        (not_(ne(K, 1)), [1, 2, 6, 7, 8]),
        (not_(gt(K, "a")), [n for n in TYPED if n not in (12, 15)]),
        (is_null(path("j", "k", "a")), [n for n in TYPED if n != 10]),
        (eq(path("j", "k", "a"), 1), [10]),
    ],
)
def test_typed_path_comparisons(jdb: SQLiteAdapter, where: Filter, expected: list[int]) -> None:
    support.check_typed_path_comparisons(jdb, TYPED, where, expected)
    rows = [doc(n, j=j) for n, j in TYPED.items()]
    assert [r["id"] for r in rows if matches(DOCS, where, r)] == expected  # the reference agrees


# --- NOT and NULL (FLT-LOGIC, NULL-1, FLT-IN) -------------------------------------------------------


@pytest.mark.parametrize(("where", "expected"), support.TWO_VALUED_CASES)
def test_two_valued_logic(db: SQLiteAdapter, where: Filter, expected: list[int]) -> None:
    support.check_two_valued_logic(db, where, expected)


# --- strings, ordering, values -------------------------------------------------------------------

STRINGS = ["b", "a", "B", "é", "e\u0301", "", "\ue000", "\uffff", "\U0001f600", "\U00010000", "~"]


def test_strings_compare_and_sort_by_code_point(db: SQLiteAdapter) -> None:
    """STR-4: astral characters sort after U+E000..U+FFFF (UTF-16 order would not)."""
    db.execute(Insert(DOCS, tuple(doc(n, s=s) for n, s in enumerate(STRINGS))))
    rows = db.execute(Find(DOCS, None, (Order("s"), *BY_ID)))
    assert [r["s"] for r in rows] == sorted(STRINGS)
    assert {r["s"] for r in db.execute(Find(DOCS, gt("s", "\uffff"), BY_ID))} == {
        "\U0001f600",
        "\U00010000",
    }
    assert [r["s"] for r in db.execute(Find(DOCS, lt("s", "a"), (Order("s"), *BY_ID)))] == [
        "",
        "B",
    ]
    assert ids(db, eq("s", "é")) == [STRINGS.index("é")]  # no normalization: e + U+0301 differs
    assert ids(db, eq("s", "")) == [STRINGS.index("")]  # STR-3: "" is not NULL


def test_null_sorts_lowest(db: SQLiteAdapter) -> None:
    support.check_null_sorts_lowest(db)


def test_numbers_round_trip_exactly(db: SQLiteAdapter) -> None:
    floats = [
        0.0,
        -0.0,
        5e-324,
        -5e-324,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        0.1,
        1 / 3,
        2.0,
    ]
    ints = [-(2**63), 2**63 - 1, 0, -1, 2**53 + 1]
    rows = [doc(n, n=f) for n, f in enumerate(floats)]
    rows += [doc(100 + n, i=i) for n, i in enumerate(ints)]
    db.execute(Insert(DOCS, tuple(rows)))
    stored = {r["id"]: r for r in db.execute(Find(DOCS, None, BY_ID))}
    for n, f in enumerate(floats):
        assert type(stored[n]["n"]) is float
        assert stored[n]["n"] == f
        if f != 0:
            assert math.copysign(1, stored[n]["n"]) == math.copysign(1, f)
        assert n in ids(db, eq("n", f))
    assert ids(db, eq("n", 0.0)) == [0, 1]  # -0.0 == 0.0
    for n, i in enumerate(ints):
        assert type(stored[100 + n]["i"]) is int
        assert stored[100 + n]["i"] == i
        assert ids(db, eq("i", i)) == [100 + n]
    assert ids(db, lt("i", -(2**62))) == [100]
    assert ids(db, gte("i", 2**63 - 1)) == [101]


def test_timestamps_booleans_and_json_values(db: SQLiteAdapter) -> None:
    moments = support.MOMENTS
    document: dict[str, Any] = {
        "int": 1,
        "float": 1.0,
        "neg": -2.5,
        "null": None,
        "list": [1, "x", None, {}],
        "é": "ü",
    }
    rows = [doc(n, t=t, b=n % 2 == 0) for n, t in enumerate(moments)]
    rows.append(doc(9, j=document))
    db.execute(Insert(DOCS, tuple(rows)))
    stored = {r["id"]: r for r in db.execute(Find(DOCS, None, BY_ID))}
    for n, t in enumerate(moments):
        assert stored[n]["t"] == t
        assert stored[n]["t"].tzinfo is UTC
        assert stored[n]["b"] is (n % 2 == 0)
    assert ids(db, lt("t", datetime(1970, 1, 1, tzinfo=UTC))) == [0, 2]
    plus_two = timezone(timedelta(hours=2))
    assert ids(db, eq("t", datetime(1970, 1, 1, 2, tzinfo=plus_two))) == [3]
    assert ids(db, eq("b", False)) == [1, 3]
    assert stored[9]["j"] == document
    assert type(stored[9]["j"]["int"]) is int
    assert type(stored[9]["j"]["float"]) is float


def test_lone_surrogates_are_refused_naming_the_model(db: SQLiteAdapter) -> None:
    with pytest.raises(ValidationError) as info:
        db.execute(Insert(DOCS, (doc(1, s="a\ud800"),)))
    assert info.value.model == "docs"
    assert db.execute(Count(DOCS, None)) == 0


# --- writes ---------------------------------------------------------------------------------------


def test_duplicate_keys(db: SQLiteAdapter) -> None:
    db.execute(Insert(USERS, (user("u1"),)))
    for clash in (user("u1", email="other@example.com"), user("u2", email="u1@example.com")):
        with pytest.raises(DuplicateKeyError) as info:
            db.execute(Insert(USERS, (clash,)))
        assert info.value.model == "users"
        assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
    assert ids(db, None, USERS) == ["u1"]


def test_a_batch_is_one_statement_and_all_or_nothing(db: SQLiteAdapter) -> None:
    support.check_a_batch_is_one_statement_and_all_or_nothing(db, "(?, ?, ?, ?)")


def test_chunked_batches_stay_atomic(db: SQLiteAdapter) -> None:
    support.check_chunked_batches_stay_atomic(db)


def test_large_batches(db: SQLiteAdapter) -> None:
    support.check_large_batches(db)


def test_update_and_delete_counts(db: SQLiteAdapter) -> None:
    support.check_update_and_delete_counts(db)


# --- upsert -----------------------------------------------------------------------------------------


@pytest.fixture(params=["update first", "transactional"])
def upsert_db(request: pytest.FixtureRequest, db: SQLiteAdapter) -> SQLiteAdapter:
    """An adapter on each upsert protocol: ``UPDATE ... RETURNING`` first (SQLite 3.35+),
    or the generic one in a transaction (older SQLite)."""
    db._returning = request.param == "update first"
    return db


def statements(adapter: SQLiteAdapter) -> list[str]:
    """The SQL of every statement ``adapter``'s connection runs from now on."""
    seen: list[str] = []
    adapter._conn.set_trace_callback(seen.append)
    return seen


def test_an_upsert_of_an_existing_row_is_one_statement(db: SQLiteAdapter) -> None:
    db.execute(Insert(USERS, (user("u1", n=1),)))
    seen = statements(db)
    result = db.execute(Upsert(USERS, user("u1", n=2), ("n",), SCOPE_T1))
    assert result == UpsertResult(user("u1", n=2), inserted=False)
    assert len(seen) == 1 and seen[0].startswith("UPDATE") and "RETURNING" in seen[0]
    statement = db.statement(Upsert(USERS, user("u1", n=2), ("n",), SCOPE_T1))
    assert statement == (
        'UPDATE "main"."users" SET "n" = ? WHERE "id" = ? AND "tenant" = ? '
        'RETURNING "id", "tenant", "email", "n"'
    )
    seen.clear()
    result = db.execute(Upsert(USERS, user("u2", n=2), ("n",), SCOPE_T1))
    assert result == UpsertResult(user("u2", n=2), inserted=True)
    assert [sql.split()[0] for sql in seen] == ["UPDATE", "INSERT"]
    seen.clear()
    result = db.execute(Upsert(USERS, user("u1", n=9), (), SCOPE_T1))  # nothing to update
    assert result == UpsertResult(user("u1", n=2), inserted=False)
    assert [sql.split()[0] for sql in seen] == ["SELECT"]
    statement = db.statement(Upsert(USERS, user("u1", n=9), (), SCOPE_T1))
    assert statement is not None and statement.startswith('SELECT "id", "tenant"')


def test_an_upsert_looks_again_when_another_connection_wins_the_race(tmp_path: Path) -> None:
    """The update found no row, then the insert found one: the other connection inserted
    it in between. The upsert updates it, as if it had come first."""
    file = tmp_path / "race.sqlite3"
    adapter = open_adapter(file)
    other = sqlite3.connect(file, isolation_level=None)
    raced: list[str] = []

    def race(sql: str) -> None:
        if sql.startswith("INSERT") and not raced:
            raced.append(sql)
            other.execute(
                "INSERT INTO users (id, tenant, email, n) VALUES ('u1', 't1', 'o@x.org', 5)"
            )

    adapter._conn.set_trace_callback(race)
    result = adapter.execute(Upsert(USERS, user("u1", n=2), ("n",), SCOPE_T1))
    assert raced
    expected = {"id": "u1", "tenant": "t1", "email": "o@x.org", "n": 2}
    assert result == UpsertResult(expected, inserted=False)
    other.close()
    adapter.close()


def test_upsert_inserts_then_updates_only_listed_fields(upsert_db: SQLiteAdapter) -> None:
    db = upsert_db
    first = db.execute(Upsert(USERS, user("u1", n=1), ("n",), SCOPE_T1))
    assert first == UpsertResult(user("u1", n=1), inserted=True)
    changed = user("u1", email="new@example.com", n=2)
    second = db.execute(Upsert(USERS, changed, ("n",), SCOPE_T1))
    assert second == UpsertResult(user("u1", n=2), inserted=False)
    assert db.execute(Find(USERS, None, BY_ID)) == [user("u1", n=2)]


def test_upsert_never_touches_a_row_of_another_scope(upsert_db: SQLiteAdapter) -> None:
    db = upsert_db
    support.check_upsert_never_touches_a_row_of_another_scope(db)


def test_upsert_without_update_returns_the_existing_row(upsert_db: SQLiteAdapter) -> None:
    db = upsert_db
    db.execute(Insert(USERS, (user("u1", n=1),)))
    result = db.execute(Upsert(USERS, user("u1", email="x@example.com", n=7), (), SCOPE_T1))
    assert result == UpsertResult(user("u1", n=1), inserted=False)
    assert db.execute(Upsert(USERS, user("u2", n=7), (), SCOPE_T1)) == UpsertResult(
        user("u2", n=7), inserted=True
    )


def test_upsert_collisions_on_other_unique_indexes(upsert_db: SQLiteAdapter) -> None:
    db = upsert_db
    support.check_upsert_collisions_on_other_unique_indexes(db)


def test_upsert_inside_a_rolled_back_transaction(upsert_db: SQLiteAdapter) -> None:
    db = upsert_db
    db.execute(Insert(USERS, (user("u1", n=1),)))
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.execute(Upsert(USERS, user("u1", n=2), ("n",)))
        tx.execute(Upsert(USERS, user("u2", n=2), ("n",)))
        assert tx.execute(Count(USERS, eq("n", 2))) == 2
        raise RuntimeError
    assert db.execute(Find(USERS, None, BY_ID)) == [user("u1", n=1)]


def test_upsert_with_a_json_path_scope(upsert_db: SQLiteAdapter) -> None:
    db = upsert_db
    db.execute(Insert(DOCS, (doc(1, j={'o"wner': "x"}, n=1.0),)))
    scope = eq(path("j", 'o"wner'), "y")
    assert db.execute(Upsert(DOCS, doc(1, n=2.0), ("n",), scope)) is None
    scope = eq(path("j", 'o"wner'), "x")
    result = db.execute(Upsert(DOCS, doc(1, n=2.0), ("n",), scope))
    assert result == UpsertResult(doc(1, j={'o"wner': "x"}, n=2.0), inserted=False)


# --- transactions -----------------------------------------------------------------------------------


def test_commit_rollback_and_own_writes(db: SQLiteAdapter) -> None:
    support.check_commit_rollback_and_own_writes(db)


def test_savepoints_roll_back_only_their_block(db: SQLiteAdapter) -> None:
    support.check_savepoints_roll_back_only_their_block(db)


def test_a_driver_error_inside_a_transaction_rolls_it_back(db: SQLiteAdapter) -> None:
    missing = Model("missing", [Field("id", IntegerType())], primary_key=["id"])
    with pytest.raises(BackendError) as info, db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        tx.execute(Count(missing, None))
    assert info.value.model == "missing"
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert db.execute(Count(USERS, None)) == 0


def test_a_transaction_the_backend_abandoned_commits_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "full.sqlite3", isolation_level=None)
    adapter = open_adapter(conn)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 8}")
    big = tuple(user(f"u{n}", email=f"{n}-{'x' * 90}") for n in range(400))
    with pytest.raises(BackendError, match="nothing was committed"), adapter.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        with pytest.raises(BackendError) as full:
            for row in big:
                tx.execute(Insert(USERS, (row,)))
        assert isinstance(full.value.__cause__, sqlite3.OperationalError)  # SQLITE_FULL
        assert not conn.in_transaction  # which SQLite may answer by rolling everything back
        with pytest.raises(BackendError, match="rolled this transaction back"):
            tx.execute(Count(USERS, None))
    assert adapter.execute(Count(USERS, None)) == 0
    adapter.execute(Insert(USERS, (user("b"),)))  # the adapter is usable again
    assert ids(adapter, None, USERS) == ["b"]
    adapter.close()
    conn.close()


def test_caught_duplicate_keeps_the_transaction_going(db: SQLiteAdapter) -> None:
    with db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        with pytest.raises(DuplicateKeyError):
            tx.execute(Insert(USERS, (user("a"),)))
        tx.execute(Insert(USERS, (user("b"),)))
    assert ids(db, None, USERS) == ["a", "b"]


def test_misused_executors_raise(db: SQLiteAdapter) -> None:
    support.check_misused_executors_raise(db)


def test_other_threads_wait_for_a_transaction(db: SQLiteAdapter) -> None:
    seen: list[int] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        seen.append(db.execute(Count(USERS, None)))

    with db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        thread = threading.Thread(target=reader)
        thread.start()
        started.wait()
        time.sleep(0.05)
        assert thread.is_alive() and not seen
        tx.execute(Insert(USERS, (user("b"),)))
    thread.join()
    assert seen == [2]


def test_many_threads_share_one_adapter(db: SQLiteAdapter) -> None:
    def work(t: int) -> None:
        for n in range(40):
            db.execute(Insert(USERS, (user(f"{t}-{n}"),)))
            db.execute(Upsert(USERS, user(f"{t}-{n}", n=n), ("n",)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert db.execute(Count(USERS, None)) == 240
    assert db.execute(Count(USERS, eq("n", 39))) == 6


# --- statement caching ------------------------------------------------------------------------------


def test_statements_are_cached_per_shape(db: SQLiteAdapter) -> None:
    a = Find(DOCS, and_(eq("s", "x"), eq(path("j", "k"), 1)), BY_ID, 5)
    b = Find(DOCS, and_(eq("s", "y"), eq(path("j", "other"), 2.5)), BY_ID, 50)
    assert db.statement(a) is db.statement(b)
    db.execute(a)
    size = len(db.compiler.cache)
    db.execute(b)
    assert len(db.compiler.cache) == size
    quoted = Find(DOCS, and_(eq("s", "y"), eq(path("j", 'q"'), 2.5)), BY_ID, 50)
    if not db.dialect.json_path_quotes:  # then a key with '"' takes the json_each form
        assert db.statement(quoted) != db.statement(a)
    assert db.statement(Find(DOCS, eq("s", "x"), BY_ID)) != db.statement(
        Find(DOCS, eq("s", "x"), BY_ID, 1)
    )


# --- bootstrap ------------------------------------------------------------------------------------


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite%'")
        return {name for (name,) in rows}
    finally:
        conn.close()


def test_bootstrap_is_idempotent_and_dry_run_executes_nothing(tmp_path: Path) -> None:
    file = tmp_path / "boot.sqlite3"
    adapter = SQLiteAdapter(file)
    planned = adapter.bootstrap(SCHEMA, dry_run=True)
    assert len(planned) == 4
    assert all(s.startswith("CREATE") for s in planned)
    assert tables(file) == set()
    assert adapter.bootstrap(SCHEMA) == planned
    assert tables(file) == {"docs", "users", "users_email", "users_tenant_n"}
    assert adapter.bootstrap(SCHEMA) == []
    assert adapter.bootstrap(SCHEMA, dry_run=True) == []
    conn = sqlite3.connect(file)
    try:
        table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0]
        assert table_sql.endswith("STRICT")
        columns = conn.execute("PRAGMA index_xinfo('users_tenant_n')").fetchall()
        assert [(c[2], c[3]) for c in columns if c[5]] == [("tenant", 0), ("n", 1)]  # name, desc
    finally:
        conn.close()
    adapter.close()


MANY = Schema(
    [
        Model(
            f"m{n}",
            [Field("id", IntegerType()), Field("a", StringType(10)), Field("b", NumberType())],
            primary_key=["id"],
            indexes=[Index(f"m{n}_a", ["a"]), Index(f"m{n}_b", [("b", "desc"), "a"], unique=True)],
        )
        for n in range(12)
    ]
)


def _bootstrap_at_once(file: str, barrier: Any, results: Any) -> None:
    adapter = SQLiteAdapter(file, timeout=60)
    barrier.wait()
    try:
        results.put(("ok", adapter.bootstrap(MANY)))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        adapter.close()


def test_two_processes_bootstrap_the_same_file_at_once(tmp_path: Path) -> None:
    """BOOT-3: both succeed; between them they create everything exactly once."""
    context = multiprocessing.get_context("spawn")
    expected = len(MANY.models) * 3
    for attempt in range(4):
        file = str(tmp_path / f"race{attempt}.sqlite3")
        barrier = context.Barrier(2)
        results = context.Queue()
        workers = [
            context.Process(target=_bootstrap_at_once, args=(file, barrier, results))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=120)
            assert worker.exitcode == 0
        assert [status for status, _ in outcomes] == ["ok", "ok"], outcomes
        ran = [statement for _, statements in outcomes for statement in statements]
        assert len(ran) == len(set(ran)) == expected
        assert len(tables(Path(file))) == expected


# --- connections ------------------------------------------------------------------------------------


def test_a_borrowed_connection(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "mine.sqlite3", isolation_level=None)
    conn.row_factory = sqlite3.Row
    adapter = open_adapter(conn)
    adapter.execute(Insert(USERS, (user("a"),)))
    assert adapter.execute(Find(USERS, None, BY_ID)) == [user("a")]
    adapter.close()
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1  # still open
    conn.close()


def test_tables_are_the_main_databases_own(tmp_path: Path) -> None:
    """A temporary table, or an attached database's table, of a model's name (SQLite
    would resolve an unqualified name to them first) is never the adapter's."""
    conn = sqlite3.connect(tmp_path / "main.sqlite3", isolation_level=None)
    conn.execute("CREATE TEMP TABLE users (id TEXT PRIMARY KEY, tenant, email, n)")
    conn.execute("INSERT INTO temp.users VALUES ('temp', 't1', 'temp@x', 1)")
    conn.execute(f"ATTACH DATABASE '{tmp_path / 'other.sqlite3'}' AS other")
    conn.execute("CREATE TABLE other.docs (id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO other.docs VALUES (42)")
    adapter = SQLiteAdapter(conn)
    planned = adapter.bootstrap(SCHEMA)
    assert len(planned) == 4 and planned[0].startswith('CREATE TABLE IF NOT EXISTS "main"."docs"')
    assert adapter.execute(Find(USERS, None, BY_ID)) == []
    adapter.execute(Insert(USERS, (user("a"),)))
    adapter.execute(Upsert(USERS, user("a", n=5), ("n",)))
    assert adapter.execute(Find(USERS, None, BY_ID)) == [user("a", n=5)]
    assert ids(adapter, None) == []
    assert conn.execute("SELECT id, n FROM temp.users").fetchall() == [("temp", 1)]
    assert conn.execute("SELECT id FROM other.docs").fetchall() == [(42,)]
    assert adapter.bootstrap(SCHEMA) == []
    adapter.close()
    conn.close()


def test_unsuitable_connections_are_refused(tmp_path: Path) -> None:
    legacy = sqlite3.connect(tmp_path / "a.sqlite3")
    with pytest.raises(ValueError, match="isolation_level=None"):
        SQLiteAdapter(legacy)
    busy = sqlite3.connect(tmp_path / "b.sqlite3", isolation_level=None)
    busy.execute("BEGIN")
    with pytest.raises(ValueError, match="inside a transaction"):
        SQLiteAdapter(busy)
    raw = sqlite3.connect(tmp_path / "c.sqlite3", isolation_level=None)
    raw.text_factory = bytes
    with pytest.raises(ValueError, match="text_factory"):
        SQLiteAdapter(raw)
    for conn in (legacy, busy, raw):
        conn.close()


def test_close(tmp_path: Path) -> None:
    adapter = open_adapter(tmp_path / "c.sqlite3")
    adapter.close()
    adapter.close()
    with pytest.raises(BackendError, match="closed"):
        adapter.execute(Count(USERS, None))
    memory = SQLiteAdapter(":memory:")
    memory.bootstrap(SCHEMA)
    memory.execute(Insert(USERS, (user("a"),)))
    assert memory.execute(Count(USERS, None)) == 1
    memory.close()


# --- the portable limits (LIM-*) -------------------------------------------------------------------


def test_strings_sort_in_full_whatever_their_length(db: SQLiteAdapter) -> None:
    support.check_strings_sort_in_full(db)


def test_keys_and_indexes_at_full_width(db: SQLiteAdapter) -> None:
    support.check_keys_at_full_width(db)


def test_wide_models(db: SQLiteAdapter) -> None:
    support.check_wide_models(db)


def test_rows_of_two_mib(db: SQLiteAdapter) -> None:
    support.check_rows_of_two_mib(db)


def test_batches_of_ten_thousand_rows_are_all_or_nothing(db: SQLiteAdapter) -> None:
    support.check_batches_at_the_limit(db)


@pytest.mark.parametrize("limit", ["parameters", "bytes"])
def test_batches_of_several_statements_hold_exactly_their_rows(
    db: SQLiteAdapter, limit: str
) -> None:
    def split() -> None:
        if limit == "parameters":
            db.dialect.max_params = 4 * 4 - 1  # three rows of four columns per statement
        else:
            db.dialect.max_statement_bytes = 3 * 180  # a row counts 160 to 180 bytes

    seen: list[str] = []
    db._conn.set_trace_callback(seen.append)
    support.check_batches_of_several_statements(db, split)
    db._conn.set_trace_callback(None)
    rows = [len(re.findall(r"\(\d+, 'e", sql)) for sql in seen if sql.startswith("INSERT")]
    assert len(rows) > 20 and max(rows) == 3


def test_filters_at_the_limits(jdb: SQLiteAdapter) -> None:
    support.check_filters_at_the_limits(jdb)


def test_filter_trees_of_random_form(jdb: SQLiteAdapter) -> None:
    support.check_random_filter_trees(jdb, seed=7, count=24)


def test_deep_documents_on_32_key_paths(jdb: SQLiteAdapter) -> None:
    support.check_deep_documents_on_32_key_paths(jdb)


def test_long_in_lists_bind_one_json_array(db: SQLiteAdapter) -> None:
    """Up to PACK_IN values bind one by one; longer lists as one array, one statement text."""
    short = db.statement(Find(DOCS, in_("i", list(range(PACK_IN))), BY_ID))
    assert short is not None and short.count("?") == PACK_IN
    long = db.statement(Find(DOCS, in_("i", list(range(PACK_IN + 1))), BY_ID))
    assert long is not None and "json_each(?)" in long and long.count("?") == 1
    assert db.statement(Find(DOCS, in_("i", list(range(9_999))), BY_ID)) is long
    rows = (doc(1, n=5e-324, s="é", b=True), doc(2, n=0.1, s='x"y', b=False), doc(3, i=2**63 - 1))
    db.execute(Insert(DOCS, rows))
    pad = list(range(-PACK_IN, 0))
    assert ids(db, in_("n", [*map(float, pad), 5e-324, 0.1])) == [1, 2]
    assert ids(db, in_("s", [*map(str, pad), 'x"y', "é"])) == [1, 2]
    assert ids(db, in_("b", [True] * (PACK_IN + 1))) == [1]
    assert ids(db, in_("i", [*pad, 2**63 - 1, -(2**63)])) == [3]
    assert ids(db, not_in("n", [*map(float, pad), 0.1])) == [1]


def test_reads_at_the_limits(db: SQLiteAdapter) -> None:
    support.check_reads_at_the_limits(db)


def test_values_come_back_as_plain_types(db: SQLiteAdapter) -> None:
    support.check_values_come_back_as_plain_types(db)


def test_writes_and_bootstrap_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """``BEGIN IMMEDIATE``: a transaction holds the write lock before its first read.

    A deferred ``BEGIN`` would read first and ask for the lock at its first write;
    a writer that read something another writer then changed can only fail
    (SQLITE_BUSY without waiting: the two would deadlock). Checked from a second
    connection at the moment the adapter reads: a write lock taken there must fail.
    """
    file = tmp_path / "locks.sqlite3"
    conn = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
    adapter = SQLiteAdapter(conn)
    other = sqlite3.connect(file, isolation_level=None, timeout=0)
    held: list[tuple[str, bool]] = []

    def probe(sql: str) -> None:
        if sql.startswith(("SELECT", "INSERT", "CREATE")):
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                held.append((sql.split()[0], False))
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
                held.append((sql.split()[0], True))

    conn.set_trace_callback(probe)
    assert adapter.bootstrap(SCHEMA)  # reads what exists, then creates: all under the lock
    assert held and all(locked for _, locked in held)
    assert {kind for kind, _ in held} == {"SELECT", "CREATE"}
    adapter.execute(Count(USERS, None))  # where Python < 3.12: the first use checks columns
    held.clear()
    with adapter.transaction() as tx:
        tx.execute(Count(USERS, None))  # a read first...
        tx.execute(Insert(USERS, (user("a"),)))  # ...then a write
    assert [kind for kind, _ in held] == ["SELECT", "INSERT"] and all(locked for _, locked in held)
    held.clear()
    adapter._returning = False  # the transactional upsert (SQLite before 3.35)
    adapter.execute(Upsert(USERS, user("a", n=1), ("n",)))
    assert held and all(locked for _, locked in held)
    held.clear()
    adapter.execute(Count(USERS, None))  # a read on its own takes no lock
    assert held == [("SELECT", False)]
    conn.set_trace_callback(None)
    adapter.close()
    other.close()
    conn.close()


# --- against the reference, on generated data ----------------------------------------------------------

FIELD_VALUES: dict[str, Sequence[Any]] = {
    "s": ["", "a", "B", "b", "é", "\ue000", "\U0001f600"],
    **support.OTHER_FIELD_VALUES,
}
JSON_SCALARS: list[Any] = ["", "1", "a", "b", 0, 1, 1.0, 2.5, -3, True, False]
JSON_KEYS = ["k", 'q"k', "a.b", "$"]
PATHS = [path("j", key) for key in JSON_KEYS] + [path("j", "o", "k"), path("j", 'q"k', "k")]
data_rows, filters, orders = support.reference_strategies(
    field_values=FIELD_VALUES,
    json_scalars=JSON_SCALARS,
    json_keys=JSON_KEYS,
    nested_keys=["k", "o", 'q"k'],
    paths=PATHS,
    max_rows=12,
)


@settings(max_examples=300, deadline=None)
@given(where=filters, depth=st.integers(0, 8))
def test_the_quick_shape_walk_agrees_with_the_full_one(where: Filter, depth: int) -> None:
    """``Compiler._shape`` (keys, mappings, scopes, cursor pages without the checks)
    gives the shape and params of the rendering walk, for any filter: whatever it does
    not handle goes to that walk."""
    compiler = SQLiteAdapter(":memory:").compiler
    table = compiler.table(DOCS)
    for _ in range(depth):  # nesting deep enough to reorder operands
        where = and_(eq("i", 1), not_(where))
    quick: list[Any] = []
    full: list[Any] = []
    try:
        expected = compiler._filter(table, where, full, False)[0]
    except ValidationError:
        return  # never rendered, so never cached
    assert compiler._shape(table, where, quick) == expected
    assert quick == full


@pytest.fixture(scope="module")
def shared() -> Iterator[dict[str, SQLiteAdapter]]:
    both = {"path": open_adapter(":memory:"), "json_each": open_adapter(":memory:", json_each=True)}
    yield both
    for adapter in both.values():
        adapter.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=data_rows(), where=filters, order=orders, limit=st.none() | st.integers(0, 5))
def test_filters_and_orders_agree_with_the_reference(
    shared: dict[str, SQLiteAdapter],
    rows: list[dict[str, Any]],
    where: Filter,
    order: tuple[Order, ...],
    limit: int | None,
) -> None:
    expected = support.reference_rows(rows, where, order, limit)
    for mode, adapter in shared.items():
        support.check_agrees_with_the_reference(
            adapter, rows, where, order, limit, expected, (mode, where)
        )


@pytest.mark.parametrize("borrowed", [False, True])
def test_one_cursor_serves_every_statement_and_closes_with_the_adapter(
    tmp_path: Path, borrowed: bool
) -> None:
    """Reads, writes and failing writes run on one cursor, which close() closes."""
    handed: list[sqlite3.Cursor] = []

    class Recording(SQLiteAdapter):
        def cursor(self, conn: sqlite3.Connection) -> sqlite3.Cursor:
            cursor = super().cursor(conn)
            handed.append(cursor)
            return cursor

    path = tmp_path / "c.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    adapter = Recording(conn if borrowed else path)
    store = Store(SCHEMA, adapter)
    store.bootstrap()
    store.insert(DOCS, doc(1))
    store.find(DOCS, order_by="id")
    store.count(DOCS)
    with pytest.raises(DuplicateKeyError):
        store.insert(DOCS, doc(1))
    with store.transaction() as tx:
        tx.update(DOCS, {"n": 5.0}, key={"id": 1})
    store.delete(DOCS, key={"id": 1})
    assert len(handed) == 1
    assert not conn.in_transaction  # no statement of the cursor is left running
    adapter.close()
    with pytest.raises(sqlite3.ProgrammingError):
        handed[0].fetchall()  # closed
    conn.close()


def test_the_default_busy_timeout_is_five_seconds(tmp_path: Path) -> None:
    adapter = SQLiteAdapter(tmp_path / "t.sqlite3")
    try:
        (timeout,) = adapter._conn.execute("PRAGMA busy_timeout").fetchone()
        assert timeout == 5000
    finally:
        adapter.close()


# --- runtime version gates (pinned by mutation testing) ------------------------------------------


def _as_version(monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int]) -> None:
    """Make the adapter believe the linked SQLite is ``version`` (its feature gates)."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", version)
    monkeypatch.setattr(sqlite3, "sqlite_version", ".".join(map(str, version)))


@pytest.mark.parametrize(
    ("version", "supported"), [((3, 23, 99), False), ((3, 24, 0), True), ((2, 99, 0), False)]
)
def test_the_oldest_sqlite_is_3_24(
    monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int], supported: bool
) -> None:
    _as_version(monkeypatch, version)
    if supported:
        SQLiteAdapter(":memory:").close()
    else:
        with pytest.raises(UnsupportedError, match=r"too old; no-orm needs 3\.24\.0"):
            SQLiteAdapter(":memory:")


@pytest.mark.parametrize("version", [(3, 24, 0), (3, 29, 99), (3, 30, 0), (3, 34, 99),
                                     (3, 35, 0), (3, 36, 99), (3, 37, 0)])  # fmt: skip
def test_each_feature_is_used_from_its_version_on_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int]
) -> None:
    """STRICT tables from 3.37, NULLS FIRST/LAST from 3.30, RETURNING from 3.35; before
    that the adapter spells the same semantics without them."""
    _as_version(monkeypatch, version)
    adapter = SQLiteAdapter(":memory:")
    statements: list[str] = []
    store = Store(SCHEMA, adapter, on_query=lambda event: statements.append(event.statement or ""))
    ddl = adapter.bootstrap(SCHEMA, dry_run=True)
    assert any(s.endswith(" STRICT") for s in ddl) is (version >= (3, 37, 0))
    store.bootstrap()
    store.insert_many(DOCS, [doc(1, i=2), doc(2), doc(3, i=1)])
    rows = store.find(DOCS, order_by=["i"]).rows
    assert [r["id"] for r in rows] == [2, 3, 1]  # NULL first ascending (ORD-1)
    assert [r["id"] for r in store.find(DOCS, order_by=[Order("i", descending=True)])] == [1, 3, 2]
    assert any("NULLS " in s for s in statements) is (version >= (3, 30, 0))
    statements.clear()
    updated = store.upsert(DOCS, doc(1, i=5), update=["i"])
    inserted = store.upsert(DOCS, doc(4, i=6), update=["i"])
    assert (updated.inserted, updated.row["i"], inserted.inserted) == (False, 5, True)
    assert any("RETURNING" in s for s in statements) is (version >= (3, 35, 0))
    adapter.close()


def test_an_owned_connection_serves_every_thread_and_waits_5_s_for_locks(tmp_path: Path) -> None:
    """The adapter opens its connection for use from any thread (its own lock serialises
    calls), with the documented 5 s busy timeout unless told otherwise."""
    adapter = SQLiteAdapter(tmp_path / "db.sqlite3")
    adapter.bootstrap(SCHEMA)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            adapter.execute(Insert(DOCS, (doc(k),)))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert adapter.execute(Count(DOCS, None)) == 4
    timeouts = [adapter._conn.execute("PRAGMA busy_timeout").fetchone()[0]]
    adapter.close()
    other = SQLiteAdapter(tmp_path / "db.sqlite3", timeout=0.25)
    timeouts.append(other._conn.execute("PRAGMA busy_timeout").fetchone()[0])
    other.close()
    assert timeouts == [5000, 250]


# --- schema evolution (BOOT-5..7) ---------------------------------------------------------

NOTED_V1 = Model("noted", [Field("id", StringType(10))], primary_key=["id"])
NOTED_V2 = NOTED_V1.with_field(Field("note", StringType(20), nullable=True))


def test_a_column_the_table_lacks_is_never_read_as_its_own_name(tmp_path: Path) -> None:
    """SQLite reads an unknown ``"note"`` as the string 'note': issue 9's report."""
    path = tmp_path / "db.sqlite3"
    first = open_adapter(path)
    old = Store(Schema([NOTED_V1]), first)
    old.bootstrap()
    old.insert(NOTED_V1, {"id": "a"})
    adapter = open_adapter(path)
    new = Store(Schema([NOTED_V2]), adapter)
    for call in (
        lambda: new.get(NOTED_V2, {"id": "a"}),
        lambda: new.find(NOTED_V2, {"note": "note"}),
        lambda: new.count(NOTED_V2, {"note": "note"}),
    ):
        with pytest.raises(BackendError) as caught:  # not bootstrapped: refused
            call()
        assert caught.value.model == "noted" and "note" in str(caught.value)
    assert new.bootstrap() == ['ALTER TABLE "main"."noted" ADD COLUMN "note" TEXT COLLATE BINARY']
    assert new.get(NOTED_V2, {"id": "a"}) == {"id": "a", "note": None}
    assert new.find(NOTED_V2, {"note": "note"}).rows == []
    new.insert(NOTED_V2, {"id": "b", "note": "note"})
    assert [r["id"] for r in new.find(NOTED_V2, {"note": "note"}).rows] == ["b"]
    assert old.get(NOTED_V1, {"id": "b"}) == {"id": "b"}
    adapter.close()
    first.close()


def test_the_checked_models_are_a_bounded_set(tmp_path: Path) -> None:
    """Each Model object's columns are checked once; a host that builds models per
    request (plugins do) must not grow that record without bound."""
    adapter = open_adapter(tmp_path / "db.sqlite3")
    Store(Schema([NOTED_V1]), adapter).bootstrap()
    if adapter._checked is None:
        pytest.skip("this SQLite reads no unknown identifier as a string: nothing to check")
    models = []
    for n in range(1_100):
        model = NOTED_V1.replace(fields=list(NOTED_V1.fields))  # a new object, same table
        models.append(model)
        assert adapter.execute(Count(model, None)) == 0
        assert id(model) in adapter._checked and len(adapter._checked) <= 1_025, n
        if 0 < n < 1_024:  # below the bound, every model checked so far stays checked
            assert id(models[n - 1]) in adapter._checked, n
    adapter.close()


def test_a_mismatch_is_found_in_the_stored_checks(tmp_path: Path) -> None:
    """Boolean and json columns differ from integer and text only by their CHECK."""
    adapter = open_adapter(tmp_path / "db.sqlite3")
    flags = Model(
        "flags", [Field("id", IntegerType()), Field("f", BooleanType())], primary_key=["id"]
    )
    Store(Schema([flags]), adapter).bootstrap()
    as_int = flags.replace(fields=[Field("id", IntegerType()), Field("f", IntegerType())])
    with pytest.raises(SchemaMismatchError, match="boolean CHECK") as caught:
        Store(Schema([as_int]), adapter).bootstrap(dry_run=True)
    assert (caught.value.model, caught.value.field) == ("flags", "f")
    # Not observable on SQLite (the same INTEGER column): integer versus timestamp.
    as_ts = flags.replace(fields=[Field("id", TimestampType()), Field("f", BooleanType())])
    assert Store(Schema([as_ts]), adapter).bootstrap(dry_run=True) == []
    adapter.close()


# --- connection ownership (pinned by mutation testing) --------------------------------------------


class _Tracked(sqlite3.Connection):
    """A connection that remembers being closed."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def test_a_failed_set_up_closes_the_connection_it_opened_and_only_that_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import noorm.adapters.sqlite.adapter as module

    opened: list[_Tracked] = []
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, factory=_Tracked, **kwargs)
        assert isinstance(conn, _Tracked)
        opened.append(conn)
        return conn

    def broken_probe(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("probe failed")

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(module, "json_paths_work", broken_probe)
    with pytest.raises(RuntimeError, match="probe failed"):  # raised, never swallowed
        SQLiteAdapter(tmp_path / "db.sqlite3")
    assert len(opened) == 1 and opened[0].closed
    borrowed = real_connect(":memory:", isolation_level=None, factory=_Tracked)
    assert isinstance(borrowed, _Tracked)
    with pytest.raises(RuntimeError, match="probe failed"):
        SQLiteAdapter(borrowed)
    assert not borrowed.closed  # the caller's connection stays the caller's
    borrowed.close()


def test_close_closes_an_owned_connection_and_leaves_a_borrowed_one_open(tmp_path: Path) -> None:
    owned = SQLiteAdapter(tmp_path / "db.sqlite3")
    conn = owned._conn
    owned.close()
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
    borrowed = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    adapter = SQLiteAdapter(borrowed)
    adapter.close()
    assert borrowed.execute("SELECT 1").fetchone() == (1,)
    borrowed.close()


def test_a_borrowed_connection_s_row_factory_does_not_change_results() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.row_factory = lambda cursor, row: {"not": "a tuple"}
    adapter = open_adapter(conn)
    adapter.execute(Insert(DOCS, (doc(1, s="a", i=2, j={"k": [1]}),)))
    assert adapter.execute(Find(DOCS, None, BY_ID)) == [doc(1, s="a", i=2, j={"k": [1]})]
    assert adapter.execute(Count(DOCS, None)) == 1
    adapter.close()
    conn.close()


def test_every_call_on_a_closed_adapter_says_it_is_closed(tmp_path: Path) -> None:
    """An owned connection is closed with the adapter, a borrowed one is not: either way
    the adapter refuses to run on after close(), with a BackendError saying so."""
    borrowed = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    for adapter in (open_adapter(tmp_path / "db.sqlite3"), open_adapter(borrowed)):
        adapter.close()
        adapter.close()  # twice is fine
        with pytest.raises(BackendError, match="the adapter is closed"):
            adapter.execute(Count(DOCS, None))
        with pytest.raises(BackendError, match="the adapter is closed"):
            adapter.execute(Insert(DOCS, (doc(1),)))
        with pytest.raises(BackendError, match="the adapter is closed"):
            adapter.bootstrap(SCHEMA)
        with pytest.raises(BackendError, match="the adapter is closed"), adapter.transaction():
            pass
    assert borrowed.execute("SELECT count(*) FROM main.docs").fetchone() == (0,)
    borrowed.close()


# --- the shared SQL layer's defaults, seen through a minimal adapter ---------------------


def test_an_operation_subclass_runs_as_its_base_operation(db: SQLiteAdapter) -> None:
    """The SQL layer dispatches on the operation's class, and on its base classes."""
    from dataclasses import dataclass

    from noorm.spec.operations import Count

    @dataclass(frozen=True, slots=True)
    class CountWithNote(Count):
        note: str = ""

    db.bootstrap(SCHEMA)
    db.execute(Insert(DOCS, ({**dict.fromkeys(DOCS.field_names), "id": 1},)))
    assert db.execute(CountWithNote(DOCS, None, "why")) == 1


def test_an_adapter_that_keeps_no_cursor_closes_each_one() -> None:
    """``reuse_cursor`` is off by default: an adapter built on the shared layer that does
    not opt in gets a fresh cursor per statement, closed after it."""
    from collections.abc import Iterator as Iter
    from contextlib import contextmanager

    from noorm.adapters.sql import Session, SQLAdapter
    from noorm.adapters.sqlite.dialect import SQLiteDialect

    closed: list[int] = []

    class Spy(sqlite3.Cursor):
        def close(self) -> None:
            closed.append(1)
            super().close()

    class Minimal(SQLAdapter[sqlite3.Connection]):
        name = "minimal"
        driver_errors = (sqlite3.Error,)

        def __init__(self) -> None:
            super().__init__(SQLiteDialect(schema="main"))
            self.conn = sqlite3.connect(":memory:", isolation_level=None)
            self.shared = Session(self.conn)

        @contextmanager
        def session(self) -> Iter[Session[sqlite3.Connection]]:
            with self.shared.lock:
                yield self.shared

        def cursor(self, conn: sqlite3.Connection) -> sqlite3.Cursor:
            return conn.cursor(Spy)

        def server_version(self) -> str:
            return sqlite3.sqlite_version

        def close(self) -> None:
            self.conn.close()

    adapter = Minimal()
    assert adapter.reuse_cursor is False
    adapter.bootstrap(SCHEMA)
    before = len(closed)
    adapter.execute(Count(DOCS, None))
    adapter.execute(Count(DOCS, None))
    assert len(closed) == before + 2  # one cursor per statement, each closed
    adapter.close()


@pytest.mark.parametrize(
    ("exc", "portable"),
    [
        (sqlite3.IntegrityError("UNIQUE constraint failed: items.id"), "DuplicateKeyError"),
        (sqlite3.IntegrityError("NOT NULL constraint failed: items.x"), "BackendError"),
        (sqlite3.OperationalError("database is locked"), "ConflictError"),
        (sqlite3.OperationalError("database table is locked: items"), "ConflictError"),
        (sqlite3.OperationalError("disk I/O error"), "BackendError"),
    ],
)
def test_errors_without_result_codes_are_read_from_their_message(
    exc: Exception, portable: str
) -> None:
    """Drivers without extended result codes (pysqlite3, sqlite3 builds without
    ``sqlite_errorname``) give the message only: the same portable error comes of it."""
    assert getattr(exc, "sqlite_errorname", None) is None
    error = SQLiteDialect().classify_error(exc, "items")
    assert type(error).__name__ == portable and error.model == "items"


def test_an_upsert_whose_row_keeps_vanishing_gives_up(
    db: SQLiteAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Insert-or-read runs without a transaction around it (SQLite 3.35+): a row another
    connection inserts before the insert and deletes before the read is tried again,
    but not forever."""
    if not db._returning:
        pytest.skip("this SQLite upserts in one transaction: no row can vanish")
    other = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    try:
        support.check_an_upsert_whose_row_keeps_vanishing_gives_up(
            db,
            monkeypatch,
            "_command",
            lambda: other.execute('INSERT INTO "docs" ("id") VALUES (1)'),
            lambda: other.execute('DELETE FROM "docs" WHERE "id" = 1'),
        )
    finally:
        other.close()


def test_a_borrowed_connections_lowered_parameter_limit_is_honoured() -> None:
    """The bound-parameter limit is read from the connection, not assumed: a batch
    splits under the one this connection was given (all of it still written)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)
    adapter = open_adapter(conn)
    rows = tuple(doc(n, s=f"s{n}") for n in range(50))  # 7 columns: 350 parameters
    adapter.execute(Insert(DOCS, rows))
    assert adapter.execute(Count(DOCS, None)) == 50
    adapter.close()
