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

from hypothesis import Phase, settings

from noorm.adapters.memory import MemoryAdapter
from noorm.spec import (
    ALL,
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
    Order,
    Path,
    Schema,
    SchemaMismatchError,
    UnsupportedError,
    Update,
    Upsert,
    check_capabilities,
)

__all__ = [
    "BROKEN",
    "drops_limit",
    "empty_in_matches_all",
    "loses_milliseconds",
    "ne_matches_null",
    "never_evolves",
    "no_capabilities",
    "no_server_version",
    "nulls_last",
    "path_filters_match_all",
    "reverses_order",
    "shows_values",
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


def _no_shrinking() -> None:
    """Property tests fail on a broken adapter by design; shrinking only costs minutes.

    The first factory call (the plugin's probe) runs before the suite's modules are
    imported, so their ``settings(...)`` inherit these phases.
    """
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    settings.register_profile("noorm-broken", phases=phases)
    settings.load_profile("noorm-broken")


class Broken:
    """A memory adapter with one rule broken; subclasses override :meth:`run`."""

    name = "broken"
    version = "0.0.0"

    def __init__(self) -> None:
        _no_shrinking()
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
    """Deletes drop the tenant condition, as if the scope hook were skipped: breaks HOOK-QUERY."""

    name = "broken-unscoped-delete"

    def run(self, inner: Executor, op: Operation[T]) -> T:
        if isinstance(op, Delete) and isinstance(op.where, And):
            kept = tuple(f for f in op.where.items if not _is_scope(f))
            op = cast(Operation[T], replace(op, where=And(kept)))
        return inner.execute(op)


def _is_scope(where: Filter) -> bool:
    """Whether ``where`` is the condition TenantScope adds (``tenant_id = <tenant>``)."""
    return isinstance(where, Compare) and where.ref == "tenant_id"


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


class ReversesOrder(Broken):
    """Swaps ASC and DESC, so every ordered find comes back reversed: breaks ORD-1/ORD-2."""

    name = "broken-reverses-order"

    def run(self, inner: Executor, op: Operation[T]) -> T:
        if isinstance(op, Find):
            flipped = tuple(Order(o.field, not o.descending) for o in op.order)
            op = cast(Operation[T], replace(op, order=flipped))
        return inner.execute(op)


class DropsLimit(Broken):
    """Ignores ``Find.limit`` and returns every matching row: breaks OP-FIND."""

    name = "broken-drops-limit"

    def run(self, inner: Executor, op: Operation[T]) -> T:
        if isinstance(op, Find):
            op = cast(Operation[T], replace(op, limit=None))
        return inner.execute(op)


class PathFiltersMatchAll(Broken):
    """Lacks json_paths yet answers path filters, each as true: breaks CAP-1."""

    name = "broken-path-filters-match-all"

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = frozenset(Capability) - {Capability.JSON_PATHS}

    def run(self, inner: Executor, op: Operation[T]) -> T:
        def leaf(f: Filter) -> Filter:
            return ALL if isinstance(getattr(f, "ref", None), Path) else f

        return inner.execute(_map_where(op, leaf))


class NoCapabilities(Broken):
    """Not broken: a correct adapter that declares no capability and refuses what needs one."""

    name = "no-capabilities"

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = frozenset()

    def run(self, inner: Executor, op: Operation[T]) -> T:
        check_capabilities(self.capabilities, op)  # path filters, locking reads
        return inner.execute(op)

    def transaction(self) -> AbstractContextManager[Executor]:
        raise UnsupportedError("no transactions here", capability="transactions")


class ShowsValues(Broken):
    """Renders statements with the operation's values in them: breaks OBS-4."""

    name = "broken-shows-values"

    def statement(self, op: Operation[Any]) -> str | None:
        return repr(op)


class _Factory:
    """A fresh broken adapter per call; ``same_database`` shares it, as the memory one does."""

    def __init__(self, kind: type[Broken]) -> None:
        self.kind = kind

    def __call__(self) -> Adapter:
        return self.kind()

    def same_database(self, adapter: Adapter) -> Adapter:
        return adapter


no_capabilities = _Factory(NoCapabilities)
nulls_last = _Factory(NullsLast)
reverses_order = _Factory(ReversesOrder)
unscoped_delete = _Factory(UnscopedDelete)
loses_milliseconds = _Factory(LosesMilliseconds)
ne_matches_null = _Factory(NeMatchesNull)
empty_in_matches_all = _Factory(EmptyInMatchesAll)
drops_limit = _Factory(DropsLimit)
path_filters_match_all = _Factory(PathFiltersMatchAll)
shows_values = _Factory(ShowsValues)


class NeverEvolves(Broken):
    """Bootstraps as before schema evolution: an existing table stays as it was created
    (no new column, nothing compared); only missing tables and indexes are made."""

    name = "broken-never-evolves"

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        tables = self._inner._tables
        models = []
        for model in schema.models:
            table = tables.get(model.name)
            if table is not None:
                old = table.model
                known = [
                    ix for ix in model.indexes if all(old.has_field(c.field) for c in ix.columns)
                ]
                indexes = [ix for ix in known if ix.name not in table.indexes]
                model = old.replace(indexes=[*table.indexes.values(), *indexes])
            models.append(model)
        try:
            return self._inner.bootstrap(Schema(models), dry_run=dry_run)
        except SchemaMismatchError:
            return []


never_evolves = _Factory(NeverEvolves)


class NoServerVersion(Broken):
    """Says nothing about its backend: ``server_version()`` returns an empty string."""

    name = "broken-no-server-version"

    def server_version(self) -> str:
        return ""


no_server_version = _Factory(NoServerVersion)


ORDERED_READS = frozenset({"PAGE-1", "PAGE-2", "PAGE-3"})
"""Keyset pages and ``after=`` follow the read's order: an order bug breaks them too."""

BROKEN: dict[str, frozenset[str]] = {
    "nulls_last": frozenset({"ORD-1"}) | ORDERED_READS,
    # Reversed reads break directions (ORD-1), key tie-breaks (ORD-2) and string order (STR-4).
    "reverses_order": frozenset({"ORD-1", "ORD-2", "STR-4"}) | ORDERED_READS,
    "unscoped_delete": frozenset({"HOOK-QUERY"}),
    "loses_milliseconds": frozenset({"TS-2"}),
    # The same rule for a json path that is missing or null is FLT-JSON-2.
    "ne_matches_null": frozenset({"NULL-1", "FLT-JSON-2"}),
    "empty_in_matches_all": frozenset({"FLT-IN"}),
    "drops_limit": frozenset({"OP-FIND"}),
    "path_filters_match_all": frozenset({"CAP-1"}),
    "never_evolves": frozenset({"BOOT-5", "BOOT-6", "BOOT-7"}),
    "shows_values": frozenset({"OBS-4"}),
}
"""Factory name -> exactly the clauses certification must fail, and no other."""
