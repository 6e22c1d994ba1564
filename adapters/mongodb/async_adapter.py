"""The native async door of the MongoDB adapter, on pymongo's ``AsyncMongoClient``.

Every operation, batch, restore, upsert, bootstrap check and transaction is
:class:`~.core.MongoCore`'s, the same code :class:`~.adapter.MongoAdapter` runs: this
module is only its async driver, awaiting ``AsyncMongoClient``'s methods of the same
names, so the semantics (capabilities, errors, atomicity without transactions,
``allow_non_atomic_transactions``, BOOT-4) are the sync adapter's by construction.

The async door's own rules (docs/adapters.md, "The async door"): a transaction's
executor belongs to the task that opened it (another task, or any call after its block,
raises BackendError); the adapter refuses ``execute``/``transaction``/``bootstrap``
from a task inside one of its own transactions; a task cancelled inside a transaction
rolls it back (the abort runs shielded from a second cancellation).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from noorm.adapters.tasks import OpenTransactions, check_owner
from noorm.spec import BackendError, Operation, Schema

from .core import LIST, PLAIN, Block, Call, Document, MongoCore, Program, Returned, advance, finish
from .door import MongoDoor

__all__ = ["AsyncMongoAdapter", "AsyncMongoTransaction"]

T = TypeVar("T")


class AsyncMongoAdapter(MongoDoor[AsyncMongoClient[Any], AsyncDatabase[Document]]):
    """A no-orm :class:`~noorm.spec.AsyncAdapter` on one MongoDB (or FerretDB) database.

    ``AsyncMongoAdapter(url_or_client_or_database, database=None)``: a URL opens (and
    :meth:`close` closes) its own ``AsyncMongoClient``; an ``AsyncMongoClient`` or
    ``AsyncDatabase`` stays the caller's. The constructor does no I/O: the first call
    (or ``await adapter.connect()``, or ``await AsyncMongoAdapter.open(...)``, which
    makes and connects one) asks the server once what it supports. Until then
    ``capabilities`` holds what every server has (``json_paths``,
    ``concurrent_bootstrap``); the server may add ``atomic_updates`` and
    ``transactions``. Options as for :class:`~noorm.adapters.mongodb.MongoAdapter`.
    """

    def __init__(
        self,
        target: AsyncMongoClient[Any] | AsyncDatabase[Any] | str,
        database: str | None = None,
        *,
        allow_non_atomic_transactions: bool = False,
    ) -> None:
        # A client made here has not connected yet (AsyncMongoClient connects on first
        # use): dropping it when the database name is missing leaves nothing open.
        types = (AsyncMongoClient, AsyncDatabase)
        super().__init__(target, database, allow_non_atomic_transactions, types)
        self.capabilities = MongoCore.BASE_CAPABILITIES
        self._inside = OpenTransactions()
        self._connecting = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        target: AsyncMongoClient[Any] | AsyncDatabase[Any] | str,
        database: str | None = None,
        *,
        allow_non_atomic_transactions: bool = False,
    ) -> AsyncMongoAdapter:
        """A connected adapter: ``cls(...)``, then :meth:`connect`."""
        adapter = cls(target, database, allow_non_atomic_transactions=allow_non_atomic_transactions)
        try:
            return await adapter.connect()
        except BaseException:
            await adapter.close()
            raise

    async def connect(self) -> AsyncMongoAdapter:
        """Ask the server what it is and supports (once; the first call does it by itself).
        A failure leaves the adapter unconnected: a later call asks again."""
        if not self._core.probed:
            async with self._connecting:
                if not self._core.probed:
                    await self._connect()
        return self

    async def _connect(self) -> None:
        if self._core.closed:
            raise BackendError("the adapter is closed")
        await self._drive(self._core.probe())
        self.capabilities = self._core.capabilities
        self.ferretdb = self._core.ferretdb

    async def server_version(self) -> str:
        """e.g. ``"MongoDB 7.0.42 (FerretDB v1.24.2)"``, from ``buildInfo``."""
        await self._ready()
        return self._core.server_version

    async def close(self) -> None:
        """Close the client if the adapter opened it; later operations raise BackendError."""
        if self._core.closed:
            return
        self._core.closed = True
        if self._owned is not None:
            await self._owned.close()

    # --- AsyncExecutor --------------------------------------------------------------------

    async def execute(self, op: Operation[T]) -> T:
        self._inside.refuse_inside(getattr(getattr(op, "model", None), "name", None))
        return await self._execute(op, None)

    def transaction(self) -> AbstractAsyncContextManager[AsyncMongoTransaction]:
        """:meth:`MongoAdapter.transaction <noorm.adapters.mongodb.MongoAdapter.transaction>`
        as ``async with``; its executor belongs to the calling task."""
        self._inside.refuse_inside(None)
        if self._core.probed:  # TX-4 and a closed adapter refuse here, as the sync door does
            return self._block(self._core.transaction(self.capabilities))
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncMongoTransaction]:
        await self._ready()
        async with self._block(self._core.transaction(self.capabilities)) as tx:
            yield tx

    async def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """:meth:`MongoAdapter.bootstrap <noorm.adapters.mongodb.MongoAdapter.bootstrap>`."""
        self._inside.refuse_inside(None)
        await self._ready()
        result: list[str] = await self._drive(self._core.bootstrap(schema, dry_run))
        return result

    async def _ready(self) -> None:
        """Connected (once), unless closed: a closed adapter says so on its call."""
        if not self._core.probed and not self._core.closed:
            await self.connect()

    # --- the driver -----------------------------------------------------------------------

    async def _execute(self, op: Operation[T], session: AsyncClientSession | None) -> T:
        if not self._core.probed:
            await self._ready()
        plan = self._core.plan(op, session, self.capabilities)
        if plan.__class__ is Call:
            return finish(plan, *await self._outcome(plan))  # type: ignore[no-any-return]
        return await self._drive(plan)  # type: ignore[arg-type, no-any-return]

    async def _outcome(self, call: Call) -> tuple[Any, BaseException | None]:
        """``(result, None)`` of ``call`` awaited, or ``(None, its exception)``."""
        try:
            result = getattr(self._target(call.on), call.method)(*call.args, **call.kwargs)
            if call.kind == PLAIN:
                return result, None
            if call.kind != LIST:
                return await result, None
            cursor = await result if inspect.isawaitable(result) else result
            async with cursor:
                return await cursor.to_list(), None
        except BaseException as exc:
            return None, exc

    async def _drive(self, program: Program[Any], error: BaseException | None = None) -> Any:
        """``MongoAdapter._drive``, each call awaited."""
        step = advance(program, None, error)
        while step.__class__ is Call:
            step = advance(program, *await self._outcome(step))
        return step.value if step.__class__ is Returned else step

    @asynccontextmanager
    async def _block(self, program: Program[None]) -> AsyncIterator[AsyncMongoTransaction]:
        block: Block = await self._drive(program)
        task = self._inside.enter()
        tx = AsyncMongoTransaction(self, block.session, task)
        try:
            yield tx
        except BaseException as exc:
            tx.closed = True
            # Rolls back and raises exc again; a second cancellation cannot stop it.
            await asyncio.shield(self._drive(program, exc))
            raise
        else:
            tx.closed = True
            await asyncio.shield(self._drive(program))
        finally:
            self._inside.leave(task)


class AsyncMongoTransaction:
    """The executor of one transaction block, for the task that opened it (``session``
    None: a non-atomic block)."""

    __slots__ = ("_adapter", "_session", "_task", "closed")

    def __init__(
        self,
        adapter: AsyncMongoAdapter,
        session: AsyncClientSession | None,
        task: asyncio.Task[Any] | None,
    ) -> None:
        self._adapter = adapter
        self._session = session
        self._task = task
        self.closed = False

    async def execute(self, op: Operation[T]) -> T:
        if self.closed or asyncio.current_task() is not self._task:
            check_owner(self.closed, self._task, getattr(op.model, "name", None))
        return await self._adapter._execute(op, self._session)

    def transaction(self) -> AbstractAsyncContextManager[AsyncMongoTransaction]:
        """MongoDB has no savepoints: a nested transaction raises UnsupportedError."""
        check_owner(self.closed, self._task, None)
        MongoCore.nested(self._session)
        return nullcontext(self)  # a non-atomic block nests as another non-atomic block
