"""The adapter contract: what an out-of-tree adapter implements.

An adapter turns operation objects into I/O on one backend. It never validates
input (the kit already did), and the core never imports a driver: adapters live in
their own modules and are handed to the kit as objects satisfying :class:`Adapter`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

from .errors import UnsupportedError
from .filters import uses_paths
from .operations import Find, Operation
from .schema import Schema

__all__ = [
    "Adapter",
    "AsyncAdapter",
    "AsyncExecutor",
    "Capability",
    "Executor",
    "check_capabilities",
    "require_capability",
]

T = TypeVar("T")


class Capability(StrEnum):
    """Optional abilities. Clauses that need one are skipped, with the reason, without it."""

    TRANSACTIONS = "transactions"
    """``transaction()`` is atomic: a failure inside rolls every write back."""
    SAVEPOINTS = "savepoints"
    """A nested ``transaction()`` rolls back only its own block."""
    JSON_PATHS = "json_paths"
    """Filters on a path inside a json field."""
    CONCURRENT_BOOTSTRAP = "concurrent_bootstrap"
    """``bootstrap()`` may run from two processes at once."""
    SCHEMA_INTROSPECTION = "schema_introspection"
    """The backend records each table's columns (type, nullability) and primary key, so
    ``bootstrap()`` refuses a model that no longer matches them (BOOT-7)."""
    LOCKING_READS = "locking_reads"
    """``Find(for_update=True)`` in a transaction locks the rows it returns (ISO-2)."""
    ATOMIC_UPDATES = "atomic_updates"
    """An update tests each row against its filter and writes it in one atomic step, so a
    concurrent write never falls in between (ISO-1). FerretDB reads, then writes."""


class Executor(Protocol):
    """Runs operations, directly or inside a transaction."""

    def execute(self, op: Operation[T]) -> T:
        """Run one operation. Driver errors surface as noorm errors, original as ``__cause__``."""
        ...

    def transaction(self) -> AbstractContextManager[Executor]:
        """A transaction; entered on a transaction's executor it is a savepoint.

        The block commits on normal exit and rolls back (re-raising) on an exception.
        Without the TRANSACTIONS capability this raises UnsupportedError.
        """
        ...


@runtime_checkable
class Adapter(Executor, Protocol):
    """A backend. ``name`` and ``version`` identify it in certification reports."""

    name: str
    version: str
    capabilities: frozenset[Capability]

    def server_version(self) -> str:
        """The backend's own version string (e.g. ``"PostgreSQL 16.4"``)."""
        ...

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """Create missing tables/collections and indexes, add new nullable fields; idempotent.

        Returns the statements (DDL text, or a description of each call for
        non-SQL backends); with ``dry_run`` nothing is executed. Any other difference
        from an existing table raises SchemaMismatchError before anything runs
        (BOOT-5..7, :mod:`noorm.spec.evolution`).
        """
        ...

    def statement(self, op: Operation[Any]) -> str | None:
        """The statement ``op`` compiles to, for observability; None where there is none.

        Operand values appear as placeholders, never themselves (OBS-4): statements are
        logged and traced, and values are the host's users' data.
        """
        ...

    def close(self) -> None: ...


class AsyncExecutor(Protocol):
    """:class:`Executor` for asyncio: the same operations, results, errors and
    transaction semantics, awaited. A transaction belongs to the task that opened it."""

    async def execute(self, op: Operation[T]) -> T:
        """:meth:`Executor.execute`, awaited."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[AsyncExecutor]:
        """:meth:`Executor.transaction` as ``async with``; on a transaction's executor, a savepoint."""
        ...


@runtime_checkable
class AsyncAdapter(AsyncExecutor, Protocol):
    """:class:`Adapter` for asyncio (the async door): the same names, capabilities and
    clauses; only the calls that do I/O are coroutines. ``statement`` stays plain: it
    compiles and never touches the backend."""

    name: str
    version: str
    capabilities: frozenset[Capability]

    async def server_version(self) -> str: ...

    async def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]: ...

    def statement(self, op: Operation[Any]) -> str | None: ...

    async def close(self) -> None: ...


def require_capability(
    capabilities: frozenset[Capability], capability: Capability, *, model: str | None = None
) -> None:
    """CAP-1: refuse, with UnsupportedError naming it, what needs an undeclared capability."""
    if capability not in capabilities:
        raise UnsupportedError(
            f"the adapter does not declare the {capability.value} capability (CAP-1)",
            capability=capability.value,
            model=model,
        )


def check_capabilities(capabilities: frozenset[Capability], op: Operation[Any]) -> None:
    """CAP-1 for ``execute``: an operation whose filter compares a json path needs
    ``json_paths``, a locking read ``locking_reads``. Cheap when the capabilities are
    declared: the filter is not walked."""
    if type(op) is Find and op.for_update and Capability.LOCKING_READS not in capabilities:
        require_capability(capabilities, Capability.LOCKING_READS, model=op.model.name)
    if Capability.JSON_PATHS not in capabilities:
        where = getattr(op, "where", None)
        if where is not None and uses_paths(where):
            require_capability(capabilities, Capability.JSON_PATHS, model=op.model.name)
