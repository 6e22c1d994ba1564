"""Spec section 7, schema evolution: additive changes applied, every other one refused.

Schema v1 is bootstrapped on the test's adapter, then v2 through a second adapter on the
same database where the factory offers one (so nothing cached in the first adapter
helps), else through the same adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from noorm.kit import Store
from noorm.spec import (
    Adapter,
    BooleanType,
    Capability,
    DuplicateKeyError,
    Field,
    Index,
    IntegerType,
    Model,
    Row,
    Schema,
    SchemaMismatchError,
    StringType,
    is_null,
)

from .checks import all_rows, ids
from .conftest import CURSOR_KEY
from .plugin import Subject

ORG = Field("org", IntegerType())
ID = Field("id", StringType(10))
N = Field("n", IntegerType())
GONE = Field("gone", StringType(10), nullable=True)
NOTE = Field("note", StringType(20), nullable=True)
FLAG = Field("flag", BooleanType(), nullable=True)
BY_N = Index("evo_n", ["org", "n"])

V1: Model[Row] = Model("evo", [ORG, ID, N, GONE], primary_key=["org", "id"], indexes=[BY_N])
V2: Model[Row] = Model(
    "evo",
    [ORG, ID, N, NOTE, FLAG],
    primary_key=["org", "id"],
    indexes=[BY_N, Index("evo_note", ["org", "note"], unique=True)],
)
"""v1 plus two nullable fields and a unique index, without v1's nullable ``gone``. Keys and
notes are unique per ``org``, the first key field, so that every model here can be
partitioned by it (PART-2)."""
LATER: Model[Row] = Model("evo_later", [ID], primary_key=["id"])


def _v1(**changes: Any) -> Model[Row]:
    fields = changes.pop("fields", [ORG, ID, N, GONE])
    key = changes.pop("primary_key", ["org", "id"])
    indexes = changes.pop("indexes", [BY_N])
    return Model("evo", fields, primary_key=key, indexes=indexes)


@pytest.fixture
def second(under_test: Subject, adapter: Adapter) -> Iterator[Adapter]:
    """Another adapter on the test adapter's database (or that adapter itself)."""
    opener: Callable[[Adapter], Adapter] | None = under_test.same_database()
    other = adapter if opener is None else opener(adapter)
    try:
        yield other
    finally:
        if other is not adapter:
            other.close()


def _store(adapter: Adapter, *models: Model[Row]) -> Store:
    return Store(Schema(models), adapter, cursor_key=CURSOR_KEY)


def _with_v1(adapter: Adapter) -> Store:
    """v1 bootstrapped, holding rows a (``gone`` set) and b."""
    store = _store(adapter, V1)
    store.bootstrap()
    store.insert_many(
        V1, [{"org": 1, "id": "a", "n": 1, "gone": "x"}, {"org": 1, "id": "b", "n": 2}]
    )
    return store


@pytest.mark.clause("BOOT-5")
def test_a_new_nullable_field_and_index_are_added(adapter: Adapter, second: Adapter) -> None:
    _with_v1(adapter)
    new = _store(second, V2)
    planned = new.bootstrap(dry_run=True)
    assert planned, "a new nullable field and a new index must be proposed"
    assert new.bootstrap() == planned, "bootstrap must run exactly what the dry run proposed"
    assert new.bootstrap() == [] and new.bootstrap(dry_run=True) == []
    assert new.get(V2, {"org": 1, "id": "a"}) == {
        "org": 1,
        "id": "a",
        "n": 1,
        "note": None,
        "flag": None,
    }
    new.insert(V2, {"org": 1, "id": "c", "n": 3, "note": "note", "flag": True})
    assert new.get(V2, {"org": 1, "id": "c"}) == {
        "org": 1,
        "id": "c",
        "n": 3,
        "note": "note",
        "flag": True,
    }
    assert ids(new.find(V2, {"note": "note"}).rows) == ["c"], "old rows must read NULL"
    assert ids(new.find(V2, {"flag": True}).rows) == ["c"]
    assert sorted(ids(new.find(V2, is_null("note")).rows)) == ["a", "b"]
    assert new.count(V2, {"n": 2}) == 1
    with pytest.raises(DuplicateKeyError):  # the new unique index is in force
        new.insert(V2, {"org": 1, "id": "d", "n": 4, "note": "note"})
    assert sorted(ids(all_rows(new, V2))) == ["a", "b", "c"]


@pytest.mark.clause("BOOT-5")
def test_a_nullable_column_the_model_dropped_is_left_alone(
    adapter: Adapter, second: Adapter
) -> None:
    old = _with_v1(adapter)
    new = _store(second, V2)
    new.bootstrap()
    new.insert(V2, {"org": 1, "id": "c", "n": 3})
    assert new.update(V2, {"n": 20}, key={"org": 1, "id": "b"}) == 1
    # The old release still works on the table: its column kept its values.
    assert old.bootstrap() == [] and old.bootstrap(dry_run=True) == []
    assert old.get(V1, {"org": 1, "id": "a"}) == {"org": 1, "id": "a", "n": 1, "gone": "x"}
    assert sorted(all_rows(old, V1), key=lambda row: str(row["id"])) == [
        {"org": 1, "id": "a", "n": 1, "gone": "x"},
        {"org": 1, "id": "b", "n": 20, "gone": None},
        {"org": 1, "id": "c", "n": 3, "gone": None},
    ]
    old.insert(V1, {"org": 1, "id": "e", "n": 5, "gone": "y"})
    assert new.get(V2, {"org": 1, "id": "e"}) == {
        "org": 1,
        "id": "e",
        "n": 5,
        "note": None,
        "flag": None,
    }


def _refused(
    store: Store, *, model: str, field: str | None = None, index: str | None = None
) -> SchemaMismatchError:
    """The dry run and the bootstrap both raise SchemaMismatchError naming the culprit."""
    for dry_run in (True, False):
        with pytest.raises(SchemaMismatchError) as caught:
            store.bootstrap(dry_run=dry_run)
        exc = caught.value
        assert (exc.model, exc.field, exc.index) == (model, field, index), (
            f"the mismatch names {(exc.model, exc.field, exc.index)}, expected "
            f"{(model, field, index)}: {exc}"
        )
        for name in (model, field, index):
            assert name is None or name in str(exc), f"the message does not name {name!r}"
    return exc


def _nothing_changed(adapter: Adapter, before: list[Row]) -> None:
    """No table was created, no column added, no row touched."""
    assert _store(adapter, LATER).bootstrap(dry_run=True), "a refused bootstrap created a table"
    assert _store(adapter, V2).bootstrap(dry_run=True), "a refused bootstrap altered a table"
    assert all_rows(_store(adapter, V1), V1) == before


@pytest.mark.clause("BOOT-6")
@pytest.mark.parametrize(
    "index",
    [
        Index("evo_n", ["org", ("n", "desc")]),
        Index("evo_n", ["org", "n"], unique=True),
        Index("evo_n", ["org", "n", "gone"]),
    ],
    ids=["direction", "unique", "columns"],
)
def test_an_index_redefined_under_its_name_is_refused(
    adapter: Adapter, second: Adapter, index: Index
) -> None:
    old = _with_v1(adapter)
    before = all_rows(old, V1)
    changed = _v1(fields=[ORG, ID, N, GONE, NOTE], indexes=[index])
    _refused(_store(second, LATER, changed), model="evo", index="evo_n")
    _nothing_changed(second, before)


@pytest.mark.clause("BOOT-6")
def test_an_index_name_taken_by_another_table_is_refused(adapter: Adapter, second: Adapter) -> None:
    old = _with_v1(adapter)
    before = all_rows(old, V1)
    thief = Model("evo_later", [ID, N], primary_key=["id"], indexes=[Index("evo_n", ["n"])])
    _refused(_store(second, _v1(indexes=[]), thief), model="evo_later", index="evo_n")
    _nothing_changed(second, before)


BOOT_7_CASES: dict[str, tuple[Model[Row], str | None]] = {
    "new-not-null-field": (_v1(fields=[ORG, ID, N, GONE, Field("req", IntegerType())]), "req"),
    "type-change": (_v1(fields=[ORG, ID, Field("n", StringType(10)), GONE]), "n"),
    "made-nullable": (
        _v1(fields=[ORG, ID, Field("n", IntegerType(), nullable=True), GONE]),
        "n",
    ),
    "made-required": (_v1(fields=[ORG, ID, N, Field("gone", StringType(10))]), "gone"),
    "not-null-column-dropped": (_v1(fields=[ORG, ID, GONE], indexes=[]), "n"),
    "key-change": (_v1(primary_key=["org", "id", "n"]), None),
}


@pytest.mark.clause("BOOT-7")
@pytest.mark.requires(Capability.SCHEMA_INTROSPECTION)
@pytest.mark.parametrize("case", list(BOOT_7_CASES))
def test_a_changed_column_or_key_is_refused(adapter: Adapter, second: Adapter, case: str) -> None:
    old = _with_v1(adapter)
    before = all_rows(old, V1)
    changed, field = BOOT_7_CASES[case]
    # With an additive change and a new table in the same schema: neither is made.
    grown = changed.with_field(NOTE)
    _refused(_store(second, LATER, grown), model="evo", field=field)
    _nothing_changed(second, before)
    assert old.bootstrap() == [], "the refused bootstrap changed v1's table"
