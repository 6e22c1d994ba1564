"""PostgreSQL spelling: ``"C"``-collated text, TIMESTAMPTZ, JSONB, NULLS FIRST/LAST.

JSON paths are chains of ``->`` with every key a bound ``text`` parameter, so a key
is data whatever it holds (quotes, dots, ``$``, ``[``, ``?``, ``%``, backslashes,
non-ASCII), and ``jsonb -> text`` never indexes an array (``#>`` with a text[] path
would read ``"0"`` as an array index). The filter value's JSON type is checked with
``jsonb_typeof`` (FLT-JSON-1); numbers and booleans then compare as ``jsonb`` (numeric
for numbers, so 1 = 1.0 and 10 > 9, and never an error whatever the stored type), and
strings as the extracted text with ``COLLATE "C"`` (code point order, STR-4).

JSONB keeps numbers as ``numeric`` and prints them without an exponent: the float
``1e300`` comes back as 301 digits without a decimal point. JSON integers are limited
to +/-2**53 (JSON-1), so an integral number outside that range was a float, and
:meth:`PostgresCodec.decode_json` turns it back into one (JSON-3).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from noorm.spec.errors import BackendError, ConflictError, DuplicateKeyError, NoOrmError
from noorm.spec.schema import Field
from noorm.spec.types import (
    BooleanType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)
from noorm.spec.values import MAX_SAFE_INTEGER

from ..sql.codec import Codec, dump_json, load_json
from ..sql.dialect import Dialect, JsonAccess, JsonKind

UNIQUE_VIOLATION = "23505"
UNDEFINED_TABLE = "42P01"
INTERNAL_ERROR = "XX000"
_CITUS_COPY_DUPLICATE = "duplicate key value violates unique constraint"
"""Citus's COPY into a distributed table re-raises a worker's unique violation as an
internal error (XX000) with the worker's message: still a duplicate (OP-DUP, LIM-BATCH)."""
CONFLICT_STATES = frozenset({"40001", "40P01", "55P03"})
"""serialization_failure, deadlock_detected, lock_not_available (``lock_timeout``,
``NOWAIT``): a concurrent transaction won, rerunning may succeed (ISO-4)."""

__all__ = [
    "CONFLICT_STATES",
    "SYSTEM_COLUMNS",
    "UNDEFINED_TABLE",
    "UNIQUE_VIOLATION",
    "PostgresCodec",
    "PostgresDialect",
    "one_line",
]

SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})
"""Names PostgreSQL refuses for user columns; they are stored upper-cased instead."""

_ARRAY_TYPES = {
    "string": "text[]",
    "number": "float8[]",
    "integer": "int8[]",
    "boolean": "bool[]",
    "timestamp": "timestamptz[]",
    "json-string": "text[]",
    "json-number": "jsonb[]",
    "json-boolean": "jsonb[]",
}
"""The array an IN list binds as, by the kind of its values (see :meth:`Dialect.in_packed`)."""


def _json_int(text: str) -> int | float:
    value = int(text)
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(text)


_WIDE_INTS = json.JSONDecoder(parse_int=_json_int)
"""JSONB keeps integers of any size; one beyond 2**53 is read as the float every other
backend gives (the C scanner calls ``_json_int`` once per integer literal)."""


def one_line(exc: BaseException) -> str:
    """The first line of a driver message (psycopg adds LINE/caret and hint lines)."""
    lines = str(exc).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(exc).__name__


_CONSTRAINT = re.compile(r'unique constraint "((?:[^"]|"")+)"')
_SHARD_SUFFIX = re.compile(r"_[0-9]+\Z")


def constraint_from_message(exc: BaseException) -> str | None:
    """The unique constraint a message names, for servers that leave the error's
    constraint field empty: Citus reports a worker's violation with the shard's index
    name (``accounts_email_102008``) in the message only; the shard suffix is removed."""
    found = _CONSTRAINT.search(str(exc))
    if found is None:
        return None
    return _SHARD_SUFFIX.sub("", found.group(1).replace('""', '"'))


class PostgresCodec(Codec):
    """JSONB arrives as text (see the adapter's loaders) and is parsed here, typed."""

    def decode_timestamp(self, value: Any) -> Any:
        return value  # the adapter's TIMESTAMPTZ loader already returns aware UTC datetimes

    def decode_json(self, value: Any) -> Any:
        return load_json(value, _WIDE_INTS)

    def encode_json_scalar(self, value: str | float | bool) -> Any:
        # Strings compare with extracted text; numbers and booleans with jsonb values.
        return value if isinstance(value, str) else dump_json(value)


class PostgresDialect(Dialect):
    """PostgreSQL 12+ (psycopg 3 ``%s`` placeholders); ``schema`` qualifies every table.

    The adapter always sets ``schema`` (to ``current_schema()`` when it is not given).
    """

    name: ClassVar[str] = "postgres"
    placeholder: ClassVar[str] = "%s"
    string_collation: ClassVar[str | None] = '"C"'  # byte order of UTF-8 = code point order
    json_types: ClassVar[dict[str, tuple[str, ...]]] = {
        "string": ("string",),
        "number": ("number",),
        "boolean": ("boolean",),
        "null": ("null",),
    }

    def __init__(self, schema: str | None = None) -> None:
        super().__init__(PostgresCodec())
        self.schema = schema
        self.max_params = 65535  # the protocol's limit (a 16-bit count)

    def identifier(self, name: str) -> str:
        """The name PostgreSQL stores for the portable name ``name`` (the catalog's form)."""
        # A portable identifier is lowercase, so the upper-cased form never collides.
        return name.upper() if name in SYSTEM_COLUMNS else name

    def quote(self, name: str) -> str:
        return super().quote(self.identifier(name))

    def schema_name(self) -> str:
        """The quoted schema (its name as given: schemas are not portable names)."""
        assert self.schema is not None
        return super().quote(self.schema)

    def table_name(self, model: str) -> str:
        """``"schema"."model"``: qualified, so the name never resolves through the
        ``search_path`` (where ``pg_catalog`` and ``pg_temp`` come first)."""
        table = self.quote(model)
        return table if self.schema is None else f"{self.schema_name()}.{table}"

    def in_packed(self, kind: str, count: int) -> bool:
        return True  # one typed array: one statement text for every length, one parameter

    def in_sql(self, expr: str, negated: bool, kind: str, count: int, packed: bool) -> str:
        array = f"{self.placeholder}::{_ARRAY_TYPES[kind]}"
        return f"{expr} <> ALL({array})" if negated else f"{expr} = ANY({array})"

    def column_type(self, field: Field) -> str:
        t = field.type
        if isinstance(t, StringType):
            return "TEXT" if t.max_length is None else f"VARCHAR({t.max_length})"
        if isinstance(t, NumberType):
            return "DOUBLE PRECISION"
        if isinstance(t, IntegerType):
            return "BIGINT"
        if isinstance(t, BooleanType):
            return "BOOLEAN"
        if isinstance(t, TimestampType):
            return "TIMESTAMPTZ"
        if isinstance(t, JsonType):
            return "JSONB"
        raise AssertionError(f"unhandled field type {t!r}")  # pragma: no cover

    def json_access(
        self, column: str | None, keys: tuple[str, ...], kind: JsonKind | None
    ) -> JsonAccess:
        shape = ("chain", len(keys))
        if column is None:
            return JsonAccess(shape, "", keys, "", keys)
        key = f"{self.placeholder}::text"
        head = column + "".join(f" -> {key}" for _ in keys[:-1])
        value = f"({head} -> {key})"
        if kind == "string":
            value = f'(({head} ->> {key}) COLLATE "C")'
        return JsonAccess(shape, f"jsonb_typeof({head} -> {key})", keys, value, keys)

    def classify_error(self, exc: BaseException, model: str | None) -> NoOrmError:
        state = getattr(exc, "sqlstate", None)
        if state == UNIQUE_VIOLATION or (
            state == INTERNAL_ERROR and str(exc).startswith(_CITUS_COPY_DUPLICATE)
        ):
            constraint = getattr(getattr(exc, "diag", None), "constraint_name", None)
            if not constraint:
                constraint = constraint_from_message(exc)
            return DuplicateKeyError(
                f"duplicate key (constraint {constraint})" if constraint else "duplicate key",
                model=model,
            )
        code = f" [{state}]" if state else ""
        error = ConflictError if state in CONFLICT_STATES else BackendError
        return error(f"{type(exc).__name__}{code}: {one_line(exc)}", model=model)

    def missing_table(self, exc: BaseException) -> bool:
        return getattr(exc, "sqlstate", None) == UNDEFINED_TABLE
