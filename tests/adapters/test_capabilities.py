"""CAP-1 inside the built-in adapters: an instance that narrows its capabilities refuses
what it no longer declares, also when called directly (not only through the kit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from noorm.adapters.memory import MemoryAdapter
from noorm.adapters.sqlite import SQLiteAdapter
from noorm.kit import Store
from noorm.spec import (
    Adapter,
    Capability,
    Count,
    Delete,
    Field,
    Find,
    IntegerType,
    JsonType,
    Model,
    Operation,
    Order,
    UnsupportedError,
    Update,
    eq,
    not_,
    or_,
    path,
)

DOCS = Model("docs", [Field("id", IntegerType()), Field("j", JsonType())], primary_key="id")
MAKERS: dict[str, Callable[[], Adapter]] = {
    "memory": MemoryAdapter,
    "sqlite": lambda: SQLiteAdapter(":memory:"),
}


@pytest.fixture(params=sorted(MAKERS))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    made = MAKERS[request.param]()
    Store([DOCS], made).bootstrap()
    Store([DOCS], made).insert(DOCS, {"id": 1, "j": {"a": 1}})
    return made


def test_path_filters_are_refused_without_json_paths(adapter: Adapter) -> None:
    where = or_(eq("id", 2), not_(eq(path("j", "a"), 1)))
    assert adapter.execute(Count(DOCS, where)) == 0  # declared: answered
    adapter.capabilities = frozenset({Capability.TRANSACTIONS})
    ops: list[Operation[Any]] = [
        Find(DOCS, where, (Order("id"),), None),
        Count(DOCS, where),
        Update(DOCS, where, {"j": [1]}),
        Delete(DOCS, where),
    ]
    for op in ops:
        with pytest.raises(UnsupportedError) as caught:
            adapter.execute(op)
        assert (caught.value.capability, caught.value.model) == ("json_paths", "docs")
    assert adapter.execute(Count(DOCS, eq("id", 1))) == 1  # nothing else is refused
    assert adapter.execute(Find(DOCS, None, (Order("id"),), None)) == [{"id": 1, "j": {"a": 1}}]


def test_transactions_and_savepoints_are_refused_without_them(adapter: Adapter) -> None:
    adapter.capabilities = frozenset({Capability.TRANSACTIONS})
    with adapter.transaction() as tx:
        with pytest.raises(UnsupportedError) as caught, tx.transaction():
            pass
        assert caught.value.capability == "savepoints"
    adapter.capabilities = frozenset()
    with pytest.raises(UnsupportedError) as caught, adapter.transaction():
        pass
    assert caught.value.capability == "transactions"
