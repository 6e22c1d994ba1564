"""What an SQLite database records about the adapter's tables (schema evolution, BOOT-5..7).

Columns and primary keys come from ``pragma_table_info``, indexes from
``pragma_index_list``/``pragma_index_xinfo``, every name a bound parameter. A column's
type is its declared type plus the CHECK the dialect gives booleans (``IN (0, 1)``)
and json (``json_valid``), read from the table's stored ``CREATE TABLE`` text (SQLite
keeps it verbatim, with added columns appended). Not observable here: integer versus
timestamp (both INTEGER epoch values) and a string's ``max_length`` (the kit enforces
it; the column is TEXT).
"""

from __future__ import annotations

from noorm.spec.evolution import StoredColumn, StoredIndex, StoredTable
from noorm.spec.schema import Field
from noorm.spec.types import BooleanType, JsonType

from ..sql.introspect import Catalog
from ..sql.program import Program, query
from .dialect import SQLiteDialect

__all__ = ["read_catalog"]

_TABLE = "SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?"
_COLUMNS = "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?, 'main') ORDER BY cid"
_INDEXES = (
    'SELECT m.name, m.tbl_name, l."unique" FROM main.sqlite_master AS m '
    "JOIN pragma_index_list(m.tbl_name, 'main') AS l ON l.name = m.name "
    "WHERE m.type = 'index' AND l.origin = 'c'"
)
_INDEX_COLUMNS = (
    "SELECT name, \"desc\" FROM pragma_index_xinfo(?, 'main') WHERE key = 1 ORDER BY seqno"
)
_BOOLEAN = " (boolean CHECK)"
_JSON = " (json_valid CHECK)"


def read_catalog(
    dialect: SQLiteDialect, tables: list[str], index_names: list[str]
) -> Program[Catalog]:
    """The stored definition of ``tables`` (those that exist) and of the indexes named
    ``index_names``, whatever table they are on (index names share one namespace)."""
    stored: dict[str, StoredTable] = {}
    for table in tables:
        found = yield query(_TABLE, [table])
        if not found:
            continue
        sql = str(found[0][0] or "")
        columns: list[StoredColumn] = []
        key: list[tuple[int, str]] = []
        for name, declared, notnull, pk in (yield query(_COLUMNS, [table])):
            quoted = dialect.quote(str(name))
            kind = str(declared).upper()
            if f"{quoted} IN (0, 1)" in sql:
                kind += _BOOLEAN
            if f"json_valid({quoted})" in sql:
                kind += _JSON
            columns.append(StoredColumn(str(name), kind, not notnull))
            if pk:
                key.append((int(pk), str(name)))
        stored[table] = StoredTable(tuple(columns), tuple(name for _, name in sorted(key)))
    wanted = set(index_names)
    indexes: dict[str, StoredIndex] = {}
    for name, table, unique in (yield query(_INDEXES, [])):
        if name in wanted:
            index_columns = yield query(_INDEX_COLUMNS, [name])
            columns_of = tuple((str(c), bool(d)) for c, d in index_columns)
            indexes[str(name)] = StoredIndex(str(name), str(table), columns_of, bool(unique))

    def type_matches(field: Field, stored_type: object) -> bool:
        kind = dialect.column_type(field)
        if isinstance(field.type, BooleanType):
            kind += _BOOLEAN
        elif isinstance(field.type, JsonType):
            kind += _JSON
        return stored_type == kind

    return Catalog(stored, indexes, type_matches)
