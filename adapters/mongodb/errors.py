"""Driver errors as noorm errors (ERR-1), the driver's exception kept as ``__cause__``.

Duplicate keys come in three shapes: ``DuplicateKeyError``/``WriteError`` code 11000,
a ``BulkWriteError`` whose write errors hold 11000, and, on FerretDB, a unique-index
violation during an update or findAndModify that surfaces as code 1 InternalError
carrying PostgreSQL's ``SQLSTATE 23505``.

Besides ``PyMongoError``, the BSON layer raises ``bson.errors.BSONError`` (a document
too large or not encodable) and the C encoder a ``RecursionError`` for a document
nested too deeply: those become ``BackendError`` too, never a raw exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from bson.errors import BSONError
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from noorm.spec import BackendError, ConflictError, DuplicateKeyError, NoOrmError

__all__ = ["DRIVER_ERRORS", "driver_errors", "is_conflict", "is_duplicate", "one_line", "translate"]

DRIVER_ERRORS: Final = (PyMongoError, BSONError)
"""What pymongo and bson raise for a failed operation."""

_DUPLICATE_CODES = frozenset({11000, 11001, 12582})
_CONFLICT_CODES = frozenset({24, 112})
"""LockTimeout, WriteConflict: a concurrent transaction won (ISO-4)."""
_CONFLICT_STATES = ("SQLSTATE 40001", "SQLSTATE 40P01", "SQLSTATE 55P03")
"""The same from FerretDB, as its PostgreSQL backend reports them."""


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` says a concurrent transaction won: rerunning ours may succeed."""
    if not isinstance(exc, OperationFailure):
        return False
    if exc.code in _CONFLICT_CODES:
        return True
    return exc.code == 1 and any(state in str(exc) for state in _CONFLICT_STATES)


def is_duplicate(exc: BaseException) -> bool:
    """Whether ``exc`` reports a primary-key or unique-index collision."""
    if isinstance(exc, BulkWriteError):
        errors: list[dict[str, Any]] = exc.details.get("writeErrors", [])
        return any(e.get("code") in _DUPLICATE_CODES for e in errors)
    if isinstance(exc, OperationFailure):
        if exc.code in _DUPLICATE_CODES:
            return True
        # FerretDB reports a unique index it cannot build (existing duplicates) as code 1
        # with its backend's own error: SQLSTATE 23505 on PostgreSQL, SQLite's extended
        # code 2067 (SQLITE_CONSTRAINT_UNIQUE) on SQLite.
        text = str(exc)
        return exc.code == 1 and (
            "SQLSTATE 23505" in text or ("UNIQUE constraint failed" in text and "(2067)" in text)
        )
    return False


def one_line(exc: BaseException) -> str:
    """The driver's message without the full error document and topology dump."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for cut in (", full error:", " (configured timeouts", ", Timeout:", ", Topology Description:"):
        text = text.split(cut, 1)[0]
    return text[:300]


def translate(exc: BaseException, model: str | None) -> NoOrmError:
    """The noorm error for a driver error (the caller raises it ``from exc``)."""
    if is_duplicate(exc):
        return DuplicateKeyError(
            f"duplicate primary key or unique index value ({one_line(exc)})", model=model
        )
    if is_conflict(exc):
        return ConflictError(
            f"conflict with a concurrent transaction: {one_line(exc)}", model=model
        )
    if isinstance(exc, (ServerSelectionTimeoutError, ConnectionFailure)):
        return BackendError(f"cannot reach the MongoDB server: {one_line(exc)}", model=model)
    if isinstance(exc, RecursionError):
        return BackendError(
            "the operation is nested too deeply to encode (RecursionError)", model=model
        )
    return BackendError(f"{type(exc).__name__}: {one_line(exc)}", model=model)


@contextmanager
def driver_errors(model: str | None) -> Iterator[None]:
    """Re-raise driver errors inside the block as noorm errors naming ``model``."""
    try:
        yield
    except (*DRIVER_ERRORS, RecursionError) as exc:
        raise translate(exc, model) from exc
