"""The store's observability: the ``noorm.query`` log, ``around`` and one event per operation.

On SQLite, so that statements exist; the conformance suite (OBS-1..4) checks the same on
every adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

from noorm.adapters.sqlite import SQLiteAdapter
from noorm.kit import QueryCall, QueryEvent, Store, TenantScope
from noorm.spec import (
    DuplicateKeyError,
    Field,
    JsonType,
    Model,
    Operation,
    StringType,
    ValidationError,
    eq,
    in_,
)

NOTES = Model(
    "notes",
    [
        Field("id", StringType(40)),
        Field("body", StringType(), nullable=True),
        Field("meta", JsonType(), nullable=True),
    ],
    primary_key="id",
)
SECRET = "hunter2-Very-Secret"
KEY = b"observability-tests-cursor-key!!"


class Counting(SQLiteAdapter):
    """SQLite, counting the statements rendered for observability."""

    rendered = 0

    def statement(self, op: Operation[Any]) -> str | None:
        self.rendered += 1
        return super().statement(op)


@pytest.fixture
def adapter() -> Iterator[Counting]:
    a = Counting(":memory:")
    yield a
    a.close()


def _store(adapter: SQLiteAdapter, **kwargs: Any) -> Store:
    store = Store([NOTES], adapter, cursor_key=KEY, **kwargs)
    store.bootstrap()
    return store


def _query_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "noorm.query"]


def _leaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every captured record, of any logger and level, that holds SECRET anywhere."""
    return [r.getMessage() for r in caplog.records if SECRET in r.getMessage() + repr(vars(r))]


def _workload(store: Store) -> None:
    """Every operation, each carrying SECRET as a value; the last one fails."""
    store.insert(NOTES, {"id": "a", "body": SECRET, "meta": {"k": SECRET}})
    store.insert_many(NOTES, [{"id": f"n{k}", "body": SECRET + str(k)} for k in range(5)])
    store.get(NOTES, {"id": "a"})
    store.find(NOTES, eq("body", SECRET), limit=1)
    store.find(NOTES, in_("body", [SECRET + str(k) for k in range(5)]), after={"id": "n1"})
    store.count(NOTES, eq("body", SECRET))
    store.update(NOTES, {"body": SECRET + "!"}, where=eq("body", SECRET))
    store.upsert(NOTES, {"id": "a", "body": SECRET + "?"}, update=["body"])
    store.delete(NOTES, where=eq("body", SECRET + "3"))
    with pytest.raises(DuplicateKeyError):
        store.insert(NOTES, {"id": "a", "body": SECRET})


OPERATIONS = ["insert", "insert", "get", "find", "find", "count", "update", "upsert", "delete"]


def test_one_debug_record_per_operation_with_its_fields(
    adapter: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(adapter)
    caplog.set_level(logging.DEBUG, logger="noorm.query")
    _workload(store)
    records = _query_records(caplog)
    assert [vars(r)["noorm_operation"] for r in records] == [*OPERATIONS, "insert"]
    assert [vars(r)["noorm_rows"] for r in records] == [1, 5, 1, 1, 3, 1, 1, 1, 1, 0]
    for record in records:
        fields = vars(record)
        assert record.levelno == logging.DEBUG
        assert logging.getLogger(record.name).parent is logging.getLogger("noorm")
        assert fields["noorm_model"] == "notes"
        assert fields["noorm_duration_ms"] >= 0
        assert fields["noorm_statement"] == fields["noorm_statements"][-1]
        assert "noorm_parameters" not in fields
    find_after = vars(records[4])
    assert len(find_after["noorm_statements"]) == 2, "its position, then the page"
    message = records[3].getMessage()
    assert message.startswith("find notes rows=1 ") and " ms: SELECT " in message
    failed = records[-1]
    assert vars(failed)["noorm_error"] == "DuplicateKeyError"
    assert failed.getMessage().startswith("insert notes failed with DuplicateKeyError after ")
    assert all(vars(r)["noorm_error"] is None for r in records[:-1])


def test_no_value_reaches_any_log_or_event_by_default(
    adapter: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[QueryEvent] = []
    store = _store(adapter, on_query=events.append, plugins=[TenantScope()]).bind(tenant_id=SECRET)
    caplog.set_level(logging.DEBUG)  # every logger, every level
    _workload(store)
    assert len(_query_records(caplog)) == 10
    assert _leaks(caplog) == []
    assert len(events) == 10
    for event in events:
        assert SECRET not in repr((event.statement, event.statements))


def test_log_parameters_opts_in_to_logging_values(
    adapter: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(adapter, log_parameters=True)
    caplog.set_level(logging.DEBUG, logger="noorm.query")
    _workload(store)
    records = _query_records(caplog)
    shown = [SECRET in r.getMessage() for r in records]
    assert shown == [True, True, False, *[True] * 7]  # all but the get by key "a"
    update = vars(records[6])["noorm_parameters"]
    assert update == [{"values": {"body": SECRET + "!"}, "where": [SECRET]}]
    assert vars(records[4])["noorm_parameters"] == [
        {"where": ["n1"]},  # the row's position, then the page after it
        {"where": [*(SECRET + str(k) for k in range(5)), "n1"]},
    ]


def test_nothing_is_rendered_or_logged_when_nobody_listens(
    adapter: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(adapter)
    caplog.set_level(logging.INFO, logger="noorm")
    _workload(store)
    assert _query_records(caplog) == []
    assert adapter.rendered == 0, "statements are rendered only for an event or a record"
    events: list[QueryEvent] = []
    _store(adapter, on_query=events.append).count(NOTES)
    assert adapter.rendered == 1 and len(events) == 1


def test_one_event_for_find_after_with_its_true_row_count(adapter: Counting) -> None:
    events: list[QueryEvent] = []
    store = _store(adapter, on_query=events.append)
    store.insert_many(NOTES, [{"id": f"n{k:02}"} for k in range(30)])
    events.clear()
    page = store.find(NOTES, limit=10, after={"id": "n05"})
    assert page.rows[0]["id"] == "n06" and page.next_cursor is not None
    (event,) = events
    assert (event.operation, event.rows, len(event.statements)) == ("find", 10, 2)
    assert event.statement is not None and event.statement == event.statements[1]
    assert "LIMIT" in event.statement
    events.clear()
    assert store.find(NOTES, after={"id": "gone"}).rows == []
    (event,) = events
    assert (event.rows, len(event.statements)) == (0, 1)
    events.clear()
    rest = store.find(NOTES, limit=10, cursor=page.next_cursor)
    assert [(e.rows, len(e.statements)) for e in events] == [(len(rest.rows), 1)] == [(10, 1)]


def _tracing(log: list[Any]) -> Any:
    @contextmanager
    def around(call: QueryCall) -> Iterator[None]:
        log.append(("enter", call.operation, dict(call.context)))
        try:
            yield
        except Exception as exc:
            log.append(("error", type(exc).__name__))
            raise
        finally:
            log.append("exit")

    return around


def test_around_encloses_the_operation_its_statements_and_its_event(adapter: Counting) -> None:
    log: list[Any] = []

    class Spy(Counting):
        def execute(self, op: Operation[Any]) -> Any:
            log.append(("execute", type(op).__name__))
            return super().execute(op)

    spy = Spy(":memory:")
    store = _store(spy, around=_tracing(log), on_query=lambda e: log.append(("event", e.rows)))
    store.insert(NOTES, {"id": "a"})
    store.insert(NOTES, {"id": "b"})
    log.clear()
    store.bind(request="r1").find(NOTES, limit=1, after={"id": "a"})
    assert log == [
        ("enter", "find", {"request": "r1"}),
        ("execute", "Find"),
        ("execute", "Find"),
        ("event", 1),
        "exit",
    ]
    log.clear()
    with pytest.raises(DuplicateKeyError):
        store.insert(NOTES, {"id": "a"})
    assert log[-3:] == [("event", 0), ("error", "DuplicateKeyError"), "exit"]
    log.clear()
    with store.transaction() as tx:
        tx.insert(NOTES, {"id": "c"})
        tx.bind(user="u").delete(NOTES, key={"id": "c"})
    assert [entry for entry in log if entry[0] == "enter"] == [
        ("enter", "insert", {}),
        ("enter", "delete", {"user": "u"}),
    ]
    log.clear()
    with pytest.raises(ValidationError):
        store.find(NOTES, eq("nope", 1))
    assert log == [], "a refused operation is not enclosed: it never started"
    spy.close()


def test_an_around_that_swallows_the_error_does_not_hide_it(adapter: Counting) -> None:
    @contextmanager
    def swallowing(call: QueryCall) -> Iterator[None]:
        with suppress(Exception):
            yield

    store = _store(adapter, around=swallowing)
    store.insert(NOTES, {"id": "a"})
    with pytest.raises(DuplicateKeyError):
        store.insert(NOTES, {"id": "a"})


def test_an_upsert_refused_by_the_scope_is_one_failed_event(adapter: Counting) -> None:
    events: list[QueryEvent] = []
    store = _store(adapter, on_query=events.append, plugins=[TenantScope()])
    store.bind(tenant_id="t1").insert(NOTES, {"id": "a"})
    events.clear()
    with pytest.raises(DuplicateKeyError) as caught:
        store.bind(tenant_id="t2").upsert(NOTES, {"id": "a"}, update=["body"])
    (event,) = events
    assert (event.operation, event.rows, event.error) == ("upsert", 0, caught.value)


def test_log_parameters_takes_only_a_bool(adapter: Counting) -> None:
    with pytest.raises(TypeError, match="log_parameters must be a bool"):
        Store([NOTES], adapter, log_parameters="yes")  # type: ignore[arg-type]
