"""The MySQL 8 / MariaDB adapter (PyMySQL): ``MySQLAdapter("mysql://user:pw@host/db")``.

``target`` is one of

- a URL: the adapter opens connections itself (up to ``max_connections``, one per
  thread that is using it at that moment) and closes them in :meth:`close`;
- a zero-argument connection factory: the same, with connections from the factory
  (the adapter closes the ones it got from it);
- one open ``pymysql.Connection`` you own: every thread shares it, one call or
  transaction at a time, and :meth:`close` leaves it open.

See :mod:`.connection` for what a connection you pass must look like, and
docs/backends/mysql.md for each way the servers differ from the spec and how it is
handled. What this module adds to the shared SQL layer: a small connection pool with
thread affinity (a thread's transaction owns its connection), the upsert protocol
(``SELECT ... FOR UPDATE`` by key, then INSERT or a scoped UPDATE), inserts chunked to
fit ``max_allowed_packet``, bootstrap under ``GET_LOCK`` with existing tables and
indexes looked up in ``information_schema``, and MariaDB's JSON warnings as errors.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

import pymysql

from noorm.spec.adapter import Capability
from noorm.spec.errors import BackendError, UnsupportedError
from noorm.spec.filters import And, Compare, Filter, In, IsNull, Not, Or, Path
from noorm.spec.operations import (
    Delete,
    Insert,
    Operation,
    Update,
    Upsert,
    UpsertResult,
)
from noorm.spec.schema import Model, Schema
from noorm.spec.types import StringType

from ..sql.adapter import Session, SQLAdapter
from ..sql.compiler import DDL, Compiled
from .connection import (
    Connection,
    ConnectionFactory,
    ConnectParams,
    check_connection,
    connect,
    parse_url,
)
from .dialect import (
    JSON_CODES,
    MAX_KEY_BYTES,
    MAX_VARCHAR,
    JsonUnreadable,
    MariaDBDialect,
    MySQLDialect,
    error_code,
    json_paths_work,
    one_line,
)

__all__ = ["MIN_VERSIONS", "MySQLAdapter", "server_flavour"]

MIN_VERSIONS = {"mysql": (8, 0, 17), "mariadb": (10, 6)}
"""CAST(... AS DOUBLE), enforced CHECK constraints and NO PAD binary collations."""

_CONNECTION_LOST = frozenset({0, 1053, 1153, 1927, 2006, 2013, 2014, 2055, 4031})
_DEADLOCK = 1213  # InnoDB rolled the whole transaction back
_UPSERT_ATTEMPTS = 4
_IDLE_PING_SECONDS = 30.0
_LOCK_TIMEOUT_SECONDS = 120
_BOOTSTRAP_LOCK = "CONCAT('noorm-bootstrap-', SHA1(DATABASE()))"  # <= 64 characters
_EXISTING = (
    "SELECT TABLE_NAME, NULL FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
    "UNION ALL SELECT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA = DATABASE()"
)
_PROBED: dict[tuple[str, type[MySQLDialect]], bool] = {}
_PROBED_LOCK = threading.Lock()


def server_flavour(version: str) -> tuple[str, tuple[int, ...], str]:
    """``SELECT VERSION()`` as (flavour, version numbers, display name).

    ``"10.11.19-MariaDB-0+deb12u1"`` gives ``("mariadb", (10, 11, 19), "MariaDB 10.11.19")``;
    ``"8.0.36"`` gives ``("mysql", (8, 0, 36), "MySQL 8.0.36")``.
    """
    text = version.removeprefix("5.5.5-")  # MariaDB's replication-compatible prefix
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    numbers = tuple(int(n) for n in match.groups() if n is not None) if match else ()
    dotted = ".".join(map(str, numbers)) or version
    if "mariadb" in version.lower():
        return "mariadb", numbers, f"MariaDB {dotted}"
    return "mysql", numbers, f"MySQL {dotted}"


class _Session(Session[Connection]):
    """A pooled connection: ``dead`` ones are closed instead of going back to the pool."""

    __slots__ = ("dead", "idle_since")

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.dead = False
        self.idle_since = time.monotonic()


class _Cursor:
    """A PyMySQL cursor for the shared layer.

    It passes ``None`` for an empty parameter list (so a ``%`` in parameterless SQL
    is never read as a marker) and, where the server degrades unreadable JSON to NULL
    with a warning (MariaDB), raises :class:`JsonUnreadable` instead.
    """

    __slots__ = ("_check_json", "_cursor")

    def __init__(self, cursor: pymysql.cursors.Cursor, check_json: bool) -> None:
        self._cursor = cursor
        self._check_json = check_json

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, params: Sequence[Any], /) -> None:
        self._cursor.execute(sql, params or None)
        if self._check_json and self._cursor.warning_count:
            with self._cursor.connection.cursor() as cursor:
                cursor.execute("SHOW WARNINGS")
                warnings = cursor.fetchall()
            for _, code, message in warnings:
                if code in JSON_CODES:
                    raise JsonUnreadable(code, message)

    def fetchall(self) -> Sequence[Sequence[Any]]:
        return self._cursor.fetchall()

    def close(self) -> None:
        self._cursor.close()


class MySQLAdapter(SQLAdapter[Connection]):
    """A no-orm adapter on MySQL 8.0.17+ or MariaDB 10.6+ through PyMySQL."""

    name = "mysql"
    dialect: MySQLDialect
    capabilities: frozenset[Capability]
    dialects: ClassVar[dict[str, type[MySQLDialect]]] = {
        "mysql": MySQLDialect,
        "mariadb": MariaDBDialect,
    }
    """The dialect class of each server flavour (a subclass may swap one)."""

    def __init__(
        self,
        target: str | Connection | ConnectionFactory,
        *,
        max_connections: int = 8,
        connect_timeout: float = 5.0,
        cache_size: int = 512,
    ) -> None:
        """``max_connections``: connections open at once (1 for a borrowed connection)."""
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._params: ConnectParams | None = None
        self._factory: ConnectionFactory | None = None
        self._borrowed: Connection | None = None
        if isinstance(target, str):
            self._params = parse_url(target, connect_timeout=connect_timeout)
        elif isinstance(target, pymysql.Connection):
            check_connection(target)
            self._borrowed = target
            max_connections = 1
        elif callable(target):
            self._factory = target
        else:
            raise TypeError(
                f"expected a URL, a pymysql.Connection or a connection factory, "
                f"got {type(target).__name__}"
            )
        first = self._borrowed or self._open()
        try:
            dialect = self._inspect(first)
        except BaseException:
            if first is not self._borrowed:
                first.close()
            raise
        super().__init__(dialect, cache_size=cache_size)
        caps = {Capability.TRANSACTIONS, Capability.SAVEPOINTS, Capability.CONCURRENT_BOOTSTRAP}
        if dialect.json_paths:
            caps.add(Capability.JSON_PATHS)
        self.capabilities = frozenset(caps)
        self._max = max_connections
        self._idle: list[_Session] = [_Session(first)]
        self._open_count = 1
        self._pool = threading.Condition()
        self._local = threading.local()
        self._closed = False
        self._for_update: dict[str, str] = {}

    # --- identity ---------------------------------------------------------------------------

    def server_version(self) -> str:
        """e.g. ``"MariaDB 10.11.19"`` or ``"MySQL 8.0.36"``."""
        return self._server_version

    @property
    def database(self) -> str:
        """The database this adapter works in."""
        return self._database

    def _inspect(self, conn: Connection) -> MySQLDialect:
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT VERSION(), @@max_allowed_packet, DATABASE()")
                row = cursor.fetchone()
        except pymysql.err.MySQLError as exc:
            raise BackendError(f"cannot query the server: {one_line(exc)}") from exc
        assert row is not None
        version, packet, database = str(row[0]), int(row[1]), str(row[2])
        flavour, numbers, display = server_flavour(version)
        if numbers < MIN_VERSIONS[flavour]:
            least = ".".join(map(str, MIN_VERSIONS[flavour]))
            raise UnsupportedError(f"{display} is too old; no-orm needs {flavour} {least}")
        dialect = self.dialects[flavour]()
        with _PROBED_LOCK:
            probed = _PROBED.get((version, type(dialect)))
            if probed is None:
                probed = _PROBED[(version, type(dialect))] = json_paths_work(conn, dialect)
        dialect.json_paths = probed
        self._server_version = display
        self._database = database
        self.flavour = flavour
        """``"mysql"`` or ``"mariadb"``."""
        self.max_allowed_packet = packet
        """The server's packet limit; insert batches are split to stay under it."""
        return dialect

    # --- connections ------------------------------------------------------------------------

    def _open(self) -> Connection:
        if self._params is not None:
            return connect(self._params)
        if self._factory is not None:
            try:
                conn = self._factory()
            except pymysql.err.MySQLError as exc:
                raise BackendError(f"the connection factory failed: {one_line(exc)}") from exc
            if not isinstance(conn, pymysql.Connection):
                raise TypeError(f"the factory returned {type(conn).__name__}, not a connection")
            try:
                check_connection(conn)
            except ValueError:
                conn.close()
                raise
            return conn
        raise BackendError(
            "the borrowed connection was lost; pass a URL or a connection factory to let "
            "the adapter open new ones"
        )

    def _discard(self, conn: Connection) -> None:
        if conn is not self._borrowed:
            with suppress(Exception):
                conn.close()

    @contextmanager
    def _session(self) -> Iterator[Session[Connection]]:
        held: _Session | None = getattr(self._local, "session", None)
        if held is not None:  # this thread is already inside a call or a transaction
            with held.lock:
                yield held
            return
        session = self._acquire()
        self._local.session = session
        try:
            with session.lock:
                yield session
        finally:
            self._local.session = None
            self._release(session)

    def _acquire(self) -> _Session:
        with self._pool:
            while True:
                if self._closed:
                    raise BackendError("the adapter is closed")
                if self._idle:
                    session: _Session | None = self._idle.pop()
                    break
                if self._open_count < self._max:
                    self._open_count += 1
                    session = None
                    break
                self._pool.wait()
        if session is not None:
            if time.monotonic() - session.idle_since < _IDLE_PING_SECONDS:
                return session
            try:
                session.conn.ping()
                return session
            except pymysql.err.MySQLError:
                self._discard(session.conn)  # gone while idle: replace it
        try:
            return _Session(self._open())
        except BaseException:
            with self._pool:
                self._open_count -= 1
                self._pool.notify()
            raise

    def _release(self, session: _Session) -> None:
        with self._pool:
            if session.dead or self._closed:
                self._open_count -= 1
                self._discard(session.conn)
            else:
                session.idle_since = time.monotonic()
                self._idle.append(session)
            self._pool.notify()

    def close(self) -> None:
        """Close the connections the adapter opened; later calls raise BackendError.

        Connections in use by another thread are closed when that call ends.
        """
        with self._pool:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open_count -= len(idle)
            self._pool.notify_all()
        for session in idle:
            self._discard(session.conn)

    def _cursor(self, conn: Connection) -> _Cursor:
        return _Cursor(conn.cursor(), self.dialect.json_warnings)

    def _failed(
        self, session: Session[Connection], exc: BaseException, model: str | None
    ) -> Exception:
        code = error_code(exc)
        lost = code in _CONNECTION_LOST or isinstance(exc, pymysql.err.InterfaceError)
        if lost and isinstance(session, _Session):
            session.dead = True
        if session.depth and (lost or code == _DEADLOCK):
            session.broken = True  # the server rolled the whole transaction back
        return super()._failed(session, exc, model)

    # --- operations ---------------------------------------------------------------------------

    def statement(self, op: Operation[Any]) -> str | None:
        if isinstance(op, Upsert):  # the first of its statements: the locking read
            return self._locking(self.compiler.select_key(op.model, op.row, None)).sql
        return super().statement(op)

    def _run(self, session: Session[Connection], op: Operation[Any]) -> Any:
        fields = _path_fields(op) if self.dialect.json_warnings else ()
        if not fields:
            return super()._run(session, op)
        try:
            if isinstance(op, (Update, Delete)):  # undo the write if a document was unreadable
                with self._scope(session):
                    return super()._run(session, op)
            return super()._run(session, op)
        except UnsupportedError as exc:
            if error_code(exc.__cause__) not in JSON_CODES:
                raise
            written = isinstance(op, (Update, Delete, Upsert))
            raise UnsupportedError(
                exc.reason + ("; nothing was written" if written else ""),
                capability=Capability.JSON_PATHS.value,
                model=op.model.name,
                field=fields[0] if len(fields) == 1 else None,
            ) from exc.__cause__

    def _insert(self, session: Session[Connection], op: Insert) -> None:
        """One multi-row INSERT per chunk, chunks small enough for ``max_allowed_packet``."""
        model = op.model.name
        budget = self.max_allowed_packet * 3 // 4 - 4096
        chunks = list(self.compiler.insert(op))
        if len(op.rows) > 1 and any(_size(c.params) > budget for c in chunks):
            chunks = [c for part in _fit(self, op, budget) for c in self.compiler.insert(part)]
        if len(chunks) == 1:  # one statement is atomic by itself
            self._command(session, chunks[0], model)
        elif chunks:
            with self._scope(session):
                for chunk in chunks:
                    self._command(session, chunk, model)

    def _upsert(
        self, session: Session[Connection], op: Upsert
    ) -> UpsertResult[dict[str, Any]] | None:
        """Retried on deadlock when it is its own transaction (nothing else to lose)."""
        attempts = _UPSERT_ATTEMPTS if session.depth == 0 else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._upsert_once(session, op)
            except BackendError as exc:
                if attempt == attempts or error_code(exc.__cause__) != _DEADLOCK:
                    raise
                time.sleep(random.uniform(0, 0.01 * attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _upsert_once(
        self, session: Session[Connection], op: Upsert
    ) -> UpsertResult[dict[str, Any]] | None:
        """Lock the row by key, then INSERT it or UPDATE it within the scope; one unit.

        ``INSERT ... ON DUPLICATE KEY UPDATE`` cannot check the scope and also fires on
        other unique indexes, so the cases are told apart explicitly.
        """
        model = op.model.name
        table = self.compiler.table(op.model)
        with self._scope(session):
            found = self._query(
                session, self._locking(self.compiler.select_key(op.model, op.row, None)), model
            )
            if not found:
                insert = next(self.compiler.insert(Insert(op.model, (op.row,))))
                self._command(session, insert, model)  # DuplicateKeyError: another unique index
                return UpsertResult(table.decode([insert.params])[0], inserted=True)
            if op.update:
                if not self._command(session, self.compiler.upsert_update(op), model):
                    return None  # the existing row is outside the scope: leave it alone
                found = self._query(
                    session, self.compiler.select_key(op.model, op.row, None), model
                )
            elif op.where is not None:
                found = self._query(
                    session, self.compiler.select_key(op.model, op.row, op.where), model
                )
            rows = table.decode(found)
        return UpsertResult(rows[0], inserted=False) if rows else None

    def _locking(self, compiled: Compiled) -> Compiled:
        sql = self._for_update.get(compiled.sql)
        if sql is None:
            if len(self._for_update) > 1024:
                self._for_update.clear()
            sql = self._for_update.setdefault(compiled.sql, compiled.sql + " FOR UPDATE")
        return Compiled(sql, compiled.params)

    # --- bootstrap ----------------------------------------------------------------------------

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """Create what is missing; concurrent bootstraps take turns under ``GET_LOCK``.

        DDL commits implicitly in MySQL, so this runs outside any transaction; what
        exists is looked up in ``information_schema`` (MySQL 8 has no
        ``CREATE INDEX IF NOT EXISTS``), and the lock makes look-up and creation one step.
        """
        for model in schema.models:
            _check_keys(model)
        ddl = self.compiler.ddl(schema)
        with self._free_session(None) as session:
            if dry_run:
                return [statement.sql for statement in self._missing(session, ddl)]
            with self._bootstrap_lock(session):
                todo = self._missing(session, ddl)
                for statement in todo:
                    self._command(session, Compiled(statement.sql, []), statement.model)
        return [statement.sql for statement in todo]

    def _missing(self, session: Session[Connection], ddl: list[DDL]) -> list[DDL]:
        existing = {
            (str(t), None if i is None else str(i))
            for t, i in self._query(session, Compiled(_EXISTING, []), None)
        }
        return [s for s in ddl if (s.model, s.index_name) not in existing]

    @contextmanager
    def _bootstrap_lock(self, session: Session[Connection]) -> Iterator[None]:
        got = self._query(
            session,
            Compiled(f"SELECT GET_LOCK({_BOOTSTRAP_LOCK}, {_LOCK_TIMEOUT_SECONDS})", []),
            None,
        )
        if not got or got[0][0] != 1:
            raise BackendError(
                f"another bootstrap of this database held its lock for over "
                f"{_LOCK_TIMEOUT_SECONDS} s"
            )
        try:
            yield
        finally:
            with suppress(BackendError, UnsupportedError):
                self._command(session, Compiled(f"DO RELEASE_LOCK({_BOOTSTRAP_LOCK})", []), None)


def _check_keys(model: Model[Any]) -> None:
    """Refuse, before any DDL, a key or index InnoDB cannot hold (3072 bytes)."""
    keys = [("primary key", tuple(model.primary_key))]
    keys += [(f"index {ix.name!r}", tuple(c.field for c in ix.columns)) for ix in model.indexes]
    for what, names in keys:
        total = 0
        for name in names:
            field = model.field(name)
            t = field.type
            if isinstance(t, StringType):
                if t.max_length is None or t.max_length > MAX_VARCHAR:
                    raise UnsupportedError(
                        f"the {what} holds a string of max_length {t.max_length}; MySQL "
                        f"indexes hold utf8mb4 strings of at most {MAX_VARCHAR} characters",
                        model=model.name,
                        field=name,
                    )
                total += 4 * t.max_length
            else:
                total += 8
        if total > MAX_KEY_BYTES:
            raise UnsupportedError(
                f"the {what} needs up to {total} bytes; InnoDB index keys hold at most "
                f"{MAX_KEY_BYTES} (a utf8mb4 character counts 4)",
                model=model.name,
                field=names[-1],
            )


def _path_fields(op: Operation[Any]) -> tuple[str, ...]:
    """The json fields a path filter of ``op`` reads, in order of appearance."""
    where = getattr(op, "where", None)
    found: dict[str, None] = {}
    stack: list[Filter] = [where] if where is not None else []
    while stack:
        f = stack.pop()
        if isinstance(f, (And, Or)):
            stack.extend(reversed(f.items))
        elif isinstance(f, Not):
            stack.append(f.item)
        elif isinstance(f, (Compare, In, IsNull)) and isinstance(f.ref, Path):
            found.setdefault(f.ref.field)
    return tuple(found)


def _size(params: Sequence[Any]) -> int:
    """An upper bound of the bytes ``params`` take inlined in SQL (utf8mb4, escaped)."""
    return sum(4 * len(p) + 4 if isinstance(p, str) else 32 for p in params)


def _fit(adapter: MySQLAdapter, op: Insert, budget: int) -> Iterator[Insert]:
    """``op``'s rows in consecutive groups whose inlined values stay within ``budget``."""
    table = adapter.compiler.table(op.model)
    group: list[dict[str, Any]] = []
    used = 0
    for row in op.rows:
        values: list[Any] = []
        table.encode_row(row, values)
        size = _size(values)
        if group and used + size > budget:
            yield Insert(op.model, tuple(group))
            group, used = [], 0
        group.append(row)
        used += size
    if group:
        yield Insert(op.model, tuple(group))
