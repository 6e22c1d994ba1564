"""Schema evolution at bootstrap: compare an existing table with its model (BOOT-5..7).

An adapter reads what its backend records about a table (:class:`StoredTable`) and
hands it to :func:`evolve`, which returns what is additive (nullable fields to add,
indexes to create) and raises :class:`SchemaMismatchError` for anything else. One
function for every adapter, so the rules are the same everywhere; only reading the
catalog and matching a stored column type against a field is the adapter's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from .errors import SchemaMismatchError
from .schema import Field, Index, Model
from .types import BooleanType, IntegerType, JsonType, NumberType, StringType, TimestampType

_FIELD_TYPES = (StringType, NumberType, IntegerType, BooleanType, TimestampType, JsonType)

__all__ = ["Evolution", "StoredColumn", "StoredIndex", "StoredTable", "check_index", "evolve"]


@dataclass(frozen=True, slots=True)
class StoredColumn:
    """A column as the backend records it; ``type`` is the backend's own description."""

    name: str
    type: object
    nullable: bool


@dataclass(frozen=True, slots=True)
class StoredIndex:
    """A secondary index as the backend records it: the table it is on, its columns with
    their direction (True: descending) and whether it is unique."""

    name: str
    table: str
    columns: tuple[tuple[str, bool], ...]
    unique: bool


@dataclass(frozen=True, slots=True)
class StoredTable:
    """An existing table: columns in table order and the primary key's columns."""

    columns: tuple[StoredColumn, ...]
    primary_key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Evolution:
    """The additive changes one existing table needs: fields to add, indexes to create."""

    fields: tuple[Field, ...]
    indexes: tuple[Index, ...]


TypeMatch = Callable[[Field, object], bool]
"""Whether a stored column type is what the adapter creates for a field."""


def _shown(columns: Sequence[tuple[str, bool]], unique: bool) -> str:
    parts = ", ".join(f"{name}{' desc' if desc else ''}" for name, desc in columns)
    return f"{'unique ' if unique else ''}({parts})"


def check_index(model: Model[Any], index: Index, stored: StoredIndex | None) -> bool:
    """Whether ``index`` must be created; SchemaMismatchError if its name is taken by an
    index of another definition (or of another table: index names share one namespace)."""
    if stored is None:
        return True
    wanted = tuple((c.field, c.descending) for c in index.columns)
    if stored.table != model.name:
        reason = f"the name is taken by an index of table {stored.table!r}"
    elif (stored.columns, stored.unique) != (wanted, index.unique):
        reason = (
            f"it exists as {_shown(stored.columns, stored.unique)}, the model declares "
            f"{_shown(wanted, index.unique)}"
        )
    else:
        return False
    raise SchemaMismatchError(
        f"index {index.name!r}: {reason}; bootstrap() does not redefine indexes (BOOT-6)",
        model=model.name,
        index=index.name,
    )


def evolve(
    model: Model[Any],
    table: StoredTable | None,
    indexes: Mapping[str, StoredIndex],
    type_matches: TypeMatch,
) -> Evolution:
    """What bootstrap adds to the existing table of ``model``; SchemaMismatchError else.

    ``table`` None: the backend records no columns (MongoDB), so only indexes are
    compared. ``indexes``: the stored indexes by name, at least those named by the
    model. Additive (BOOT-5): a nullable field the table lacks, an index it lacks; a
    nullable column the model lacks is left alone (inserts store NULL there). Anything
    else is a mismatch (BOOT-6, BOOT-7), reported for the first field in model order.
    """
    added: list[Field] = []
    if table is not None:
        stored = {column.name: column for column in table.columns}
        for field in model.fields:
            column = stored.get(field.name)
            if column is None:
                if not field.nullable:
                    _mismatch(
                        model,
                        field.name,
                        "a new field must be nullable: the existing rows have no value for it",
                    )
                added.append(field)
            elif not type_matches(field, column.type):
                _mismatch(
                    model,
                    field.name,
                    f"the table stores it as {_type_text(column.type)}, the model declares "
                    f"{_type_text(field.type)}",
                )
            elif column.nullable != field.nullable:
                was = "nullable" if column.nullable else "NOT NULL"
                now = "nullable" if field.nullable else "not nullable"
                _mismatch(model, field.name, f"the column is {was}, the model declares it {now}")
        for column in table.columns:
            if not column.nullable and not model.has_field(column.name):
                _mismatch(
                    model,
                    column.name,
                    "the table has this NOT NULL column and the model lacks it, so no insert "
                    "could succeed (a column the model drops must be nullable)",
                )
        if table.primary_key != model.primary_key:
            raise SchemaMismatchError(
                f"the table's primary key is ({', '.join(table.primary_key)}), the model's "
                f"({', '.join(model.primary_key)}); bootstrap() does not change keys (BOOT-7)",
                model=model.name,
            )
    new = tuple(ix for ix in model.indexes if check_index(model, ix, indexes.get(ix.name)))
    return Evolution(tuple(added), new)


def _type_text(value: object) -> str:
    """A logical type as the schema's JSON form names it; a stored type as it is."""
    if isinstance(value, _FIELD_TYPES):
        length = getattr(value, "max_length", None)
        return value.name + ("" if length is None else f"({length})")
    return str(value)


def _mismatch(model: Model[Any], field: str, reason: str) -> NoReturn:
    raise SchemaMismatchError(
        f"{reason}; bootstrap() only adds nullable fields and indexes (BOOT-7)",
        model=model.name,
        field=field,
    )
