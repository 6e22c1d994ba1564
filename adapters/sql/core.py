"""What every SQL adapter does, with no I/O: operations, transactions and bootstrap as programs.

:class:`SQLCore` turns an operation into a :data:`~.program.Plan` (one statement, or a
program of several, see :mod:`.program`) and holds the protocols that take more than
one statement — atomic batches, the upsert, BEGIN/SAVEPOINT/COMMIT/ROLLBACK with the
backend's view of a failed transaction, and bootstrap's look at the catalog. The sync
:class:`~.adapter.SQLAdapter` and the async :class:`~.async_adapter.AsyncSQLAdapter`
drive the same programs, so a backend writes each protocol once and gets both doors.

A backend overrides the hooks below (``run_*``, ``missing``, ``catalog``,
``bootstrap_plan``, ``in_transaction``, ``transaction_aborted``, ``on_error``); see
docs/adapters.md, "On the shared SQL layer".
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from noorm import __version__
from noorm.spec.adapter import Capability, check_capabilities
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
from .introspect import Catalog, evolution_plan
from .program import Command, Plan, Program, Query

__all__ = ["Cursor", "SQLCore", "Session", "as_program"]

T = TypeVar("T")
ConnT = TypeVar("ConnT")


class Cursor(Protocol):
    """The part of a DB-API cursor the sync driver uses."""

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
        """Held by the sync driver for a call or a whole transaction (unused by async)."""
        self.depth = 0
        self.broken = False
        self.aborted = False
        self.cursor: Any = None
        """The cursor every statement of the session runs on, where the adapter keeps
        one (:attr:`~.adapter.SQLAdapter.reuse_cursor`)."""


def as_program(plan: Plan) -> Program[Any]:
    """``plan`` as a program, to compose it: ``result = yield from as_program(plan)``."""
    if type(plan) is Query or type(plan) is Command:
        result = yield plan
        return result if plan.then is None else plan.then(result)
    return (yield from plan)


_tuple = tuple.__new__


def _nothing(_: object) -> None:
    return None


def _first_int(rows: Sequence[Sequence[Any]]) -> int:
    return int(rows[0][0])


class SQLCore(Generic[ConnT]):
    """The I/O-free half of a SQL adapter: plans, programs and the backend's hooks."""

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
    driver_errors: tuple[type[BaseException], ...] = ()
    """The driver's exceptions: mapped by the dialect's ``classify_error`` (the dialect
    itself needs no driver, so ``noorm ddl`` works without one)."""

    def __init__(self, dialect: Dialect, *, cache_size: int = 512) -> None:
        self.dialect = dialect
        self.compiler = Compiler(dialect, cache_size=cache_size)
        self._runners: dict[type[Any], Any] = {kind: getattr(self, n) for kind, n in _RUNS.items()}
        """Each kind of operation's ``run_*``, bound once (a subclass's override wins)."""

    def statement(self, op: Operation[Any]) -> str | None:
        return self.compiler.statement(op)

    # --- what a backend tells about its connections -----------------------------------------

    def in_transaction(self, conn: ConnT) -> bool | None:
        """Whether the backend still has a transaction open (None: the driver can't tell)."""
        return None

    def transaction_aborted(self, conn: ConnT) -> bool:
        """Whether the open transaction refuses statements until a rollback (PostgreSQL)."""
        return False

    def on_error(self, session: Session[ConnT], exc: BaseException) -> None:
        """Record what a driver error did to ``session`` before it is mapped: e.g. set
        ``session.broken`` when the server rolled the whole transaction back."""

    # --- operations --------------------------------------------------------------------------

    def run(self, session: Session[ConnT], op: Operation[Any]) -> Plan:
        """How ``op`` runs on ``session``: one statement or a program."""
        check_capabilities(self.capabilities, op)
        runner = self._runners.get(type(op))
        if runner is None:
            name = next((n for kind, n in _RUNS.items() if isinstance(op, kind)), None)
            if name is None:
                raise TypeError(f"not an operation: {op!r}")
            runner = getattr(self, name)
        plan: Plan = runner(session, op)
        return plan

    # The one-statement plans are built with tuple.__new__: the usual call's plan costs
    # no Python-level constructor (NamedTuple's __new__ is one).

    def run_find(self, session: Session[ConnT], op: Find) -> Plan:
        decode = self.compiler.table(op.model).decode
        return _tuple(Query, (self.compiler.find(op), op.model.name, decode, ()))

    def run_count(self, session: Session[ConnT], op: Count) -> Plan:
        return _tuple(Query, (self.compiler.count(op), op.model.name, _first_int, ()))

    def run_update(self, session: Session[ConnT], op: Update) -> Plan:
        if not op.values:
            return _tuple(Query, (self.compiler.update(op), op.model.name, _first_int, ()))
        return _tuple(Command, (self.compiler.update(op), op.model.name, None))

    def run_delete(self, session: Session[ConnT], op: Delete) -> Plan:
        return _tuple(Command, (self.compiler.delete(op), op.model.name, None))

    def run_insert(self, session: Session[ConnT], op: Insert) -> Plan:
        """One statement where it fits (atomic by itself), else the chunks in a transaction."""
        name = op.model.name
        if len(op.rows) == 1:
            insert = self.compiler.insert_row(self.compiler.table(op.model), op.rows[0])
            return Command(insert, name, _nothing)
        chunks = list(self.compiler.insert(op))
        if len(chunks) == 1:
            return Command(chunks[0], name, _nothing)
        return self.atomic(session, self._commands(chunks, name))

    @staticmethod
    def _commands(chunks: list[Compiled], model: str) -> Program[None]:
        for chunk in chunks:
            yield Command(chunk, model)

    def run_upsert(self, session: Session[ConnT], op: Upsert) -> Plan:
        """Insert-or-skip, then a scoped update, then a read; atomic as one unit.

        The INSERT takes the write lock first, so nothing can change the row between
        the steps, and its row count tells insert from update without guessing.
        """
        return self.atomic(session, self._upsert_steps(op))

    def _upsert_steps(self, op: Upsert) -> Program[UpsertResult[dict[str, Any]] | None]:
        model = op.model.name
        table = self.compiler.table(op.model)
        insert = self.compiler.upsert_insert(op)
        if (yield Command(insert, model)):
            return UpsertResult(table.written(insert.params), inserted=True)
        if op.update:
            if not (yield Command(self.compiler.upsert_update(op), model)):
                return None  # the existing row is outside the scope: leave it alone
            select = self.compiler.select_key(op.model, op.row, None)
        else:
            select = self.compiler.select_key(op.model, op.row, op.where)
        rows = table.decode((yield Query(select, model)))
        return UpsertResult(rows[0], inserted=False) if rows else None

    # --- transactions ------------------------------------------------------------------------

    def atomic(self, session: Session[ConnT], body: Program[T]) -> Program[T]:
        """``body`` in a transaction (a savepoint inside one): all of it or none of it."""
        level = yield from self.begin(session)
        try:
            result = yield from body
        except BaseException as exc:
            yield from self.end(session, level, exc)
            raise
        yield from self.end(session, level, None)
        return result

    def begin(self, session: Session[ConnT]) -> Program[int]:
        """BEGIN at depth 0, a SAVEPOINT inside a transaction; the level it opened."""
        level = session.depth
        if level == 0:
            session.broken = session.aborted = False
            yield Command(Compiled(self.dialect.begin_sql, []), None)
        else:
            if session.broken:
                raise BackendError("the backend rolled this transaction back after an error")
            yield Command(Compiled(f"SAVEPOINT {self._savepoint(level)}", []), None)
        session.depth = level + 1
        return level

    def end(
        self, session: Session[ConnT], level: int, error: BaseException | None
    ) -> Program[None]:
        """Close what :meth:`begin` opened at ``level``: roll back when the block raised
        ``error`` (which the caller re-raises), else commit or release."""
        session.depth = level
        if error is not None:
            yield from self._undo(session, level)
        else:
            yield from self._finish(session, level)

    def _savepoint(self, level: int) -> str:
        return self.dialect.quote(f"noorm_sp{level}")

    def _undo(self, session: Session[ConnT], level: int) -> Program[None]:
        """Roll back after the block raised; the block's exception is what propagates."""
        if session.broken:
            if level == 0:
                session.broken = False
            return  # the backend already rolled everything back
        try:
            if level == 0:
                yield _control("ROLLBACK")
            else:
                savepoint = self._savepoint(level)
                yield _control(f"ROLLBACK TO SAVEPOINT {savepoint}")
                yield _control(f"RELEASE SAVEPOINT {savepoint}")
        except NoOrmError:
            return
        session.aborted = False

    def _finish(self, session: Session[ConnT], level: int) -> Program[None]:
        if session.broken:
            if level == 0:
                session.broken = False
            raise BackendError(
                "the backend rolled the transaction back after an error inside it; "
                "nothing was committed"
            )
        if session.aborted:  # an error was caught inside the block: it cannot commit
            yield from self._undo(session, level)
            raise BackendError(
                "an operation failed in this transaction and the backend aborted it; "
                + ("the savepoint was rolled back" if level else "nothing was committed")
            )
        if level:
            yield _control(f"RELEASE SAVEPOINT {self._savepoint(level)}")
            return
        try:
            yield _control("COMMIT")
        except NoOrmError:
            if self.in_transaction(session.conn) is not False:
                with contextlib.suppress(NoOrmError):
                    yield _control("ROLLBACK")
            raise

    def failed(
        self, session: Session[ConnT], exc: BaseException, model: str | None
    ) -> Program[Exception]:
        """The portable error for driver error ``exc``, after updating ``session``'s state:
        a conflict rolls the whole transaction back (ISO-4)."""
        self.on_error(session, exc)
        if session.depth and self.in_transaction(session.conn) is False:
            session.broken = True
        elif session.depth and self.transaction_aborted(session.conn):
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
            with contextlib.suppress(NoOrmError):
                yield _control("ROLLBACK")
            session.broken = True
            session.aborted = False
        return error

    def aborted_message(self) -> str:
        """What a transaction says after the backend aborted it."""
        advice = (
            " (run an operation that may fail in a nested transaction to continue after its error)"
            if Capability.SAVEPOINTS in self.capabilities
            else ""
        )
        return (
            "an operation failed in this transaction and the backend aborted it: nothing "
            f"more can run in it{advice}"
        )

    # --- bootstrap ---------------------------------------------------------------------------

    def bootstrap_program(
        self, session: Session[ConnT], schema: Schema, dry_run: bool
    ) -> Program[list[str]]:
        """Create what is missing, in one transaction; the statements it ran (or would run)."""
        ddl = self.compiler.ddl(schema)
        if dry_run:
            todo = yield from self.bootstrap_plan(session, schema, ddl)
        else:
            todo = yield from self.atomic(session, self._create(session, schema, ddl))
        return [statement.sql for statement in todo]

    def _create(
        self, session: Session[ConnT], schema: Schema, ddl: list[DDL]
    ) -> Program[list[DDL]]:
        todo = yield from self.bootstrap_plan(session, schema, ddl)
        for statement in todo:
            yield Command(Compiled(statement.sql, []), statement.model)
        return todo

    def bootstrap_plan(
        self, session: Session[ConnT], schema: Schema, ddl: list[DDL]
    ) -> Program[list[DDL]]:
        """What bootstrap runs: the missing tables and indexes, and the additive changes
        of the existing tables (BOOT-5); SchemaMismatchError, before any DDL, for the rest."""
        todo = yield from self.missing(session, ddl)
        creating = {s.model for s in todo if s.index_name is None}
        tables = [m.name for m in schema.models if m.name not in creating]
        catalog = yield from self.catalog(session, schema, tables)
        return todo if catalog is None else evolution_plan(self.dialect, schema, todo, catalog)

    def missing(self, session: Session[ConnT], ddl: list[DDL]) -> Program[list[DDL]]:
        """The statements whose table or index does not exist yet (default: all of them)."""
        yield from ()
        return ddl

    def catalog(
        self, session: Session[ConnT], schema: Schema, tables: list[str]
    ) -> Program[Catalog | None]:
        """The stored definition of ``tables`` (the models' tables that exist) and of the
        indexes ``schema`` names (None: the backend cannot tell; nothing is compared).
        ``noorm.adapters.sql.introspect`` builds it from catalog queries."""
        yield from ()
        return None


def _control(sql: str) -> Command:
    return Command(Compiled(sql, []), None)


_RUNS: dict[type[Any], str] = {
    Find: "run_find",
    Count: "run_count",
    Update: "run_update",
    Delete: "run_delete",
    Insert: "run_insert",
    Upsert: "run_upsert",
}
"""The method :meth:`SQLCore.run` plans each kind of operation with (by name, so a
subclass overrides it), instead of a chain of isinstance tests."""


def locking_outside(op: Find) -> ValidationError:
    """ISO-3: a locking read outside a transaction would lock nothing."""
    return ValidationError(
        "a locking read (for_update) needs a transaction: run it on the executor "
        "of adapter.transaction()",
        model=op.model.name,
    )


def joining(model: str | None) -> BackendError:
    """Refuse a call from the thread inside one of the adapter's own transactions: it
    would run outside it, or wait for it forever. (The async door's rule is in
    :mod:`noorm.adapters.tasks`.)"""
    return BackendError(
        "this thread has an open transaction: run operations through its executor "
        "(`with adapter.transaction() as tx: tx.execute(...)`); running them here "
        "would silently join it",
        model=model,
    )
