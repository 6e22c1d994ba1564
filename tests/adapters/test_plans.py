"""Plan shapes (issue 8): hebo's item list reads an index range, in order, on every SQL backend.

The list is hebo-gateway's: the items of one conversation, newest first, 20 a page, and
a deep page reached by following cursors. The statements are the ones the store really
runs (captured from the adapter), explained by each server: SQLite's ``EXPLAIN QUERY
PLAN``, PostgreSQL's ``EXPLAIN (FORMAT JSON)`` after ``ANALYZE``, MariaDB's
``EXPLAIN FORMAT=JSON``. The tests assert the plan's shape (which index, no full scan,
no sort), never a time.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from noorm.adapters.sql import Compiled, SQLAdapter
from noorm.adapters.sqlite import SQLiteAdapter
from noorm.kit import Store
from noorm.spec import desc

EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)

from hebo_gateway.models import (  # noqa: E402
    SCHEMA,
    ConversationRow,
    ItemRow,
    conversation_items,
    conversations,
)

INDEX = "conversation_items_conversation_created_at"
LISTED = "conv-listed"
ITEMS = 1_500
"""Items of the listed conversation; as many again belong to 30 others."""
DEEP = 40
"""The deep page: the 41st, 800 items in."""
ORDER = (desc("created_at"), desc("id"))
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def item(conversation: str, n: int) -> ItemRow:
    return ItemRow(
        id=f"item-{n:05d}",
        conversation_id=conversation,
        created_at=BASE + timedelta(seconds=n),
        type="message",
        data={"role": "user", "content": [{"type": "input_text", "text": f"message {n}"}]},
    )


def seeded(adapter: SQLAdapter[Any]) -> Store:
    store = Store(SCHEMA, adapter)
    store.bootstrap()
    others = [f"conv-{c:02d}" for c in range(30)]
    for cid in [LISTED, *others]:
        store.insert(conversations, ConversationRow(id=cid, created_at=BASE, metadata=None))
    rows = [item(LISTED, n) for n in range(ITEMS)]
    rows += [item(cid, n) for cid in others for n in range(ITEMS // len(others))]
    for start in range(0, len(rows), 500):
        store.insert_many(conversation_items, rows[start : start + 500])
    return store


def captured(adapter: SQLAdapter[Any]) -> list[Compiled]:
    """Every statement the adapter reads with from now on (an instance-level spy)."""
    seen: list[Compiled] = []
    query = adapter._query

    def spy(session: Any, compiled: Compiled, model: str | None, *rest: Any) -> Any:
        seen.append(compiled)
        return query(session, compiled, model, *rest)

    adapter._query = spy  # type: ignore[method-assign, assignment]
    return seen


def list_statements(store: Store) -> tuple[Compiled, Compiled]:
    """The SELECTs of the first page and of the deep page of the listed conversation."""
    seen = captured(store.adapter)  # type: ignore[arg-type]
    where = {"conversation_id": LISTED}
    page = store.find(conversation_items, where, order_by=ORDER, limit=20)
    first = seen[-1]
    for _ in range(DEEP):
        assert page.next_cursor is not None
        page = store.find(
            conversation_items, where, order_by=ORDER, limit=20, cursor=page.next_cursor
        )
    assert [row["id"] for row in page.rows] == [
        f"item-{n:05d}" for n in range(ITEMS - 1 - DEEP * 20, ITEMS - 1 - DEEP * 20 - 20, -1)
    ]
    return first, seen[-1]


def run(adapter: SQLAdapter[Any], sql: str, params: list[Any]) -> Any:
    with adapter._free_session(None) as session:
        return adapter._query(session, Compiled(sql, params), None)


def command(adapter: SQLAdapter[Any], sql: str) -> None:
    with adapter._free_session(None) as session:
        adapter._command(session, Compiled(sql, []), None)


# --- SQLite ----------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "file"])
def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    adapter = SQLiteAdapter(":memory:" if request.param == "memory" else tmp_path / "p.sqlite3")
    yield seeded(adapter)
    adapter.close()


def test_sqlite_lists_an_index_range_in_order(sqlite_store: Store) -> None:
    adapter = sqlite_store.adapter
    assert isinstance(adapter, SQLiteAdapter)
    command(adapter, "ANALYZE")
    first, deep = list_statements(sqlite_store)
    for statement, bounds in (
        (first, "(conversation_id=?)"),
        (deep, "(conversation_id=? AND created_at<?)"),
    ):
        explained = run(adapter, "EXPLAIN QUERY PLAN " + statement.sql, statement.params)
        plan = [str(row[3]) for row in explained]
        # One step, an index search: no SCAN, no temp B-tree for ORDER BY, no subquery.
        # On the deep page the cursor bounds the range, not only a filter.
        assert plan == [f"SEARCH main.conversation_items USING INDEX {INDEX} {bounds}"], plan


# --- PostgreSQL ------------------------------------------------------------------------------------


def _postgres() -> Any:
    if not os.environ.get("NOORM_POSTGRES_URL"):
        pytest.skip('no PostgreSQL server: set NOORM_POSTGRES_URL (eval "$(ci/services)")')
    from noorm.adapters.postgres.testing import ConformanceFactory

    return ConformanceFactory()()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def test_postgres_lists_an_index_range_in_order() -> None:
    """After ANALYZE the planner picks the index on its own (no ``enable_seqscan``)."""
    adapter = _postgres()
    try:
        store = seeded(adapter)
        command(adapter, f"ANALYZE {adapter.dialect.table_name('conversation_items')}")
        first, deep = list_statements(store)
        for statement in (first, deep):
            ((document,),) = run(
                adapter, "EXPLAIN (FORMAT JSON) " + statement.sql, statement.params
            )
            if isinstance(document, str):
                document = json.loads(document)
            nodes = list(_nodes(document[0]["Plan"]))
            kinds = [node["Node Type"] for node in nodes]
            assert "Seq Scan" not in kinds and "Sort" not in kinds, kinds
            (scan,) = [n for n in nodes if n["Node Type"] in ("Index Scan", "Index Only Scan")]
            assert scan["Index Name"] == INDEX, scan
            assert "conversation_id" in scan["Index Cond"], scan
        assert "created_at <=" in scan["Index Cond"], scan  # the cursor starts the range
    finally:
        adapter.close()


# --- MariaDB -----------------------------------------------------------------------------------------


def _mysql() -> Any:
    if not os.environ.get("NOORM_MYSQL_URL"):
        pytest.skip('no MySQL/MariaDB server: set NOORM_MYSQL_URL (eval "$(ci/services)")')
    from noorm.adapters.mysql.testing import ConformanceFactory

    return ConformanceFactory()()


def _explained(sql: str) -> str:
    """``EXPLAIN FORMAT=JSON`` of ``sql``; a ``SET STATEMENT ... FOR`` prefix stays in front."""
    head, found, tail = sql.partition(" FOR SELECT ")
    if found:
        return f"{head} FOR EXPLAIN FORMAT=JSON SELECT {tail}"
    return "EXPLAIN FORMAT=JSON " + sql


def test_mariadb_lists_an_index_range_in_order() -> None:
    """No filesort (ORDER BY leaves out the key field the filter fixes: docs/performance.md
    item 1), and the deep page is a range that starts at the cursor. Without the
    adapter's FORCE INDEX, MariaDB 10.11 reads this index with ``ref`` on the
    conversation and tests the cursor bound on every entry before it (821 here)."""
    adapter = _mysql()
    try:
        store = seeded(adapter)
        run(adapter, "ANALYZE TABLE `conversation_items`", [])
        first, deep = list_statements(store)
        for statement, access in ((first, "ref"), (deep, "range")):
            ((text,),) = run(adapter, _explained(statement.sql), statement.params)
            assert "filesort" not in text and "temporary" not in text, text
            (step,) = json.loads(text)["query_block"]["nested_loop"]
            assert step["table"]["key"] == INDEX, text
            assert step["table"]["access_type"] == access, text
            # What the server really read: about 21 index entries, however deep the page.
            command(adapter, "FLUSH STATUS")
            run(adapter, statement.sql, statement.params)
            status = {
                k: int(v) for k, v in run(adapter, "SHOW SESSION STATUS LIKE 'Handler_%'", [])
            }
            assert status["Handler_read_next"] + status["Handler_read_prev"] <= 21, status
            assert status["Handler_icp_attempts"] <= 21, status
    finally:
        adapter.close()
