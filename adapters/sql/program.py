"""Sans-I/O programs: the SQL layer's logic, written once for a sync and an async driver.

Every multi-statement protocol of the SQL layer (batches, upserts, transactions and
savepoints, bootstrap's catalog reads and DDL) is a generator that yields
:data:`Step` objects and receives each one's result; a driver runs the steps on a
connection. :class:`~.adapter.SQLAdapter` drives programs on DB-API cursors,
:class:`~.async_adapter.AsyncSQLAdapter` on asyncio ones — psycopg's own sync/async
split works the same way. A driver error becomes the portable error (see
``SQLAdapter._failed``) *before* it is thrown into the program, so a program catches
:class:`~noorm.spec.errors.NoOrmError`, never a driver's exception.

An operation that is one statement returns a bare :class:`Query` or :class:`Command`
(with a ``then`` that turns its result into the operation's) instead of a program: the
usual call runs without a generator.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, NamedTuple, TypeAlias, TypeVar

from .compiler import Compiled

__all__ = ["Command", "Pause", "Plan", "Program", "Query", "Step", "command", "query"]

T = TypeVar("T")


class Query(NamedTuple):
    """Run a statement and fetch its rows (the program receives them)."""

    compiled: Compiled
    model: str | None
    then: Callable[[Sequence[Sequence[Any]]], Any] | None = None
    """For a one-statement operation: its result from the rows."""
    tolerate: tuple[type[BaseException], ...] = ()
    """Driver errors the program receives as a value (the exception) instead of
    failing: a statement the backend may refuse (see the Citus locking read)."""


class Command(NamedTuple):
    """Run a statement that returns no rows (the program receives its row count)."""

    compiled: Compiled
    model: str | None
    then: Callable[[int], Any] | None = None


class Pause(NamedTuple):
    """Wait before retrying (``time.sleep`` or ``asyncio.sleep``)."""

    seconds: float


Step: TypeAlias = Query | Command | Pause | Any
"""What a program yields: the three above, or a backend's own step (PostgreSQL's
``COPY``), which only that backend's drivers run."""

Program: TypeAlias = Generator[Step, Any, T]
Plan: TypeAlias = Query | Command | Program[Any]
"""How an operation runs: one statement, or a program."""


def query(sql: str, params: Sequence[Any] = (), model: str | None = None) -> Query:
    """A :class:`Query` of ``sql`` (a catalog read, a lock): ``rows = yield query(...)``."""
    return Query(Compiled(sql, list(params)), model)


def command(sql: str, params: Sequence[Any] = (), model: str | None = None) -> Command:
    """A :class:`Command` of ``sql``: ``count = yield command(...)``."""
    return Command(Compiled(sql, list(params)), model)
