"""The portable error hierarchy.

Every error names the model and field at fault (when there is one) so that a host
library can surface a precise message without knowing which backend raised it.
Driver errors are wrapped in :class:`BackendError` with the original kept as
``__cause__`` (``raise BackendError(...) from exc``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BackendError",
    "ConflictError",
    "DuplicateKeyError",
    "InvalidCursorError",
    "NoOrmError",
    "SchemaError",
    "SchemaMismatchError",
    "UnsupportedError",
    "ValidationError",
]


class NoOrmError(Exception):
    """Base class of every error no-orm raises."""

    def __init__(self, message: str, *, model: str | None = None, field: str | None = None) -> None:
        self.model = model
        self.field = field
        self.reason = message
        where = ".".join(part for part in (model, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class ValidationError(NoOrmError):
    """Bad input caught before any I/O; nothing was written."""


class SchemaError(ValidationError):
    """A schema definition that breaks the canonical-schema rules."""


class SchemaMismatchError(NoOrmError):
    """``bootstrap()`` found a table, column or index that differs from its model (BOOT-6).

    Not a :class:`SchemaError`: the schema is valid, and only reading the database
    showed the conflict, so it is no ValidationError ("bad input, caught before any
    I/O"). Not a :class:`BackendError` either: the driver did not fail, and retrying
    cannot help. Nothing was changed. ``index`` names the index at fault, if one is.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        field: str | None = None,
        index: str | None = None,
    ) -> None:
        self.index = index
        super().__init__(message, model=model, field=field)


class InvalidCursorError(ValidationError):
    """A cursor that was tampered with, or that belongs to another query shape."""


class DuplicateKeyError(NoOrmError):
    """A write collided with an existing primary key or unique index."""


class UnsupportedError(NoOrmError):
    """The adapter lacks a capability the operation needs."""

    def __init__(
        self,
        message: str,
        *,
        capability: str | None = None,
        model: str | None = None,
        field: str | None = None,
    ) -> None:
        self.capability = capability
        super().__init__(message, model=model, field=field)


class BackendError(NoOrmError):
    """The database or its driver failed; the driver's exception is ``__cause__``."""


class ConflictError(BackendError):
    """A concurrent transaction won: deadlock, serialization failure, lock wait timeout or
    write conflict (ISO-4). The whole transaction was rolled back; rerunning it may succeed
    (``noorm.kit.retry_transaction``)."""


def brief(value: object, width: int = 80) -> str:
    """``repr(value)`` for an error message: bounded, and never failing itself (a huge int
    or a broken ``__repr__`` must not turn a ValidationError into something else)."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."


def suggest(name: object, known: Iterable[str]) -> str:
    """``" (did you mean 'email'?)"`` for a misspelt name, else ``""``."""
    if not isinstance(name, str) or len(name) > 256:
        return ""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
