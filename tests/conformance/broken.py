"""Deliberately broken adapters: each wraps the memory adapter and gets one rule wrong.

``test_suite_catches_broken`` certifies each of them and expects certification to fail
on the clause it breaks, which shows the suite catches real mistakes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar, cast

from noorm.adapters.memory import MemoryAdapter
from noorm.spec import (
    Adapter,
    And,
    Capability,
    Compare,
    Count,
    Delete,
    Executor,
    Filter,
    Find,
    In,
    Insert,
    IsNull,
    Not,
    Operation,
    Or,
    Schema,
    UnsupportedError,
    Update,
    Upsert,
)

__all__ = [
    "BROKEN",
    "empty_in_matches_all",
    "loses_milliseconds",
    "ne_matches_null",
    "no_capabilities",
    "nulls_last",
    "unscoped_delete",
]

T = TypeVar("T")


class _Executor:
    """Runs operations through ``broken.run`` on an inner executor (adapter or transaction)."""

    def __init__(self, broken: Broken, inner: Executor) -> None:
        self._broken = broken
        self._inner = inner

    def execute(self, op: Operation[T]) -> T:
        return self._broken.run(self._inner, op)

    def transaction(self) -> AbstractContextManager[Executor]:
        return self._broken.wrap_transaction(self._inner)


class Broken:
    """A memory adapter with one rule broken; subclasses override :meth:`run`."""

    name = "broken"
    version = "0.0.0"

    def __init__(self) -> None:
        self._inner = MemoryAdapter()
        self.capabilities: frozenset[Capability] = self._inner.capabilities

    def run(self, inner: Executor, op: Operation[T]) -> T:
        return inner.execute(op)

    @contextmanager
    def _transaction(self, inner: Executor) -> Iterator[Executor]:
        with inner.transaction() as tx:
            yield _Executor(self, tx)

    def wrap_transaction(self, inner: Executor) -> AbstractContextManager[Executor]:
        return self._transaction(inner)

    def execute(self, op: Operation[T]) -> T:
        return self.run(self._inner, op)

    def transaction(self) -> AbstractContextManager[Executor]:
        return self.wrap_transaction(self._inner)

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        return self._inner.bootstrap(schema, dry_run=dry_run)

    def statement(self, op: Operation[Any]) -> str | None:
        return None

    def server_version(self) -> str:
        return f"{type(self).__name__} over {self._inner.server_version()}"

    def close(self) -> None:
        self._inner.close()


def _map_filter(where: Filter | None, leaf: Callable[[Filter], Filter]) -> Filter | None:
    """``where`` with ``leaf`` applied to every comparison, in-list and null test."""
    if where is None:
        return None
    if isinstance(where, And):
        return And(tuple(cast(Filter, _map_filter(i, leaf)) for i in where.items))
    if isinstance(where, Or):
        return Or(tuple(cast(Filter, _map_filter(i, leaf)) for i in where.items))
    if isinstance(where, Not):
        return Not(cast(Filter, _map_filter(where.item, leaf)))
    return leaf(where)


def _map_where(op: Operation[T], leaf: Callable[[Filter], Filter]) -> Operation[T]:
    if isinstance(op, (Find, Count, Update, Delete, Upsert)):
        return cast(Operation[T], replace(op, where=_map_filter(op.where, leaf)))
    return op


class NullsLast(Broken):
    """Sorts NULL as the highest value (last ascending): breaks ORD-1."""

    name = "broken-nulls-last"

    def run(self, inner: Executor, op: Operation[T]) -> T:
        if not isinstance(op, Find):
            return inner.execute(op)
        rows = inner.execute(replace(op, limit=None))

        def compare(x: dict[str, Any], y: dict[str, Any]) -> int:
            for order in op.order:
                a, b = x[order.field], y[order.field]
                # The bug: NULL sorts as the highest value.
                c = (a is None) - (b is None) if a is None or b is None else (a > b) - (a < b)
                if c:
                    return -c if order.descending else c
            return 0

        rows.sort(key=functools.cmp_to_key(compare))
        return cast(T, rows if op.limit is None else rows[: op.limit])


class UnscopedDelete(Broken):
    """Drops the first part of a top-level And on Delete, as if the scope hook were skipped."""

    name = "broken-unscoped-delete"

    def run(self, inner: Executor, op: Operation[T]) -> T:
        if isinstance(op, Delete) and isinstance(op.where, And) and len(op.where.items) > 1:
            rest = op.where.items[1:]
            op = cast(Operation[T], replace(op, where=rest[0] if len(rest) == 1 else And(rest)))
        return inner.execute(op)


def _floor_seconds(value: Any) -> Any:
    return value.replace(microsecond=0) if isinstance(value, datetime) else value


class LosesMilliseconds(Broken):
    """Stores timestamps with whole seconds only: breaks TS-2."""

    name = "broken-loses-milliseconds"

    def run(self, inner: Executor, op: Operation[T]) -> T:
        if isinstance(op, Insert):
            rows = tuple({k: _floor_seconds(v) for k, v in r.items()} for r in op.rows)
            op = cast(Operation[T], replace(op, rows=rows))
        elif isinstance(op, Update):
            values = {k: _floor_seconds(v) for k, v in op.values.items()}
            op = cast(Operation[T], replace(op, values=values))
        elif isinstance(op, Upsert):
            row = {k: _floor_seconds(v) for k, v in op.row.items()}
            op = cast(Operation[T], replace(op, row=row))
        return inner.execute(op)


class NeMatchesNull(Broken):
    """``ne`` also matches NULL (a three-valued-logic slip): breaks NULL-1."""

    name = "broken-ne-matches-null"

    def run(self, inner: Executor, op: Operation[T]) -> T:
        def leaf(f: Filter) -> Filter:
            if isinstance(f, Compare) and f.op == "ne":
                return Or((f, IsNull(f.ref)))
            return f

        return inner.execute(_map_where(op, leaf))


class EmptyInMatchesAll(Broken):
    """``in_(f, [])`` matches every row (an omitted empty IN clause): breaks FLT-IN."""

    name = "broken-empty-in"

    def run(self, inner: Executor, op: Operation[T]) -> T:
        def leaf(f: Filter) -> Filter:
            if isinstance(f, In) and not f.values and not f.negated:
                return And(())
            return f

        return inner.execute(_map_where(op, leaf))


class NoCapabilities(Broken):
    """Not broken: a correct adapter that declares no capability and refuses transactions."""

    name = "no-capabilities"

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = frozenset()

    def transaction(self) -> AbstractContextManager[Executor]:
        raise UnsupportedError("no transactions here", capability="transactions")


def no_capabilities() -> Adapter:
    return NoCapabilities()


def nulls_last() -> Adapter:
    return NullsLast()


def unscoped_delete() -> Adapter:
    return UnscopedDelete()


def loses_milliseconds() -> Adapter:
    return LosesMilliseconds()


def ne_matches_null() -> Adapter:
    return NeMatchesNull()


def empty_in_matches_all() -> Adapter:
    return EmptyInMatchesAll()


BROKEN: dict[str, tuple[str, list[str]]] = {
    "nulls_last": ("ORD-1", ["test_reading", "test_pagination"]),
    "unscoped_delete": ("HOOK-QUERY", ["test_hooks"]),
    "loses_milliseconds": ("TS-2", ["test_values"]),
    "ne_matches_null": ("NULL-1", ["test_filters"]),
    "empty_in_matches_all": ("FLT-IN", ["test_filters"]),
}
"""factory name -> (the clause it breaks, the suite modules that suffice to show it)."""
