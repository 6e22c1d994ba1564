"""Spec section 6, transactions: commit, rollback, savepoints, own writes, honesty."""

from __future__ import annotations

import pytest

from noorm.kit import Store
from noorm.spec import (
    Adapter,
    Capability,
    DuplicateKeyError,
    Find,
    Insert,
    NoOrmError,
    Order,
    UnsupportedError,
    eq,
)

from .checks import all_rows, ids
from .models import ITEMS, item


class Boom(Exception):
    """Raised by a test to abort a transaction block."""


def _insert(key: str) -> Insert:
    """An adapter-level insert of one ITEMS row (canonical: every field present)."""
    return Insert(ITEMS, ({f.name: None for f in ITEMS.fields} | {"id": key},))


@pytest.mark.clause("TX-1")
@pytest.mark.requires(Capability.TRANSACTIONS)
def test_a_transaction_commits_when_its_block_ends(store: Store) -> None:
    store.insert(ITEMS, item("old", i=0))
    with store.transaction() as tx:
        tx.insert(ITEMS, item("a", i=1))
        tx.insert_many(ITEMS, [item("b", i=2), item("c", i=3)])
        tx.update(ITEMS, {"s": "x"}, where=eq("i", 2))
        tx.delete(ITEMS, key={"id": "old"})
        tx.upsert(ITEMS, item("c", i=30), update=["i"])
    rows = {r["id"]: (r["i"], r["s"]) for r in all_rows(store, ITEMS)}
    assert rows == {"a": (1, None), "b": (2, "x"), "c": (30, None)}


@pytest.mark.clause("TX-1")
@pytest.mark.requires(Capability.TRANSACTIONS)
def test_an_exception_rolls_back_every_write_of_the_block(store: Store) -> None:
    store.insert_many(ITEMS, [item("keep", i=0, s="orig"), item("gone", i=9)])
    before = all_rows(store, ITEMS)
    error = Boom("abort")
    with pytest.raises(Boom) as caught, store.transaction() as tx:
        tx.insert(ITEMS, item("a", i=1))
        tx.insert_many(ITEMS, [item("b", i=2), item("c", i=3)])
        tx.update(ITEMS, {"s": "changed"}, where=eq("id", "keep"))
        tx.delete(ITEMS, key={"id": "gone"})
        tx.upsert(ITEMS, item("keep", i=5), update=["i"])
        tx.upsert(ITEMS, item("d", i=4), update=[])
        assert tx.count(ITEMS) == 5
        raise error
    assert caught.value is error
    assert all_rows(store, ITEMS) == before


@pytest.mark.clause("TX-1")
@pytest.mark.requires(Capability.TRANSACTIONS)
def test_a_noorm_error_inside_the_block_also_rolls_back(store: Store) -> None:
    store.insert(ITEMS, item("dup"))
    with pytest.raises(DuplicateKeyError), store.transaction() as tx:
        tx.insert(ITEMS, item("new"))
        tx.insert(ITEMS, item("dup"))
    assert ids(all_rows(store, ITEMS)) == ["dup"]
    with store.transaction() as tx:  # the store is usable again afterwards
        tx.insert(ITEMS, item("after"))
    assert sorted(ids(all_rows(store, ITEMS))) == ["after", "dup"]


@pytest.mark.clause("TX-1")
@pytest.mark.requires(Capability.TRANSACTIONS)
def test_a_transaction_executor_stops_working_when_its_block_ends(
    store: Store, adapter: Adapter
) -> None:
    """Its block committed or rolled back: running on afterwards would bypass atomicity."""
    with adapter.transaction() as committed:
        committed.execute(_insert("a"))
    with pytest.raises(Boom), adapter.transaction() as rolled_back:
        raise Boom
    with store.transaction() as kit_tx:
        kit_tx.insert(ITEMS, item("b"))
    for executor in (committed, rolled_back):
        with pytest.raises(NoOrmError):
            executor.execute(_insert("late"))
        with pytest.raises(NoOrmError):
            executor.execute(Find(ITEMS, None, (Order("id"),), None))
    with pytest.raises(NoOrmError):
        kit_tx.insert(ITEMS, item("late"))
    assert store.get(ITEMS, {"id": "late"}) is None and store.count(ITEMS) == 2


@pytest.mark.clause("TX-2")
@pytest.mark.requires(Capability.SAVEPOINTS)
def test_a_savepoint_executor_stops_working_when_its_block_ends(
    store: Store, adapter: Adapter
) -> None:
    with adapter.transaction() as tx:
        with tx.transaction() as released:
            released.execute(_insert("a"))
        with pytest.raises(Boom), tx.transaction() as rolled_back:
            raise Boom
        for savepoint in (released, rolled_back):
            with pytest.raises(NoOrmError):
                savepoint.execute(_insert("late"))
    with store.transaction() as kit_tx:
        with kit_tx.transaction() as kit_savepoint:
            kit_savepoint.insert(ITEMS, item("b"))
        with pytest.raises(NoOrmError):
            kit_savepoint.insert(ITEMS, item("late"))
    assert store.get(ITEMS, {"id": "late"}) is None and store.count(ITEMS) == 2


@pytest.mark.clause("TX-2")
@pytest.mark.requires(Capability.SAVEPOINTS)
def test_a_failing_savepoint_rolls_back_only_its_own_block(store: Store) -> None:
    store.insert(ITEMS, item("base", i=0))
    with store.transaction() as tx:
        tx.insert(ITEMS, item("outer-1"))
        with pytest.raises(Boom), tx.transaction() as inner:
            inner.insert(ITEMS, item("inner"))
            inner.update(ITEMS, {"i": 99}, key={"id": "base"})
            inner.delete(ITEMS, key={"id": "outer-1"})
            assert sorted(ids(inner.find(ITEMS))) == ["base", "inner"]
            raise Boom
        assert sorted(ids(tx.find(ITEMS))) == ["base", "outer-1"]
        got = tx.get(ITEMS, {"id": "base"})
        assert got is not None and got["i"] == 0
        with tx.transaction() as inner:
            inner.insert(ITEMS, item("inner-kept"))
        tx.insert(ITEMS, item("outer-2"))
    assert sorted(ids(all_rows(store, ITEMS))) == ["base", "inner-kept", "outer-1", "outer-2"]


@pytest.mark.clause("TX-2")
@pytest.mark.requires(Capability.SAVEPOINTS)
def test_savepoints_nest_and_an_outer_failure_undoes_committed_savepoints(store: Store) -> None:
    with pytest.raises(Boom), store.transaction() as tx:
        with tx.transaction() as one:
            one.insert(ITEMS, item("one"))
            with one.transaction() as two:
                two.insert(ITEMS, item("two"))
            with pytest.raises(Boom), one.transaction() as three:
                three.insert(ITEMS, item("three"))
                raise Boom
        assert sorted(ids(tx.find(ITEMS))) == ["one", "two"]
        raise Boom
    assert store.count(ITEMS) == 0


@pytest.mark.clause("TX-5")
@pytest.mark.requires(Capability.SAVEPOINTS)
def test_a_failed_operation_has_no_effect_and_a_savepoint_lets_the_transaction_continue(
    store: Store,
) -> None:
    store.insert_many(ITEMS, [item("dup", i=0), item("other", i=0)])
    with store.transaction() as tx:
        tx.insert(ITEMS, item("before"))
        with pytest.raises(DuplicateKeyError), tx.transaction() as savepoint:
            savepoint.insert_many(ITEMS, [item("batch-1"), item("batch-2"), item("dup")])
        assert sorted(ids(tx.find(ITEMS))) == ["before", "dup", "other"]
        with pytest.raises(DuplicateKeyError), tx.transaction() as savepoint:
            savepoint.update(ITEMS, {"i": 5}, key={"id": "other"})
            savepoint.insert(ITEMS, item("dup"))
        got = tx.get(ITEMS, {"id": "other"})
        assert got is not None and got["i"] == 0
        tx.insert(ITEMS, item("after"))
        assert tx.count(ITEMS) == 4
    assert sorted(ids(all_rows(store, ITEMS))) == ["after", "before", "dup", "other"]


@pytest.mark.clause("TX-3")
@pytest.mark.requires(Capability.TRANSACTIONS)
def test_reads_inside_a_transaction_see_its_own_writes(store: Store) -> None:
    store.insert(ITEMS, item("pre", i=1))
    with store.transaction() as tx:
        tx.insert(ITEMS, item("new", i=2))
        got = tx.get(ITEMS, {"id": "new"})
        assert got is not None and got["i"] == 2
        assert {r["id"]: r["i"] for r in tx.find(ITEMS, order_by="i")} == {"pre": 1, "new": 2}
        assert tx.count(ITEMS, eq("i", 2)) == 1
        tx.update(ITEMS, {"i": 5}, key={"id": "pre"})
        assert {r["id"]: r["i"] for r in tx.find(ITEMS, order_by="i")} == {"pre": 5, "new": 2}
        tx.delete(ITEMS, key={"id": "new"})
        assert tx.get(ITEMS, {"id": "new"}) is None
        assert tx.count(ITEMS) == 1
        assert tx.upsert(ITEMS, item("pre", i=6), update=["i"]).row["i"] == 6
        page = tx.find(ITEMS, limit=1)
        assert ids(page) == ["pre"] and page.next_cursor is None


@pytest.mark.clause("TX-4", "ERR-1")
def test_transactions_are_refused_exactly_when_the_capability_is_missing(
    store: Store, adapter: Adapter
) -> None:
    caps = adapter.capabilities
    op = Find(ITEMS, None, (Order("id"),), None)
    if Capability.TRANSACTIONS not in caps:
        with pytest.raises(UnsupportedError) as caught, store.transaction():
            pass
        assert caught.value.capability == "transactions"
        with pytest.raises(UnsupportedError), adapter.transaction():
            pass
        return
    with store.transaction() as tx:  # declared: the kit and the adapter both grant it
        tx.insert(ITEMS, item("in-tx"))
        if Capability.SAVEPOINTS in caps:
            with tx.transaction() as inner:
                inner.insert(ITEMS, item("in-savepoint"))
        else:
            with pytest.raises(UnsupportedError) as caught, tx.transaction():
                pass
            assert caught.value.capability == "savepoints"
    committed = all_rows(store, ITEMS)
    with adapter.transaction() as executor:
        assert executor.execute(op) == committed
        if Capability.SAVEPOINTS not in caps:
            with pytest.raises(UnsupportedError), executor.transaction():
                pass
    expected = ["in-savepoint", "in-tx"] if Capability.SAVEPOINTS in caps else ["in-tx"]
    assert sorted(ids(all_rows(store, ITEMS))) == expected
