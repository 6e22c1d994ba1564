"""Scaffolding shared by the adapter tests: models, row builders, server probes, test bodies.

The SQL adapters' own tests (SQLite, MySQL/MariaDB, PostgreSQL) work on the same two
models, or close variants of them; where a test body is the same for several adapters it
lives here as a ``check_*`` function, and each test module keeps its own ``test_*``
function that calls it with its ``db`` fixture, so every adapter still runs it under
its own test id. The reference comparison (filters and orders against the memory
adapter, on generated data) is built here from each backend's own value pools.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from noorm import spec
from noorm.adapters.memory import matches, sort_rows
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
