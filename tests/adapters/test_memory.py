"""Unit tests of the memory adapter, driven through ``execute`` with hand-built operations.

The memory adapter is the reference implementation, so these tests pin behaviour
clause by clause (ids from docs/spec.md in the test names and comments) and
property-test invariants that hold whatever the data: rollbacks restore state,
``not_`` is an exact complement, orders are total, copies are never shared.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import noorm
from noorm.adapters.memory import MemoryAdapter, MemoryTransaction, matches, sort_key, sort_rows
from noorm.adapters.memory.copying import copy_json
from noorm.spec import (
    ALL,
    Adapter,
    And,
    BackendError,
    BooleanType,
    Capability,
    Compare,
    Count,
    Delete,
    DuplicateKeyError,
    Executor,
    Field,
    Filter,
    Find,
    In,
    Index,
    Insert,
    IntegerType,
    IsNull,
    JsonType,
    Model,
    Not,
    NumberType,
    Operation,
    Or,
    Order,
    Schema,
    SchemaMismatchError,
    StringType,
    TimestampType,
    Update,
    Upsert,
    UpsertResult,
    ValidationError,
    asc,
    desc,
    path,
)

from .support import full

ITEMS = Model(
    "items",
    [
        Field("id", IntegerType()),
        Field("name", StringType(50), nullable=True),
        Field("score", NumberType(), nullable=True),
        Field("flag", BooleanType(), nullable=True),
        Field("at", TimestampType(), nullable=True),
        Field("meta", JsonType(), nullable=True),
    ],
    primary_key=["id"],
)
USERS = Model(
    "users",
    [
        Field("id", StringType(36)),
        Field("email", StringType(100), nullable=True),
        Field("org", StringType(36)),
        Field("handle", StringType(36), nullable=True),
    ],
    primary_key=["id"],
    indexes=[
        Index("users_email", ["email"], unique=True),
        Index("users_org_handle", ["org", "handle"], unique=True),
        Index("users_by_org", [("org", "desc")]),
    ],
)
MEMBERS = Model(
    "memberships",
    [Field("org", StringType(20)), Field("member", StringType(20)), Field("role", StringType(20))],
    primary_key=["org", "member"],
)
SCHEMA = Schema([ITEMS, USERS, MEMBERS])
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def mem() -> Iterator[MemoryAdapter]:
    adapter = MemoryAdapter()
    adapter.bootstrap(SCHEMA)
    yield adapter
    adapter.close()


def insert(ex: Executor, model: Model[Any], *rows: dict[str, Any]) -> None:
    ex.execute(Insert(model, tuple(full(model, **row) for row in rows)))


def find(
    ex: Executor,
    model: Model[Any],
    where: Filter | None = None,
    order: Sequence[Order] = (),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    return ex.execute(Find(model, where, tuple(order), limit))


def ids(ex: Executor, model: Model[Any] = ITEMS, where: Filter | None = None) -> list[Any]:
    return [row["id"] for row in find(ex, model, where)]


def everything(ex: Executor) -> dict[str, list[dict[str, Any]]]:
    return {m.name: find(ex, m) for m in SCHEMA.models}


# --- protocol and bootstrap -----------------------------------------------------------------


def test_satisfies_the_adapter_protocol() -> None:
    adapter = MemoryAdapter()
    assert isinstance(adapter, Adapter)
    assert adapter.name == "memory"
    assert adapter.version == noorm.__version__
    assert adapter.capabilities == frozenset(Capability)
    assert isinstance(adapter.server_version(), str)
    assert adapter.statement(Count(ITEMS, None)) is None


def test_bootstrap_describes_creations_and_is_idempotent() -> None:  # BOOT-1
    adapter = MemoryAdapter()
    statements = adapter.bootstrap(SCHEMA)
    assert statements[0] == (
        "create model items (id integer, name string(50) null, score number null, "
        "flag boolean null, at timestamp null, meta json null, primary key (id))"
    )
    assert "create unique index users_email on users (email)" in statements
    assert "create index users_by_org on users (org desc)" in statements
    assert len(statements) == 6
    insert(adapter, ITEMS, {"id": 1})
    assert adapter.bootstrap(SCHEMA) == []
    assert ids(adapter) == [1]


def test_bootstrap_dry_run_creates_nothing() -> None:  # BOOT-2
    adapter = MemoryAdapter()
    planned = adapter.bootstrap(SCHEMA, dry_run=True)
    assert planned == adapter.bootstrap(SCHEMA, dry_run=True)
    with pytest.raises(BackendError, match="run bootstrap"):
        ids(adapter)
    assert adapter.bootstrap(SCHEMA) == planned
    assert adapter.bootstrap(SCHEMA, dry_run=True) == []


def test_bootstrap_adds_missing_indexes_only() -> None:
    adapter = MemoryAdapter()
    bare = Model("users", USERS.fields, primary_key=["id"])
    adapter.bootstrap(Schema([bare]))
    insert(adapter, bare, {"id": "a", "email": "x@y", "org": "o"})
    assert adapter.bootstrap(Schema([USERS])) == [
        "create unique index users_email on users (email)",
        "create unique index users_org_handle on users (org, handle)",
        "create index users_by_org on users (org desc)",
    ]
    with pytest.raises(DuplicateKeyError):
        insert(adapter, USERS, {"id": "b", "email": "x@y", "org": "o"})


def test_bootstrap_unique_index_over_colliding_rows_creates_nothing() -> None:
    adapter = MemoryAdapter()
    bare = Model("users", USERS.fields, primary_key=["id"])
    adapter.bootstrap(Schema([bare]))
    insert(
        adapter,
        bare,
        {"id": "a", "email": "x@y", "org": "o"},
        {"id": "b", "email": "x@y", "org": "o"},
    )
    with pytest.raises(DuplicateKeyError, match="users_email") as caught:
        adapter.bootstrap(Schema([USERS]))
    assert caught.value.model == "users"
    assert adapter.bootstrap(Schema([bare]), dry_run=True) == []
    planned = adapter.bootstrap(Schema([USERS]), dry_run=True)  # reads no rows: proposes it
    assert "create unique index users_email on users (email)" in planned
    insert(adapter, bare, {"id": "c", "email": "x@y", "org": "o"})  # still no unique index


def test_bootstrap_evolves_additively_and_refuses_the_rest() -> None:  # BOOT-5..7
    adapter = MemoryAdapter()
    adapter.bootstrap(SCHEMA)
    insert(adapter, ITEMS, {"id": 1})
    changed = ITEMS.with_field(Field("extra", StringType(), nullable=True))
    with pytest.raises(BackendError, match="run bootstrap"):
        ids(adapter, changed)  # not yet: the table lacks the field
    assert adapter.bootstrap(Schema([changed])) == ["add field extra string null to items"]
    assert ids(adapter, changed) == [1] and ids(adapter, ITEMS) == [1]
    retyped = ITEMS.replace(fields=[*ITEMS.fields[:-1], Field("meta", StringType(), nullable=True)])
    with pytest.raises(SchemaMismatchError, match="stores it as json") as caught:
        adapter.bootstrap(Schema([retyped]))
    assert (caught.value.model, caught.value.field) == ("items", "meta")
    with pytest.raises(BackendError, match="run bootstrap"):
        ids(adapter, retyped)
    other = Model(
        "other",
        [Field("id", IntegerType())],
        primary_key=["id"],
        indexes=[Index("users_email", ["id"])],
    )
    with pytest.raises(SchemaMismatchError, match="taken by an index of table 'users'") as caught:
        adapter.bootstrap(Schema([other]))
    assert (caught.value.model, caught.value.index) == ("other", "users_email")
    assert adapter.bootstrap(SCHEMA) == []  # nothing was created or changed


def test_a_model_without_a_nullable_field_of_the_table_reads_and_writes_it_as_null() -> None:
    """BOOT-5: the host of an older release (its model lacks a field a newer one added)
    keeps working on the evolved table; rows it writes hold NULL in that field."""
    adapter = MemoryAdapter()
    newer = ITEMS.with_field(Field("extra", StringType(), nullable=True))
    adapter.bootstrap(Schema([newer]))
    insert(adapter, ITEMS, {"id": 1, "name": "a"})
    assert adapter.execute(Upsert(ITEMS, full(ITEMS, id=2, name="b"), ("name",))) == UpsertResult(
        full(ITEMS, id=2, name="b"), inserted=True
    )
    assert adapter.execute(Upsert(ITEMS, full(ITEMS, id=2, name="c"), ("name",))) == UpsertResult(
        full(ITEMS, id=2, name="c"), inserted=False
    )
    assert adapter.execute(Update(ITEMS, Compare("eq", "id", 1), {"score": 1.5})) == 1
    assert find(adapter, newer) == [
        full(newer, id=1, name="a", score=1.5),
        full(newer, id=2, name="c"),
    ]
    assert find(adapter, ITEMS) == [
        full(ITEMS, id=1, name="a", score=1.5),
        full(ITEMS, id=2, name="c"),
    ]


def test_a_json_field_added_by_bootstrap_is_copied_in_and_out() -> None:
    """JSON-3 on an evolved table: the stored document is the adapter's own, so changing
    the dict given to a write, or a returned one, changes nothing stored."""
    adapter = MemoryAdapter()
    plain = Model("notes", [Field("id", IntegerType())], primary_key=["id"])
    adapter.bootstrap(Schema([plain]))
    noted = plain.with_field(Field("doc", JsonType(), nullable=True))
    assert adapter.bootstrap(Schema([noted])) == ["add field doc json null to notes"]
    given = {"tags": ["a"]}
    adapter.execute(Insert(noted, ({"id": 1, "doc": given},)))
    given["tags"].append("changed by the caller")
    (row,) = find(adapter, noted)
    assert row["doc"] == {"tags": ["a"]}
    row["doc"]["tags"].append("changed by the reader")
    assert find(adapter, noted)[0]["doc"] == {"tags": ["a"]}


def test_a_model_without_a_not_null_field_of_the_table_is_refused() -> None:
    """Rows it wrote would lack a value the table requires: run bootstrap() first."""
    adapter = MemoryAdapter()
    required = ITEMS.with_field(Field("extra", StringType()))
    adapter.bootstrap(Schema([required]))
    with pytest.raises(BackendError, match="run bootstrap") as caught:
        ids(adapter, ITEMS)
    assert caught.value.model == "items"
    assert ids(adapter, required) == []


def test_bootstrap_adds_no_field_inside_a_transaction() -> None:
    adapter = MemoryAdapter()
    adapter.bootstrap(SCHEMA)
    changed = Schema([ITEMS.with_field(Field("extra", StringType(), nullable=True))])
    with adapter.transaction():
        with pytest.raises(BackendError, match="inside a transaction"):
            adapter.bootstrap(changed)
        assert adapter.bootstrap(changed, dry_run=True) == ["add field extra string null to items"]


def test_concurrent_bootstrap() -> None:  # BOOT-3
    adapter = MemoryAdapter()
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def run() -> None:
        try:
            barrier.wait()
            results.append(adapter.bootstrap(SCHEMA))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert sorted(len(r) for r in results) == [0] * 7 + [6]


def test_unknown_model_is_a_backend_error(mem: MemoryAdapter) -> None:
    ghost = Model("ghost", [Field("id", IntegerType())], primary_key=["id"])
    ops: list[Operation[Any]] = [
        Find(ghost, None, ()),
        Count(ghost, None),
        Insert(ghost, ({"id": 1},)),
    ]
    for op in ops:
        with pytest.raises(BackendError, match="model ghost does not exist; run bootstrap") as info:
            mem.execute(op)
        assert info.value.model == "ghost"


def test_close_ends_the_adapter() -> None:
    adapter = MemoryAdapter()
    adapter.bootstrap(SCHEMA)
    adapter.close()
    adapter.close()
    with pytest.raises(BackendError, match="closed"):
        ids(adapter)
    with pytest.raises(BackendError, match="closed"), adapter.transaction():
        pass


# --- insert, unique indexes, copies ---------------------------------------------------------


def test_insert_stores_every_field_in_model_order(mem: MemoryAdapter) -> None:
    mem.execute(
        Insert(
            ITEMS,
            ({"meta": {"a": [1]}, "id": 1, "name": "x", "score": 1.5, "flag": True, "at": T0},),
        )
    )
    (row,) = find(mem, ITEMS)
    assert list(row) == list(ITEMS.field_names)
    assert row == {"id": 1, "name": "x", "score": 1.5, "flag": True, "at": T0, "meta": {"a": [1]}}


def test_insert_without_a_field_is_refused(mem: MemoryAdapter) -> None:
    with pytest.raises(ValidationError) as info:
        mem.execute(Insert(ITEMS, ({"id": 1},)))
    assert (info.value.model, info.value.field) == ("items", "name")


def test_duplicate_primary_key_writes_none_of_the_batch(
    mem: MemoryAdapter,
) -> None:  # OP-DUP, OP-INS
    insert(mem, ITEMS, {"id": 1})
    with pytest.raises(DuplicateKeyError) as info:
        insert(mem, ITEMS, {"id": 2}, {"id": 1}, {"id": 3})
    assert info.value.model == "items"
    assert "items" in str(info.value)
    assert ids(mem) == [1]


def test_duplicate_key_inside_one_batch_writes_nothing(mem: MemoryAdapter) -> None:
    with pytest.raises(DuplicateKeyError):
        insert(mem, ITEMS, {"id": 1}, {"id": 2}, {"id": 1})
    assert ids(mem) == []
    with pytest.raises(DuplicateKeyError):
        insert(
            mem,
            MEMBERS,
            {"org": "o", "member": "a", "role": "r"},
            {"org": "o", "member": "a", "role": "s"},
        )
    insert(
        mem,
        MEMBERS,
        {"org": "o", "member": "a", "role": "r"},
        {"org": "p", "member": "a", "role": "r"},
    )
    assert len(find(mem, MEMBERS)) == 2


def test_unique_index_collisions(mem: MemoryAdapter) -> None:
    insert(mem, USERS, {"id": "a", "email": "a@x", "org": "o", "handle": "h"})
    with pytest.raises(DuplicateKeyError, match="users_email") as info:
        insert(mem, USERS, {"id": "b", "email": "a@x", "org": "o"})
    assert (info.value.model, info.value.field) == ("users", "email")
    with pytest.raises(DuplicateKeyError, match="users_org_handle") as composite:
        insert(mem, USERS, {"id": "b", "org": "o", "handle": "h"})
    assert composite.value.field is None
    with pytest.raises(DuplicateKeyError):  # collision inside the batch
        insert(
            mem,
            USERS,
            {"id": "b", "email": "b@x", "org": "o"},
            {"id": "c", "email": "b@x", "org": "o"},
        )
    assert ids(mem, USERS) == ["a"]
    # Case matters (STR-4) and NULLs never collide, alone or inside a composite key.
    insert(
        mem,
        USERS,
        {"id": "b", "email": "A@x", "org": "o", "handle": "H"},
        {"id": "c", "org": "o"},
        {"id": "d", "org": "o"},
        {"id": "e", "org": "p", "handle": "h"},
    )
    assert ids(mem, USERS) == ["a", "b", "c", "d", "e"]


def test_deleting_frees_keys_and_unique_values(mem: MemoryAdapter) -> None:
    insert(mem, USERS, {"id": "a", "email": "a@x", "org": "o"})
    assert mem.execute(Delete(USERS, Compare("eq", "id", "a"))) == 1
    insert(
        mem, USERS, {"id": "a", "email": "a@x", "org": "o"}, {"id": "b", "email": "b@x", "org": "o"}
    )
    assert ids(mem, USERS) == ["a", "b"]


def test_json_is_copied_in_and_out(mem: MemoryAdapter) -> None:  # JSON-1
    document: dict[str, Any] = {"tags": ["a"], "nested": {"n": 1}}
    row = full(ITEMS, id=1, meta=document)
    mem.execute(Insert(ITEMS, (row,)))
    document["tags"].append("mutated")
    row["name"] = "mutated"
    first = find(mem, ITEMS)[0]
    first["meta"]["nested"]["n"] = 2
    first["meta"]["tags"].clear()
    second = find(mem, ITEMS)[0]
    assert second["meta"] == {"tags": ["a"], "nested": {"n": 1}}
    assert second["name"] is None
    assert second["meta"] is not find(mem, ITEMS)[0]["meta"]

    values: dict[str, Any] = {"meta": {"tags": ["u"]}}
    mem.execute(Update(ITEMS, ALL, values))
    values["meta"]["tags"].append("mutated")
    result = mem.execute(Upsert(ITEMS, full(ITEMS, id=2, meta={"k": [1]}), ()))
    assert result is not None
    result.row["meta"]["k"].append(2)
    assert [r["meta"] for r in find(mem, ITEMS)] == [{"tags": ["u"]}, {"k": [1]}]


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_copy_json_is_deep_and_type_exact(value: Any) -> None:
    copied = copy_json(value)
    assert _same_json(copied, value)
    assert not _shares_containers(copied, value)


def _same_json(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or a != a


def _shares_containers(a: Any, b: Any) -> bool:
    def containers(value: Any) -> Iterator[int]:
        if isinstance(value, (dict, list)):
            yield id(value)
            for item in value.values() if isinstance(value, dict) else value:
                yield from containers(item)

    return bool(set(containers(a)) & set(containers(b)))


# --- update, delete, upsert -----------------------------------------------------------------


def test_update_returns_matched_rows_and_applies_values(mem: MemoryAdapter) -> None:  # OP-UPD
    insert(mem, ITEMS, {"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3})
    assert mem.execute(Update(ITEMS, Not(IsNull("name")), {"score": 2.0, "flag": False})) == 2
    assert [(r["score"], r["flag"]) for r in find(mem, ITEMS)] == [
        (2.0, False),
        (2.0, False),
        (None, None),
    ]
    assert mem.execute(Update(ITEMS, Compare("eq", "id", 9), {"score": 1.0})) == 0
    assert (
        mem.execute(Update(ITEMS, Compare("eq", "id", 1), {"score": 2.0})) == 1
    )  # matched, unchanged


def test_update_refuses_primary_key_fields(mem: MemoryAdapter) -> None:
    insert(mem, ITEMS, {"id": 1})
    with pytest.raises(ValidationError) as info:
        mem.execute(Update(ITEMS, ALL, {"id": 2}))
    assert info.value.field == "id"
    assert ids(mem) == [1]


def test_update_creating_a_unique_collision_applies_nothing(mem: MemoryAdapter) -> None:
    insert(
        mem,
        USERS,
        {"id": "a", "email": "a@x", "org": "o"},
        {"id": "b", "email": "b@x", "org": "o"},
        {"id": "c", "email": "c@x", "org": "o"},
    )
    before = find(mem, USERS)
    with pytest.raises(DuplicateKeyError, match="users_email"):
        mem.execute(Update(USERS, Compare("eq", "id", "a"), {"email": "c@x"}))
    with pytest.raises(DuplicateKeyError, match="users_org_handle"):
        # The first row updated is fine on its own; the second collides with it.
        mem.execute(Update(USERS, ALL, {"handle": "same"}))
    assert find(mem, USERS) == before
    assert mem.execute(Update(USERS, Compare("eq", "id", "a"), {"email": "a@x"})) == 1  # own value
    assert mem.execute(Update(USERS, ALL, {"email": None})) == 3  # NULLs never collide
    assert mem.execute(Update(USERS, Compare("eq", "id", "a"), {"email": "c@x"})) == 1


def test_delete_returns_the_number_removed(mem: MemoryAdapter) -> None:  # OP-DEL
    insert(mem, ITEMS, *({"id": i, "score": float(i)} for i in range(5)))
    assert mem.execute(Delete(ITEMS, Compare("gte", "score", 3.0))) == 2
    assert mem.execute(Delete(ITEMS, Compare("gte", "score", 3.0))) == 0
    assert ids(mem) == [0, 1, 2]
    assert mem.execute(Delete(ITEMS, ALL)) == 3
    assert ids(mem) == []


def test_upsert_paths(mem: MemoryAdapter) -> None:  # OP-UPS
    created = mem.execute(Upsert(ITEMS, full(ITEMS, id=1, name="a", score=1.0), ("score",)))
    assert created is not None and created.inserted
    assert created.row == full(ITEMS, id=1, name="a", score=1.0)

    updated = mem.execute(Upsert(ITEMS, full(ITEMS, id=1, name="ignored", score=2.0), ("score",)))
    assert updated is not None and not updated.inserted
    assert updated.row == full(ITEMS, id=1, name="a", score=2.0)

    untouched = mem.execute(Upsert(ITEMS, full(ITEMS, id=1, name="b", score=3.0), ()))
    assert untouched is not None and not untouched.inserted
    assert untouched.row == full(ITEMS, id=1, name="a", score=2.0)
    assert find(mem, ITEMS) == [full(ITEMS, id=1, name="a", score=2.0)]


def test_scoped_upsert_never_touches_another_scope(mem: MemoryAdapter) -> None:  # HOOK-QUERY
    insert(mem, MEMBERS, {"org": "o", "member": "m", "role": "admin"})
    other_scope = Compare("eq", "role", "guest")
    row = {"org": "o", "member": "m", "role": "guest"}
    assert mem.execute(Upsert(MEMBERS, row, ("role",), other_scope)) is None
    assert mem.execute(Upsert(MEMBERS, row, (), other_scope)) is None
    assert find(mem, MEMBERS)[0]["role"] == "admin"
    same_scope = Compare("eq", "org", "o")
    result = mem.execute(Upsert(MEMBERS, row, ("role",), same_scope))
    assert result is not None and result.row["role"] == "guest" and not result.inserted
    fresh = mem.execute(
        Upsert(MEMBERS, {"org": "p", "member": "m", "role": "x"}, ("role",), same_scope)
    )
    assert fresh is not None and fresh.inserted  # insertion is not filtered by the scope


def test_upsert_unique_collisions(mem: MemoryAdapter) -> None:
    insert(
        mem, USERS, {"id": "a", "email": "a@x", "org": "o"}, {"id": "b", "email": "b@x", "org": "o"}
    )
    with pytest.raises(DuplicateKeyError, match="users_email"):
        mem.execute(Upsert(USERS, full(USERS, id="c", email="a@x", org="o"), ("email",)))
    with pytest.raises(DuplicateKeyError, match="users_email"):
        mem.execute(Upsert(USERS, full(USERS, id="b", email="a@x", org="o"), ("email",)))
    assert [r["email"] for r in find(mem, USERS)] == ["a@x", "b@x"]


# --- filters --------------------------------------------------------------------------------


@pytest.fixture
def scored(mem: MemoryAdapter) -> MemoryAdapter:
    insert(
        mem,
        ITEMS,
        {"id": 1, "name": "a", "score": 1.0, "flag": True, "at": T0},
        {"id": 2, "name": "b", "score": 2.0, "flag": False, "at": T0 + timedelta(days=1)},
        {"id": 3},
    )
    return mem


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (Compare("eq", "score", 1.0), [1]),
        (Compare("ne", "score", 1.0), [2]),  # NULL-1: ne never matches NULL
        (Not(Compare("eq", "score", 1.0)), [2, 3]),  # FLT-LOGIC: not_ is the complement
        (Compare("lt", "score", 5.0), [1, 2]),
        (Compare("gte", "score", 2.0), [2]),
        (Compare("eq", "flag", False), [2]),
        (Compare("gt", "flag", False), [1]),
        (Compare("lt", "at", T0 + timedelta(hours=1)), [1]),
        (IsNull("score"), [3]),
        (Compare("eq", "score", None), [3]),  # eq(f, None) is is_null(f)
        (Compare("ne", "score", None), [1, 2]),
        (Compare("lt", "score", None), []),
        (In("name", ("a", "z")), [1]),
        (In("name", ("a", "z"), negated=True), [2]),
        (In("name", ()), []),  # FLT-IN
        (In("name", (), negated=True), [1, 2]),
        (Not(In("name", ("a",))), [2, 3]),
        (And(()), [1, 2, 3]),
        (Or(()), []),
        (Not(And(())), []),
        (Not(Or(())), [1, 2, 3]),
        (Or((Compare("eq", "id", 1), IsNull("name"))), [1, 3]),
        (
            And(
                (
                    Compare("gt", "score", 0.0),
                    Compare("lt", "score", 1.5),
                    Compare("eq", "flag", True),
                )
            ),
            [1],
        ),
        (And((Compare("eq", "id", 2), Compare("eq", "name", "a"))), []),  # key lookup still filters
        (And((Compare("eq", "id", 2), Compare("eq", "id", 1))), []),
        (And((And((Compare("eq", "id", 2),)), Not(IsNull("at")))), [2]),
    ],
)
def test_filters(scored: MemoryAdapter, where: Filter, expected: list[int]) -> None:
    assert ids(scored, where=where) == expected
    assert scored.execute(Count(ITEMS, where)) == len(expected)


def test_strings_compare_by_code_point(mem: MemoryAdapter) -> None:  # STR-4
    names = ["é", "b", "B", "a", "𝄞", "e\u0301"]
    insert(mem, ITEMS, *({"id": i, "name": n} for i, n in enumerate(names)))
    rows = find(mem, ITEMS, order=[asc("name")])
    assert [r["name"] for r in rows] == ["B", "a", "b", "e\u0301", "é", "𝄞"]
    assert [r["name"] for r in find(mem, ITEMS, Compare("gt", "name", "a"), [asc("name")])] == [
        "b",
        "e\u0301",
        "é",
        "𝄞",
    ]
    assert ids(mem, where=Compare("eq", "name", "é")) == [0]


def test_filters_on_a_whole_json_field_allow_only_is_null(mem: MemoryAdapter) -> None:  # FLT-TYPES
    insert(mem, ITEMS, {"id": 1, "meta": {}}, {"id": 2})
    assert ids(mem, where=IsNull("meta")) == [2]
    with pytest.raises(ValidationError) as info:
        ids(mem, where=Compare("eq", "meta", {"a": 1}))
    assert info.value.field == "meta"
    with pytest.raises(ValidationError):
        ids(mem, where=Compare("eq", path("name", "x"), 1))
    with pytest.raises(ValidationError):
        ids(mem, where=Compare("eq", "nope", 1))


JSON_DOCS: dict[int, Any] = {
    1: {"v": 1},
    2: {"v": 1.0},
    3: {"v": "1"},
    4: {"v": True},
    5: {"v": False},
    6: {"v": 0},
    7: {"v": None},
    8: {},
    9: None,  # the NULL field
    10: {"v": {"w": 1}},
    11: {"v": [1]},
    12: {"v": 2.5},
    13: {"v": "b"},
    14: [{"v": 1}],  # an array on the way: the path is missing
}


@pytest.fixture
def docs(mem: MemoryAdapter) -> MemoryAdapter:
    insert(mem, ITEMS, *({"id": i, "meta": doc} for i, doc in JSON_DOCS.items()))
    return mem


V = path("meta", "v")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # FLT-JSON-1: typed; 1 == 1.0, never "1", never True (Python's True == 1).
        (Compare("eq", V, 1), [1, 2]),
        (Compare("eq", V, 1.0), [1, 2]),
        (Compare("eq", V, "1"), [3]),
        (Compare("eq", V, True), [4]),
        (Compare("eq", V, False), [5]),
        (Compare("eq", V, 0), [6]),
        (Compare("lt", V, 2), [1, 2, 6]),
        (Compare("gte", V, 1), [1, 2, 12]),
        (Compare("gt", V, "a"), [13]),
        (Compare("lt", V, "b"), [3]),
        (Compare("lte", V, True), []),  # booleans are not ordered at a path
        (Compare("gt", V, False), []),
        # FLT-JSON-2: ne matches present non-null values that differ, of any type
        # (objects and arrays differ from every scalar), never missing/null/NULL.
        (Compare("ne", V, 1), [3, 4, 5, 6, 10, 11, 12, 13]),
        (Compare("ne", V, True), [1, 2, 3, 5, 6, 10, 11, 12, 13]),
        (IsNull(V), [7, 8, 9, 14]),
        (Compare("eq", V, None), [7, 8, 9, 14]),
        (Compare("ne", V, None), [1, 2, 3, 4, 5, 6, 10, 11, 12, 13]),
        (Not(Compare("eq", V, 1)), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
        (Compare("eq", path("meta", "v", "w"), 1), [10]),
        (IsNull(path("meta", "v", "w")), [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14]),
        (In(V, (1, "b")), [1, 2, 13]),
        (In(V, (True,)), [4]),
        (In(V, (0, "1")), [3, 6]),
        (In(V, ()), []),
        (In(V, (1, True), negated=True), [3, 5, 6, 10, 11, 12, 13]),
        (In(V, (), negated=True), [1, 2, 3, 4, 5, 6, 10, 11, 12, 13]),
    ],
)
def test_typed_json_paths(docs: MemoryAdapter, where: Filter, expected: list[int]) -> None:
    assert ids(docs, where=where) == expected


def test_json_path_keys_are_data(mem: MemoryAdapter) -> None:  # FLT-JSON-3, JSON-4
    keys = ['a"b', "a.b", "$", "[0]", "?x", "é 𝄞", "it's"]
    insert(mem, ITEMS, {"id": 1, "meta": {k: i for i, k in enumerate(keys)} | {"a": {"b": -1}}})
    for i, key in enumerate(keys):
        assert ids(mem, where=Compare("eq", path("meta", key), i)) == [1]
    assert ids(mem, where=Compare("eq", path("meta", "a", "b"), -1)) == [1]
    assert ids(mem, where=Compare("eq", path("meta", "a.b"), -1)) == []


def test_path_comparison_values_must_be_scalars(docs: MemoryAdapter) -> None:
    with pytest.raises(ValidationError):
        ids(docs, where=Compare("eq", V, {"w": 1}))
    with pytest.raises(ValidationError):
        ids(docs, where=In(V, ([1],)))


def test_matches_is_usable_on_its_own() -> None:
    row = full(ITEMS, id=1, meta={"v": True})
    assert matches(ITEMS, Compare("eq", V, True), row)
    assert not matches(ITEMS, Compare("eq", V, 1), row)
    assert matches(ITEMS, None, row)


# --- ordering and limits --------------------------------------------------------------------


def test_null_sorts_lowest(scored: MemoryAdapter) -> None:  # ORD-1
    assert [r["id"] for r in find(scored, ITEMS, order=[asc("score")])] == [3, 1, 2]
    assert [r["id"] for r in find(scored, ITEMS, order=[desc("score")])] == [2, 1, 3]
    assert [r["id"] for r in find(scored, ITEMS, order=[asc("flag")])] == [3, 2, 1]
    assert [r["id"] for r in find(scored, ITEMS, order=[desc("at")])] == [2, 1, 3]


def test_mixed_directions_and_primary_key_tiebreak(mem: MemoryAdapter) -> None:  # ORD-2
    insert(
        mem,
        ITEMS,
        {"id": 5, "name": "a", "score": 1.0},
        {"id": 4, "name": "a", "score": 2.0},
        {"id": 3, "name": "b", "score": 1.0},
        {"id": 2, "name": "a", "score": 1.0},
        {"id": 1, "score": 1.0},
    )
    order = [asc("name"), desc("score")]
    assert [r["id"] for r in find(mem, ITEMS, order=order)] == [1, 4, 2, 5, 3]
    assert [r["id"] for r in find(mem, ITEMS, order=[desc("name"), asc("score"), desc("id")])] == [
        3,
        5,
        2,
        4,
        1,
    ]
    assert [r["id"] for r in find(mem, ITEMS, order=order, limit=2)] == [1, 4]
    assert find(mem, ITEMS, limit=0) == []
    assert ids(mem) == [1, 2, 3, 4, 5]  # no order: the primary key
    insert(
        mem,
        MEMBERS,
        {"org": "b", "member": "a", "role": "r"},
        {"org": "a", "member": "b", "role": "r"},
        {"org": "a", "member": "a", "role": "s"},
    )
    assert [(r["org"], r["member"]) for r in find(mem, MEMBERS)] == [
        ("a", "a"),
        ("a", "b"),
        ("b", "a"),
    ]
    assert [(r["org"], r["member"]) for r in find(mem, MEMBERS, order=[desc("role")])] == [
        ("a", "a"),
        ("a", "b"),
        ("b", "a"),
    ]


def test_ordering_by_json_is_refused(mem: MemoryAdapter) -> None:
    with pytest.raises(ValidationError):
        find(mem, ITEMS, order=[asc("meta")])


ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.none() | st.sampled_from(["", "a", "B", "é", "a\u0301", "ab"]),
            "score": st.none() | st.sampled_from([-1.5, 0.0, 1.0, 2.0]),
            "flag": st.none() | st.booleans(),
            "at": st.none()
            | st.sampled_from([T0, T0 - timedelta(days=365 * 60), T0 + timedelta(milliseconds=1)]),
            "meta": st.none()
            | st.fixed_dictionaries(
                {},
                optional={
                    "v": st.none()
                    | st.booleans()
                    | st.sampled_from([0, 1, 1.0, 2.5, "1", "b", [1], {"w": 1}])
                },
            ),
        }
    ),
    max_size=25,
).map(lambda rows: [full(ITEMS, id=i, **row) for i, row in enumerate(rows)])

ORDERS = st.lists(
    st.builds(Order, st.sampled_from(["id", "name", "score", "flag", "at"]), st.booleans()),
    max_size=4,
    unique_by=lambda o: o.field,
)


def _loaded(rows: list[dict[str, Any]]) -> MemoryAdapter:
    adapter = MemoryAdapter()
    adapter.bootstrap(SCHEMA)
    if rows:
        adapter.execute(Insert(ITEMS, tuple(rows)))
    return adapter


@given(ROWS, ORDERS, st.integers(0, 30))
def test_order_is_total_and_limits_are_prefixes(
    rows: list[dict[str, Any]], order: list[Order], limit: int
) -> None:
    adapter = _loaded(rows)
    result = find(adapter, ITEMS, order=order)
    assert sorted(r["id"] for r in result) == sorted(r["id"] for r in rows)
    key = sort_key(ITEMS, order)
    keys = [key(r) for r in result]
    assert all(a < b for a, b in itertools.pairwise(keys))  # strictly: a total order
    for column in order:  # NULL lowest: first ascending, last descending
        nulls = [r[column.field] is None for r in result]
        if column is order[0]:
            assert nulls == sorted(nulls, reverse=not column.descending)
    assert find(adapter, ITEMS, order=order, limit=limit) == result[:limit]
    by_key = sorted(rows, key=key)
    in_place = list(rows)
    sort_rows(ITEMS, in_place, order)
    assert by_key == in_place == result


# --- filter invariants (Hypothesis) ---------------------------------------------------------

SCALAR_FILTER_VALUES = {
    "id": st.integers(-1, 26),
    "name": st.sampled_from(["", "a", "B", "é", "ab"]),
    "score": st.sampled_from([-1.5, 0.0, 1.0, 2.0]),
    "flag": st.booleans(),
    "at": st.sampled_from([T0, T0 + timedelta(milliseconds=1)]),
}
PATH_VALUES = st.booleans() | st.sampled_from([0, 1, 1.0, 2.5, "1", "b"])


def _leaf() -> st.SearchStrategy[Filter]:
    ops = st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"])
    on_fields = st.sampled_from(sorted(SCALAR_FILTER_VALUES)).flatmap(
        lambda name: st.one_of(
            st.builds(Compare, ops, st.just(name), SCALAR_FILTER_VALUES[name]),
            st.builds(
                In,
                st.just(name),
                st.lists(SCALAR_FILTER_VALUES[name], max_size=3).map(tuple),
                st.booleans(),
            ),
            st.just(IsNull(name)),
        )
    )
    on_path = st.one_of(
        st.builds(Compare, ops, st.just(V), PATH_VALUES),
        st.builds(In, st.just(V), st.lists(PATH_VALUES, max_size=3).map(tuple), st.booleans()),
        st.just(IsNull(V)),
        st.just(IsNull("meta")),
    )
    return on_fields | on_path


FILTERS: st.SearchStrategy[Filter] = st.recursive(
    _leaf(),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(children, max_size=3).map(lambda items: Or(tuple(items))),
        children.map(Not),
    ),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(ROWS, FILTERS)
def test_not_is_the_exact_complement(
    rows: list[dict[str, Any]], where: Filter
) -> None:  # FLT-LOGIC
    adapter = _loaded(rows)
    yes = set(ids(adapter, where=where))
    no = set(ids(adapter, where=Not(where)))
    assert yes.isdisjoint(no)
    assert yes | no == {r["id"] for r in rows}
    assert adapter.execute(Count(ITEMS, where)) == len(yes)
    assert yes == {r["id"] for r in rows if matches(ITEMS, where, r)}


@given(ROWS, PATH_VALUES)
def test_path_ne_is_present_and_not_equal(
    rows: list[dict[str, Any]], value: Any
) -> None:  # FLT-JSON-2
    adapter = _loaded(rows)
    ne = ids(adapter, where=Compare("ne", V, value))
    spelled_out = ids(adapter, where=And((Not(IsNull(V)), Not(Compare("eq", V, value)))))
    assert ne == spelled_out
    assert ids(adapter, where=In(V, (value,))) == ids(adapter, where=Compare("eq", V, value))
    assert ids(adapter, where=In(V, (value,), negated=True)) == ne


# --- transactions ---------------------------------------------------------------------------


def test_transaction_commits_and_sees_its_own_writes(mem: MemoryAdapter) -> None:  # TX-1, TX-3
    with mem.transaction() as tx:
        assert isinstance(tx, MemoryTransaction)
        insert(tx, ITEMS, {"id": 1})
        assert ids(tx) == [1]
        assert tx.execute(Update(ITEMS, ALL, {"name": "x"})) == 1
    assert find(mem, ITEMS) == [full(ITEMS, id=1, name="x")]


def test_transaction_rolls_back_and_reraises(mem: MemoryAdapter) -> None:  # TX-1
    insert(mem, ITEMS, {"id": 1, "name": "keep"}, {"id": 2})
    insert(mem, USERS, {"id": "a", "email": "a@x", "org": "o"})
    before = everything(mem)
    with pytest.raises(RuntimeError, match="boom"), mem.transaction() as tx:
        insert(tx, ITEMS, {"id": 3})
        tx.execute(Update(ITEMS, ALL, {"name": "changed"}))
        tx.execute(Delete(ITEMS, Compare("eq", "id", 2)))
        tx.execute(Update(USERS, ALL, {"email": "b@x"}))
        tx.execute(Upsert(ITEMS, full(ITEMS, id=1, score=9.0), ("score",)))
        raise RuntimeError("boom")
    assert everything(mem) == before
    insert(mem, USERS, {"id": "b", "email": "b@x", "org": "o"})  # the unique index was restored
    with pytest.raises(DuplicateKeyError):
        insert(mem, USERS, {"id": "c", "email": "a@x", "org": "o"})


def test_savepoints_roll_back_only_their_block(mem: MemoryAdapter) -> None:  # TX-2
    with mem.transaction() as tx:
        insert(tx, ITEMS, {"id": 1})
        with pytest.raises(KeyError), tx.transaction() as inner:
            insert(inner, ITEMS, {"id": 2})
            with inner.transaction() as deeper:
                insert(deeper, ITEMS, {"id": 3})
            assert ids(inner) == [1, 2, 3]
            raise KeyError("inner")
        assert ids(tx) == [1]
        with tx.transaction() as kept:
            insert(kept, ITEMS, {"id": 4})
            with pytest.raises(ValueError), kept.transaction() as doomed:
                doomed.execute(Delete(ITEMS, ALL))
                raise ValueError
            assert ids(kept) == [1, 4]
    assert ids(mem) == [1, 4]


def test_outer_rollback_undoes_released_savepoints(mem: MemoryAdapter) -> None:
    with pytest.raises(RuntimeError), mem.transaction() as tx:
        with tx.transaction() as inner:
            insert(inner, ITEMS, {"id": 1})
        raise RuntimeError
    assert ids(mem) == []


def test_a_failed_statement_in_a_transaction_has_no_effect(mem: MemoryAdapter) -> None:
    with mem.transaction() as tx:
        insert(tx, ITEMS, {"id": 1})
        with pytest.raises(DuplicateKeyError):
            insert(tx, ITEMS, {"id": 2}, {"id": 1})
        insert(tx, ITEMS, {"id": 2})
    assert ids(mem) == [1, 2]


def test_executors_are_unusable_after_their_block(mem: MemoryAdapter) -> None:
    with mem.transaction() as tx:
        with tx.transaction() as inner:
            pass
        with pytest.raises(BackendError, match="has ended"):
            ids(inner)
        with pytest.raises(BackendError, match="has ended"):
            inner.transaction()
        insert(tx, ITEMS, {"id": 1})
    with pytest.raises(BackendError, match="has ended") as info:
        insert(tx, ITEMS, {"id": 2})
    assert info.value.model == "items"
    with pytest.raises(BackendError, match="has ended"):
        tx.transaction()
    assert ids(mem) == [1]


def test_a_savepoint_left_open_dies_with_its_transaction(mem: MemoryAdapter) -> None:
    with mem.transaction() as tx:
        block = tx.transaction()
        leaked = block.__enter__()  # never exited
        states = [leaked.active]
    states.append(leaked.active)
    assert states == [True, False]
    del block
    with mem.transaction(), pytest.raises(BackendError, match="has ended"):
        insert(leaked, ITEMS, {"id": 1})
    assert ids(mem) == []


def test_the_adapter_itself_is_refused_inside_its_thread_transaction(mem: MemoryAdapter) -> None:
    with mem.transaction() as tx:
        insert(tx, ITEMS, {"id": 1})
        with pytest.raises(BackendError, match="open transaction"):
            ids(mem)
        with (
            pytest.raises(BackendError, match="already has an open transaction"),
            mem.transaction(),
        ):
            pass
        assert mem.bootstrap(SCHEMA) == []
    assert ids(mem) == [1]


def _in_thread(target: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_other_threads_wait_for_an_open_transaction(mem: MemoryAdapter) -> None:
    with mem.transaction() as tx:
        insert(tx, ITEMS, {"id": 1})
        reader, read = _in_thread(lambda: ids(mem))
        writer, wrote = _in_thread(lambda: insert(mem, ITEMS, {"id": 2}))
        time.sleep(0.1)
        assert reader.is_alive() and writer.is_alive()
        assert ids(tx) == [1]
        insert(tx, ITEMS, {"id": 3})
    reader.join(5)
    writer.join(5)
    assert read[0] in ([1, 3], [1, 2, 3])  # serialized after the commit, never in between
    assert wrote == [None]
    assert ids(mem) == [1, 2, 3]


def test_a_transaction_executor_belongs_to_its_thread(mem: MemoryAdapter) -> None:
    with mem.transaction() as tx:
        thread, outcome = _in_thread(lambda: ids(tx))
        thread.join(5)
    assert isinstance(outcome[0], BackendError)
    assert "thread" in str(outcome[0])


def test_transactions_are_serializable_across_threads(mem: MemoryAdapter) -> None:
    insert(mem, ITEMS, {"id": 1, "score": 0.0})

    def increment() -> None:
        for _ in range(50):
            with mem.transaction() as tx:
                (row,) = find(tx, ITEMS)
                tx.execute(Update(ITEMS, ALL, {"score": row["score"] + 1}))

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert find(mem, ITEMS)[0]["score"] == 200.0


WRITES = st.lists(
    st.one_of(
        st.builds(
            lambda i, n: ("insert", i, n), st.integers(0, 6), st.sampled_from(["a", "b", None])
        ),
        st.builds(
            lambda i, n: ("update", i, n), st.integers(0, 6), st.sampled_from(["a", "c", None])
        ),
        st.builds(lambda i, n: ("delete", i, n), st.integers(0, 6), st.none()),
        st.builds(lambda i, n: ("upsert", i, n), st.integers(0, 6), st.sampled_from(["b", "d"])),
    ),
    max_size=12,
)


def _apply(ex: Executor, writes: list[tuple[str, int, str | None]]) -> None:
    """Run writes against USERS; duplicates are expected and swallowed (each is atomic)."""
    for kind, i, email in writes:
        key = Compare("eq", "id", str(i))
        try:
            if kind == "insert":
                insert(ex, USERS, {"id": str(i), "email": email, "org": "o", "handle": email})
            elif kind == "update":
                ex.execute(Update(USERS, Or((key, Compare("eq", "email", "a"))), {"email": email}))
            elif kind == "delete":
                ex.execute(Delete(USERS, key))
            else:
                ex.execute(Upsert(USERS, full(USERS, id=str(i), email=email, org="p"), ("email",)))
        except DuplicateKeyError:
            pass


@settings(max_examples=60)
@given(WRITES, WRITES, WRITES)
def test_rollbacks_restore_the_state(before: list[Any], kept: list[Any], undone: list[Any]) -> None:
    adapter = MemoryAdapter()
    adapter.bootstrap(SCHEMA)
    _apply(adapter, before)
    start = everything(adapter)
    with pytest.raises(RuntimeError), adapter.transaction() as tx:
        _apply(tx, kept)
        raise RuntimeError
    assert everything(adapter) == start
    with adapter.transaction() as tx:
        _apply(tx, kept)
        middle = everything(tx)
        with pytest.raises(RuntimeError), tx.transaction() as savepoint:
            _apply(savepoint, undone)
            raise RuntimeError
        assert everything(tx) == middle
    assert everything(adapter) == middle
    # The unique indexes were restored with the rows: replaying gives what a fresh
    # adapter with the same committed history gives.
    replay = MemoryAdapter()
    replay.bootstrap(SCHEMA)
    _apply(replay, before)
    _apply(replay, kept)
    _apply(adapter, undone)
    _apply(replay, undone)
    assert everything(adapter) == everything(replay)


# --- pinned by mutation testing (ci/mutation, docs/mutation.md) --------------------------------


class _UnknownOperation(Operation[None]):
    """An operation type the adapter has never heard of."""

    __slots__ = ("model",)

    def __init__(self, model: Model[Any]) -> None:
        self.model = model


def test_an_unknown_operation_is_unsupported_and_changes_nothing(mem: MemoryAdapter) -> None:
    insert(mem, ITEMS, {"id": 1})
    with pytest.raises(noorm.spec.UnsupportedError, match="_UnknownOperation") as caught:
        mem.execute(_UnknownOperation(ITEMS))
    assert caught.value.model == "items"
    with pytest.raises(noorm.spec.UnsupportedError), mem.transaction() as tx:
        tx.execute(_UnknownOperation(ITEMS))
    assert [row["id"] for row in find(mem, ITEMS)] == [1]


def test_copy_json_turns_subclasses_into_plain_copies_and_keeps_other_values() -> None:
    class Doc(dict[str, Any]):
        pass

    class Items(list[Any]):
        pass

    class Text(str):
        __slots__ = ()

    inner = [1, {"x": None}]
    doc = Doc(a=inner)
    copied = copy_json(doc)
    assert type(copied) is dict
    assert copied == {"a": [1, {"x": None}]}
    assert copied["a"] is not inner and copied["a"][1] is not inner[1]
    items = Items([{"b": 2}, [3]])
    copied_items = copy_json(items)
    assert type(copied_items) is list
    assert copied_items == [{"b": 2}, [3]]
    assert copied_items[0] is not items[0] and copied_items[1] is not items[1]
    # Anything else is returned as it is (immutable, or not JSON the kit would pass on).
    text = Text("t")
    assert copy_json(text) is text
    pair = (1, [2])
    assert copy_json(pair) is pair


def test_bootstrap_after_close_is_a_backend_error() -> None:
    adapter = MemoryAdapter()
    adapter.close()
    with pytest.raises(BackendError, match="closed"):
        adapter.bootstrap(SCHEMA)
    with pytest.raises(BackendError, match="closed"):
        adapter.bootstrap(SCHEMA, dry_run=True)


def test_a_rollback_never_undoes_an_earlier_committed_transaction(mem: MemoryAdapter) -> None:
    with mem.transaction() as tx:
        insert(tx, ITEMS, {"id": 1})
        tx.execute(Update(ITEMS, None, {"name": "committed"}))
    # The very next transaction, with no statement in between, rolls back.
    with pytest.raises(RuntimeError), mem.transaction() as tx:
        insert(tx, ITEMS, {"id": 2})
        raise RuntimeError
    assert [(row["id"], row["name"]) for row in find(mem, ITEMS)] == [(1, "committed")]
    with pytest.raises(RuntimeError), mem.transaction() as tx:
        with tx.transaction() as savepoint:
            savepoint.execute(Delete(ITEMS, None))
        raise RuntimeError
    assert [row["id"] for row in find(mem, ITEMS)] == [1]


def test_a_savepoint_entered_after_its_transaction_ended_is_refused(mem: MemoryAdapter) -> None:
    with mem.transaction() as tx:
        later = tx.transaction()  # created while the transaction is open, entered after
    with pytest.raises(BackendError, match="ended"), later:
        pass
    insert(mem, ITEMS, {"id": 1})  # the adapter is still usable
    assert [row["id"] for row in find(mem, ITEMS)] == [1]


def test_upsert_updating_an_unknown_field_is_a_validation_error(mem: MemoryAdapter) -> None:
    insert(mem, ITEMS, {"id": 1, "name": "a"})
    with pytest.raises(ValidationError, match="unknown field") as caught:
        mem.execute(Upsert(ITEMS, full(ITEMS, id=1, name="b"), ("name", "nope")))
    assert (caught.value.model, caught.value.field) == ("items", "nope")
    assert [(row["id"], row["name"]) for row in find(mem, ITEMS)] == [(1, "a")]


def test_an_unknown_filter_node_is_a_validation_error(mem: MemoryAdapter) -> None:
    insert(mem, ITEMS, {"id": 1})
    bogus: Any = ("eq", "id", 1)  # not a filter node
    for where in (bogus, Not(bogus), And((Compare("eq", "id", 1), bogus))):
        with pytest.raises(ValidationError, match="unknown filter node") as caught:
            find(mem, ITEMS, where)
        assert caught.value.model == "items"


def test_a_json_path_without_keys_is_a_validation_error(mem: MemoryAdapter) -> None:
    insert(mem, ITEMS, {"id": 1, "meta": {"a": 1}})
    keyless = noorm.spec.filters.Path("meta", ())  # path() refuses this; the adapter must too
    for where in (Compare("eq", keyless, 1), IsNull(keyless), In(keyless, (1,))):
        with pytest.raises(ValidationError, match="at least one key") as caught:
            find(mem, ITEMS, where)
        assert (caught.value.model, caught.value.field) == ("items", "meta")


def test_an_unknown_comparison_or_field_is_a_validation_error(mem: MemoryAdapter) -> None:
    insert(mem, ITEMS, {"id": 1})
    bogus: Any = "like"
    with pytest.raises(ValidationError, match="unknown comparison") as caught:
        find(mem, ITEMS, Compare(bogus, "id", 1))
    assert caught.value.model == "items"
    # An ordering comparison with NULL matches nothing, but still names a real field.
    assert find(mem, ITEMS, Compare("lt", "score", None)) == []
    with pytest.raises(ValidationError) as unknown:
        find(mem, ITEMS, Compare("lt", "nope", None))
    assert (unknown.value.model, unknown.value.field) == ("items", "nope")


def test_ordering_by_a_required_json_field_is_a_validation_error() -> None:
    docs = Model(
        "docs", [Field("id", IntegerType()), Field("body", JsonType())], primary_key=["id"]
    )
    adapter = MemoryAdapter()
    adapter.bootstrap(Schema([docs]))
    for rows in ((), ({"id": 1, "body": {"a": 1}}, {"id": 2, "body": {"a": 2}})):
        insert(adapter, docs, *rows)
        with pytest.raises(ValidationError, match="json") as caught:
            find(adapter, docs, order=[asc("body")])
        assert (caught.value.model, caught.value.field) == ("docs", "body")


def test_sort_keys_compare_with_every_operator_in_both_directions() -> None:
    rows = [full(ITEMS, id=1, score=1.0), full(ITEMS, id=2, score=2.0)]
    for order in ([asc("score")], [desc("score")]):
        key = sort_key(ITEMS, order)
        first, second = sorted(rows, key=key)
        a, b = key(first), key(second)
        assert (a < b, a <= b, a > b, a >= b) == (True, True, False, False)
        assert (b < a, b <= a, b > a, b >= a) == (False, False, True, True)
        same = key(dict(first))
        assert (a == same, a <= same, a >= same, a < same) == (True, True, True, False)


def test_a_unique_index_over_rows_with_nulls_is_created() -> None:
    bare = Model("users", USERS.fields, primary_key=["id"])
    adapter = MemoryAdapter()
    adapter.bootstrap(Schema([bare]))
    insert(adapter, bare, {"id": "a", "email": None, "org": "o"}, {"id": "b", "org": "o"})
    assert "create unique index users_email on users (email)" in adapter.bootstrap(SCHEMA)
    insert(adapter, USERS, {"id": "c", "email": None, "org": "o"})  # NULLs never collide
    insert(adapter, USERS, {"id": "d", "email": "x@y", "org": "o"})
    with pytest.raises(DuplicateKeyError):
        insert(adapter, USERS, {"id": "e", "email": "x@y", "org": "o"})


def test_updating_an_unknown_field_is_a_validation_error(mem: MemoryAdapter) -> None:
    insert(mem, ITEMS, {"id": 1, "name": "a"})
    with pytest.raises(ValidationError, match="unknown field") as caught:
        mem.execute(Update(ITEMS, None, {"name": "b", "nope": 1}))
    assert (caught.value.model, caught.value.field) == ("items", "nope")
    assert find(mem, ITEMS) == [full(ITEMS, id=1, name="a")]
