"""The store's own behaviour: validation before I/O, hooks, observability."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from noorm.adapters.memory import MemoryAdapter
from noorm.kit import AuditTimestamps, Plugin, QueryEvent, Store, TenantScope, Write
from noorm.spec import (
    ALL,
    Capability,
    DuplicateKeyError,
    Field,
    Index,
    Model,
    NumberType,
    Operation,
    StringType,
    TimestampType,
    ValidationError,
    eq,
)

NOTES = Model(
    "notes",
    [
        Field("id", StringType(10)),
        Field("body", StringType(20)),
        Field("score", NumberType(), nullable=True),
    ],
    primary_key="id",
    indexes=[Index("notes_score", ["score"])],
)


class Recording(MemoryAdapter):
    """The reference adapter, counting what reaches it (to prove nothing did)."""

    def __init__(self, capabilities: frozenset[Capability] | None = None) -> None:
        super().__init__()
        self.ops: list[Operation[Any]] = []
        if capabilities is not None:
            self.capabilities = capabilities

    def execute(self, op: Operation[Any]) -> Any:
        self.ops.append(op)
        return super().execute(op)


@pytest.fixture
def adapter() -> Iterator[Recording]:
    a = Recording()
    yield a
    a.close()


def _store(adapter: Recording, **kwargs: Any) -> Store:
    store = Store([NOTES], adapter, **kwargs)
    store.bootstrap()
    return store


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.insert(NOTES, {"id": "a", "body": "x" * 21}), "body"),
        (lambda s: s.insert(NOTES, {"id": "a"}), "body"),
        (lambda s: s.insert(NOTES, {"id": "a", "body": "b", "extra": 1}), "extra"),
        (lambda s: s.insert(NOTES, {"id": "a", "body": "b", "score": float("nan")}), "score"),
        (
            lambda s: s.insert_many(NOTES, [{"id": "a", "body": "b"}, {"id": "b", "body": 3}]),
            "body",
        ),
        (lambda s: s.get(NOTES, {"id": "a", "body": "b"}), "body"),
        (lambda s: s.find(NOTES, eq("score", "1")), "score"),
        (lambda s: s.find(NOTES, order_by="nope"), "nope"),
        (lambda s: s.update(NOTES, {"id": "b"}, key={"id": "a"}), "id"),
        (lambda s: s.update(NOTES, {"body": "b\x00"}, where=ALL), "body"),
        (lambda s: s.upsert(NOTES, {"id": "a", "body": "b"}, update=["missing"]), "missing"),
        (lambda s: s.delete(NOTES, where=eq("nope", 1)), "nope"),
    ],
)
def test_bad_input_never_reaches_the_adapter(adapter: Recording, call: Any, field: str) -> None:
    store = _store(adapter)
    with pytest.raises(ValidationError) as info:
        call(store)
    assert info.value.model == "notes"
    assert info.value.field == field
    assert adapter.ops == []


def test_update_and_delete_need_an_explicit_selection(adapter: Recording) -> None:
    store = _store(adapter)
    store.insert_many(NOTES, [{"id": "a", "body": "x"}, {"id": "b", "body": "y"}])
    with pytest.raises(ValidationError, match="needs key=, where= or both"):
        store.delete(NOTES)
    with pytest.raises(ValidationError, match="needs key=, where= or both"):
        store.update(NOTES, {"body": "z"})
    with pytest.raises(ValidationError, match="empty where"):
        store.update(NOTES, {"body": "z"}, key={"id": "a"}, where={})
    assert store.update(NOTES, {"body": "z"}, key={"id": "a"}, where=ALL) == 1
    assert store.update(NOTES, {"body": "w"}, key={"id": "a"}, where={"body": "x"}) == 0
    assert store.update(NOTES, {"body": "z"}, where=ALL) == 2
    assert store.delete(NOTES, where=ALL) == 2


def test_find_arguments_are_checked(adapter: Recording) -> None:
    store = _store(adapter)
    for limit in (0, -1, True, 1.5):
        with pytest.raises(ValidationError, match="limit"):
            store.find(NOTES, limit=limit)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="either cursor or after"):
        store.find(NOTES, cursor="x.y", after={"id": "a"})
    assert adapter.ops == []


def test_unknown_model_is_named(adapter: Recording) -> None:
    store = _store(adapter)
    other = Model("other", [Field("id", StringType(3))], primary_key="id")
    with pytest.raises(ValidationError) as info:
        store.get(other, {"id": "a"})
    assert info.value.model == "other"


def test_on_query_reports_each_operation(adapter: Recording) -> None:
    events: list[QueryEvent] = []
    store = _store(adapter, on_query=events.append)
    store.insert_many(NOTES, [{"id": "a", "body": "x"}, {"id": "b", "body": "y"}])
    store.find(NOTES, limit=1)
    store.count(NOTES)
    with pytest.raises(DuplicateKeyError):
        store.insert(NOTES, {"id": "a", "body": "x"})
    assert [(e.operation, e.model, e.rows) for e in events] == [
        ("insert", "notes", 2),
        ("find", "notes", 1),  # the page's rows, not the one read ahead (OBS-2)
        ("count", "notes", 2),
        ("insert", "notes", 0),
    ]
    assert all(e.duration >= 0 for e in events)
    assert isinstance(events[-1].error, DuplicateKeyError)


def test_tenant_scope_requires_a_bound_tenant_and_extends_the_schema(adapter: Recording) -> None:
    store = _store(adapter, plugins=[TenantScope()])
    model = store.model("notes")
    assert model.field_names[0] == "tenant_id"
    assert model.indexes[0].columns[0].field == "tenant_id"
    with pytest.raises(ValidationError, match="bind a tenant"):
        store.find(NOTES)
    acme, other = store.bind(tenant_id="acme"), store.bind(tenant_id="other")
    row = acme.insert(NOTES, {"id": "a", "body": "x"})
    assert row["tenant_id"] == "acme"
    with pytest.raises(ValidationError, match="contradicts"):
        acme.insert(NOTES, {"id": "b", "body": "x", "tenant_id": "other"})
    assert other.get(NOTES, {"id": "a"}) is None
    assert other.count(NOTES) == 0
    assert acme.bind(request="r1").context == {"tenant_id": "acme", "request": "r1"}


def test_audit_timestamps_come_from_the_clock(adapter: Recording) -> None:
    now = [datetime(2024, 1, 1, tzinfo=UTC)]
    store = _store(adapter, plugins=[AuditTimestamps(clock=lambda: now[0])])
    created = store.insert(NOTES, {"id": "a", "body": "x"})
    assert created["created_at"] == created["updated_at"] == now[0]
    now[0] += timedelta(seconds=5)
    store.update(NOTES, {"body": "y"}, key={"id": "a"})
    after_update = store.get(NOTES, {"id": "a"})
    assert after_update is not None
    assert (after_update["created_at"], after_update["updated_at"]) == (
        created["created_at"],
        now[0],
    )
    now[0] += timedelta(seconds=5)
    result = store.upsert(NOTES, {"id": "a", "body": "z"}, update=["body"])
    assert not result.inserted
    assert (result.row["created_at"], result.row["updated_at"]) == (created["created_at"], now[0])
    with pytest.raises(ValidationError, match="managed by audit timestamps"):
        store.update(NOTES, {"created_at": now[0]}, key={"id": "a"})


def test_plugins_extend_in_order_and_hooks_see_context(adapter: Recording) -> None:
    seen: list[tuple[str, Any]] = []

    class Stamp(Plugin):
        def extend_schema(self, schema: Any) -> Any:
            return schema.replace(
                schema.model("notes").with_field(Field("stamped", TimestampType(), nullable=True))
            )

        def on_write(self, write: Write) -> None:
            seen.append((write.kind, write.context.get("user")))
            write.values.setdefault("stamped", datetime(2020, 1, 1, tzinfo=UTC))

    store = _store(adapter, plugins=[Stamp()]).bind(user="u1")
    row = store.insert(NOTES, {"id": "a", "body": "x"})
    assert row["stamped"] == datetime(2020, 1, 1, tzinfo=UTC)
    store.update(NOTES, {"body": "y"}, key={"id": "a"})
    assert seen == [("insert", "u1"), ("update", "u1")]


def test_the_outer_store_inside_its_transaction_block_is_refused_before_io() -> None:
    """The mistake names what the user holds: run it on `tx`; another thread is free."""
    import threading

    from noorm.adapters.memory import MemoryAdapter
    from noorm.spec import Field, Model, Schema, StringType, ValidationError

    things = Model("things", [Field("id", StringType(8))], primary_key=["id"])
    store = Store(Schema([things]), MemoryAdapter(), cursor_key=b"k" * 32)
    store.bootstrap()
    counted: list[int] = []
    with store.transaction() as tx:
        tx.insert(things, {"id": "a"})
        for call in (
            lambda: store.insert(things, {"id": "b"}),
            lambda: store.bind(user="u").count(things),
            lambda: store.rows(things).get({"id": "a"}),
        ):
            with pytest.raises(ValidationError) as caught:
                call()
            assert caught.value.model == "things"
            assert "run the operation on `tx`" in str(caught.value)
        with tx.transaction() as inner:  # a savepoint: still inside the outer block
            inner.insert(things, {"id": "c"})
            with pytest.raises(ValidationError):
                store.get(things, {"id": "a"})
        other = threading.Thread(target=lambda: counted.append(store.count(things)))
        other.start()  # waits for the commit, but is not refused
    other.join(timeout=10)
    assert counted == [2]
    assert store.count(things) == 2 and store.get(things, {"id": "b"}) is None
