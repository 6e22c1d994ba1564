"""The MongoDB adapter: operations as pymongo calls, spec semantics without transactions.

The logic (what each operation sends, how batches, updates and upserts stay as atomic as
a server without transactions allows, bootstrap's checks, transactions) is
:class:`~.core.MongoCore`'s, shared with :class:`~.async_adapter.AsyncMongoAdapter`;
this module is its sync driver: it runs each plan's calls on ``MongoClient``'s objects.
See ``core`` for the semantics and docs/backends/mongodb.md for the residual races.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.database import Database

from noorm.spec import BackendError, Operation, Schema

from .core import (
    CODEC_OPTIONS,
    FERRETDB_INSERT_STATEMENT,
    LIST,
    URL_TIMEOUT_MS,
    Block,
    Call,
    Document,
    MongoCore,
    Program,
    Returned,
    advance,
    finish,
)
from .door import MongoDoor

__all__ = [
    "CODEC_OPTIONS",
    "FERRETDB_INSERT_STATEMENT",
    "URL_TIMEOUT_MS",
    "MongoAdapter",
    "MongoTransaction",
]

T = TypeVar("T")


class MongoAdapter(MongoDoor[MongoClient[Any], Database[Document]]):
    """A no-orm adapter on one MongoDB (or FerretDB) database.

    ``MongoAdapter(url_or_client_or_database, database=None)``: a URL opens (and
    :meth:`close` closes) its own client; a ``MongoClient`` or ``Database`` stays the
    caller's. The database name comes from ``database``, the Database, or the URL.
    The server is asked once, here, what it supports.

    ``allow_non_atomic_transactions=True`` lets :meth:`transaction` run its block
    directly on a server without transactions; the TRANSACTIONS capability is still
    not declared, since nothing is rolled back.
    """

    def __init__(
        self,
        target: MongoClient[Any] | Database[Any] | str,
        database: str | None = None,
        *,
        allow_non_atomic_transactions: bool = False,
    ) -> None:
        super().__init__(target, database, allow_non_atomic_transactions, (MongoClient, Database))
        try:
            self._drive(self._core.probe())
            self.capabilities = self._core.capabilities
        except BaseException:
            self.close()
            raise
        self.ferretdb = self._core.ferretdb

    def _discard(self, client: Any) -> None:
        client.close()

    def server_version(self) -> str:
        """e.g. ``"MongoDB 7.0.42 (FerretDB v1.24.2)"``, from ``buildInfo``."""
        return self._core.server_version

    def close(self) -> None:
        """Close the client if the adapter opened it; later operations raise BackendError."""
        self._core.closed = True
        if self._owned is not None:
            self._owned.close()

    # --- Executor -------------------------------------------------------------------------

    def execute(self, op: Operation[T]) -> T:
        return self._execute(op, None)

    def transaction(self) -> AbstractContextManager[MongoTransaction]:
        """A multi-document transaction (TX-1); nested ones raise UnsupportedError.

        Without server support this raises UnsupportedError (TX-4), unless the adapter
        was built with ``allow_non_atomic_transactions=True``: then the block runs its
        operations directly, with no rollback.
        """
        return self._block(self._core.transaction(self.capabilities))

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """Create missing collections and indexes; returns a description per call
        (:meth:`MongoCore.bootstrap <noorm.adapters.mongodb.core.MongoCore.bootstrap>`)."""
        result: list[str] = self._drive(self._core.bootstrap(schema, dry_run))
        return result

    # --- the driver -----------------------------------------------------------------------

    def _execute(self, op: Operation[T], session: ClientSession | None) -> T:
        plan = self._core.plan(op, session, self.capabilities)
        if plan.__class__ is Call:
            return finish(plan, *self._outcome(plan))  # type: ignore[no-any-return]
        return self._drive(plan)  # type: ignore[arg-type, no-any-return]

    def _outcome(self, call: Call) -> tuple[Any, BaseException | None]:
        """``(result, None)`` of ``call``, or ``(None, its exception)``."""
        try:
            result = getattr(self._target(call.on), call.method)(*call.args, **call.kwargs)
            if call.kind == LIST:
                with result:
                    return result.to_list(), None
            return result, None
        except BaseException as exc:
            return None, exc

    def _drive(self, program: Program[Any], error: BaseException | None = None) -> Any:
        """Run ``program`` (resumed with ``error`` thrown in, if given) until it returns
        (its value) or pauses at a :class:`Block` (returned)."""
        step = advance(program, None, error)
        while step.__class__ is Call:
            step = advance(program, *self._outcome(step))
        return step.value if step.__class__ is Returned else step

    @contextmanager
    def _block(self, program: Program[None]) -> Iterator[MongoTransaction]:
        block: Block = self._drive(program)
        tx = MongoTransaction(self, block.session)
        try:
            yield tx
        except BaseException as exc:
            tx._open = False
            self._drive(program, exc)  # rolls back, and raises exc again
            raise
        tx._open = False
        self._drive(program)


class MongoTransaction:
    """The executor of one transaction block (``session`` None: a non-atomic block)."""

    __slots__ = ("_adapter", "_open", "_session")

    def __init__(self, adapter: MongoAdapter, session: ClientSession | None) -> None:
        self._adapter = adapter
        self._session = session
        self._open = True

    def execute(self, op: Operation[T]) -> T:
        if not self._open:
            raise BackendError("this transaction has ended; use its executor inside the block")
        return self._adapter._execute(op, self._session)

    def transaction(self) -> AbstractContextManager[MongoTransaction]:
        """MongoDB has no savepoints: a nested transaction raises UnsupportedError."""
        MongoCore.nested(self._session)
        return nullcontext(self)  # a non-atomic block nests as another non-atomic block
