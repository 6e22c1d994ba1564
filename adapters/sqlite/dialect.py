"""SQLite spelling: STRICT tables, INTEGER epoch-ms timestamps, JSON as checked TEXT.

JSON paths. A path is bound as one string parameter, ``$."k1"."k2"``, where each key
is written exactly as :func:`~noorm.adapters.sql.codec.dump_json` writes it inside the
stored document (JSON-escaped, non-ASCII kept). SQLite before 3.45 matches a quoted
path key against the *raw* key text of the document, so that spelling selects exactly
the key whatever dots, ``$``, brackets, ``?``, backslashes, spaces or non-ASCII it
holds; later versions decode escapes on both sides, so it matches there too. Before
3.45 a key holding a double quote cannot be spelled at all (a quoted segment ends at
the first ``"``, escaped or not), so such a path is read with ``json_each`` joins that
compare decoded keys, as bound parameters, instead. Which of the two holds is not
assumed from the version number: the adapter probes both on connect (and falls back
to ``json_each`` for every path if even plain keys fail).
"""

from __future__ import annotations

import functools
import sqlite3
from datetime import timedelta as _timedelta
from typing import Any, ClassVar

from noorm.spec.errors import ConflictError, DuplicateKeyError, NoOrmError, ValidationError
from noorm.spec.schema import Field
from noorm.spec.types import (
    BooleanType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)
from noorm.spec.values import EPOCH as _EPOCH
from noorm.spec.values import to_epoch_ms

from ..sql.codec import Codec, dump_json
from ..sql.dialect import Dialect, JsonAccess, JsonKind

__all__ = ["PACK_IN", "SQLiteCodec", "SQLiteDialect", "json_path", "json_paths_work"]

_DUPLICATE = frozenset({"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"})
PACK_IN = 64
"""IN lists longer than this bind as one JSON array read with ``json_each``: one statement
text for every length, and far under the bound-parameter limit (LIM-FILTER)."""

# Keys the path form must select exactly (and only): probed on every new connection.
_PROBE_KEYS = (
    "a", "a.b", "$", "$.a", "a[0]", "[", "]", "?", "a\\b", "\\", "a b", " ", "", "'",
    "é", "日本", "\U0001f600", "\ue000", "a\nb", "\x01", "\u2028", "*", "#",
)  # fmt: skip
_QUOTE_KEYS = ('a"b', '"', '\\"', 'a".b', '"."', 'a"[0]')


@functools.lru_cache(maxsize=1024)
def json_path(keys: tuple[str, ...], *, quotes: bool = False) -> str | None:
    """The SQLite path string selecting ``keys``.

    None when a key holds a double quote and ``quotes`` (this SQLite reads ``\\"``
    inside a quoted path key) is False.
    """
    if not quotes and any('"' in key for key in keys):
        return None
    return "$" + "".join('."' + dump_json(key)[1:-1] + '"' for key in keys)


def json_paths_work(conn: sqlite3.Connection, *, quotes: bool = False) -> bool:
    """Whether this SQLite selects exactly the probe keys with :func:`json_path`.

    With ``quotes``, the probe keys are those holding double quotes.
    """
    sql = "SELECT json_extract(?, ?), json_type(?, ?), json_extract(?, ?)"
    try:
        for number, key in enumerate(_QUOTE_KEYS if quotes else _PROBE_KEYS):
            # Decoys: a longer key, "a"."b" for the key "a.b", and the key one level down.
            doc: dict[str, Any] = {key: number}
            doc.setdefault(key + "x", -1)
            doc.setdefault("a", {"b": -2})
            doc.setdefault("nest", {key: -3})
            found = json_path((key,), quotes=quotes)
            nested = json_path(("nest", key), quotes=quotes)
            assert found is not None and nested is not None
            text = dump_json(doc)
            row = conn.execute(sql, (text, found, text, found, text, nested)).fetchone()
            if tuple(row) != (number, "integer", -3):
                return False
    except sqlite3.Error:
        return False
    return True


class SQLiteCodec(Codec):
    """0/1 booleans, integer epoch-millisecond timestamps, JSON text."""

    def encode_boolean(self, value: bool) -> int:
        return 1 if value else 0

    def encode_timestamp(self, value: Any) -> int:
        return to_epoch_ms(value)

    def decode_timestamp(self, value: Any) -> Any:
        return _EPOCH + _timedelta(0, 0, 0, int(value))  # from_epoch_ms, without keywords

    def encode_json_scalar(self, value: str | float | bool) -> Any:
        # json_extract() reads JSON true/false as the integers 1/0.
        return int(value) if isinstance(value, bool) else value


class SQLiteDialect(Dialect):
    name: ClassVar[str] = "sqlite"
    placeholder: ClassVar[str] = "?"
    # Take the write lock up front: a deferred transaction that reads and then writes
    # can fail with SQLITE_BUSY instead of waiting when another connection writes.
    begin_sql: ClassVar[str] = "BEGIN IMMEDIATE"
    # So a locking read (ISO-2) needs no clause: the transaction already holds the lock
    # that keeps every other connection from writing until it ends.
    for_update_sql: ClassVar[str] = ""
    string_collation: ClassVar[str | None] = "BINARY"  # memcmp of UTF-8 = code point order
    json_types: ClassVar[dict[str, tuple[str, ...]]] = {
        "string": ("text",),
        "number": ("integer", "real"),
        "boolean": ("true", "false"),
        "null": ("null",),
    }

    def __init__(
        self,
        *,
        strict: bool = True,
        nulls_clause: bool = True,
        max_params: int = 32766,
        json_path_strings: bool = True,
        json_path_quotes: bool = False,
        schema: str | None = None,
    ) -> None:
        """``json_path_strings``/``json_path_quotes``: what :func:`json_paths_work` found;
        ``schema`` qualifies every table (the adapter uses ``"main"``)."""
        super().__init__(SQLiteCodec())
        self.schema = schema
        self.table_options = " STRICT" if strict else ""
        self.nulls_clause = nulls_clause
        self.max_params = max_params
        self.json_path_strings = json_path_strings
        self.json_path_quotes = json_path_quotes

    def table_name(self, model: str) -> str:
        """``"main"."model"``: a temporary table or an attached database's table of the
        same name never stands in for the adapter's own."""
        table = self.quote(model)
        return table if self.schema is None else f"{self.quote(self.schema)}.{table}"

    def index_name(self, name: str) -> str:
        index = self.quote(name)  # SQLite qualifies the index, and never the ON table
        return index if self.schema is None else f"{self.quote(self.schema)}.{index}"

    def index_table(self, model: str) -> str:
        return self.quote(model)

    def column_type(self, field: Field) -> str:
        t = field.type
        if isinstance(t, (StringType, JsonType)):
            return "TEXT"
        if isinstance(t, NumberType):
            return "REAL"
        if isinstance(t, (IntegerType, BooleanType, TimestampType)):
            return "INTEGER"
        raise AssertionError(f"unhandled field type {t!r}")  # pragma: no cover

    def column_checks(self, column: str, field: Field) -> list[str]:
        if isinstance(field.type, BooleanType):
            return [f"{column} IN (0, 1)"]
        if isinstance(field.type, JsonType):
            # json_valid(NULL) is 0 before SQLite 3.45, so NULL needs its own way through.
            return [
                f"{column} IS NULL OR json_valid({column})"
                if field.nullable
                else f"json_valid({column})"
            ]
        return []

    def json_access(
        self, column: str | None, keys: tuple[str, ...], kind: JsonKind | None
    ) -> JsonAccess:
        path = json_path(keys, quotes=self.json_path_quotes) if self.json_path_strings else None
        if path is not None:
            if column is None:
                return JsonAccess("path", "", (path,), "", (path,))
            ph = self.placeholder
            return JsonAccess(
                "path",
                f"json_type({column}, {ph})",
                (path,),
                f"json_extract({column}, {ph})",
                (path,),
            )
        shape = ("each", len(keys))
        if column is None:
            return JsonAccess(shape, "", keys, "", keys)
        # Aliases hold "$", which no portable table name can, so they never shadow the
        # outer table; the column arrives qualified, so json_each's own columns
        # ("key", "value", "json", ...) never shadow a field either.
        alias = [f'"j${i}"' for i in range(len(keys))]
        joins = f"json_each({column}) AS {alias[0]}" + "".join(
            f" JOIN json_each(CASE WHEN {alias[i - 1]}.type = 'object' "
            f"THEN {alias[i - 1]}.value END) AS {alias[i]}"
            for i in range(1, len(keys))
        )
        match = " AND ".join(f"{a}.key = {self.placeholder}" for a in alias)  # keys are bound
        last = alias[-1]
        type_sql = f"(SELECT {last}.type FROM {joins} WHERE {match})"  # noqa: S608
        value_sql = f"(SELECT {last}.atom FROM {joins} WHERE {match})"  # noqa: S608
        return JsonAccess(shape, type_sql, keys, value_sql, keys)

    def in_packed(self, kind: str, count: int) -> bool:
        return count > PACK_IN

    def in_sql(self, expr: str, negated: bool, kind: str, count: int, packed: bool) -> str:
        if not packed:
            return super().in_sql(expr, negated, kind, count, packed)
        # json_each reads the array back as exactly the values bound one by one would be:
        # TEXT, INTEGER (0/1 booleans and epoch-millisecond timestamps included) and REAL.
        listed = f"(SELECT value FROM json_each({self.placeholder}))"  # noqa: S608
        return f"{expr} {'NOT IN' if negated else 'IN'} {listed}"

    def pack_in(self, kind: str, values: list[Any]) -> Any:
        return dump_json(values)

    def classify_error(self, exc: BaseException, model: str | None) -> NoOrmError:
        if isinstance(exc, sqlite3.IntegrityError) and _is_duplicate(exc):
            return DuplicateKeyError(f"duplicate key ({exc})", model=model)
        if isinstance(exc, UnicodeEncodeError):
            return ValidationError(
                "a string holds a lone surrogate and cannot be stored as UTF-8", model=model
            )
        if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
            return ConflictError(
                f"another connection held the database lock past the timeout ({exc})",
                model=model,
            )
        return super().classify_error(exc, model)

    def missing_table(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such table")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (any extended code): a lock wait that timed out (ISO-4)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return str(exc).startswith(("database is locked", "database table is locked"))


def _is_duplicate(exc: sqlite3.IntegrityError) -> bool:
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+; not in every sqlite3 build
    if name in _DUPLICATE:
        return True
    if name not in (None, "SQLITE_CONSTRAINT"):
        return False
    # Without extended result codes (pysqlite3, older Pythons) the message is all there is.
    return str(exc).startswith("UNIQUE constraint failed")
