"""The workload through ``noorm.kit.Store`` on the backend's adapter: the code a host
library (hebo-gateway) writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from noorm.kit import QueryEvent, Store
from noorm.spec import Adapter, Capability, desc

from .workload import PAGE, SCHEMA, Impl, Row, conversation_items, conversations

__all__ = ["NoormImpl"]

ORDER = (desc("created_at"), desc("id"))


class NoormImpl(Impl):
    kind = "noorm"

    def __init__(
        self, adapter: Adapter, on_query: Callable[[QueryEvent], None] | None = None
    ) -> None:
        self.adapter = adapter
        self.store = Store(SCHEMA, adapter, on_query=on_query)
        self._transactions = Capability.TRANSACTIONS in adapter.capabilities

    def insert_conversation(self, row: Row) -> Row:
        return self.store.insert(conversations, row)

    def get_conversation(self, cid: str) -> Row | None:
        row: Row | None = self.store.get(conversations, {"id": cid})
        return row

    def list_items(self, cid: str, cursor: Any) -> tuple[list[Row], Any]:
        page = self.store.find(
            conversation_items, {"conversation_id": cid}, order_by=ORDER, limit=PAGE, cursor=cursor
        )
        return page.rows, page.next_cursor

    def insert_items(self, rows: list[Row]) -> list[Row]:
        return self.store.insert_many(conversation_items, rows)

    def insert_items_loop(self, rows: list[Row]) -> list[Row]:
        if not self._transactions:  # FerretDB: no transactions, so a plain loop
            return [self.store.insert(conversation_items, r) for r in rows]
        with self.store.transaction() as tx:
            return [tx.insert(conversation_items, r) for r in rows]

    def update_metadata(self, cid: str, metadata: dict[str, str]) -> int:
        return self.store.update(conversations, {"metadata": metadata}, key={"id": cid})

    def upsert_conversation(self, row: Row) -> tuple[Row, bool | None]:
        result = self.store.upsert(conversations, row, update=["metadata"])
        return result.row, result.inserted

    def count_items(self, cid: str) -> int:
        return self.store.count(conversation_items, {"conversation_id": cid})

    def delete_conversation(self, cid: str) -> int:
        return self.store.delete(conversations, key={"id": cid})

    def close(self) -> None:
        self.adapter.close()
