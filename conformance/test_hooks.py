"""Spec section 9, hooks: schema extension, enforced writes, required filters, context.

Scope filters reach the adapter as ordinary parts of ``where`` (and ``Upsert.where``),
so these tests check that an adapter honours every part of every filter it is given,
on every operation, and that a scoped upsert never touches another scope's row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from noorm.kit import AuditTimestamps, Plugin, Store, TenantScope, Write
from noorm.spec import (
    ALL,
    DuplicateKeyError,
    Field,
    Filter,
    Index,
    InvalidCursorError,
    JsonType,
    Model,
    Schema,
    SchemaError,
    StringType,
    ValidationError,
    eq,
    gt,
    is_null,
    not_,
)

from .checks import all_rows, ids, rejected, unchanged
from .conftest import StoreMaker
from .models import ACCOUNTS, ITEMS, SCHEMA, item

# --- HOOK-SCHEMA ----------------------------------------------------------------------------


class AddLabel(Plugin):
    """Adds a ``label`` field and an index on it to ``items``."""

    name = "add label"

    def extend_schema(self, schema: Schema) -> Schema:
        model = schema.model("items").with_field(Field("label", StringType(20), nullable=True))
        return schema.replace(model.with_index(Index("items_by_label", [("label", "desc")])))


@pytest.mark.clause("HOOK-SCHEMA", "BOOT-1")
def test_a_plugin_can_add_fields_and_indexes_that_bootstrap_creates(make_store: StoreMaker) -> None:
    store = make_store(plugins=[AddLabel()])
    labelled = store.model("items")
    assert labelled.has_field("label")
    store.insert_many(labelled, [item("a", label="x"), item("b", label="y"), item("c")])
    assert sorted(ids(store.find(labelled, order_by="label"))) == ["a", "b", "c"]
    assert ids(store.find(labelled, gt("label", "x"))) == ["b"]
    assert ids(store.find(labelled, eq("label", "y"))) == ["b"]
    got = store.get(labelled, {"id": "c"})
    assert got is not None and got["label"] is None


@pytest.mark.clause("HOOK-SCHEMA", "SCH-5")
def test_an_extended_schema_is_validated_like_any_other(make_store: StoreMaker) -> None:
    class IndexJson(Plugin):
        def extend_schema(self, schema: Schema) -> Schema:
            model = schema.model("items")
            return schema.replace(model.with_index(Index("items_by_j", ["j"])))

    class DuplicateField(Plugin):
        def extend_schema(self, schema: Schema) -> Schema:
            model = schema.model("items")
            return schema.replace(model.with_field(Field("s", JsonType())))

    for plugin in (IndexJson(), DuplicateField()):
        with pytest.raises(SchemaError) as caught:
            make_store(plugins=[plugin], bootstrap=False)
        assert caught.value.model == "items"


@pytest.mark.clause("HOOK-SCHEMA", "OP-DUP")
def test_a_plugin_can_reorder_index_columns(make_store: StoreMaker) -> None:
    """TenantScope puts tenant_id first in every index: a unique email is per tenant."""
    store = make_store(plugins=[TenantScope()])
    index = store.model("accounts").indexes[0]
    assert [c.field for c in index.columns] == ["tenant_id", "org", "email"]
    a, b = store.bind(tenant_id="a"), store.bind(tenant_id="b")
    a.insert(ACCOUNTS, {"org": 1, "id": 1, "email": "same@x", "name": "a"})
    b.insert(ACCOUNTS, {"org": 1, "id": 2, "email": "same@x", "name": "b"})
    with pytest.raises(DuplicateKeyError):
        a.insert(ACCOUNTS, {"org": 1, "id": 3, "email": "same@x", "name": "a2"})
    assert a.count(ACCOUNTS) == 1 and b.count(ACCOUNTS) == 1


# --- HOOK-WRITE -----------------------------------------------------------------------------


class Owner(Plugin):
    """Enforces ``items.s`` = the bound owner on every write; injects it when absent."""

    name = "owner"

    def on_write(self, write: Write) -> None:
        if write.model.name == "items" and (write.kind != "update" or "s" in write.values):
            write.enforce("s", write.context["owner"], plugin=self.name)


@pytest.mark.clause("HOOK-WRITE", "VAL-1")
def test_an_enforced_value_is_injected_and_a_contradicting_write_writes_nothing(
    make_store: StoreMaker,
) -> None:
    store = make_store(plugins=[Owner()]).bind(owner="ann")
    assert store.insert(ITEMS, item("a", i=1))["s"] == "ann"
    assert store.insert(ITEMS, item("b", s="ann"))["s"] == "ann"
    assert store.upsert(ITEMS, item("c"), update=["i"]).row["s"] == "ann"
    before = all_rows(store, ITEMS)
    rejected(lambda: store.insert(ITEMS, item("x", s="bob")), model="items", field="s")
    rejected(
        lambda: store.insert_many(ITEMS, [item("y"), item("z", s="bob")]), model="items", field="s"
    )
    rejected(
        lambda: store.upsert(ITEMS, item("a", s="bob"), update=["s"]), model="items", field="s"
    )
    rejected(lambda: store.upsert(ITEMS, item("n", s="bob"), update=[]), model="items", field="s")
    rejected(lambda: store.update(ITEMS, {"s": "bob"}, where=ALL), model="items", field="s")
    unchanged(store, ITEMS, before)
    assert [r["s"] for r in before] == ["ann", "ann", "ann"]


class FixedClock:
    """A clock that returns the instants it is given, in order."""

    def __init__(self, *instants: datetime) -> None:
        self.instants = list(instants)

    def __call__(self) -> datetime:
        return self.instants.pop(0)


@pytest.mark.clause("HOOK-WRITE")
def test_audit_timestamps_on_insert_update_and_upsert(make_store: StoreMaker) -> None:
    """Injected instants are canonical (UTC, sub-millisecond digits dropped) like any value.

    They hold no milliseconds, so an adapter that loses them fails TS-2, not this test.
    """
    t1 = datetime(1969, 12, 31, 23, 59, 59, 999, tzinfo=UTC)
    t2 = datetime(2024, 1, 1, 12, 0, 0, 456, tzinfo=timezone(timedelta(hours=2)))
    t3 = datetime(2024, 1, 2, tzinfo=UTC)
    t4 = datetime(2024, 1, 3, 0, 0, 0, 1, tzinfo=UTC)
    clock = FixedClock(t1, t2, t3, t4)
    store = make_store(Schema([ITEMS]), plugins=[AuditTimestamps(clock=clock)])
    model = store.model("items")

    def ms(value: datetime) -> datetime:
        utc = value.astimezone(UTC)
        return utc.replace(microsecond=utc.microsecond // 1000 * 1000)

    inserted = store.insert(model, item("a"))
    assert (inserted["created_at"], inserted["updated_at"]) == (ms(t1), ms(t1))
    assert store.update(model, {"i": 1}, key={"id": "a"}) == 1
    got = store.get(model, {"id": "a"})
    assert got is not None and (got["created_at"], got["updated_at"]) == (ms(t1), ms(t2))
    upserted = store.upsert(model, item("b"), update=["i"])
    assert upserted.inserted and (upserted.row["created_at"], upserted.row["updated_at"]) == (
        ms(t3),
        ms(t3),
    )
    upserted = store.upsert(model, item("a", i=2), update=["i"])
    assert not upserted.inserted
    assert (upserted.row["created_at"], upserted.row["updated_at"]) == (ms(t1), ms(t4))
    stored = store.get(model, {"id": "a"})
    assert stored == upserted.row
    before = all_rows(store, model)
    rejected(
        lambda: store.insert(model, item("c", created_at=t3)), model="items", field="created_at"
    )
    rejected(
        lambda: store.update(model, {"updated_at": t3}, where=ALL),
        model="items",
        field="updated_at",
    )
    unchanged(store, model, before)


# --- HOOK-QUERY -----------------------------------------------------------------------------


@pytest.fixture
def tenants(make_store: StoreMaker) -> tuple[Store, Store, Store]:
    """A tenant-scoped store, and views bound to tenants a and b, each with rows."""
    store = make_store(plugins=[TenantScope()])
    a, b = store.bind(tenant_id="a"), store.bind(tenant_id="b")
    a.insert_many(ITEMS, [item("a1", i=1, s="x"), item("a2", i=2, s="x"), item("a3", i=3)])
    b.insert_many(ITEMS, [item("b1", i=1, s="x"), item("b2", i=2, s="x"), item("b3", i=3)])
    return store, a, b


def _everything(store: Store) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for tenant in ("a", "b"):
        rows |= {r["id"]: r for r in all_rows(store.bind(tenant_id=tenant), ITEMS)}
    return rows


@pytest.mark.clause("HOOK-QUERY", "OP-GET", "OP-FIND", "OP-COUNT")
def test_reads_only_see_their_scope(tenants: tuple[Store, Store, Store]) -> None:
    _, a, b = tenants
    assert a.get(ITEMS, {"id": "b1"}) is None
    got = b.get(ITEMS, {"id": "b1"})
    assert got is not None and got["tenant_id"] == "b"
    assert sorted(ids(a.find(ITEMS))) == ["a1", "a2", "a3"]
    assert sorted(ids(b.find(ITEMS, eq("s", "x"), order_by="i"))) == ["b1", "b2"]
    assert ids(a.find(ITEMS, eq("id", "b2"))) == []
    assert ids(a.find(ITEMS, not_(eq("s", "x")))) == ["a3"]
    assert ids(a.find(ITEMS, is_null("s"))) == ["a3"]
    assert a.count(ITEMS) == 3 and a.count(ITEMS, gt("i", 1)) == 2
    assert a.count(ITEMS, eq("tenant_id", "b")) == 0
    assert set(ids(a.find(ITEMS, order_by="i", after={"id": "a1"}))) == {"a2", "a3"}
    assert a.find(ITEMS, order_by="i", after={"id": "b1"}).rows == []
    # b's rows share every sort key with a's: a resumed read without the scope shows them.
    page = a.find(ITEMS, order_by="i", limit=1)
    assert page.next_cursor is not None
    rest = ids(a.find(ITEMS, order_by="i", limit=5, cursor=page.next_cursor))
    assert set(rest) <= {"a1", "a2", "a3"} - set(ids(page)), "a resumed read left its scope"
    with pytest.raises(InvalidCursorError):  # a cursor is bound to its scope, too
        b.find(ITEMS, order_by="i", limit=5, cursor=page.next_cursor)


@pytest.mark.clause("HOOK-QUERY")
def test_updates_and_deletes_only_touch_their_scope(tenants: tuple[Store, Store, Store]) -> None:
    store, a, b = tenants
    before = _everything(store)
    assert a.update(ITEMS, {"n": 1.0}, key={"id": "b1"}) == 0
    assert a.delete(ITEMS, key={"id": "b1"}) == 0
    assert a.delete(ITEMS, where=eq("id", "b2")) == 0
    assert a.update(ITEMS, {"n": 1.0}, where=eq("s", "x")) == 2
    assert a.update(ITEMS, {"b": True}, where=ALL) == 3
    after = _everything(store)
    assert {k: v for k, v in after.items() if k.startswith("b")} == {
        k: v for k, v in before.items() if k.startswith("b")
    }
    assert [after[k]["n"] for k in ("a1", "a2", "a3")] == [1.0, 1.0, None]
    assert b.delete(ITEMS, where=eq("i", 1)) == 1
    assert b.delete(ITEMS, where=ALL) == 2
    assert sorted(ids(a.find(ITEMS))) == ["a1", "a2", "a3"]
    assert b.count(ITEMS) == 0


@pytest.mark.clause("HOOK-QUERY", "OP-UPS", "OP-DUP")
def test_a_scoped_upsert_never_modifies_another_scope(tenants: tuple[Store, Store, Store]) -> None:
    store, a, b = tenants
    before = _everything(store)
    for update in (["i"], ["i", "s"], []):
        with pytest.raises(DuplicateKeyError) as caught:
            a.upsert(ITEMS, item("b1", i=100, s="stolen"), update=update)
        assert caught.value.model == "items"
    assert _everything(store) == before
    result = a.upsert(ITEMS, item("a1", i=100), update=["i"])
    assert (result.inserted, result.row["i"], result.row["tenant_id"]) == (False, 100, "a")
    result = b.upsert(ITEMS, item("b9", i=9), update=["i"])
    assert result.inserted and result.row["tenant_id"] == "b"
    assert a.get(ITEMS, {"id": "b9"}) is None


@pytest.mark.clause("HOOK-QUERY", "HOOK-WRITE")
def test_a_write_naming_another_scope_is_refused(tenants: tuple[Store, Store, Store]) -> None:
    store, a, _ = tenants
    before = _everything(store)
    rejected(lambda: a.insert(ITEMS, item("a9", tenant_id="b")), model="items", field="tenant_id")
    rejected(
        lambda: a.upsert(ITEMS, item("b1", tenant_id="b", i=0), update=["i"]),
        model="items",
        field="tenant_id",
    )
    rejected(
        lambda: a.update(ITEMS, {"tenant_id": "b"}, where=ALL), model="items", field="tenant_id"
    )
    assert _everything(store) == before


@pytest.mark.clause("HOOK-KEY", "OP-DUP")
def test_without_keyed_the_key_space_is_shared_by_all_tenants(
    tenants: tuple[Store, Store, Store],
) -> None:
    """The documented existence oracle: b learns that a key exists (in another tenant)."""
    store, _, b = tenants
    before = _everything(store)
    with pytest.raises(DuplicateKeyError):
        b.insert(ITEMS, item("a1", i=9))
    with pytest.raises(DuplicateKeyError):
        b.upsert(ITEMS, item("a1", i=9), update=["i"])
    assert _everything(store) == before


@pytest.mark.clause("HOOK-KEY", "HOOK-QUERY", "OP-UPS")
def test_keyed_tenant_scope_gives_each_tenant_its_own_key_space(make_store: StoreMaker) -> None:
    store = make_store(plugins=[TenantScope(keyed=True)])
    assert store.model("items").primary_key == ("tenant_id", "id")
    a, b = store.bind(tenant_id="a"), store.bind(tenant_id="b")
    a.insert_many(ITEMS, [item("k", i=1), item("m", i=5)])
    b.insert(ITEMS, item("k", i=2))  # the same model key in another tenant: no collision
    assert [
        (r["tenant_id"], r["i"])
        for r in (a.get(ITEMS, {"id": "k"}), b.get(ITEMS, {"id": "k"}))
        if r
    ] == [("a", 1), ("b", 2)]
    assert a.get(ITEMS, {"id": "k", "tenant_id": "b"}) is None  # never another tenant's row
    upserted = b.upsert(ITEMS, item("k", i=3), update=["i"])
    assert (upserted.inserted, upserted.row["i"], upserted.row["tenant_id"]) == (False, 3, "b")
    assert b.upsert(ITEMS, item("m", i=6), update=["i"]).inserted is True
    with pytest.raises(DuplicateKeyError):
        a.insert(ITEMS, item("k"))
    assert a.update(ITEMS, {"i": 10}, key={"id": "k"}) == 1
    assert ids(a.find(ITEMS, order_by="id", after={"id": "k"})) == ["m"]
    assert b.delete(ITEMS, key={"id": "k"}) == 1
    # Sorted here: the order of an unordered read is ORD-*'s business, not this clause's.
    assert sorted((r["id"], r["i"]) for r in all_rows(a, ITEMS)) == [("k", 10), ("m", 5)]
    assert sorted((r["id"], r["i"]) for r in all_rows(b, ITEMS)) == [("m", 6)]


# --- HOOK-CTX -------------------------------------------------------------------------------


class Recorder(Plugin):
    """Records the context every hook call receives; scopes ``items`` by ``context["s"]``."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_write(self, write: Write) -> None:
        self.seen.append(dict(write.context))

    def scope(self, model: Model[Any], context: Mapping[str, Any]) -> Filter | None:
        self.seen.append(dict(context))
        return eq("s", context["s"]) if model.name == "items" and "s" in context else None


@pytest.mark.clause("HOOK-CTX")
def test_hooks_receive_the_bound_context_and_nothing_global(make_store: StoreMaker) -> None:
    recorder = Recorder()
    store = make_store(SCHEMA, plugins=[recorder])
    x = store.bind(s="x", request=1)
    y = store.bind(s="y")
    x.insert(ITEMS, item("x1", s="x"))
    y.insert(ITEMS, item("y1", s="y"))
    assert recorder.seen[-1] == {"s": "y"}
    assert ids(x.find(ITEMS)) == ["x1"]
    assert recorder.seen[-1] == {"s": "x", "request": 1}
    assert ids(y.find(ITEMS)) == ["y1"]
    assert sorted(ids(store.find(ITEMS))) == ["x1", "y1"]
    assert recorder.seen[-1] == {}
    assert x.bind(request=2).context == {"s": "x", "request": 2}
    assert x.context == {"s": "x", "request": 1}
    assert ids(x.bind(s="y").find(ITEMS)) == ["y1"]


@pytest.mark.clause("HOOK-CTX", "VAL-1")
def test_a_scoped_model_without_a_bound_scope_refuses_to_run(
    tenants: tuple[Store, Store, Store],
) -> None:
    store, _, _ = tenants
    for call in (
        lambda: store.find(ITEMS),
        lambda: store.get(ITEMS, {"id": "a1"}),
        lambda: store.count(ITEMS),
        lambda: store.insert(ITEMS, item("new")),
        lambda: store.delete(ITEMS, where=ALL),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.model == "items"
    assert len(_everything(store)) == 6
