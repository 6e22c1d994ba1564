"""The kit's side of ISO-1..ISO-5: conditional writes, locking-read checks, the retry helper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from noorm.adapters.memory import MemoryAdapter
from noorm.kit import Store, retry_transaction
from noorm.spec import (
    And,
    Capability,
    Compare,
    ConflictError,
    Field,
    Find,
    IntegerType,
    Model,
    StringType,
    UnsupportedError,
    Update,
    ValidationError,
    eq,
)

from .test_store import Recording

COUNTERS = Model(
    "counters",
    [Field("id", StringType(10)), Field("n", IntegerType()), Field("v", IntegerType())],
    primary_key="id",
)


@pytest.fixture
def adapter() -> Iterator[Recording]:
    made = Recording()
    yield made
    made.close()


def _store(adapter: MemoryAdapter) -> Store:
    store = Store([COUNTERS], adapter, cursor_key=b"k" * 32)
    store.bootstrap()
    store.insert(COUNTERS, {"id": "c", "n": 0, "v": 0})
    return store


def test_a_conditional_update_is_one_operation_of_key_and_condition(adapter: Recording) -> None:
    store = _store(adapter)
    adapter.ops.clear()
    assert store.update(COUNTERS, {"n": 1, "v": 1}, key={"id": "c"}, where=eq("v", 0)) == 1
    assert store.update(COUNTERS, {"n": 2, "v": 1}, key={"id": "c"}, where=eq("v", 0)) == 0
    (first, second) = adapter.ops
    assert isinstance(first, Update) and isinstance(second, Update)
    assert first.where == And((Compare("eq", "id", "c"), Compare("eq", "v", 0)))
    assert store.get(COUNTERS, {"id": "c"}) == {"id": "c", "n": 1, "v": 1}
    assert store.delete(COUNTERS, key={"id": "c"}, where={"v": 0}) == 0
    assert store.delete(COUNTERS, key={"id": "c"}, where={"v": 1}) == 1


def test_locking_reads_need_a_transaction_and_the_capability(adapter: Recording) -> None:
    store = _store(adapter)
    adapter.ops.clear()
    assert not store.in_transaction
    with pytest.raises(ValidationError, match=r"inside store\.transaction"):
        store.get(COUNTERS, {"id": "c"}, for_update=True)
    with pytest.raises(ValidationError, match=r"inside store\.transaction"):
        store.find(COUNTERS, for_update=True)
    with pytest.raises(ValidationError, match="must be a bool"):
        store.find(COUNTERS, for_update=1)  # type: ignore[arg-type]
    assert adapter.ops == []
    with store.transaction() as tx:
        assert tx.in_transaction and tx.bind(user="u").in_transaction
        assert tx.get(COUNTERS, {"id": "c"}, for_update=True) == {"id": "c", "n": 0, "v": 0}
        assert [r["id"] for r in tx.find(COUNTERS, for_update=True)] == ["c"]
    with pytest.raises(ValidationError, match="needs a transaction"):
        adapter.execute(Find(COUNTERS, None, (), None, for_update=True))
    narrow = Recording(adapter.capabilities - {Capability.LOCKING_READS})
    try:
        store = _store(narrow)
        with store.transaction() as tx:
            with pytest.raises(UnsupportedError) as refused:
                tx.get(COUNTERS, {"id": "c"}, for_update=True)
            assert refused.value.capability == "locking_reads"
        with pytest.raises(UnsupportedError), narrow.transaction() as executor:
            executor.execute(Find(COUNTERS, None, (), None, for_update=True))
    finally:
        narrow.close()


def test_retry_transaction_backs_off_with_jitter_between_runs(
    adapter: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(adapter)
    pauses: list[float] = []
    monkeypatch.setattr("noorm.kit.retry.time.sleep", pauses.append)
    monkeypatch.setattr("noorm.kit.retry.random.uniform", lambda low, high: high)
    runs: list[Store] = []

    def lose(tx: Store) -> None:
        runs.append(tx)
        assert tx.in_transaction
        raise ConflictError("lost", model="counters")

    with pytest.raises(ConflictError) as caught:
        retry_transaction(store, lose, attempts=6, backoff=0.1, max_backoff=0.5)
    assert caught.value.reason == "lost" and len(runs) == 6
    assert pauses == [0.1, 0.2, 0.4, 0.5, 0.5], "exponential, capped, none after the last run"
    assert len({id(tx) for tx in runs}) == 6, "every run gets a fresh transaction"
    bound = store.bind(user="u")
    assert retry_transaction(bound, lambda tx: tx.context["user"]) == "u"
