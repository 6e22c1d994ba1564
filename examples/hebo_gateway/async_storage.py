"""hebo-gateway's storage for asyncio: the nine operations on :class:`~noorm.kit.AsyncStore`.

The same calls as :mod:`.storage`, awaited; the rows, filters and orders are built by
the same helpers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from noorm.kit import AsyncStore
from noorm.spec import Json

from .models import ConversationRow, conversation_items, conversations
from .storage import (
    Conversation,
    Deleted,
    Direction,
    Item,
    as_conversation,
    as_item,
    by_time,
    item_rows,
    metadata_filter,
    new_conversation,
)

__all__ = ["AsyncConversationStorage"]


class AsyncConversationStorage:
    """:class:`~.storage.ConversationStorage` for an asyncio host."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store

    async def bootstrap(self) -> None:
        await self._store.bootstrap()

    async def create_conversation(
        self, metadata: Mapping[str, str] | None = None, items: Iterable[Mapping[str, Any]] = ()
    ) -> Conversation:
        row = new_conversation(metadata)
        async with self._store.transaction() as tx:
            stored = await tx.insert(conversations, row)
            await self._add_items(tx, row["id"], list(items))
        return as_conversation(stored)

    async def get_conversation(self, id: str) -> Conversation | None:
        row = await self._store.get(conversations, {"id": id})
        return None if row is None else as_conversation(row)

    async def list_conversations(
        self,
        limit: int = 20,
        order: Direction = "desc",
        after: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> list[Conversation]:
        page = await self._store.find(
            conversations,
            metadata_filter(metadata),
            order_by=by_time(order),
            limit=limit,
            after=None if after is None else {"id": after},
        )
        return [as_conversation(r) for r in page.rows]

    async def update_conversation(
        self, id: str, metadata: Mapping[str, str] | None
    ) -> Conversation | None:
        async with self._store.transaction() as tx:
            current = await tx.get(conversations, {"id": id})
            if current is None:
                return None
            value: Json = dict(metadata) if metadata is not None else None
            replaced: ConversationRow = {
                "id": id,
                "created_at": current["created_at"],
                "metadata": value,
            }
            result = await tx.upsert(conversations, replaced, update=["metadata"])
        return as_conversation(result.row)

    async def delete_conversation(self, id: str) -> Deleted:
        async with self._store.transaction() as tx:
            await tx.delete(conversation_items, where={"conversation_id": id})
            removed = await tx.delete(conversations, key={"id": id})
        return {"id": id, "deleted": removed > 0}

    async def add_items(
        self, conversation_id: str, items: Iterable[Mapping[str, Any]]
    ) -> list[Item] | None:
        async with self._store.transaction() as tx:
            return await self._add_items(tx, conversation_id, list(items))

    async def _add_items(
        self, tx: AsyncStore, conversation_id: str, items: list[Mapping[str, Any]]
    ) -> list[Item] | None:
        if await tx.get(conversations, {"id": conversation_id}) is None:
            return None
        stored = await tx.insert_many(conversation_items, item_rows(conversation_id, items))
        return [as_item(r) for r in stored]

    async def get_item(self, conversation_id: str, item_id: str) -> Item | None:
        row = await self._store.get(
            conversation_items, {"conversation_id": conversation_id, "id": item_id}
        )
        return None if row is None else as_item(row)

    async def delete_item(self, conversation_id: str, item_id: str) -> Conversation | None:
        async with self._store.transaction() as tx:
            await tx.delete(
                conversation_items, key={"conversation_id": conversation_id, "id": item_id}
            )
            row = await tx.get(conversations, {"id": conversation_id})
        return None if row is None else as_conversation(row)

    async def list_items(
        self,
        conversation_id: str,
        limit: int = 20,
        order: Direction = "desc",
        after: str | None = None,
    ) -> list[Item] | None:
        if await self._store.get(conversations, {"id": conversation_id}) is None:
            return None
        page = await self._store.find(
            conversation_items,
            {"conversation_id": conversation_id},
            order_by=by_time(order),
            limit=limit,
            after=None if after is None else {"conversation_id": conversation_id, "id": after},
        )
        return [as_item(r) for r in page.rows]
