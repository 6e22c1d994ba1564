"""Scaffolding shared by the adapter tests: models, row builders, server probes, test bodies.

The SQL adapters' own tests (SQLite, MySQL/MariaDB, PostgreSQL) work on the same two
models, or close variants of them; where a test body is the same for several adapters it
lives here as a ``check_*`` function, and each test module keeps its own ``test_*``
function that calls it with its ``db`` fixture, so every adapter still runs it under
its own test id. The reference comparison (filters and orders against the memory
adapter, on generated data) is built here from each backend's own value pools.
"""

from __future__ import annotations

import enum
import functools
import json
import random
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from noorm import spec
from noorm.adapters.memory import matches, predicate, sort_rows
from noorm.kit import Store
from noorm.kit.cursor import after_filter
from noorm.spec.limits import value_bytes
from noorm.spec.values import MAX_TIMESTAMP, MIN_TIMESTAMP

# --- models and rows ---------------------------------------------------------------------------

DOCS = spec.Model(
    "docs",
    [
        spec.Field("id", spec.IntegerType()),
        spec.Field("s", spec.StringType(20), nullable=True),
        spec.Field("n", spec.NumberType(), nullable=True),
        spec.Field("i", spec.IntegerType(), nullable=True),
        spec.Field("b", spec.BooleanType(), nullable=True),
        spec.Field("t", spec.TimestampType(), nullable=True),
        spec.Field("j", spec.JsonType(), nullable=True),
    ],
    primary_key=["id"],
)
USERS = spec.Model(
    "users",
    [
        spec.Field("id", spec.StringType(36)),
        spec.Field("tenant", spec.StringType(20)),
        spec.Field("email", spec.StringType(100)),
        spec.Field("n", spec.IntegerType(), nullable=True),
    ],
    primary_key=["id"],
    indexes=[
        spec.Index("users_email", ["email"], unique=True),
        spec.Index("users_tenant_n", ["tenant", ("n", "desc")]),
    ],
)
SCHEMA = spec.Schema([DOCS, USERS])
BY_ID = (spec.Order("id"),)
SCOPE_T1 = spec.eq("tenant", "t1")
K = spec.path("j", "k")


def full(model: spec.Model[Any], **values: Any) -> dict[str, Any]:
    """A complete row of ``model``: every field present, None (NULL) where not given."""
    return {name: values.get(name) for name in model.field_names}


def doc(id: int, **values: Any) -> dict[str, Any]:
    """A complete DOCS row: every field present, NULL where not given."""
    return full(DOCS, id=id, **values)


def user(
    id: str, tenant: str = "t1", email: str | None = None, n: int | None = None
) -> dict[str, Any]:
    return {"id": id, "tenant": tenant, "email": email or f"{id}@example.com", "n": n}


def ids(executor: Any, where: spec.Filter | None, model: spec.Model[Any] = DOCS) -> list[Any]:
    """The ids of the rows of ``model`` that ``where`` selects, in id order."""
    return [row["id"] for row in executor.execute(spec.Find(model, where, BY_ID))]


# Timestamps at the edges of the range (TS-1) and around the epoch, millisecond precise.
MOMENTS = [
    MIN_TIMESTAMP,
    MAX_TIMESTAMP,
    datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, 0, 1000, tzinfo=UTC),
]

# The JSON values under "j" that typed path comparisons (FLT-JSON-1/2) run over, by id.
TYPED: dict[int, Any] = {
    1: {"k": 1},
    2: {"k": 1.0},
    3: {"k": "1"},
    4: {"k": True},
    5: {"k": False},
    6: {"k": None},
    7: {},
    8: None,
    9: {"k": [1]},
    10: {"k": {"a": 1}},
    11: {"k": 2.5},
    12: {"k": "b"},
    13: {"k": "B"},
    14: {"k": 0},
    15: {"k": "é"},
}


def present(typed: Mapping[int, Any]) -> list[int]:
    """The ids of the documents of ``typed`` that hold a non-null "k"."""
    return [n for n, j in typed.items() if j is not None and j.get("k") is not None]


# --- servers -----------------------------------------------------------------------------------


def listening(host: str, port: int, timeout: float) -> bool:
    """True when something accepts a TCP connection on ``host:port``."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


# --- test bodies shared by the SQL adapters (DOCS and USERS as above) ----------------------------

# NOT is two-valued (FLT-LOGIC, NULL-1, FLT-IN): over doc(1, s="a", n=1.0),
# doc(2, s="b", n=2.0) and doc(3), each filter selects exactly these ids.
TWO_VALUED_CASES: list[tuple[spec.Filter, list[int]]] = [
    (spec.eq("s", "a"), [1]),
    (spec.ne("s", "a"), [2]),
    (spec.not_(spec.eq("s", "a")), [2, 3]),
    (spec.not_in("s", ["a"]), [2]),
    (spec.not_(spec.not_in("s", ["a"])), [1, 3]),
    (spec.in_("s", []), []),
    (spec.not_in("s", []), [1, 2]),
    (spec.not_(spec.in_("s", [])), [1, 2, 3]),
    (spec.ALL, [1, 2, 3]),
    (spec.or_(), []),
    (spec.not_(spec.ALL), []),
    (spec.not_(spec.or_()), [1, 2, 3]),
    (spec.not_(spec.not_(spec.eq("s", "a"))), [1]),
    (spec.not_(spec.or_(spec.eq("s", "a"), spec.gt("n", 1.0))), [3]),
    (spec.not_(spec.and_(spec.ne("s", "b"), spec.lt("n", 5.0))), [2, 3]),
    (spec.or_(spec.is_null("s"), spec.not_(spec.gte("n", 2.0))), [1, 3]),
    (spec.eq("s", None), [3]),
    (spec.ne("s", None), [1, 2]),
    (spec.Compare("gt", "s", None), []),
    (spec.In("s", ("a", None), negated=True), [2]),
]


def check_typed_path_comparisons(
    db: Any, typed: Mapping[int, Any], where: spec.Filter, expected: list[int]
) -> None:
    db.execute(spec.Insert(DOCS, tuple(doc(n, j=j) for n, j in typed.items())))
    assert ids(db, where) == expected
    assert db.execute(spec.Count(DOCS, where)) == len(expected)


def check_two_valued_logic(db: Any, where: spec.Filter, expected: list[int]) -> None:
    rows = (doc(1, s="a", n=1.0), doc(2, s="b", n=2.0), doc(3))
    db.execute(spec.Insert(DOCS, rows))
    assert ids(db, where) == expected
    assert [r["id"] for r in rows if matches(DOCS, where, r)] == expected  # the reference agrees


def check_null_sorts_lowest(db: Any) -> None:
    db.execute(spec.Insert(DOCS, (doc(1, n=2.0), doc(2), doc(3, n=-1.0), doc(4))))
    up = db.execute(spec.Find(DOCS, None, (spec.Order("n"), *BY_ID)))
    down = db.execute(spec.Find(DOCS, None, (spec.Order("n", descending=True), *BY_ID)))
    assert [r["id"] for r in up] == [2, 4, 3, 1]
    assert [r["id"] for r in down] == [1, 3, 2, 4]
    assert db.execute(spec.Find(DOCS, None, BY_ID, 0)) == []
    assert [r["id"] for r in db.execute(spec.Find(DOCS, None, BY_ID, 2))] == [1, 2]


def check_a_batch_is_one_statement_and_all_or_nothing(db: Any, row_sql: str) -> None:
    """``row_sql`` is how the dialect spells one USERS row of placeholders."""
    rows = tuple(user(f"u{n:03}") for n in range(10))
    with pytest.raises(spec.DuplicateKeyError):
        db.execute(spec.Insert(USERS, (*rows, user("u000", email="x@example.com"))))
    assert db.execute(spec.Count(USERS, None)) == 0
    insert = spec.Insert(USERS, rows)
    assert db.statement(insert).count(row_sql) == 10
    db.execute(insert)
    assert db.execute(spec.Count(USERS, None)) == 10


def check_chunked_batches_stay_atomic(db: Any) -> None:
    db.dialect.max_params = 8  # two rows of four columns per statement
    rows = tuple(user(f"u{n:03}") for n in range(9))
    with pytest.raises(spec.DuplicateKeyError):
        db.execute(spec.Insert(USERS, (*rows, user("u008", email="x@example.com"))))
    assert db.execute(spec.Count(USERS, None)) == 0
    with db.transaction() as tx:
        tx.execute(spec.Insert(USERS, (user("keep"),)))
        with pytest.raises(spec.DuplicateKeyError):
            tx.execute(spec.Insert(USERS, (*rows, user("keep", email="y@example.com"))))
        assert tx.execute(spec.Count(USERS, None)) == 1
    db.execute(spec.Insert(USERS, rows))
    assert db.execute(spec.Count(USERS, None)) == 10


def check_large_batches(db: Any) -> None:
    rows = tuple(doc(n, s=str(n), j={"n": n}) for n in range(20_000))
    db.execute(spec.Insert(DOCS, rows))
    assert db.execute(spec.Count(DOCS, None)) == 20_000
    assert ids(db, spec.eq(spec.path("j", "n"), 19_999)) == [19_999]
    db.execute(spec.Insert(DOCS, ()))


def check_update_and_delete_counts(db: Any) -> None:
    db.execute(spec.Insert(USERS, (user("a", n=1), user("b", n=1), user("c", tenant="t2"))))
    assert db.execute(spec.Update(USERS, spec.eq("n", 1), {"n": 1})) == 2  # matched, not changed
    assert db.execute(spec.Update(USERS, spec.eq("tenant", "t1"), {})) == 2
    assert db.execute(spec.Update(USERS, spec.ALL, {"n": 5})) == 3
    assert db.execute(spec.Update(USERS, spec.eq("id", "zz"), {"n": 5})) == 0
    assert db.execute(spec.Delete(USERS, spec.eq("tenant", "t2"))) == 1
    assert db.execute(spec.Delete(USERS, spec.ALL)) == 2


def check_upsert_never_touches_a_row_of_another_scope(db: Any) -> None:
    db.execute(spec.Insert(USERS, (user("u1", tenant="t2", n=1),)))
    for update in (("n",), ()):
        assert db.execute(spec.Upsert(USERS, user("u1", n=9), update, SCOPE_T1)) is None
    assert db.execute(spec.Find(USERS, None, BY_ID)) == [user("u1", tenant="t2", n=1)]


def record_sql(
    adapter: Any, monkeypatch: pytest.MonkeyPatch, hooks: Sequence[str] = ("_query", "_command")
) -> list[str]:
    """The SQL of every statement the SQL layer's ``hooks`` of ``adapter`` run, as they run."""
    seen: list[str] = []
    for hook in hooks:
        original = getattr(adapter, hook)

        def spy(
            session: Any, compiled: Any, model: Any, *rest: Any, original: Any = original
        ) -> Any:
            seen.append(compiled.sql)
            return original(session, compiled, model, *rest)

        monkeypatch.setattr(adapter, hook, spy)
    return seen


def check_an_upsert_whose_row_keeps_vanishing_gives_up(
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
    hook: str,
    add: Callable[[], object],
    remove: Callable[[], object],
) -> None:
    """Insert-or-read: a conflicting row another connection adds before the insert
    (``add``) and deletes before the read (``remove``) is tried again, but not forever.
    ``hook`` is the SQL layer's method that runs the adapter's insert."""
    original = getattr(db, hook)
    attempts: list[str] = []

    def vanishing(session: Any, compiled: Any, model: str | None, *rest: Any) -> Any:
        if not compiled.sql.startswith("INSERT"):
            return original(session, compiled, model, *rest)
        attempts.append(compiled.sql)
        add()
        result = original(session, compiled, model, *rest)  # conflicts: nothing written
        remove()
        return result

    monkeypatch.setattr(db, hook, vanishing)
    with pytest.raises(spec.BackendError, match="kept changing") as caught:
        db.execute(spec.Upsert(DOCS, doc(1, s="mine"), ()))
    assert caught.value.model == "docs" and len(attempts) >= 2
    monkeypatch.undo()
    assert db.execute(spec.Upsert(DOCS, doc(1, s="mine"), ())) == spec.UpsertResult(
        doc(1, s="mine"), inserted=True
    )


def check_upsert_collisions_on_other_unique_indexes(db: Any) -> None:
    db.execute(spec.Insert(USERS, (user("u1"), user("u2"))))
    with pytest.raises(spec.DuplicateKeyError):  # the insert path hits users_email
        db.execute(spec.Upsert(USERS, user("u3", email="u1@example.com"), ("n",)))
    with pytest.raises(spec.DuplicateKeyError):  # the update path does
        db.execute(spec.Upsert(USERS, user("u2", email="u1@example.com"), ("email",)))
    assert db.execute(spec.Find(USERS, None, BY_ID)) == [user("u1"), user("u2")]


def check_commit_rollback_and_own_writes(db: Any) -> None:
    with db.transaction() as tx:
        tx.execute(spec.Insert(USERS, (user("a"),)))
        assert ids(tx, None, USERS) == ["a"]  # TX-3
    with pytest.raises(ValueError), db.transaction() as tx:
        tx.execute(spec.Insert(USERS, (user("b"),)))
        raise ValueError
    assert ids(db, None, USERS) == ["a"]


def check_savepoints_roll_back_only_their_block(db: Any) -> None:
    with db.transaction() as tx:
        tx.execute(spec.Insert(USERS, (user("a"),)))
        with pytest.raises(ValueError), tx.transaction() as inner:
            inner.execute(spec.Insert(USERS, (user("b"),)))
            with inner.transaction() as innermost:
                innermost.execute(spec.Insert(USERS, (user("c"),)))
            assert ids(inner, None, USERS) == ["a", "b", "c"]
            raise ValueError
        with tx.transaction() as inner:
            inner.execute(spec.Insert(USERS, (user("d"),)))
            with pytest.raises(ValueError), inner.transaction() as innermost:
                innermost.execute(spec.Update(USERS, spec.ALL, {"n": 1}))
                raise ValueError
        assert ids(tx, None, USERS) == ["a", "d"]
    assert db.execute(spec.Find(USERS, None, BY_ID)) == [user("a"), user("d")]


def check_misused_executors_raise(db: Any) -> None:
    with db.transaction() as tx:
        with pytest.raises(spec.BackendError, match="open transaction"):
            db.execute(spec.Count(USERS, None))
        with pytest.raises(spec.BackendError, match="open transaction"), db.transaction():
            pass
        errors: list[BaseException] = []

        def elsewhere() -> None:
            try:
                tx.execute(spec.Count(USERS, None))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert isinstance(errors[0], spec.BackendError)
        tx.execute(spec.Insert(USERS, (user("a"),)))
    with pytest.raises(spec.BackendError, match="has ended"):
        tx.execute(spec.Count(USERS, None))
    assert ids(db, None, USERS) == ["a"]


# --- against the reference, on generated data --------------------------------------------------


# The pools of values that generated rows draw from, for all fields but the string "s".
OTHER_FIELD_VALUES: dict[str, Sequence[Any]] = {
    "n": [-1.5, 0.0, 1.0, 2.5, 5e-324],
    "i": [-(2**63), -1, 0, 1, 2**63 - 1],
    "b": [False, True],
    "t": [
        datetime(1960, 5, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2030, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
    ],
}


class Rollback(Exception):
    """Undoes a generated example's rows."""


def reference_strategies(
    *,
    field_values: Mapping[str, Sequence[Any]],
    json_scalars: Sequence[Any],
    json_keys: Sequence[str],
    nested_keys: Sequence[str],
    paths: Sequence[Any],
    max_rows: int,
) -> tuple[
    Callable[[], st.SearchStrategy[list[dict[str, Any]]]],
    st.SearchStrategy[spec.Filter],
    st.SearchStrategy[tuple[spec.Order, ...]],
]:
    """Generated DOCS rows, filters and orders over one backend's pools of values.

    Returns ``(data_rows, filters, orders)``: ``data_rows()`` draws up to ``max_rows``
    rows, ``filters`` nests comparisons, IN lists and IS NULL over the fields and JSON
    paths, ``orders`` sorts on some fields and then on the id.
    """
    json_values = st.recursive(
        st.sampled_from([*json_scalars, None]),
        lambda inner: st.one_of(
            st.lists(inner, max_size=2),
            st.dictionaries(st.sampled_from(list(nested_keys)), inner, max_size=2),
        ),
        max_leaves=4,
    )
    documents = st.one_of(
        st.none(),
        st.dictionaries(st.sampled_from([*json_keys, "o"]), json_values, max_size=4),
        json_values,
    )

    @st.composite
    def data_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
        count = draw(st.integers(1, max_rows))
        rows = []
        for n in range(count):
            values = {
                name: draw(st.one_of(st.none(), st.sampled_from(choices)))
                for name, choices in field_values.items()
            }
            rows.append(doc(n, **values, j=draw(documents)))
        return rows

    def leaf_filters() -> st.SearchStrategy[spec.Filter]:
        ops = st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"])
        on_fields = [
            st.builds(spec.Compare, ops, st.just(name), st.sampled_from(choices))
            for name, choices in field_values.items()
        ]
        in_fields = [
            st.builds(
                spec.In,
                st.just(name),
                st.lists(st.sampled_from(choices), max_size=3).map(tuple),
                st.booleans(),
            )
            for name, choices in field_values.items()
        ]
        on_paths = st.builds(
            spec.Compare, ops, st.sampled_from(paths), st.sampled_from(json_scalars)
        )
        in_paths = st.builds(
            spec.In,
            st.sampled_from(paths),
            st.lists(st.sampled_from(json_scalars), max_size=3).map(tuple),
            st.booleans(),
        )
        refs: list[str | Any] = [*field_values, "j", *paths]
        nulls = st.sampled_from(refs).map(spec.is_null)
        return st.one_of(*on_fields, *in_fields, on_paths, in_paths, nulls)

    filters = st.recursive(
        leaf_filters(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda items: spec.and_(*items)),
            st.lists(inner, max_size=3).map(lambda items: spec.or_(*items)),
            inner.map(spec.not_),
        ),
        max_leaves=6,
    )
    orders = st.lists(
        st.tuples(st.sampled_from(list(field_values)), st.booleans()),
        max_size=3,
        unique_by=lambda o: o[0],
    ).map(lambda items: tuple(spec.Order(name, descending) for name, descending in items) + BY_ID)
    return data_rows, filters, orders


def reference_rows(
    rows: list[dict[str, Any]], where: spec.Filter, order: tuple[spec.Order, ...], limit: int | None
) -> list[dict[str, Any]]:
    """What the memory adapter (the reference) finds among ``rows``."""
    expected = [r for r in rows if matches(DOCS, where, r)]
    sort_rows(DOCS, expected, order)
    if limit is not None:
        expected = expected[:limit]
    return expected


def check_agrees_with_the_reference(
    adapter: Any,
    rows: list[dict[str, Any]],
    where: spec.Filter,
    order: tuple[spec.Order, ...],
    limit: int | None,
    expected: list[dict[str, Any]],
    label: object,
) -> None:
    """Find and Count in a transaction that is rolled back; ``label`` names a failure."""
    with pytest.raises(Rollback), adapter.transaction() as tx:
        tx.execute(spec.Insert(DOCS, tuple(rows)))
        found = tx.execute(spec.Find(DOCS, where, order, limit))
        assert [r["id"] for r in found] == [r["id"] for r in expected], label
        assert found == expected
        assert tx.execute(spec.Count(DOCS, spec.not_(where))) == len(rows) - tx.execute(
            spec.Count(DOCS, where)
        )
        raise Rollback


# --- the portable limits (spec section 10, LIM-*), shared by the SQL adapters -------------------

MIB = 1024 * 1024


def astral(rng: random.Random, n: int) -> str:
    """``n`` random astral code points: 4 UTF-8 bytes each, incompressible."""
    return "".join(chr(rng.randrange(0x10000, 0x3FFFF)) for _ in range(n))


def reference(
    model: spec.Model[Any], rows: Sequence[Mapping[str, Any]], op: spec.Find
) -> list[Any]:
    """What the memory adapter (the reference) finds among ``rows``: their keys, in order."""
    test = predicate(model, op.where)
    found = [dict(r) for r in rows if test(r)]
    sort_rows(model, found, op.order)
    if op.limit is not None:
        del found[op.limit :]
    return [tuple(r[k] for k in model.primary_key) for r in found]


def keys_of(model: spec.Model[Any], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [tuple(r[k] for k in model.primary_key) for r in rows]


def walk(store: Store, model: spec.Model[Any], order: Sequence[spec.Order], size: int) -> list[Any]:
    """Every row of ``model`` through the kit's cursors, ``size`` rows a page: their keys."""
    seen: list[Any] = []
    page = store.find(model, order_by=list(order), limit=size)
    while True:
        seen += keys_of(model, page.rows)
        if page.next_cursor is None:
            return seen
        page = store.find(model, order_by=list(order), limit=size, cursor=page.next_cursor)


LONGS = spec.Model(
    "longs",
    [
        spec.Field("id", spec.IntegerType()),
        spec.Field("s", spec.StringType(), nullable=True),
        spec.Field("k", spec.IntegerType()),
    ],
    primary_key=["id"],
)


def long_string_rows() -> list[dict[str, Any]]:
    """Strings sharing a prefix of 1 KB, 10 KB, 100 KB and ~1 MB, differing only at the end
    (by one character, by length, across U+E000..U+FFFF and astral), plus NULL and short ones."""
    rng = random.Random(11)
    units = ["a", "\U0001f600", "é", "\uffff", "b"]
    rows: list[dict[str, Any]] = []
    for size in (1024, 10 * 1024, 100 * 1024, MIB - 16):
        prefix = "".join(rng.choice(units) for _ in range(size // 3))
        for tail in ("b", "a", "\U0001f601", "", "\ue000"):
            rows.append({"id": len(rows), "s": prefix + tail, "k": len(rows) % 2})
    rows += [{"id": len(rows), "s": None, "k": 0}, {"id": len(rows) + 1, "s": "zz", "k": 1}]
    rng.shuffle(rows)
    return rows


def check_strings_sort_in_full(db: Any) -> None:
    """STR-4/ORD-1/PAGE-1 with strings sharing long prefixes (LIM-ROW sized strings)."""
    db.bootstrap(spec.Schema([LONGS]))
    rows = long_string_rows()
    db.execute(spec.Insert(LONGS, tuple(rows)))
    orders: list[tuple[spec.Order, ...]] = [
        (spec.Order("s"),),
        (spec.Order("s", descending=True),),
        (spec.Order("k"), spec.Order("s", descending=True)),
    ]
    for order in orders:
        for limit in (None, 1, 2, 3, 4, 5, 6, 11, 16):
            op = spec.Find(LONGS, None, order, limit)
            assert keys_of(LONGS, db.execute(op)) == reference(LONGS, rows, op), (order, limit)
    store = Store(spec.Schema([LONGS]), db)
    for order in orders[:2]:
        expected = reference(LONGS, rows, spec.Find(LONGS, None, order))
        for size in (1, 2, 3):
            assert walk(store, LONGS, order, size) == expected, (order, size)


KEY512 = spec.Model(
    "key512",
    [spec.Field("id", spec.StringType(512)), spec.Field("v", spec.IntegerType())],
    primary_key=["id"],
)
PAIR256 = spec.Model(
    "pair256",
    [
        spec.Field("a", spec.StringType(256)),
        spec.Field("b", spec.StringType(256)),
        spec.Field("c", spec.IntegerType(), nullable=True),
    ],
    primary_key=["a", "b"],
    indexes=[spec.Index("pair256_ba", [("b", "desc"), "a"], unique=True)],
)
INDEXED510 = spec.Model(
    "indexed510",
    [
        spec.Field("id", spec.IntegerType()),
        spec.Field("s", spec.StringType(510)),
        spec.Field("t", spec.StringType(510), nullable=True),
    ],
    primary_key=["id"],
    indexes=[
        spec.Index("indexed510_s", ["s"], unique=True),
        spec.Index("indexed510_t", [("t", "desc")]),
    ],
)
_COLS16 = [
    spec.Field(f"c{i:02}", spec.StringType(31) if i % 2 else spec.IntegerType(), nullable=True)
    for i in range(16)
]
COLS16 = spec.Model(
    "cols16",
    [spec.Field("id", spec.IntegerType()), *_COLS16],
    primary_key=["id"],
    indexes=[spec.Index("cols16_all", [c.name for c in _COLS16], unique=True)],
)


def check_keys_at_full_width(db: Any) -> None:
    """LIM-KEY: keys and indexes 2048 bytes wide, of incompressible astral strings."""
    db.bootstrap(spec.Schema([KEY512, PAIR256, INDEXED510, COLS16]))
    rng = random.Random(5)
    ids = [astral(rng, 512) for _ in range(12)]
    ids += ["a" * 512, "\U0001f600" * 511 + "a", "\U0001f600" * 511 + "\ue000", "\uffff" * 512]
    rows = [{"id": s, "v": n} for n, s in enumerate(ids)]
    db.execute(spec.Insert(KEY512, tuple(rows)))
    for row in rows:
        assert db.execute(spec.Find(KEY512, spec.eq("id", row["id"]), ())) == [row]
    for order in ((spec.Order("id"),), (spec.Order("id", descending=True),)):
        op = spec.Find(KEY512, None, order)
        assert keys_of(KEY512, db.execute(op)) == reference(KEY512, rows, op)
    with pytest.raises(spec.DuplicateKeyError):
        db.execute(spec.Insert(KEY512, ({"id": ids[3], "v": -1},)))
    pairs = [{"a": astral(rng, 256), "b": astral(rng, 256), "c": n} for n in range(8)]
    db.execute(spec.Insert(PAIR256, tuple(pairs)))
    pair_order = (spec.Order("b", descending=True), spec.Order("a"))
    op = spec.Find(PAIR256, spec.eq("a", pairs[2]["a"]), pair_order)
    assert db.execute(op) == [pairs[2]]
    op = spec.Find(PAIR256, None, pair_order)
    assert keys_of(PAIR256, db.execute(op)) == reference(PAIR256, pairs, op)
    with pytest.raises(spec.DuplicateKeyError):
        db.execute(spec.Insert(PAIR256, ({**pairs[0], "c": None},)))
    strings = [{"id": n, "s": astral(rng, 510), "t": astral(rng, 510)} for n in range(6)]
    db.execute(spec.Insert(INDEXED510, tuple(strings)))
    assert db.execute(spec.Find(INDEXED510, spec.eq("s", strings[4]["s"]), ())) == [strings[4]]
    with pytest.raises(spec.DuplicateKeyError):  # the unique index, at full width
        db.execute(spec.Insert(INDEXED510, ({**strings[1], "id": 99},)))
    wide = [
        {
            "id": n,
            **{
                c.name: astral(rng, 31) if isinstance(c.type, spec.StringType) else n * 100 + i
                for i, c in enumerate(_COLS16)
            },
        }
        for n in range(4)
    ]
    db.execute(spec.Insert(COLS16, tuple(wide)))
    with pytest.raises(spec.DuplicateKeyError):  # all 16 columns collide
        db.execute(spec.Insert(COLS16, ({**wide[2], "id": 50},)))
    assert db.execute(spec.Find(COLS16, None, (spec.Order("id"),))) == wide


_WIDE_TYPES: tuple[spec.FieldType, ...] = (
    spec.StringType(),
    spec.StringType(64),
    spec.StringType(512),
    spec.StringType(20),
    spec.NumberType(),
    spec.IntegerType(),
    spec.BooleanType(),
    spec.TimestampType(),
    spec.JsonType(),
)
WIDE256 = spec.Model(
    "wide256",
    [spec.Field("id", spec.IntegerType())]
    + [
        spec.Field(f"f{k:03}", _WIDE_TYPES[k % len(_WIDE_TYPES)], nullable=True)
        for k in range(1, 256)
    ],
    primary_key=["id"],
)
# 255 short strings, every one in one of 16 indexes of 16 columns (LIM-SCHEMA, LIM-KEY).
KEYED255 = spec.Model(
    "keyed255",
    [spec.Field("id", spec.IntegerType())]
    + [spec.Field(f"s{k:03}", spec.StringType(31)) for k in range(255)],
    primary_key=["id"],
    indexes=[
        spec.Index(
            f"keyed255_{i:02}",
            [f"s{i * 16 + j:03}" for j in range(16) if i * 16 + j < 255],
            unique=i % 2 == 0,
        )
        for i in range(16)
    ],
)
INDEXES32 = spec.Model(
    "indexes32",
    [spec.Field("id", spec.IntegerType())]
    + [
        spec.Field(f"c{k:02}", (spec.StringType(63), spec.IntegerType())[k % 2], nullable=True)
        for k in range(40)
    ],
    primary_key=["id"],
    indexes=[
        spec.Index(
            f"indexes32_{k:02}",
            [f"c{k % 40:02}", (f"c{(k * 7 + 3) % 40:02}", "desc")] if k % 2 else [f"c{k:02}"],
            unique=k % 5 == 0,
        )
        for k in range(32)
    ],
)


def wide_value(field: spec.Field, rng: random.Random) -> Any:
    """A non-NULL value for ``field``, bounded strings at full length (astral)."""
    t = field.type
    if isinstance(t, spec.StringType):
        return astral(rng, t.max_length) if t.max_length else astral(rng, 40) + "'\"\\\n"
    if isinstance(t, spec.NumberType):
        return rng.choice([5e-324, -1.7976931348623157e308, 0.1, 1e300])
    if isinstance(t, spec.IntegerType):
        return rng.choice([-(2**63), 2**63 - 1, 0, rng.randrange(-(2**62), 2**62)])
    if isinstance(t, spec.BooleanType):
        return rng.random() < 0.5
    if isinstance(t, spec.TimestampType):
        return rng.choice(MOMENTS)
    return {"k": [1, 2.5, None, True, field.name], "é": {"x": astral(rng, 3)}}


def check_wide_models(db: Any) -> None:
    """LIM-SCHEMA: 256 fields of every type, 255 keyed strings, 32 indexes; full rows."""
    db.bootstrap(spec.Schema([WIDE256, KEYED255, INDEXES32]))
    rng = random.Random(3)
    rows = [
        {f.name: n if f.name == "id" else wide_value(f, rng) for f in WIDE256.fields}
        for n in range(3)
    ]
    rows.append({f.name: 3 if f.name == "id" else None for f in WIDE256.fields})
    db.execute(spec.Insert(WIDE256, tuple(rows)))
    assert db.execute(spec.Find(WIDE256, None, (spec.Order("id"),))) == rows
    changed = {f.name: wide_value(f, rng) for f in WIDE256.fields[1:]}
    assert db.execute(spec.Update(WIDE256, spec.eq("id", 3), changed)) == 1
    assert db.execute(spec.Find(WIDE256, spec.eq("id", 3), ())) == [{"id": 3, **changed}]
    # ASCII keeps every value of the 255 keyed strings inside an InnoDB record.
    keyed = [
        {"id": n, **{f.name: f"{f.name}-{n}-" + "x" * 20 for f in KEYED255.fields[1:]}}
        for n in range(3)
    ]
    db.execute(spec.Insert(KEYED255, tuple(keyed)))
    assert db.execute(spec.Find(KEYED255, spec.eq("s200", keyed[1]["s200"]), ())) == [keyed[1]]
    with pytest.raises(spec.DuplicateKeyError):
        db.execute(spec.Insert(KEYED255, ({**keyed[0], "id": 9},)))
    indexed = [
        {
            "id": n,
            **{f"c{k:02}": (astral(rng, 63) if k % 2 == 0 else n * 1000 + k) for k in range(40)},
        }
        for n in range(5)
    ]
    db.execute(spec.Insert(INDEXES32, tuple(indexed)))
    assert db.execute(spec.Find(INDEXES32, spec.eq("c10", indexed[2]["c10"]), ())) == [indexed[2]]
    with pytest.raises(spec.DuplicateKeyError):
        db.execute(spec.Insert(INDEXES32, ({**indexed[0], "id": 77},)))


ROWS2M = spec.Model(
    "rows2m",
    [
        spec.Field("id", spec.IntegerType()),
        spec.Field("s", spec.StringType(), nullable=True),
        spec.Field("j", spec.JsonType(), nullable=True),
        spec.Field("n", spec.IntegerType(), nullable=True),
    ],
    primary_key=["id"],
)


def escapes_json(size: int) -> list[str]:
    """A one-string list of ``"``, ``\\`` and control characters: ``size`` bytes as JSON."""
    unit = '"\\\x01\n\x1f\t'  # 2 + 2 + 6 + 2 + 6 + 2 bytes of JSON text, 6 characters
    body = size - 4  # ["..."]
    value = [unit * (body // 20) + "a" * (body % 20)]
    assert json_size(value) == size
    return value


def json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def two_mib_values() -> dict[str, dict[str, Any]]:
    """Values of ROWS2M rows that are 2 MiB with the other fields (LIM-ROW), by kind."""
    rng = random.Random(2)
    room = 2 * MIB - 3 * 8  # the other three fields count 8 bytes each
    quotes = "'\"\\`%" * (room // 5)
    values: dict[str, dict[str, Any]] = {
        "astral": {"s": astral(rng, room // 4)},
        "quotes": {"s": quotes + "a" * (room - len(quotes))},
        "json-escapes": {"j": escapes_json(room)},
        "json-strings": {"j": ["x" * (64 * 1024)] * ((room - 2) // (64 * 1024 + 3))},
    }
    for value in values.values():
        assert value_bytes(value, frozenset({"j"})) + 24 <= 2 * MIB
    return values


def check_rows_of_two_mib(db: Any) -> None:
    """LIM-ROW: 2 MiB rows round-trip through insert, update and upsert, and in a batch."""
    db.bootstrap(spec.Schema([ROWS2M]))
    for n, (kind, value) in enumerate(two_mib_values().items()):
        row = {"id": n, "s": None, "j": None, "n": None, **value}
        db.execute(spec.Insert(ROWS2M, (row,)))
        assert db.execute(spec.Find(ROWS2M, spec.eq("id", n), ())) == [row], kind
        empty = dict.fromkeys(value)
        assert db.execute(spec.Update(ROWS2M, spec.eq("id", n), empty)) == 1
        assert db.execute(spec.Update(ROWS2M, spec.eq("id", n), value)) == 1
        assert db.execute(spec.Find(ROWS2M, spec.eq("id", n), ())) == [row], kind
        result = db.execute(spec.Upsert(ROWS2M, {**row, "n": 5}, ("n", *value)))
        assert result == spec.UpsertResult({**row, "n": 5}, inserted=False), kind
        result = db.execute(spec.Upsert(ROWS2M, {**row, "id": 100 + n}, ("n",)))
        assert result == spec.UpsertResult({**row, "id": 100 + n}, inserted=True), kind
        assert db.execute(spec.Find(ROWS2M, spec.eq("id", 100 + n), ())) == [result.row]
    rng = random.Random(4)
    batch = tuple(
        {"id": 1000 + n, "s": astral(rng, 2 * MIB // 4 - 8), "j": None, "n": n} for n in range(8)
    )
    db.execute(spec.Insert(ROWS2M, batch))  # 16 MiB: more than MariaDB sends in one packet
    found = db.execute(spec.Find(ROWS2M, spec.gte("id", 1000), (spec.Order("id"),)))
    assert found == list(batch)


BATCH = spec.Model(
    "batch",
    [
        spec.Field("id", spec.IntegerType()),
        spec.Field("email", spec.StringType(64)),
        spec.Field("s", spec.StringType(), nullable=True),
        spec.Field("j", spec.JsonType(), nullable=True),
    ],
    primary_key=["id"],
    indexes=[spec.Index("batch_email", ["email"], unique=True)],
)


def batch_row(n: int, **values: Any) -> dict[str, Any]:
    return {"id": n, "email": f"e{n}@example.com", "s": f"row {n}", "j": {"n": n}, **values}


def check_exact_contents(db: Any, expected: Sequence[Mapping[str, Any]]) -> None:
    """The BATCH table holds exactly ``expected``: every row once, nothing else."""
    assert db.execute(spec.Count(BATCH, None)) == len(expected)
    assert db.execute(spec.Find(BATCH, None, (spec.Order("id"),))) == sorted(
        expected, key=lambda r: r["id"]
    )


def collisions(base: int, count: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """Batches of ``count`` new rows with one colliding row at the first, middle or last
    place: with a stored row's key, with another row of the batch, on the unique index."""
    cases = []
    for where in (0, count // 2, count - 1):
        for kind in ("stored key", "key within the batch", "unique index"):
            rows = [batch_row(base + k) for k in range(count)]
            if kind == "stored key":
                rows[where] = batch_row(1, email=f"other{where}@example.com")
            elif kind == "key within the batch":
                twin = where + 1 if where < count - 1 else 0
                rows[where] = batch_row(base + twin, email=f"twin{where}@example.com")
            else:
                rows[where] = batch_row(base + count + where, email="e2@example.com")
            cases.append((f"{kind} at {where}", rows))
    return cases


def check_batches_at_the_limit(db: Any) -> None:
    """LIM-BATCH: 10,000 rows in one insert_many; all-or-nothing whatever row collides."""
    db.bootstrap(spec.Schema([BATCH]))
    rows = [batch_row(n) for n in range(10_000)]
    db.execute(spec.Insert(BATCH, tuple(rows)))
    check_exact_contents(db, rows)
    for label, batch in collisions(20_000, 10_000):
        with pytest.raises(spec.DuplicateKeyError):
            db.execute(spec.Insert(BATCH, tuple(batch)))
        assert db.execute(spec.Count(BATCH, None)) == 10_000, label
    check_exact_contents(db, rows)


def check_batches_of_several_statements(db: Any, split: Callable[[], None]) -> None:
    """A batch the adapter sends as several statements (``split`` makes it so) holds
    exactly its rows, each once, and still writes nothing when any row collides."""
    db.bootstrap(spec.Schema([BATCH]))
    split()
    stored = [batch_row(n) for n in range(15)]
    db.execute(spec.Insert(BATCH, tuple(stored)))
    check_exact_contents(db, stored)
    for label, batch in collisions(100, 15):
        with pytest.raises(spec.DuplicateKeyError):
            db.execute(spec.Insert(BATCH, tuple(batch)))
        assert db.execute(spec.Count(BATCH, None)) == 15, label
    with db.transaction() as tx:  # inside a transaction: a savepoint undoes the batch
        tx.execute(spec.Insert(BATCH, (batch_row(500),)))
        with pytest.raises(spec.DuplicateKeyError):
            tx.execute(spec.Insert(BATCH, tuple(collisions(600, 15)[-1][1])))
    more = [batch_row(1000 + n) for n in range(15)]
    db.execute(spec.Insert(BATCH, tuple(more)))
    check_exact_contents(db, [*stored, batch_row(500), *more])


FILTERED = spec.Model(
    "filtered",
    [
        spec.Field("id", spec.IntegerType()),
        spec.Field("s", spec.StringType(24), nullable=True),
        spec.Field("n", spec.NumberType(), nullable=True),
        spec.Field("b", spec.BooleanType(), nullable=True),
        spec.Field("t", spec.TimestampType(), nullable=True),
        spec.Field("j", spec.JsonType(), nullable=True),
    ]
    + [spec.Field(f"o{k:02}", spec.IntegerType(), nullable=True) for k in range(14)],
    primary_key=["id"],
)
FILTERED_ORDER = (
    *(spec.Order(f"o{k:02}", descending=k % 3 == 0) for k in range(14)),
    spec.Order("s", descending=True),
    spec.Order("n"),
)


def filtered_rows(count: int = 400) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        rows.append(
            {
                "id": n,
                "s": None if n % 7 == 0 else f"s{n % 50}",
                "n": None if n % 5 == 0 else float(n % 13) / 2,
                "b": None if n % 11 == 0 else n % 2 == 0,
                "t": None if n % 9 == 0 else MOMENTS[n % len(MOMENTS)],
                "j": None if n % 4 == 0 else {"k": n % 3 if n % 6 else f"k{n % 3}", "a": {"b": n}},
                **{f"o{k:02}": None if (n + k) % 8 == 0 else (n * (k + 1)) % 5 for k in range(14)},
            }
        )
    return rows


def deep_chain(levels: int, width: int, leaf: Callable[[int], spec.Filter]) -> spec.Filter:
    """``levels`` nested and_/or_ (alternating), each with ``width`` conditions beside the
    nested one, which comes at different places."""
    f = leaf(0)
    for level in range(levels):
        items = [leaf(level * width + w + 1) for w in range(width)]
        items.insert(level % (width + 1), f)
        f = spec.And(tuple(items)) if level % 2 else spec.Or(tuple(items))
    return f


def nested_nots(levels: int, leaf: spec.Filter) -> spec.Filter:
    f = leaf
    for _ in range(levels):
        f = spec.Not(f)
    return f


def balanced(depth: int, leaf: Callable[[int], spec.Filter], at: int = 0) -> spec.Filter:
    if depth == 0:
        return leaf(at)
    kind = spec.And if depth % 2 else spec.Or
    return kind((balanced(depth - 1, leaf, 2 * at), balanced(depth - 1, leaf, 2 * at + 1)))


def check_filters_at_the_limits(db: Any, *, paths: bool = True) -> None:
    """LIM-FILTER: 1,000 conditions, 32 levels, 10,000 values and 32-key paths, inside the
    kit's own wrapping (the scope ANDed on, a cursor's OR of 16 branches) match exactly
    the reference."""
    db.bootstrap(spec.Schema([FILTERED]))
    rows = filtered_rows()
    db.execute(spec.Insert(FILTERED, tuple(rows)))
    fields = {f.name: f for f in FILTERED.fields}

    def leaf(i: int) -> spec.Filter:
        return filtered_condition(i, i, paths=paths)

    big = list(range(0, 20_000, 2))
    cases: dict[str, spec.Filter] = {
        "or of 1,000": spec.Or(tuple(leaf(i) for i in range(1_000))),
        "and of 1,000": spec.And(tuple(spec.ne("id", i) for i in range(1_000))),
        "or nested 1,000 deep": functools.reduce(
            lambda a, b: spec.Or((a, b)), [spec.eq("id", i) for i in range(1_000)]
        ),
        "32 nots": nested_nots(32, spec.eq("s", "s1")),
        "31 nots of an or": nested_nots(31, spec.Or(tuple(leaf(i) for i in range(40)))),
        "32 levels of 30 conditions": deep_chain(32, 30, leaf),
        "32 levels of one condition": deep_chain(32, 1, leaf),
        "nots between levels": functools.reduce(
            lambda f, i: spec.Not(spec.And((leaf(i), f))) if i % 2 else spec.Or((f, leaf(i))),
            range(31),
            leaf(99),
        ),
        "balanced, 9 levels": balanced(9, leaf),
        "in_ of 10,000": spec.in_("id", big),
        "not_in of 10,000": spec.not_in("id", big),
        "in_ of 10,000 strings": spec.in_("s", [f"s{i}" for i in range(10_000)]),
        "in_ of 10,000 numbers": spec.in_("n", [i / 2 for i in range(10_000)]),
        "in_ of 10,000 timestamps": spec.in_("t", [*MOMENTS] * 2_000),
        "not_in of 10,000 booleans": spec.not_in("b", [False] * 10_000),
        "in_ of 10,000 and NULL": spec.in_("id", [None, *big[:-1]]),
    }
    if paths:
        keys32 = tuple(["a"] * 31 + ["b"])
        cases |= {
            "path in_ of 10,000": spec.in_(spec.path("j", "k"), [*range(5_000), *map(str, big)]),
            "path not_in of 10,000": spec.not_in(spec.path("j", "a", "b"), big),
            "32-key path": spec.eq(spec.path("j", *keys32), 1),
            "32-key path is_null": spec.is_null(spec.path("j", *keys32)),
            "32-key path in_": spec.in_(spec.path("j", *keys32), [1, "x", True]),
        }
    reference_of = {"or nested 1,000 deep": spec.Or(tuple(spec.eq("id", i) for i in range(1_000)))}
    anchor = rows[3]
    for label, where in cases.items():
        expected_where = reference_of.get(label, where)
        op = spec.Find(FILTERED, where, FILTERED_ORDER)
        expected = reference(FILTERED, rows, spec.Find(FILTERED, expected_where, FILTERED_ORDER))
        assert keys_of(FILTERED, db.execute(op)) == expected, label
        assert db.execute(spec.Count(FILTERED, where)) == len(expected), label
        # As the kit sends it: the scope ANDed on, then a cursor's resume filter.
        resume = after_filter(FILTERED_ORDER, anchor, fields)
        wrapped = spec.And((spec.ne("o13", 4), spec.And((where, resume))))
        expected_wrapped = spec.And((spec.ne("o13", 4), spec.And((expected_where, resume))))
        op = spec.Find(FILTERED, wrapped, FILTERED_ORDER, 50)
        expected = reference(
            FILTERED, rows, spec.Find(FILTERED, expected_wrapped, FILTERED_ORDER, 50)
        )
        assert keys_of(FILTERED, db.execute(op)) == expected, f"{label}, wrapped"


def filtered_condition(kind: int, i: int, *, paths: bool = True) -> spec.Filter:
    """A condition on FILTERED: ``kind`` picks its field and operator (and so its shape),
    ``i`` its values; the values of one kind always have the same types and count."""
    conditions: list[Callable[[int], spec.Filter]] = [
        lambda i: spec.eq("s", f"s{i % 50}"),
        lambda i: spec.gt("n", float(i % 7)),
        lambda i: spec.is_null("b"),
        lambda i: spec.in_("o03", [i % 5, (i + 1) % 5, None]),
        lambda i: spec.lte("t", MOMENTS[i % len(MOMENTS)]),
        lambda i: spec.not_in("s", [f"s{i % 50}", f"s{(i + 3) % 50}"]),
        lambda i: spec.ne("o07", i % 5),
        lambda i: spec.Compare("ne", "o11", None),  # as a direct caller may send it
    ]
    if paths:
        conditions += [
            lambda i: spec.eq(spec.path("j", "k"), i % 3),
            lambda i: spec.ne(spec.path("j", "a", "b"), i % 40),
            lambda i: spec.in_(spec.path("j", "k"), [i % 3, f"k{i % 3}"]),
            lambda i: spec.is_null(spec.path("j", "a")),
        ]
    condition: spec.Filter = conditions[kind % len(conditions)](i)
    return condition


PLAIN_KINDS = (0, 1, 2, 4, 6)
"""The kinds of :func:`filtered_condition` that are comparisons and IS NULL of plain
fields: the SQL compiler finds the shape of a tree of only these by a quicker walk."""


def random_tree(
    shape: random.Random,
    values: random.Random,
    depth: int,
    *,
    paths: bool = True,
    kinds: Sequence[int] = range(12),
) -> spec.Filter:
    """A filter of ``depth`` levels (as LIM-FILTER counts them) and random form.

    Each level is a not_, or an and_/or_ of another kind than the level below it, with up
    to four other operands (conditions or small trees of their own) and the deeper operand
    anywhere among them; its conditions are of ``kinds`` (see :func:`filtered_condition`).
    ``shape`` decides the form, ``values`` the values: two calls with
    equal ``shape`` states give filters of one shape (one cached statement).
    """

    def condition() -> spec.Filter:
        return filtered_condition(shape.choice(kinds), values.randrange(1000), paths=paths)

    def small(levels: int) -> spec.Filter:
        if levels == 0 or shape.random() < 0.5:
            return condition()
        kind = shape.choice(["and", "or", "not"])
        if kind == "not":
            return spec.Not(small(levels - 1))
        items = tuple(small(levels - 1) for _ in range(shape.randint(2, 3)))
        return spec.And(items) if kind == "and" else spec.Or(items)

    f = condition()
    below = ""
    for level in range(depth):
        kind = shape.choice([k for k in ("and", "or", "not") if k != below])
        if kind == "not":
            f = spec.Not(f)
        else:
            chain = spec.And if kind == "and" else spec.Or
            others = [small(max(0, min(level, 3) - 1)) for _ in range(shape.randint(0, 4))]
            if others and any(isinstance(o, chain) for o in others):
                others = [spec.Not(o) if isinstance(o, chain) else o for o in others]
            others.insert(shape.randint(0, len(others)), f)
            f = chain(tuple(others))
        below = kind
    return f


def check_random_filter_trees(db: Any, *, seed: int, count: int, paths: bool = True) -> None:
    """LIM-FILTER on trees of random form up to 32 levels: each matches the reference,
    alone and as the kit sends it (scope ANDed on, a cursor's resume filter), and a
    second filter of the same shape with other values does too (the cached statement)."""
    from noorm.kit.limits import check_filter

    db.bootstrap(spec.Schema([FILTERED]))
    rows = filtered_rows(120)
    db.execute(spec.Insert(FILTERED, tuple(rows)))
    fields = {f.name: f for f in FILTERED.fields}
    resume = after_filter(FILTERED_ORDER, rows[3], fields)
    rng = random.Random(seed)
    for n in range(count):
        depth = 32 if n % 4 == 0 else rng.randint(1, 32)
        state = rng.getstate()
        for attempt in range(2):
            rng.setstate(state)
            values = random.Random(seed * 1000 + 2 * n + attempt)
            kinds = PLAIN_KINDS if n % 2 else range(12)
            where = random_tree(rng, values, depth, paths=paths, kinds=kinds)
            check_filter(where, FILTERED.name)  # within the limits, or the test is wrong
            label = f"seed {seed}, tree {n} (depth {depth}), values {attempt}"
            for f in (where, spec.And((spec.ne("o13", 4), spec.And((where, resume))))):
                op = spec.Find(FILTERED, f, FILTERED_ORDER, 50)
                assert keys_of(FILTERED, db.execute(op)) == reference(FILTERED, rows, op), label
            expected = len(reference(FILTERED, rows, spec.Find(FILTERED, where, FILTERED_ORDER)))
            assert db.execute(spec.Count(FILTERED, where)) == expected, label


def check_deep_documents_on_32_key_paths(db: Any) -> None:
    """Documents nested deep enough for a 32-key path to reach (JSON-1 allows 64 levels)."""
    db.bootstrap(spec.Schema([FILTERED]))
    keys = ["a"] * 31 + ["b"]
    docs: dict[int, Any] = {1: 1, 2: "x", 3: None, 4: {"c": 1}}
    rows = []
    for n, value in docs.items():
        document: Any = value
        for key in reversed(keys):
            document = {key: document}
        rows.append({f.name: None for f in FILTERED.fields} | {"id": n, "j": document})
    db.execute(spec.Insert(FILTERED, tuple(rows)))
    p = spec.path("j", *keys)
    for where, expected in [
        (spec.eq(p, 1), [1]),
        (spec.eq(p, "x"), [2]),
        (spec.is_null(p), [3]),
        (spec.ne(p, 1), [2, 4]),
        (spec.in_(p, [1, "x"]), [1, 2]),
    ]:
        assert [r["id"] for r in db.execute(spec.Find(FILTERED, where, BY_ID))] == expected


def check_reads_at_the_limits(db: Any) -> None:
    """LIM-READ: a limit of 1,000,000 (the kit asks for one more), 16 order fields."""
    db.bootstrap(spec.Schema([FILTERED]))
    rows = filtered_rows(60)
    db.execute(spec.Insert(FILTERED, tuple(rows)))
    for limit in (1_000_000, 1_000_001):
        op = spec.Find(FILTERED, None, FILTERED_ORDER, limit)
        assert keys_of(FILTERED, db.execute(op)) == reference(FILTERED, rows, op)
    store = Store(spec.Schema([FILTERED]), db)
    page = store.find(FILTERED, order_by=list(FILTERED_ORDER), limit=1_000_000)
    assert keys_of(FILTERED, page.rows) == reference(
        FILTERED, rows, spec.Find(FILTERED, None, FILTERED_ORDER)
    )
    assert page.next_cursor is None
    expected = reference(FILTERED, rows, spec.Find(FILTERED, None, FILTERED_ORDER))
    assert walk(store, FILTERED, FILTERED_ORDER, 7) == expected


class Colour(enum.StrEnum):
    RED = "red"


class Amount(enum.IntEnum):
    ONE = 1


def check_values_come_back_as_plain_types(db: Any) -> None:
    """VAL-3: str, int, float, bool, datetime (UTC), dict and list, never a subclass."""
    db.execute(
        spec.Insert(
            DOCS,
            (
                doc(
                    1,
                    s=Colour.RED,
                    n=2.0,
                    i=Amount.ONE,
                    b=True,
                    t=MOMENTS[2],
                    j={"a": [1, 2.5, "x", True, None, {"b": []}]},
                ),
            ),
        )
    )
    upserted = db.execute(spec.Upsert(DOCS, doc(2, s=Colour.RED, i=Amount.ONE, j=[1]), ("s",)))
    for row in [*db.execute(spec.Find(DOCS, None, BY_ID)), upserted.row]:
        for name, value in row.items():
            if value is not None:
                assert type(value) in (str, int, float, bool, datetime, dict, list), name
        assert type(row["s"]) is str and row["s"] == "red"
        assert type(row["i"]) is int
    row = db.execute(spec.Find(DOCS, spec.eq("id", 1), ()))[0]
    assert type(row["n"]) is float and type(row["b"]) is bool
    assert type(row["t"]) is datetime and row["t"].tzinfo is UTC
    assert [type(v) for v in row["j"]["a"]] == [int, float, str, bool, type(None), dict]
