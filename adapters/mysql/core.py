"""What both MySQL/MariaDB doors share: the programs, the server's inspection, the checks.

:class:`MySQLCore` holds every protocol of the MySQL adapter as a
:mod:`~noorm.adapters.sql.program` program — the server's inspection (flavour,
version, packet size, the JSON path probe), the upsert (``SELECT ... FOR UPDATE`` by
key, then INSERT or a scoped UPDATE, or MariaDB's one ``INSERT ... RETURNING``), inserts
chunked to fit ``max_allowed_packet``, path filters MariaDB cannot read evaluated here,
finds ordered by long strings, bootstrap under ``GET_LOCK`` with what exists looked up
in ``information_schema`` — so the sync :class:`~.adapter.MySQLAdapter` (PyMySQL) and the
async :class:`~.async_adapter.AsyncMySQLAdapter` (aiomysql) differ only in how they
lend connections and wait. :func:`json_warning` is the check both doors' cursors make
after a statement that warned: MariaDB's unreadable JSON as :class:`JsonUnreadable`.
"""

from __future__ import annotations

import dataclasses
import random
import re
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, ClassVar, Protocol, TypeVar

import pymysql

from noorm.spec.adapter import Capability, check_capabilities
from noorm.spec.errors import BackendError, UnsupportedError
from noorm.spec.filters import And, Compare, Filter, In, IsNull, Not, Or, Path, uses_paths
from noorm.spec.operations import (
    Count,
    Delete,
    Find,
    Insert,
    Operation,
    Order,
    Update,
    Upsert,
    UpsertResult,
)
from noorm.spec.schema import Model, Schema
from noorm.spec.types import StringType

from ..memory.evaluate import predicate, sort_rows
from ..sql.compiler import DDL, Compiled, Compiler, Table
from ..sql.core import Session, SQLCore, as_program
from ..sql.introspect import Catalog
from ..sql.program import Command, Pause, Plan, Program, Query, command, query
from .catalog import read_catalog
from .dialect import (
    JSON_CODES,
    MAX_VARCHAR,
    PROBE_KEYS,
    SORT_PREFIX,
    JsonUnreadable,
    MariaDBDialect,
    MySQLDialect,
    error_code,
    long_string,
    one_line,
)
from .upsert import INSERTED, OUT_OF_SCOPE, upsert_returning

__all__ = [
    "MIN_VERSIONS",
    "MySQLCore",
    "PooledSession",
    "json_warning",
    "server_flavour",
]

T = TypeVar("T")
ConnT = TypeVar("ConnT")

MIN_VERSIONS = {"mysql": (8, 0, 17), "mariadb": (10, 6)}
"""CAST(... AS DOUBLE), enforced CHECK constraints and NO PAD binary collations."""

_CONNECTION_LOST = frozenset({0, 1053, 1153, 1927, 2006, 2013, 2014, 2055, 4031})
_DEADLOCK = 1213  # InnoDB rolled the whole transaction back
_UPSERT_ATTEMPTS = 4
_KEYS_PER_STATEMENT = 1_000
_LOCK_TIMEOUT_SECONDS = 120
_BOOTSTRAP_LOCK = "CONCAT('noorm-bootstrap-', SHA1(DATABASE()))"  # <= 64 characters
_EXISTING = (
    "SELECT TABLE_NAME, NULL FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
    "UNION ALL SELECT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA = DATABASE()"
)
_SERVER = "SELECT VERSION(), @@max_allowed_packet, DATABASE(), @@innodb_page_size"
_PROBED: dict[tuple[str, type[MySQLDialect]], bool] = {}
"""What the JSON path probe found, per server version and dialect (probed once a process)."""
SHOW_WARNINGS = "SHOW WARNINGS"


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


def json_warning(warnings: Sequence[Sequence[Any]]) -> JsonUnreadable | None:
    """The error for the rows of ``SHOW WARNINGS`` after a statement, where one says the
    server read a json document (or path) as NULL (MariaDB), else None."""
    for _, code, message in warnings:
        if code in JSON_CODES:
            return JsonUnreadable(code, message)
    return None


class _Counted(Protocol):
    @property
    def warning_count(self) -> int: ...


class PooledSession(Session[ConnT]):
    """A pooled connection: ``dead`` ones are closed instead of going back to the pool."""

    __slots__ = ("dead", "idle_since")

    def __init__(self, conn: ConnT) -> None:
        super().__init__(conn)
        self.dead = False
        self.idle_since = time.monotonic()


class MySQLCore(SQLCore[ConnT]):
    """MySQL's and MariaDB's programs, for both doors."""

    name = "mysql"
    dialect: MySQLDialect
    capabilities: frozenset[Capability]
    dialects: ClassVar[dict[str, type[MySQLDialect]]] = {
        "mysql": MySQLDialect,
        "mariadb": MariaDBDialect,
    }
    """The dialect class of each server flavour (a subclass may swap one)."""
    reuse_cursor = True  # sessions are pooled: one cursor each, for every statement
    driver_errors = (pymysql.err.MySQLError, JsonUnreadable)  # aiomysql raises PyMySQL's
    flavour: str
    """``"mysql"`` or ``"mariadb"``."""

    def __init__(self, *, cache_size: int = 512) -> None:
        """The dialect is the server's, once :meth:`inspect` has run on a connection."""
        super().__init__(MySQLDialect(), cache_size=cache_size)
        self._cache_size = cache_size
        self.capabilities = _capabilities(self.dialect)
        self._server_version = ""
        self._directions = True
        self._database = ""
        self._packet = 0
        self._for_update: dict[str, str] = {}

    # --- the server ---------------------------------------------------------------------------

    def inspect(self, session: Session[ConnT]) -> Program[None]:
        """Look the server up (flavour, version, packet limit, database, page size, and
        whether its JSON paths select exactly the probe keys) and take its dialect."""
        rows = yield Query(Compiled(_SERVER, []), None, tolerate=self.driver_errors)
        if isinstance(rows, BaseException):
            raise BackendError(f"cannot query the server: {one_line(rows)}") from rows
        row = rows[0]
        version, packet, database = str(row[0]), int(row[1]), str(row[2])
        page_size = int(row[3])
        flavour, numbers, display = server_flavour(version)
        if numbers < MIN_VERSIONS[flavour]:
            least = ".".join(map(str, MIN_VERSIONS[flavour]))
            raise UnsupportedError(f"{display} is too old; no-orm needs {flavour} {least}")
        dialect = self.dialects[flavour](page_size=page_size)
        probed = _PROBED.get((version, type(dialect)))
        if probed is None:
            probed = yield from self._json_paths_work(session, dialect)
            _PROBED[(version, type(dialect))] = probed
        dialect.json_paths = probed
        # The session's cursor was made for the provisional dialect: the next one checks
        # JSON warnings where this one needs it.
        session.cursor = None
        self.dialect = dialect
        self.compiler = Compiler(dialect, cache_size=self._cache_size)
        self.capabilities = _capabilities(dialect)
        self._server_version = display
        self._directions = flavour == "mysql" or numbers >= (10, 8)
        """Whether the server keeps an index column's DESC (MariaDB before 10.8 ignores it)."""
        self._database = database
        self.flavour = flavour
        self.max_allowed_packet = packet

    def _json_paths_work(self, session: Session[ConnT], dialect: MySQLDialect) -> Program[bool]:
        """Whether this server selects exactly the probe keys with ``dialect``'s paths.

        Each probe document, stored the way the dialect's codec stores documents, holds
        decoys that a lax reading would hit instead: a longer key, ``"a"."b"`` for the key
        ``a.b``, ``"A"`` for an escaped ``A``, and the same key one level down. A warning
        (the session's cursor counts them) fails the probe as an error does.
        """
        terms: list[str] = []
        params: list[Any] = []
        expected: list[Any] = []
        for number, key in enumerate(PROBE_KEYS):
            doc: dict[str, Any] = {key: number}
            doc.setdefault(key + "x", -1)
            doc.setdefault("a", {"b": -2})
            doc.setdefault("A", -4)
            doc.setdefault("nest", {key: -3})
            text = dialect.codec.encode_json(doc)
            terms.append("JSON_EXTRACT(%s, %s), JSON_EXTRACT(%s, %s)")
            params += [text, dialect.json_path((key,)), text, dialect.json_path(("nest", key))]
            expected += [str(number), "-3"]
        sql = Compiled("SELECT " + ", ".join(terms), params)
        rows = yield Query(sql, None, tolerate=self.driver_errors)
        if isinstance(rows, BaseException) or not rows:
            return False
        cursor: _Counted = session.cursor
        return not cursor.warning_count and [str(v) for v in rows[0]] == expected

    @property
    def database(self) -> str:
        """The database this adapter works in."""
        return self._database

    @property
    def max_allowed_packet(self) -> int:
        """The server's packet limit; insert batches are split to stay under it."""
        return self._packet

    @max_allowed_packet.setter
    def max_allowed_packet(self, packet: int) -> None:
        self._packet = packet
        self.dialect.max_statement_bytes = _statement_budget(packet)

    def on_error(self, session: Session[ConnT], exc: BaseException) -> None:
        code = error_code(exc)
        lost = code in _CONNECTION_LOST or isinstance(exc, pymysql.err.InterfaceError)
        if lost and isinstance(session, PooledSession):
            session.dead = True
        if session.depth and (lost or code == _DEADLOCK):
            session.broken = True  # the server rolled the whole transaction back

    # --- operations ---------------------------------------------------------------------------

    def statement(self, op: Operation[Any]) -> str | None:
        if isinstance(op, Upsert):
            if self._one_statement(op):
                return upsert_returning(self.compiler, op).sql
            # The first of its statements: the locking read.
            return self._locking(self.compiler.select_key(op.model, op.row, None)).sql
        return super().statement(op)

    def _one_statement(self, op: Upsert) -> bool:
        """Whether ``op`` runs as one ``INSERT ... RETURNING`` (see :mod:`.upsert`): on
        MariaDB, for a model without unique indexes, with a scope of plain fields."""
        return (
            self.dialect.insert_returning
            and not any(index.unique for index in op.model.indexes)
            and not (op.where is not None and uses_paths(op.where))
        )

    def run(self, session: Session[ConnT], op: Operation[Any]) -> Plan:
        if self.dialect.json_warnings and _path_fields(op):
            return self._guarded(session, op)
        return self._dispatch(session, op)

    def _guarded(self, session: Session[ConnT], op: Operation[Any]) -> Program[Any]:
        """``op``, evaluated here if the server cannot read a document its paths meet."""
        try:
            plan = self._dispatch(session, op)
            if isinstance(op, (Update, Delete)):  # undo the write if a document was unreadable
                return (yield from self.atomic(session, as_program(plan)))
            return (yield from as_program(plan))
        except UnsupportedError as exc:
            if error_code(exc.__cause__) not in JSON_CODES or session.broken:
                raise
        return (yield from self._evaluated_here(session, op))

    def _evaluated_here(self, session: Session[ConnT], op: Operation[Any]) -> Program[Any]:
        """``op`` with its filter evaluated by the adapter, on every row of the table.

        MariaDB's JSON functions stop at 32 levels of nesting (a document the spec
        stores, JSON-1, and the one a path of 32 keys reaches); a path filter that meets
        such a document comes back as a warning or an error. Then the rows are read
        (locked, for a write) and the filter is decided by the reference evaluator, so
        the answer is exact; a write then selects the matching rows by key. It costs a
        read of the whole table, only when such a document is there.
        """
        model = op.model
        table = self.compiler.table(model)
        if isinstance(op, Upsert):
            return (yield from self._upsert_retrying(session, op, evaluate_here=True))
        if isinstance(op, (Find, Count)):
            rows = yield from self._every_row(table, lock=isinstance(op, Find) and op.for_update)
            test = predicate(model, op.where)
            rows = [row for row in rows if test(row)]
            if isinstance(op, Count):
                return len(rows)
            sort_rows(model, rows, op.order)
            return rows if op.limit is None else rows[: op.limit]
        if not isinstance(op, (Update, Delete)):  # pragma: no cover - no other filtered ops
            raise TypeError(f"not a filtered operation: {op!r}")
        return (yield from self.atomic(session, self._write_each(session, op, table)))

    def _write_each(
        self, session: Session[ConnT], op: Update | Delete, table: Table
    ) -> Program[int]:
        """Lock every row, test it here, and write the matching ones by key."""
        test = predicate(op.model, op.where)
        keys = [row for row in (yield from self._every_row(table, lock=True)) if test(row)]
        if isinstance(op, Update) and not op.values:
            return len(keys)
        done = 0
        for start in range(0, len(keys), _KEYS_PER_STATEMENT):
            where = _key_filter(op.model, keys[start : start + _KEYS_PER_STATEMENT])
            plan = SQLCore.run(self, session, dataclasses.replace(op, where=where))
            done += yield from as_program(plan)
        return done

    def _every_row(self, table: Table, *, lock: bool) -> Program[list[dict[str, Any]]]:
        select = Compiled(table.select_head + (" FOR UPDATE" if lock else ""), [])
        return table.decode((yield Query(select, table.model.name)))

    def _dispatch(self, session: Session[ConnT], op: Operation[Any]) -> Plan:
        if type(op) is Find:
            table = self.compiler.table(op.model)
            order = self.compiler.full_order(table, op.order, op.where)
            if any(long_string(table.field(o.field)) for o in order):
                check_capabilities(self.capabilities, op)
                return self._find(op, order)
        return super().run(session, op)

    def _find(self, op: Find, order: tuple[Order, ...]) -> Program[list[dict[str, Any]]]:
        """A find ordered by strings longer than :data:`SORT_PREFIX`, in exact order.

        The server sorts such a string by its first :data:`SORT_PREFIX` characters
        (:meth:`MySQLDialect.order_expr`), which orders rows correctly except among rows
        sharing such a prefix; those are put in order here, by the reference sort. When
        the page ends inside a run of rows that share a full-length prefix, the run may
        hold, beyond the page, rows that belong on it: one more query reads the whole run
        (the rows equal to the last one on every earlier sort field, and starting with
        its prefix), and the page is cut from the sorted union. Every row outside the
        union sorts after every row in it, so the result is exactly the reference's.
        """
        model = op.model.name
        table = self.compiler.table(op.model)
        rows = table.decode((yield Query(self.compiler.find(op), model)))
        longs = {o.field for o in order if long_string(table.field(o.field))}
        if op.limit is not None and rows and len(rows) == op.limit:
            run = _run_filter(order, longs, rows[-1])
            if run is not None:
                where = run if op.where is None else And((op.where, run))
                more = self.compiler.find(Find(op.model, where, op.order, None, op.for_update))
                extra = table.decode((yield Query(more, model)))
                seen = {tuple(r[k] for k in table.key) for r in extra}
                rows = [r for r in rows if tuple(r[k] for k in table.key) not in seen] + extra
        if any(
            isinstance(value, str) and len(value) >= SORT_PREFIX
            for row in rows
            for name in longs
            if (value := row[name]) is not None
        ):
            sort_rows(op.model, rows, order)
            if op.limit is not None:
                del rows[op.limit :]
        return rows

    def run_upsert(self, session: Session[ConnT], op: Upsert) -> Plan:
        if self._one_statement(op):
            return self._upsert_returning(op)
        return self._upsert_retrying(session, op, evaluate_here=False)

    def _upsert_retrying(
        self, session: Session[ConnT], op: Upsert, *, evaluate_here: bool
    ) -> Program[UpsertResult[dict[str, Any]] | None]:
        """Retried on deadlock when it is its own transaction (nothing else to lose)."""
        attempts = _UPSERT_ATTEMPTS if session.depth == 0 else 1
        for attempt in range(1, attempts + 1):
            try:
                body = self._upsert_once(op, evaluate_here)
                return (yield from self.atomic(session, body))
            except BackendError as exc:
                if attempt == attempts or error_code(exc.__cause__) != _DEADLOCK:
                    raise
                yield Pause(random.uniform(0, 0.01 * attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _upsert_returning(self, op: Upsert) -> Query:
        """One statement, atomic by itself (see :mod:`.upsert`)."""
        table = self.compiler.table(op.model)

        def result(rows: Sequence[Sequence[Any]]) -> UpsertResult[dict[str, Any]] | None:
            *values, flag = rows[0]
            if flag == OUT_OF_SCOPE:
                return None  # the existing row is outside the scope: left as it was
            return UpsertResult(table.decode([values])[0], inserted=flag == INSERTED)

        return Query(upsert_returning(self.compiler, op), op.model.name, result)

    def _upsert_once(
        self, op: Upsert, evaluate_here: bool
    ) -> Program[UpsertResult[dict[str, Any]] | None]:
        """Lock the row by key, then INSERT it or UPDATE it within the scope; one unit.

        ``INSERT ... ON DUPLICATE KEY UPDATE`` cannot check the scope and also fires on
        other unique indexes, so the cases are told apart explicitly. With
        ``evaluate_here`` the scope is decided on the locked row by the reference
        evaluator (see :meth:`_evaluated_here`).
        """
        model = op.model.name
        table = self.compiler.table(op.model)
        found = yield Query(self._locking(self.compiler.select_key(op.model, op.row, None)), model)
        if not found:
            insert = next(self.compiler.insert(Insert(op.model, (op.row,))))
            yield Command(insert, model)  # DuplicateKeyError: another unique index
            return UpsertResult(table.written(insert.params), inserted=True)
        where = op.where
        if evaluate_here and where is not None:
            if not predicate(op.model, where)(table.decode(found)[0]):
                return None  # the existing row is outside the scope: leave it alone
            where = None
        if op.update:
            update = self.compiler.upsert_update(dataclasses.replace(op, where=where))
            if not (yield Command(update, model)):
                return None  # the existing row is outside the scope: leave it alone
            found = yield Query(self.compiler.select_key(op.model, op.row, None), model)
        elif where is not None:
            found = yield Query(self.compiler.select_key(op.model, op.row, where), model)
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

    def bootstrap_program(
        self, session: Session[ConnT], schema: Schema, dry_run: bool
    ) -> Program[list[str]]:
        """Create what is missing; concurrent bootstraps take turns under ``GET_LOCK``.

        DDL commits implicitly in MySQL, so this runs outside any transaction; what
        exists is looked up in ``information_schema`` (MySQL 8 has no
        ``CREATE INDEX IF NOT EXISTS``), and the lock makes look-up and creation one step.
        """
        for model in schema.models:
            _check_keys(model, self.dialect.page_size)
        ddl = self.compiler.ddl(schema)
        if dry_run:
            todo = yield from self.bootstrap_plan(session, schema, ddl)
            return [statement.sql for statement in todo]
        got = yield query(f"SELECT GET_LOCK({_BOOTSTRAP_LOCK}, {_LOCK_TIMEOUT_SECONDS})")
        if not got or got[0][0] != 1:
            raise BackendError(
                f"another bootstrap of this database held its lock for over "
                f"{_LOCK_TIMEOUT_SECONDS} s"
            )
        try:
            todo = yield from self.bootstrap_plan(session, schema, ddl)
            for statement in todo:
                yield Command(Compiled(statement.sql, []), statement.model)
        finally:
            with suppress(BackendError, UnsupportedError):
                yield command(f"DO RELEASE_LOCK({_BOOTSTRAP_LOCK})")
        return [statement.sql for statement in todo]

    def missing(self, session: Session[ConnT], ddl: list[DDL]) -> Program[list[DDL]]:
        existing = {(str(t), None if i is None else str(i)) for t, i in (yield query(_EXISTING))}
        return [s for s in ddl if (s.model, s.index_name) not in existing]

    def catalog(
        self, session: Session[ConnT], schema: Schema, tables: list[str]
    ) -> Program[Catalog]:
        return read_catalog(self.dialect, schema, tables, directions=self._directions)


def _capabilities(dialect: MySQLDialect) -> frozenset[Capability]:
    caps = {
        Capability.TRANSACTIONS,
        Capability.SAVEPOINTS,
        Capability.CONCURRENT_BOOTSTRAP,
        Capability.SCHEMA_INTROSPECTION,
        Capability.LOCKING_READS,
        Capability.ATOMIC_UPDATES,
    }
    if dialect.json_paths:
        caps.add(Capability.JSON_PATHS)
    return frozenset(caps)


def _check_keys(model: Model[Any], page_size: int) -> None:
    """Refuse, before any DDL, a key or index InnoDB cannot hold.

    The schema keeps every key within 2048 bytes (LIM-KEY), which InnoDB holds on its
    default 16 KiB pages (3072 bytes); servers with smaller pages hold less (1536 bytes
    at 8 KiB, 768 at 4 KiB).
    """
    limit = _max_key_bytes(page_size)
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
        if total > limit:
            raise UnsupportedError(
                f"the {what} needs up to {total} bytes; InnoDB index keys hold at most "
                f"{limit} with {page_size // 1024} KiB pages (a utf8mb4 character counts 4)",
                model=model.name,
                field=names[-1],
            )


def _key_filter(model: Model[Any], rows: Sequence[dict[str, Any]]) -> Filter:
    """The rows of ``model`` whose primary key is one of those of ``rows``."""
    key = model.primary_key
    if len(key) == 1:
        return In(key[0], tuple(row[key[0]] for row in rows))
    return Or(tuple(And(tuple(Compare("eq", k, row[k]) for k in key)) for row in rows))


def _max_key_bytes(page_size: int) -> int:
    """InnoDB's longest index key for ``innodb_page_size`` (DYNAMIC rows)."""
    return 3072 if page_size >= 16384 else 3072 * page_size // 16384


def _statement_budget(packet: int) -> int:
    """Bytes of values one INSERT may carry under ``max_allowed_packet`` (with room for
    the statement around them)."""
    return max(packet * 3 // 4 - 4096, 256)


def _run_filter(order: tuple[Order, ...], longs: set[str], last: dict[str, Any]) -> Filter | None:
    """The rows the server may have sorted like ``last``: equal to it on every sort
    field before its first long string of at least :data:`SORT_PREFIX` characters, and
    starting with that string's prefix. None when ``last`` has no such string (then the
    server's order is exact at the page's end)."""
    terms: list[Filter] = []
    for item in order:
        value = last[item.field]
        if item.field in longs and isinstance(value, str) and len(value) >= SORT_PREFIX:
            prefix = value[:SORT_PREFIX]
            terms.append(Compare("gte", item.field, prefix))
            bound = _successor(prefix)
            if bound is not None:
                terms.append(Compare("lt", item.field, bound))
            return And(tuple(terms))
        terms.append(IsNull(item.field) if value is None else Compare("eq", item.field, value))
    return None


def _successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (code point
    order, surrogates skipped); None when there is none (``prefix`` is all U+10FFFF)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    code = ord(stripped[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    return stripped[:-1] + chr(code)


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
