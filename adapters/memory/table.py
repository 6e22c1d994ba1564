"""One model's rows, its unique indexes, and the undo log that makes writes reversible.

Rows live in a dict keyed by the primary-key tuple. A stored row dict is never
mutated: a write replaces it with a new dict, so the undo log can keep the old one by
reference and rolling back is replaying the log backwards. That keeps transactions
and savepoints O(writes) instead of O(database) (no snapshots), and gives every
statement all-or-nothing behaviour for free: undo to where the statement began.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from noorm.spec import (
    DuplicateKeyError,
    Field,
    Index,
    JsonType,
    Model,
    ValidationError,
)

from .copying import copy_json

__all__ = [
    "Key",
    "Table",
    "UndoLog",
    "UniqueIndex",
    "describe_field",
    "describe_index",
    "describe_model",
]

Key: TypeAlias = tuple[Any, ...]
"""A primary-key (or unique-index) value: one entry per key field."""
UndoLog: TypeAlias = list[tuple["Table", Key, dict[str, Any] | None]]
"""Per write: the table, the key, and the row it replaced (None: there was none)."""


class UniqueIndex:
    """A unique index as a map from indexed values to the primary key holding them.

    As in SQL, a row with NULL in any indexed column is not entered and so never
    collides.
    """

    __slots__ = ("entries", "fields", "name")

    def __init__(self, name: str, fields: tuple[str, ...]) -> None:
        self.name = name
        self.fields = fields
        self.entries: dict[Key, Key] = {}

    def key(self, row: Mapping[str, Any]) -> Key | None:
        values = tuple([row[name] for name in self.fields])
        for value in values:
            if value is None:
                return None
        return values


class Table:
    """The stored state of one bootstrapped model."""

    __slots__ = (
        "_json_fields",
        "_key_fields",
        "field_names",
        "indexes",
        "model",
        "rows",
        "unique",
    )

    def __init__(self, model: Model[Any]) -> None:
        self.model = model
        self.field_names = model.field_names
        self.rows: dict[Key, dict[str, Any]] = {}
        self.indexes: dict[str, Index] = {}
        self.unique: list[UniqueIndex] = []
        self._key_fields = model.primary_key
        self._json_fields = tuple(f.name for f in model.fields if isinstance(f.type, JsonType))

    # --- schema ---------------------------------------------------------------------------

    def unique_index(self, index: Index, *, empty: bool) -> UniqueIndex:
        """A unique index built over the current rows; BackendError if they collide.

        ``empty``: it holds a field bootstrap is adding, NULL in every row (BOOT-5).
        """
        built = UniqueIndex(index.name, tuple(column.field for column in index.columns))
        for key, row in () if empty else self.rows.items():
            value = built.key(row)
            if value is None:
                continue
            if value in built.entries:
                raise DuplicateKeyError(
                    f"cannot create unique index {index.name}: existing rows share the "
                    f"values {_show(value)} of ({', '.join(built.fields)})",
                    model=self.model.name,
                )
            built.entries[value] = key
        return built

    def grow(self, model: Model[Any]) -> None:
        """Become a table of ``model``: the current fields plus new nullable ones, NULL
        in every row (rows are replaced, never mutated: see the module docstring)."""
        added = {name: None for name in model.field_names if name not in self.field_names}
        self.model = model
        self.field_names = model.field_names
        self._json_fields = tuple(f.name for f in model.fields if isinstance(f.type, JsonType))
        for key, row in self.rows.items():
            self.rows[key] = {**row, **added}

    def add_index(self, index: Index, built: UniqueIndex | None) -> None:
        self.indexes[index.name] = index
        if built is not None:
            self.unique.append(built)

    # --- rows in and out ------------------------------------------------------------------

    def key_of(self, row: Mapping[str, Any]) -> Key:
        return tuple([row[name] for name in self._key_fields])

    def stored(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A new row of exactly the model's fields, in field order, json deep-copied."""
        try:
            out = {name: row[name] for name in self.field_names}
        except KeyError as missing:
            raise ValidationError(
                "the row lacks this field (the kit fills every field before an insert)",
                model=self.model.name,
                field=str(missing.args[0]),
            ) from None
        for name in self._json_fields:
            out[name] = copy_json(out[name])
        return out

    def stored_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Update values, json deep-copied once (stored rows are never mutated, so one
        copy can be shared by every updated row)."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            if not self.model.has_field(name):
                raise ValidationError("unknown field", model=self.model.name, field=name)
            if name in self._key_fields:
                raise ValidationError(
                    "primary-key fields cannot be updated", model=self.model.name, field=name
                )
            out[name] = copy_json(value) if name in self._json_fields else value
        return out

    def copy_out(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A copy for a caller: a new dict, json values deep-copied."""
        out = dict(row)
        for name in self._json_fields:
            value = out[name]
            if value is not None:
                out[name] = copy_json(value)
        return out

    # --- writes ---------------------------------------------------------------------------

    def insert(self, row: dict[str, Any], log: UndoLog) -> None:
        """Add a stored row; DuplicateKeyError if its primary key or a unique value exists."""
        key = self.key_of(row)
        if key in self.rows:
            raise self._duplicate("primary key", self._key_fields, key)
        self.put(key, row, log)

    def put(self, key: Key, row: dict[str, Any] | None, log: UndoLog) -> None:
        """Replace (row) or remove (None) the row at ``key``, checking unique indexes first.

        Nothing changes when the check fails; otherwise the old row goes to ``log``.
        """
        old = self.rows.get(key)
        if row is not None:
            for index in self.unique:
                value = index.key(row)
                if value is not None:
                    holder = index.entries.get(value)
                    if holder is not None and holder != key:
                        raise self._duplicate(f"unique index {index.name}", index.fields, value)
        self._replace(key, old, row)
        log.append((self, key, old))

    def restore(self, key: Key, row: dict[str, Any] | None) -> None:
        """Undo one logged write (the state it returns to was consistent: no checks)."""
        self._replace(key, self.rows.get(key), row)

    def _replace(self, key: Key, old: dict[str, Any] | None, row: dict[str, Any] | None) -> None:
        for index in self.unique:
            if old is not None:
                value = index.key(old)
                if value is not None and index.entries.get(value) == key:
                    del index.entries[value]
            if row is not None:
                value = index.key(row)
                if value is not None:
                    index.entries[value] = key
        if row is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = row

    def _duplicate(self, what: str, fields: tuple[str, ...], value: Key) -> DuplicateKeyError:
        return DuplicateKeyError(
            f"duplicate {what}: ({', '.join(fields)}) = {_show(value)} already exists",
            model=self.model.name,
            field=fields[0] if len(fields) == 1 else None,
        )


def _show(value: Key) -> str:
    return "(" + ", ".join(repr(item) for item in value) + ")"


# --- descriptions (what bootstrap() returns) ----------------------------------------------


def _describe(field: Field) -> str:
    type_name: str = field.type.name
    max_length = getattr(field.type, "max_length", None)
    if max_length is not None:
        type_name = f"{type_name}({max_length})"
    return f"{field.name} {type_name}{' null' if field.nullable else ''}"


def describe_model(model: Model[Any]) -> str:
    """``create model name (field type [null], ..., primary key (...))``."""
    columns = [_describe(field) for field in model.fields]
    columns.append(f"primary key ({', '.join(model.primary_key)})")
    return f"create model {model.name} ({', '.join(columns)})"


def describe_field(model: Model[Any], field: Field) -> str:
    """``add field name type null to model`` (only nullable fields are ever added)."""
    return f"add field {_describe(field)} to {model.name}"


def describe_index(model: Model[Any], index: Index) -> str:
    """``create [unique] index name on model (field [desc], ...)``."""
    columns = ", ".join(
        f"{column.field}{' desc' if column.descending else ''}" for column in index.columns
    )
    unique = "unique " if index.unique else ""
    return f"create {unique}index {index.name} on {model.name} ({columns})"
