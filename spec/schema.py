"""The canonical schema: models, fields, primary keys and ordered indexes.

A schema is immutable and validated when it is built, so an adapter can trust every
model it is handed. ``Model`` is generic in the row type a host declares (a
``TypedDict``), which is how store results get static types.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, overload

from .errors import SchemaError, brief
from .limits import (
    MAX_FIELDS,
    MAX_IDENTIFIER_LENGTH,
    MAX_INDEXES,
    MAX_KEY_BYTES,
    MAX_KEY_COLUMNS,
    RESERVED_FIELD_NAMES,
    RESERVED_INDEX_NAMES,
    RESERVED_INDEX_SUFFIXES,
    RESERVED_PREFIXES,
)
from .types import (
    BooleanType,
    FieldType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)

__all__ = [
    "Field",
    "Index",
    "IndexColumn",
    "Model",
    "Row",
    "Schema",
    "fields_of",
    "model",
]

R = TypeVar("R", bound=Mapping[str, Any])
Row = dict[str, Any]
"""The untyped row: what schemas built from data (no declared class) produce."""

_IDENTIFIER = re.compile(rf"[a-z_][a-z0-9_]{{0,{MAX_IDENTIFIER_LENGTH - 1}}}\Z")


def check_identifier(name: object, what: str, *, model: str | None = None) -> str:
    """Portable identifiers: valid, unquoted-safe, case-stable and unreserved everywhere."""
    field = name if what == "field" and isinstance(name, str) else None
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        shown = (
            repr(name) if not isinstance(name, str) or len(name) <= 80 else repr(name[:80]) + "..."
        )
        raise SchemaError(
            f"{what} name {shown} is not a portable identifier (lowercase ASCII letters, "
            f"digits and _, not starting with a digit, at most {MAX_IDENTIFIER_LENGTH} characters)",
            model=model,
            field=field,
        )
    reserved: str | None = None
    if what == "field":
        if name in RESERVED_FIELD_NAMES:
            reserved = "is reserved (MongoDB's document key or a PostgreSQL system column)"
    elif name.startswith(RESERVED_PREFIXES):
        reserved = f"starts with a reserved prefix ({', '.join(RESERVED_PREFIXES)})"
    elif what == "index" and name in RESERVED_INDEX_NAMES:
        reserved = "is reserved (MySQL's name of every primary key)"
    elif what == "index" and name.endswith(RESERVED_INDEX_SUFFIXES):
        reserved = "ends with a reserved suffix (PostgreSQL names primary keys <table>_pkey)"
    if reserved is not None:
        raise SchemaError(f"{what} name {name!r} {reserved} (LIM-NAME)", model=model, field=field)
    return name


def column_bytes(field: Field) -> int:
    """A column's share of a key or index width (LIM-KEY)."""
    t = field.type
    if isinstance(t, StringType):
        return 4 * (t.max_length or 0)
    return 8


class Field:
    """One named, typed column of a model."""

    __slots__ = ("name", "nullable", "type")

    def __init__(self, name: str, type: FieldType, *, nullable: bool = False) -> None:
        self.name = name
        self.type = type
        self.nullable = nullable

    def __repr__(self) -> str:
        null = ", nullable=True" if self.nullable else ""
        return f"Field({self.name!r}, {self.type!r}{null})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and (self.name, self.type, self.nullable) == (
            other.name,
            other.type,
            other.nullable,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.type, self.nullable))


class IndexColumn:
    """A field of an index with its sort direction."""

    __slots__ = ("descending", "field")

    def __init__(self, field: str, *, descending: bool = False) -> None:
        self.field = field
        self.descending = descending

    def __repr__(self) -> str:
        return f"IndexColumn({self.field!r}{', descending=True' if self.descending else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IndexColumn) and (self.field, self.descending) == (
            other.field,
            other.descending,
        )

    def __hash__(self) -> int:
        return hash((self.field, self.descending))


IndexSpec = str | IndexColumn | tuple[str, Literal["asc", "desc"]]


def _index_column(spec: IndexSpec) -> IndexColumn:
    if isinstance(spec, IndexColumn):
        return spec
    if isinstance(spec, str):
        return IndexColumn(spec)
    name, direction = spec
    if direction not in ("asc", "desc"):
        raise SchemaError(f"index direction must be 'asc' or 'desc', got {brief(direction)}")
    return IndexColumn(name, descending=direction == "desc")


class Index:
    """A named ordered index; ``columns`` accepts ``"f"``, ``("f", "desc")`` or IndexColumn."""

    __slots__ = ("columns", "name", "unique")

    def __init__(self, name: str, columns: Sequence[IndexSpec], *, unique: bool = False) -> None:
        self.name = name
        self.columns = tuple(_index_column(c) for c in columns)
        self.unique = unique

    def __repr__(self) -> str:
        return (
            f"Index({self.name!r}, {list(self.columns)!r}{', unique=True' if self.unique else ''})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Index) and (self.name, self.columns, self.unique) == (
            other.name,
            other.columns,
            other.unique,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.columns, self.unique))


class _Keep:
    """The default of :meth:`Model.replace` arguments that may be set to None."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "KEEP"


_KEEP = _Keep()


class Model(Generic[R]):
    """A named collection of rows with a primary key and ordered indexes.

    ``Model[R]`` carries the host's row type ``R`` only for static typing; the
    runtime shape is ``fields``. Build typed models with :func:`model`.

    ``partition_key`` (PART-1) says how a distributed backend spreads the rows: a
    prefix of the primary key, included in every unique index. ``colocate_with`` names
    the partitioned model whose rows with equal partition-key values live together with
    this model's. Neither changes what any operation returns (PART-3).
    """

    __slots__ = (
        "_by_name",
        "colocate_with",
        "fields",
        "indexes",
        "name",
        "partition_key",
        "primary_key",
    )

    @overload
    def __init__(
        self: Model[Row],
        name: str,
        fields: Sequence[Field],
        *,
        primary_key: Sequence[str],
        indexes: Sequence[Index] = (),
        partition_key: str | Sequence[str] = (),
        colocate_with: str | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self,
        name: str,
        fields: Sequence[Field],
        *,
        primary_key: Sequence[str],
        indexes: Sequence[Index] = (),
        partition_key: str | Sequence[str] = (),
        colocate_with: str | None = None,
        row_type: type[R],
    ) -> None: ...
    def __init__(
        self,
        name: str,
        fields: Sequence[Field],
        *,
        primary_key: Sequence[str],
        indexes: Sequence[Index] = (),
        partition_key: str | Sequence[str] = (),
        colocate_with: str | None = None,
        row_type: type[R] | None = None,
    ) -> None:
        self.name = name
        self.fields = tuple(fields)
        self.primary_key = (primary_key,) if isinstance(primary_key, str) else tuple(primary_key)
        self.indexes = tuple(indexes)
        self.partition_key = (
            (partition_key,) if isinstance(partition_key, str) else tuple(partition_key)
        )
        self.colocate_with = colocate_with
        self._by_name = {f.name: f for f in self.fields}
        self._validate()

    def field(self, name: str) -> Field:
        """The field called ``name``; a ValidationError naming the model otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            from .errors import ValidationError, suggest

            raise ValidationError(
                "unknown field" + suggest(name, self._by_name), model=self.name, field=name
            ) from None

    def has_field(self, name: str) -> bool:
        return name in self._by_name

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    @property
    def partitioned(self) -> bool:
        """True when the model declares a partition key (PART-1)."""
        return bool(self.partition_key)

    def with_field(self, field: Field, *, first: bool = False) -> Model[R]:
        """A copy with one more field (for schema-extension hooks)."""
        fields = (field, *self.fields) if first else (*self.fields, field)
        return self._replace(fields=fields)

    def with_index(self, index: Index) -> Model[R]:
        return self._replace(indexes=(*self.indexes, index))

    def replace(
        self,
        *,
        fields: Sequence[Field] | None = None,
        primary_key: Sequence[str] | None = None,
        indexes: Sequence[Index] | None = None,
        partition_key: str | Sequence[str] | None = None,
        colocate_with: str | _Keep | None = _KEEP,
    ) -> Model[R]:
        """A validated copy with some parts replaced.

        ``partition_key=()`` makes the copy unpartitioned, ``colocate_with=None`` drops
        its colocation; left out, both are kept.
        """
        return self._replace(
            fields=fields,
            primary_key=primary_key,
            indexes=indexes,
            partition_key=partition_key,
            colocate_with=colocate_with,
        )

    def _replace(
        self,
        *,
        fields: Sequence[Field] | None = None,
        primary_key: Sequence[str] | None = None,
        indexes: Sequence[Index] | None = None,
        partition_key: str | Sequence[str] | None = None,
        colocate_with: str | _Keep | None = _KEEP,
    ) -> Model[R]:
        clone = Model(
            self.name,
            self.fields if fields is None else fields,
            primary_key=self.primary_key if primary_key is None else primary_key,
            indexes=self.indexes if indexes is None else indexes,
            partition_key=self.partition_key if partition_key is None else partition_key,
            colocate_with=(
                self.colocate_with if isinstance(colocate_with, _Keep) else colocate_with
            ),
        )
        return typing.cast("Model[R]", clone)

    def _validate(self) -> None:
        name = check_identifier(
            self.name, "model", model=self.name if isinstance(self.name, str) else None
        )
        if not self.fields:
            raise SchemaError("a model needs at least one field", model=name)
        if len(self.fields) > MAX_FIELDS:
            raise SchemaError(
                f"a model has at most {MAX_FIELDS} fields, got {len(self.fields)} (LIM-SCHEMA)",
                model=name,
            )
        if len(self.indexes) > MAX_INDEXES:
            raise SchemaError(
                f"a model has at most {MAX_INDEXES} indexes, got {len(self.indexes)} (LIM-SCHEMA)",
                model=name,
            )
        seen: set[str] = set()
        for f in self.fields:
            if not isinstance(f, Field):
                raise SchemaError(f"fields must be Field objects, got {brief(f)}", model=name)
            check_identifier(f.name, "field", model=name)
            if f.name in seen:
                raise SchemaError("duplicate field name", model=name, field=f.name)
            seen.add(f.name)
            if isinstance(f.type, StringType) and f.type.max_length is not None:
                ml = f.type.max_length
                if isinstance(ml, bool) or not isinstance(ml, int) or ml < 1:
                    raise SchemaError(
                        f"max_length must be a positive integer, got {brief(ml)}",
                        model=name,
                        field=f.name,
                    )
            if not isinstance(
                f.type, (StringType, NumberType, IntegerType, BooleanType, TimestampType, JsonType)
            ):
                raise SchemaError(f"unknown field type {f.type!r}", model=name, field=f.name)
        if not self.primary_key:
            raise SchemaError("a model needs a primary key of at least one field", model=name)
        if len(set(self.primary_key)) != len(self.primary_key):
            raise SchemaError("primary key repeats a field", model=name)
        for key in self.primary_key:
            key_field = self._by_name.get(key)
            if key_field is None:
                raise SchemaError("primary-key field does not exist", model=name, field=key)
            if key_field.nullable:
                raise SchemaError("primary-key field cannot be nullable", model=name, field=key)
            if isinstance(key_field.type, JsonType):
                raise SchemaError(
                    "a json field cannot be part of a primary key", model=name, field=key
                )
            self._check_keyable(key_field, "primary key")
        self._check_width("primary key", self.primary_key)
        index_names: set[str] = set()
        for index in self.indexes:
            check_identifier(index.name, "index", model=name)
            if index.name in index_names:
                raise SchemaError(f"duplicate index name {index.name!r}", model=name)
            index_names.add(index.name)
            if not index.columns:
                raise SchemaError(f"index {index.name!r} has no columns", model=name)
            if len({c.field for c in index.columns}) != len(index.columns):
                raise SchemaError(f"index {index.name!r} repeats a field", model=name)
            for column in index.columns:
                col_field = self._by_name.get(column.field)
                if col_field is None:
                    raise SchemaError(
                        f"index {index.name!r} names a field that does not exist",
                        model=name,
                        field=column.field,
                    )
                if isinstance(col_field.type, JsonType):
                    raise SchemaError(
                        f"index {index.name!r} cannot index a json field",
                        model=name,
                        field=col_field.name,
                    )
                self._check_keyable(col_field, f"index {index.name!r}")
            columns = [c.field for c in index.columns]
            self._check_width(
                f"index {index.name!r}", columns, [k for k in self.primary_key if k not in columns]
            )
        self._check_partitioning()

    def _check_partitioning(self) -> None:
        """PART-1 and PART-2: the rules every distributed engine imposes, on every adapter."""
        name = self.name
        key = self.partition_key
        if self.colocate_with is not None:
            if not isinstance(self.colocate_with, str):
                raise SchemaError(
                    f"colocate_with must be a model name, got {brief(self.colocate_with)}",
                    model=name,
                )
            if not key:
                raise SchemaError(
                    f"colocate_with={self.colocate_with!r} needs a partition key: only "
                    "partitioned models are colocated (PART-1)",
                    model=name,
                )
            if self.colocate_with == name:
                raise SchemaError("a model cannot be colocated with itself (PART-1)", model=name)
        if not key:
            return
        for part in key:
            if not isinstance(part, str):
                raise SchemaError(
                    f"partition-key fields are field names, got {brief(part)}", model=name
                )
        if len(set(key)) != len(key):
            raise SchemaError("the partition key repeats a field (PART-1)", model=name)
        for position, part in enumerate(key):
            if part not in self._by_name:
                raise SchemaError(
                    "partition-key field does not exist (PART-1)", model=name, field=part
                )
            if position >= len(self.primary_key) or self.primary_key[position] != part:
                raise SchemaError(
                    f"the partition key {list(key)} must be a prefix of the primary key "
                    f"{list(self.primary_key)} (PART-1)",
                    model=name,
                    field=part,
                )
        for index in self.indexes:
            if not index.unique:
                continue
            columns = {c.field for c in index.columns}
            missing = [part for part in key if part not in columns]
            if missing:
                raise SchemaError(
                    f"unique index {index.name!r} does not include the partition key "
                    f"{list(key)} (it lacks {missing[0]!r}): a distributed backend can only "
                    "enforce uniqueness within one partition (PART-2)",
                    model=name,
                    field=missing[0],
                )

    def _check_width(self, what: str, columns: Sequence[str], extra: Sequence[str] = ()) -> None:
        """LIM-SCHEMA and LIM-KEY: a key every backend's B-tree can hold.

        ``extra`` are the primary-key columns an index lacks: backends append them.
        """
        if len(columns) > MAX_KEY_COLUMNS:
            raise SchemaError(
                f"the {what} has {len(columns)} columns; at most {MAX_KEY_COLUMNS} (LIM-SCHEMA)",
                model=self.name,
            )
        names = [*columns, *extra]
        width = sum(column_bytes(self._by_name[n]) for n in names)
        if width > MAX_KEY_BYTES:
            widest = max(names, key=lambda n: column_bytes(self._by_name[n]))
            raise SchemaError(
                f"the {what} is {width} bytes wide (4 per code point of a string's max_length, "
                "8 per other column, and an index counts the primary-key columns it lacks); "
                f"at most {MAX_KEY_BYTES} (LIM-KEY)",
                model=self.name,
                field=widest,
            )

    def _check_keyable(self, f: Field, where: str) -> None:
        if isinstance(f.type, StringType) and f.type.max_length is None:
            raise SchemaError(
                f"a string in a {where} needs a max_length", model=self.name, field=f.name
            )

    def __repr__(self) -> str:
        partition = f", partition_key={self.partition_key!r}" if self.partition_key else ""
        colocate = f", colocate_with={self.colocate_with!r}" if self.colocate_with else ""
        return f"Model({self.name!r}, fields={list(self.fields)!r}, primary_key={self.primary_key!r}, indexes={list(self.indexes)!r}{partition}{colocate})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and (
            self.name,
            self.fields,
            self.primary_key,
            self.indexes,
            self.partition_key,
            self.colocate_with,
        ) == (
            other.name,
            other.fields,
            other.primary_key,
            other.indexes,
            other.partition_key,
            other.colocate_with,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.fields, self.primary_key))


class Schema:
    """A finalized, validated set of models. Immutable; extend with :meth:`replace`."""

    __slots__ = ("_models",)

    def __init__(self, models: Iterable[Model[Any]]) -> None:
        by_name: dict[str, Model[Any]] = {}
        index_names: dict[str, str] = {}
        for m in models:
            if not isinstance(m, Model):
                raise SchemaError(f"schemas hold Model objects, got {brief(m)}")
            if m.name in by_name:
                raise SchemaError("duplicate model name", model=m.name)
            by_name[m.name] = m
            for index in m.indexes:
                # Index names share one namespace per database on PostgreSQL and SQLite.
                if index.name in index_names:
                    raise SchemaError(
                        f"index name {index.name!r} is already used by model {index_names[index.name]!r}",
                        model=m.name,
                    )
                index_names[index.name] = m.name
        for index_name, owner in index_names.items():
            # Tables and indexes share one namespace on PostgreSQL and SQLite.
            if index_name in by_name:
                raise SchemaError(
                    f"index name {index_name!r} is the name of a model (LIM-NAME)", model=owner
                )
        for m in by_name.values():
            _check_colocation(m, by_name)
        self._models = by_name

    @property
    def models(self) -> tuple[Model[Any], ...]:
        return tuple(self._models.values())

    def model(self, name: str) -> Model[Any]:
        try:
            return self._models[name]
        except KeyError:
            from .errors import ValidationError, suggest

            raise ValidationError(
                "unknown model" + suggest(name, self._models), model=name
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def replace(self, model: Model[Any]) -> Schema:
        """A new schema with ``model`` replacing (or adding) the model of that name."""
        models = dict(self._models)
        models[model.name] = model
        return Schema(models.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self._models == other._models

    def __hash__(self) -> int:
        return hash(tuple(self._models))

    def __repr__(self) -> str:
        return f"Schema({list(self._models.values())!r})"


def _check_colocation(m: Model[Any], models: Mapping[str, Model[Any]]) -> None:
    """PART-1: ``colocate_with`` names a partitioned model of the schema that anchors its
    group (is colocated with nothing itself), and both partition keys have the same
    number of fields with the same logical types, position by position."""
    if m.colocate_with is None:
        return
    anchor = models.get(m.colocate_with)
    if anchor is None:
        raise SchemaError(
            f"colocate_with names {m.colocate_with!r}, which is not a model of the schema (PART-1)",
            model=m.name,
        )
    if not anchor.partition_key:
        raise SchemaError(
            f"colocate_with names {anchor.name!r}, which has no partition key (PART-1)",
            model=m.name,
        )
    if anchor.colocate_with is not None:
        raise SchemaError(
            f"colocate_with names {anchor.name!r}, which is itself colocated with "
            f"{anchor.colocate_with!r}: name the group's first model instead (PART-1)",
            model=m.name,
        )
    if len(anchor.partition_key) != len(m.partition_key):
        raise SchemaError(
            f"the partition key {list(m.partition_key)} and that of {anchor.name!r} "
            f"{list(anchor.partition_key)} have different lengths: colocated models "
            "partition alike (PART-1)",
            model=m.name,
        )
    for mine, theirs in zip(m.partition_key, anchor.partition_key, strict=True):
        a, b = m.field(mine).type, anchor.field(theirs).type
        if a.name != b.name:
            raise SchemaError(
                f"partition-key field {mine!r} is {a.name} but {anchor.name}.{theirs} is "
                f"{b.name}: colocated models partition by values of the same type (PART-1)",
                model=m.name,
                field=mine,
            )


# --- typed models from a TypedDict --------------------------------------------------------

_SCALARS: dict[object, FieldType] = {
    str: StringType(),
    float: NumberType(),
    int: IntegerType(),
    bool: BooleanType(),
    datetime: TimestampType(),
}
_FIELD_TYPES = (StringType, NumberType, IntegerType, BooleanType, TimestampType, JsonType)


def _field_from_annotation(model_name: str, name: str, annotation: Any) -> Field:
    explicit: FieldType | None = None
    nullable = False

    def unwrap(tp: Any) -> Any:
        nonlocal explicit
        while True:
            origin = typing.get_origin(tp)
            if origin is typing.Annotated:
                for extra in tp.__metadata__:
                    if isinstance(extra, _FIELD_TYPES):
                        explicit = extra
                tp = tp.__origin__
            elif origin in (typing.Required, typing.NotRequired):
                tp = typing.get_args(tp)[0]
            else:
                return tp

    tp = unwrap(annotation)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [unwrap(m) for m in typing.get_args(tp)]
        nullable = type(None) in members
        members = [m for m in members if m is not type(None)]
        tp = members[0] if len(members) == 1 else JsonType
    if explicit is None:
        scalar = _SCALARS.get(tp) if isinstance(tp, type) else None
        explicit = scalar if scalar is not None else JsonType()
    return Field(name, explicit, nullable=nullable)


def model(
    name: str,
    row_type: type[R],
    *,
    primary_key: str | Sequence[str],
    indexes: Sequence[Index] = (),
    partition_key: str | Sequence[str] = (),
    colocate_with: str | None = None,
) -> Model[R]:
    """Declare a model once, as a ``TypedDict``, and get a typed :class:`Model`.

    Annotations map to logical types: ``str`` -> string (``Annotated[str,
    StringType(255)]`` for a max_length), ``float`` -> number, ``int`` -> integer,
    ``bool`` -> boolean, ``datetime`` -> timestamp, anything else (``Json``, dicts,
    lists) -> json. ``X | None`` makes the field nullable; ``Json`` includes None.
    ``partition_key`` and ``colocate_with`` are those of :class:`Model` (PART-1).
    """
    keys = (primary_key,) if isinstance(primary_key, str) else tuple(primary_key)
    return Model(
        name,
        fields_of(name, row_type),
        primary_key=keys,
        indexes=indexes,
        partition_key=partition_key,
        colocate_with=colocate_with,
        row_type=row_type,
    )


def fields_of(name: str, row_type: type[Any]) -> list[Field]:
    """The fields a row type's annotations declare (the mapping :func:`model` uses)."""
    try:
        hints = typing.get_type_hints(row_type, include_extras=True)
    except Exception as exc:  # NameError from an unresolvable forward reference
        raise SchemaError(
            f"cannot read the annotations of {row_type!r}: {exc}", model=name
        ) from exc
    return [_field_from_annotation(name, key, hint) for key, hint in hints.items()]
