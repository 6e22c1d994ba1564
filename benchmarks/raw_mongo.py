"""The workload in hand-written MQL on pymongo, in the store's document layout.

Documents are laid out as the MongoDB adapter lays them out (so the same indexes
serve both): a conversation is ``{_id, created_at, metadata}``, an item
``{_id: {"0": conversation_id, "1": id}, id, conversation_id, created_at, type, data}``.
The client decodes dates as aware UTC datetimes; rows come back as dicts with the
model's fields.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from pymongo import MongoClient

from .workload import PAGE, Impl, Row

__all__ = ["RawMongo"]

_SORT = [("created_at", -1), ("id", -1)]


def _conv_doc(row: Row) -> dict[str, Any]:
    doc = {"_id": row["id"], "created_at": row["created_at"]}
    if row["metadata"] is not None:
        doc["metadata"] = row["metadata"]
    return doc


def _item_doc(r: Row) -> dict[str, Any]:
    cid, iid = r["conversation_id"], r["id"]
    return {
        "_id": {"0": cid, "1": iid},
        "id": iid,
        "conversation_id": cid,
        "created_at": r["created_at"],
        "type": r["type"],
        "data": r["data"],
    }


def _conv(d: dict[str, Any]) -> Row:
    return {"id": d["_id"], "created_at": d["created_at"], "metadata": d.get("metadata")}


def _item(d: dict[str, Any]) -> Row:
    return {
        "id": d["id"],
        "conversation_id": d["conversation_id"],
        "created_at": d["created_at"],
        "type": d["type"],
        "data": d["data"],
    }


class RawMongo(Impl):
    kind = "raw"

    def __init__(self, url: str, database: str) -> None:
        self.client: MongoClient[dict[str, Any]] = MongoClient(url, tz_aware=True, tzinfo=UTC)
        self.db = self.client[database]
        self.convs = self.db["conversations"]
        self.items = self.db["conversation_items"]

    def insert_conversation(self, row: Row) -> Row:
        self.convs.insert_one(_conv_doc(row))
        return row

    def get_conversation(self, cid: str) -> Row | None:
        d = self.convs.find_one({"_id": cid})
        return None if d is None else _conv(d)

    def list_items(self, cid: str, cursor: Any) -> tuple[list[Row], Any]:
        where: dict[str, Any] = {"conversation_id": cid}
        if cursor is not None:
            t, iid = cursor
            where["created_at"] = {"$lte": t}
            where["$or"] = [{"created_at": {"$lt": t}}, {"created_at": t, "id": {"$lt": iid}}]
        rows = [_item(d) for d in self.items.find(where, sort=_SORT, limit=PAGE + 1)]
        if len(rows) <= PAGE:
            return rows, None
        del rows[PAGE:]
        return rows, (rows[-1]["created_at"], rows[-1]["id"])

    def insert_items(self, rows: list[Row]) -> list[Row]:
        self.items.insert_many([_item_doc(r) for r in rows], ordered=True)
        return rows

    def insert_items_loop(self, rows: list[Row]) -> list[Row]:
        for r in rows:  # no transactions on FerretDB
            self.items.insert_one(_item_doc(r))
        return rows

    def update_metadata(self, cid: str, metadata: dict[str, str]) -> int:
        return self.convs.update_one({"_id": cid}, {"$set": {"metadata": metadata}}).matched_count

    def upsert_conversation(self, row: Row) -> tuple[Row, bool | None]:
        md = row["metadata"]
        change: dict[str, Any] = {"$setOnInsert": {"created_at": row["created_at"]}}
        if md is None:
            change["$unset"] = {"metadata": ""}
        else:
            change["$set"] = {"metadata": md}
        # One findAndModify: the stored document and whether it existed.
        reply = self.db.command(
            "findAndModify",
            "conversations",
            query={"_id": row["id"]},
            update=change,
            upsert=True,
            new=True,
            codec_options=self.convs.codec_options,
        )
        return _conv(reply["value"]), not reply["lastErrorObject"]["updatedExisting"]

    def count_items(self, cid: str) -> int:
        return self.items.count_documents({"conversation_id": cid})

    def delete_conversation(self, cid: str) -> int:
        return self.convs.delete_one({"_id": cid}).deleted_count

    def close(self) -> None:
        self.client.close()
