"""The PostgreSQL adapter (psycopg 3): a connection, a pool, or a URL.

``PostgresAdapter(url)`` owns a small ``psycopg_pool.ConnectionPool`` and closes it in
:meth:`~PostgresAdapter.close`. Given a ``psycopg.Connection`` or a ``ConnectionPool``
you own, the adapter borrows it and never closes it:

- a connection is used by one call at a time (a lock, like the SQLite adapter);
- a pool lends one connection per operation, and one for the whole of a transaction.

Either way a connection must be idle when the adapter gets it. The adapter issues
``BEGIN``/``SAVEPOINT``/``COMMIT`` itself, so it runs in autocommit mode; a connection
that is not is switched for the adapter's call and switched back (in psycopg 3 that is
a client-side flag, not a round trip).

Results are read with the adapter's own loaders on its cursors (binary format), one
cursor per connection, kept for the connection's next statements:
TIMESTAMPTZ as aware UTC datetimes straight from the wire value, so neither the session
``TimeZone`` nor ``DateStyle`` matters (a session east of UTC cannot overflow 9999-12-31
into year 10000), and JSONB as text, parsed by :class:`~.dialect.PostgresCodec`. A
connection's own row factory and loaders are left alone.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias, TypeVar, cast

import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import Format, TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from noorm.spec.adapter import Capability
from noorm.spec.errors import BackendError, ConflictError, SchemaError
from noorm.spec.operations import Find, Insert, Operation, Upsert, UpsertResult
from noorm.spec.schema import Schema

from ..sql.adapter import Session, SQLAdapter
from ..sql.compiler import DDL, Compiled
from ..sql.health import needs_ping, unsolicited
from ..sql.introspect import Catalog
from .catalog import read_catalog
from .citus import CITUS_INSTALLED, SEQUENTIAL, distribution_plan, read_distribution
from .compiler import COPY_ROWS, PostgresCompiler
from .dialect import PostgresDialect, one_line

__all__ = ["CONNECT_TIMEOUT", "PostgresAdapter", "connect_error"]

Connection: TypeAlias = "psycopg.Connection[Any]"
T = TypeVar("T")

CONNECT_TIMEOUT = 10
"""Seconds a URL connection attempt may take (unless the URL sets ``connect_timeout``)."""
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
_SESSIONS = 64
_CITUS_RELEASE = "SELECT split_part(citus_version(), ' ', 2)"
"""``13.2.2`` from ``Citus 13.2.2 on x86_64-pc-linux-gnu, ...``."""
_LOCKING_ROUNDS = 8
"""Rounds of a distributed locking read (Citus) before the rows are said to keep changing."""
_LOCKING_SAVEPOINT = b"SAVEPOINT noorm_locking_read"
"""Pooled connections whose sessions are kept before closed ones are forgotten."""


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


class PostgresAdapter(SQLAdapter[Connection]):
    """A no-orm adapter on PostgreSQL through psycopg 3."""

    name = "postgres"
    dialect: PostgresDialect
    compiler: PostgresCompiler
    capabilities = frozenset(
        {
            Capability.TRANSACTIONS,
            Capability.SAVEPOINTS,
            Capability.JSON_PATHS,
            Capability.CONCURRENT_BOOTSTRAP,
            Capability.SCHEMA_INTROSPECTION,
            Capability.LOCKING_READS,
            Capability.ATOMIC_UPDATES,
        }
    )
    reuse_cursor = True
    driver_errors = (psycopg.Error,)

    def __init__(
        self,
        target: str | Connection | ConnectionPool[Any],
        *,
        schema: str | None = None,
        max_connections: int = 4,
        connect_timeout: int = CONNECT_TIMEOUT,
        cache_size: int = 512,
    ) -> None:
        """``schema`` qualifies every table and index; None: the connection's
        ``current_schema()`` (the first existing schema of its ``search_path``), looked up
        once, here.

        ``max_connections`` and ``connect_timeout`` apply to the pool a URL opens.
        """
        if schema is not None:
            _check_schema(schema, ValueError)
        dialect = PostgresDialect(schema)
        super().__init__(dialect, cache_size=cache_size)
        self.compiler = PostgresCompiler(dialect, cache_size=cache_size)
        self._pool: ConnectionPool[Any] | None = None
        self._rested: _RestedCheck | None = None
        self._shared: Session[Connection] | None = None  # a borrowed connection's session
        self._owned = isinstance(target, str)
        if isinstance(target, str):
            self._rested = _RestedCheck()
            self._pool = _open_pool(target, max_connections, connect_timeout, self._rested)
        elif isinstance(target, ConnectionPool):
            self._pool = target
        elif isinstance(target, psycopg.Connection):
            self._shared = Session(target)
        else:
            raise TypeError(
                "expected a URL, a psycopg.Connection or a psycopg_pool.ConnectionPool, "
                f"got {type(target).__name__}"
            )
        self._sessions: dict[int, Session[Connection]] = {}
        """The session (and so the cursor) of each pooled connection, by identity."""
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        self._server_version: str | None = None
        self._citus: str | None = None
        """The Citus extension's version once bootstrap has looked ("" for none)."""
        if schema is None:
            try:
                schema = self._current_schema()
            except BaseException:
                self.close()
                raise
            dialect.schema = schema
        self.schema: str = schema
        """The schema of every table and index, and the only one bootstrap looks in."""

    # --- the Adapter protocol ---------------------------------------------------------------

    def server_version(self) -> str:
        """``"PostgreSQL 15.20"``: the server's version number, without the build suffix;
        ``"PostgreSQL 15.20, Citus 13.2.2"`` where the database has Citus."""
        if self._server_version is None:
            with self._session() as session:
                number = session.conn.info.server_version
                citus = ""
                if self._citus_in(session):
                    rows = self._query(session, Compiled(_CITUS_RELEASE, []), None)
                    citus = f", Citus {rows[0][0]}" if rows and rows[0][0] else ""
            self._server_version = version_text(number) + citus
        return self._server_version

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        _check_relation_names(schema)
        return super().bootstrap(schema, dry_run=dry_run)

    def close(self) -> None:
        """Close the pool the adapter opened; later calls raise BackendError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._owned and self._pool is not None:
            self._pool.close()

    # --- connections -------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Session[Connection]]:
        held: Session[Connection] | None = getattr(self._local, "session", None)
        if held is not None:
            # This thread is inside one of our calls: an open transaction. The base class
            # refuses to run outside it (a second pooled connection could deadlock on it).
            with held.lock:
                yield held
            return
        with self._acquire() as session:
            self._local.session = session
            try:
                yield session
            finally:
                self._local.session = None

    def _acquire(self) -> AbstractContextManager[Session[Connection]]:
        if self._closed:
            raise BackendError("the adapter is closed")
        if self._shared is not None:
            return self._borrow_shared(self._shared)
        return self._borrow_pooled()

    @contextmanager
    def _borrow_shared(self, session: Session[Connection]) -> Iterator[Session[Connection]]:
        with session.lock:
            if self._closed:
                raise BackendError("the adapter is closed")
            _check_borrowed(session.conn)
            with _autocommit(session.conn):
                yield session

    def execute(self, op: Operation[T]) -> T:
        """:meth:`SQLAdapter.execute` with a pooled connection taken and given back
        directly: the usual call skips the context managers of :meth:`_session`."""
        pool = self._pool
        if (
            pool is None
            or self._closed
            or getattr(self._local, "session", None) is not None
            or (type(op) is Find and op.for_update)
        ):
            return super().execute(op)
        conn = self._take(pool)
        try:
            session = self._session_of(conn)
            self._local.session = session
            try:
                if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
                    return cast(T, self._run(session, op))
                with _autocommit(conn):  # a pool of the host's that lends them otherwise
                    return cast(T, self._run(session, op))
            finally:
                self._local.session = None
        finally:
            self._give(pool, conn)

    @contextmanager
    def _borrow_pooled(self) -> Iterator[Session[Connection]]:
        assert self._pool is not None
        pool = self._pool
        conn = self._take(pool)
        try:
            with _autocommit(conn):
                yield self._session_of(conn)
        finally:
            self._give(pool, conn)

    def _take(self, pool: ConnectionPool[Any]) -> Connection:
        try:
            conn: Connection = pool.getconn()
        except psycopg.Error as exc:
            raise BackendError(f"no connection from the pool: {one_line(exc)}") from exc
        return conn

    def _give(self, pool: ConnectionPool[Any], conn: Connection) -> None:
        if self._rested is not None:
            self._rested.returned(conn)
        pool.putconn(conn)

    def _session_of(self, conn: Connection) -> Session[Connection]:
        """The session of a pooled connection: one per connection, so its cursor (with
        the loaders registered once) serves every later statement on it too. A
        connection is lent to one thread at a time, and so is its session."""
        session = self._sessions.get(id(conn))
        if session is None or session.conn is not conn:
            session = Session(conn)
            with self._lock:
                if len(self._sessions) >= _SESSIONS:  # the pool replaced connections
                    self._sessions = {k: s for k, s in self._sessions.items() if not s.conn.closed}
                self._sessions[id(conn)] = session
        return session

    def _cursor(self, conn: Connection) -> psycopg.Cursor[Any]:
        cursor = conn.cursor(binary=True, row_factory=tuple_row)
        cursor.adapters.register_loader(_TIMESTAMPTZ_OID, _UTCTimestamptzLoader)
        cursor.adapters.register_loader(_JSONB_OID, _JsonbTextLoader)
        return cursor

    def _in_transaction(self, conn: Connection) -> bool:
        return conn.info.transaction_status in _IN_TRANSACTION

    def _aborted(self, conn: Connection) -> bool:
        return conn.info.transaction_status == TransactionStatus.INERROR

    # --- operations -----------------------------------------------------------------------------

    def _insert(self, session: Session[Connection], op: Insert) -> None:
        """A batch of :data:`~.compiler.COPY_ROWS` rows or more is one ``COPY``: atomic as
        one statement, with no parameter limit; smaller ones are multi-row INSERTs."""
        if len(op.rows) < COPY_ROWS:
            super()._insert(session, op)
            return
        table = self.compiler.table(op.model)
        cursor = session.conn.cursor()
        try:
            with cursor.copy(self.compiler.copy(table)) as copy:
                for row in op.rows:
                    values: list[Any] = []
                    table.encode_row(row, values)
                    copy.write_row(values)
        except psycopg.Error as exc:
            raise self._failed(session, exc, op.model.name) from exc
        finally:
            cursor.close()

    def _run_find(self, session: Session[Connection], op: Find) -> list[dict[str, Any]]:
        """A locking read on Citus: ``FOR UPDATE`` where Citus runs it (a local table, a
        query on one shard); otherwise the rows are locked one by one, by key (a query on
        one shard each), and read again until every row read is locked (ISO-2)."""
        if not op.for_update or not self._citus_in(session):
            return super()._run_find(session, op)
        conn, name = session.conn, op.model.name
        compiled = self.compiler.find(op)
        cursor = session.cursor or self._cursor(conn)
        try:
            conn.execute(_LOCKING_SAVEPOINT)
            try:
                cursor.execute(compiled.sql, compiled.params)
                rows = cursor.fetchall()
            except psycopg.errors.FeatureNotSupported:
                conn.execute(b"ROLLBACK TO SAVEPOINT noorm_locking_read")
                rows = None
            conn.execute(b"RELEASE SAVEPOINT noorm_locking_read")
        except psycopg.Error as exc:
            raise self._failed(session, exc, name) from exc
        finally:
            self._done(session, cursor)
        table = self.compiler.table(op.model)
        if rows is not None:
            return table.decode(rows)
        plain = self.compiler.find(replace(op, for_update=False))
        locked: set[tuple[Any, ...]] = set()
        for _ in range(_LOCKING_ROUNDS):
            found = table.decode(self._query(session, plain, name))
            fresh = [r for r in found if tuple(r[k] for k in table.key) not in locked]
            if not fresh:
                return found
            for row in fresh:
                lock = self.compiler.select_key(op.model, row, None)
                self._query(session, Compiled(lock.sql + " FOR UPDATE", lock.params), name)
                locked.add(tuple(row[k] for k in table.key))
        raise ConflictError("the rows kept changing while they were locked", model=name)

    def _upsert(
        self, session: Session[Connection], op: Upsert
    ) -> UpsertResult[dict[str, Any]] | None:
        """One ``INSERT ... ON CONFLICT`` (see :mod:`.compiler`); with no update fields,
        a conflict is followed by a read of the existing row, within the scope."""
        model = op.model.name
        table = self.compiler.table(op.model)
        upsert = self.compiler.upsert(op)
        for _ in range(_UPSERT_ATTEMPTS):
            rows = self._query(session, upsert, model)
            if rows:
                *values, inserted = rows[0]
                return UpsertResult(table.decode([values])[0], inserted=bool(inserted))
            if op.update:
                return None  # the existing row is outside the scope: left alone
            existing = self._query(
                session, self.compiler.select_key(op.model, op.row, op.where), model
            )
            if existing:
                return UpsertResult(table.decode(existing)[0], inserted=False)
            if op.where is not None:
                anywhere = self.compiler.select_key(op.model, op.row, None)
                if self._query(session, anywhere, model):
                    return None
            # The conflicting row was deleted between the two statements: insert again.
        raise BackendError("the row kept changing while it was upserted", model=model)

    def _current_schema(self) -> str:
        """``current_schema()`` of a connection: where unqualified names would be created."""
        with self._session() as session:
            rows = self._query(session, Compiled(_CURRENT_SCHEMA, []), None)
        schema = rows[0][0] if rows else None
        if not isinstance(schema, str):
            raise BackendError(
                "the connection has no current schema (no schema of its search_path exists): "
                "pass schema=... or set the role's search_path"
            )
        _check_schema(schema, BackendError)
        return schema

    def citus_version(self) -> str | None:
        """The version of the Citus extension in the database, or None (plain PostgreSQL):
        with Citus, bootstrap distributes partitioned models (PART-4)."""
        if self._citus is None:
            with self._session() as session:
                self._citus = self._citus_in(session)
        return self._citus or None

    def _citus_in(self, session: Session[Connection]) -> str:
        if self._citus is None:
            rows = self._query(session, Compiled(CITUS_INSTALLED, []), None)
            self._citus = str(rows[0][0]) if rows else ""
        return self._citus

    def _plan(self, session: Session[Connection], schema: Schema, ddl: list[DDL]) -> list[DDL]:
        """The base plan, then (on Citus) the distribution of the partitioned models whose
        tables it creates; an existing table distributed otherwise is a mismatch."""
        todo = super()._plan(session, schema, ddl)
        if not self._citus_in(session):
            return todo
        # The tables the plan creates (not those it alters: BOOT-5's ADD COLUMN).
        creating = {
            s.model for s in todo if s.index_name is None and s.sql.startswith("CREATE TABLE")
        }
        d = self.dialect
        tables = [d.identifier(m.name) for m in schema.models if m.name not in creating]
        existing = read_distribution(self._catalog_query(session), self.schema, tables)
        return todo + distribution_plan(d, schema, creating, existing)

    def _catalog(self, session: Session[Connection], schema: Schema, tables: list[str]) -> Catalog:
        index_names = [index.name for model in schema.models for index in model.indexes]
        query = self._catalog_query(session)
        return read_catalog(query, self.dialect, self.schema, tables, index_names)

    def _missing(self, session: Session[Connection], ddl: list[DDL]) -> list[DDL]:
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
            self._query(session, Compiled(_LOCK, [lock]), None)
            if self._citus_in(session):
                self._command(session, Compiled(SEQUENTIAL, []), None)
        plan = []
        (missing,) = self._query(session, Compiled(_SCHEMA_MISSING, [self.schema]), None)[0]
        if missing:
            create = f"CREATE SCHEMA IF NOT EXISTS {d.schema_name()}"
            plan.append(DDL(create, ""))
        names = [d.identifier(s.model if s.index_name is None else s.index_name) for s in ddl]
        found = self._query(session, Compiled(_EXISTING, [self.schema, names]), None)
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


# --- helpers ------------------------------------------------------------------------------------


def _check_borrowed(conn: Connection) -> None:
    """A given connection that died says so (the adapter cannot open another one)."""
    if conn.closed or unsolicited(conn):
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error as exc:
            raise BackendError(
                f"the borrowed connection was lost ({one_line(exc)}); pass a URL or a "
                "psycopg_pool.ConnectionPool to let the adapter open new connections"
            ) from exc


@contextmanager
def _autocommit(conn: Connection) -> Iterator[None]:
    """Autocommit for the adapter's call, restored afterwards; refuses a busy connection."""
    if conn.closed:
        raise BackendError("the connection is closed")
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise BackendError(
            "the connection is inside a transaction the adapter did not open: "
            "commit or roll it back first"
        )
    if conn.autocommit:
        yield
        return
    conn.autocommit = True
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
            conn.autocommit = False


def version_text(number: int) -> str:
    """``"PostgreSQL 15.18"`` from libpq's 150018 (``"PostgreSQL 9.6.24"`` from 90624)."""
    if number >= 100000:
        return f"PostgreSQL {number // 10000}.{number % 10000}"
    return f"PostgreSQL {number // 10000}.{number // 100 % 100}.{number % 100}"


class _RestedCheck:
    """The ``check`` of the pool an adapter opens: a connection that rested longer than
    ``sql.health.PING_AFTER_IDLE``, or that the server wrote to or closed while it rested,
    answers an empty query before it is lent, and the pool replaces one that does not.
    Busy connections skip the round trip."""

    __slots__ = ("_since",)

    def __init__(self) -> None:
        self._since: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()

    def __call__(self, conn: Connection) -> None:
        if needs_ping(conn, self._since.get(conn)):
            ConnectionPool.check_connection(conn)

    def returned(self, conn: Connection) -> None:
        self._since[conn] = time.monotonic()


def _open_pool(
    url: str, max_connections: int, connect_timeout: int, check: _RestedCheck
) -> ConnectionPool[Any]:
    """A pool on ``url``, after one direct connection that fails fast and says why."""
    try:
        settings = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise BackendError(
            "invalid PostgreSQL URL (expected postgresql://user:password@host:port/database)"
        ) from exc
    kwargs: dict[str, Any] = {"autocommit": True, "client_encoding": "UTF8"}
    if "connect_timeout" not in settings:
        kwargs["connect_timeout"] = connect_timeout
    try:
        psycopg.connect(url, **kwargs).close()
    except psycopg.Error as exc:
        raise connect_error(url, exc) from exc
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=1, max_size=max(1, max_connections), kwargs=kwargs, open=False,
        name="noorm", check=check,
    )  # fmt: skip
    try:
        pool.open(wait=True, timeout=float(kwargs.get("connect_timeout", connect_timeout)))
    except psycopg.Error as exc:
        pool.close()
        raise BackendError(f"cannot open a connection pool: {one_line(exc)}") from exc
    return pool


def connect_error(url: str, exc: BaseException) -> BackendError:
    """A one-line BackendError for a failed connection; never shows the password."""
    settings = conninfo_to_dict(url)
    host = settings.get("host") or settings.get("hostaddr") or "localhost"
    where = f"{host}:{settings.get('port') or 5432}"
    who = f'database "{settings.get("dbname", "")}", user "{settings.get("user", "")}"'
    reason = one_line(exc).rpartition(" failed: ")[2]
    for prefix in ("FATAL:", "ERROR:"):
        reason = reason.removeprefix(prefix).strip()
    return BackendError(f"cannot connect to PostgreSQL at {where} ({who}): {reason}")


def _check_schema(schema: str, error: type[Exception]) -> None:
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
