"""Spec section 6, isolation and conflicts: conditional updates, locking reads, ConflictError.

The contention tests run real threads on one adapter, as a host's worker threads would:
an adapter with a pool gives each thread its own connection, one with a single
connection (SQLite, memory) runs one transaction at a time, and either must lose
nothing. The deadlock tests provoke a real deadlock where the adapter lets two
transactions hold row locks at once, and check the outcome where it does not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import pytest

from noorm.kit import Store, retry_transaction
from noorm.spec import (
    Adapter,
    BackendError,
    Capability,
    ConflictError,
    Find,
    NoOrmError,
    Order,
    UnsupportedError,
    ValidationError,
    eq,
    gte,
)

from .checks import all_rows, ids
from .models import ITEMS, PAIRS, item

THREADS = 8
INCREMENTS = 25
JOIN_SECONDS = 120.0
"""How long a contention test may take before it counts as hung."""
MEET_SECONDS = 2.0
"""How long a deadlock test's first transaction waits for the second to hold its row."""
COUNTER = {"id": "counter"}


def _threads(work: Callable[[int], None], count: int) -> None:
    """Run ``work(0..count-1)`` on threads; re-raise the first failure, fail on a hang."""
    errors: list[BaseException] = []

    def run(me: int) -> None:
        try:
            work(me)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in threads), f"threads still running after {JOIN_SECONDS}s"
    if errors:
        raise errors[0]


def _counter(store: Store) -> int:
    row = store.get(ITEMS, COUNTER)
    assert row is not None
    return int(row["i"])


@pytest.mark.clause("OP-UPD", "OP-DEL")
def test_a_conditional_update_applies_only_when_the_row_matches(store: Store) -> None:
    store.insert_many(ITEMS, [item("a", i=1, s="x"), item("b", i=1)])
    before = all_rows(store, ITEMS)
    assert store.update(ITEMS, {"s": "y"}, key={"id": "a"}, where=eq("i", 2)) == 0
    assert store.update(ITEMS, {"s": "y"}, key={"id": "zz"}, where=eq("i", 1)) == 0
    assert store.delete(ITEMS, key={"id": "a"}, where=eq("s", "other")) == 0
    assert all_rows(store, ITEMS) == before, "a failed condition wrote something"
    assert store.update(ITEMS, {"s": "y", "i": 2}, key={"id": "a"}, where={"i": 1, "s": "x"}) == 1
    rows = {r["id"]: (r["i"], r["s"]) for r in all_rows(store, ITEMS)}
    assert rows == {"a": (2, "y"), "b": (1, None)}, "only the keyed row may change"
    assert store.update(ITEMS, {"s": "z"}, key={"id": "a"}, where=eq("i", 1)) == 0
    assert store.delete(ITEMS, key={"id": "b"}, where=gte("i", 1)) == 1
    assert ids(all_rows(store, ITEMS)) == ["a"]
    store.insert_many(PAIRS, [{"a": 1, "b": "k", "v": "old"}, {"a": 1, "b": "l", "v": "old"}])
    assert store.update(PAIRS, {"v": "new"}, key={"a": 1, "b": "k"}, where=eq("v", "x")) == 0
    assert store.update(PAIRS, {"v": "new"}, key={"a": 1, "b": "k"}, where=eq("v", "old")) == 1
    assert {r["b"]: r["v"] for r in all_rows(store, PAIRS)} == {"k": "new", "l": "old"}


@pytest.mark.clause("ISO-1")
@pytest.mark.requires(Capability.ATOMIC_UPDATES)
def test_optimistic_increments_by_conditional_update_lose_nothing(store: Store) -> None:
    """8 threads x 25 compare-and-set increments, no transaction: exactly 200 apply."""
    store.insert(ITEMS, item("counter", i=0))
    applied = [0] * THREADS

    def work(me: int) -> None:
        for _ in range(INCREMENTS * 200):  # bounded: a livelock fails instead of hanging
            if applied[me] == INCREMENTS:
                return
            seen = _counter(store)
            done = store.update(ITEMS, {"i": seen + 1}, key=COUNTER, where=eq("i", seen))
            assert done in (0, 1), f"a conditional update by key matched {done} rows"
            applied[me] += done
        raise AssertionError(f"thread {me} applied {applied[me]} increments only")

    _threads(work, THREADS)
    assert sum(applied) == THREADS * INCREMENTS
    assert _counter(store) == THREADS * INCREMENTS, "a conditional update lost an increment"


@pytest.mark.clause("ISO-2")
@pytest.mark.requires(Capability.LOCKING_READS, Capability.TRANSACTIONS)
def test_read_modify_write_through_locking_reads_loses_nothing(store: Store) -> None:
    """8 threads x 25 increments, each a transaction reading with for_update=True."""
    store.insert(ITEMS, item("counter", i=0))
    runs = [0] * THREADS

    def work(me: int) -> None:
        def increment(tx: Store) -> None:
            runs[me] += 1
            if me % 2:
                row = tx.get(ITEMS, COUNTER, for_update=True)
            else:
                page = tx.find(ITEMS, COUNTER, for_update=True)
                row = page.rows[0] if page.rows else None
            assert row is not None
            assert tx.update(ITEMS, {"i": row["i"] + 1}, key=COUNTER) == 1

        for _ in range(INCREMENTS):
            retry_transaction(store, increment, attempts=20)

    _threads(work, THREADS)
    assert _counter(store) == THREADS * INCREMENTS, (
        f"lost {THREADS * INCREMENTS - _counter(store)} increments "
        f"({sum(runs) - THREADS * INCREMENTS} conflicts retried)"
    )


@pytest.mark.clause("ISO-2")
@pytest.mark.requires(Capability.LOCKING_READS, Capability.TRANSACTIONS)
def test_a_locking_find_reads_like_a_plain_one(store: Store) -> None:
    store.insert_many(
        ITEMS, [item(f"r{n}", i=n % 3, s="é" * n + "x", b=n % 2 == 0) for n in range(7)]
    )
    for order_by in ("i", "s", ["b", "i"]):
        with store.transaction() as tx:
            plain = tx.find(ITEMS, gte("i", 1), order_by=order_by, limit=3)
            locked = tx.find(ITEMS, gte("i", 1), order_by=order_by, limit=3, for_update=True)
            assert locked.rows == plain.rows
            assert locked.next_cursor == plain.next_cursor
            cursor = plain.next_cursor
            if cursor is not None:
                rest = tx.find(ITEMS, gte("i", 1), order_by=order_by, cursor=cursor)
                again = tx.find(
                    ITEMS, gte("i", 1), order_by=order_by, cursor=cursor, for_update=True
                )
                assert again.rows == rest.rows
            assert tx.get(ITEMS, {"id": "r1"}, for_update=True) == tx.get(ITEMS, {"id": "r1"})
            assert tx.get(ITEMS, {"id": "none"}, for_update=True) is None


@pytest.mark.clause("ISO-3", "ERR-1")
def test_a_locking_read_outside_a_transaction_is_refused(store: Store, adapter: Adapter) -> None:
    store.insert(ITEMS, item("a"))
    seen: list[str] = []
    watched = Store(store.schema, adapter, on_query=lambda event: seen.append(event.operation))
    for call in (
        lambda: watched.get(ITEMS, {"id": "a"}, for_update=True),
        lambda: watched.find(ITEMS, for_update=True),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.model == "items"
    assert seen == [], "a refused locking read reached the adapter"
    op = Find(ITEMS, None, (Order("id"),), None, for_update=True)
    if Capability.LOCKING_READS in adapter.capabilities:
        with pytest.raises(ValidationError):
            adapter.execute(op)
        return
    with pytest.raises(UnsupportedError) as refused:
        adapter.execute(op)
    assert refused.value.capability == "locking_reads"
    if Capability.TRANSACTIONS in adapter.capabilities:
        with store.transaction() as tx:
            with pytest.raises(UnsupportedError) as refused:
                tx.get(ITEMS, {"id": "a"}, for_update=True)
            assert refused.value.capability == "locking_reads"


class _Crossing:
    """Two transactions lock rows ``a`` and ``b`` in opposite orders.

    Each locks its first row, then waits (at most :data:`MEET_SECONDS`) until the other
    holds its own first row, then locks its second row. Where both hold a row at once
    (``crossed``), that is a deadlock the backend must break with a ConflictError; where
    the adapter runs one transaction at a time the wait times out and both go through.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.holding = 0
        self.passed = 0
        self.crossed = False
        self.first_run = [True, True]

    def run(self, tx: Store, me: int) -> None:
        first, second = ({"id": "a"}, {"id": "b"}) if me == 0 else ({"id": "b"}, {"id": "a"})
        row = tx.get(ITEMS, first, for_update=True)
        assert row is not None
        tx.update(ITEMS, {"i": row["i"] + 1}, key=first)
        if self.first_run[me]:
            self.first_run[me] = False
            with self.cond:
                self.holding += 1
                self.cond.notify_all()
                # No wait once the other went past: it ran first, on its own.
                self.cond.wait_for(lambda: self.holding == 2 or self.passed, MEET_SECONDS)
                if self.holding == 2:
                    self.crossed = True
                self.holding -= 1
                self.passed += 1
        row = tx.get(ITEMS, second, for_update=True)
        assert row is not None
        tx.update(ITEMS, {"i": row["i"] + 1}, key=second)


def _rows_ab(store: Store) -> dict[str, int]:
    return {r["id"]: r["i"] for r in all_rows(store, ITEMS) if r["id"] in ("a", "b")}


@pytest.mark.clause("ISO-4")
@pytest.mark.requires(Capability.TRANSACTIONS, Capability.LOCKING_READS)
@pytest.mark.parametrize("caught", ["outside the savepoint", "inside the savepoint"])
def test_a_deadlock_raises_conflict_error_and_rolls_the_whole_transaction_back(
    store: Store, adapter: Adapter, caught: str
) -> None:
    """The loser's earlier write, made outside the savepoint where the conflict arose
    (where savepoints exist), is rolled back too; nothing more runs in it, not even a
    savepoint, however the conflict is caught; and its locks are freed at the conflict,
    so the winner goes on while the loser's block is still open."""
    store.insert_many(ITEMS, [item("a", i=0), item("b", i=0)])
    crossing = _Crossing()
    conflicts: dict[int, ConflictError] = {}
    after: dict[int, BaseException | None] = {}
    nested_after: dict[int, BaseException | None] = {}
    ended: dict[int, BaseException | None] = {}
    done = [threading.Event(), threading.Event()]
    freed: dict[int, bool] = {}
    nested = Capability.SAVEPOINTS in adapter.capabilities

    def conflicted(current: Store, me: int, exc: ConflictError) -> None:
        conflicts[me] = exc
        # The winner must not wait for this block to end. A lock wait ends only with a
        # server-side timeout, so this is no race: the winner is done in milliseconds.
        freed[me] = done[1 - me].wait(MEET_SECONDS * 2)
        try:
            current.insert(ITEMS, item(f"late{me}"))
            after[me] = None
        except NoOrmError as refused:
            after[me] = refused
        if nested:
            try:
                with current.transaction() as inner:
                    inner.insert(ITEMS, item(f"later{me}"))
                nested_after[me] = None
            except NoOrmError as refused:
                nested_after[me] = refused

    def work(me: int) -> None:
        try:
            with store.transaction() as tx:
                tx.insert(ITEMS, item(f"mark{me}"))
                try:
                    if nested and caught == "inside the savepoint":
                        with suppress(NoOrmError), tx.transaction() as savepoint:
                            try:  # caught here, the savepoint's end must still fail
                                crossing.run(savepoint, me)
                            except ConflictError as exc:
                                conflicted(savepoint, me, exc)
                    elif nested:
                        with tx.transaction() as savepoint:
                            crossing.run(savepoint, me)
                    else:
                        crossing.run(tx, me)
                except ConflictError as exc:
                    conflicted(tx, me, exc)
        except NoOrmError as exc:
            ended[me] = exc
        else:
            ended[me] = None
        finally:
            done[me].set()

    _threads(work, 2)
    marks = sorted(r["id"] for r in all_rows(store, ITEMS) if r["id"].startswith(("mark", "late")))
    if not crossing.crossed:  # one transaction at a time: no deadlock can arise
        assert conflicts == {} and ended == {0: None, 1: None}
        assert _rows_ab(store) == {"a": 2, "b": 2} and marks == ["mark0", "mark1"]
        return
    assert len(conflicts) == 1, f"a deadlock must fail exactly one transaction: {conflicts}"
    ((loser, error),) = conflicts.items()
    winner = 1 - loser
    assert isinstance(error, BackendError) and error.__cause__ is not None
    assert isinstance(after[loser], NoOrmError), "an operation ran on after the conflict"
    if nested:
        assert isinstance(nested_after[loser], NoOrmError), "a savepoint opened after it"
    assert isinstance(ended[loser], NoOrmError), "the block of the conflict committed"
    assert ended[winner] is None
    assert freed[loser], "the winner waited for the loser's block: its locks were kept"
    assert marks == [f"mark{winner}"], "the loser's write before the conflict was kept"
    assert _rows_ab(store) == {"a": 1, "b": 1}


@pytest.mark.clause("ISO-5", "ISO-4")
@pytest.mark.requires(Capability.TRANSACTIONS, Capability.LOCKING_READS)
def test_retry_transaction_recovers_from_a_deadlock(store: Store) -> None:
    store.insert_many(ITEMS, [item("a", i=0), item("b", i=0)])
    crossing = _Crossing()
    runs = [0, 0]

    def work(me: int) -> None:
        def body(tx: Store) -> int:
            runs[me] += 1
            crossing.run(tx, me)
            return me

        assert retry_transaction(store, body, attempts=5, backoff=0.05) == me

    _threads(work, 2)
    assert _rows_ab(store) == {"a": 2, "b": 2}
    if crossing.crossed:
        assert sum(runs) >= 3, f"a deadlock was provoked but nothing was retried: {runs}"
    else:
        assert runs == [1, 1]


class _Lost(ConflictError):
    """A conflict raised by the test's own function, to count the helper's reruns."""


@pytest.mark.clause("ISO-5")
@pytest.mark.requires(Capability.TRANSACTIONS)
def test_retry_transaction_is_bounded_and_reruns_only_conflicts(store: Store) -> None:
    calls: list[int] = []

    def always_conflicts(tx: Store) -> None:
        calls.append(1)
        tx.insert(ITEMS, item(f"try{len(calls)}"))
        raise _Lost("lost again")

    with pytest.raises(_Lost):
        retry_transaction(store, always_conflicts, attempts=3, backoff=0.001)
    assert len(calls) == 3 and store.count(ITEMS) == 0, "each run must be rolled back"

    def fails(tx: Store) -> None:
        calls.append(1)
        tx.insert(ITEMS, item("other"))
        raise KeyError("not a conflict")

    calls.clear()
    with pytest.raises(KeyError):
        retry_transaction(store, fails, attempts=3)
    assert len(calls) == 1 and store.count(ITEMS) == 0

    def second_time_lucky(tx: Store) -> str:
        calls.append(1)
        tx.insert(ITEMS, item(f"run{len(calls)}"))
        if len(calls) == 1:
            raise _Lost("first run lost")
        return "done"

    calls.clear()
    assert retry_transaction(store, second_time_lucky, backoff=0.001) == "done"
    assert ids(all_rows(store, ITEMS)) == ["run2"]
    with store.transaction() as tx, pytest.raises(ValidationError):
        retry_transaction(tx, second_time_lucky)
    bad: list[dict[str, Any]] = [{"attempts": 0}, {"backoff": -1.0}, {"backoff": 2.0}]
    for options in bad:
        with pytest.raises(ValidationError):
            retry_transaction(store, second_time_lucky, **options)
