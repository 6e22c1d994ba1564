"""AsyncMongoAdapter (pymongo's AsyncMongoClient) against a real server (FerretDB in CI).

The operations' semantics are the sync adapter's code (``noorm.adapters.mongodb.core``),
certified through both doors; these tests cover what is the async door's own: the task
rules of docs/adapters.md ("The async door"), an owned or borrowed client, connecting,
and errors arriving as the portable ones with the driver's as ``__cause__``. The server
comes from NOORM_MONGODB_URL; without it, 127.0.0.1:27017 is tried and the module is
skipped if nothing answers there.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

pymongo = pytest.importorskip("pymongo", reason="pymongo is not installed (no-orm[mongodb])")

from pymongo import AsyncMongoClient, MongoClient  # noqa: E402
from pymongo.errors import (  # noqa: E402
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from noorm.adapters.mongodb import AsyncMongoAdapter, MongoAdapter  # noqa: E402
from noorm.adapters.mongodb.testing import async_conformance_factory  # noqa: E402
from noorm.kit import AsyncStore  # noqa: E402
from noorm.spec import (  # noqa: E402
    AsyncAdapter,
    BackendError,
    Capability,
    Count,
    Delete,
    DuplicateKeyError,
    Field,
    Find,
    Index,
    Insert,
    IntegerType,
    Model,
    Order,
    Schema,
    StringType,
    UnsupportedError,
    Update,
    Upsert,
    UpsertResult,
    eq,
    gt,
)

URL = os.environ.get("NOORM_MONGODB_URL") or "mongodb://127.0.0.1:27017/"
T = TypeVar("T")


def _reachable() -> bool:
    if os.environ.get("NOORM_MONGODB_URL"):
        return True  # explicitly configured: a dead server must fail the tests, not skip them
    probe: MongoClient[Any] = MongoClient(URL, serverSelectionTimeoutMS=1000)
    try:
        probe.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        probe.close()


if not _reachable():
    pytest.skip(
        "no MongoDB server: NOORM_MONGODB_URL is unset and 127.0.0.1:27017 does not answer "
        '(eval "$(ci/services)" starts FerretDB)',
        allow_module_level=True,
    )

USERS = Model(
    "users",
    [
        Field("id", StringType(36)),
        Field("tenant", StringType(20)),
        Field("email", StringType(100), nullable=True),
        Field("n", IntegerType(), nullable=True),
    ],
    primary_key=["id"],
    indexes=[Index("users_email", ["email"], unique=True)],
)
SCHEMA = Schema([USERS])
BY_ID = (Order("id"),)


def user(id: str, tenant: str = "t1", email: str | None = None, n: int | None = None) -> Any:
    return {"id": id, "tenant": tenant, "email": email, "n": n}


@pytest.fixture
def db_name() -> Iterator[str]:
    name = f"noorm_test_{uuid.uuid4().hex}"
    yield name
    dropper: MongoClient[Any] = MongoClient(URL, serverSelectionTimeoutMS=5000)
    dropper.drop_database(name)
    dropper.close()


def run(
    db_name: str,
    body: Callable[[AsyncMongoAdapter], Awaitable[T]],
    **options: Any,
) -> T:
    """``body(adapter)`` on a fresh event loop, the adapter (own client, bootstrapped)
    closed afterwards."""

    async def main() -> T:
        adapter = await AsyncMongoAdapter.open(URL, db_name, **options)
        try:
            await adapter.bootstrap(SCHEMA)
            return await body(adapter)
        finally:
            await adapter.close()

    return asyncio.run(main())


def _insert(*rows: Any) -> Insert:
    return Insert(USERS, tuple(rows))


# --- identity and semantics shared with the sync adapter --------------------------------------


def test_identity_and_capabilities_are_the_sync_adapters(db_name: str) -> None:
    sync = MongoAdapter(URL, db_name)

    async def body(adapter: AsyncMongoAdapter) -> None:
        assert isinstance(adapter, AsyncAdapter)
        assert (adapter.name, adapter.version) == (sync.name, sync.version)
        assert adapter.capabilities == sync.capabilities
        assert adapter.ferretdb == sync.ferretdb
        assert await adapter.server_version() == sync.server_version()
        op = Find(USERS, eq("tenant", "t1"), BY_ID, 20)
        assert adapter.statement(op) == sync.statement(op)  # a plain call, no I/O

    try:
        run(db_name, body)
    finally:
        sync.close()


def test_the_same_operations_give_the_sync_adapters_results(db_name: str) -> None:
    """One script of operations, run through each door on its own collection state."""
    script: list[Any] = [
        _insert(user("a", n=1), user("b", email="b@x", n=2), user("c", "t2", n=3)),
        Find(USERS, gt("n", 1), BY_ID, 10),
        Count(USERS, eq("tenant", "t1")),
        Update(USERS, eq("tenant", "t1"), {"n": 7}),
        Upsert(USERS, user("a", n=9), ("n",), eq("tenant", "t1")),
        Upsert(USERS, user("c", n=9), ("n",), eq("tenant", "t1")),  # another scope: None
        Upsert(USERS, user("d", email="d@x"), ("email",)),
        Delete(USERS, eq("id", "b")),
        Find(USERS, None, BY_ID, None),
    ]

    def outcome(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # compared by type
            return type(exc)

    sync = MongoAdapter(URL, db_name + "_sync")
    try:
        sync.bootstrap(SCHEMA)
        expected = [outcome(functools.partial(sync.execute, op)) for op in script]
    finally:
        sync.close()
        MongoClient(URL).drop_database(db_name + "_sync")

    async def body(adapter: AsyncMongoAdapter) -> list[Any]:
        got = []
        for op in script:
            try:
                got.append(await adapter.execute(op))
            except Exception as exc:
                got.append(type(exc))
        return got

    got = run(db_name, body)
    assert got == expected
    assert got[5] is None and isinstance(got[6], UpsertResult) and got[6].inserted


def test_a_missing_collection_is_refused_not_created(db_name: str) -> None:  # BOOT-4
    async def main() -> None:
        adapter = await AsyncMongoAdapter.open(URL, db_name)
        try:
            with pytest.raises(BackendError, match="does not exist") as caught:
                await adapter.execute(_insert(user("a")))
            assert caught.value.model == "users"
            assert await adapter.database.list_collection_names() == []
            assert await adapter.bootstrap(SCHEMA, dry_run=True) != []
            await adapter.bootstrap(SCHEMA)
            assert await adapter.bootstrap(SCHEMA) == []  # BOOT-1
            await adapter.execute(_insert(user("a")))
        finally:
            await adapter.close()

    asyncio.run(main())


# --- errors -----------------------------------------------------------------------------------


def test_driver_errors_are_portable_errors_with_the_driver_error_as_cause(db_name: str) -> None:
    async def body(adapter: AsyncMongoAdapter) -> None:
        await adapter.execute(_insert(user("a", email="a@x")))
        with pytest.raises(DuplicateKeyError) as caught:  # one call
            await adapter.execute(_insert(user("a")))
        assert isinstance(caught.value.__cause__, PyMongoError)
        assert caught.value.model == "users"
        with pytest.raises(DuplicateKeyError) as caught:  # a batch: all or nothing (OP-INS)
            await adapter.execute(_insert(user("b"), user("c"), user("d", email="a@x")))
        assert isinstance(caught.value.__cause__, PyMongoError)
        assert await adapter.execute(Count(USERS, None)) == 1
        with pytest.raises(DuplicateKeyError):  # refused before any I/O
            await adapter.execute(_insert(user("b"), user("b")))

    run(db_name, body)


def test_an_unreachable_server_is_a_one_line_backend_error() -> None:
    async def main() -> None:
        with pytest.raises(BackendError) as caught:
            await AsyncMongoAdapter.open("mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=200")
        assert isinstance(caught.value.__cause__, ServerSelectionTimeoutError)
        assert "cannot reach the MongoDB server" in str(caught.value)
        assert "\n" not in str(caught.value)

    asyncio.run(main())


def test_constructor_errors_and_an_unconnected_adapter(db_name: str) -> None:
    async def main() -> None:
        client: AsyncMongoClient[Any] = AsyncMongoClient(URL)
        try:
            with pytest.raises(ValueError, match="database"):
                AsyncMongoAdapter(client)
            with pytest.raises(ValueError, match="contradicts"):
                AsyncMongoAdapter(client[db_name], "other")
            with pytest.raises(TypeError, match="AsyncMongoClient"):
                AsyncMongoAdapter(MongoClient(URL, connect=False), db_name)  # type: ignore[arg-type]
            made = AsyncMongoAdapter(client[db_name])  # no I/O yet
            assert made.capabilities == {Capability.JSON_PATHS, Capability.CONCURRENT_BOOTSTRAP}
            assert made.ferretdb is None  # not asked yet
            assert (await made.server_version()).startswith("MongoDB")  # connects by itself
            assert made.ferretdb == made._core.ferretdb
            assert await made.connect() is made  # once
            await made.close()
            with pytest.raises(BackendError, match="closed"):
                await made.execute(Count(USERS, None))
            unconnected = AsyncMongoAdapter(client[db_name])
            await unconnected.close()
            with pytest.raises(BackendError, match="closed"):
                await unconnected.bootstrap(SCHEMA)
        finally:
            await client.close()

    asyncio.run(main())


# --- owned and borrowed clients ----------------------------------------------------------------


def test_a_url_client_is_owned_and_closed_a_given_one_is_borrowed(db_name: str) -> None:
    async def main() -> None:
        owned = await AsyncMongoAdapter.open(f"{URL.rstrip('/')}/{db_name}")
        assert owned.database_name == db_name
        await owned.bootstrap(SCHEMA)
        await owned.close()
        await owned.close()  # idempotent
        with pytest.raises(BackendError, match="closed"):
            await owned.execute(Count(USERS, None))
        with pytest.raises(InvalidOperation):  # the client it opened is closed
            await owned._client.admin.command("ping")

        client: AsyncMongoClient[Any] = AsyncMongoClient(URL)
        try:
            for borrowed in (
                await AsyncMongoAdapter.open(client, db_name),
                await AsyncMongoAdapter.open(client[db_name]),
            ):
                assert await borrowed.execute(Count(USERS, None)) == 0
                await borrowed.close()
                with pytest.raises(BackendError, match="closed"):
                    await borrowed.execute(Count(USERS, None))
            assert (await client.admin.command("ping"))["ok"]  # still the caller's, open
        finally:
            await client.close()

    asyncio.run(main())


# --- transactions: the task rules --------------------------------------------------------------


def test_without_server_transactions_transaction_is_unsupported(db_name: str) -> None:  # TX-4
    async def body(adapter: AsyncMongoAdapter) -> None:
        if Capability.TRANSACTIONS in adapter.capabilities:
            pytest.skip("this server supports transactions")
        with pytest.raises(UnsupportedError) as caught:
            adapter.transaction()
        assert caught.value.capability == "transactions"

    run(db_name, body)


def _non_atomic(body: Callable[[AsyncMongoAdapter], Awaitable[T]]) -> Callable[[str], T]:
    def test(db_name: str) -> T:
        return run(db_name, body, allow_non_atomic_transactions=True)

    return test


async def _executor_belongs_to_its_task(adapter: AsyncMongoAdapter) -> None:
    async with adapter.transaction() as tx:
        await tx.execute(_insert(user("a")))
        foreign = asyncio.create_task(tx.execute(Count(USERS, None)))
        with pytest.raises(BackendError, match="belongs to the task"):
            await foreign
        with pytest.raises(BackendError, match="belongs to the task"):
            await asyncio.create_task(_enter(tx.transaction))
    with pytest.raises(BackendError, match="ended"):
        await tx.execute(Count(USERS, None))
    with pytest.raises(BackendError, match="ended"):
        tx.transaction()
    assert Capability.TRANSACTIONS not in adapter.capabilities  # never declared
    assert await adapter.execute(Count(USERS, None)) == 1


async def _enter(opener: Callable[[], Any]) -> None:
    async with opener():
        pass


test_an_executor_belongs_to_the_task_that_opened_it = _non_atomic(_executor_belongs_to_its_task)


async def _adapter_refused_inside(adapter: AsyncMongoAdapter) -> None:
    async with adapter.transaction() as tx:
        with pytest.raises(BackendError, match="open transaction"):
            await adapter.execute(Count(USERS, None))
        with pytest.raises(BackendError, match="open transaction"):
            adapter.transaction()
        with pytest.raises(BackendError, match="open transaction"):
            await adapter.bootstrap(SCHEMA)
        # Another task is outside it: the adapter serves it.
        assert await asyncio.create_task(adapter.execute(Count(USERS, None))) == 0
        async with tx.transaction() as inner:  # a non-atomic block nests as one
            assert inner is tx
            await inner.execute(_insert(user("a")))
    assert await adapter.execute(Count(USERS, None)) == 1  # refused no longer


test_the_adapter_refuses_a_task_inside_its_transaction = _non_atomic(_adapter_refused_inside)


async def _many_tasks(adapter: AsyncMongoAdapter) -> None:
    async def one(k: int) -> int:
        async with adapter.transaction() as tx:
            await tx.execute(_insert(user(f"u{k:03}", n=k)))
            rows = await tx.execute(Find(USERS, eq("id", f"u{k:03}"), BY_ID, 2))
        assert await adapter.execute(Count(USERS, eq("id", f"u{k:03}"))) == 1
        return int(rows[0]["n"])

    assert await asyncio.gather(*(one(k) for k in range(64))) == list(range(64))
    assert await adapter.execute(Count(USERS, None)) == 64


test_concurrent_tasks_each_with_a_transaction = _non_atomic(_many_tasks)


async def _cancelled_block(adapter: AsyncMongoAdapter) -> None:
    opened: list[Any] = []
    started = asyncio.Event()

    async def body() -> None:
        async with adapter.transaction() as tx:
            opened.append(tx)
            started.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(body())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(BackendError, match="ended"):
        await opened[0].execute(Count(USERS, None))


test_a_cancelled_non_atomic_block_ends_its_executor = _non_atomic(_cancelled_block)


def _forced(adapter: AsyncMongoAdapter) -> None:
    """Declare transactions on FerretDB, so that transaction() opens a session
    transaction (which FerretDB then refuses at its first statement)."""
    if Capability.TRANSACTIONS not in adapter.capabilities:
        if not adapter.ferretdb:
            pytest.skip("a standalone MongoDB server: sessions need a replica set")
        adapter.capabilities = adapter.capabilities | {Capability.TRANSACTIONS}


def test_a_nested_transaction_is_unsupported_savepoints(db_name: str) -> None:
    async def body(adapter: AsyncMongoAdapter) -> None:
        _forced(adapter)
        async with adapter.transaction() as tx:
            with pytest.raises(UnsupportedError) as caught:
                tx.transaction()
            assert caught.value.capability == "savepoints"

    run(db_name, body)


def test_a_failed_session_transaction_is_a_backend_error_and_rolled_back(db_name: str) -> None:
    async def body(adapter: AsyncMongoAdapter) -> None:
        _forced(adapter)
        sessions: list[Any] = []
        with pytest.raises(BackendError) as caught:
            async with adapter.transaction() as tx:
                sessions.append(tx._session)
                await tx.execute(_insert(user("a")))
                if not adapter.ferretdb:
                    raise OperationFailure("roll back")
        if adapter.ferretdb:
            assert isinstance(caught.value.__cause__, OperationFailure)
        assert not sessions[0].in_transaction and sessions[0].has_ended
        assert await adapter.execute(Count(USERS, None)) == 0

    run(db_name, body)


def test_a_task_cancelled_inside_a_session_transaction_rolls_it_back(db_name: str) -> None:
    async def body(adapter: AsyncMongoAdapter) -> None:
        _forced(adapter)
        sessions: list[Any] = []
        started = asyncio.Event()

        async def inside() -> None:
            async with adapter.transaction() as tx:
                sessions.append(tx._session)
                assert sessions[0].in_transaction
                started.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(inside())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not sessions[0].in_transaction  # aborted
        assert sessions[0].has_ended
        assert await adapter.execute(Count(USERS, None)) == 0

    run(db_name, body)


# --- the conformance factory and AsyncStore -----------------------------------------------------


def test_the_async_conformance_factory_drops_its_database() -> None:
    async def main() -> None:
        adapter = await async_conformance_factory()
        name = adapter.database_name
        assert name.startswith("noorm_test_")
        other = await async_conformance_factory.same_database(adapter)
        try:
            store = AsyncStore(SCHEMA, adapter)
            await store.bootstrap()
            await store.insert(USERS, user("a", n=1))
            assert await other.execute(Count(USERS, None)) == 1  # the same database
            assert (await store.get(USERS, {"id": "a"})) == user("a", n=1)
        finally:
            await other.close()
            await adapter.close()
        probe: AsyncMongoClient[Any] = AsyncMongoClient(URL)
        try:
            assert name not in await probe.list_database_names()
        finally:
            await probe.close()

    asyncio.run(main())
