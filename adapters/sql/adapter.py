"""The sync SQL adapter: :class:`~.core.SQLCore`'s programs driven on DB-API cursors.

A backend subclass supplies a :class:`~.dialect.Dialect`, exclusive use of a connection
(:meth:`SQLAdapter.session`) and a cursor factory (:meth:`SQLAdapter.cursor`);
everything else — running plans, decoding rows, the upsert protocol, atomic batches,
nested transactions as savepoints, and mapping driver errors — lives in the core once.

The connection must be in autocommit mode: the core issues ``BEGIN``/``COMMIT``/
``SAVEPOINT`` itself, so the driver must not open transactions behind its back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar, cast

from noorm.spec.adapter import Capability, Executor, require_capability
from noorm.spec.errors import BackendError
from noorm.spec.operations import Find, Operation
from noorm.spec.schema import Schema

from .compiler import Compiled
from .core import Cursor, Session, SQLCore, joining, locking_outside
from .program import Command, Pause, Plan, Program, Query

__all__ = ["Cursor", "SQLAdapter", "Session", "Transaction"]

T = TypeVar("T")
ConnT = TypeVar("ConnT")


class Transaction:
    """The executor a ``transaction()`` block receives; ``transaction()`` on it is a savepoint.

    Valid only inside its block and on the thread that opened it, like the memory
    adapter's: misuse raises BackendError instead of running outside the transaction.
    """

    __slots__ = ("_adapter", "_session", "_thread", "closed")

    def __init__(self, adapter: SQLAdapter[Any], session: Session[Any]) -> None:
        self._adapter = adapter
        self._session = session
        self._thread = threading.get_ident()
        self.closed = False

    def execute(self, op: Operation[T]) -> T:
        self._check(op.model.name)
        adapter, session = self._adapter, self._session
        with session.lock:
            return cast("T", adapter.drive(session, adapter.run(session, op)))

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
        check_usable(self._adapter, self._session, model)


def check_usable(core: SQLCore[Any], session: Session[Any], model: str | None) -> None:
    """Refuse a statement in a transaction the backend rolled back or aborted."""
    if session.broken:
        raise BackendError(
            "the backend rolled this transaction back after an error; nothing more can run in it",
            model=model,
        )
    if session.aborted:
        raise BackendError(core.aborted_message(), model=model)


class SQLAdapter(SQLCore[ConnT]):
    """Runs operations on a DB-API connection: the sync driver of :class:`SQLCore`."""

    reuse_cursor: bool = False
    """Run every statement of a session on one cursor (kept in :attr:`Session.cursor`)
    instead of opening and closing one per statement."""

    # --- what a backend provides -------------------------------------------------------------

    def session(self) -> AbstractContextManager[Session[ConnT]]:
        """Exclusive use of a connection (its session lock held) for one call or transaction.
        Within a thread's open transaction, that transaction's session."""
        raise NotImplementedError

    def cursor(self, conn: ConnT) -> Cursor:
        """A new cursor on ``conn`` that returns rows as sequences."""
        raise NotImplementedError

    def server_version(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # --- the Adapter protocol ----------------------------------------------------------------

    def execute(self, op: Operation[T]) -> T:
        """Run ``op`` on its own (atomically); waits while another thread's transaction runs."""
        if type(op) is Find and op.for_update:
            raise locking_outside(op)
        with self._free_session(op.model.name) as session:
            return cast("T", self.drive(session, self.run(session, op)))

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises; ``tx.transaction()`` nests."""
        require_capability(self.capabilities, Capability.TRANSACTIONS)
        with self._free_session(None) as session, self._scope(session) as tx:
            yield tx

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """Create what is missing, in one transaction; the statements it ran (or would run)."""
        with self._free_session(None) as session:
            done: list[str] = self.drive(session, self.bootstrap_program(session, schema, dry_run))
            return done

    @contextmanager
    def _free_session(self, model: str | None) -> Iterator[Session[ConnT]]:
        """A session for work outside any transaction of the calling thread."""
        with self.session() as session:
            if session.depth:  # we hold the lock, so the open transaction is this thread's
                raise joining(model)
            yield session

    @contextmanager
    def _scope(self, session: Session[ConnT]) -> Iterator[Transaction]:
        """A transaction at depth 0, a savepoint inside one; commits unless the block raises."""
        level = self.drive(session, self.begin(session))
        tx = Transaction(self, session)
        try:
            yield tx
        except BaseException as exc:
            tx.closed = True
            self.drive(session, self.end(session, level, exc))
            raise
        tx.closed = True
        self.drive(session, self.end(session, level, None))

    # --- the driver ----------------------------------------------------------------------------

    def drive(self, session: Session[ConnT], plan: Plan | Program[T]) -> Any:
        """Run ``plan`` on ``session``: its result, or the portable error it raised."""
        kind = type(plan)
        one: Any = plan  # a Query or a Command: unpacked as the tuple it is
        if kind is Query:
            compiled, model, then, _ = one
            rows = self._query(session, compiled, model)
            return rows if then is None else then(rows)
        if kind is Command:
            compiled, model, counted = one
            count = self._command(session, compiled, model)
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
                    value = self._query(session, step[0], step[1], step[3])
                elif kind is Command:
                    value = self._command(session, step[0], step[1])
                else:
                    value = self.step(session, step)
            except BaseException as exc:  # thrown into the program: its cleanup runs
                error = exc

    def step(self, session: Session[ConnT], step: Any) -> Any:
        """Run one step other than a Query or Command (those the driver runs itself);
        a backend with steps of its own (PostgreSQL's COPY) extends this."""
        kind = type(step)
        if kind is Query:
            return self._query(session, step.compiled, step.model, step.tolerate)
        if kind is Command:
            return self._command(session, step.compiled, step.model)
        if kind is Pause:
            time.sleep(step.seconds)
            return None
        raise TypeError(f"not a step of this adapter: {step!r}")

    def _query(
        self,
        session: Session[ConnT],
        compiled: Compiled,
        model: str | None,
        tolerate: tuple[type[BaseException], ...] = (),
    ) -> Any:
        """Run one statement; its rows, or the driver error if it is one to ``tolerate``."""
        cursor = session.cursor or self._new_cursor(session)
        try:
            cursor.execute(compiled.sql, compiled.params)
            return cursor.fetchall()
        except self.driver_errors as exc:
            if tolerate and isinstance(exc, tolerate):
                return exc
            raise self._failed(session, exc, model) from exc
        finally:
            if cursor is not session.cursor:  # a one-off cursor (reuse_cursor off)
                cursor.close()

    def _command(self, session: Session[ConnT], compiled: Compiled, model: str | None) -> int:
        """Run a statement that returns no rows; its row count."""
        cursor = session.cursor or self._new_cursor(session)
        try:
            cursor.execute(compiled.sql, compiled.params)
            return cursor.rowcount
        except self.driver_errors as exc:
            raise self._failed(session, exc, model) from exc
        finally:
            if cursor is not session.cursor:
                cursor.close()

    def _new_cursor(self, session: Session[ConnT]) -> Cursor:
        """A cursor for the next statement, kept as the session's where :attr:`reuse_cursor`."""
        cursor = self.cursor(session.conn)
        if self.reuse_cursor:
            session.cursor = cursor
        return cursor

    def _failed(self, session: Session[ConnT], exc: BaseException, model: str | None) -> Exception:
        error: Exception = self.drive(session, self.failed(session, exc, model))
        return error
