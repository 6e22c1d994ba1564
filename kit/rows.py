"""``store.rows(model)``: the operations of one model, typed by its row type.

``store.insert(model, {...})`` takes the row type from ``model``, but mypy infers a
type variable from every argument at once, so an inline dict literal fails to check
there ("Cannot infer value of type parameter"). A handle fixes the row type first:
``store.rows(conversations).insert({...})`` checks the literal's keys and value types
against ``Conversation`` under mypy and pyright alike.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from noorm.spec.errors import SchemaError
from noorm.spec.operations import Order, UpsertResult
from noorm.spec.schema import Model, fields_of

if TYPE_CHECKING:
    from .async_store import AsyncStore
    from .core import Page, Where
    from .store import Store

__all__ = ["AsyncRows", "Rows", "check_row_type"]

R = TypeVar("R", bound=Mapping[str, Any])


class Rows(Generic[R]):
    """One model's operations on one store view (a transaction's ``tx`` too).

    Each method is the :class:`~noorm.kit.Store` method of the same name with the
    model already given.
    """

    __slots__ = ("model", "store")

    def __init__(self, store: Store, model: Model[Any]) -> None:
        self.store = store
        self.model = model

    def get(self, key: Mapping[str, Any], *, for_update: bool = False) -> R | None:
        row: R | None = self.store.get(self.model, key, for_update=for_update)
        return row

    def find(
        self,
        where: Where = None,
        *,
        order_by: Sequence[str | Order] | str | Order = (),
        limit: int | None = None,
        cursor: str | None = None,
        after: Mapping[str, Any] | None = None,
        for_update: bool = False,
    ) -> Page[R]:
        page: Page[R] = self.store.find(
            self.model,
            where,
            order_by=order_by,
            limit=limit,
            cursor=cursor,
            after=after,
            for_update=for_update,
        )
        return page

    def count(self, where: Where = None) -> int:
        return self.store.count(self.model, where)

    def insert(self, row: R) -> R:
        stored: R = self.store.insert(self.model, row)
        return stored

    def insert_many(self, rows: Iterable[R]) -> list[R]:
        stored: list[R] = self.store.insert_many(self.model, rows)
        return stored

    def update(
        self,
        values: Mapping[str, Any],
        *,
        where: Where = None,
        key: Mapping[str, Any] | None = None,
    ) -> int:
        return self.store.update(self.model, values, where=where, key=key)

    def upsert(self, row: R, *, update: Sequence[str]) -> UpsertResult[R]:
        result: UpsertResult[R] = self.store.upsert(self.model, row, update=update)
        return result

    def delete(self, *, where: Where = None, key: Mapping[str, Any] | None = None) -> int:
        return self.store.delete(self.model, where=where, key=key)


class AsyncRows(Generic[R]):
    """:class:`Rows` on an :class:`~noorm.kit.AsyncStore`: the same methods, awaited."""

    __slots__ = ("model", "store")

    def __init__(self, store: AsyncStore, model: Model[Any]) -> None:
        self.store = store
        self.model = model

    async def get(self, key: Mapping[str, Any], *, for_update: bool = False) -> R | None:
        row: R | None = await self.store.get(self.model, key, for_update=for_update)
        return row

    async def find(
        self,
        where: Where = None,
        *,
        order_by: Sequence[str | Order] | str | Order = (),
        limit: int | None = None,
        cursor: str | None = None,
        after: Mapping[str, Any] | None = None,
        for_update: bool = False,
    ) -> Page[R]:
        page: Page[R] = await self.store.find(
            self.model,
            where,
            order_by=order_by,
            limit=limit,
            cursor=cursor,
            after=after,
            for_update=for_update,
        )
        return page

    async def count(self, where: Where = None) -> int:
        return await self.store.count(self.model, where)

    async def insert(self, row: R) -> R:
        stored: R = await self.store.insert(self.model, row)
        return stored

    async def insert_many(self, rows: Iterable[R]) -> list[R]:
        stored: list[R] = await self.store.insert_many(self.model, rows)
        return stored

    async def update(
        self,
        values: Mapping[str, Any],
        *,
        where: Where = None,
        key: Mapping[str, Any] | None = None,
    ) -> int:
        return await self.store.update(self.model, values, where=where, key=key)

    async def upsert(self, row: R, *, update: Sequence[str]) -> UpsertResult[R]:
        result: UpsertResult[R] = await self.store.upsert(self.model, row, update=update)
        return result

    async def delete(self, *, where: Where = None, key: Mapping[str, Any] | None = None) -> int:
        return await self.store.delete(self.model, where=where, key=key)


def check_row_type(final: Model[Any], row_type: type[Any]) -> None:
    """Refuse a row type that declares a field the final model lacks or types otherwise.

    The final model is the one plugins extended, so a row type may declare the fields
    they add (a tenant id, audit timestamps); it need not declare every field.
    """
    name = getattr(row_type, "__name__", repr(row_type))
    if not typing.is_typeddict(row_type):
        raise SchemaError(f"the row type {name} is not a TypedDict", model=final.name)
    for declared in fields_of(final.name, row_type):
        if not final.has_field(declared.name):
            raise SchemaError(
                f"the row type {name} declares {declared.name!r}, which the model (with its "
                "plugins' fields) does not have",
                model=final.name,
                field=declared.name,
            )
        actual = final.field(declared.name)
        if type(actual.type) is not type(declared.type) or actual.nullable != declared.nullable:
            raise SchemaError(
                f"the row type {name} declares {declared.name!r} as "
                f"{_describe(declared.type, declared.nullable)}, the model has "
                f"{_describe(actual.type, actual.nullable)}",
                model=final.name,
                field=declared.name,
            )


def _describe(kind: object, nullable: bool) -> str:
    text = type(kind).__name__.removesuffix("Type").lower()
    return f"a nullable {text}" if nullable else f"a non-null {text}"
