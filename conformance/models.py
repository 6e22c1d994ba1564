"""The schemas the conformance tests run on.

Small on purpose: one wide model with a nullable field of every logical type, one
with a composite primary key, one with a unique index and required fields. Every
test bootstraps the models it uses on the empty database the factory hands it.
"""

from __future__ import annotations

from typing import Any

from noorm.spec import (
    BooleanType,
    Field,
    Index,
    IntegerType,
    JsonType,
    Model,
    NumberType,
    Row,
    Schema,
    StringType,
    TimestampType,
)

__all__ = ["ACCOUNTS", "DOCS", "ITEMS", "PAIRS", "SCHEMA", "SHORT_MAX", "SORTABLE", "item"]

SHORT_MAX = 5
"""``items.short`` holds at most this many code points (STR-2 boundary)."""

ITEMS: Model[Row] = Model(
    "items",
    [
        Field("id", StringType(64)),
        Field("s", StringType(), nullable=True),
        Field("short", StringType(SHORT_MAX), nullable=True),
        Field("n", NumberType(), nullable=True),
        Field("i", IntegerType(), nullable=True),
        Field("b", BooleanType(), nullable=True),
        Field("t", TimestampType(), nullable=True),
        Field("j", JsonType(), nullable=True),
    ],
    primary_key=["id"],
    indexes=[Index("items_by_i_n", [("i", "desc"), "n"]), Index("items_by_t", ["t"])],
)
"""A nullable field of every logical type, keyed by a string id."""

SORTABLE: tuple[str, ...] = ("s", "short", "n", "i", "b", "t")
"""The fields of ITEMS a read may order by (every field but json)."""

PAIRS: Model[Row] = Model(
    "pairs",
    [
        Field("a", IntegerType()),
        Field("b", StringType(16)),
        Field("v", StringType(), nullable=True),
    ],
    primary_key=["a", "b"],
)
"""A composite primary key of an integer and a string."""

ACCOUNTS: Model[Row] = Model(
    "accounts",
    [
        Field("org", IntegerType()),
        Field("id", IntegerType()),
        Field("email", StringType(100)),
        Field("name", StringType()),
        Field("age", IntegerType(), nullable=True),
    ],
    primary_key=["org", "id"],
    indexes=[Index("accounts_email", ["org", "email"], unique=True)],
)
"""Required fields and a unique index. The index includes ``org``, the first key field, so
the model can be partitioned by it (PART-2; the ``citus`` target partitions every model):
an email is unique within an org, the shape of every multi-tenant table."""

DOCS: Model[Row] = Model(
    "docs",
    [Field("id", IntegerType()), Field("body", JsonType())],
    primary_key=["id"],
)
"""A json field that is not nullable (JSON-2)."""

SCHEMA = Schema([ITEMS, PAIRS, ACCOUNTS, DOCS])


def item(id: str, **values: Any) -> Row:
    """An ITEMS row; fields left out are NULL (VAL-2)."""
    return {"id": id, **values}
