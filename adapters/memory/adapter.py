"""The memory adapter: the reference implementation of docs/spec.md, in process.

Host libraries use it in their own unit tests, so it is exact rather than merely
convenient: every clause behaves as the spec says, and misuse that would deadlock
or silently bypass a transaction on a real backend raises instead.

Concurrency model: one re-entrant lock guards all state. A transaction holds it from
``__enter__`` to ``__exit__`` (serializable: other threads wait, so a locking read,
ISO-2, needs nothing more and no conflict ever arises); each write appends
to an undo log, so a rollback (of a statement, a savepoint or the transaction)
replays the log backwards to a mark.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar, cast

import noorm
from noorm.spec import (
    BackendError,
    Capability,
    Count,
    Delete,
    Field,
    Find,
    Index,
    Insert,
    Model,
    Operation,
    Schema,
    UnsupportedError,
    Update,
    Upsert,
    UpsertResult,
    ValidationError,
    check_capabilities,
    require_capability,
)
from noorm.spec.evolution import StoredColumn, StoredIndex, StoredTable, evolve

from .evaluate import pinned_key, predicate, sort_rows
from .table import (
    Table,
    UndoLog,
    UniqueIndex,
    describe_field,
    describe_index,
    describe_model,
)

__all__ = ["MemoryAdapter", "MemoryTransaction"]

T = TypeVar("T")


class MemoryAdapter:
    """An in-memory backend with every capability; state lives until :meth:`close`.

    Safe to share between threads. Inside ``with adapter.transaction() as tx:`` use
    ``tx`` (on the same thread); ``tx.transaction()`` opens a savepoint.
    """

    name: str = "memory"
    version: str = noorm.__version__
    capabilities: frozenset[Capability] = frozenset(Capability)

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tables: dict[str, Table] = {}
        self._log: UndoLog = []
        self._tx_thread: int | None = None  # set while a transaction holds the lock
        self._closed = False

    # --- Adapter protocol -----------------------------------------------------------------

    def execute(self, op: Operation[T]) -> T:
        """Run ``op`` atomically, outside any transaction (waits for another thread's)."""
        if type(op) is Find and op.for_update:
            raise ValidationError(
                "a locking read (for_update) needs a transaction: run it on the executor "
                "of adapter.transaction()",
                model=op.model.name,
            )
        with self._lock:
            if self._tx_thread is not None:
                # Holding the lock while a transaction is open means it is this thread's.
                raise BackendError(
                    "this thread has an open transaction: run operations through its "
                    "executor (`with adapter.transaction() as tx: tx.execute(...)`); a real "
                    "backend would deadlock or bypass the transaction here",
                    model=_model_name(op),
                )
            try:
                return self._run(op)
            finally:
                self._log.clear()  # outside a transaction every statement commits

    def transaction(self) -> AbstractContextManager[MemoryTransaction]:
        """A transaction: commits on normal exit, rolls back and re-raises on an exception."""
        return self._transaction()

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """Create missing models and indexes, add new nullable fields; one description each.

        Idempotent (a second run returns [] and changes nothing) and atomic: every model
        is compared with its table (:func:`~noorm.spec.evolution.evolve`, BOOT-5..7) and
        every unique index built before anything changes.
        """
        with self._lock:
            self._check_open()
            stored = {
                name: StoredIndex(name, owner, _columns(index), index.unique)
                for owner, table in self._tables.items()
                for name, index in table.indexes.items()
            }
            statements: list[str] = []
            new_tables: list[Table] = []
            new_fields: list[tuple[Table, Model[Any]]] = []
            new_indexes: list[tuple[Table, Index, UniqueIndex | None]] = []
            for model in schema.models:
                table = self._tables.get(model.name)
                if table is None:
                    evolution = evolve(model, None, stored, _same_type)
                    table = Table(model)
                    new_tables.append(table)
                    statements.append(describe_model(model))
                else:
                    evolution = evolve(model, _stored(table.model), stored, _same_type)
                    if evolution.fields:
                        grown = table.model.replace(fields=(*table.model.fields, *evolution.fields))
                        new_fields.append((table, grown))
                        statements.extend(describe_field(model, f) for f in evolution.fields)
                added = {f.name for f in evolution.fields}
                for index in evolution.indexes:
                    # A dry run reads no rows: it proposes what a real run would try.
                    empty = any(c.field in added for c in index.columns)
                    built = (
                        table.unique_index(index, empty=empty)
                        if index.unique and not dry_run
                        else None
                    )
                    new_indexes.append((table, index, built))
                    statements.append(describe_index(model, index))
            if new_fields and not dry_run and self._tx_thread is not None:
                # The undo log holds rows without the new fields: a rollback would
                # bring them back. (A SQL adapter refuses any bootstrap here.)
                raise BackendError("bootstrap() cannot add fields inside a transaction")
            if not dry_run:
                for table in new_tables:
                    self._tables[table.model.name] = table
                for table, grown in new_fields:
                    table.grow(grown)
                for table, index, built in new_indexes:
                    table.add_index(index, built)
            return statements

    def server_version(self) -> str:
        return f"noorm memory {self.version}"

    def statement(self, op: Operation[Any]) -> str | None:
        """None: the memory adapter compiles operations to nothing."""
        return None

    def close(self) -> None:
        """Drop every table; later operations raise BackendError. Idempotent."""
        with self._lock:
            self._closed = True
            self._tables.clear()

    # --- transactions ---------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[MemoryTransaction]:
        require_capability(self.capabilities, Capability.TRANSACTIONS)
        with self._lock:
            if self._tx_thread is not None:
                raise BackendError(
                    "this thread already has an open transaction; use tx.transaction() "
                    "for a savepoint inside it"
                )
            self._check_open()
            self._tx_thread = threading.get_ident()
            tx = MemoryTransaction(self)
            try:
                yield tx
            except BaseException:
                self._undo(0)
                raise
            finally:
                tx._open = False
                self._log.clear()  # committed (or already undone)
                self._tx_thread = None

    @contextmanager
    def _savepoint(self, parent: MemoryTransaction) -> Iterator[MemoryTransaction]:
        parent._check()
        mark = len(self._log)
        savepoint = MemoryTransaction(self, parent)
        try:
            yield savepoint
        except BaseException:
            self._undo(mark)
            raise
        finally:
            savepoint._open = False

    def _undo(self, mark: int) -> None:
        log = self._log
        while len(log) > mark:
            table, key, old = log.pop()
            table.restore(key, old)

    # --- operations (the lock is held) ----------------------------------------------------

    def _run(self, op: Operation[T]) -> T:
        self._check_open()
        check_capabilities(self.capabilities, op)
        mark = len(self._log)
        try:
            return cast("T", self._dispatch(op))
        except BaseException:
            self._undo(mark)  # a statement is all-or-nothing, in a transaction or not
            raise

    def _dispatch(self, op: Operation[Any]) -> Any:
        if isinstance(op, Find):
            return self._find(op)
        if isinstance(op, Insert):
            return self._insert(op)
        if isinstance(op, Count):
            return self._count(op)
        if isinstance(op, Update):
            return self._update(op)
        if isinstance(op, Delete):
            return self._delete(op)
        if isinstance(op, Upsert):
            return self._upsert(op)
        raise UnsupportedError(f"unknown operation {type(op).__name__}", model=_model_name(op))

    def _table(self, model: Model[Any]) -> Table:
        table = self._tables.get(model.name)
        if table is None:
            raise BackendError(
                f"model {model.name} does not exist; run bootstrap()", model=model.name
            )
        if model is not table.model and not _fits(model, table.model):
            raise BackendError(
                "the operation's model differs from the table bootstrap() made (a field "
                "or the primary key differs, or the table has a NOT NULL field the model "
                "lacks): run bootstrap() with this model",
                model=model.name,
            )
        return table

    def _selected(self, table: Table, op: Find | Count | Update | Delete) -> list[dict[str, Any]]:
        """The stored rows matching ``op.where`` (references, not copies)."""
        test = predicate(op.model, op.where)
        key = pinned_key(op.model, op.where)
        if key is not None:
            row = table.rows.get(key)
            return [row] if row is not None and test(row) else []
        return [row for row in table.rows.values() if test(row)]

    def _find(self, op: Find) -> list[dict[str, Any]]:
        table = self._table(op.model)
        if op.limit is not None and op.limit <= 0:
            return []
        rows = self._selected(table, op)
        sort_rows(op.model, rows, op.order)
        if op.limit is not None:
            del rows[op.limit :]
        out = [table.copy_out(row) for row in rows]
        return out if op.model is table.model else _narrow(op.model, table, out)

    def _count(self, op: Count) -> int:
        return len(self._selected(self._table(op.model), op))

    def _insert(self, op: Insert) -> None:
        table = self._table(op.model)
        given = op.rows if op.model is table.model else _padded(op.model, table, op.rows)
        rows = [table.stored(row) for row in given]  # copy everything before writing
        for row in rows:
            table.insert(row, self._log)

    def _update(self, op: Update) -> int:
        table = self._table(op.model)
        values = table.stored_values(op.values)
        rows = self._selected(table, op)
        if values:
            for row in rows:
                table.put(table.key_of(row), {**row, **values}, self._log)
        return len(rows)

    def _delete(self, op: Delete) -> int:
        table = self._table(op.model)
        rows = self._selected(table, op)
        for row in rows:
            table.put(table.key_of(row), None, self._log)
        return len(rows)

    def _upsert(self, op: Upsert) -> UpsertResult[dict[str, Any]] | None:
        table = self._table(op.model)
        given = (op.row,) if op.model is table.model else _padded(op.model, table, (op.row,))
        row = table.stored(given[0])
        key = table.key_of(row)
        existing = table.rows.get(key)
        if existing is None:
            table.insert(row, self._log)
            return UpsertResult(_narrow(op.model, table, [table.copy_out(row)])[0], inserted=True)
        if op.where is not None and not predicate(op.model, op.where)(existing):
            return None  # the row belongs to another scope: the kit reports a duplicate
        if not op.update:
            return UpsertResult(
                _narrow(op.model, table, [table.copy_out(existing)])[0], inserted=False
            )
        for name in op.update:
            if not table.model.has_field(name):
                raise ValidationError("unknown field in update", model=op.model.name, field=name)
        # ``row`` is already a private copy; key fields in ``update`` hold equal values.
        updated = {**existing, **{name: row[name] for name in op.update}}
        table.put(key, updated, self._log)
        return UpsertResult(_narrow(op.model, table, [table.copy_out(updated)])[0], inserted=False)

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError("the memory adapter is closed")


class MemoryTransaction:
    """The executor of one transaction or savepoint, valid inside its ``with`` block only."""

    __slots__ = ("_adapter", "_open", "_parent", "_thread")

    def __init__(self, adapter: MemoryAdapter, parent: MemoryTransaction | None = None) -> None:
        self._adapter = adapter
        self._parent = parent
        self._thread = threading.get_ident()
        self._open = True

    @property
    def active(self) -> bool:
        """Whether this block and every enclosing one are still open."""
        scope: MemoryTransaction | None = self
        while scope is not None:
            if not scope._open:
                return False
            scope = scope._parent
        return True

    def execute(self, op: Operation[T]) -> T:
        """Run ``op`` inside this transaction; it sees the transaction's own writes (TX-3)."""
        self._check(op)
        return self._adapter._run(op)

    def transaction(self) -> AbstractContextManager[MemoryTransaction]:
        """A savepoint: an exception inside rolls back only its block (TX-2)."""
        self._check()
        require_capability(self._adapter.capabilities, Capability.SAVEPOINTS)
        return self._adapter._savepoint(self)

    def _check(self, op: Operation[Any] | None = None) -> None:
        model = None if op is None else _model_name(op)
        if not self.active:
            raise BackendError(
                "this transaction has ended: its executor is valid only inside its `with` block",
                model=model,
            )
        if threading.get_ident() != self._thread:
            raise BackendError(
                "a transaction's executor belongs to the thread that opened it", model=model
            )


def _fits(model: Model[Any], table: Model[Any]) -> bool:
    """Whether ``model`` can work on a table of ``table``'s fields: the same key, each of
    its fields stored as declared, and only nullable fields besides (BOOT-5)."""
    return (
        model.primary_key == table.primary_key
        and all(table.has_field(f.name) and table.field(f.name) == f for f in model.fields)
        and all(f.nullable or model.has_field(f.name) for f in table.fields)
    )


def _padded(
    model: Model[Any], table: Table, rows: Sequence[Mapping[str, Any]]
) -> Sequence[Mapping[str, Any]]:
    """``rows`` of ``model`` with NULL in the fields the table has besides (BOOT-5)."""
    extra = dict.fromkeys(name for name in table.field_names if not model.has_field(name))
    return [{**row, **extra} for row in rows] if extra else rows


def _narrow(model: Model[Any], table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` of the table with only ``model``'s fields, as a SQL SELECT of them reads."""
    if len(model.fields) == len(table.field_names):
        return rows
    names = model.field_names
    return [{name: row[name] for name in names} for row in rows]


def _stored(model: Model[Any]) -> StoredTable:
    columns = tuple(StoredColumn(f.name, f.type, f.nullable) for f in model.fields)
    return StoredTable(columns, model.primary_key)


def _columns(index: Index) -> tuple[tuple[str, bool], ...]:
    return tuple((c.field, c.descending) for c in index.columns)


def _same_type(field: Field, stored: object) -> bool:
    return field.type == stored


def _model_name(op: Operation[Any]) -> str | None:
    model = getattr(op, "model", None)
    return model.name if isinstance(model, Model) else None
