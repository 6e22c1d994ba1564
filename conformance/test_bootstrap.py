"""Spec section 7, bootstrap: idempotent creation, dry runs, concurrent bootstraps."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from noorm.kit import Store
from noorm.spec import (
    Adapter,
    BackendError,
    Capability,
    DuplicateKeyError,
    Field,
    IntegerType,
    Model,
    Schema,
    StringType,
)

from .checks import all_rows, ids
from .conftest import CURSOR_KEY, StoreMaker
from .models import ACCOUNTS, ITEMS, SCHEMA, item
from .plugin import Subject

LATER = Model("later", [Field("id", IntegerType()), Field("v", StringType(10))], primary_key=["id"])


@pytest.mark.clause("BOOT-1")
def test_bootstrapping_twice_is_a_no_op(make_store: StoreMaker) -> None:
    store = make_store(bootstrap=False)
    first = store.bootstrap()
    assert isinstance(first, list) and all(isinstance(s, str) and s for s in first)
    assert first, "bootstrap of an empty database must report what it created"
    store.insert_many(ITEMS, [item("a", i=1), item("b", i=2)])
    store.insert(ACCOUNTS, {"org": 1, "id": 1, "email": "a@x", "name": "a"})
    assert store.bootstrap() == [], "a second bootstrap must find nothing to create"
    assert store.bootstrap(dry_run=True) == [], "a dry run after bootstrap must plan nothing"
    assert sorted(ids(all_rows(store, ITEMS))) == ["a", "b"]
    with pytest.raises(DuplicateKeyError):  # the unique index still holds
        store.insert(ACCOUNTS, {"org": 1, "id": 2, "email": "a@x", "name": "b"})
    assert store.bootstrap() == []
    assert store.count(ITEMS) == 2 and store.count(ACCOUNTS) == 1


@pytest.mark.clause("BOOT-1")
def test_bootstrap_creates_what_is_missing_and_keeps_what_exists(
    make_store: StoreMaker, adapter: Adapter
) -> None:
    store = make_store(Schema([ITEMS]))
    store.insert(ITEMS, item("kept", s="x"))
    bigger = make_store(Schema([ITEMS, ACCOUNTS, LATER]))
    bigger.insert(LATER, {"id": 1, "v": "new"})
    bigger.insert(ACCOUNTS, {"org": 1, "id": 1, "email": "a@x", "name": "a"})
    with pytest.raises(DuplicateKeyError):
        bigger.insert(ACCOUNTS, {"org": 1, "id": 2, "email": "a@x", "name": "b"})
    assert ids(all_rows(bigger, ITEMS)) == ["kept"]
    assert all_rows(bigger, LATER) == [{"id": 1, "v": "new"}]


@pytest.mark.clause("BOOT-2")
def test_a_dry_run_returns_the_statements_and_creates_nothing(make_store: StoreMaker) -> None:
    store = make_store(bootstrap=False)
    planned = store.bootstrap(dry_run=True)
    assert planned and all(isinstance(s, str) and s for s in planned)
    assert store.bootstrap(dry_run=True) == planned
    # Nothing exists yet: either the table is missing, or (on a backend that creates
    # collections on first write) the unique index is not in force.
    try:
        store.insert(ACCOUNTS, {"org": 1, "id": 1, "email": "a@x", "name": "a"})
        store.insert(ACCOUNTS, {"org": 1, "id": 2, "email": "a@x", "name": "b"})
    except DuplicateKeyError:
        pytest.fail("the dry run created the unique index accounts_email")
    except BackendError:
        pass


@pytest.mark.clause("BOOT-2")
def test_a_dry_run_on_an_empty_database_plans_what_bootstrap_then_runs(
    make_store: StoreMaker,
) -> None:
    store = make_store(bootstrap=False)
    planned = store.bootstrap(dry_run=True)
    ran = store.bootstrap()
    assert ran == planned
    store.insert(ITEMS, item("works"))
    after = store.bootstrap(dry_run=True)
    assert isinstance(after, list)
    assert ids(all_rows(store, ITEMS)) == ["works"]


def _bootstrap_together(adapters: list[Adapter]) -> list[BaseException]:
    """Run bootstrap on every adapter at the same instant; the errors raised."""
    barrier = threading.Barrier(len(adapters))
    errors: list[BaseException] = []

    def run(adapter: Adapter) -> None:
        store = Store(SCHEMA, adapter, cursor_key=CURSOR_KEY)
        barrier.wait()
        try:
            store.bootstrap()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in adapters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a concurrent bootstrap hung"
    return errors


@pytest.mark.clause("BOOT-3")
@pytest.mark.requires(Capability.CONCURRENT_BOOTSTRAP)
def test_concurrent_bootstraps_both_succeed(under_test: Subject) -> None:
    """Bootstraps race on one empty database, each through its own adapter (connection).

    The factory must offer ``same_database(adapter)``: two adapters from two factory
    calls would sit on two different empty databases and prove nothing. Threads stand
    in for processes; each has its own connection, which is what the database sees.
    """
    opener: Callable[[Adapter], Adapter] | None = under_test.same_database()
    if opener is None:
        pytest.skip(
            "the factory has no same_database(adapter): a second connection to the same "
            "database is needed to verify concurrent bootstrap"
        )
    for _ in range(3):  # three races, each on a fresh empty database
        first = under_test.factory()
        racers = [first, *(opener(first) for _ in range(2))]
        try:
            errors = _bootstrap_together(racers)
            assert errors == [], f"concurrent bootstrap failed: {errors!r}"
            Store(SCHEMA, first, cursor_key=CURSOR_KEY).insert(
                ACCOUNTS, {"org": 1, "id": 1, "email": "a@x", "name": "a"}
            )
            with pytest.raises(DuplicateKeyError):
                Store(SCHEMA, racers[-1], cursor_key=CURSOR_KEY).insert(
                    ACCOUNTS, {"org": 1, "id": 2, "email": "a@x", "name": "b"}
                )
        finally:
            for racer in reversed(racers):
                if racer is not first:
                    racer.close()
            first.close()
