"""Spec section 5, writing: insert, duplicates, update, upsert, delete, and the ALL guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from noorm.kit import Store
from noorm.spec import ALL, DuplicateKeyError, and_, eq, gt, in_, is_null, lt, not_

from .checks import all_rows, ids, rejected, unchanged
from .models import ACCOUNTS, ITEMS, PAIRS, item

# --- OP-INS -------------------------------------------------------------------------------


@pytest.mark.clause("OP-INS")
def test_insert_returns_the_row_as_stored(store: Store) -> None:
    given = item(
        "k",
        n=-0.0,
        i=2**63 - 1,
        # Sub-millisecond digits only: whether milliseconds survive is TS-2's test.
        t=datetime(1969, 12, 31, 19, 0, 0, 999, tzinfo=timezone(timedelta(hours=-5))),
        j={"x": [1, 2.0]},
        b=False,
    )
    returned = store.insert(ITEMS, given)
    canonical = {
        "id": "k",
        "s": None,
        "short": None,
        "n": 0.0,
        "i": 2**63 - 1,
        "b": False,
        "t": datetime(1970, 1, 1, 0, 0, 0, tzinfo=UTC),
        "j": {"x": [1, 2.0]},
    }
    assert returned == canonical
    assert store.get(ITEMS, {"id": "k"}) == canonical
    many = store.insert_many(ITEMS, [item("m1", n=3), item("m2", s="x")])
    nulls = dict.fromkeys(canonical)
    assert many == [nulls | {"id": "m1", "n": 3.0}, nulls | {"id": "m2", "s": "x"}]
    assert sorted(all_rows(store, ITEMS), key=lambda r: str(r["id"])) == [returned, *many]


@pytest.mark.clause("OP-INS")
def test_insert_many_writes_large_batches_and_nothing_for_an_empty_one(store: Store) -> None:
    assert store.insert_many(ITEMS, []) == []
    rows = store.insert_many(ITEMS, [item(f"r{k:04}", i=k, s="x" * (k % 50)) for k in range(2000)])
    assert len(rows) == 2000
    assert store.count(ITEMS) == 2000
    assert store.count(ITEMS, gt("i", 1499)) == 500
    got = store.get(ITEMS, {"id": "r1999"})
    assert got is not None and got["s"] == "x" * 49


@pytest.mark.clause("OP-INS", "OP-DUP")
def test_a_duplicate_anywhere_in_a_batch_writes_none_of_it(store: Store) -> None:
    store.insert(ITEMS, item("existing", i=0))
    before = all_rows(store, ITEMS)
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert_many(ITEMS, [item("n1"), item("n2"), item("existing"), item("n3")])
    assert caught.value.model == "items"
    unchanged(store, ITEMS, before)
    with pytest.raises(DuplicateKeyError):
        store.insert_many(ITEMS, [item("n1"), item("n2"), item("n1")])
    unchanged(store, ITEMS, before)
    store.insert(ACCOUNTS, {"org": 1, "id": 1, "email": "a@x", "name": "a"})
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert_many(
            ACCOUNTS,
            [
                {"org": 1, "id": 2, "email": "b@x", "name": "b"},
                {"org": 1, "id": 3, "email": "b@x", "name": "c"},
            ],
        )
    assert caught.value.model == "accounts"
    assert ids(all_rows(store, ACCOUNTS)) == [1]


# --- OP-DUP -------------------------------------------------------------------------------


@pytest.mark.clause("OP-DUP", "ERR-1")
def test_a_duplicate_primary_key_raises_naming_the_model(store: Store) -> None:
    store.insert(ITEMS, item("k", s="first"))
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert(ITEMS, item("k", s="second"))
    assert caught.value.model == "items" and "items" in str(caught.value)
    assert all_rows(store, ITEMS) == [
        item("k", s="first") | dict.fromkeys(["short", "n", "i", "b", "t", "j"])
    ]
    store.insert(PAIRS, {"a": 1, "b": "x"})
    store.insert(PAIRS, {"a": 1, "b": "X"})
    store.insert(PAIRS, {"a": 2, "b": "x"})
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert(PAIRS, {"a": 1, "b": "x", "v": "again"})
    assert caught.value.model == "pairs"
    assert store.count(PAIRS) == 3


@pytest.mark.clause("OP-DUP", "STR-1")
def test_a_duplicate_unique_index_value_raises_but_near_duplicates_do_not(store: Store) -> None:
    store.insert(ACCOUNTS, {"org": 1, "id": 1, "email": "ann@example.org", "name": "Ann"})
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert(ACCOUNTS, {"org": 1, "id": 2, "email": "ann@example.org", "name": "Other"})
    assert caught.value.model == "accounts"
    # Case, accents, trailing spaces and normalization forms are different values.
    for k, email in enumerate(
        ["Ann@example.org", "ann@example.org ", "ánn@example.org", "a\u0301nn@example.org"], 3
    ):
        store.insert(ACCOUNTS, {"org": 1, "id": k, "email": email, "name": "near"})
    assert store.count(ACCOUNTS) == 5
    assert ids(store.find(ACCOUNTS, eq("email", "ann@example.org"))) == [1]


# --- OP-UPD -------------------------------------------------------------------------------


@pytest.mark.clause("OP-UPD")
def test_update_returns_rows_matched_even_when_values_do_not_change(store: Store) -> None:
    store.insert_many(ITEMS, [item(f"r{k}", i=k % 3, s="same") for k in range(9)])
    assert store.update(ITEMS, {"s": "same"}, where=eq("i", 1)) == 3
    assert store.update(ITEMS, {"s": "changed"}, where=eq("i", 1)) == 3
    assert store.update(ITEMS, {"s": "changed"}, where=eq("i", 1)) == 3
    assert store.update(ITEMS, {"n": 1.0}, where=eq("i", 42)) == 0
    assert store.update(ITEMS, {"n": 2.0}, key={"id": "r0"}) == 1
    assert store.update(ITEMS, {"n": 2.0}, key={"id": "missing"}) == 0
    assert store.update(ITEMS, {"b": True, "t": None}, where=ALL) == 9
    rows = {r["id"]: r for r in all_rows(store, ITEMS)}
    assert [rows[f"r{k}"]["s"] for k in range(9)] == ["same", "changed", "same"] * 3
    assert rows["r0"]["n"] == 2.0 and rows["r3"]["n"] is None
    assert all(r["b"] is True for r in rows.values())


@pytest.mark.clause("OP-UPD")
def test_update_sets_values_on_exactly_the_matching_rows(store: Store) -> None:
    store.insert_many(
        ITEMS, [item(f"r{k}", i=k, s="x" if k % 2 else None, j={"k": k}) for k in range(6)]
    )
    assert (
        store.update(ITEMS, {"s": None, "n": 0.5, "j": [k for k in range(3)]}, where=gt("i", 3))
        == 2
    )
    assert store.update(ITEMS, {"s": "y"}, where=and_(is_null("s"), lt("i", 3))) == 2
    rows = {r["id"]: r for r in all_rows(store, ITEMS)}
    assert [rows[f"r{k}"]["s"] for k in range(6)] == ["y", "x", "y", "x", None, None]
    assert [rows[f"r{k}"]["n"] for k in range(6)] == [None] * 4 + [0.5, 0.5]
    assert [rows[f"r{k}"]["j"] for k in range(6)] == [{"k": k} for k in range(4)] + [[0, 1, 2]] * 2


@pytest.mark.clause("OP-UPD", "VAL-1")
def test_primary_key_fields_cannot_be_updated(store: Store) -> None:
    store.insert(ITEMS, item("k"))
    store.insert(PAIRS, {"a": 1, "b": "x"})
    before = all_rows(store, ITEMS)
    rejected(
        lambda: store.update(ITEMS, {"id": "other"}, key={"id": "k"}), model="items", field="id"
    )
    rejected(lambda: store.update(PAIRS, {"b": "y"}, where=ALL), model="pairs", field="b")
    rejected(lambda: store.update(ITEMS, {}, where=ALL), model="items", field=None)
    unchanged(store, ITEMS, before)
    assert all_rows(store, PAIRS) == [{"a": 1, "b": "x", "v": None}]


# --- OP-UPS -------------------------------------------------------------------------------


@pytest.mark.clause("OP-UPS")
def test_upsert_inserts_a_new_row(store: Store) -> None:
    result = store.upsert(ITEMS, item("k", n=1, s="new"), update=["s"])
    assert result.inserted is True
    assert result.row == item("k", n=1.0, s="new") | dict.fromkeys(["short", "i", "b", "t", "j"])
    assert store.get(ITEMS, {"id": "k"}) == result.row


@pytest.mark.clause("OP-UPS")
def test_upsert_updates_only_the_listed_fields(store: Store) -> None:
    store.insert_many(ITEMS, [item("k", s="old", i=1, n=1.0, b=True), item("other", s="old")])
    result = store.upsert(ITEMS, item("k", s="new", i=2, n=None, b=False), update=["s", "n"])
    assert result.inserted is False
    expected = item("k", s="new", i=1, n=None, b=True) | {"short": None, "t": None, "j": None}
    assert result.row == expected
    assert store.get(ITEMS, {"id": "k"}) == expected
    other = store.get(ITEMS, {"id": "other"})
    assert other is not None and other["s"] == "old"
    result = store.upsert(PAIRS, {"a": 1, "b": "x", "v": "1"}, update=["v"])
    assert result.inserted is True
    result = store.upsert(PAIRS, {"a": 1, "b": "x", "v": "2"}, update=["v"])
    assert (result.inserted, result.row) == (False, {"a": 1, "b": "x", "v": "2"})
    assert store.count(PAIRS) == 1


@pytest.mark.clause("OP-UPS")
def test_upsert_with_an_empty_update_leaves_the_existing_row_untouched(store: Store) -> None:
    original = store.insert(ITEMS, item("k", s="keep", i=7, j={"a": 1}))
    result = store.upsert(ITEMS, item("k", s="ignored", i=8, j=None), update=[])
    assert result.inserted is False
    assert result.row == original
    assert all_rows(store, ITEMS) == [original]
    result = store.upsert(ITEMS, item("fresh", s="in"), update=[])
    assert result.inserted is True and result.row["s"] == "in"
    assert store.count(ITEMS) == 2


@pytest.mark.clause("OP-UPS", "VAL-1")
def test_upsert_cannot_update_key_fields(store: Store) -> None:
    rejected(lambda: store.upsert(ITEMS, item("k"), update=["id"]), model="items", field="id")
    rejected(lambda: store.upsert(ITEMS, item("k"), update=["nope"]), model="items", field="nope")
    assert store.count(ITEMS) == 0


# --- OP-DEL -------------------------------------------------------------------------------


@pytest.mark.clause("OP-DEL")
def test_delete_returns_the_number_of_rows_removed(store: Store) -> None:
    store.insert_many(ITEMS, [item(f"r{k}", i=k % 4 if k % 5 else None) for k in range(20)])
    assert store.delete(ITEMS, where=eq("i", 1)) == 4
    assert store.delete(ITEMS, where=eq("i", 1)) == 0
    assert store.delete(ITEMS, key={"id": "r0"}) == 1
    assert store.delete(ITEMS, key={"id": "r0"}) == 0
    assert store.delete(ITEMS, where=not_(is_null("i"))) == 12
    assert sorted(ids(all_rows(store, ITEMS))) == sorted(["r5", "r10", "r15"])
    assert store.delete(ITEMS, where=in_("id", ["r5", "r10", "nope"])) == 2
    assert store.delete(PAIRS, key={"a": 1, "b": "x"}) == 0
    store.insert_many(PAIRS, [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}])
    assert store.delete(PAIRS, key={"a": 1, "b": "x"}) == 1
    assert all_rows(store, PAIRS) == [{"a": 1, "b": "y", "v": None}]


# --- OP-ALL -------------------------------------------------------------------------------


@pytest.mark.clause("OP-ALL")
def test_update_and_delete_without_a_filter_are_refused(store: Store) -> None:
    store.insert_many(ITEMS, [item("a", i=1), item("b", i=2)])
    before = all_rows(store, ITEMS)
    rejected(lambda: store.update(ITEMS, {"i": 0}), model="items", field=None)
    rejected(lambda: store.delete(ITEMS), model="items", field=None)
    rejected(lambda: store.update(ITEMS, {"i": 0}, where=None), model="items", field=None)
    rejected(lambda: store.delete(ITEMS, where=None, key=None), model="items", field=None)
    rejected(lambda: store.delete(ITEMS, where={}, key={"id": "a"}), model="items", field=None)
    unchanged(store, ITEMS, before)


@pytest.mark.clause("OP-ALL")
def test_where_all_updates_and_deletes_every_row(store: Store) -> None:
    store.insert_many(ITEMS, [item(f"r{k}", i=k) for k in range(5)] + [item("null")])
    assert store.update(ITEMS, {"s": "all"}, where=ALL) == 6
    assert store.count(ITEMS, eq("s", "all")) == 6
    assert store.delete(ITEMS, where=gt("i", 0)) == 4
    assert store.delete(ITEMS, where=ALL) == 2
    assert store.count(ITEMS) == 0
    assert store.delete(ITEMS, where=ALL) == 0
