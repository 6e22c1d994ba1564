"""The store for asyncio: :class:`~noorm.kit.Store`'s operations, awaited.

Validation, hooks, scopes, cursors and observability are :class:`~.core.StoreCore`'s,
the same code the sync store runs; only the adapter calls are awaited. A transaction
belongs to the task that opened it: the outer store refuses to run inside that task's
own ``async with store.transaction()`` block, as the sync store does per thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast, overload

from noorm.spec.adapter import AsyncAdapter, AsyncExecutor
from noorm.spec.operations import Operation, Order, UpsertResult
from noorm.spec.schema import Model

from .core import Page, Program, StoreCore, Where, counter, one, single
from .rows import AsyncRows, check_row_type

__all__ = ["AsyncStore"]

R = TypeVar("R", bound=Mapping[str, Any])
T = TypeVar("T")


class AsyncStore(StoreCore):
    """:class:`~noorm.kit.Store` on an :class:`~noorm.spec.AsyncAdapter`: the same
    constructor, operations, hooks, plugins, cursors, errors and observability, with
    every call that reaches the backend awaited (``await store.insert(...)``,
    ``async with store.transaction() as tx``). ``around`` is a plain context manager
    factory here too: it encloses the awaited operation.
    """

    __slots__ = ()
    _executor: AsyncExecutor
    _inside = "task is inside `async with store.transaction()"

    @property
    def adapter(self) -> AsyncAdapter:
        return cast(AsyncAdapter, self._shared.adapter)

    @overload
    def rows(self, model: Model[R]) -> AsyncRows[R]: ...
    @overload
    def rows(self, model: Model[Any], row_type: type[R]) -> AsyncRows[R]: ...
    def rows(self, model: Model[Any], row_type: type[Any] | None = None) -> AsyncRows[Any]:
        """:meth:`Store.rows <noorm.kit.Store.rows>`: ``model``'s operations, typed."""
        if row_type is not None:
            check_row_type(self._plan(model).model, row_type)
        return AsyncRows(self, model)

    def bind(self, **context: Any) -> AsyncStore:
        """A view of this store whose hooks receive ``context`` (merged over the current one)."""
        view: AsyncStore = self._view(self._executor, {**self._context, **context})
        return view

    async def bootstrap(self, *, dry_run: bool = False) -> list[str]:
        """Create missing tables and indexes (idempotent); the statements it ran or would run."""
        return await self.adapter.bootstrap(self._shared.schema, dry_run=dry_run)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncStore]:
        """A transaction; inside one, a savepoint. Yields the store bound to it."""
        async with self._executor.transaction() as executor:
            owner = self._opened()
            try:
                yield self._view(executor, self._context)
            finally:
                self._closed(owner)

    def _owner(self) -> object:
        try:
            return asyncio.current_task()
        except RuntimeError:  # no running loop (``rows(model, row_type)`` called outside one)
            return None

    # --- reads ----------------------------------------------------------------------------

    async def get(
        self, model: Model[R], key: Mapping[str, Any], *, for_update: bool = False
    ) -> R | None:
        """:meth:`Store.get <noorm.kit.Store.get>`, awaited."""
        rows = await self._run("get", self._get(model, key, for_update))
        return cast(R, rows[0]) if rows else None

    async def find(
        self,
        model: Model[R],
        where: Where = None,
        *,
        order_by: Sequence[str | Order] | str | Order = (),
        limit: int | None = None,
        cursor: str | None = None,
        after: Mapping[str, Any] | None = None,
        for_update: bool = False,
    ) -> Page[R]:
        """:meth:`Store.find <noorm.kit.Store.find>`, awaited."""
        name, program = self._find(model, where, order_by, limit, cursor, after, for_update)
        return await self._perform("find", name, program, len)

    async def count(self, model: Model[Any], where: Where = None) -> int:
        return await self._run("count", self._count(model, where))

    # --- writes ---------------------------------------------------------------------------

    async def insert(self, model: Model[R], row: R) -> R:
        """:meth:`Store.insert <noorm.kit.Store.insert>`, awaited."""
        op = self._insert(model, row)
        await self._run("insert", op, 1)
        return cast(R, op.rows[0])

    async def insert_many(self, model: Model[R], rows: Iterable[R]) -> list[R]:
        """:meth:`Store.insert_many <noorm.kit.Store.insert_many>`, awaited."""
        op = self._insert_many(model, rows)
        if op.rows:
            await self._run("insert", op, len(op.rows))
        return cast(list[R], list(op.rows))

    async def update(
        self,
        model: Model[Any],
        values: Mapping[str, Any],
        *,
        where: Where = None,
        key: Mapping[str, Any] | None = None,
    ) -> int:
        """:meth:`Store.update <noorm.kit.Store.update>`, awaited."""
        return await self._run("update", self._update(model, values, where, key))

    async def upsert(self, model: Model[R], row: R, *, update: Sequence[str]) -> UpsertResult[R]:
        """:meth:`Store.upsert <noorm.kit.Store.upsert>`, awaited."""
        name, program = self._upsert(model, row, update)
        return await self._perform("upsert", name, program, one)

    async def delete(
        self, model: Model[Any], *, where: Where = None, key: Mapping[str, Any] | None = None
    ) -> int:
        """:meth:`Store.delete <noorm.kit.Store.delete>`, awaited."""
        return await self._run("delete", self._delete(model, where, key))

    # --- running ----------------------------------------------------------------------------

    async def _run(self, name: str, op: Operation[T], written: int | None = None) -> T:
        if self._observing():
            program = self._watched(name, op.model.name, single(op), counter(written))
            return await run(self._executor, program)
        return await self._executor.execute(op)

    async def _perform(
        self, name: str, model: str, program: Program[T], rows: Callable[[T], int]
    ) -> T:
        if self._observing():
            program = self._watched(name, model, program, rows)
        return await run(self._executor, program)


async def run(executor: AsyncExecutor, program: Program[T]) -> T:
    """:func:`noorm.kit.store.run`, awaiting each operation."""
    try:
        op = next(program)
        while True:
            try:
                result = await executor.execute(op)
            except BaseException as exc:
                op = program.throw(exc)
            else:
                op = program.send(result)
    except StopIteration as stop:
        return cast(T, stop.value)
