"""The store: one schema, one adapter, the hooks, and the typed operations.

The calls are prepared by :class:`~.core.StoreCore` (validation, hooks, scopes,
cursors, observability); this class runs them on a synchronous
:class:`~noorm.spec.Adapter`. :class:`~noorm.kit.AsyncStore` is the same store for
asyncio.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast, overload

from noorm.spec.adapter import Adapter, Executor
from noorm.spec.operations import Operation, Order, UpsertResult
from noorm.spec.schema import Model

from .core import CURSOR_KEY_ENV, Around, Page, Program, StoreCore, Where, counter, one, single
from .rows import Rows, check_row_type

__all__ = ["CURSOR_KEY_ENV", "Around", "Page", "Store", "Where"]

R = TypeVar("R", bound=Mapping[str, Any])
T = TypeVar("T")


class Store(StoreCore):
    """The runtime a host library calls.

    ``Store(schema, adapter, plugins=[...])`` applies the plugins' schema extensions
    and finalizes the schema. ``store.bind(**context)`` returns a view whose hooks see
    that context; ``store.transaction()`` a view bound to a transaction.

    Observability (every view shares it): ``around(call)`` returns a context manager
    that encloses each operation, e.g. a tracing span; ``on_query(event)`` receives one
    event per operation; the ``noorm.query`` logger gets one DEBUG record per operation,
    with the operation's values only if ``log_parameters=True``.
    """

    __slots__ = ()
    _executor: Executor

    @property
    def adapter(self) -> Adapter:
        return cast(Adapter, self._shared.adapter)

    @overload
    def rows(self, model: Model[R]) -> Rows[R]: ...
    @overload
    def rows(self, model: Model[Any], row_type: type[R]) -> Rows[R]: ...
    def rows(self, model: Model[Any], row_type: type[Any] | None = None) -> Rows[Any]:
        """The operations of ``model`` with its row type fixed, so that an inline dict
        literal type-checks: ``store.rows(conversations).insert({...})``.

        ``row_type``: a TypedDict that also declares fields plugins add (checked against
        the final model now; an unknown or differently typed field is a SchemaError).
        """
        if row_type is not None:
            check_row_type(self._plan(model).model, row_type)
        return Rows(self, model)

    def bind(self, **context: Any) -> Store:
        """A view of this store whose hooks receive ``context`` (merged over the current one)."""
        view: Store = self._view(self._executor, {**self._context, **context})
        return view

    def bootstrap(self, *, dry_run: bool = False) -> list[str]:
        """Create missing tables and indexes (idempotent); the statements it ran or would run."""
        return self.adapter.bootstrap(self._shared.schema, dry_run=dry_run)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """A transaction; inside one, a savepoint. Yields the store bound to it.

        The adapter decides (TX-4): without the capability it raises UnsupportedError,
        unless its host explicitly opted into something weaker that it documents.
        """
        with self._executor.transaction() as executor:
            owner = self._opened()
            try:
                yield self._view(executor, self._context)
            finally:
                self._closed(owner)

    def _owner(self) -> object:
        return threading.get_ident()

    # --- reads ----------------------------------------------------------------------------

    def get(self, model: Model[R], key: Mapping[str, Any], *, for_update: bool = False) -> R | None:
        """The row with primary key ``key`` (a mapping of every key field), or None.

        ``for_update=True`` (in a transaction) locks the row until the transaction ends,
        so a read-modify-write of it loses no concurrent update (ISO-2).
        """
        rows = self._run("get", self._get(model, key, for_update))
        return cast(R, rows[0]) if rows else None

    def find(
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
        """A page of matching rows in ``order_by`` order (primary key as tie-breaker).

        ``cursor`` continues from a previous page's ``next_cursor``; ``after`` starts
        strictly after the row with that primary key (empty if there is none).
        ``for_update=True`` (in a transaction) locks the rows of the page (ISO-2).
        """
        name, program = self._find(model, where, order_by, limit, cursor, after, for_update)
        return self._perform("find", name, program, len)

    def count(self, model: Model[Any], where: Where = None) -> int:
        return self._run("count", self._count(model, where))

    # --- writes ---------------------------------------------------------------------------

    def insert(self, model: Model[R], row: R) -> R:
        """Insert one row; returns it as stored (canonical values, every field).

        ``insert_many(model, [row])[0]``, without the batch's list handling.
        """
        op = self._insert(model, row)
        self._run("insert", op, 1)
        return cast(R, op.rows[0])

    def insert_many(self, model: Model[R], rows: Iterable[R]) -> list[R]:
        """Insert rows in one batch: all of them, or (on any error) none."""
        op = self._insert_many(model, rows)
        if op.rows:
            self._run("insert", op, len(op.rows))
        return cast(list[R], list(op.rows))

    def update(
        self,
        model: Model[Any],
        values: Mapping[str, Any],
        *,
        where: Where = None,
        key: Mapping[str, Any] | None = None,
    ) -> int:
        """Set ``values`` on the row with ``key``, or on every row matching ``where``.

        Returns the number of rows matched. ``where=ALL`` updates every row. With both,
        the row with ``key`` is updated only if it also matches ``where`` (1 or 0): a
        compare-and-set when ``where`` tests a version field (ISO-1).
        """
        return self._run("update", self._update(model, values, where, key))

    def upsert(self, model: Model[R], row: R, *, update: Sequence[str]) -> UpsertResult[R]:
        """Insert ``row``, or update only the ``update`` fields of the existing row.

        Under a query scope, a row of another scope is never touched: that raises
        DuplicateKeyError.
        """
        name, program = self._upsert(model, row, update)
        return self._perform("upsert", name, program, one)

    def delete(
        self, model: Model[Any], *, where: Where = None, key: Mapping[str, Any] | None = None
    ) -> int:
        """Delete the row with ``key``, or every row matching ``where``; returns the count.

        ``where=ALL`` deletes every row. With both, the row with ``key`` only if it also
        matches ``where``.
        """
        return self._run("delete", self._delete(model, where, key))

    # --- running ----------------------------------------------------------------------------

    def _run(self, name: str, op: Operation[T], written: int | None = None) -> T:
        """Run operation ``name``, one statement; ``written``: the rows it inserts."""
        if self._observing():
            return run(
                self._executor, self._watched(name, op.model.name, single(op), counter(written))
            )
        return self._executor.execute(op)  # the hot path: nothing observes

    def _perform(self, name: str, model: str, program: Program[T], rows: Callable[[T], int]) -> T:
        if self._observing():
            program = self._watched(name, model, program, rows)
        return run(self._executor, program)


def run(executor: Executor, program: Program[T]) -> T:
    """Drive ``program`` on ``executor``: each operation it yields is executed and its
    result (or exception) sent back in."""
    try:
        op = next(program)
        while True:
            try:
                result = executor.execute(op)
            except BaseException as exc:
                op = program.throw(exc)
            else:
                op = program.send(result)
    except StopIteration as stop:
        return cast(T, stop.value)
