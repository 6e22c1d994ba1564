"""hebo-gateway partitioned on Citus gives, step by step, what it gives on plain PostgreSQL.

The same scripted session (every one of the nine storage operations, errors included)
runs on plain PostgreSQL with the plain schema and on a Citus coordinator with
``PARTITIONED_SCHEMA`` (conversations distributed by ``id``, items by
``conversation_id``, colocated). Ids and clock are deterministic, so the two traces must
be equal, error messages (with the constraint they name) included. Needs
``NOORM_CITUS_URL`` (``ci/citus``) and ``NOORM_POSTGRES_URL`` (``ci/services``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hebo_gateway import ConversationStorage
from hebo_gateway import storage as storage_module
from hebo_gateway.models import PARTITIONED_SCHEMA, SCHEMA

from noorm.adapters.postgres.adapter import PostgresAdapter
from noorm.adapters.postgres.testing import CITUS_URL_ENV, URL_ENV, ConformanceFactory
from noorm.kit import Store
from noorm.spec import NoOrmError, Schema

pytestmark = pytest.mark.skipif(
    not (os.environ.get(CITUS_URL_ENV) and os.environ.get(URL_ENV)),
    reason=f"needs {CITUS_URL_ENV} (ci/citus) and {URL_ENV} (ci/services)",
)

Step = tuple[str, Callable[[ConversationStorage], Any]]


def _steps() -> list[Step]:
    ids: dict[str, str] = {}

    def new(name: str) -> Callable[[ConversationStorage], Any]:
        def create(s: ConversationStorage) -> Any:
            meta = {"team": name[0], "n": name}
            items = [{"id": f"{name}-0", "type": "message", "content": name}]
            conv = s.create_conversation(metadata=meta, items=items if name != "c" else ())
            ids[name] = conv["id"]
            return conv

        return create

    def cid(name: str) -> str:
        return ids[name]

    steps: list[Step] = [(f"create {n}", new(n)) for n in ("a", "b", "c", "d", "e")]
    steps += [
        ("get a", lambda s: s.get_conversation(cid("a"))),
        ("get missing", lambda s: s.get_conversation("missing")),
        ("list", lambda s: s.list_conversations()),
        ("list asc 2", lambda s: s.list_conversations(limit=2, order="asc")),
        ("list after b", lambda s: s.list_conversations(after=cid("b"))),
        ("list asc after b", lambda s: s.list_conversations(order="asc", after=cid("b"))),
        ("list by metadata", lambda s: s.list_conversations(metadata={"team": "c"})),
        ("update a", lambda s: s.update_conversation(cid("a"), {"team": "z"})),
        ("update a to null", lambda s: s.update_conversation(cid("b"), None)),
        ("update missing", lambda s: s.update_conversation("missing", {"x": "y"})),
        ("list by new metadata", lambda s: s.list_conversations(metadata={"team": "z"})),
        (
            "add items",
            lambda s: s.add_items(cid("a"), [{"id": f"i{k}", "k": k} for k in range(12)]),
        ),
        ("add to missing", lambda s: s.add_items("missing", [{"id": "x"}])),
        ("add a duplicate", lambda s: s.add_items(cid("a"), [{"id": "new"}, {"id": "i3"}])),
        ("same item id elsewhere", lambda s: s.add_items(cid("b"), [{"id": "i3"}])),
        ("get item", lambda s: s.get_item(cid("a"), "i4")),
        ("get item of another", lambda s: s.get_item(cid("b"), "i4")),
        ("items", lambda s: s.list_items(cid("a"))),
        ("items asc 5", lambda s: s.list_items(cid("a"), limit=5, order="asc")),
        ("items after i7", lambda s: s.list_items(cid("a"), after="i7")),
        ("items asc after i7", lambda s: s.list_items(cid("a"), order="asc", after="i7")),
        ("items after unknown", lambda s: s.list_items(cid("a"), after="nope")),
        ("items of missing", lambda s: s.list_items("missing")),
        ("delete item", lambda s: s.delete_item(cid("a"), "i5")),
        ("delete item again", lambda s: s.delete_item(cid("a"), "i5")),
        ("delete item of missing", lambda s: s.delete_item("missing", "i5")),
        ("items after delete", lambda s: s.list_items(cid("a"), order="asc")),
        ("delete b", lambda s: s.delete_conversation(cid("b"))),
        ("delete b again", lambda s: s.delete_conversation(cid("b"))),
        ("b is gone", lambda s: s.get_conversation(cid("b"))),
        ("b's items are gone", lambda s: s.get_item(cid("b"), "i3")),
        ("list at the end", lambda s: s.list_conversations(order="asc", limit=100)),
    ]
    return steps


@pytest.fixture
def deterministic(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Ids and clock that restart on every call, so both runs see the same values."""

    def reset() -> None:
        counter = itertools.count()
        clock = itertools.count()
        t0 = datetime(2025, 1, 1, tzinfo=UTC)
        monkeypatch.setattr(storage_module, "uuid7", lambda: f"id-{next(counter):04}")
        monkeypatch.setattr(storage_module, "_now", lambda: t0 + timedelta(seconds=next(clock)))

    yield reset


def _trace(url_env: str, schema: Schema) -> list[tuple[str, Any]]:
    adapter = ConformanceFactory(url_env)()
    try:
        storage = ConversationStorage(Store(schema, adapter))
        storage.bootstrap()
        trace: list[tuple[str, Any]] = []
        for name, step in _steps():
            try:
                trace.append((name, step(storage)))
            except NoOrmError as exc:
                assert isinstance(adapter, PostgresAdapter)
                message = str(exc).replace(adapter.schema, "<schema>")
                trace.append((name, (type(exc).__name__, exc.model, message)))
        return trace
    finally:
        adapter.close()


def test_hebo_partitioned_on_citus_equals_plain_postgres(
    deterministic: Callable[[], None],
) -> None:
    deterministic()
    plain = _trace(URL_ENV, SCHEMA)
    deterministic()
    citus = _trace(CITUS_URL_ENV, PARTITIONED_SCHEMA)
    assert [name for name, _ in citus] == [name for name, _ in plain]
    differences = [
        (name, got, want)
        for (name, got), (_, want) in zip(citus, plain, strict=True)
        if got != want
    ]
    assert not differences, differences
    assert len(plain) == 37
    duplicate = dict(plain)["add a duplicate"]
    assert duplicate[0] == "DuplicateKeyError" and "conversation_items_pkey" in duplicate[2]


def test_the_partitioned_tables_are_distributed_and_colocated() -> None:
    adapter = ConformanceFactory(CITUS_URL_ENV)()
    try:
        assert isinstance(adapter, PostgresAdapter)
        assert adapter.citus_version()
        Store(PARTITIONED_SCHEMA, adapter).bootstrap()
        with adapter.session() as session:
            rows = session.conn.execute(
                "SELECT c.relname, p.partmethod, "
                "column_to_column_name(p.logicalrelid, p.partkey), p.colocationid "
                "FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                "ORDER BY c.relname",
                [adapter.schema],
            ).fetchall()
        (items, i_method, i_column, i_group), (convs, c_method, c_column, c_group) = rows
        assert (items, i_method, i_column) == ("conversation_items", "h", "conversation_id")
        assert (convs, c_method, c_column) == ("conversations", "h", "id")
        assert i_group == c_group
        # Bootstrapping the plain schema over them is a mismatch (PART-4), naming the model.
        with pytest.raises(NoOrmError) as caught:
            Store(SCHEMA, adapter).bootstrap()
        assert caught.value.model in ("conversations", "conversation_items")
    finally:
        adapter.close()
