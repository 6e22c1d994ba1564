"""A DB-API adapter base: operation dispatch, transactions and savepoints for SQL backends.

A backend subclass supplies a :class:`~.dialect.Dialect`, a way to get exclusive use of
a connection (:meth:`SQLAdapter._session`) and a cursor factory; everything else —
running compiled statements, decoding rows, the upsert protocol, atomic batches,
nested transactions as savepoints, and mapping driver errors — lives here once.

The connection must be in autocommit mode: this class issues ``BEGIN``/``COMMIT``/
``SAVEPOINT`` itself, so the driver must not open transactions behind its back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, Generic, Protocol, TypeVar, cast

from noorm import __version__
from noorm.spec.adapter import Capability, Executor, check_capabilities, require_capability
from noorm.spec.errors import BackendError, ConflictError, NoOrmError, ValidationError
from noorm.spec.operations import (
    Count,
    Delete,
    Find,
    Insert,
    Operation,
    Update,
    Upsert,
    UpsertResult,
)
from noorm.spec.schema import Schema

from .compiler import DDL, Compiled, Compiler
from .dialect import Dialect
from .introspect import Catalog, Query, evolution_plan

__all__ = ["Cursor", "SQLAdapter", "Session", "Transaction"]

T = TypeVar("T")
ConnT = TypeVar("ConnT")


class Cursor(Protocol):
    """The part of a DB-API cursor the adapter uses."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any], /) -> object: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...

    def close(self) -> object: ...


class Session(Generic[ConnT]):
    """One connection in exclusive use, with its transaction nesting depth.

    ``broken`` records that the backend itself abandoned the open transaction after an
    error (SQLite does for some errors), so no later statement silently autocommits.
    ``aborted`` records that the backend keeps the transaction open but refuses every
    statement until it is rolled back, to a savepoint or entirely (PostgreSQL does after
    any error), so the next use gets a clear error and the block is rolled back.
    """

    __slots__ = ("aborted", "broken", "conn", "cursor", "depth", "lock")

    def __init__(self, conn: ConnT) -> None:
        self.conn = conn
        self.lock = threading.RLock()
        self.depth = 0
        self.broken = False
        self.aborted = False
        self.cursor: Cursor | None = None
        """The cursor every statement of the session runs on, where the adapter keeps
        one (:attr:`SQLAdapter.reuse_cursor`)."""


class Transaction(Generic[ConnT]):
    """The executor a ``transaction()`` block receives; ``transaction()`` on it is a savepoint.

    Valid only inside its block and on the thread that opened it, like the memory
    adapter's: misuse raises BackendError instead of running outside the transaction.
    """

    __slots__ = ("_adapter", "_session", "_thread", "closed")

    def __init__(self, adapter: SQLAdapter[ConnT], session: Session[ConnT]) -> None:
        self._adapter = adapter
        self._session = session
        self._thread = threading.get_ident()
        self.closed = False

    def execute(self, op: Operation[T]) -> T:
        self._check(op.model.name)
        with self._session.lock:
            return cast("T", self._adapter._run(self._session, op))

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        self._check(None)
        require_capability(self._adapter.capabilities, Capability.SAVEPOINTS)
        with self._session.lock, self._adapter._scope(self._session) as tx:
            yield tx

    def _check(self, model: str | None) -> None:
        if self.closed:
            raise BackendError(
                "this transaction has ended: its executor is valid only inside its `with` block",
                model=model,
            )
        if threading.get_ident() != self._thread:
            raise BackendError(
                "a transaction's executor belongs to the thread that opened it", model=model
            )
        if self._session.broken:
            raise BackendError(
                "the backend rolled this transaction back after an error; nothing more can run in it",
                model=model,
            )
        if self._session.aborted:
            raise BackendError(
                "an operation failed in this transaction and the backend aborted it: nothing "
                "more can run in it (run an operation that may fail in a nested transaction "
                "to continue after its error)",
                model=model,
            )


def _joining(model: str | None) -> BackendError:
    return BackendError(
        "this thread has an open transaction: run operations through its executor "
        "(`with adapter.transaction() as tx: tx.execute(...)`); running them here "
        "would silently join it",
        model=model,
    )


class SQLAdapter(Generic[ConnT]):
    """Runs operations on a DB-API connection through a :class:`Compiler`."""

    name: str = "sql"
    version: str = __version__
    capabilities: frozenset[Capability] = frozenset(
        {
            Capability.TRANSACTIONS,
            Capability.SAVEPOINTS,
            Capability.JSON_PATHS,
            Capability.LOCKING_READS,
            Capability.ATOMIC_UPDATES,
        }
    )

    def __init__(self, dialect: Dialect, *, cache_size: int = 512) -> None:
        self.dialect = dialect
        self.compiler = Compiler(dialect, cache_size=cache_size)

    # --- what a backend provides -------------------------------------------------------------

    def _session(self) -> AbstractContextManager[Session[ConnT]]:
        """Exclusive use of a connection (its session lock held) for one call or transaction."""
        raise NotImplementedError

    driver_errors: tuple[type[BaseException], ...] = ()
    """The driver's exceptions: mapped by the dialect's ``classify_error`` (the dialect
    itself needs no driver, so ``noorm ddl`` works without one)."""

    reuse_cursor: bool = False
    """Run every statement of a session on one cursor (kept in :attr:`Session.cursor`)
    instead of opening and closing one per statement."""

    def _cursor(self, conn: ConnT) -> Cursor:
        raise NotImplementedError

    def _in_transaction(self, conn: ConnT) -> bool | None:
        """Whether the backend still has a transaction open (None: the driver can't tell)."""
        return None

    def _aborted(self, conn: ConnT) -> bool:
        """Whether the open transaction refuses statements until a rollback (PostgreSQL)."""
        return False

    def server_version(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # --- the Adapter protocol ----------------------------------------------------------------

    def execute(self, op: Operation[T]) -> T:
        """Run ``op`` on its own (atomically); waits while another thread's transaction runs."""
        if type(op) is Find and op.for_update:
            raise _locking_outside(op)
        with self._free_session(op.model.name) as session:
            return cast("T", self._run(session, op))

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises; ``tx.transaction()`` nests."""
        require_capability(self.capabilities, Capability.TRANSACTIONS)
        with self._free_session(None) as session, self._scope(session) as tx:
            yield tx

    def statement(self, op: Operation[Any]) -> str | None:
        return self.compiler.statement(op)

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """Create what is missing, in one transaction; the statements it ran (or would run)."""
        ddl = self.compiler.ddl(schema)
        with self._free_session(None) as session:
            if dry_run:
                return [statement.sql for statement in self._plan(session, schema, ddl)]
            with self._scope(session):
                todo = self._plan(session, schema, ddl)
                for statement in todo:
                    self._command(session, Compiled(statement.sql, []), statement.model)
        return [statement.sql for statement in todo]

    def _plan(self, session: Session[ConnT], schema: Schema, ddl: list[DDL]) -> list[DDL]:
        """What bootstrap runs: the missing tables and indexes, and the additive changes
        of the existing tables (BOOT-5); SchemaMismatchError, before any DDL, for the rest."""
        todo = self._missing(session, ddl)
        creating = {s.model for s in todo if s.index_name is None}
        tables = [m.name for m in schema.models if m.name not in creating]
        catalog = self._catalog(session, schema, tables)
        return todo if catalog is None else evolution_plan(self.dialect, schema, todo, catalog)

    def _missing(self, session: Session[ConnT], ddl: list[DDL]) -> list[DDL]:
        """The statements whose table or index does not exist yet (default: all of them)."""
        return ddl

    def _catalog(
        self, session: Session[ConnT], schema: Schema, tables: list[str]
    ) -> Catalog | None:
        """The stored definition of ``tables`` (the models' tables that exist) and of the
        indexes ``schema`` names (None: the backend cannot tell; nothing is compared)."""
        return None

    def _catalog_query(self, session: Session[ConnT]) -> Query:
        """A catalog query runner for :mod:`.introspect` on ``session``."""

        def query(sql: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
            return self._query(session, Compiled(sql, list(params)), None)

        return query

    @contextmanager
    def _free_session(self, model: str | None) -> Iterator[Session[ConnT]]:
        """A session for work outside any transaction of the calling thread."""
        with self._session() as session:
            if session.depth:  # we hold the lock, so the open transaction is this thread's
                raise _joining(model)
            yield session

    # --- running operations -------------------------------------------------------------------

    def _run(self, session: Session[ConnT], op: Operation[Any]) -> Any:
        check_capabilities(self.capabilities, op)
        name = _RUNS.get(type(op))
        if name is None:
            name = next((n for kind, n in _RUNS.items() if isinstance(op, kind)), None)
            if name is None:
                raise TypeError(f"not an operation: {op!r}")
        return getattr(self, name)(session, op)

    def _run_find(self, session: Session[ConnT], op: Find) -> list[dict[str, Any]]:
        decode = self.compiler.table(op.model).decode
        return decode(self._query(session, self.compiler.find(op), op.model.name))

    def _run_count(self, session: Session[ConnT], op: Count) -> int:
        return self._count(session, self.compiler.count(op), op.model.name)

    def _run_update(self, session: Session[ConnT], op: Update) -> int:
        if not op.values:
            return self._count(session, self.compiler.update(op), op.model.name)
        return self._command(session, self.compiler.update(op), op.model.name)

    def _run_delete(self, session: Session[ConnT], op: Delete) -> int:
        return self._command(session, self.compiler.delete(op), op.model.name)

    def _insert(self, session: Session[ConnT], op: Insert) -> None:
        if len(op.rows) == 1:  # one statement is atomic by itself
            insert = self.compiler.insert_row(self.compiler.table(op.model), op.rows[0])
            self._command(session, insert, op.model.name)
            return
        chunks = list(self.compiler.insert(op))
        if len(chunks) == 1:  # one statement is atomic by itself
            self._command(session, chunks[0], op.model.name)
        elif chunks:
            with self._scope(session):
                for chunk in chunks:
                    self._command(session, chunk, op.model.name)

    def _upsert(self, session: Session[ConnT], op: Upsert) -> UpsertResult[dict[str, Any]] | None:
        """Insert-or-skip, then a scoped update, then a read; atomic as one unit.

        The INSERT takes the write lock first, so nothing can change the row between
        the steps, and its row count tells insert from update without guessing.
        """
        model = op.model.name
        table = self.compiler.table(op.model)
        with self._scope(session):
            insert = self.compiler.upsert_insert(op)
            if self._command(session, insert, model):
                return UpsertResult(table.written(insert.params), inserted=True)
            if op.update:
                if not self._command(session, self.compiler.upsert_update(op), model):
                    return None  # the existing row is outside the scope: leave it alone
                select = self.compiler.select_key(op.model, op.row, None)
            else:
                select = self.compiler.select_key(op.model, op.row, op.where)
            rows = table.decode(self._query(session, select, model))
        return UpsertResult(rows[0], inserted=False) if rows else None

    # --- statements ------------------------------------------------------------------------------

    def _query(
        self, session: Session[ConnT], compiled: Compiled, model: str | None
    ) -> Sequence[Sequence[Any]]:
        cursor = session.cursor or self._cursor(session.conn)
        try:
            cursor.execute(compiled.sql, compiled.params)
            return cursor.fetchall()
        except self.driver_errors as exc:
            raise self._failed(session, exc, model) from exc
        finally:
            self._done(session, cursor)

    def _command(self, session: Session[ConnT], compiled: Compiled, model: str | None) -> int:
        """Run a statement that returns no rows; its row count."""
        cursor = session.cursor or self._cursor(session.conn)
        try:
            cursor.execute(compiled.sql, compiled.params)
            return cursor.rowcount
        except self.driver_errors as exc:
            raise self._failed(session, exc, model) from exc
        finally:
            self._done(session, cursor)

    def _done(self, session: Session[ConnT], cursor: Cursor) -> None:
        """Keep the session's cursor for the next statement, or close a one-off one."""
        if session.cursor is not cursor:
            if self.reuse_cursor:
                session.cursor = cursor
            else:
                cursor.close()

    def _count(self, session: Session[ConnT], compiled: Compiled, model: str) -> int:
        return int(self._query(session, compiled, model)[0][0])

    def _failed(self, session: Session[ConnT], exc: BaseException, model: str | None) -> Exception:
        if session.depth and self._in_transaction(session.conn) is False:
            session.broken = True
        elif session.depth and self._aborted(session.conn):
            session.aborted = True
        error = self.dialect.classify_error(exc, model)
        if self.dialect.missing_table(exc):
            error = BackendError(
                f"the table does not exist: bootstrap() creates it ({error.reason})", model=model
            )
        if isinstance(error, ConflictError) and session.depth and not session.broken:
            # ISO-4: a conflict ends the whole transaction on every backend (InnoDB keeps
            # it open after a lock wait timeout, PostgreSQL only aborts it), and rolling
            # back now frees its locks for the transaction that won.
            with suppress(NoOrmError):
                self._control(session, "ROLLBACK")
            session.broken = True
            session.aborted = False
        return error

    def _control(self, session: Session[ConnT], sql: str) -> None:
        self._command(session, Compiled(sql, []), None)

    # --- transactions ------------------------------------------------------------------------------

    @contextmanager
    def _scope(self, session: Session[ConnT]) -> Iterator[Transaction[ConnT]]:
        """A transaction at depth 0, a savepoint inside one; commits unless the block raises."""
        level = session.depth
        savepoint = self.dialect.quote(f"noorm_sp{level}")
        if level == 0:
            session.broken = session.aborted = False
            self._control(session, self.dialect.begin_sql)
        else:
            if session.broken:
                raise BackendError("the backend rolled this transaction back after an error")
            self._control(session, f"SAVEPOINT {savepoint}")
        session.depth = level + 1
        tx = Transaction(self, session)
        try:
            yield tx
        except BaseException:
            tx.closed = True
            session.depth = level
            self._undo(session, level, savepoint)
            raise
        tx.closed = True
        session.depth = level
        self._finish(session, level, savepoint)

    def _undo(self, session: Session[ConnT], level: int, savepoint: str) -> None:
        """Roll back after the block raised; the block's exception is what propagates."""
        if session.broken:
            if level == 0:
                session.broken = False
            return  # the backend already rolled everything back
        with suppress(NoOrmError):
            if level == 0:
                self._control(session, "ROLLBACK")
            else:
                self._control(session, f"ROLLBACK TO SAVEPOINT {savepoint}")
                self._control(session, f"RELEASE SAVEPOINT {savepoint}")
            session.aborted = False

    def _finish(self, session: Session[ConnT], level: int, savepoint: str) -> None:
        if session.broken:
            if level == 0:
                session.broken = False
            raise BackendError(
                "the backend rolled the transaction back after an error inside it; "
                "nothing was committed"
            )
        if session.aborted:  # an error was caught inside the block: it cannot commit
            self._undo(session, level, savepoint)
            raise BackendError(
                "an operation failed in this transaction and the backend aborted it; "
                + ("the savepoint was rolled back" if level else "nothing was committed")
            )
        if level:
            self._control(session, f"RELEASE SAVEPOINT {savepoint}")
            return
        try:
            self._control(session, "COMMIT")
        except NoOrmError:
            with suppress(NoOrmError):
                if self._in_transaction(session.conn) is not False:
                    self._control(session, "ROLLBACK")
            raise


_RUNS: dict[type[Any], str] = {
    Find: "_run_find",
    Count: "_run_count",
    Update: "_run_update",
    Delete: "_run_delete",
    Insert: "_insert",
    Upsert: "_upsert",
}
"""The method :meth:`SQLAdapter._run` runs each kind of operation with (by name, so a
subclass overrides it), instead of a chain of isinstance tests."""


def _locking_outside(op: Find) -> ValidationError:
    """ISO-3: a locking read outside a transaction would lock nothing."""
    return ValidationError(
        "a locking read (for_update) needs a transaction: run it on the executor "
        "of adapter.transaction()",
        model=op.model.name,
    )
