"""Spec clause OBS-1: every operation reports itself to the ``on_query`` callback."""

from __future__ import annotations

import pytest

from noorm.kit import QueryEvent
from noorm.spec import ALL, DuplicateKeyError, eq

from .conftest import StoreMaker
from .models import ITEMS, PAIRS, item


@pytest.mark.clause("OBS-1")
def test_every_operation_emits_an_event_with_its_details(make_store: StoreMaker) -> None:
    events: list[QueryEvent] = []
    store = make_store(on_query=events.append)
    assert events == [], "bootstrap is not an operation"

    def last(count: int = 1) -> list[tuple[str, str, int]]:
        for event in events[-count:]:
            assert event.duration >= 0
            assert event.statement is None or (isinstance(event.statement, str) and event.statement)
        return [(e.operation, e.model, e.rows) for e in events[-count:]]

    store.insert(ITEMS, item("a", i=1))
    assert last() == [("insert", "items", 1)]
    store.insert_many(ITEMS, [item(f"r{k}", i=k) for k in range(4)])
    assert last() == [("insert", "items", 4)]
    store.get(ITEMS, {"id": "a"})
    assert last() == [("get", "items", 1)]
    store.get(ITEMS, {"id": "missing"})
    assert last() == [("get", "items", 0)]
    page = store.find(ITEMS, eq("i", 1))
    assert last() == [("find", "items", len(page.rows))] and len(page.rows) == 2
    assert store.count(ITEMS) == 5
    assert last() == [("count", "items", 5)]
    assert store.update(ITEMS, {"s": "x"}, where=eq("i", 1)) == 2
    assert last() == [("update", "items", 2)]
    store.upsert(ITEMS, item("a", s="y"), update=["s"])
    assert last() == [("upsert", "items", 1)]
    assert store.delete(ITEMS, where=eq("i", 3)) == 1
    assert last() == [("delete", "items", 1)]
    store.find(PAIRS)
    assert last() == [("find", "pairs", 0)]
    store.find(ITEMS, order_by="i", after={"id": "a"})
    assert [op for op, _, _ in last(2)] == ["find", "find"]
    assert store.delete(ITEMS, where=ALL) == 4
    assert last() == [("delete", "items", 4)]
    assert len(events) == 13


@pytest.mark.clause("OBS-1")
def test_a_failing_operation_is_reported_too(make_store: StoreMaker) -> None:
    events: list[QueryEvent] = []
    store = make_store(on_query=events.append)
    store.insert(ITEMS, item("a"))
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert(ITEMS, item("a"))
    event = events[-1]
    assert (event.operation, event.model) == ("insert", "items")
    assert event.duration >= 0
    assert event.error is caught.value
