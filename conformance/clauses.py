"""The clause ids of docs/spec.md, shipped with the package.

The installed suite cannot read the repository's docs/, so the clause list lives here;
``tests/conformance/test_clauses.py`` checks that it matches docs/spec.md exactly.
"""

from __future__ import annotations

from noorm.spec import Capability

__all__ = ["CLAUSES", "CLAUSE_CAPABILITIES", "is_core"]

CLAUSES: dict[str, str] = {
    "SCH-1": "models, fields, primary keys and named ordered indexes",
    "SCH-2": "logical types only: string, number, integer, boolean, timestamp, json",
    "SCH-3": "portable identifiers, unique names",
    "SCH-4": "key and index fields exist, not json, keyed strings have max_length",
    "SCH-5": "invalid schemas rejected at build with SchemaError",
    "SCH-6": "schema JSON form round-trips",
    "VAL-1": "validation before I/O; nothing written on bad input",
    "VAL-2": "omitted nullable field stored as NULL",
    "VAL-3": "values come back as plain built-in types, never a caller's subclass",
    "STR-1": "every code point except NUL round-trips, no normalization",
    "STR-2": "max_length counts code points; n fits, n+1 rejected",
    "STR-3": "empty string is distinct from NULL",
    "STR-4": "strings compare and sort by code point",
    "NUM-1": "number is finite float64; ints within 2^53; -0.0 is 0.0",
    "NUM-2": "integer is exact signed 64-bit",
    "BOOL-1": "boolean accepts and returns bool only",
    "TS-1": "timestamps are aware, returned in UTC",
    "TS-2": "millisecond precision, truncated toward the past",
    "TS-3": "range 1000-01-01 .. 9999-12-31T23:59:59.999Z",
    "JSON-1": "any JSON value, depth <= 64, deep-copied",
    "JSON-2": "None is the NULL field; JSON null inside documents round-trips",
    "JSON-3": "key order not significant; ints come back int",
    "JSON-4": "keys with quotes, dots, $, spaces, non-ASCII are never mangled",
    "FLT-1": "the filter operators, on fields and json paths",
    "FLT-2": "comparisons are typed; mismatched values rejected",
    "NULL-1": "comparisons never match NULL; eq/ne None mean is_null",
    "FLT-LOGIC": "two-valued logic: not_ is the exact complement",
    "FLT-IN": "in_ [] matches nothing, not_in [] every non-NULL",
    "FLT-JSON-1": "typed comparisons on json paths",
    "FLT-JSON-2": "is_null on missing/null paths; ne across types",
    "FLT-JSON-3": "path keys are data, never syntax",
    "FLT-JSON-4": "a path the backend cannot evaluate is refused, never answered wrong",
    "FLT-TYPES": "a json field itself allows only is_null",
    "ORD-1": "order by fields; NULL sorts lowest",
    "ORD-2": "total order: primary key appended as tie-breaker",
    "OP-GET": "get by (composite) primary key",
    "OP-FIND": "find returns a Page with next_cursor",
    "OP-COUNT": "count returns the number of matching rows",
    "PAGE-1": "paging yields every row exactly once, in order",
    "PAGE-2": "keyset pagination is stable under inserts and deletes",
    "PAGE-3": "after=key starts strictly after that row; unknown key -> empty",
    "CUR-1": "cursors are signed and bound to model, order and filter",
    "CUR-2": "a cursor continues on every store holding its key",
    "OP-INS": "insert/insert_many return canonical rows; batches are atomic",
    "OP-DUP": "duplicate primary key or unique value raises DuplicateKeyError",
    "OP-UPD": "update returns rows matched; key= with where= is conditional; keys are fixed",
    "OP-UPS": "upsert inserts or updates listed fields only",
    "OP-DEL": "delete returns rows removed; key= with where= is conditional",
    "OP-ALL": "update/delete without a filter refused unless where=ALL",
    "TX-1": "transactions commit, or roll back on an exception",
    "TX-2": "nested transactions are savepoints",
    "TX-3": "reads in a transaction see its own writes",
    "TX-4": "without transactions, transaction() raises UnsupportedError",
    "TX-5": "a failed operation has no effect; a savepoint lets the transaction go on",
    "CAP-1": "an operation needing an undeclared capability is refused with UnsupportedError",
    "ISO-1": "an update tests and writes each row atomically: conditional updates compare-and-set",
    "ISO-2": "locking reads lock the rows they return until the transaction ends",
    "ISO-3": "for_update outside a transaction is a ValidationError, never ignored",
    "ISO-4": "a transaction that lost a conflict raises ConflictError and is rolled back whole",
    "ISO-5": "retry_transaction reruns a conflicting transaction, bounded, with backoff",
    "BOOT-1": "bootstrap creates everything; a second run is a no-op",
    "BOOT-2": "bootstrap(dry_run=True) returns statements, executes nothing",
    "BOOT-3": "two concurrent bootstraps both succeed",
    "BOOT-4": "no implicit tables: operations before bootstrap raise BackendError",
    "BOOT-5": "additive evolution: new nullable fields and indexes; dropped nullable columns kept",
    "BOOT-6": "any other difference raises SchemaMismatchError and changes nothing",
    "BOOT-7": "existing columns, types, nullability and primary key are compared",
    "ERR-1": "the error hierarchy; errors carry model and field",
    "HOOK-SCHEMA": "plugins extend the schema before it is final",
    "HOOK-WRITE": "plugins inject or enforce written values",
    "HOOK-QUERY": "required filters apply to every read and row-selecting write",
    "HOOK-CTX": "hooks receive an explicit bound context",
    "HOOK-KEY": "keys may omit fields the scope pins; per-tenant key spaces",
    "OBS-1": "on_query receives every operation with its details",
    "LIM-NAME": "reserved name prefixes, suffixes and fields; tables resolve to the adapter's own",
    "LIM-SCHEMA": "<= 256 fields, 32 indexes, 16 columns per key or index",
    "LIM-KEY": "keys and indexes up to 2048 bytes wide work; wider schemas are refused",
    "LIM-ROW": "rows and update values up to 2 MiB work; larger ones are refused",
    "LIM-BATCH": "insert_many up to 10,000 rows, split as needed, still all-or-nothing",
    "LIM-FILTER": "filters up to 10,000 values, 1,000 conditions, depth 32, 16-key paths",
    "LIM-READ": "limit up to 1,000,000; order_by up to 16 fields",
    "PART-1": "partition key: a prefix of the primary key; colocation of like keys",
    "PART-2": "every unique index of a partitioned model includes the partition key",
    "PART-3": "partitioning changes no result of any operation",
    "PART-4": "distributed backends distribute by the partition key; others ignore it",
}
"""Every clause id of docs/spec.md, in document order, with a one-line title."""

CLAUSE_CAPABILITIES: dict[str, Capability] = {
    "FLT-JSON-1": Capability.JSON_PATHS,
    "FLT-JSON-2": Capability.JSON_PATHS,
    "FLT-JSON-3": Capability.JSON_PATHS,
    "FLT-JSON-4": Capability.JSON_PATHS,
    "TX-1": Capability.TRANSACTIONS,
    "TX-2": Capability.SAVEPOINTS,
    "TX-3": Capability.TRANSACTIONS,
    "TX-5": Capability.SAVEPOINTS,
    "ISO-1": Capability.ATOMIC_UPDATES,
    "ISO-2": Capability.LOCKING_READS,
    "ISO-4": Capability.TRANSACTIONS,
    "ISO-5": Capability.TRANSACTIONS,
    "BOOT-3": Capability.CONCURRENT_BOOTSTRAP,
    "BOOT-7": Capability.SCHEMA_INTROSPECTION,
}
"""The clauses marked *(capability: X)*; every other clause is core and never skipped."""


def is_core(clause: str) -> bool:
    """A core clause applies to every adapter, so a skipped test of it fails certification."""
    return clause not in CLAUSE_CAPABILITIES
