"""The two models of hebo-gateway's storage, declared once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypedDict

from noorm.spec import Index, Json, JsonObject, Schema, StringType, model

Id = Annotated[str, StringType(255)]


class ConversationRow(TypedDict):
    id: Id
    created_at: datetime
    metadata: Json  # a flat object of str -> str, or None


class ItemRow(TypedDict):
    id: Id
    conversation_id: Id
    created_at: datetime
    type: Annotated[str, StringType(64)]
    data: JsonObject


conversations = model(
    "conversations",
    ConversationRow,
    primary_key="id",
    indexes=[Index("conversations_created_at", [("created_at", "desc"), ("id", "desc")])],
)

conversation_items = model(
    "conversation_items",
    ItemRow,
    primary_key=("conversation_id", "id"),
    indexes=[
        Index(
            "conversation_items_conversation_created_at",
            ["conversation_id", ("created_at", "desc"), ("id", "desc")],
        )
    ],
)

SCHEMA = Schema([conversations, conversation_items])

PARTITIONED_SCHEMA = Schema(
    [
        conversations.replace(partition_key="id"),
        conversation_items.replace(partition_key="conversation_id", colocate_with="conversations"),
    ]
)
"""The same models for a distributed backend (PART-1): conversations spread by ``id``,
each conversation's items kept with it (partitioned by ``conversation_id``, colocated).
Every operation gives the results it gives on ``SCHEMA`` (PART-3); on Citus the tables are
distributed and colocated (PART-4)."""
