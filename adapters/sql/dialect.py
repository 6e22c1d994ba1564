"""What differs between SQL backends, as one small overridable class.

The compiler (:mod:`.compiler`) writes every statement through a :class:`Dialect`, so
a backend adapter is a dialect subclass plus connection handling. Defaults follow
standard SQL (and are what PostgreSQL accepts); a subclass overrides attributes and
methods where its backend differs. Nothing here ever sees a user value: values and
JSON path keys are bound parameters, identifiers are validated portable names and are
quoted anyway.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from noorm.spec.errors import BackendError, NoOrmError, UnsupportedError
from noorm.spec.operations import Order
from noorm.spec.schema import Field, Model
from noorm.spec.types import StringType

from .codec import Codec

__all__ = ["Dialect", "JsonAccess", "JsonKind"]

JsonKind = Literal["string", "number", "boolean"]
"""The JSON type a path comparison is restricted to (FLT-JSON-1): the filter value's."""


@dataclass(frozen=True, slots=True)
class JsonAccess:
    """How one json path is read inside a predicate.

    ``type_sql`` yields the backend's JSON type name of the value at the path (NULL
    when the field is NULL or the path is missing); ``value_sql`` yields that value as
    a SQL scalar comparable with :meth:`Codec.encode_json_scalar` of a filter value of
    the requested kind. Each fragment's placeholders take its own params, in order.
    ``shape`` says which SQL form was chosen; it never contains the keys themselves.
    The SQL fragments are empty when the caller only needed the shape and params.
    """

    shape: Hashable
    type_sql: str
    type_params: tuple[Any, ...]
    value_sql: str
    value_params: tuple[Any, ...]


class Dialect:
    """SQL spelling for one backend; subclass and override what differs."""

    name: ClassVar[str] = "sql"
    placeholder: ClassVar[str] = "?"
    """The DB-API parameter marker: ``?`` (qmark) or ``%s`` (format; literal % must be %%)."""
    true_sql: ClassVar[str] = "TRUE"
    false_sql: ClassVar[str] = "FALSE"
    begin_sql: ClassVar[str] = "BEGIN"
    for_update_sql: ClassVar[str] = " FOR UPDATE"
    """Appended to a locking read (ISO-2); empty where a transaction already holds the
    write lock from its start (SQLite's ``BEGIN IMMEDIATE``)."""
    limit_as_param: ClassVar[bool] = True
    """False where LIMIT must be a literal (MySQL prepared statements): the compiler then
    renders a validated Python int into the SQL and caches per limit value."""
    create_index_if_not_exists: ClassVar[bool] = True
    """False (MySQL 8) makes bootstrap look an index up before creating it."""
    nulls_sort_low: ClassVar[bool] = True
    """Without a NULLS clause, NULL sorts as the lowest value (SQLite, MySQL); PostgreSQL
    sorts it highest. Used only when ``nulls_clause`` is False."""
    string_collation: ClassVar[str | None] = None
    """Collation for string columns that compares by code point (STR-4), e.g. ``"C"``."""
    json_types: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """JSON type names ``JsonAccess.type_sql`` reports, for each kind and for "null"."""

    nulls_clause: bool = True
    """The backend accepts ``NULLS FIRST`` / ``NULLS LAST``."""
    max_params: int = 999
    """Bound parameters one statement may carry; batch inserts are chunked under it."""
    max_statement_bytes: int = 64 * 1024 * 1024
    """An upper bound of the bytes of one batch INSERT's values (see :meth:`values_bytes`);
    batches are also chunked under it, so a batch of large rows never builds a statement
    the driver or the server cannot take (MySQL's ``max_allowed_packet``)."""
    table_options: str = ""
    """Appended after ``CREATE TABLE ... ( ... )``, e.g. ``" STRICT"``."""

    def __init__(self, codec: Codec | None = None) -> None:
        self.codec = codec if codec is not None else Codec()

    # --- names and literals -----------------------------------------------------------

    def quote(self, name: str) -> str:
        """A quoted identifier; embedded quote characters are doubled."""
        return '"' + name.replace('"', '""') + '"'

    def table_name(self, model: str) -> str:
        """How statements name the table of ``model``: quoted, optionally schema-qualified."""
        return self.quote(model)

    def index_name(self, name: str) -> str:
        """How ``CREATE INDEX`` names an index (quoted, qualified where the backend wants)."""
        return self.quote(name)

    def index_table(self, model: str) -> str:
        """How ``CREATE INDEX ... ON`` names the table of ``model``."""
        return self.table_name(model)

    def literal(self, text: str) -> str:
        """A string literal for the dialect's own constants (JSON type names), never data."""
        return "'" + text.replace("'", "''") + "'"

    # --- DDL ----------------------------------------------------------------------------

    def column_type(self, field: Field) -> str:
        """The physical type of ``field``'s logical type."""
        raise NotImplementedError(f"{type(self).__name__} does not map {field.type!r}")

    def column_checks(self, column: str, field: Field) -> list[str]:
        """CHECK constraints (without ``CHECK``) that keep ``column`` within its type."""
        return []

    def column_sql(self, field: Field) -> str:
        column = self.quote(field.name)
        parts = [column, self.column_type(field)]
        if isinstance(field.type, StringType) and self.string_collation:
            parts.append(f"COLLATE {self.string_collation}")
        if not field.nullable:
            parts.append("NOT NULL")
        parts.extend(f"CHECK ({check})" for check in self.column_checks(column, field))
        return " ".join(parts)

    def columns_sql(self, model: Model[Any]) -> list[str]:
        """The column definitions of ``model``'s table, in field order."""
        return [self.column_sql(field) for field in model.fields]

    def key_part(self, model: Model[Any], name: str) -> str:
        """One column of a primary key or index of ``model`` (quoted; a backend may add a
        prefix length)."""
        return self.quote(name)

    # --- reading --------------------------------------------------------------------------

    def select_prefix(self, order_fields: Sequence[Field]) -> str:
        """Text put before a SELECT ordered by ``order_fields`` (e.g. statement settings)."""
        return ""

    def index_hint(self, model: Model[Any], fixed: frozenset[str], order: Sequence[Order]) -> str:
        """Text put after the table name of a SELECT whose filter pins ``fixed`` with
        equalities and that sorts by ``order`` (e.g. an index hint); ``""`` by default."""
        return ""

    def order_expr(self, column: str, field: Field) -> str:
        """What ORDER BY sorts ``field`` by: the column itself unless a backend sorts a
        shorter expression (and restores the full order itself)."""
        return column

    def order_sql(self, column: str, descending: bool, nullable: bool) -> str:
        """One ORDER BY item honouring ORD-1 (NULL first ascending, last descending)."""
        direction = "DESC" if descending else "ASC"
        if not nullable:
            return f"{column} {direction}"
        if self.nulls_clause:
            return f"{column} {direction} NULLS {'LAST' if descending else 'FIRST'}"
        if self.nulls_sort_low:
            return f"{column} {direction}"
        return f"({column} IS NULL) {'ASC' if descending else 'DESC'}, {column} {direction}"

    def not_sql(self, predicate: str, *, grouped: bool = False) -> str:
        """Two-valued NOT (FLT-LOGIC): an unknown operand counts as false, so NOT is true.

        ``IS NOT TRUE`` is true for false and for unknown alike; it nests one parenthesis
        per level, where ``NOT COALESCE(x, FALSE)`` nests a function call in a NOT (SQLite
        3.40's parser runs out of stack at 22 of those). ``grouped``: ``predicate`` is
        already enclosed in parentheses.
        """
        return f"{predicate if grouped else '(' + predicate + ')'} IS NOT TRUE"

    def in_packed(self, kind: str, count: int) -> bool:
        """Whether an IN list of ``count`` values of ``kind`` binds as one parameter.

        ``kind`` is the field's logical type name (``"string"``, ``"integer"``, ...) or,
        on a json path, ``"json-string"``, ``"json-number"`` or ``"json-boolean"``. The
        answer must depend on nothing else: it is part of the statement's shape.
        """
        return False

    def in_sql(self, expr: str, negated: bool, kind: str, count: int, packed: bool) -> str:
        """``expr [NOT] IN`` the values (``count`` placeholders, or one if ``packed``)."""
        marks = ", ".join([self.placeholder] * count)
        return f"{expr} {'NOT IN' if negated else 'IN'} ({marks})"

    def pack_in(self, kind: str, values: list[Any]) -> Any:
        """The one parameter of a packed IN list (values already encoded)."""
        return values

    def json_access(
        self, column: str | None, keys: tuple[str, ...], kind: JsonKind | None
    ) -> JsonAccess:
        """Read the value at ``keys`` inside the json ``column`` (None: shape and params only).

        ``kind`` is the JSON type the value will be compared with (None for is_null).
        Keys are always bound parameters. A key the backend cannot address raises
        UnsupportedError rather than selecting some other key.
        """
        raise UnsupportedError(
            f"the {self.name} dialect has no json path support", capability="json_paths"
        )

    # --- writing --------------------------------------------------------------------------

    def values_bytes(self, values: Sequence[Any]) -> int:
        """An upper bound of the bytes encoded ``values`` take in a statement: 4 per
        character of a string (UTF-8, or a literal with escapes), 32 for anything else."""
        return sum([4 * len(v) + 4 if isinstance(v, str) else 32 for v in values])

    def on_conflict_do_nothing(self, key_columns: Sequence[str]) -> str:
        """Suffix of an INSERT that skips a row whose primary key exists (and only that)."""
        return f" ON CONFLICT ({', '.join(key_columns)}) DO NOTHING"

    # --- errors ---------------------------------------------------------------------------

    def classify_error(self, exc: BaseException, model: str | None) -> NoOrmError:
        """The noorm error for a driver exception; the caller raises it ``from exc``."""
        return BackendError(f"{type(exc).__name__}: {exc}", model=model)

    def missing_table(self, exc: BaseException) -> bool:
        """Whether ``exc`` says a table does not exist (the error then says to bootstrap)."""
        return False
