"""The nine storage operations of hebo-gateway, on the no-orm store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypedDict, cast

from noorm.kit import Store
from noorm.spec import Filter, Json, and_, asc, desc, eq, path

from .models import ConversationRow, ItemRow, conversation_items, conversations
from .uuid7 import uuid7

__all__ = ["Conversation", "ConversationStorage", "Deleted", "Item", "NewItem"]

Direction = Literal["asc", "desc"]


class Conversation(TypedDict):
    id: str
    created_at: datetime
    metadata: dict[str, str] | None


class NewItem(TypedDict, total=False):
    id: str
    type: str


Item = dict[str, Any]
"""An item as returned: the caller's item with ``id``, ``type`` and ``created_at``."""


class Deleted(TypedDict):
    id: str
    deleted: bool


def as_conversation(row: ConversationRow) -> Conversation:
    metadata = row["metadata"]
    return {
        "id": row["id"],
        "created_at": row["created_at"],
        "metadata": cast(dict[str, str], metadata) if isinstance(metadata, dict) else None,
    }


def as_item(row: ItemRow) -> Item:
    return {**row["data"], "id": row["id"], "type": row["type"], "created_at": row["created_at"]}


def _now() -> datetime:
    return datetime.now(UTC)


class ConversationStorage:
    """hebo-gateway's storage interface; ``store`` may be any certified adapter's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def bootstrap(self) -> None:
        self._store.bootstrap()

    # 1
    def create_conversation(
        self, metadata: Mapping[str, str] | None = None, items: Iterable[Mapping[str, Any]] = ()
    ) -> Conversation:
        row = new_conversation(metadata)
        with self._store.transaction() as tx:
            stored = tx.insert(conversations, row)
            self._add_items(tx, row["id"], list(items))
        return as_conversation(stored)

    # 2
    def get_conversation(self, id: str) -> Conversation | None:
        row = self._store.get(conversations, {"id": id})
        return None if row is None else as_conversation(row)

    # 3
    def list_conversations(
        self,
        limit: int = 20,
        order: Direction = "desc",
        after: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> list[Conversation]:
        page = self._store.find(
            conversations,
            metadata_filter(metadata),
            order_by=by_time(order),
            limit=limit,
            after=None if after is None else {"id": after},
        )
        return [as_conversation(r) for r in page.rows]

    # 4
    def update_conversation(
        self, id: str, metadata: Mapping[str, str] | None
    ) -> Conversation | None:
        with self._store.transaction() as tx:
            current = tx.get(conversations, {"id": id})
            if current is None:
                return None
            value: Json = dict(metadata) if metadata is not None else None
            replaced: ConversationRow = {
                "id": id,
                "created_at": current["created_at"],
                "metadata": value,
            }
            result = tx.upsert(conversations, replaced, update=["metadata"])
        return as_conversation(result.row)

    # 5
    def delete_conversation(self, id: str) -> Deleted:
        with self._store.transaction() as tx:
            tx.delete(conversation_items, where={"conversation_id": id})
            removed = tx.delete(conversations, key={"id": id})
        return {"id": id, "deleted": removed > 0}

    # 6
    def add_items(
        self, conversation_id: str, items: Iterable[Mapping[str, Any]]
    ) -> list[Item] | None:
        with self._store.transaction() as tx:
            return self._add_items(tx, conversation_id, list(items))

    def _add_items(
        self, tx: Store, conversation_id: str, items: list[Mapping[str, Any]]
    ) -> list[Item] | None:
        """Runs in the caller's transaction (joined, not nested: no savepoint needed)."""
        if tx.get(conversations, {"id": conversation_id}) is None:
            return None
        stored = tx.insert_many(conversation_items, item_rows(conversation_id, items))
        return [as_item(r) for r in stored]

    # 7
    def get_item(self, conversation_id: str, item_id: str) -> Item | None:
        row = self._store.get(
            conversation_items, {"conversation_id": conversation_id, "id": item_id}
        )
        return None if row is None else as_item(row)

    # 8
    def delete_item(self, conversation_id: str, item_id: str) -> Conversation | None:
        with self._store.transaction() as tx:
            tx.delete(conversation_items, key={"conversation_id": conversation_id, "id": item_id})
            row = tx.get(conversations, {"id": conversation_id})
        return None if row is None else as_conversation(row)

    # 9
    def list_items(
        self,
        conversation_id: str,
        limit: int = 20,
        order: Direction = "desc",
        after: str | None = None,
    ) -> list[Item] | None:
        if self._store.get(conversations, {"id": conversation_id}) is None:
            return None
        page = self._store.find(
            conversation_items,
            {"conversation_id": conversation_id},
            order_by=by_time(order),
            limit=limit,
            after=None if after is None else {"conversation_id": conversation_id, "id": after},
        )
        return [as_item(r) for r in page.rows]


def new_conversation(metadata: Mapping[str, str] | None) -> ConversationRow:
    return {
        "id": uuid7(),
        "created_at": _now(),
        "metadata": dict(metadata) if metadata is not None else None,
    }


def item_rows(conversation_id: str, items: list[Mapping[str, Any]]) -> list[ItemRow]:
    """The rows of new items, in the given order one millisecond apart."""
    now = _now()
    return [
        {
            "id": str(item.get("id") or uuid7()),
            "conversation_id": conversation_id,
            "created_at": now + timedelta(milliseconds=i),
            "type": str(item.get("type", "message")),
            "data": dict(item),
        }
        for i, item in enumerate(items)
    ]


def metadata_filter(metadata: Mapping[str, str] | None) -> Filter | None:
    if not metadata:
        return None
    return and_(*(eq(path("metadata", k), v) for k, v in metadata.items()))


def by_time(order: Direction) -> tuple[Any, Any]:
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    by = asc if order == "asc" else desc
    return (by("created_at"), by("id"))
