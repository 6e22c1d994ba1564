"""``store.rows(model)``: one model's operations, with inline row literals type-checked.

This file is also checked by ``mypy --strict`` in CI (``mypy tests``): the lines marked
``# type: ignore[...]`` must be errors (strict mode reports an unused ignore), so the
static checks of inline literals are tested, not assumed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypedDict

import pytest

from noorm.adapters.memory import MemoryAdapter
from noorm.kit import AuditTimestamps, Page, Store, TenantScope
from noorm.spec import ALL, Json, SchemaError, StringType, ValidationError, desc, model
from noorm.spec.operations import UpsertResult


class Note(TypedDict):
    id: Annotated[str, StringType(64)]
    body: str
    stars: int
    meta: Json


notes = model("notes", Note, primary_key="id")


class TenantNote(Note, total=False):
    """The fields the host's users' plugins add: not required on a write (the store
    fills them in), returned by every read."""

    tenant_id: Annotated[str, StringType(64)]
    created_at: datetime
    updated_at: datetime


def _store(*plugins: TenantScope | AuditTimestamps) -> Store:
    store = Store([notes], MemoryAdapter(), plugins=list(plugins), cursor_key=b"k" * 32)
    store.bootstrap()
    return store


def test_every_operation_of_a_handle_is_the_store_operation() -> None:
    store = _store()
    rows = store.rows(notes)
    assert rows.insert({"id": "a", "body": "x", "stars": 1, "meta": None})["id"] == "a"
    many = rows.insert_many(
        [{"id": f"b{i}", "body": "y", "stars": i, "meta": {}} for i in range(3)]
    )
    assert [r["stars"] for r in many] == [0, 1, 2]
    got = rows.get({"id": "a"})
    assert got is not None and got["body"] == "x"
    page: Page[Note] = rows.find({"body": "y"}, order_by=[desc("stars")], limit=2)
    assert [r["id"] for r in page.rows] == ["b2", "b1"] and page.next_cursor is not None
    rest = rows.find({"body": "y"}, order_by=[desc("stars")], limit=2, cursor=page.next_cursor)
    assert [r["id"] for r in rest.rows] == ["b0"]
    assert rows.count() == 4 and rows.count({"body": "y"}) == 3
    assert rows.update({"stars": 9}, key={"id": "a"}) == 1
    result: UpsertResult[Note] = rows.upsert(
        {"id": "a", "body": "z", "stars": 0, "meta": None}, update=["body"]
    )
    assert not result.inserted and result.row["body"] == "z" and result.row["stars"] == 9
    assert rows.delete(where={"body": "y"}) == 3
    assert rows.delete(where=ALL) == 1
    assert store.count(notes) == 0


def test_a_handle_on_a_transaction_writes_in_it() -> None:
    store = _store()
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.rows(notes).insert({"id": "a", "body": "x", "stars": 1, "meta": None})
        assert tx.rows(notes).count() == 1
        raise RuntimeError("roll back")
    assert store.rows(notes).count() == 0


def test_a_handle_validates_like_the_store() -> None:
    rows = _store().rows(notes)
    bad: dict[str, object] = {"id": "a", "body": "x", "stars": "many", "meta": None}
    with pytest.raises(ValidationError) as caught:
        rows.insert(bad)  # type: ignore[arg-type]
    assert (caught.value.model, caught.value.field) == ("notes", "stars")
    assert rows.count() == 0


def test_inline_literals_are_checked_statically() -> None:
    """The ignores below are mypy errors; without them this file would not type-check."""
    rows = _store().rows(notes)
    with pytest.raises(ValidationError):
        rows.insert({"id": "a", "body": "x", "stars": "many", "meta": None})  # type: ignore[typeddict-item]
    with pytest.raises(ValidationError):
        rows.insert({"id": "a", "body": "x", "meta": None})  # type: ignore[typeddict-item]
    with pytest.raises(ValidationError):
        rows.insert({"id": "a", "body": "x", "stars": 1, "meta": None, "oops": 1})  # type: ignore[typeddict-unknown-key]
    assert rows.count() == 0


def test_plugin_fields_can_be_typed() -> None:
    store = _store(TenantScope(), AuditTimestamps())
    acme = store.bind(tenant_id="acme").rows(notes, TenantNote)
    stored = acme.insert({"id": "a", "body": "x", "stars": 1, "meta": None})
    assert stored["tenant_id"] == "acme"
    got = acme.get({"id": "a"})
    assert got is not None and got["created_at"] <= datetime.now(UTC)
    assert got["updated_at"] == got["created_at"]


def test_a_row_type_that_does_not_match_the_final_model_is_refused() -> None:
    store = _store(TenantScope())

    class WrongType(Note):
        tenant_id: int

    class Unknown(Note):
        owner: str

    with pytest.raises(SchemaError) as caught:
        store.rows(notes, WrongType)
    assert (caught.value.model, caught.value.field) == ("notes", "tenant_id")
    assert "as a non-null integer, the model has a non-null string" in str(caught.value)
    with pytest.raises(SchemaError) as unknown:
        store.rows(notes, Unknown)
    assert (unknown.value.model, unknown.value.field) == ("notes", "owner")
    with pytest.raises(SchemaError, match="not a TypedDict"):
        store.rows(notes, dict)
