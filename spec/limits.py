"""The portable limits: what every certified adapter must handle, and nothing beyond.

Each limit is chosen so that every reference backend (PostgreSQL, MySQL/MariaDB,
MongoDB/FerretDB, SQLite, memory) meets it with the adapters' own care (chunked
batches, bound arrays, balanced filter trees); the kit refuses whatever lies outside
before any I/O (spec section 10, clauses LIM-*), identically on every adapter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_BATCH_ROWS",
    "MAX_FIELDS",
    "MAX_FILTER_CONDITIONS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_VALUES",
    "MAX_IDENTIFIER_LENGTH",
    "MAX_INDEXES",
    "MAX_KEY_BYTES",
    "MAX_KEY_COLUMNS",
    "MAX_LIMIT",
    "MAX_ORDER_FIELDS",
    "MAX_PATH_KEYS",
    "MAX_ROW_BYTES",
    "RESERVED_FIELD_NAMES",
    "RESERVED_INDEX_NAMES",
    "RESERVED_INDEX_SUFFIXES",
    "RESERVED_PREFIXES",
    "json_bytes",
    "value_bytes",
]

# --- names (LIM-NAME) ---------------------------------------------------------------------

MAX_IDENTIFIER_LENGTH = 63
"""PostgreSQL truncates longer names (NAMEDATALEN - 1)."""
RESERVED_PREFIXES = ("pg_", "sqlite_", "_")
"""Model and index names may not start with these: PostgreSQL's and SQLite's system
namespaces, and the leading underscore MongoDB (``_id_``) and FerretDB (``_ferretdb_``)
keep for themselves."""
RESERVED_FIELD_NAMES = frozenset({"_id", "oid", "tableoid", "xmin", "xmax", "cmin", "cmax", "ctid"})
"""MongoDB's document key and PostgreSQL's system columns."""
RESERVED_INDEX_NAMES = frozenset({"primary"})
"""MySQL's name of every primary key (index names are case-insensitive there)."""
RESERVED_INDEX_SUFFIXES = ("_pkey",)
"""PostgreSQL names a table's primary-key constraint ``<table>_pkey``, in the index namespace."""

# --- schema shape (LIM-SCHEMA, LIM-KEY) ---------------------------------------------------

MAX_FIELDS = 256
"""Fields per model (PostgreSQL rows of fixed-width columns stay within a page)."""
MAX_INDEXES = 32
"""Indexes per model, besides the primary key (MongoDB and MySQL allow 64)."""
MAX_KEY_COLUMNS = 16
"""Columns of one primary key or index (MySQL's limit)."""
MAX_KEY_BYTES = 2048
"""Width of a primary key or index: 4 bytes per code point of each string column's
``max_length``, 8 bytes per other column; an index also counts the primary-key columns
it does not hold (backends append them). PostgreSQL's B-tree holds ~2700 bytes per
entry, InnoDB 3072."""

# --- values (LIM-ROW, LIM-BATCH) ----------------------------------------------------------

MAX_ROW_BYTES = 2 * 1024 * 1024
"""Size of a written row (insert, upsert) or of an update's values; see :func:`value_bytes`.
A 16 MiB BSON document or MySQL packet holds it with room for encoding overhead."""
MAX_BATCH_ROWS = 10_000
"""Rows of one ``insert_many``; adapters split what their driver cannot send at once."""

# --- reads and filters (LIM-FILTER, LIM-READ) ---------------------------------------------

MAX_FILTER_VALUES = 10_000
"""Values in one filter, counting each ``in_``/``not_in`` element (so also the longest list)."""
MAX_FILTER_CONDITIONS = 1_000
"""Leaf conditions (comparisons, ``in_``, ``is_null``) in one filter."""
MAX_FILTER_DEPTH = 32
"""Nesting of ``and_``/``or_``/``not_`` in one filter."""
MAX_PATH_KEYS = 16
"""Keys of one json path (MariaDB's JSON functions stop at 32 levels of nesting)."""
MAX_ORDER_FIELDS = 16
"""Fields in one ``order_by`` (the primary-key tie-breakers come on top)."""
MAX_LIMIT = 1_000_000
"""The largest page; read more with cursors."""


def json_bytes(value: Any) -> int:
    """The size of a json value: its compact JSON text, in UTF-8 bytes."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def value_bytes(values: Mapping[str, Any], json_fields: frozenset[str]) -> int:
    """The size of canonical values: UTF-8 bytes of strings, :func:`json_bytes` of json
    fields, 8 bytes for every other value (NULL included)."""
    total = 0
    for name, value in values.items():
        if name in json_fields and value is not None:
            total += json_bytes(value)
        elif isinstance(value, str):
            total += len(value) if value.isascii() else len(value.encode("utf-8"))
        else:
            total += 8
    return total
