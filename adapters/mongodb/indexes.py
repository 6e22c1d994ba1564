"""The collections and indexes a schema needs, and the text bootstrap() reports for them.

- A non-unique index gets the primary-key fields it lacks appended (ascending): every
  ordered read ends with the primary key (ORD-2), and MongoDB serves a sort from an
  index only when the sort is a prefix of its key pattern, so this is what lets a
  keyset page be an index range scan instead of a blocking sort.
- MongoDB refuses two indexes with the same key pattern and an index on ``_id`` other
  than the built-in one, where SQL allows both. So an index on just the primary key of
  a single-key model is left to the built-in ``_id`` index, and of several indexes with
  one key pattern only the first unique one (else the first) is created: it serves the
  same reads and enforces the same constraint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from noorm.spec import Model

from .codec import Codec

__all__ = ["PK_INDEX", "IndexPlan", "describe_collection", "index_plans"]

PK_INDEX = "noorm-pk"
"""The secondary index on the top-level copies of a composite key (not an identifier,
so it never collides with a schema's index name)."""


@dataclass(frozen=True, slots=True)
class IndexPlan:
    """One ``createIndex`` call."""

    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    partial: dict[str, Any] | None = None

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.unique:
            out["unique"] = True
        if self.partial is not None:
            out["partialFilterExpression"] = self.partial
        return out

    def describe(self, collection: str) -> str:
        keys = json.dumps(dict(self.keys))
        return f"db.{collection}.createIndex({keys}, {json.dumps(self.options())})"

    def matches(self, existing: dict[str, Any]) -> bool:
        """Whether an index listed by ``list_indexes`` is this one."""
        keys = tuple((str(k), int(v)) for k, v in existing.get("key", {}).items())
        return keys == self.keys and bool(existing.get("unique", False)) == self.unique


def describe_collection(name: str) -> str:
    return f"db.createCollection({json.dumps(name)})"


def index_plans(model: Model[Any], codec: Codec, *, partial_unique: bool) -> list[IndexPlan]:
    """The indexes of ``model``; ``partial_unique`` keeps NULLs out of unique indexes.

    SQL unique indexes never collide on NULL. NULL is an absent field, which FerretDB's
    PostgreSQL index already skips; real MongoDB indexes absent as null, so there the
    unique index gets ``partialFilterExpression: {f: {$exists: true}}`` per nullable column.
    """
    plans: list[IndexPlan] = []
    seen: dict[tuple[tuple[str, int], ...], int] = {}
    if codec.single_key is not None:
        seen[(("_id", 1),)] = -1
        seen[(("_id", -1),)] = -1
    primary = tuple((codec.storage[k], 1) for k in codec.key_fields)
    for index in model.indexes:
        keys = tuple((codec.storage[c.field], -1 if c.descending else 1) for c in index.columns)
        named = {key for key, _ in keys}
        if not index.unique:
            keys += tuple(item for item in primary if item[0] not in named)
        partial = None
        nullable = [codec.storage[c.field] for c in index.columns if c.field in codec.nullable]
        if index.unique and nullable and partial_unique:
            partial = {key: {"$exists": True} for key in nullable}
        plan = IndexPlan(index.name, keys, index.unique, partial)
        at = seen.get(keys)
        if at is None:
            seen[keys] = len(plans)
            plans.append(plan)
        elif at >= 0 and plan.unique and not plans[at].unique:
            plans[at] = plan  # the unique one serves reads too and enforces the constraint
    if codec.single_key is None and primary not in seen:
        plans.append(IndexPlan(PK_INDEX, primary))
    return plans
