"""What MySQL / MariaDB record about the adapter's tables (schema evolution, BOOT-5..7).

Read from ``information_schema`` of the adapter's database, names bound as parameters:
each column's ``COLUMN_TYPE`` (display widths dropped: MariaDB says ``bigint(20)``) and
collation, ``IS_NULLABLE``, the ``PRIMARY`` key and the indexes of each table with
their directions and uniqueness. Index names are per table here, but an index
the schema names on another table is reported like on the other backends (where index
names share one namespace), so a schema bootstraps identically everywhere. Not observable: a string's ``max_length`` once it is
stored as TEXT (longer than 768 code points, or moved out of the row by
:func:`~.dialect.plan_columns`), and index directions on MariaDB before 10.8, which
ignores ``DESC``.
"""

from __future__ import annotations

import re

from noorm.spec.evolution import StoredColumn, StoredIndex, StoredTable
from noorm.spec.schema import Field, Schema
from noorm.spec.types import StringType

from ..sql.introspect import Catalog
from ..sql.program import Program, query
from .dialect import MAX_VARCHAR, MySQLDialect

__all__ = ["read_catalog"]

_COLUMNS = (
    "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLLATION_NAME "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN %s "
    "ORDER BY TABLE_NAME, ORDINAL_POSITION"
)
_INDEXES = (
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, COLLATION "
    "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
    "AND (TABLE_NAME IN %s OR INDEX_NAME IN %s) "
    "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
)
_COLLATE = re.compile(r" (?:CHARACTER SET \w+ )?COLLATE (\w+)")
_WIDTH = re.compile(r"^(tinyint|smallint|mediumint|int|bigint)\((\d+)\)")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _kind(column_type: str, collation: str | None) -> str:
    kind = column_type.lower()
    if kind == "boolean":  # what the server makes of BOOLEAN
        kind = "tinyint(1)"
    elif not kind.startswith("tinyint(1)"):
        kind = _WIDTH.sub(r"\1", kind)
    return f"{kind} COLLATE {collation}" if collation else kind


def read_catalog(
    dialect: MySQLDialect, schema: Schema, tables: list[str], *, directions: bool
) -> Program[Catalog]:
    """The stored definition of ``tables`` (those that exist) and of their indexes that
    ``schema`` names. ``directions``: the server keeps ``DESC`` (else every stored
    column is taken to have the direction the model declares)."""
    columns: dict[str, list[StoredColumn]] = {}
    keys: dict[str, list[str]] = {}
    found: dict[tuple[str, str], tuple[list[tuple[str, bool]], bool]] = {}
    if tables:
        for table, name, column_type, nullable, collation in (
            yield query(_COLUMNS, [tuple(tables)])
        ):
            kind = _kind(_text(column_type), None if collation is None else _text(collation))
            stored = StoredColumn(_text(name), kind, _text(nullable) == "YES")
            columns.setdefault(_text(table), []).append(stored)
    names = tuple(index.name for model in schema.models for index in model.indexes)
    rows = yield query(_INDEXES, [tuple(tables) or ("",), names or ("",)])
    for table, index, non_unique, column, order in rows:
        if _text(index) == "PRIMARY":
            if _text(table) in tables:
                keys.setdefault(_text(table), []).append(_text(column))
            continue
        parts, _ = found.setdefault((_text(table), _text(index)), ([], not int(non_unique)))
        parts.append((_text(column), order is not None and _text(order) == "D"))
    indexes: dict[str, StoredIndex] = {}
    owners = {ix.name: (m.name, ix) for m in schema.models for ix in m.indexes}
    for (table, name), (parts, unique) in found.items():
        known = owners.get(name)
        if known is None or (name in indexes and indexes[name].table == known[0]):
            continue  # not the schema's, or its own table's index is already in
        index = known[1]
        if not directions and [n for n, _ in parts] == [c.field for c in index.columns]:
            parts = [(c.field, c.descending) for c in index.columns]
        indexes[name] = StoredIndex(name, table, tuple(parts), unique)
    stored_tables = {
        table: StoredTable(tuple(columns[table]), tuple(keys.get(table, ())))
        for table in tables
        if table in columns
    }

    def type_matches(field: Field, stored_type: object) -> bool:
        physical = dialect.column_type(field)
        t = field.type
        if not isinstance(t, StringType):
            match = _COLLATE.search(physical)
            return stored_type == _kind(_COLLATE.split(physical)[0], match and match.group(1))
        allowed = {physical.lower()}
        if t.max_length is not None and t.max_length <= MAX_VARCHAR:
            allowed.add("text")  # plan_columns moves strings out of a full row as TEXT
        return stored_type in {f"{a} COLLATE {dialect.string_collation}" for a in allowed}

    return Catalog(stored_tables, indexes, type_matches)
