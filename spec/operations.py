"""The operation objects an adapter executes.

The kit builds these after validation, hooks and cursor handling, so an adapter only
sees canonical values (see :mod:`noorm.spec.values`), a filter that already includes
every required scope, and an order that always ends with the primary key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .filters import Filter
from .schema import Model

__all__ = [
    "Count",
    "Delete",
    "Find",
    "Insert",
    "Operation",
    "Order",
    "Update",
    "Upsert",
    "UpsertResult",
    "asc",
    "desc",
]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Order:
    field: str
    descending: bool = False


def asc(field: str) -> Order:
    return Order(field)


def desc(field: str) -> Order:
    return Order(field, descending=True)


class Operation(Generic[T]):
    """Base of every operation; ``T`` is what executing it returns."""

    __slots__ = ()
    model: Model[Any]


@dataclass(frozen=True, slots=True)
class Insert(Operation[None]):
    """Insert rows (every field present, canonical values) in one batch.

    A primary-key or unique-index collision raises DuplicateKeyError and inserts
    none of the batch.
    """

    model: Model[Any]
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Find(Operation[list[dict[str, Any]]]):
    """Rows matching ``where`` in ``order`` (which ends with the primary key).

    ``for_update``: a locking read (ISO-2), only ever inside a transaction: the rows it
    returns stay locked against other transactions' writes and locking reads until the
    transaction ends.
    """

    model: Model[Any]
    where: Filter | None
    order: tuple[Order, ...]
    limit: int | None = None
    for_update: bool = False


@dataclass(frozen=True, slots=True)
class Count(Operation[int]):
    model: Model[Any]
    where: Filter | None


@dataclass(frozen=True, slots=True)
class Update(Operation[int]):
    """Set ``values`` on every row matching ``where``; returns the number of rows matched.

    With ``ATOMIC_UPDATES`` each row is tested against ``where`` and written in one step,
    so a ``where`` on a version field is a compare-and-set (ISO-1).
    """

    model: Model[Any]
    where: Filter | None
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Delete(Operation[int]):
    """Delete every row matching ``where``; returns the number removed."""

    model: Model[Any]
    where: Filter | None


@dataclass(frozen=True, slots=True)
class UpsertResult(Generic[R]):
    """The row as stored after an upsert, and whether the upsert inserted it."""

    row: R
    inserted: bool


@dataclass(frozen=True, slots=True)
class Upsert(Operation[UpsertResult[dict[str, Any]] | None]):
    """Insert ``row``; on a primary-key conflict update only ``update`` fields.

    The conflicting row is updated only if it also matches ``where`` (the scope from
    query hooks); otherwise nothing is written and the adapter returns None, which the
    kit reports as DuplicateKeyError. With ``update`` empty an existing row is left as
    it is and returned with ``inserted=False``.
    """

    model: Model[Any]
    row: dict[str, Any]
    update: tuple[str, ...]
    where: Filter | None = None
