"""Static typing tests: checked by ``mypy --strict`` (never executed by pytest).

A host declares a model once as a TypedDict and every store result is typed from it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypedDict, assert_type

from noorm.kit import Page, Store
from noorm.spec import (
    Adapter,
    Field,
    IntegerType,
    Json,
    Model,
    Row,
    StringType,
    UpsertResult,
    eq,
    model,
)


class Conversation(TypedDict):
    id: Annotated[str, StringType(255)]
    created_at: datetime
    metadata: Json
    score: float | None
    turns: int
    archived: bool


conversations = model("conversations", Conversation, primary_key="id")
assert_type(conversations, Model[Conversation])


def typed_operations(adapter: Adapter) -> None:
    store = Store([conversations], adapter)
    row: Conversation = {
        "id": "c1",
        "created_at": datetime.now(UTC),
        "metadata": {"user": "1"},
        "score": None,
        "turns": 0,
        "archived": False,
    }
    assert_type(store.insert(conversations, row), Conversation)
    assert_type(store.insert_many(conversations, [row]), list[Conversation])
    found = store.get(conversations, {"id": "c1"})
    assert_type(found, Conversation | None)
    if found is not None:
        assert_type(found["created_at"], datetime)
        assert_type(found["score"], float | None)
        assert_type(found["turns"], int)
        assert_type(found["archived"], bool)
        assert_type(found["metadata"], Json)
    page = store.find(conversations, eq("turns", 1), order_by="created_at", limit=10)
    assert_type(page, Page[Conversation])
    assert_type(page.rows, list[Conversation])
    assert_type(page.next_cursor, str | None)
    assert_type(store.upsert(conversations, row, update=["metadata"]), UpsertResult[Conversation])
    assert_type(store.count(conversations), int)
    assert_type(store.update(conversations, {"turns": 2}, key={"id": "c1"}), int)
    assert_type(store.delete(conversations, key={"id": "c1"}), int)
    with store.transaction() as tx:
        assert_type(tx, Store)
        assert_type(tx.get(conversations, {"id": "c1"}), Conversation | None)


def wrong_row_is_a_type_error(adapter: Adapter) -> None:
    store = Store([conversations], adapter)
    store.insert(conversations, {"id": "c1"})  # type: ignore[misc]
    store.insert(
        conversations,
        {
            "id": 1,
            "created_at": datetime.now(UTC),
            "metadata": None,
            "score": None,
            "turns": 0,
            "archived": False,
        },
    )  # type: ignore[misc]


def untyped_models_from_data(adapter: Adapter, data: dict[str, Any]) -> None:
    from noorm.spec import schema_from_json

    schema = schema_from_json(data)
    store = Store(schema, adapter)
    items = store.model("items")
    assert_type(items, Model[Any])
    assert_type(store.get(items, {"id": 1}), Any | None)
    built = Model("things", [Field("id", IntegerType())], primary_key="id")
    assert_type(built, Model[Row])
    assert_type(store.get(built, {"id": 1}), Row | None)
