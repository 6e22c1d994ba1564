"""MySQL 8 and MariaDB spelling: backticks, code-point collations, DATETIME(3), JSON paths.

Two flavours share everything but a few facts, kept as class attributes:

- strings use a binary *NO PAD* collation (``utf8mb4_0900_bin`` on MySQL 8,
  ``utf8mb4_nopad_bin`` on MariaDB): code-point order, and ``"a" <> "a "``, which
  the PAD SPACE ``utf8mb4_bin`` of both servers gets wrong (STR-4, OP-DUP);
- json is MySQL 8's native JSON type, but plain LONGTEXT on MariaDB, whose JSON
  alias adds a ``JSON_VALID`` check that refuses documents nested 32 levels or more
  (the spec stores 64, JSON-1);
- MySQL 8 has no ``CREATE INDEX IF NOT EXISTS`` (bootstrap looks indexes up instead).

JSON paths. A path is one bound string, ``$."k1"."k2"``, each key written as a JSON
string literal (:func:`json_path`), so quotes, backslashes, dots, ``$``, brackets and
control characters inside a key are data. MySQL 8 decodes such a member name and
compares it with the document's decoded keys. MariaDB compares it with the key *as
written in the document*, escapes and all, and its parser refuses a member name that
starts with ``-``: so on MariaDB the adapter writes documents and paths with the same
function, which spells a key's leading ``-`` as ``\\u002d`` in both (:func:`json_key`).
Neither behaviour is trusted: every new server is probed (``MySQLCore.inspect`` in :mod:`.core`),
and a server that fails loses the json_paths capability rather than select another key.
``JSON_EXTRACT`` returns JSON text (MariaDB) or a JSON value (MySQL), so comparisons
read the value through ``JSON_VALUE`` (strings on MariaDB) or ``JSON_UNQUOTE`` (strings
on MySQL, with the code-point collation; booleans as ``'true'``/``'false'``) or
``CAST(... AS DOUBLE)`` (numbers), always behind a ``JSON_TYPE`` check of the kind
(FLT-JSON-1). MariaDB's ``JSON_UNQUOTE`` returns utf8mb3 on some releases (11.4.5,
MDEV-35614), which cannot take the utf8mb4 collation and loses astral characters.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from noorm.spec.errors import (
    BackendError,
    ConflictError,
    DuplicateKeyError,
    NoOrmError,
    UnsupportedError,
)
from noorm.spec.operations import Order
from noorm.spec.schema import Field, Model
from noorm.spec.types import (
    BooleanType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)

from ..sql.codec import Codec, dump_json
from ..sql.dialect import Dialect, JsonAccess, JsonKind

__all__ = [
    "CONFLICT_CODES",
    "DUPLICATE_CODES",
    "JSON_CODES",
    "MAX_KEY_BYTES",
    "MAX_ROW_BYTES",
    "MAX_SORT_LENGTH",
    "MAX_VARCHAR",
    "NO_SUCH_TABLE",
    "PROBE_KEYS",
    "SORT_PREFIX",
    "ColumnPlan",
    "JsonUnreadable",
    "MariaDBCodec",
    "MariaDBDialect",
    "MySQLCodec",
    "MySQLDialect",
    "dump_document",
    "error_code",
    "json_key",
    "json_path",
    "json_unreadable_reason",
    "long_string",
    "one_line",
    "plan_columns",
]

NO_SUCH_TABLE = 1146
"""ER_NO_SUCH_TABLE."""
CONFLICT_CODES = frozenset({1020, 1205, 1213, 3572})
"""ER_CHECKREAD (MariaDB's snapshot isolation), ER_LOCK_WAIT_TIMEOUT (also MariaDB's
NOWAIT), ER_LOCK_DEADLOCK, ER_LOCK_NOWAIT: a concurrent transaction won (ISO-4)."""
DUPLICATE_CODES = frozenset({1022, 1062, 1586})
"""ER_DUP_KEY, ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME."""
JSON_CODES = frozenset(range(4035, 4047))
"""MariaDB's ER_JSON_BAD_CHR .. ER_JSON_ONE_OR_ALL: a document or path it could not read
(a warning in a SELECT, an error in a strict UPDATE or DELETE)."""
MAX_KEY_BYTES = 3072
"""InnoDB's limit on the bytes of one index key (DYNAMIC rows, 16 KiB pages, both servers)."""
MAX_VARCHAR = MAX_KEY_BYTES // 4
"""The longest utf8mb4 string an index can hold, so the longest stored as VARCHAR."""
SORT_PREFIX = 1024
"""Characters of a string the server sorts by (see :meth:`MySQLDialect.order_expr`)."""
MAX_SORT_LENGTH = 4 * SORT_PREFIX
"""Bytes of each sort key MariaDB compares (``max_sort_length``, set per statement): every
VARCHAR the adapter creates (<= 768 characters) and every sort prefix, in full."""
MAX_ROW_BYTES = 65_535
"""The server's limit on a row's columns, BLOB/TEXT columns counted as their pointers."""

PROBE_KEYS = (
    "a", "a.b", "$", "$.a", "a[0]", "[", "]", "?", "%", "%s", "a\\b", "\\", "a b", " ", "",
    "'", "é", "日本", "\U0001f600", "\ue000", "a\nb", "\x01", "\u2028", "*", "**", "#",
    'a"b', '"', '\\"', 'a".b', '"."', 'a"[0]', "\\u0041", "A", "e\u0301", "0", "-1", "-",
    "--", "- x", "a-b", "last", "0 to 1",
)  # fmt: skip
"""Keys a path must select exactly (and only): probed once per server version."""


def json_key(key: str, *, escape_dash: bool = False) -> str:
    """``key`` as a JSON string literal; with ``escape_dash`` a leading ``-`` is ``\\u002d``.

    MariaDB's path parser rejects a quoted member name that starts with ``-`` (it
    reads it as the start of a negative array index), and it matches member names
    against the document's keys as raw text. So on MariaDB such a key is written
    ``\\u002d...`` in the path *and* in every stored document (see :func:`dump_document`).
    """
    text = dump_json(key)
    return '"\\u002d' + text[2:] if escape_dash and key.startswith("-") else text


@functools.lru_cache(maxsize=1024)
def json_path(keys: tuple[str, ...], *, escape_dash: bool = False) -> str:
    """The path string selecting ``keys``: each key a quoted, JSON-escaped member name."""
    return "$" + "".join("." + json_key(key, escape_dash=escape_dash) for key in keys)


def dump_document(value: Any) -> str:
    """:func:`dump_json`, with object keys written by ``json_key(escape_dash=True)``.

    Byte for byte the same text as :func:`dump_json` unless some key starts with ``-``
    (checked with a fast substring test before walking the document).
    """
    text = dump_json(value)
    if '"-' not in text:
        return text
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, parts: list[str]) -> None:
    if isinstance(value, dict):
        parts.append("{")
        for n, (key, item) in enumerate(value.items()):
            parts.append("," if n else "")
            parts.append(json_key(key, escape_dash=True))
            parts.append(":")
            _write(item, parts)
        parts.append("}")
    elif isinstance(value, list):
        parts.append("[")
        for n, item in enumerate(value):
            parts.append("," if n else "")
            _write(item, parts)
        parts.append("]")
    else:
        parts.append(dump_json(value))


def long_string(field: Field) -> bool:
    """Whether ``field`` is a string that may be longer than :data:`SORT_PREFIX`."""
    t = field.type
    return isinstance(t, StringType) and (t.max_length is None or t.max_length > SORT_PREFIX)


def error_code(exc: BaseException | None) -> int | None:
    """The server's (or PyMySQL's) numeric error code, if ``exc`` carries one."""
    args: tuple[Any, ...] = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line, without PyMySQL's tuple form."""
    args: tuple[Any, ...] = exc.args
    text = str(args[1]) if len(args) >= 2 else str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


class JsonUnreadable(Exception):
    """The server could not read a json document (or path) and evaluated it as NULL.

    In a SELECT, MariaDB reports this only as a warning (e.g. 4040, "Limit of 32 on
    JSON nested structures depth"), so the adapter turns such warnings into this
    error rather than return rows a path filter did not really select.
    """


def json_unreadable_reason(exc: BaseException) -> str:
    return (
        f"the server could not read a json document or path ({one_line(exc)}); MariaDB's "
        "JSON functions stop at 32 levels of nesting, so a path filter cannot be evaluated "
        "on such a document"
    )


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """The physical type of each string column of a model, chosen to fit InnoDB's rows.

    ``prefixed`` holds the key or index strings stored as TEXT, whose index entries are
    then prefixes of ``max_length`` characters: the whole value, since no longer one is
    ever written.
    """

    strings: dict[str, str]
    prefixed: frozenset[str]


def _text_type(max_length: int | None) -> str:
    if max_length is not None and max_length * 4 <= 65_535:
        return "TEXT"
    if max_length is not None and max_length * 4 <= 16_777_215:
        return "MEDIUMTEXT"
    return "LONGTEXT"


_FIXED = {"DOUBLE": 8, "BIGINT": 8, "DATETIME(3)": 7, "BOOLEAN": 1}


def _sizes(column: str) -> tuple[int, int, int]:
    """What one column of SQL type ``column`` costs a row, in bytes: against the server's
    65,535-byte limit; inside the InnoDB record as ``CREATE TABLE`` counts it; and inside
    the record at worst when a row is written."""
    if column.startswith("VARCHAR("):
        width = 4 * int(column[8:-1])
        if width <= 255:  # never leaves the record
            return width + 1, width + 1, width + 1
        return width + 2, 22, 42
    if column in _FIXED:
        return _FIXED[column], _FIXED[column], _FIXED[column]
    # TEXT, LONGTEXT, JSON: a value of up to 40 bytes stays in the record, a longer one
    # may move to overflow pages and leave a 20-byte pointer.
    return 12, 22, 42


def plan_columns(model: Model[Any], json_column: str, page_size: int = 16384) -> ColumnPlan:
    """String column types for ``model`` under InnoDB's row limits.

    The server refuses a table whose columns need more than 65,535 bytes (a VARCHAR
    counts its full width, a TEXT 9 to 12 bytes), and InnoDB, in strict mode, one whose
    record could outgrow half a page (8,126 bytes at 16 KiB: a VARCHAR of at most 255
    bytes stays in the record, a longer one or a TEXT may leave a 20-byte pointer).
    Writing a row needs more: a value of up to 40 bytes always stays in the record. A
    string is a VARCHAR when its ``max_length`` is at most :data:`MAX_VARCHAR` and it
    fits, otherwise TEXT, MEDIUMTEXT or LONGTEXT. Strings that are not keyed give way
    first, the one that saves most first; keyed ones become TEXT with a prefix index
    only when the keyed strings alone do not fit (e.g. 255 indexed strings of 20
    characters).
    """
    types: dict[str, str] = {}
    for f in model.fields:
        t = f.type
        if isinstance(t, StringType):
            n = t.max_length
            types[f.name] = (
                f"VARCHAR({n})" if n is not None and n <= MAX_VARCHAR else (_text_type(n))
            )
        elif isinstance(t, JsonType):
            types[f.name] = json_column
        elif isinstance(t, NumberType):
            types[f.name] = "DOUBLE"
        elif isinstance(t, TimestampType):
            types[f.name] = "DATETIME(3)"
        elif isinstance(t, BooleanType):
            types[f.name] = "BOOLEAN"
        else:
            types[f.name] = "BIGINT"
    strings = [f.name for f in model.fields if isinstance(f.type, StringType)]
    keyed = set(model.primary_key) | {c.field for ix in model.indexes for c in ix.columns}
    nulls = -(-sum(1 for f in model.fields if f.nullable) // 8)
    limits = (
        MAX_ROW_BYTES - 32 - nulls,
        min(page_size // 2 - 66, 16_383) - 64 - nulls,  # record headers, with a margin
        min(page_size // 2 - 66, 16_383) - 64 - nulls,
    )
    text = _sizes("TEXT")
    prefixed: set[str] = set()
    for pool in ([n for n in strings if n not in keyed], [n for n in strings if n in keyed]):
        while True:
            sizes = {n: _sizes(types[n]) for n in types}
            varchars = [n for n in pool if types[n].startswith("VARCHAR(")]
            best: str | None = None
            for k in (0, 2, 1):  # the server's limit, then a written row, then CREATE's
                if sum(size[k] for size in sizes.values()) > limits[k]:
                    gain = {n: sizes[n][k] - text[k] for n in varchars}
                    best = max(gain, key=gain.__getitem__, default=None)
                    if best is not None and gain[best] > 0:
                        break
                    best = None
            if best is None:
                break
            types[best] = "TEXT"
            if best in keyed:
                prefixed.add(best)
    return ColumnPlan({n: types[n] for n in strings}, frozenset(prefixed))


class MySQLCodec(Codec):
    """0/1 booleans, naive-UTC DATETIME(3) timestamps, JSON text, typed path scalars."""

    def encode_boolean(self, value: bool) -> int:
        return 1 if value else 0

    def encode_timestamp(self, value: datetime) -> datetime:
        # DATETIME has no zone: store the UTC wall clock (the kit already made it UTC).
        return value.astimezone(UTC).replace(tzinfo=None)

    def decode_json(self, value: Any) -> Any:
        return super().decode_json(value.decode() if isinstance(value, bytes) else value)

    def encode_json_scalar(self, value: str | float | bool) -> Any:
        # Matches the value expressions of MySQLDialect.json_access for each kind.
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return float(value)  # a DOUBLE literal: compared numerically
        return value


class MariaDBCodec(MySQLCodec):
    """Stores documents with :func:`dump_document` (see :func:`json_key`)."""

    def encode_json(self, value: Any) -> str:
        return dump_document(value)


class MySQLDialect(Dialect):
    """MySQL 8.0.17 or later."""

    name: ClassVar[str] = "mysql"
    placeholder: ClassVar[str] = "%s"
    begin_sql: ClassVar[str] = "START TRANSACTION"
    limit_as_param: ClassVar[bool] = True  # PyMySQL inlines the int; prepared LIMIT ? works too
    create_index_if_not_exists: ClassVar[bool] = False
    nulls_sort_low: ClassVar[bool] = True
    string_collation: ClassVar[str | None] = "utf8mb4_0900_bin"
    json_types: ClassVar[dict[str, tuple[str, ...]]] = {
        "string": ("STRING",),
        "number": ("INTEGER", "DOUBLE", "UNSIGNED INTEGER", "DECIMAL"),
        "boolean": ("BOOLEAN",),
        "null": ("NULL",),
    }

    json_column: ClassVar[str] = "JSON"
    json_valid_check: ClassVar[bool] = True
    guard_number_cast: ClassVar[bool] = True
    """MySQL 8 warns (and in a strict UPDATE fails) casting a JSON string to DOUBLE, so
    the cast only runs on numbers; MariaDB casts any JSON value silently."""
    json_warnings: ClassVar[bool] = False
    """Whether the server degrades unreadable JSON to NULL with a warning (MariaDB)."""

    escape_dash: ClassVar[bool] = False
    """Write a key's leading ``-`` as ``\\u002d`` (see :func:`json_key`)."""
    json_value_strings: ClassVar[bool] = False
    """Read a string at a path with ``JSON_VALUE`` rather than ``JSON_UNQUOTE(JSON_EXTRACT
    ...)``: MariaDB 11.4.5's ``JSON_UNQUOTE`` returns utf8mb3 and turns astral characters
    into ``?`` (MDEV-35614); ``JSON_VALUE`` keeps utf8mb4 (10.11.19, 11.4.5, 11.8.9). MySQL
    8 keeps ``JSON_UNQUOTE`` (utf8mb4 there): its ``JSON_VALUE`` needs 8.0.21 and returns
    ``VARCHAR(512)`` unless given a ``RETURNING`` type."""
    path_step: ClassVar[int] = 1_000
    """Keys per JSON path string: a longer path is read with nested ``JSON_EXTRACT`` calls
    (MariaDB refuses paths of 32 keys: "Limit of 32 on JSON path depth")."""

    insert_returning: ClassVar[bool] = False
    """``INSERT ... RETURNING`` exists (MariaDB 10.5+): upserts take one statement."""
    force_sort_index: ClassVar[bool] = False
    """Name the index that serves a keyset page (see :meth:`index_hint`)."""

    sort_settings: ClassVar[str] = ""
    """Put before a SELECT that sorts strings: MariaDB sorts only the first
    ``max_sort_length`` bytes of a string (1024 by default), whatever the session."""

    def __init__(
        self, *, max_params: int = 65_535, json_paths: bool = True, page_size: int = 16384
    ) -> None:
        """``json_paths``: what the JSON path probe (``MySQLCore.inspect``) found;
        ``page_size``: the server's ``innodb_page_size``, which bounds a row's record."""
        super().__init__(MariaDBCodec() if self.escape_dash else MySQLCodec())
        self.nulls_clause = False
        self.max_params = max_params
        self.json_paths = json_paths
        self.page_size = page_size
        self.table_options = (
            f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={self.string_collation}"
        )
        self._plans: dict[int, tuple[Model[Any], ColumnPlan]] = {}
        self._plans_lock = threading.Lock()

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def plan(self, model: Model[Any]) -> ColumnPlan:
        """:func:`plan_columns` of ``model``, computed once per Model object."""
        with self._plans_lock:
            known = self._plans.get(id(model))
            if known is not None and known[0] is model:
                return known[1]
        plan = plan_columns(model, self.json_column, self.page_size)
        with self._plans_lock:
            if len(self._plans) > 256:
                self._plans.clear()
            self._plans[id(model)] = (model, plan)
        return plan

    def columns_sql(self, model: Model[Any]) -> list[str]:
        strings = self.plan(model).strings
        return [self.column_sql(f, strings.get(f.name)) for f in model.fields]

    def column_sql(self, field: Field, column_type: str | None = None) -> str:
        if column_type is None:
            return super().column_sql(field)
        column = self.quote(field.name)
        parts = [column, column_type, f"COLLATE {self.string_collation}"]
        if not field.nullable:
            parts.append("NOT NULL")
        return " ".join(parts)

    def key_part(self, model: Model[Any], name: str) -> str:
        column = self.quote(name)
        if name not in self.plan(model).prefixed:
            return column
        t = model.field(name).type
        assert isinstance(t, StringType) and t.max_length is not None
        return f"{column}({t.max_length})"

    def select_prefix(self, order_fields: Sequence[Field]) -> str:
        if self.sort_settings and any(isinstance(f.type, StringType) for f in order_fields):
            return self.sort_settings
        return ""

    def index_hint(self, model: Model[Any], fixed: frozenset[str], order: Sequence[Order]) -> str:
        """``FORCE INDEX`` of the index that is exactly the pinned fields, then ``order``.

        MariaDB reads such an index with ``ref`` on the pinned prefix and evaluates the
        keyset bound of a cursor page as a pushed-down condition: it walks every entry
        from the start of the prefix to the cursor, so a deep page costs its depth. Forced,
        the same index is read as a range that starts at the cursor.
        """
        if not self.force_sort_index or not fixed:
            return ""
        wanted = [(o.field, o.descending) for o in order]
        for index in model.indexes:
            columns = [(c.field, c.descending) for c in index.columns]
            head = len(columns) - len(wanted)
            if (
                head > 0
                and columns[head:] == wanted
                and all(name in fixed for name, _ in columns[:head])
            ):
                return f" FORCE INDEX ({self.quote(index.name)})"
        return ""

    def order_expr(self, column: str, field: Field) -> str:
        """Strings longer than :data:`SORT_PREFIX` sort by that prefix: sort keys of up to
        2 MiB would need a sort buffer of 15 of them (MariaDB) or fail. The adapter sorts
        rows that share such a prefix itself (:meth:`MySQLAdapter._find`)."""
        if long_string(field):
            return f"LEFT({column}, {SORT_PREFIX})"
        return column

    def in_packed(self, kind: str, count: int) -> bool:
        return True  # PyMySQL writes a tuple as "(v1, v2, ...)": one statement text

    def in_sql(self, expr: str, negated: bool, kind: str, count: int, packed: bool) -> str:
        return f"{expr} {'NOT IN' if negated else 'IN'} {self.placeholder}"

    def pack_in(self, kind: str, values: list[Any]) -> Any:
        return tuple(values)

    def column_type(self, field: Field) -> str:
        t = field.type
        if isinstance(t, StringType):
            n = t.max_length
            if n is not None and n <= MAX_VARCHAR:
                return f"VARCHAR({n})"
            return _text_type(n)
        if isinstance(t, NumberType):
            return "DOUBLE"
        if isinstance(t, IntegerType):
            return "BIGINT"
        if isinstance(t, BooleanType):
            return "BOOLEAN"
        if isinstance(t, TimestampType):
            return "DATETIME(3)"
        if isinstance(t, JsonType):
            return self.json_column
        raise AssertionError(f"unhandled field type {t!r}")  # pragma: no cover

    def column_checks(self, column: str, field: Field) -> list[str]:
        if isinstance(field.type, BooleanType):
            return [f"{column} IN (0, 1)"]
        if isinstance(field.type, JsonType) and self.json_valid_check:
            return [f"JSON_VALID({column})"]
        return []

    def json_path(self, keys: tuple[str, ...]) -> str:
        """The bound path string selecting ``keys`` on this server."""
        return json_path(keys, escape_dash=self.escape_dash)

    def json_access(
        self, column: str | None, keys: tuple[str, ...], kind: JsonKind | None
    ) -> JsonAccess:
        if not self.json_paths:
            raise UnsupportedError(
                "this server did not pass the JSON path probe (a quoted key did not select "
                "exactly itself), so path filters are refused rather than risk another key",
                capability="json_paths",
            )
        step = self.path_step
        paths = tuple(self.json_path(keys[i : i + step]) for i in range(0, len(keys), step))
        guarded = kind == "number" and self.guard_number_cast
        uses = 0 if kind is None else 2 if guarded else 1
        shape = "path" if len(paths) == 1 else ("path", len(paths))
        if column is None:
            return JsonAccess(shape, "", paths, "", paths * uses)
        extract = column
        for _ in paths:
            extract = f"JSON_EXTRACT({extract}, {self.placeholder})"
        type_sql = f"JSON_TYPE({extract})"
        if kind is None:
            value_sql = ""
        elif kind == "string" and self.json_value_strings:
            inner = column
            for _ in paths[1:]:
                inner = f"JSON_EXTRACT({inner}, {self.placeholder})"
            value_sql = f"JSON_VALUE({inner}, {self.placeholder}) COLLATE {self.string_collation}"
        elif kind == "string":
            value_sql = f"JSON_UNQUOTE({extract}) COLLATE {self.string_collation}"
        elif kind == "boolean":
            value_sql = f"JSON_UNQUOTE({extract})"
        elif guarded:
            numbers = ", ".join(self.literal(n) for n in self.json_types["number"])
            value_sql = f"CASE WHEN {type_sql} IN ({numbers}) THEN CAST({extract} AS DOUBLE) END"
        else:
            value_sql = f"CAST({extract} AS DOUBLE)"
        return JsonAccess(shape, type_sql, paths, value_sql, paths * uses)

    def on_conflict_do_nothing(self, key_columns: Any) -> str:
        # INSERT IGNORE / ON DUPLICATE KEY also swallow unique-index collisions on other
        # keys; the adapter upserts with SELECT ... FOR UPDATE instead.
        raise UnsupportedError("MySQL has no insert-or-skip limited to the primary key")

    def classify_error(self, exc: BaseException, model: str | None) -> NoOrmError:
        code = error_code(exc)
        if code in DUPLICATE_CODES:
            return DuplicateKeyError(f"duplicate key ({one_line(exc)})", model=model)
        if code in JSON_CODES:
            return UnsupportedError(
                json_unreadable_reason(exc), capability="json_paths", model=model
            )
        error = ConflictError if code in CONFLICT_CODES else BackendError
        return error(f"{self.name} error {code}: {one_line(exc)}", model=model)

    def missing_table(self, exc: BaseException) -> bool:
        return error_code(exc) == NO_SUCH_TABLE


class MariaDBDialect(MySQLDialect):
    """MariaDB 10.6 or later."""

    name: ClassVar[str] = "mariadb"
    sort_settings: ClassVar[str] = f"SET STATEMENT max_sort_length = {MAX_SORT_LENGTH} FOR "
    create_index_if_not_exists: ClassVar[bool] = True
    string_collation: ClassVar[str | None] = "utf8mb4_nopad_bin"
    json_column: ClassVar[str] = "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    json_valid_check: ClassVar[bool] = False
    guard_number_cast: ClassVar[bool] = False
    json_warnings: ClassVar[bool] = True
    insert_returning: ClassVar[bool] = True
    force_sort_index: ClassVar[bool] = True
    escape_dash: ClassVar[bool] = True
    json_value_strings: ClassVar[bool] = True
    path_step: ClassVar[int] = 16
