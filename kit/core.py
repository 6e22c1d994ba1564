"""What :class:`~noorm.kit.Store` and :class:`~noorm.kit.AsyncStore` share: everything
but the I/O.

Every call validates before I/O, runs the write hooks, adds the scope filters of the
query hooks, and hands the adapter one canonical operation object. The core does all
of that without calling the adapter: a one-statement call is prepared as one
:class:`~noorm.spec.Operation`, a call of several steps (a page ``after=`` a row, an
upsert that may find a row of another scope) as a :data:`Program`, a generator that
yields operations and receives their results. ``Store`` runs programs with
``executor.execute``, ``AsyncStore`` with ``await executor.execute``; the logic is
written once.

Each operation that reaches the adapter is observed once, whatever number of statements
it runs: ``around`` encloses it, and as it ends one :class:`QueryEvent` goes to
``on_query`` and one DEBUG record to the ``noorm.query`` logger (OBS-1..4). With none
of them in use, the cost is one ``isEnabledFor`` test per operation.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from noorm.spec.adapter import Adapter, AsyncAdapter, Capability, require_capability
from noorm.spec.errors import DuplicateKeyError, ValidationError, suggest
from noorm.spec.filters import And, Compare, Filter, In, Not, Or, flatten, pinned, where_from
from noorm.spec.operations import (
    Count,
    Delete,
    Find,
    Insert,
    Operation,
    Order,
    Update,
    Upsert,
    UpsertResult,
)
from noorm.spec.schema import Model, Schema

from .cursor import CursorCodec, CursorKey, after_filter, cursor_keys, query_shape, unfixed
from .hooks import Plugin, QueryCall, QueryEvent, Write, WriteKind
from .limits import check_batch, check_limit
from .validate import ModelPlan

__all__ = ["CURSOR_KEY_ENV", "Around", "Page", "Program", "StoreCore", "Where"]

R = TypeVar("R", bound=Mapping[str, Any])
T = TypeVar("T")

Where = Filter | Mapping[str, Any] | None

Program = Generator[Operation[Any], Any, T]
"""A call of several steps: yields each operation, receives its result, returns the
call's result. Exceptions of a step are thrown into it."""

logger = logging.getLogger("noorm")
query_logger = logging.getLogger("noorm.query")
"""One DEBUG record per operation (OBS-4); never the operation's values unless the store
was built with ``log_parameters=True``."""

Around = Callable[[QueryCall], AbstractContextManager[Any]]
"""``Store(around=...)``: returns the context manager that encloses one operation."""


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of a find: its rows, and the cursor of the next page (None at the end)."""

    rows: list[R]
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[R]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(slots=True)
class _Shared:
    """What every bound or transactional view of one store shares."""

    schema: Schema
    adapter: Adapter | AsyncAdapter
    plugins: tuple[Plugin, ...]
    plans: dict[str, ModelPlan]
    codec: CursorCodec
    on_query: Callable[[QueryEvent], None] | None
    scoped: bool = field(default=False)
    around: Around | None = None
    log_parameters: bool = False
    watched: bool = False
    """``on_query`` or ``around`` is set: every operation is observed."""
    open_transactions: dict[object, int] = field(default_factory=dict)
    """Owner (a thread, or an asyncio task) -> how many ``transaction()`` blocks of this
    store it has open."""


class StoreCore:
    """The state and the I/O-free logic of a store; see :class:`~noorm.kit.Store`."""

    __slots__ = ("_context", "_executor", "_shared")

    def __init__(
        self,
        schema: Schema | Iterable[Model[Any]],
        adapter: Adapter | AsyncAdapter,
        *,
        plugins: Sequence[Plugin] = (),
        on_query: Callable[[QueryEvent], None] | None = None,
        around: Around | None = None,
        log_parameters: bool = False,
        cursor_key: CursorKey | Sequence[CursorKey] | None = None,
    ) -> None:
        if not isinstance(log_parameters, bool):
            raise TypeError(f"log_parameters must be a bool, got {type(log_parameters).__name__}")
        final = schema if isinstance(schema, Schema) else Schema(schema)
        for plugin in plugins:
            final = plugin.extend_schema(final)
            if not isinstance(final, Schema):
                raise TypeError(f"{type(plugin).__name__}.extend_schema must return a Schema")
        json_paths = Capability.JSON_PATHS in adapter.capabilities
        plans = {m.name: ModelPlan(m, json_paths=json_paths) for m in final.models}
        scoped = any(type(p).scope is not Plugin.scope for p in plugins)
        self._shared = _Shared(
            final,
            adapter,
            tuple(plugins),
            plans,
            CursorCodec(_default_keys() if cursor_key is None else cursor_keys(cursor_key)),
            on_query,
            scoped,
            around,
            log_parameters,
            on_query is not None or around is not None,
        )
        self._executor: Any = adapter
        self._context: Mapping[str, Any] = {}

    def _view(self, executor: Any, context: Mapping[str, Any]) -> Any:
        view = type(self).__new__(type(self))
        view._shared = self._shared
        view._executor = executor
        view._context = context
        return view

    # --- configuration --------------------------------------------------------------------

    @property
    def schema(self) -> Schema:
        """The final schema, after every plugin's extension."""
        return self._shared.schema

    @property
    def context(self) -> Mapping[str, Any]:
        return self._context

    def model(self, name: str) -> Model[Any]:
        """The final model called ``name`` (for schemas built from data)."""
        return self._shared.schema.model(name)

    @property
    def in_transaction(self) -> bool:
        """Whether this view is bound to a transaction (``store.transaction()``'s)."""
        return self._executor is not self._shared.adapter

    # --- preparing calls (no I/O) ------------------------------------------------------------

    def _get(self, model: Model[Any], key: Mapping[str, Any], for_update: bool) -> Find:
        plan = self._plan(model)
        self._check_locking(plan, for_update)
        where: Filter | None = plan.key_filter(self._key(plan, key))
        if self._shared.scoped:
            where = self._scoped(plan, where)
        return Find(plan.model, where, plan.tiebreak, 1, for_update)

    def _find(
        self,
        model: Model[Any],
        where: Where,
        order_by: Sequence[str | Order] | str | Order,
        limit: int | None,
        cursor: str | None,
        after: Mapping[str, Any] | None,
        for_update: bool,
    ) -> tuple[str, Program[Page[Any]]]:
        plan = self._plan(model)
        check_limit(limit, plan.name)
        self._check_locking(plan, for_update)
        if cursor is not None and after is not None:
            raise ValidationError("pass either cursor or after, not both", model=plan.name)
        base = self._scoped(plan, self._filter(plan, where))
        requested = plan.order(cast(Sequence[str | Order], order_by))
        order = unfixed(requested, base)
        start: Mapping[str, Any] | None = None
        anchor: Find | None = None
        shape = None
        if cursor is not None:
            shape = query_shape(plan.name, requested, base)
            start = self._shared.codec.decode(cursor, shape, order, plan.fields, model=plan.name)
        elif after is not None:
            where_key = self._scoped(plan, plan.key_filter(self._key(plan, after)))
            anchor = Find(plan.model, where_key, plan.tiebreak, 1)

        def page() -> Program[Page[Any]]:
            """The page: one statement, or two after= a row (its place, then the page)."""
            resume_from, resume_order = start, order
            if anchor is not None:
                found = yield anchor
                if not found:
                    return Page([], None)
                # The anchor need not match the filter (PAGE-3), so it may differ on a
                # field the filter fixes: its place is only known in the full order.
                resume_from, resume_order = found[0], requested
            query = base
            if resume_from is not None:
                resume = after_filter(resume_order, resume_from, plan.fields)
                query = resume if base is None else And((base, resume))
            fetch = None if limit is None else limit + 1
            rows = yield Find(plan.model, query, order, fetch, for_update)
            next_cursor = None
            if limit is not None and len(rows) > limit:
                del rows[limit:]  # the row read ahead only tells that another page follows
                next_cursor = self._shared.codec.encode(
                    shape or query_shape(plan.name, requested, base), order, rows[-1]
                )
            return Page(rows, next_cursor)

        return plan.name, page()

    def _count(self, model: Model[Any], where: Where) -> Count:
        plan = self._plan(model)
        return Count(plan.model, self._scoped(plan, self._filter(plan, where)))

    def _insert(self, model: Model[Any], row: object) -> Insert:
        plan = self._plan(model)
        return Insert(plan.model, (plan.row(self._written("insert", plan, row)),))

    def _insert_many(self, model: Model[Any], rows: object) -> Insert:
        """The batch (no rows: nothing to run); all rows are checked before any I/O."""
        plan = self._plan(model)
        if isinstance(rows, Mapping) or not isinstance(rows, Iterable):
            raise ValidationError(
                f"insert_many takes an iterable of rows, got {type(rows).__name__}",
                model=plan.name,
            )
        given = list(rows)
        check_batch(len(given), plan.name)
        return Insert(
            plan.model, tuple([plan.row(self._written("insert", plan, r)) for r in given])
        )

    def _update(
        self,
        model: Model[Any],
        values: Mapping[str, Any],
        where: Where,
        key: Mapping[str, Any] | None,
    ) -> Update:
        plan = self._plan(model)
        selected = self._selection(plan, where, key, "update")
        changes = plan.changes(self._written("update", plan, values, "update values"))
        return Update(plan.model, selected, changes)

    def _upsert(
        self, model: Model[Any], row: object, update: Sequence[str]
    ) -> tuple[str, Program[UpsertResult[Any]]]:
        plan = self._plan(model)
        fields = list(plan.update_fields(update))
        if self._shared.plugins:
            write = self._write("upsert", plan, _mapping(plan, row), fields)
            canonical = plan.row(write.values)
            fields = list(plan.update_fields(write.update or ()))
        else:
            canonical = plan.row(_mapping(plan, row))
        op = Upsert(plan.model, canonical, tuple(fields), self._scope(plan))

        def upsert() -> Program[UpsertResult[Any]]:
            result = yield op
            if result is None:
                raise DuplicateKeyError(
                    "a row with this primary key exists outside the current scope",
                    model=plan.name,
                )
            return cast(UpsertResult[Any], result)

        return plan.name, upsert()

    def _delete(self, model: Model[Any], where: Where, key: Mapping[str, Any] | None) -> Delete:
        plan = self._plan(model)
        return Delete(plan.model, self._selection(plan, where, key, "delete"))

    # --- transactions -----------------------------------------------------------------------

    _inside = "thread is inside `with store.transaction()"
    """Who owns a transaction, and how its block is spelled (for the error above)."""

    def _owner(self) -> object:
        """Who runs this call: the thread (Store) or the asyncio task (AsyncStore)."""
        raise NotImplementedError

    def _opened(self) -> object:
        """Count a ``transaction()`` block of the calling owner as open; the owner."""
        owner, open_transactions = self._owner(), self._shared.open_transactions
        open_transactions[owner] = open_transactions.get(owner, 0) + 1
        return owner

    def _closed(self, owner: object) -> None:
        open_transactions = self._shared.open_transactions
        if open_transactions[owner] == 1:
            del open_transactions[owner]
        else:
            open_transactions[owner] -= 1

    # --- internals ------------------------------------------------------------------------

    def _plan(self, model: Model[Any]) -> ModelPlan:
        name = model.name if isinstance(model, Model) else model
        plan = self._shared.plans.get(name) if isinstance(name, str) else None
        if plan is None:
            if not isinstance(name, str):
                raise ValidationError(f"expected a Model, got {type(model).__name__}")
            raise ValidationError(
                "unknown model (not in this store's schema)" + suggest(name, self._shared.plans),
                model=name,
            )
        if self._shared.open_transactions and self._executor is self._shared.adapter:
            self._check_outside(plan.name)
        return plan

    def _check_outside(self, model: str) -> None:
        """Refuse the outer store inside its own ``transaction()`` block (same owner)."""
        if self._owner() in self._shared.open_transactions:
            raise ValidationError(
                f"this {self._inside} as tx:`: run the operation on `tx` (e.g. "
                "`tx.insert(...)`, `tx.rows(model)`), not on the store, which is outside "
                "the transaction",
                model=model,
            )

    @staticmethod
    def _filter(plan: ModelPlan, where: Where) -> Filter | None:
        if type(where) is dict:
            quick = plan.quick_filter(where)
            if quick is not None:
                return quick
        try:
            parsed = where_from(where)
        except TypeError as exc:
            raise ValidationError(str(exc), model=plan.name) from None
        return None if parsed is None else plan.checked_filter(parsed)

    def _selection(
        self, plan: ModelPlan, where: Where, key: Mapping[str, Any] | None, op: str
    ) -> Filter:
        if where is None and key is None:
            raise ValidationError(
                f"{op} needs key=, where= or both (where=ALL for every row)", model=plan.name
            )
        if isinstance(where, Mapping) and not where:
            raise ValidationError(
                f"{op} with an empty where={{}} is refused; pass where=ALL", model=plan.name
            )
        if key is None:
            selected = self._filter(plan, where)
        else:
            selected = plan.key_filter(self._key(plan, key))
            condition = None if where is None else self._filter(plan, where)
            if condition is not None:
                selected = And(tuple(flatten(And((selected, condition)))))
        assert selected is not None
        if not self._shared.scoped:
            return selected
        scoped = self._scoped(plan, selected)
        assert scoped is not None
        return scoped

    def _key(self, plan: ModelPlan, key: Mapping[str, Any]) -> Mapping[str, Any]:
        """``key`` with the key fields the scope pins filled in (HOOK-KEY): under a
        per-tenant key space, a caller names a row by its key within the tenant."""
        if not self._shared.scoped or not isinstance(key, Mapping):
            return key
        missing = [name for name in plan.model.primary_key if name not in key]
        if not missing:
            return key
        pins = pinned(self._scope(plan))
        filled = {name: pins[name] for name in missing if name in pins}
        return {**key, **filled} if filled else key

    def _check_locking(self, plan: ModelPlan, for_update: bool) -> None:
        """ISO-3: a locking read only inside a transaction, only with ``locking_reads``."""
        if not for_update:
            return
        if for_update is not True:
            raise ValidationError(
                f"for_update must be a bool, got {type(for_update).__name__}", model=plan.name
            )
        if not self.in_transaction:
            raise ValidationError(
                "for_update=True locks rows until the transaction ends: use it inside "
                "store.transaction()",
                model=plan.name,
            )
        require_capability(
            self._shared.adapter.capabilities, Capability.LOCKING_READS, model=plan.name
        )

    def _scope(self, plan: ModelPlan) -> Filter | None:
        if not self._shared.scoped:
            return None
        required = [
            f for p in self._shared.plugins if (f := p.scope(plan.model, self._context)) is not None
        ]
        if not required:
            return None
        return plan.checked_filter(required[0] if len(required) == 1 else And(tuple(required)))

    def _scoped(self, plan: ModelPlan, where: Filter | None) -> Filter | None:
        scope = self._scope(plan)
        if scope is None:
            return where
        return scope if where is None else And((scope, where))

    def _written(
        self, kind: WriteKind, plan: ModelPlan, values: object, what: str = "a row"
    ) -> dict[str, Any]:
        """A caller's row (or update values) as a fresh dict, after the write hooks."""
        if self._shared.plugins:
            return self._write(kind, plan, _mapping(plan, values, what)).values
        return _mapping(plan, values, what)

    def _write(
        self,
        kind: WriteKind,
        plan: ModelPlan,
        values: dict[str, Any],
        update: list[str] | None = None,
    ) -> Write:
        """The write after every plugin's ``on_write`` hook has edited it."""
        write = Write(kind, plan.model, values, self._context, update)
        for plugin in self._shared.plugins:
            plugin.on_write(write)
        return write

    # --- observability --------------------------------------------------------------------

    def _observing(self) -> bool:
        return self._shared.watched or query_logger.isEnabledFor(logging.DEBUG)

    def _watched(
        self, name: str, model: str, program: Program[T], rows: Callable[[T], int]
    ) -> Program[T]:
        """``program`` run as operation ``name``: inside ``around``, then reported once."""
        around = self._shared.around
        if around is None:
            return (yield from self._measured(name, model, program, rows))
        done: list[T] = []
        error: BaseException | None = None
        with around(QueryCall(name, model, self._context)):
            try:
                done.append((yield from self._measured(name, model, program, rows)))
            except BaseException as exc:
                error = exc
                raise
        if done:
            return done[0]
        # around's context manager swallowed the operation's exception: the caller gets
        # it all the same (there is no result to return).
        assert error is not None
        raise error

    def _measured(
        self, name: str, model: str, program: Program[T], rows: Callable[[T], int]
    ) -> Program[T]:
        ops: list[Operation[Any]] = []
        start = time.perf_counter()
        try:
            result = yield from _recording(program, ops)
        except BaseException as exc:
            self._report(name, model, ops, time.perf_counter() - start, 0, exc)
            raise
        self._report(name, model, ops, time.perf_counter() - start, rows(result), None)
        return result

    def _report(
        self,
        name: str,
        model: str,
        ops: list[Operation[Any]],
        duration: float,
        rows: int,
        error: BaseException | None,
    ) -> None:
        """One event to ``on_query`` and one record to ``noorm.query`` (OBS-1, OBS-4)."""
        on_query = self._shared.on_query
        log = query_logger.isEnabledFor(logging.DEBUG)
        if on_query is None and not log:
            return
        statements = [self._statement(op) for op in ops]
        event = QueryEvent(
            name,
            model,
            statements[-1] if statements else None,
            duration,
            rows,
            error,
            tuple(s for s in statements if s is not None),
        )
        if log:
            _log(event, [_parameters(op) for op in ops] if self._shared.log_parameters else None)
        if on_query is not None:
            on_query(event)

    def _statement(self, op: Operation[Any]) -> str | None:
        try:
            return self._shared.adapter.statement(op)
        except Exception:  # observability never masks the operation's own outcome
            return None


def single(op: Operation[T]) -> Program[T]:
    """The program of a one-statement call."""
    result: T = yield op
    return result


def _recording(program: Program[T], ops: list[Operation[Any]]) -> Program[T]:
    """``yield from program``, noting each operation it runs."""
    try:
        op = next(program)
    except StopIteration as stop:
        return cast(T, stop.value)
    while True:
        ops.append(op)
        try:
            result = yield op
        except BaseException as exc:
            try:
                op = program.throw(exc)
            except StopIteration as stop:
                return cast(T, stop.value)
        else:
            try:
                op = program.send(result)
            except StopIteration as stop:
                return cast(T, stop.value)


def _log(event: QueryEvent, parameters: list[dict[str, Any]] | None) -> None:
    """The DEBUG record of one operation: ``find messages rows=20 1.234 ms: SELECT ...``."""
    ms = event.duration * 1000
    extra: dict[str, Any] = {
        "noorm_operation": event.operation,
        "noorm_model": event.model,
        "noorm_rows": event.rows,
        "noorm_duration_ms": ms,
        "noorm_statement": event.statement,
        "noorm_statements": event.statements,
        "noorm_error": None if event.error is None else type(event.error).__name__,
    }
    if event.error is None:
        message, args = "%s %s rows=%d %.3f ms", [event.operation, event.model, event.rows, ms]
    else:
        message = "%s %s failed with %s after %.3f ms"
        args = [event.operation, event.model, extra["noorm_error"], ms]
    if event.statements:
        message += ": %s"
        args.append("; ".join(event.statements))
    if parameters is not None:
        extra["noorm_parameters"] = parameters
        message += " parameters=%r"
        args.append(parameters)
    query_logger.debug(message, *args, extra=extra)


def _parameters(op: Operation[Any]) -> dict[str, Any]:
    """The values ``op`` carries (``log_parameters=True`` only): filter operands in
    order, written rows or values."""
    out: dict[str, Any] = {}
    if isinstance(op, Insert):
        out["rows"] = list(op.rows)
    elif isinstance(op, Upsert):
        out["row"] = op.row
    elif isinstance(op, Update):
        out["values"] = op.values
    where = getattr(op, "where", None)
    if where is not None:
        out["where"] = _operands(where, [])
    return out


def _operands(where: Filter, out: list[Any]) -> list[Any]:
    if isinstance(where, Compare):
        out.append(where.value)
    elif isinstance(where, In):
        out.extend(where.values)
    elif isinstance(where, And | Or):
        for item in where.items:
            _operands(item, out)
    elif isinstance(where, Not):
        _operands(where.item, out)
    return out


def counter(written: int | None) -> Callable[[object], int]:
    """The rows an operation reports: ``written`` for an insert, else what it returned."""
    return rows_of if written is None else lambda _: written


def one(_: object) -> int:
    return 1


def rows_of(result: object) -> int:
    """Rows a get or find returned, or an update, delete or count's number."""
    return len(result) if isinstance(result, list) else result if isinstance(result, int) else 0


CURSOR_KEY_ENV = "NOORM_CURSOR_KEY"
"""The environment variable a store without ``cursor_key`` reads its keys from."""


def _default_keys() -> tuple[bytes, ...]:
    """The keys of ``NOORM_CURSOR_KEY`` (comma-separated: the first signs, all verify), so
    every worker of a deployment shares cursors without code; else a random key."""
    configured = os.environ.get(CURSOR_KEY_ENV, "")
    if configured.strip():
        try:
            return cursor_keys([part.strip() for part in configured.split(",")])
        except ValidationError:
            raise ValidationError(
                f"{CURSOR_KEY_ENV} must hold a secret of at least 16 bytes, or several "
                "separated by commas (the first signs new cursors, every one is accepted)"
            ) from None
    logger.info(
        "Store without cursor_key or %s: its cursors are valid only in this process; give "
        "every worker the same key for cursors that survive restarts and fan-out",
        CURSOR_KEY_ENV,
    )
    return (secrets.token_bytes(32),)


def _mapping(plan: ModelPlan, row: object, what: str = "a row") -> dict[str, Any]:
    """A caller's row as a fresh dict; anything but a mapping is a ValidationError."""
    if type(row) is not dict and not isinstance(row, Mapping):
        raise ValidationError(
            f"{what} must be a mapping of field names to values, got {type(row).__name__}",
            model=plan.name,
        )
    return dict(row)
