"""Random rows, filters, orders and limits, checked against the suite's own oracle.

The oracle (:mod:`noorm.conformance.oracle`) is written from docs/spec.md alone, so this
also tests the memory adapter rather than trusting it. Examples are derandomized: a
certification run is reproducible.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noorm.kit import Store
from noorm.spec import ALL, Capability, Filter, Order, Row

from . import oracle, strategies
from .models import ITEMS

EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check(
    store: Store, rows: list[Row], where: Filter | None, order: list[Order], limit: int | None
) -> None:
    store.delete(ITEMS, where=ALL)
    stored = store.insert_many(ITEMS, rows) if rows else []
    expected = oracle.select(stored, where, order, ITEMS.primary_key)
    page = store.find(ITEMS, where, order_by=order, limit=limit)
    assert page.rows == expected[:limit]
    assert (page.next_cursor is not None) == (limit is not None and len(expected) > limit)
    assert store.count(ITEMS, where) == len(expected)


@pytest.mark.clause(
    "FLT-1",
    "NULL-1",
    "FLT-LOGIC",
    "FLT-IN",
    "FLT-TYPES",
    "STR-4",
    "ORD-1",
    "ORD-2",
    "OP-FIND",
    "OP-COUNT",
)
@EXAMPLES
@given(
    rows=strategies.rows(),
    where=st.one_of(st.none(), strategies.filters()),
    order=strategies.orders(),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=25)),
)
def test_find_and_count_agree_with_the_oracle(
    store: Store, rows: list[Row], where: Filter | None, order: list[Order], limit: int | None
) -> None:
    _check(store, rows, where, order, limit)


@pytest.mark.clause("FLT-JSON-1", "FLT-JSON-2")
@pytest.mark.requires(Capability.JSON_PATHS)
@EXAMPLES
@given(
    rows=strategies.rows(),
    where=strategies.filters(json_paths=True),
    order=strategies.orders(),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=25)),
)
def test_json_path_filters_agree_with_the_oracle(
    store: Store, rows: list[Row], where: Filter, order: list[Order], limit: int | None
) -> None:
    _check(store, rows, where, order, limit)


@pytest.mark.clause("OP-UPD", "OP-DEL", "FLT-1", "NULL-1", "FLT-LOGIC")
@EXAMPLES
@given(rows=strategies.rows(), where=strategies.filters(), data=st.data())
def test_update_and_delete_select_the_rows_the_oracle_selects(
    store: Store, rows: list[Row], where: Filter, data: st.DataObject
) -> None:
    store.delete(ITEMS, where=ALL)
    stored = store.insert_many(ITEMS, rows) if rows else []
    chosen = {r["id"] for r in stored if oracle.matches(r, where)}
    assert store.update(ITEMS, {"short": "upd"}, where=where) == len(chosen)
    after = store.find(ITEMS).rows
    assert {r["id"] for r in after if r["short"] == "upd"} >= chosen
    for before, now in zip(stored_sorted(stored), after, strict=True):
        expected_short = "upd" if before["id"] in chosen else before["short"]
        assert now == {**before, "short": expected_short}
    second = data.draw(strategies.filters(), label="delete where")
    doomed = {r["id"] for r in after if oracle.matches(r, second)}
    assert store.delete(ITEMS, where=second) == len(doomed)
    assert {r["id"] for r in store.find(ITEMS).rows} == {r["id"] for r in after} - doomed


def stored_sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: str(r["id"]))
