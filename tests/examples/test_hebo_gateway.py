"""hebo-gateway's own storage tests, ported: the acceptance bar of the first real client.

They run unchanged on every adapter the ``adapter`` fixture provides.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from hebo_gateway import AsyncConversationStorage, ConversationStorage
from hebo_gateway.models import PARTITIONED_SCHEMA, SCHEMA

from noorm.adapters.threaded import ThreadedAdapter
from noorm.kit import AsyncStore, Store
from noorm.spec import Adapter, Capability, DuplicateKeyError, Schema


class Blocking:
    """An async object's coroutine methods, called from sync test code: each call runs
    as a task of its own on an event loop thread (one per object)."""

    def __init__(self, target: object) -> None:
        self._target = target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            coroutine = attribute(*args, **kwargs)
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

        return call

    def run(self, coroutine: Any) -> Any:
        """``coroutine`` run on this object's loop."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def shut(self, adapter: Any) -> None:
        """Close ``adapter`` (an async one) on the loop, then stop the loop."""
        asyncio.run_coroutine_threadsafe(adapter.close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@pytest.fixture(params=["sync", "async"])
def door(request: pytest.FixtureRequest) -> str:
    """Both doors: Store, and AsyncStore (the async storage) on the adapter's async door."""
    kind: str = request.param
    return kind


@pytest.fixture(params=[SCHEMA, PARTITIONED_SCHEMA], ids=["plain", "partitioned"])
def storage(
    adapter: Adapter, door: str, request: pytest.FixtureRequest
) -> Iterator[ConversationStorage]:
    """Every test on both forms of the schema: partitioning changes no result (PART-3).
    On the async door the test calls the async storage through :class:`Blocking`."""
    schema: Schema = request.param
    if door == "sync":
        s = ConversationStorage(Store(schema, adapter))
        s.bootstrap()
        yield s
        return
    door_adapter = async_door(adapter)
    blocking = Blocking(AsyncConversationStorage(AsyncStore(schema, door_adapter)))
    if hasattr(door_adapter, "connect"):  # a native door: connects on the storage's loop
        blocking.run(door_adapter.connect())
    blocking.bootstrap()
    yield cast(ConversationStorage, blocking)
    blocking.shut(door_adapter)


def async_door(adapter: Adapter) -> Any:
    """The async door on ``adapter``'s database: PostgreSQL's native adapter for the
    postgres target, the adapter on worker threads for the others."""
    kind = type(adapter).__name__
    if kind == "DroppingPostgresAdapter":  # the postgres target
        from noorm.adapters.postgres import AsyncPostgresAdapter

        schema = cast(Any, adapter).schema
        return AsyncPostgresAdapter(os.environ["NOORM_POSTGRES_URL"], schema=schema)
    if kind == "DroppingMySQLAdapter":  # the mysql target
        from noorm.adapters.mysql import AsyncMySQLAdapter

        server = urlsplit(os.environ["NOORM_MYSQL_URL"])
        url = server._replace(path="/" + cast(Any, adapter).database).geturl()
        return AsyncMySQLAdapter(url, max_connections=2)
    if kind == "DroppingMongoAdapter":  # the mongodb target (non-atomic blocks, as its sync)
        from noorm.adapters.mongodb import AsyncMongoAdapter

        database = cast(Any, adapter).database_name
        url = os.environ["NOORM_MONGODB_URL"]
        return AsyncMongoAdapter(url, database, allow_non_atomic_transactions=True)
    return ThreadedAdapter(adapter, threads=2)


def test_full_lifecycle(storage: ConversationStorage) -> None:
    conv = storage.create_conversation(metadata={"foo": "bar"})
    cid = conv["id"]
    added = storage.add_items(
        cid,
        [
            {"id": "item-1", "type": "message", "role": "user", "content": "hello"},
            {"id": "item-2", "type": "message", "role": "assistant", "content": "hi"},
            {"id": "item-3", "type": "message", "role": "user", "content": "bye"},
        ],
    )
    assert added is not None and [i["id"] for i in added] == ["item-1", "item-2", "item-3"]

    item = storage.get_item(cid, "item-1")
    assert item is not None
    assert item["content"] == "hello" and item["role"] == "user" and item["type"] == "message"

    ascending = storage.list_items(cid, order="asc")
    assert ascending is not None and len(ascending) == 3 and ascending[0]["id"] == "item-1"
    page = storage.list_items(cid, order="asc", after="item-1", limit=2)
    assert page is not None and [i["id"] for i in page] == ["item-2", "item-3"]
    descending = storage.list_items(cid, order="desc")
    assert descending is not None and descending[0]["id"] == "item-3"

    after_delete = storage.delete_item(cid, "item-2")
    assert after_delete is not None and after_delete["id"] == cid
    remaining = storage.list_items(cid)
    assert remaining is not None and [i["id"] for i in remaining] == ["item-3", "item-1"]

    assert storage.delete_conversation(cid) == {"id": cid, "deleted": True}
    assert storage.get_conversation(cid) is None
    assert storage.delete_conversation(cid) == {"id": cid, "deleted": False}


def test_list_items_after_unknown_id_is_empty(storage: ConversationStorage) -> None:
    cid = storage.create_conversation()["id"]
    storage.add_items(cid, [{"id": "a", "type": "message"}])
    assert storage.list_items(cid, after="does-not-exist") == []


def test_list_items_of_unknown_conversation_is_none(storage: ConversationStorage) -> None:
    assert storage.list_items("nope") is None
    assert storage.add_items("nope", [{"type": "message"}]) is None


def test_metadata_null_and_empty(storage: ConversationStorage) -> None:
    given_none = storage.create_conversation(metadata=None)
    not_given = storage.create_conversation()
    for conv in (given_none, not_given):
        fetched = storage.get_conversation(conv["id"])
        assert fetched is not None and fetched["metadata"] is None
    cid = not_given["id"]
    updated = storage.update_conversation(cid, {"a": "b"})
    assert updated is not None and updated["metadata"] == {"a": "b"}
    assert storage.update_conversation(cid, None) is not None
    fetched = storage.get_conversation(cid)
    assert fetched is not None and fetched["metadata"] is None
    storage.update_conversation(cid, {})
    fetched = storage.get_conversation(cid)
    assert fetched is not None and fetched["metadata"] == {}
    assert fetched["created_at"] == not_given["created_at"]
    assert storage.update_conversation("missing", {"a": "b"}) is None
    assert storage.get_conversation("missing") is None


def test_list_conversations_filters_orders_and_pages(storage: ConversationStorage) -> None:
    c1 = storage.create_conversation(metadata={"user": "1", "tag": "a"})["id"]
    c2 = storage.create_conversation(metadata={"user": "1", "tag": "b"})["id"]
    c3 = storage.create_conversation(metadata={"user": "2", "tag": "a"})["id"]

    assert [c["id"] for c in storage.list_conversations()] == [c3, c2, c1]
    assert {c["id"] for c in storage.list_conversations(metadata={"user": "1"})} == {c1, c2}
    assert [c["id"] for c in storage.list_conversations(metadata={"user": "1", "tag": "a"})] == [c1]
    assert [c["id"] for c in storage.list_conversations(order="asc", limit=1)] == [c1]
    assert [c["id"] for c in storage.list_conversations(order="asc", limit=1, after=c1)] == [c2]
    assert [
        c["id"] for c in storage.list_conversations(order="desc", limit=1, metadata={"user": "1"})
    ] == [c2]
    assert storage.list_conversations(after="unknown") == []


def test_metadata_key_with_a_quote(storage: ConversationStorage) -> None:
    cid = storage.create_conversation(metadata={"foo'bar": "baz"})["id"]
    storage.create_conversation(metadata={"foo": "baz"})
    found = storage.list_conversations(metadata={"foo'bar": "baz"})
    assert [c["id"] for c in found] == [cid]
    assert found[0]["metadata"] == {"foo'bar": "baz"}


def test_create_with_items_uses_a_nested_transaction(storage: ConversationStorage) -> None:
    conv = storage.create_conversation(
        metadata=None, items=[{"id": "first", "type": "message", "content": "x"}]
    )
    item = storage.get_item(conv["id"], "first")
    assert item is not None and item["content"] == "x"
    listed = storage.list_items(conv["id"])
    assert listed is not None and [i["id"] for i in listed] == ["first"]


def test_failed_item_batch_rolls_back_the_whole_create(
    storage: ConversationStorage, adapter: Adapter
) -> None:
    if Capability.TRANSACTIONS not in adapter.capabilities:
        pytest.skip(f"{adapter.name} lacks capability transactions: create is not atomic there")
    with pytest.raises(DuplicateKeyError):
        storage.create_conversation(
            metadata={"k": "v"},
            items=[{"id": "dup", "type": "message"}, {"id": "dup", "type": "message"}],
        )
    assert storage.list_conversations() == []


def test_the_storage_needs_transactions_but_no_savepoints() -> None:
    """A backend with transactions and no savepoints (a MongoDB replica set) runs every
    operation: the storage joins the caller's transaction instead of nesting one."""
    from noorm.adapters.memory import MemoryAdapter

    adapter = MemoryAdapter()
    adapter.capabilities = adapter.capabilities - {Capability.SAVEPOINTS}
    storage = ConversationStorage(Store(SCHEMA, adapter, cursor_key=b"k" * 32))
    storage.bootstrap()
    created = storage.create_conversation({"user": "1"}, [{"type": "message", "text": "hi"}])
    listed = storage.list_items(created["id"])
    assert listed is not None and [i["text"] for i in listed] == ["hi"]
    added = storage.add_items(created["id"], [{"text": "again"}])
    assert added is not None and len(added) == 1
    with pytest.raises(DuplicateKeyError):  # all or nothing, in the joined transaction
        storage.add_items(created["id"], [{"id": "x"}, {"id": "x"}])
    assert len(storage.list_items(created["id"]) or []) == 2
