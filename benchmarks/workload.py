"""The workload: hebo-gateway's two models, its data, and the operations the suite times.

Every implementation (no-orm, raw driver, SQLAlchemy Core) subclasses :class:`Impl`
and does the same work per operation, with the same inputs and the same results:
rows as ``dict``, JSON parsed, timestamps as aware UTC datetimes. The runner checks
that the results agree before it times anything.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_EXAMPLES = str(Path(__file__).resolve().parent.parent / "examples")
if _EXAMPLES not in sys.path:
    sys.path.insert(0, _EXAMPLES)

from hebo_gateway.models import SCHEMA, conversation_items, conversations  # noqa: E402

__all__ = [
    "BASE",
    "LIST_CONV",
    "OPS",
    "PAGE",
    "SCHEMA",
    "SINK_CONV",
    "Impl",
    "Op",
    "Row",
    "conversation",
    "conversation_items",
    "conversations",
    "item",
    "same",
]

Row = dict[str, Any]
BASE = datetime(2026, 1, 1, tzinfo=UTC)
PAGE = 20
"""Rows per listed page (each implementation fetches PAGE + 1 to know if there is more)."""
LIST_CONV = "conv-list"
"""The conversation the list and count operations read: LIST_ITEMS items, never written."""
SINK_CONV = "conv-sink"
"""The conversation the item-insert operations write to."""
LIST_ITEMS = 100
OTHER_CONVS = 50
OTHER_ITEMS = 20
_FILLER = "The quick brown fox jumps over the lazy dog. " * 2


def at(ms: int) -> datetime:
    """BASE plus ``ms`` milliseconds (every timestamp of the suite is whole milliseconds)."""
    return BASE + timedelta(milliseconds=ms)


def conversation(cid: str, ms: int, metadata: dict[str, str] | None) -> Row:
    return {"id": cid, "created_at": at(ms), "metadata": metadata}


def item(cid: str, iid: str, ms: int, n: int) -> Row:
    """A hebo item: ``data`` is the whole item as the caller gave it (~200 bytes of JSON)."""
    role = "user" if n % 2 else "assistant"
    data = {
        "id": iid,
        "type": "message",
        "role": role,
        "content": [{"type": "input_text", "text": f"message {n}. {_FILLER}"}],
    }
    return {
        "id": iid,
        "conversation_id": cid,
        "created_at": at(ms),
        "type": "message",
        "data": data,
    }


class Impl(ABC):
    """One implementation of the workload on one backend, in its own namespace."""

    kind: str
    """"noorm", "raw" or "sqlalchemy"."""
    cursor2: Any = None
    """The cursor of page 2 of LIST_CONV, in this implementation's own form."""

    @abstractmethod
    def insert_conversation(self, row: Row) -> Row: ...

    @abstractmethod
    def get_conversation(self, cid: str) -> Row | None: ...

    @abstractmethod
    def list_items(self, cid: str, cursor: Any) -> tuple[list[Row], Any]:
        """PAGE items of ``cid``, newest first (created_at, id), after ``cursor``; and
        the cursor of the next page (None when there is none)."""

    @abstractmethod
    def insert_items(self, rows: list[Row]) -> list[Row]:
        """All rows in one atomic batch."""

    @abstractmethod
    def insert_items_loop(self, rows: list[Row]) -> list[Row]:
        """One insert statement per row, in one transaction where the backend has them."""

    @abstractmethod
    def update_metadata(self, cid: str, metadata: dict[str, str]) -> int:
        """Rows matched."""

    @abstractmethod
    def upsert_conversation(self, row: Row) -> tuple[Row, bool | None]:
        """Insert, or update only ``metadata``; the stored row, and whether it was inserted
        (None where the backend cannot tell without another statement)."""

    @abstractmethod
    def count_items(self, cid: str) -> int: ...

    @abstractmethod
    def delete_conversation(self, cid: str) -> int:
        """Rows deleted."""

    @abstractmethod
    def close(self) -> None: ...

    def seed(self) -> None:
        """The data every round reads: LIST_CONV with its items, and some bystanders."""
        self.insert_conversation(conversation(LIST_CONV, 0, {"user": "u0", "tag": "list"}))
        self.insert_conversation(conversation(SINK_CONV, 1, None))
        self.insert_items([item(LIST_CONV, f"li-{n:04d}", 10 + n, n) for n in range(LIST_ITEMS)])
        for c in range(OTHER_CONVS):
            cid = f"conv-other-{c:03d}"
            self.insert_conversation(conversation(cid, 2 + c, {"user": f"u{c % 7}"}))
            self.insert_items(
                [item(cid, f"oi-{n:04d}", 1000 + c * 100 + n, n) for n in range(OTHER_ITEMS)]
            )
        first, self.cursor2 = self.list_items(LIST_CONV, None)
        assert len(first) == PAGE and self.cursor2 is not None


@dataclass(frozen=True)
class Op:
    """One timed operation: ``args(tag, i)`` builds the i-th input of a round (untimed),
    ``call(impl, arg)`` is what is timed."""

    name: str
    label: str
    args: Callable[[str, int], Any]
    call: Callable[[Impl, Any], Any]


def _ms(tag: str, i: int) -> int:
    """A distinct millisecond per (round, i), after every seeded timestamp."""
    base = 0 if tag == "w" else int(tag[1:]) + 1
    return 1_000_000 + base * 100_000 + i * 20


def _cid(tag: str, i: int) -> str:
    return f"{tag}-c{i:05d}"


def _batch(tag: str, i: int, kind: str) -> list[Row]:
    ms = _ms(tag, i) + (10 if kind == "l" else 0)
    return [item(SINK_CONV, f"{tag}-{kind}{i:05d}-{j}", ms + j, j) for j in range(10)]


OPS: tuple[Op, ...] = (
    Op(
        "insert",
        "insert one conversation",
        lambda t, i: conversation(_cid(t, i), _ms(t, i), {"user": f"u{i % 7}", "tag": "a"}),
        lambda impl, a: impl.insert_conversation(a),
    ),
    Op("get", "get conversation by key", _cid, lambda impl, a: impl.get_conversation(a)),
    Op(
        "list_p1",
        "list 20 items, page 1",
        lambda t, i: LIST_CONV,
        lambda impl, a: impl.list_items(a, None),
    ),
    Op(
        "list_p2",
        "list 20 items, page 2 (cursor)",
        lambda t, i: LIST_CONV,
        lambda impl, a: impl.list_items(a, impl.cursor2),
    ),
    Op(
        "insert_many_10",
        "insert_many(10 items)",
        lambda t, i: _batch(t, i, "m"),
        lambda impl, a: impl.insert_items(a),
    ),
    Op(
        "insert_loop_10",
        "10 single item inserts, one tx",
        lambda t, i: _batch(t, i, "l"),
        lambda impl, a: impl.insert_items_loop(a),
    ),
    Op(
        "update",
        "update metadata by key",
        lambda t, i: (_cid(t, i), {"user": f"u{i % 7}", "tag": "updated"}),
        lambda impl, a: impl.update_metadata(*a),
    ),
    Op(
        "upsert",
        "upsert conversation (exists)",
        lambda t, i: conversation(_cid(t, i), _ms(t, i), {"user": f"u{i % 7}", "tag": "upserted"}),
        lambda impl, a: impl.upsert_conversation(a),
    ),
    Op(
        "count",
        "count items of a conversation",
        lambda t, i: LIST_CONV,
        lambda impl, a: impl.count_items(a),
    ),
    Op("delete", "delete conversation by key", _cid, lambda impl, a: impl.delete_conversation(a)),
)


def same(op: str, a: Any, b: Any) -> bool:
    """Whether two implementations returned the same result for ``op``."""
    if op.startswith("list"):
        return bool(a[0] == b[0] and (a[1] is None) == (b[1] is None))
    if op == "upsert":
        inserted_a, inserted_b = a[1], b[1]
        if inserted_a is not None and inserted_b is not None and inserted_a != inserted_b:
            return False
        return bool(a[0] == b[0])
    return bool(a == b)
