"""Spec clauses OBS-1..4: each operation is observed once, with its true row count, can be
enclosed by ``around``, and logs one DEBUG record without the values it carries."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from noorm.kit import QueryCall, QueryEvent, Store
from noorm.spec import ALL, Adapter, Capability, DuplicateKeyError, eq, gt, in_

from .conftest import StoreMaker
from .models import ITEMS, PAIRS, item


def _shape(event: QueryEvent) -> tuple[str, str, int]:
    """An event's operation, model and rows, after checking its other fields."""
    assert event.duration >= 0
    assert all(isinstance(s, str) and s for s in event.statements)
    if event.statements:
        assert event.statement == event.statements[-1]
    else:
        assert event.statement is None
    return event.operation, event.model, event.rows


class Watch:
    """The events of one store, each call's asserted to be exactly one."""

    def __init__(self) -> None:
        self.events: list[QueryEvent] = []

    def __call__(self, event: QueryEvent) -> None:
        self.events.append(event)

    def one(self, call: Any, *args: Any, **kwargs: Any) -> tuple[tuple[str, str, int], Any]:
        """``call(*args, **kwargs)``'s event (exactly one) and its result."""
        before = len(self.events)
        result = call(*args, **kwargs)
        new = self.events[before:]
        assert len(new) == 1, f"{len(new)} events for one operation: {new}"
        return _shape(new[0]), result


@pytest.mark.clause("OBS-1")
def test_every_operation_emits_one_event_with_its_details(make_store: StoreMaker) -> None:
    watch = Watch()
    store = make_store(on_query=watch)
    assert watch.events == [], "bootstrap is not an operation"
    one = watch.one

    assert one(lambda: store.insert(ITEMS, item("a", i=1)))[0] == ("insert", "items", 1)
    rows = [item(f"r{k}", i=k) for k in range(4)]
    assert one(lambda: store.insert_many(ITEMS, rows))[0] == ("insert", "items", 4)
    assert one(lambda: store.get(ITEMS, {"id": "a"}))[0] == ("get", "items", 1)
    assert one(lambda: store.get(ITEMS, {"id": "missing"}))[0] == ("get", "items", 0)
    event, page = one(lambda: store.find(ITEMS, eq("i", 1)))
    assert event == ("find", "items", 2) and len(page.rows) == 2
    assert one(lambda: store.count(ITEMS))[0] == ("count", "items", 5)
    assert one(lambda: store.update(ITEMS, {"s": "x"}, where=eq("i", 1)))[0] == (
        "update",
        "items",
        2,
    )
    assert one(lambda: store.upsert(ITEMS, item("a", s="y"), update=["s"]))[0] == (
        "upsert",
        "items",
        1,
    )
    assert one(lambda: store.delete(ITEMS, where=eq("i", 3)))[0] == ("delete", "items", 1)
    assert one(lambda: store.find(PAIRS))[0] == ("find", "pairs", 0)
    event, page = one(lambda: store.find(ITEMS, order_by="i", after={"id": "a"}))
    assert event == ("find", "items", len(page.rows)) and len(page.rows) == 2
    after = watch.events[-1]
    assert len(after.statements) in (0, 2), "after=: the row's place, then the page"
    assert one(lambda: store.find(ITEMS, after={"id": "missing"}))[0] == ("find", "items", 0)
    assert one(lambda: store.delete(ITEMS, where=ALL))[0] == ("delete", "items", 4)
    assert len(watch.events) == 13
    assert all(e.error is None for e in watch.events)


@pytest.mark.clause("OBS-1")
def test_a_failing_operation_is_reported_once_with_its_error(make_store: StoreMaker) -> None:
    watch = Watch()
    store = make_store(on_query=watch)
    store.insert(ITEMS, item("a"))
    with pytest.raises(DuplicateKeyError) as caught:
        watch.one(lambda: store.insert(ITEMS, item("a")))
    event = watch.events[-1]
    assert (event.operation, event.model, event.rows) == ("insert", "items", 0)
    assert event.duration >= 0
    assert event.error is caught.value
    assert len(watch.events) == 2


@pytest.mark.clause("OBS-1")
def test_an_operation_refused_before_io_reports_nothing(make_store: StoreMaker) -> None:
    watch = Watch()
    calls: list[QueryCall] = []
    store = make_store(on_query=watch, around=_recording_around(calls))
    for refused in (
        lambda: store.insert(ITEMS, {"id": "a", "i": "not an int"}),
        lambda: store.find(ITEMS, eq("nope", 1)),
        lambda: store.find(ITEMS, after={"nope": 1}),
        lambda: store.update(ITEMS, {"s": "x"}),
    ):
        with pytest.raises(Exception):  # noqa: B017 - each raises its own ValidationError
            refused()
    assert store.insert_many(ITEMS, []) == []
    assert (watch.events, calls) == ([], [])


@pytest.mark.clause("OBS-2")
def test_rows_is_the_true_number_of_rows(make_store: StoreMaker) -> None:
    """Each event's rows is what the operation returned, whatever the adapter returned."""
    watch = Watch()
    store = make_store(on_query=watch)
    one = watch.one
    event, _ = one(lambda: store.insert_many(ITEMS, [item(f"r{k:02}", i=k) for k in range(25)]))
    assert event == ("insert", "items", 25)
    # A page of 10 with rows after it: the row read ahead to know that is not counted.
    event, page = one(lambda: store.find(ITEMS, order_by="i", limit=10))
    assert page.next_cursor is not None and event == ("find", "items", 10) and len(page) == 10
    pages = 0
    while page.next_cursor is not None and pages < 5:
        cursor = page.next_cursor
        event, page = one(store.find, ITEMS, order_by="i", limit=10, cursor=cursor)
        assert event == ("find", "items", len(page.rows))
        pages += 1
    for limit in (3, None):
        event, page = one(store.find, ITEMS, order_by="i", limit=limit, after={"id": "r05"})
        assert event == ("find", "items", len(page.rows))
    event, page = one(lambda: store.find(ITEMS, gt("i", 100), limit=5))
    assert event == ("find", "items", len(page.rows))
    for call in (
        lambda: store.count(ITEMS, gt("i", 19)),
        lambda: store.update(ITEMS, {"s": "x"}, where=gt("i", 14)),
        lambda: store.update(ITEMS, {"s": "y"}, key={"id": "nope"}),
        lambda: store.delete(ITEMS, where=in_("id", ["r01", "r02", "r03", "nope"])),
        lambda: store.delete(ITEMS, key={"id": "r04"}),
    ):
        (_, _, rows), returned = one(call)
        assert rows == returned
    event, _ = one(lambda: store.upsert(ITEMS, item("r06", s="z"), update=["s"]))
    assert event == ("upsert", "items", 1)
    event, row = one(lambda: store.get(ITEMS, {"id": "r06"}))
    assert event == ("get", "items", 0 if row is None else 1)
    (_, _, rows), returned = one(lambda: store.delete(ITEMS, where=ALL))
    assert rows == returned


def _recording_around(log: list[Any]) -> Any:
    @contextmanager
    def around(call: QueryCall) -> Iterator[None]:
        log.append(call)
        try:
            yield
        except BaseException as exc:
            log.append(("raised", exc))
            raise
        log.append("exit")

    return around


@pytest.mark.clause("OBS-3")
def test_around_encloses_each_operation_and_its_event(
    make_store: StoreMaker, adapter: Adapter
) -> None:
    log: list[Any] = []
    store = make_store(on_query=log.append, around=_recording_around(log))
    store.insert(ITEMS, item("a", i=1))
    store.insert_many(ITEMS, [item("b", i=2), item("c", i=3)])
    store.find(ITEMS, order_by="i", after={"id": "a"}, limit=1)
    store.bind(tenant="t1").count(ITEMS)
    operations = ["insert", "insert", "find", "count"]
    assert len(log) == 3 * len(operations), log
    for n, operation in enumerate(operations):
        call, event, end = log[3 * n : 3 * n + 3]
        assert isinstance(call, QueryCall) and isinstance(event, QueryEvent)
        assert (
            (call.operation, call.model) == (event.operation, event.model) == (operation, "items")
        )
        assert end == "exit", "the event is reported inside around, before it exits"
    assert [c.context for c in log[::3]] == [{}, {}, {}, {"tenant": "t1"}]

    log.clear()
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert(ITEMS, item("a"))
    call, event, raised = log
    assert call.operation == "insert" and event.error is caught.value
    assert raised == ("raised", caught.value), "around sees the operation's exception"

    if Capability.TRANSACTIONS in adapter.capabilities:
        log.clear()
        with store.transaction() as tx:
            tx.insert(ITEMS, item("d"))
            tx.bind(tenant="t2").get(ITEMS, {"id": "d"})
        assert [(e.operation, e.rows) for e in log if isinstance(e, QueryEvent)] == [
            ("insert", 1),
            ("get", 1),
        ]
        assert [c.context for c in log if isinstance(c, QueryCall)] == [{}, {"tenant": "t2"}]
        assert log.count("exit") == 2


@contextmanager
def _records(level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """The records of the ``noorm`` loggers while the block runs, ``noorm.query`` at ``level``."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep(logging.DEBUG)
    root, query = logging.getLogger("noorm"), logging.getLogger("noorm.query")
    levels = root.level, query.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    query.setLevel(level)
    try:
        yield seen
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        query.setLevel(levels[1])


SECRET = "s3cr3t-Value-42"


def _everything(record: logging.LogRecord) -> str:
    return record.getMessage() + repr(vars(record))


@pytest.mark.clause("OBS-4")
def test_each_operation_logs_one_debug_record_on_noorm_query(make_store: StoreMaker) -> None:
    store = make_store()
    with _records() as records:
        results: list[Any] = [
            store.insert_many(ITEMS, [item(f"r{k}", i=k) for k in range(5)]),
            store.find(ITEMS, order_by="i", limit=2),
            store.find(ITEMS, order_by="i", after={"id": "r1"}),
            store.count(ITEMS),
            store.delete(ITEMS, where=gt("i", 2)),
        ]
        with pytest.raises(DuplicateKeyError):
            store.insert(ITEMS, item("r0"))
    fields = [vars(r) for r in records if r.name == "noorm.query"]
    expected = [
        ("insert", 5),
        ("find", 2),
        ("find", len(results[2])),
        ("count", results[3]),
        ("delete", results[4]),
        ("insert", 0),
    ]
    assert [(f["noorm_operation"], f["noorm_rows"]) for f in fields] == expected
    for f in fields:
        assert f["levelno"] == logging.DEBUG
        assert f["noorm_model"] == "items"
        assert isinstance(f["noorm_duration_ms"], float) and f["noorm_duration_ms"] >= 0
        statements = f["noorm_statements"]
        assert f["noorm_statement"] == (statements[-1] if statements else None)
        message = f["msg"] % f["args"]
        assert message.startswith(f"{f['noorm_operation']} items ")
        assert "noorm_parameters" not in f
    assert [f["noorm_error"] for f in fields] == [None] * 5 + ["DuplicateKeyError"]
    assert "rows=2" in fields[1]["msg"] % fields[1]["args"]

    with _records(logging.INFO) as quiet:
        store.count(ITEMS)
    assert quiet == [], "nothing is logged unless noorm.query is enabled for DEBUG"


@pytest.mark.clause("OBS-4")
def test_no_value_an_operation_carries_is_logged_or_in_a_statement(
    make_store: StoreMaker,
) -> None:
    watch = Watch()
    store = make_store(on_query=watch)
    with _records() as records:
        store.insert(ITEMS, item("k1", s=SECRET, j={"key": SECRET}))
        store.insert_many(ITEMS, [item("k2", s=SECRET), item("k3", s=SECRET + "x")])
        store.find(ITEMS, eq("s", SECRET), limit=1)
        store.find(ITEMS, in_("s", [SECRET, "other"]), after={"id": "k1"})
        store.count(ITEMS, gt("s", SECRET))
        store.update(ITEMS, {"short": "ab", "s": SECRET + "y"}, where=eq("s", SECRET))
        store.upsert(ITEMS, item("k1", s=SECRET + "z"), update=["s"])
        store.get(ITEMS, {"id": "k1"})
        store.delete(ITEMS, where=eq("s", SECRET + "x"))
        with pytest.raises(DuplicateKeyError):
            store.insert(ITEMS, item("k2", s=SECRET))
    assert len([r for r in records if r.name == "noorm.query"]) == 10
    for record in records:
        assert SECRET not in _everything(record), "a value reached the log"
    for event in watch.events:
        assert SECRET not in repr((event.statement, event.statements)), "a value in a statement"


@pytest.mark.clause("OBS-4")
def test_values_are_logged_only_when_the_store_opts_in(make_store: StoreMaker) -> None:
    store: Store = make_store(log_parameters=True)
    with _records() as records:
        store.insert(ITEMS, item("k1", s=SECRET))
        store.find(ITEMS, eq("s", SECRET))
    logged = [r for r in records if r.name == "noorm.query"]
    assert len(logged) == 2
    assert all(
        SECRET in r.getMessage() and SECRET in repr(vars(r)["noorm_parameters"]) for r in logged
    )
