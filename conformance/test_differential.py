"""Random rows, filters, orders and limits, checked against the suite's own oracle.

The oracle (:mod:`noorm.conformance.oracle`) is written from docs/spec.md alone, so this
also tests the memory adapter rather than trusting it. Examples are derandomized: a
certification run is reproducible.

Each test covers several clauses; when one fails it works out which rule the failing
case breaks (the smallest part of the filter the adapter gets wrong, the first pair of
rows it orders wrongly) and blames that clause only (:func:`~noorm.conformance.plugin.blame`).
Rows are judged as the adapter stores them (read back), so that a value stored
imperfectly fails its own clause, not these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noorm.kit import Store
from noorm.spec import (
    ALL,
    And,
    Capability,
    Compare,
    Filter,
    In,
    IsNull,
    JsonType,
    Not,
    Or,
    Order,
    Path,
    Row,
)

from . import oracle, strategies
from .checks import ids
from .models import ITEMS
from .plugin import blame

EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

FILTER_CLAUSES = ("FLT-1", "NULL-1", "FLT-LOGIC", "FLT-IN", "FLT-TYPES", "STR-4", "OP-COUNT")
ORDER_CLAUSES = ("ORD-1", "ORD-2", "STR-4", "OP-FIND")


def _reset(store: Store, rows: list[Row]) -> list[Row]:
    """Replace every ITEMS row with ``rows``; the rows as stored (read back), by key."""
    store.delete(ITEMS, where=ALL)
    if rows:
        store.insert_many(ITEMS, rows)
    stored = sorted(store.find(ITEMS, ALL).rows, key=lambda r: str(r["id"]))
    assert ids(stored) == sorted(r["id"] for r in rows)
    return stored


def _matching(rows: Sequence[Row], where: Filter | None) -> set[str]:
    return {r["id"] for r in rows if oracle.matches(r, where)}


def _found(store: Store, where: Filter | None) -> set[str]:
    return set(ids(store.find(ITEMS, where)))


def _leaf_clause(leaf: Filter, wrong: list[Mapping[str, Any]]) -> str:
    """The clause whose rule a comparison, in-list or null test breaks on the ``wrong`` rows."""
    assert isinstance(leaf, (Compare, In, IsNull))
    values = [oracle.resolve(row, leaf.ref) for row in wrong]
    absent = any(v is None or v is oracle.MISSING for v in values)
    if isinstance(leaf.ref, Path):
        ne = isinstance(leaf, Compare) and leaf.op == "ne"
        return "FLT-JSON-2" if absent or ne or isinstance(leaf, IsNull) else "FLT-JSON-1"
    if isinstance(leaf, IsNull):
        return "FLT-TYPES" if isinstance(ITEMS.field(leaf.ref).type, JsonType) else "NULL-1"
    if isinstance(leaf, In) and not leaf.values:
        return "FLT-IN"
    if absent:
        return "NULL-1"
    if isinstance(leaf, Compare) and leaf.op in ("lt", "lte", "gt", "gte"):
        return "STR-4" if isinstance(leaf.value, str) else "FLT-1"
    return "FLT-1"


def _filter_blame(store: Store, rows: Sequence[Row], where: Filter | None) -> str:
    """The clause broken by the smallest part of ``where`` the adapter answers wrongly."""
    node = where
    if node is None or _found(store, node) == _matching(rows, node):
        return "OP-COUNT"  # find agrees with the oracle, so the count is what is wrong
    while True:
        if isinstance(node, (And, Or)):
            children: tuple[Filter, ...] = node.items
        elif isinstance(node, Not):
            children = (node.item,)
        else:
            children = ()
        wrong = next((c for c in children if _found(store, c) != _matching(rows, c)), None)
        if wrong is None:
            break
        node = wrong
    if children:
        return "FLT-LOGIC"  # every operand is right, their combination is not
    differ = _found(store, node) ^ _matching(rows, node)
    return _leaf_clause(node, [r for r in rows if r["id"] in differ])


def _check_filter(
    request: pytest.FixtureRequest, store: Store, rows: list[Row], where: Filter | None
) -> None:
    stored = _reset(store, rows)
    expected = [r for r in stored if oracle.matches(r, where)]
    try:
        got = sorted(store.find(ITEMS, where).rows, key=lambda r: str(r["id"]))
        assert got == expected, f"{where!r}"
        assert store.count(ITEMS, where) == len(expected), f"count({where!r})"
    except AssertionError:
        blame(request.node, _filter_blame(store, stored, where))
        raise


@pytest.mark.clause(*FILTER_CLAUSES)
@EXAMPLES
@given(rows=strategies.rows(), where=st.one_of(st.none(), strategies.filters()))
def test_find_and_count_match_the_rows_the_oracle_selects(
    request: pytest.FixtureRequest, store: Store, rows: list[Row], where: Filter | None
) -> None:
    _check_filter(request, store, rows, where)


@pytest.mark.clause("FLT-JSON-1", "FLT-JSON-2")
@pytest.mark.requires(Capability.JSON_PATHS)
@EXAMPLES
@given(rows=strategies.rows(), where=strategies.filters(json_paths=True))
def test_json_path_filters_match_the_rows_the_oracle_selects(
    request: pytest.FixtureRequest, store: Store, rows: list[Row], where: Filter
) -> None:
    _check_filter(request, store, rows, where)


def _order_blame(
    got: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]], order: list[Order]
) -> str:
    """The clause broken by the first pair of rows the adapter orders differently."""
    pairs = enumerate(zip(got, expected, strict=False))
    at = next((k for k, (a, b) in pairs if a["id"] != b["id"]), None)
    if at is None:
        return "OP-FIND"  # the rows are in order; their number or the cursor is wrong
    a, b = got[at], expected[at]
    named = [o.field for o in order]
    for field in [*named, *(k for k in ITEMS.primary_key if k not in named)]:
        if a[field] == b[field] and type(a[field]) is type(b[field]):
            continue
        if field not in named:
            return "ORD-2"  # the rows tie on the order; the key should decide
        if a[field] is None or b[field] is None or not isinstance(a[field], str):
            return "ORD-1"
        return "STR-4"
    return "ORD-1"


@pytest.mark.clause(*ORDER_CLAUSES)
@EXAMPLES
@given(
    rows=strategies.rows(),
    order=strategies.orders(),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=25)),
)
def test_reads_come_in_the_order_the_oracle_sorts(
    request: pytest.FixtureRequest,
    store: Store,
    rows: list[Row],
    order: list[Order],
    limit: int | None,
) -> None:
    stored = _reset(store, rows)
    expected = oracle.sort_rows(stored, order, ITEMS.primary_key)
    page = store.find(ITEMS, order_by=order, limit=limit)
    try:
        assert page.rows == expected[:limit], f"{order!r} limit {limit}"
        assert (page.next_cursor is not None) == (limit is not None and len(expected) > limit)
    except AssertionError:
        blame(request.node, _order_blame(page.rows, expected[:limit], order))
        raise


@pytest.mark.clause("OP-UPD", "OP-DEL")
@EXAMPLES
@given(rows=strategies.rows(), where=strategies.filters(), data=st.data())
def test_update_and_delete_touch_exactly_the_rows_find_selects(
    store: Store, rows: list[Row], where: Filter, data: st.DataObject
) -> None:
    """Judged against the adapter's own ``find`` for the same filter (filters are FLT-*)."""
    stored = _reset(store, rows)
    chosen = _found(store, where)
    assert store.update(ITEMS, {"short": "upd"}, where=where) == len(chosen)
    after = {r["id"]: r for r in store.find(ITEMS, ALL).rows}
    assert after == {
        r["id"]: {**r, "short": "upd" if r["id"] in chosen else r["short"]} for r in stored
    }
    second = data.draw(strategies.filters(), label="delete where")
    doomed = _found(store, second)
    assert store.delete(ITEMS, where=second) == len(doomed)
    assert _found(store, ALL) == set(after) - doomed
