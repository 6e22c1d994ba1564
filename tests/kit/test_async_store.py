"""The async door: AsyncStore on a ThreadedAdapter behaves as Store on the adapter.

One scenario (hooks, scopes, cursors, transactions, savepoints, errors, observability)
runs through both doors on fresh databases of each backend, and every result, event and
error must be the same. The rest is what only the async door has: tasks own
transactions, cancellation rolls back, lanes are bounded and freed.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from noorm.adapters.memory import MemoryAdapter
from noorm.adapters.threaded import ThreadedAdapter
from noorm.conformance.targets import TARGETS
from noorm.kit import AsyncStore, QueryEvent, Store, TenantScope
from noorm.spec import (
    ALL,
    Adapter,
    AsyncAdapter,
    BackendError,
    Capability,
    DuplicateKeyError,
    InvalidCursorError,
    ValidationError,
    desc,
    gt,
)
from noorm.spec.operations import Count

from .test_store import NOTES

KEY = b"k" * 32


def _factory(name: str) -> Callable[[], Adapter]:
    target = TARGETS[name]
    if target.url_env is not None and not os.environ.get(target.url_env):
        pytest.skip(f'{name}: set {target.url_env} (eval "$(ci/services)" starts a server)')
    return target.load()


BACKENDS = ["memory", "sqlite", "postgres", "mysql", "mongodb"]


class SyncAsAsync:
    """Store's methods as coroutines, so one async scenario drives both doors."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def bind(self, **context: Any) -> SyncAsAsync:
        return SyncAsAsync(self._store.bind(**context))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SyncAsAsync]:
        with self._store.transaction() as tx:
            yield SyncAsAsync(tx)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


async def scenario(store: Any, transactions: bool) -> list[Any]:
    """Everything a host does, logged: results, and errors by type, model and field."""
    log: list[Any] = []

    async def step(call: Awaitable[Any]) -> None:
        try:
            log.append(await call)
        except Exception as exc:  # the error is part of the outcome
            log.append(
                (type(exc).__name__, getattr(exc, "model", None), getattr(exc, "field", None))
            )

    await store.bootstrap()
    acme, other = store.bind(tenant_id="acme"), store.bind(tenant_id="other")
    await step(acme.insert(NOTES, {"id": "a", "body": "first", "score": 1.0}))
    await step(
        acme.insert_many(NOTES, [{"id": f"n{i}", "body": f"b{i}", "score": i} for i in range(7)])
    )
    await step(other.insert(NOTES, {"id": "o", "body": "theirs", "score": None}))
    await step(acme.insert(NOTES, {"id": "a", "body": "again"}))  # duplicate key
    await step(acme.insert(NOTES, {"id": "x" * 11, "body": "long"}))  # too long: no I/O
    await step(acme.insert(NOTES, {"id": "y", "body": 3}))  # wrong type
    await step(acme.get(NOTES, {"id": "a"}))
    await step(acme.get(NOTES, {"id": "o"}))  # another tenant's row: invisible
    await step(acme.count(NOTES))
    await step(other.count(NOTES))
    page = await acme.find(NOTES, gt("score", 1), order_by=[desc("score")], limit=3)
    log.append(page.rows)
    while page.next_cursor is not None:
        page = await acme.find(
            NOTES, gt("score", 1), order_by=[desc("score")], limit=3, cursor=page.next_cursor
        )
        log.append(page.rows)
    await step(acme.find(NOTES, order_by="id", after={"id": "n2"}, limit=2))
    await step(acme.find(NOTES, cursor="not-a-cursor"))
    await step(acme.update(NOTES, {"body": "changed"}, key={"id": "a"}))
    await step(acme.update(NOTES, {"body": "nope"}, key={"id": "o"}))  # out of scope: 0
    await step(acme.update(NOTES, {"body": "all"}, where={}))  # refused
    await step(acme.upsert(NOTES, {"id": "a", "body": "upserted", "score": 9.0}, update=["body"]))
    await step(acme.upsert(NOTES, {"id": "u", "body": "new"}, update=["body"]))
    await step(acme.upsert(NOTES, {"id": "o", "body": "steal"}, update=["body"]))  # other scope
    await step(acme.delete(NOTES, key={"id": "n0"}))
    if transactions:
        try:
            async with acme.transaction() as tx:
                await tx.insert(NOTES, {"id": "t1", "body": "kept?"})
                raise RuntimeError("roll back")
        except RuntimeError:
            log.append("rolled back")
        async with acme.transaction() as tx:
            await tx.insert(NOTES, {"id": "t2", "body": "kept"})
            try:
                async with tx.transaction() as sp:
                    await sp.insert(NOTES, {"id": "t3", "body": "savepoint"})
                    await sp.insert(NOTES, {"id": "t2", "body": "dup"})
            except DuplicateKeyError:
                log.append("savepoint rolled back")
            await step(tx.get(NOTES, {"id": "t3"}))
            await step(acme.get(NOTES, {"id": "a"}))  # the outer store inside its transaction
    await step(acme.find(NOTES, order_by="id"))
    await step(store.count(NOTES, where=ALL))
    await step(acme.delete(NOTES, where=ALL))
    return log


def _events(events: list[QueryEvent]) -> list[tuple[Any, ...]]:
    """The events, with each fresh database's generated name masked."""

    def mask(text: str | None) -> str | None:
        return None if text is None else re.sub(r"noorm_test_[0-9a-f]+", "DB", text)

    return [
        (
            e.operation,
            e.model,
            mask(e.statement),
            tuple(map(mask, e.statements)),
            e.rows,
            type(e.error).__name__,
        )
        for e in events
    ]


def _native(backend: str) -> Callable[[], Awaitable[AsyncAdapter]]:
    """The native async door of ``backend`` (made inside the caller's event loop, on a
    pool of its own), for the tests that also run it beside the threaded one."""
    assert backend in ("postgres", "mysql", "mongodb")
    _factory(backend)  # skips without a server
    if backend == "mongodb":
        from noorm.adapters.mongodb.testing import DroppingAsyncMongoAdapter

        async def mongodb() -> AsyncAdapter:
            url = os.environ["NOORM_MONGODB_URL"]
            return DroppingAsyncMongoAdapter(url, f"noorm_test_{uuid.uuid4().hex}")

        return mongodb
    if backend == "mysql":
        from noorm.adapters.mysql.testing import async_conformance_factory

        return async_conformance_factory
    from noorm.adapters.postgres.testing import DroppingAsyncPostgresAdapter

    async def make() -> AsyncAdapter:
        schema = f"noorm_test_{uuid.uuid4().hex}"
        url = os.environ["NOORM_POSTGRES_URL"]
        return DroppingAsyncPostgresAdapter(url, schema=schema, max_connections=4)

    return make


@pytest.mark.parametrize(
    ("backend", "door"),
    [(b, "threaded") for b in BACKENDS] + [("postgres", "native"), ("mongodb", "native")],
)
def test_both_doors_give_the_same_results_events_and_errors(backend: str, door: str) -> None:
    factory = _factory(backend)
    sync_events: list[QueryEvent] = []
    async_events: list[QueryEvent] = []
    plugins = [TenantScope()]
    sync_adapter = factory()
    try:
        transactions = Capability.TRANSACTIONS in sync_adapter.capabilities
        store = Store(
            [NOTES], sync_adapter, plugins=plugins, cursor_key=KEY, on_query=sync_events.append
        )
        expected = asyncio.run(scenario(SyncAsAsync(store), transactions))
    finally:
        sync_adapter.close()

    async def on_async_door() -> list[Any]:
        adapter: AsyncAdapter = (
            await _native(backend)() if door == "native" else ThreadedAdapter(factory(), threads=3)
        )
        try:
            store = AsyncStore(
                [NOTES], adapter, plugins=plugins, cursor_key=KEY, on_query=async_events.append
            )
            return await scenario(store, transactions)
        finally:
            await adapter.close()

    got = asyncio.run(on_async_door())
    assert got == expected
    assert _events(async_events) == _events(sync_events)
    assert ("ValidationError", "notes", "id") in got  # the scenario did reach its errors
    assert ("DuplicateKeyError", "notes", None) in got


# --- what only the async door has ------------------------------------------------------------


@pytest.fixture(params=["threaded", "native-postgres", "native-mysql"])
def door(request: pytest.FixtureRequest) -> Callable[[], Awaitable[AsyncAdapter]]:
    """An async adapter maker: the threaded door on memory, or a server's native one."""
    if request.param.startswith("native-"):
        return _native(request.param.removeprefix("native-"))

    async def make() -> AsyncAdapter:
        return ThreadedAdapter(MemoryAdapter(), threads=2)

    return make


@pytest.fixture
def threaded() -> Iterator[ThreadedAdapter]:
    made = ThreadedAdapter(MemoryAdapter(), threads=2)
    yield made
    asyncio.run(made.close())


def _store(adapter: Any) -> AsyncStore:
    return AsyncStore([NOTES], adapter, cursor_key=KEY)


def test_a_transaction_belongs_to_its_task(door: Callable[[], Awaitable[AsyncAdapter]]) -> None:
    async def main() -> None:
        adapter = await door()
        store = _store(adapter)
        await store.bootstrap()
        async with store.transaction() as tx:
            await tx.insert(NOTES, {"id": "a", "body": "x"})
            with pytest.raises(ValidationError, match="task is inside `async with store"):
                await store.get(NOTES, {"id": "a"})  # the outer store, same task
            with pytest.raises(BackendError, match="task"):
                await adapter.execute(Count(NOTES, None))  # the adapter itself, same task
            with pytest.raises(BackendError, match="task"):
                await adapter.bootstrap(store.schema)
            with pytest.raises(BackendError, match="belongs to the task"):
                await asyncio.create_task(tx.get(NOTES, {"id": "a"}))  # another task
            # Another task may use the outer store: on memory it waits for the
            # transaction, on a server it runs beside it and sees nothing uncommitted.
            other = asyncio.create_task(store.count(NOTES))
            await asyncio.sleep(0.05)
            if isinstance(adapter, ThreadedAdapter):
                assert not other.done()
            else:
                assert await other == 0
        assert await other == 1 or not isinstance(adapter, ThreadedAdapter)
        assert await store.count(NOTES) == 1
        with pytest.raises(BackendError, match="has ended"):
            await tx.get(NOTES, {"id": "a"})
        await adapter.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    "backend", ["memory", "sqlite", "postgres", "mysql", "postgres-native", "mysql-native"]
)
def test_concurrent_read_modify_write_tasks_lose_no_update(backend: str) -> None:
    """ISO-2 through the async door: 40 tasks each add 1 under a locking read."""
    native = _native(backend.removesuffix("-native")) if backend.endswith("-native") else None
    adapter = None if native else _factory(backend)()

    async def main() -> float:
        threaded = await native() if native else ThreadedAdapter(adapter, threads=4)  # type: ignore[arg-type]
        store = _store(threaded)
        await store.bootstrap()
        await store.insert(NOTES, {"id": "c", "body": "counter", "score": 0})

        async def bump() -> None:
            async with store.transaction() as tx:
                row = await tx.get(NOTES, {"id": "c"}, for_update=True)
                assert row is not None
                await tx.update(NOTES, {"score": row["score"] + 1}, key={"id": "c"})

        await asyncio.gather(*(bump() for _ in range(40)))
        row = await store.get(NOTES, {"id": "c"})
        await threaded.close()
        assert row is not None
        return float(row["score"])

    assert asyncio.run(main()) == 40


def test_a_cancelled_transaction_is_rolled_back_and_frees_its_lane(
    door: Callable[[], Awaitable[AsyncAdapter]],
) -> None:
    async def main() -> None:
        adapter = await door()
        store = _store(adapter)
        await store.bootstrap()
        started = asyncio.Event()

        async def writer() -> None:
            async with store.transaction() as tx:
                await tx.insert(NOTES, {"id": "w", "body": "uncommitted"})
                started.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(writer())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.get(NOTES, {"id": "w"}) is None

        # Both lanes serve again: two transactions at once, then plain calls.
        async def one(n: int) -> None:
            async with store.transaction() as tx:
                await tx.insert(NOTES, {"id": f"k{n}", "body": "ok"})

        await asyncio.gather(*(one(n) for n in range(6)))
        assert await store.count(NOTES) == 6
        await adapter.close()

    asyncio.run(main())


def test_calls_beyond_the_lanes_wait_and_cancelled_waiters_give_way(
    threaded: ThreadedAdapter,
) -> None:
    async def main() -> None:
        store = _store(threaded)
        await store.bootstrap()
        await store.insert_many(NOTES, [{"id": f"n{i}", "body": "b"} for i in range(5)])
        results = await asyncio.gather(*(store.count(NOTES) for _ in range(50)))
        assert results == [5] * 50
        # A transaction holds one lane (and, on memory, every other caller waits for
        # it); a second call takes the other lane and blocks in its thread; a third
        # waits for a lane, is cancelled, and every lane serves again after.
        hold = asyncio.Event()
        opened = asyncio.Event()

        async def holder() -> None:
            async with store.transaction():
                opened.set()
                await hold.wait()

        holding = asyncio.create_task(holder())
        await opened.wait()
        blocked = asyncio.create_task(store.count(NOTES))
        waiter = asyncio.create_task(store.count(NOTES))
        await asyncio.sleep(0.05)
        assert not blocked.done() and not waiter.done()
        waiter.cancel()
        hold.set()
        await holding
        assert await blocked == 5
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await asyncio.gather(*(store.count(NOTES) for _ in range(4))) == [5] * 4

    asyncio.run(main())


def test_a_closed_threaded_adapter_refuses_calls() -> None:
    async def main() -> None:
        threaded = ThreadedAdapter(MemoryAdapter())
        store = _store(threaded)
        await store.bootstrap()
        await threaded.close()
        await threaded.close()  # idempotent
        with pytest.raises(BackendError, match="closed"):
            await store.count(NOTES)

    asyncio.run(main())


def test_a_closed_lane_refuses_jobs_instead_of_leaving_them_unrun() -> None:
    """A transaction still open when its adapter closed must get BackendError on its next
    statement, not wait forever for a lane thread that has stopped."""
    from noorm.adapters.threaded import _Lane

    async def main() -> None:
        lane = _Lane("noorm-test")
        assert await lane.run(lambda: 41 + 1) == 42
        lane.close()
        lane.close()  # idempotent
        for call in (lane.run, lane.finish):
            with pytest.raises(BackendError, match="closed"):
                await asyncio.wait_for(call(lambda: 1), 5)

    asyncio.run(main())


def test_close_waits_for_a_transaction_the_backend_waits_for(threaded: ThreadedAdapter) -> None:
    """The memory adapter's close waits for its open transaction, so that one commits."""

    async def main() -> None:
        store = _store(threaded)
        await store.bootstrap()
        opened, go = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with store.transaction() as tx:
                await tx.insert(NOTES, {"id": "a", "body": "x"})
                opened.set()
                await go.wait()
                await tx.insert(NOTES, {"id": "b", "body": "y"})

        task = asyncio.create_task(writer())
        await opened.wait()
        closing = asyncio.create_task(threaded.close())
        await asyncio.sleep(0.05)
        assert not closing.done()
        go.set()
        await asyncio.wait_for(task, 5)
        await asyncio.wait_for(closing, 5)  # the writer committed first: no error above

    asyncio.run(main())


def test_the_threaded_adapter_speaks_for_its_adapter() -> None:
    memory = MemoryAdapter()
    threaded = ThreadedAdapter(memory)
    assert (threaded.name, threaded.version, threaded.capabilities) == (
        memory.name,
        memory.version,
        memory.capabilities,
    )
    assert threaded.statement(Count(NOTES, None)) == memory.statement(Count(NOTES, None))
    assert asyncio.run(threaded.server_version()) == memory.server_version()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            ThreadedAdapter(memory, threads=bad)  # type: ignore[arg-type]
    asyncio.run(threaded.close())


def test_async_rows_type_the_model_and_call_the_store(threaded: ThreadedAdapter) -> None:
    async def main() -> None:
        store = _store(threaded)
        await store.bootstrap()
        notes = store.rows(NOTES)
        assert await notes.insert({"id": "a", "body": "x"}) == {
            "id": "a",
            "body": "x",
            "score": None,
        }
        assert await notes.insert_many([{"id": "b", "body": "y", "score": 2}]) == [
            {"id": "b", "body": "y", "score": 2.0}
        ]
        assert (await notes.get({"id": "b"}) or {})["score"] == 2.0
        assert [r["id"] for r in await notes.find(order_by="id")] == ["a", "b"]
        assert await notes.count({"body": "x"}) == 1
        assert await notes.update({"body": "z"}, key={"id": "a"}) == 1
        assert (await notes.upsert({"id": "a", "body": "w"}, update=["body"])).inserted is False
        assert await notes.delete(key={"id": "b"}) == 1
        with pytest.raises(InvalidCursorError):
            await notes.find(cursor="bad")

    asyncio.run(main())
