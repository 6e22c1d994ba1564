"""What both PostgreSQL doors share: the programs, the cursors' loaders, the checks.

:class:`PostgresCore` holds PostgreSQL's protocols as :mod:`~noorm.adapters.sql.program`
programs — ``COPY`` for large batches, the one-statement upsert, the Citus locking
read, bootstrap's advisory lock and catalog — so the sync
:class:`~.adapter.PostgresAdapter` (psycopg ``Connection``/``ConnectionPool``) and the
async :class:`~.async_adapter.AsyncPostgresAdapter` (``AsyncConnection``/
``AsyncConnectionPool``) differ only in how they lend connections and wait.

Results are read with the adapter's own loaders on its cursors (binary format):
TIMESTAMPTZ as aware UTC datetimes straight from the wire value, so neither the session
``TimeZone`` nor ``DateStyle`` matters (a session east of UTC cannot overflow 9999-12-31
into year 10000), and JSONB as text, parsed by :class:`~.dialect.PostgresCodec`. A
connection's own row factory and loaders are left alone.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format, TransactionStatus

from noorm.spec.adapter import Capability
from noorm.spec.errors import BackendError, ConflictError, SchemaError
from noorm.spec.operations import Find, Insert, Upsert, UpsertResult
from noorm.spec.schema import Schema

from ..sql.compiler import DDL, Compiled, Table
from ..sql.core import Session, SQLCore
from ..sql.introspect import Catalog
from ..sql.program import Command, Plan, Program, Query, command, query
from .catalog import read_catalog
from .citus import CITUS_INSTALLED, SEQUENTIAL, distribution_plan, read_distribution
from .compiler import COPY_ROWS, PostgresCompiler
from .dialect import PostgresDialect

__all__ = ["Copy", "PostgresCore", "check_schema", "prepare_cursor", "version_text"]

ConnT = TypeVar("ConnT", bound="psycopg.BaseConnection[Any]")

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_INT8 = struct.Struct(">q")
_IN_TRANSACTION = (TransactionStatus.INTRANS, TransactionStatus.INERROR, TransactionStatus.ACTIVE)
_UPSERT_ATTEMPTS = 3
_CURRENT_SCHEMA = "SELECT current_schema()"
_EXISTING = (
    "SELECT c.relname, c.relkind FROM pg_catalog.pg_class AS c "
    "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = ANY(%s::text[])"
)
_TABLE_KINDS = frozenset({"r", "p"})
_INDEX_KINDS = frozenset({"i", "I"})
_SCHEMA_MISSING = "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s)"
_SYSTEM_SCHEMAS = ("pg_", "information_schema")
_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_CITUS_RELEASE = "SELECT split_part(citus_version(), ' ', 2)"
"""``13.2.2`` from ``Citus 13.2.2 on x86_64-pc-linux-gnu, ...``."""
_SESSIONS = 64
"""Pooled connections whose sessions are kept before closed ones are forgotten."""
_LOCKING_ROUNDS = 8
"""Rounds of a distributed locking read (Citus) before the rows are said to keep changing."""


class _UTCTimestamptzLoader(Loader):
    """Microseconds since 2000-01-01 UTC, as an aware UTC datetime (no session zone)."""

    format = Format.BINARY

    def load(self, data: Buffer) -> datetime:
        return _PG_EPOCH + timedelta(microseconds=_INT8.unpack(data)[0])


class _JsonbTextLoader(Loader):
    """JSONB as its text: a version byte (1), then the document."""

    format = Format.BINARY

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        conn = self.connection
        self._encoding = conn.info.encoding if conn is not None else "utf-8"

    def load(self, data: Buffer) -> str:
        return bytes(data[1:]).decode(self._encoding)


_TIMESTAMPTZ_OID = psycopg.postgres.types["timestamptz"].oid
_JSONB_OID = psycopg.postgres.types["jsonb"].oid

CursorT = TypeVar("CursorT", bound="psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]")


def prepare_cursor(cursor: CursorT) -> CursorT:
    """``cursor`` (binary, tuple rows) with the adapter's TIMESTAMPTZ and JSONB loaders."""
    cursor.adapters.register_loader(_TIMESTAMPTZ_OID, _UTCTimestamptzLoader)
    cursor.adapters.register_loader(_JSONB_OID, _JsonbTextLoader)
    return cursor


class Copy(NamedTuple):
    """A step of PostgreSQL's drivers: ``COPY`` ``rows`` into ``table`` (atomic as one
    statement, with no parameter limit)."""

    table: Table
    rows: Sequence[dict[str, Any]]
    model: str


class PostgresCore(SQLCore[ConnT]):
    """PostgreSQL's programs, for both doors."""

    name = "postgres"
    dialect: PostgresDialect
    compiler: PostgresCompiler
    capabilities = SQLCore.capabilities | {
        Capability.CONCURRENT_BOOTSTRAP,  # bootstrap under a lock
        Capability.SCHEMA_INTROSPECTION,  # catalog(): columns, types, keys compared
    }
    driver_errors = (psycopg.Error,)
    schema: str
    """The schema of every table and index, and the only one bootstrap looks in."""

    def __init__(self, schema: str | None, cache_size: int) -> None:
        if schema is not None:
            check_schema(schema, ValueError)
        dialect = PostgresDialect(schema)
        super().__init__(dialect, cache_size=cache_size)
        self.compiler = PostgresCompiler(dialect, cache_size=cache_size)
        self._citus: str | None = None
        """The Citus extension's version once looked up ("" for none)."""
        self._server_version: str | None = None
        if schema is not None:
            self.schema = schema
        self._sessions: dict[int, Session[ConnT]] = {}
        """The session (and so the cursor) of each pooled connection, by identity."""
        self._sessions_lock = threading.Lock()

    def _session_of(self, conn: ConnT) -> Session[ConnT]:
        """The session of a pooled connection: one per connection, so its cursor (with
        the loaders registered once) serves every later statement on it too. A
        connection is lent to one caller at a time, and so is its session."""
        session = self._sessions.get(id(conn))
        if session is None or session.conn is not conn:
            session = Session(conn)
            with self._sessions_lock:
                if len(self._sessions) >= _SESSIONS:  # the pool replaced connections
                    self._sessions = {k: s for k, s in self._sessions.items() if not s.conn.closed}
                self._sessions[id(conn)] = session
        return session

    def in_transaction(self, conn: ConnT) -> bool:
        return conn.info.transaction_status in _IN_TRANSACTION

    def transaction_aborted(self, conn: ConnT) -> bool:
        return conn.info.transaction_status == TransactionStatus.INERROR

    # --- identity -------------------------------------------------------------------------------

    def _current_schema(self) -> Program[str]:
        """``current_schema()`` of a connection: where unqualified names would be created."""
        rows = yield query(_CURRENT_SCHEMA)
        schema = rows[0][0] if rows else None
        if not isinstance(schema, str):
            raise BackendError(
                "the connection has no current schema (no schema of its search_path exists): "
                "pass schema=... or set the role's search_path"
            )
        check_schema(schema, BackendError)
        return schema

    def _use_schema(self, schema: str) -> None:
        self.dialect.schema = schema
        self.schema = schema

    def _version(self, session: Session[ConnT]) -> Program[str]:
        """``"PostgreSQL 15.20"``, with ``", Citus 13.2.2"`` where the database has Citus."""
        if self._server_version is None:
            citus = ""
            if (yield from self._citus_in()):
                rows = yield query(_CITUS_RELEASE)
                citus = f", Citus {rows[0][0]}" if rows and rows[0][0] else ""
            self._server_version = version_text(session.conn.info.server_version) + citus
        return self._server_version

    def _citus_in(self) -> Program[str]:
        if self._citus is None:
            rows = yield query(CITUS_INSTALLED)
            self._citus = str(rows[0][0]) if rows else ""
        return self._citus

    # --- operations -----------------------------------------------------------------------------

    def run_insert(self, session: Session[ConnT], op: Insert) -> Plan:
        """A batch of :data:`~.compiler.COPY_ROWS` rows or more is one ``COPY``: atomic as
        one statement, with no parameter limit; smaller ones are multi-row INSERTs."""
        if len(op.rows) < COPY_ROWS:
            return super().run_insert(session, op)
        return _one(Copy(self.compiler.table(op.model), op.rows, op.model.name))

    def run_find(self, session: Session[ConnT], op: Find) -> Plan:
        """A locking read on Citus: ``FOR UPDATE`` where Citus runs it (a local table, a
        query on one shard); otherwise the rows are locked one by one, by key (a query on
        one shard each), and read again until every row read is locked (ISO-2)."""
        if not op.for_update or self._citus == "":
            return super().run_find(session, op)
        return self._locking_read(op)

    def _locking_read(self, op: Find) -> Program[list[dict[str, Any]]]:
        name = op.model.name
        table = self.compiler.table(op.model)
        if not (yield from self._citus_in()):
            return table.decode((yield Query(self.compiler.find(op), name)))
        yield command("SAVEPOINT noorm_locking_read")
        rows = yield Query(
            self.compiler.find(op), name, None, (psycopg.errors.FeatureNotSupported,)
        )
        if isinstance(rows, BaseException):
            yield command("ROLLBACK TO SAVEPOINT noorm_locking_read")
        yield command("RELEASE SAVEPOINT noorm_locking_read")
        if not isinstance(rows, BaseException):
            return table.decode(rows)
        plain = self.compiler.find(replace(op, for_update=False))
        locked: set[tuple[Any, ...]] = set()
        for _ in range(_LOCKING_ROUNDS):
            found = table.decode((yield Query(plain, name)))
            fresh = [r for r in found if tuple(r[k] for k in table.key) not in locked]
            if not fresh:
                return found
            for row in fresh:
                lock = self.compiler.select_key(op.model, row, None)
                yield Query(Compiled(lock.sql + " FOR UPDATE", lock.params), name)
                locked.add(tuple(row[k] for k in table.key))
        raise ConflictError("the rows kept changing while they were locked", model=name)

    def run_upsert(
        self, session: Session[ConnT], op: Upsert
    ) -> Program[UpsertResult[dict[str, Any]] | None]:
        """One ``INSERT ... ON CONFLICT`` (see :mod:`.compiler`); with no update fields,
        a conflict is followed by a read of the existing row, within the scope."""
        model = op.model.name
        table = self.compiler.table(op.model)
        upsert = self.compiler.upsert(op)
        for _ in range(_UPSERT_ATTEMPTS):
            rows = yield Query(upsert, model)
            if rows:
                *values, inserted = rows[0]
                return UpsertResult(table.decode([values])[0], inserted=bool(inserted))
            if op.update:
                return None  # the existing row is outside the scope: left alone
            existing = yield Query(self.compiler.select_key(op.model, op.row, op.where), model)
            if existing:
                return UpsertResult(table.decode(existing)[0], inserted=False)
            if op.where is not None:
                anywhere = self.compiler.select_key(op.model, op.row, None)
                if (yield Query(anywhere, model)):
                    return None
            # The conflicting row was deleted between the two statements: insert again.
        raise BackendError("the row kept changing while it was upserted", model=model)

    # --- bootstrap ------------------------------------------------------------------------------

    def bootstrap_program(
        self, session: Session[ConnT], schema: Schema, dry_run: bool
    ) -> Program[list[str]]:
        _check_relation_names(schema)
        return (yield from super().bootstrap_program(session, schema, dry_run))

    def bootstrap_plan(
        self, session: Session[ConnT], schema: Schema, ddl: list[DDL]
    ) -> Program[list[DDL]]:
        """The base plan, then (on Citus) the distribution of the partitioned models whose
        tables it creates; an existing table distributed otherwise is a mismatch."""
        todo = yield from super().bootstrap_plan(session, schema, ddl)
        if not (yield from self._citus_in()):
            return todo
        # The tables the plan creates (not those it alters: BOOT-5's ADD COLUMN).
        creating = {
            s.model for s in todo if s.index_name is None and s.sql.startswith("CREATE TABLE")
        }
        d = self.dialect
        tables = [d.identifier(m.name) for m in schema.models if m.name not in creating]
        existing = yield from read_distribution(self.schema, tables)
        return todo + distribution_plan(d, schema, creating, existing)

    def catalog(
        self, session: Session[ConnT], schema: Schema, tables: list[str]
    ) -> Program[Catalog]:
        index_names = [index.name for model in schema.models for index in model.indexes]
        return read_catalog(self.dialect, self.schema, tables, index_names)

    def missing(self, session: Session[ConnT], ddl: list[DDL]) -> Program[list[DDL]]:
        """What does not exist yet in the adapter's schema; inside bootstrap's
        transaction, under a lock.

        A transaction-scoped advisory lock serializes concurrent bootstraps (BOOT-3): the
        catalog itself would let two ``CREATE TABLE IF NOT EXISTS`` race into a
        unique_violation on pg_type. The lock ends with the transaction. Only the
        adapter's schema is looked at: a relation of the same name elsewhere on the
        ``search_path`` (``pg_catalog`` comes first) is not one of the adapter's tables.
        """
        d = self.dialect
        if session.depth:
            key = f"noorm.bootstrap:{self.schema}".encode()
            lock = _INT8.unpack(hashlib.blake2b(key, digest_size=8).digest())[0]
            yield query(_LOCK, [lock])
            if (yield from self._citus_in()):
                yield Command(Compiled(SEQUENTIAL, []), None)
        plan = []
        ((missing,),) = yield query(_SCHEMA_MISSING, [self.schema])
        if missing:
            create = f"CREATE SCHEMA IF NOT EXISTS {d.schema_name()}"
            plan.append(DDL(create, ""))
        names = [d.identifier(s.model if s.index_name is None else s.index_name) for s in ddl]
        found = yield query(_EXISTING, [self.schema, names])
        kinds = {str(name): str(kind) for name, kind in found}
        for statement, name in zip(ddl, names, strict=True):
            kind = kinds.get(name)
            if kind is None:
                plan.append(statement)
                continue
            wanted = _TABLE_KINDS if statement.index_name is None else _INDEX_KINDS
            if kind not in wanted:
                what = "table" if statement.index_name is None else "index"
                raise BackendError(
                    f"schema {self.schema!r} already holds a relation {name!r} that is not a "
                    f"{what} (relkind {kind!r}); the {what} cannot be created",
                    model=statement.model,
                )
        return plan


def _one(step: Any) -> Program[Any]:
    return (yield step)


def copy_values(table: Table, row: dict[str, Any]) -> list[Any]:
    """One row as ``COPY`` writes it."""
    values: list[Any] = []
    table.encode_row(row, values)
    return values


def version_text(number: int) -> str:
    """``"PostgreSQL 15.18"`` from libpq's 150018 (``"PostgreSQL 9.6.24"`` from 90624)."""
    if number >= 100000:
        return f"PostgreSQL {number // 10000}.{number % 10000}"
    return f"PostgreSQL {number // 10000}.{number // 100 % 100}.{number % 100}"


def check_schema(schema: str, error: type[Exception]) -> None:
    """Refuse PostgreSQL's own schemas: the adapter's tables never live among its catalogs."""
    if schema.startswith(_SYSTEM_SCHEMAS):
        raise error(
            f"schema {schema!r} is one of PostgreSQL's own; the adapter keeps its tables in "
            "a schema of yours (pass schema=..., or set the search_path)"
        )


def _check_relation_names(schema: Schema) -> None:
    """Refuse table names PostgreSQL would silently skip: tables and indexes share one
    namespace, and ``CREATE TABLE IF NOT EXISTS`` skips a name taken by *any* relation.

    A model named like another model's implicit primary-key index ``<table>_pkey`` would
    never be created. (Index names ending in ``_pkey`` or naming a model are refused by
    the schema itself, LIM-NAME.)
    """
    pkeys = {f"{model.name[:58]}_pkey": model.name for model in schema.models}
    for model in schema.models:
        if model.name in pkeys:
            raise SchemaError(
                f"the table name is also the primary-key index of model {pkeys[model.name]!r} "
                "in PostgreSQL (tables and indexes share one namespace)",
                model=model.name,
            )
