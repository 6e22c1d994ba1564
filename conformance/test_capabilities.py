"""Spec clause CAP-1: an operation that needs an undeclared capability is refused.

Every test runs on every adapter (CAP-1 is core). Without the capability it checks the
refusal: ``UnsupportedError`` naming the capability, from the adapter called directly
as well as through the kit, and nothing written. With the capability it checks that the
capability works at a basic level, so that no variant passes without checking anything.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from noorm.kit import Store
from noorm.spec import (
    Adapter,
    Capability,
    Count,
    Delete,
    Filter,
    Find,
    Insert,
    Operation,
    Order,
    UnsupportedError,
    Update,
    Upsert,
    eq,
    in_,
    is_null,
    not_,
    or_,
    path,
)

from .checks import ids
from .models import ITEMS, item

ORDER = (Order("id"),)
KEY = path("j", "k")
PATH_FILTERS: list[Filter] = [
    eq(KEY, "x"),
    in_(KEY, ["x", "y"]),
    is_null(KEY),
    not_(eq(KEY, "x")),
    or_(eq("id", "none"), eq(KEY, "x")),
]
"""Path filters of every shape (a leaf, a list, a null test, nested under not_ and or_)."""


class Boom(Exception):
    """Raised by a test to abort a transaction block."""


def _row(key: str, **values: Any) -> dict[str, Any]:
    """A canonical ITEMS row (every field present), as the kit hands it to an adapter."""
    return {f.name: None for f in ITEMS.fields} | {"id": key, **values}


def _stored(adapter: Adapter) -> list[dict[str, Any]]:
    """Every ITEMS row, by key (sorted here: the order of a read is not this clause's)."""
    rows = adapter.execute(Find(ITEMS, None, ORDER, None))
    return sorted(rows, key=lambda r: str(r["id"]))


def _refused(call: Callable[[], object], capability: str, what: str) -> None:
    with pytest.raises(UnsupportedError) as caught:
        call()
    assert caught.value.capability == capability, f"{what}: {caught.value!r}"


def _enter(opener: Callable[[], AbstractContextManager[Any]], capability: str) -> None:
    """Open a transaction block that must be refused before its body runs."""
    with opener():
        pytest.fail(f"a transaction block ran without the {capability} capability")


@pytest.mark.clause("CAP-1")
def test_the_adapter_itself_refuses_path_filters_without_json_paths(
    store: Store, adapter: Adapter
) -> None:
    store.insert_many(ITEMS, [item("a", j={"k": "x"}), item("b", j={"k": "y"}), item("c")])
    before = _stored(adapter)
    if Capability.JSON_PATHS in adapter.capabilities:
        assert adapter.execute(Find(ITEMS, eq(KEY, "x"), ORDER, None)) == [_row("a", j={"k": "x"})]
        assert adapter.execute(Count(ITEMS, eq(KEY, "y"))) == 1
        return
    for where in PATH_FILTERS:
        ops: list[Operation[Any]] = [
            Find(ITEMS, where, ORDER, None),
            Count(ITEMS, where),
            Update(ITEMS, where, {"s": "changed"}),
            Delete(ITEMS, where),
            Upsert(ITEMS, _row("a", s="changed"), ("s",), where),
        ]
        for op in ops:
            _refused(lambda: adapter.execute(op), "json_paths", repr(op))  # noqa: B023
    assert _stored(adapter) == before, "a refused operation wrote something"


@pytest.mark.clause("CAP-1")
def test_the_store_refuses_path_filters_without_json_paths(store: Store, adapter: Adapter) -> None:
    store.insert_many(ITEMS, [item("a", j={"k": "x"}), item("b", j={"k": "y"}), item("c")])
    if Capability.JSON_PATHS in adapter.capabilities:
        assert ids(store.find(ITEMS, eq(KEY, "x"))) == ["a"]
        assert store.count(ITEMS, in_(KEY, ["x", "y"])) == 2
        return
    before = _stored(adapter)
    for where in PATH_FILTERS:
        calls: dict[str, Callable[[], object]] = {
            "find": lambda: store.find(ITEMS, where),  # noqa: B023
            "count": lambda: store.count(ITEMS, where),  # noqa: B023
            "update": lambda: store.update(ITEMS, {"s": "changed"}, where=where),  # noqa: B023
            "delete": lambda: store.delete(ITEMS, where=where),  # noqa: B023
        }
        for name, call in calls.items():
            _refused(call, "json_paths", f"{name} {where!r}")
    assert _stored(adapter) == before, "a refused operation wrote something"


@pytest.mark.clause("CAP-1")
def test_transaction_is_refused_without_the_transactions_capability(
    store: Store, adapter: Adapter
) -> None:
    if Capability.TRANSACTIONS in adapter.capabilities:
        with adapter.transaction() as tx:
            tx.execute(Insert(ITEMS, (_row("a"),)))
        with store.transaction() as stx:
            stx.insert(ITEMS, item("b"))
        assert _stored(adapter) == [_row("a"), _row("b")]
        return
    _refused(lambda: _enter(adapter.transaction, "transactions"), "transactions", "adapter")
    _refused(lambda: _enter(store.transaction, "transactions"), "transactions", "store")
    assert _stored(adapter) == []


@pytest.mark.clause("CAP-1")
def test_a_nested_transaction_is_refused_without_the_savepoints_capability(
    store: Store, adapter: Adapter
) -> None:
    caps = adapter.capabilities
    if Capability.TRANSACTIONS not in caps:  # there is no transaction to nest in
        _refused(lambda: _enter(store.transaction, "transactions"), "transactions", "store")
        return
    if Capability.SAVEPOINTS in caps:
        with store.transaction() as tx:
            tx.insert(ITEMS, item("outer"))
            with pytest.raises(Boom), tx.transaction() as inner:
                inner.insert(ITEMS, item("inner"))
                raise Boom
        assert _stored(adapter) == [_row("outer")]
        return
    with adapter.transaction() as tx:
        tx.execute(Insert(ITEMS, (_row("outer"),)))
        _refused(lambda: _enter(tx.transaction, "savepoints"), "savepoints", "adapter")
    with store.transaction() as stx:
        _refused(lambda: _enter(stx.transaction, "savepoints"), "savepoints", "store")
    assert _stored(adapter) == [_row("outer")]
