"""The async SQL adapter: :class:`~.core.SQLCore`'s programs driven on asyncio cursors.

The same plans and programs as the sync :class:`~.adapter.SQLAdapter` (so the same
statements, in the same order, with the same error handling), awaited: a backend
subclass supplies :meth:`AsyncSQLAdapter.session` (an ``async with`` lending a
connection for one call or a whole transaction) and :meth:`AsyncSQLAdapter.cursor`.

A transaction's executor belongs to the task that opened it, and the adapter refuses
its own calls from a task inside one of its transactions (see :mod:`noorm.adapters.tasks`).
A transaction's COMMIT or ROLLBACK always runs to its end, even when the task is
cancelled meanwhile, so a connection never goes back to its pool mid-transaction; a
task cancelled inside the block rolls it back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar, cast

from noorm.spec.adapter import AsyncExecutor, Capability, require_capability
from noorm.spec.operations import Find, Operation
from noorm.spec.schema import Schema

from ..tasks import OpenTransactions, check_owner
from .adapter import check_usable
from .compiler import Compiled
from .core import Session, SQLCore, locking_outside
from .program import Command, Pause, Plan, Program, Query

__all__ = ["AsyncCursor", "AsyncSQLAdapter", "AsyncTransaction"]

T = TypeVar("T")
ConnT = TypeVar("ConnT")


class AsyncCursor(Protocol):
    """The part of an asyncio DB-API-like cursor (psycopg's ``AsyncCursor``) the driver uses."""

    @property
    def rowcount(self) -> int: ...

    async def execute(self, sql: Any, params: Sequence[Any], /) -> object: ...

    async def fetchall(self) -> Sequence[Sequence[Any]]: ...

    async def close(self) -> object: ...


class AsyncTransaction:
    """The executor an ``async with transaction()`` block receives; valid inside its
    block, for the task that opened it. ``transaction()`` on it is a savepoint."""

    __slots__ = ("_adapter", "_session", "_task", "closed")

    def __init__(
        self, adapter: AsyncSQLAdapter[Any], session: Session[Any], task: asyncio.Task[Any] | None
    ) -> None:
        self._adapter = adapter
        self._session = session
        self._task = task
        self.closed = False

    async def execute(self, op: Operation[T]) -> T:
        self._check(op.model.name)
        adapter, session = self._adapter, self._session
        return cast("T", await adapter.drive(session, adapter.run(session, op)))

    def transaction(self) -> AbstractAsyncContextManager[AsyncExecutor]:
        self._check(None)
        require_capability(self._adapter.capabilities, Capability.SAVEPOINTS)
        return self._adapter._scope(self._session, self._task)

    def _check(self, model: str | None) -> None:
        check_owner(self.closed, self._task, model)
        check_usable(self._adapter, self._session, model)


class AsyncSQLAdapter(SQLCore[ConnT]):
    """Runs operations on an asyncio connection: the async driver of :class:`SQLCore`."""

    reuse_cursor: bool = False
    """Run every statement of a session on one cursor (kept in :attr:`Session.cursor`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks = OpenTransactions()

    # --- what a backend provides -------------------------------------------------------------

    def session(self) -> AbstractAsyncContextManager[Session[ConnT]]:
        """Exclusive use of a connection for one call or a whole transaction."""
        raise NotImplementedError

    def cursor(self, conn: ConnT) -> AsyncCursor:
        """A new cursor on ``conn`` that returns rows as sequences."""
        raise NotImplementedError

    async def server_version(self) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    # --- the AsyncAdapter protocol -----------------------------------------------------------

    async def execute(self, op: Operation[T]) -> T:
        """Run ``op`` on its own (atomically), on a connection of its own."""
        if type(op) is Find and op.for_update:
            raise locking_outside(op)
        self._tasks.refuse_inside(op.model.name)
        async with self.session() as session:
            return cast("T", await self.drive(session, self.run(session, op)))

    def transaction(self) -> AbstractAsyncContextManager[AsyncExecutor]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises; ``tx.transaction()`` nests."""
        require_capability(self.capabilities, Capability.TRANSACTIONS)
        self._tasks.refuse_inside(None)
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncExecutor]:
        async with self.session() as session:
            task = self._tasks.enter()
            try:
                async with self._scope(session, task) as tx:
                    yield tx
            finally:
                self._tasks.leave(task)

    async def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """Create what is missing, in one transaction; the statements it ran (or would run)."""
        self._tasks.refuse_inside(None)
        async with self.session() as session:
            done: list[str] = await self._uncancelled(
                self.drive(session, self.bootstrap_program(session, schema, dry_run))
            )
            return done

    @asynccontextmanager
    async def _scope(
        self, session: Session[ConnT], task: asyncio.Task[Any] | None
    ) -> AsyncIterator[AsyncExecutor]:
        """A transaction at depth 0, a savepoint inside one; commits unless the block raises."""
        level: int = await self.drive(session, self.begin(session))
        tx = AsyncTransaction(self, session, task)
        try:
            yield tx
        except BaseException as exc:
            tx.closed = True
            await self._uncancelled(self.drive(session, self.end(session, level, exc)))
            raise
        tx.closed = True
        await self._uncancelled(self.drive(session, self.end(session, level, None)))

    @staticmethod
    async def _uncancelled(work: Coroutine[Any, Any, T]) -> T:
        """``work`` run to its end even if the calling task is cancelled meanwhile (the
        cancellation is then raised after it): the connection must not go back to its
        pool, or on to the next statement, in the middle of a transaction's control."""
        task = asyncio.ensure_future(work)
        cancelled = False
        while True:
            try:
                result = await asyncio.shield(task)
                break
            except asyncio.CancelledError:
                if task.done():
                    if task.cancelled():
                        raise
                    result = task.result()
                    break
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        return result

    # --- the driver ----------------------------------------------------------------------------

    async def drive(self, session: Session[ConnT], plan: Plan | Program[T]) -> Any:
        """Run ``plan`` on ``session``: its result, or the portable error it raised."""
        kind = type(plan)
        one: Any = plan  # a Query or a Command: unpacked as the tuple it is
        if kind is Query:
            compiled, model, then, _ = one
            rows = await self._query(session, compiled, model)
            return rows if then is None else then(rows)
        if kind is Command:
            compiled, model, counted = one
            count = await self._command(session, compiled, model)
            return count if counted is None else counted(count)
        program = cast("Program[Any]", plan)
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step: Any = program.send(value) if error is None else program.throw(error)
            except StopIteration as stop:
                return stop.value
            error = value = None
            try:
                kind = type(step)
                if kind is Query:
                    value = await self._query(session, step[0], step[1], step[3])
                elif kind is Command:
                    value = await self._command(session, step[0], step[1])
                else:
                    value = await self.step(session, step)
            except BaseException as exc:  # thrown into the program: its cleanup runs
                error = exc

    async def step(self, session: Session[ConnT], step: Any) -> Any:
        """Run one step other than a Query or Command (those the driver runs itself);
        a backend with steps of its own (PostgreSQL's COPY) extends this."""
        kind = type(step)
        if kind is Query:
            return await self._query(session, step.compiled, step.model, step.tolerate)
        if kind is Command:
            return await self._command(session, step.compiled, step.model)
        if kind is Pause:
            await asyncio.sleep(step.seconds)
            return None
        raise TypeError(f"not a step of this adapter: {step!r}")

    async def _query(
        self,
        session: Session[ConnT],
        compiled: Compiled,
        model: str | None,
        tolerate: tuple[type[BaseException], ...] = (),
    ) -> Any:
        """Run one statement; its rows, or the driver error if it is one to ``tolerate``."""
        cursor = session.cursor or self._new_cursor(session)
        try:
            await cursor.execute(compiled.sql, compiled.params)
            return await cursor.fetchall()
        except self.driver_errors as exc:
            if tolerate and isinstance(exc, tolerate):
                return exc
            raise (await self._failed(session, exc, model)) from exc
        finally:
            if cursor is not session.cursor:  # a one-off cursor (reuse_cursor off)
                await cursor.close()

    async def _command(self, session: Session[ConnT], compiled: Compiled, model: str | None) -> int:
        """Run a statement that returns no rows; its row count."""
        cursor = session.cursor or self._new_cursor(session)
        try:
            await cursor.execute(compiled.sql, compiled.params)
            return cursor.rowcount
        except self.driver_errors as exc:
            raise (await self._failed(session, exc, model)) from exc
        finally:
            if cursor is not session.cursor:
                await cursor.close()

    def _new_cursor(self, session: Session[ConnT]) -> AsyncCursor:
        """A cursor for the next statement, kept as the session's where :attr:`reuse_cursor`."""
        cursor = self.cursor(session.conn)
        if self.reuse_cursor:
            session.cursor = cursor
        return cursor

    async def _failed(
        self, session: Session[ConnT], exc: BaseException, model: str | None
    ) -> Exception:
        error: Exception = await self.drive(session, self.failed(session, exc, model))
        return error
