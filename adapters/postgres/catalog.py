"""What PostgreSQL records about the adapter's tables (schema evolution, BOOT-5..7).

Read from ``pg_catalog`` in the adapter's schema only, names bound as parameters:
each column's ``format_type`` and collation (strings must be ``"C"``-collated, STR-4)
and ``NOT NULL``; the primary key and every index named by the schema, wherever it is
(tables and indexes share one namespace), with its columns, directions and uniqueness.
Every logical type has its own column type here, so every type change is observable
(a string's ``max_length`` too: VARCHAR(n)).
"""

from __future__ import annotations

from noorm.spec.evolution import StoredColumn, StoredIndex, StoredTable
from noorm.spec.schema import Field
from noorm.spec.types import StringType

from ..sql.introspect import Catalog
from ..sql.program import Program, query
from .dialect import PostgresDialect

__all__ = ["read_catalog"]

_COLUMNS = (
    "SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
    "a.attnotnull, co.collname "
    "FROM pg_catalog.pg_attribute AS a "
    "JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_collation AS co ON co.oid = a.attcollation "
    "WHERE n.nspname = %s AND c.relname = ANY(%s::text[]) AND c.relkind IN ('r', 'p') "
    "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
)
_INDEXES = (
    "SELECT t.relname, i.relname, x.indisunique, x.indisprimary, "
    "ARRAY(SELECT COALESCE(a.attname::text, "
    "pg_catalog.pg_get_indexdef(x.indexrelid, k.n::int, true)) "
    "FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) "
    "LEFT JOIN pg_catalog.pg_attribute AS a ON a.attrelid = x.indrelid AND a.attnum = k.attnum "
    "ORDER BY k.n)::text[], "
    "ARRAY(SELECT (k.o & 1) = 1 FROM unnest(x.indoption::int2[]) WITH ORDINALITY AS k(o, n) "
    "ORDER BY k.n) "
    "FROM pg_catalog.pg_index AS x "
    "JOIN pg_catalog.pg_class AS i ON i.oid = x.indexrelid "
    "JOIN pg_catalog.pg_class AS t ON t.oid = x.indrelid "
    "JOIN pg_catalog.pg_namespace AS n ON n.oid = i.relnamespace "
    "WHERE n.nspname = %s AND (t.relname = ANY(%s::text[]) OR i.relname = ANY(%s::text[]))"
)
_TYPES = {
    "TEXT": "text",
    "DOUBLE PRECISION": "double precision",
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "TIMESTAMPTZ": "timestamp with time zone",
    "JSONB": "jsonb",
}


def read_catalog(
    dialect: PostgresDialect, schema: str, tables: list[str], index_names: list[str]
) -> Program[Catalog]:
    """The stored definition of ``tables`` (those that exist) and of the indexes named
    ``index_names`` in ``schema``."""
    names = [dialect.identifier(table) for table in tables]
    columns: dict[str, list[StoredColumn]] = {}
    for table, name, type_name, notnull, collation in (yield query(_COLUMNS, [schema, names])):
        kind = str(type_name) + (f" COLLATE {collation}" if collation else "")
        columns.setdefault(str(table), []).append(StoredColumn(str(name), kind, not notnull))
    keys: dict[str, tuple[str, ...]] = {}
    wanted = {dialect.identifier(name) for name in index_names}
    indexes: dict[str, StoredIndex] = {}
    rows = yield query(_INDEXES, [schema, names, sorted(wanted)])
    for table, index, unique, primary, index_columns, descending in rows:
        if primary:
            keys[str(table)] = tuple(str(c) for c in index_columns)
        elif index in wanted:
            # An expression is shown as its text; INCLUDE columns come after the key
            # columns, which alone have a direction. Either way no field matches them.
            keyed = len(descending)
            pairs = tuple(
                (str(c), bool(descending[n])) if n < keyed else (f"INCLUDE {c}", False)
                for n, c in enumerate(index_columns)
            )
            indexes[str(index)] = StoredIndex(str(index), str(table), pairs, bool(unique))
    stored = {
        table: StoredTable(tuple(columns[table]), keys.get(table, ()))
        for table in names
        if table in columns
    }

    collation = (dialect.string_collation or "").strip('"')

    def type_matches(field: Field, stored_type: object) -> bool:
        physical = dialect.column_type(field)
        kind = _TYPES.get(physical)
        if kind is None:  # VARCHAR(n)
            kind = "character varying" + physical.removeprefix("VARCHAR")
        if isinstance(field.type, StringType) and collation:
            kind += f" COLLATE {collation}"
        return stored_type == kind

    return Catalog(stored, indexes, type_matches)
