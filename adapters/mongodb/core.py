"""The MongoDB adapter's logic, written once for a sync and an async driver (sans-I/O).

:class:`MongoCore` holds everything :class:`~.adapter.MongoAdapter` and
:class:`~.async_adapter.AsyncMongoAdapter` share: what the server is and supports, the
per-model codecs, the collections known to exist, and every protocol of several calls.
It never calls pymongo. An operation becomes a :data:`Plan`: a bare :class:`Call`
(one pymongo call, with a ``then`` that turns its result into the operation's: a get, a
count, a delete, a one-row insert, an update no unique index constrains), or a
:data:`Program`, a generator that yields calls and receives their results, driver
exceptions thrown back in (batches and their undo, updates and their restore,
upserts, bootstrap, transactions). The sync driver calls ``MongoClient``'s objects,
the async driver awaits the identically named methods of ``AsyncMongoClient``'s; a
program names a collection by its name and each driver keeps its own collection
objects. A program wraps driver errors itself (``driver_errors``) where the
sync adapter always did; a bare call's driver wraps them, naming ``Call.model``.

Without multi-document transactions (FerretDB, standalone servers) every operation is
made as atomic as single-document writes allow, and the residual races are documented
in docs/backends/mongodb.md:

- an insert batch is checked for keys and unique values it repeats itself, then sent in
  ordered statements; when the server refuses a row, exactly the rows this call wrote
  (the ones before it) are deleted again (OP-INS, LIM-BATCH);
- an upsert is one ``findAndModify(upsert)`` without a scope; with one, a
  ``find_one_and_update`` filtered by the key *and* the scope, then an ``insert_one``,
  so a row of another scope is never touched;
- an update that sets a column of a unique index refuses what would collide among the
  rows it matches before writing, and restores the rows it changed when the server
  reports a collision half-way (update_many is not atomic);
- no collection is ever created implicitly: an operation on a collection bootstrap()
  has not created raises BackendError (BOOT-4).

FerretDB v1 holds one PostgreSQL connection per ``multi: false`` statement of an
``update`` command until the whole command ends; a command of more such statements than
its pool (50) has connections waits forever and wedges the server for every client. So
every update this adapter sends is ``multi: true`` (``update_many``, ``UpdateMany``).

With transactions (a replica set or sharded cluster that is not FerretDB) the same
operations run inside the session's transaction instead, where none of that is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import suppress
from datetime import UTC
from typing import Any, NamedTuple, TypeAlias, TypeVar

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ReturnDocument, UpdateMany
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    OperationFailure,
    ProtocolError,
    PyMongoError,
)

from noorm.spec import (
    BackendError,
    Capability,
    Count,
    Delete,
    DuplicateKeyError,
    Find,
    Index,
    Insert,
    Model,
    Operation,
    Schema,
    SchemaMismatchError,
    UnsupportedError,
    Update,
    Upsert,
    UpsertResult,
    check_capabilities,
)

from .codec import JSON, Codec
from .errors import DRIVER_ERRORS, driver_errors, is_duplicate, translate
from .indexes import PK_INDEX, IndexPlan, describe_collection, index_plans
from .mql import compile_filter, compile_sort, conjunction, render

__all__ = [
    "CLIENT",
    "CODEC_OPTIONS",
    "DATABASE",
    "FERRETDB_INSERT_STATEMENT",
    "LIST",
    "PLAIN",
    "URL_TIMEOUT_MS",
    "Block",
    "Call",
    "Document",
    "MongoCore",
    "Plan",
    "Program",
    "Returned",
    "advance",
    "client_of",
    "database_name",
    "finish",
]

T = TypeVar("T")
Document: TypeAlias = dict[str, Any]

CODEC_OPTIONS: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=UTC)
"""Dates come back aware, in ``datetime.timezone.utc`` (TS-1)."""
URL_TIMEOUT_MS = 5000
"""serverSelectionTimeoutMS of a client the adapter opens from a URL (unless the URL sets
one): an unreachable server fails in seconds, as a one-line BackendError."""
_FAIL_FAST: dict[str, Any] = {"serverSelectionTimeoutMS": URL_TIMEOUT_MS}
_NAMESPACE_EXISTS = 48
_UPSERT_ATTEMPTS = 3
_MAX_BSON = 16 * 1024 * 1024
"""maxBsonObjectSize, unless the server says otherwise in ``hello``."""
_MAX_MESSAGE = 48_000_000
"""maxMessageSizeBytes, unless the server says otherwise in ``hello``."""
_FERRETDB_DEFAULT_BATCH = 250
"""FerretDB v1 replies to a find with 101 documents and to a getMore with 250, whatever
their size; pymongo refuses a reply larger than maxMessageSizeBytes (ProtocolError)."""
FERRETDB_INSERT_STATEMENT = 100
"""Rows per ``insert`` command on FerretDB: its handler inserts a command's documents in
batches of ``--test-batch-size`` (default 100) and, although ordered, goes on with one
more batch after a failed one; a command of at most one batch stops at the failing row,
as MongoDB does, so the rows before it are exactly the rows the command wrote."""
_ID_BYTES_PER_STATEMENT = 4 * 1024 * 1024
"""Budget of ``_id`` values in one ``$in`` the adapter builds (commands stay < 16 MiB)."""
_DELETE_GROUP = 2500
"""Keys per compensating delete: FerretDB compares a document with a ``$in`` element by
element, and reads every document once per statement; measured on 10,000 rows, groups of
2,500 sorted keys delete them in about half the time of one statement."""

# --- steps --------------------------------------------------------------------------------

DATABASE: Any = None
"""``Call.on`` for the adapter's database (with the adapter's codec options)."""
CLIENT: Any = object()
"""``Call.on`` for the client."""
AWAIT = 0
"""``Call.kind``: the method returns its result (a coroutine of it in the async API)."""
LIST = 1
"""``Call.kind``: the method returns a cursor; the program receives its documents."""
PLAIN = 2
"""``Call.kind``: a plain call in both APIs (``start_session``)."""


class Call(NamedTuple):
    """``on.method(*args, **kwargs)``: ``on`` a collection's name, :data:`DATABASE`,
    :data:`CLIENT`, or a session the program received."""

    on: Any
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}  # noqa: RUF012 - never mutated
    kind: int = AWAIT
    model: str | None = None
    """A bare call's driver wraps its errors naming this model."""
    then: Callable[[Any], Any] | None = None
    """A bare call's operation result from the call's."""


class Block(NamedTuple):
    """A transaction program's pause: the ``with`` block runs here, on ``session`` (None:
    a non-atomic block). The driver sends None when it ends, or throws its exception."""

    session: Any


Program: TypeAlias = Generator[Call | Block, Any, T]
Plan: TypeAlias = Call | Program[Any]
"""How an operation runs: one call, or a program."""


class Returned(NamedTuple):
    """What :func:`advance` gives for a program that has returned."""

    value: Any


def advance(program: Program[Any], result: Any, error: BaseException | None) -> Any:
    """``program``'s next step after a step's ``result`` (or ``error``, thrown in); a
    :class:`Returned` once it returns. A driver runs a program as
    ``step = advance(program, None, None)``, then, while ``step`` is a :class:`Call`,
    ``step = advance(program, *outcome(step))``."""
    try:
        return program.send(result) if error is None else program.throw(error)
    except StopIteration as stop:
        return Returned(stop.value)


_FAILURES = (*DRIVER_ERRORS, RecursionError)


def finish(call: Call, result: Any, error: BaseException | None) -> Any:
    """A bare call's operation result, or its error as the noorm error naming its model."""
    if error is None:
        return call.then(result) if call.then is not None else result
    if isinstance(error, _FAILURES):
        raise translate(error, call.model) from error
    raise error


def _as_program(call: Call) -> Program[Any]:
    with driver_errors(call.model):
        result = yield call
    return call.then(result) if call.then is not None else result


def _returning(value: T) -> Program[T]:
    yield from ()
    return value


def _none(_: object) -> None:
    return None


def _deleted(result: Any) -> int:
    return int(result.deleted_count)


def _matched(result: Any) -> int:
    return int(result.matched_count)


# --- targets ------------------------------------------------------------------------------


def client_of(
    target: Any, database: str | None, client_type: type[Any], database_type: type[Any]
) -> tuple[Any, Any, bool]:
    """``(client, Database or None, owned)`` for an adapter's ``target``: a URL opens a
    client of ``client_type`` (owned: the adapter closes it), a client or a Database of
    the driver's types is the caller's. No I/O."""
    if isinstance(target, str):
        timeout = {} if "serverselectiontimeoutms" in target.lower() else _FAIL_FAST
        return client_type(target, **timeout), None, True
    if isinstance(target, database_type):
        if database is not None and database != target.name:
            raise ValueError(f"database={database!r} contradicts the Database {target.name!r}")
        return target.client, target, False
    if isinstance(target, client_type):
        return target, None, False
    raise TypeError(
        f"expected a {client_type.__name__}, a {database_type.__name__} or a URL, "
        f"got {type(target).__name__}"
    )


def database_name(client: Any, database: str | None) -> str:
    """``database``, or the URL's; ValueError without either."""
    if database:
        return database
    try:
        return str(client.get_default_database().name)
    except ConfigurationError:
        raise ValueError(
            "no database name: pass database=... or put one in the URL (mongodb://host/name)"
        ) from None


# --- the core -----------------------------------------------------------------------------


class _Model:
    """What the adapter keeps per model: its codec and read batch size."""

    __slots__ = ("batch", "codec", "model", "name", "unique")

    def __init__(self, model: Model[Any], codec: Codec, batch: int) -> None:
        self.model = model
        self.name = model.name
        self.codec = codec
        self.batch = batch
        """Documents per reply of a find (0: the server's default)."""
        self.unique: tuple[Index, ...] = tuple(index for index in model.indexes if index.unique)

    def rows(self, docs: list[Document]) -> list[Document]:
        """Documents read as rows."""
        row = self.codec.row
        return [row(doc) for doc in docs]

    def at_risk(self, values: dict[str, Any]) -> list[Index]:
        """The unique indexes an update of ``values`` can make collide: those of which it
        sets columns, none of them to NULL (a NULL column never collides)."""
        out = []
        for index in self.unique:
            set_ = [values[c.field] for c in index.columns if c.field in values]
            if set_ and all(value is not None for value in set_):
                out.append(index)
        return out


class MongoCore:
    """The state and logic of one adapter on one database, without its I/O."""

    BASE_CAPABILITIES = frozenset({Capability.JSON_PATHS, Capability.CONCURRENT_BOOTSTRAP})
    """What every server supports: known before the server is asked."""

    def __init__(self, *, allow_non_atomic_transactions: bool = False) -> None:
        self.allow_non_atomic = allow_non_atomic_transactions
        self.capabilities: frozenset[Capability] = frozenset()
        """Known once :meth:`probe` ran."""
        self.ferretdb: str | None = None
        self.server_version = ""
        self.probed = False
        self.closed = False
        self._max_bson = _MAX_BSON
        self._max_message = _MAX_MESSAGE
        self._insert_statement = 0
        """Rows per insert command (0: one insert_many; pymongo splits what it must)."""
        self._models: dict[int, _Model] = {}
        self.existing: set[str] = set()
        """Collections known to exist (bootstrap() made or saw them, or a check found them).
        Absence is never cached: another process may bootstrap at any time."""
        self._lock = threading.Lock()

    # --- identity -------------------------------------------------------------------------

    def probe(self) -> Program[None]:
        """Ask the server once what it is and what it supports."""
        with driver_errors(None):
            build: Document = yield Call(DATABASE, "command", ("buildInfo",))
            hello: Document = yield Call(DATABASE, "command", ("hello",))
        ferretdb = build.get("ferretdbVersion")
        self.ferretdb = str(ferretdb) if ferretdb else None
        self.server_version = f"MongoDB {build.get('version', '?')}" + (
            f" (FerretDB {ferretdb})" if ferretdb else ""
        )
        replicated = "setName" in hello or hello.get("msg") == "isdbgrid"
        caps = set(self.BASE_CAPABILITIES)
        if not ferretdb:
            # One document is tested and written atomically; FerretDB v1 reads it, then
            # writes it, so a conditional update is no compare-and-set there (ISO-1).
            caps.add(Capability.ATOMIC_UPDATES)
        if replicated and not ferretdb:
            caps.add(Capability.TRANSACTIONS)
        self.capabilities = frozenset(caps)
        self._max_bson = int(hello.get("maxBsonObjectSize") or _MAX_BSON)
        self._max_message = int(hello.get("maxMessageSizeBytes") or _MAX_MESSAGE)
        self._insert_statement = FERRETDB_INSERT_STATEMENT if ferretdb else 0
        self.probed = True

    def check_open(self, model: str | None) -> None:
        if self.closed:
            raise BackendError("the MongoDB adapter is closed", model=model)

    # --- transactions ---------------------------------------------------------------------

    def transaction(self, capabilities: frozenset[Capability]) -> Program[None]:
        """A transaction block's program (TX-1): it yields one :class:`Block`.

        Without server support this raises UnsupportedError (TX-4), unless the adapter
        was built with ``allow_non_atomic_transactions=True``: then the block runs its
        operations directly, with no rollback.
        """
        if Capability.TRANSACTIONS in capabilities:
            return self._session_transaction()
        if self.allow_non_atomic:
            return self._direct_block()
        raise UnsupportedError(
            f"{self.server_version} does not support transactions (they need a replica set "
            "or sharded cluster, and FerretDB has none); pass "
            "allow_non_atomic_transactions=True to run transaction blocks without atomicity",
            capability=Capability.TRANSACTIONS.value,
        )

    def _direct_block(self) -> Program[None]:
        self.check_open(None)
        yield Block(None)

    def _session_transaction(self) -> Program[None]:
        self.check_open(None)
        with driver_errors(None):
            session = yield Call(CLIENT, "start_session", kind=PLAIN)
        try:
            with driver_errors(None):
                yield Call(session, "start_transaction")
            try:
                yield Block(session)
            except BaseException:
                with suppress(PyMongoError):  # a failed write has already aborted it
                    yield Call(session, "abort_transaction")
                raise
            with driver_errors(None):
                yield Call(session, "commit_transaction")
        finally:
            yield Call(session, "end_session")

    @staticmethod
    def nested(session: Any) -> None:
        """MongoDB has no savepoints: a transaction nested in a session's raises
        UnsupportedError (a non-atomic block nests as another non-atomic block)."""
        if session is not None:
            raise UnsupportedError(
                "MongoDB has no savepoints: transactions cannot be nested",
                capability=Capability.SAVEPOINTS.value,
            )

    # --- bootstrap ------------------------------------------------------------------------

    def bootstrap(self, schema: Schema, dry_run: bool) -> Program[list[str]]:
        """Create missing collections and indexes; returns a description per call.

        Idempotent and safe to run concurrently: "already exists" is success, and
        ``createIndex`` with an identical spec is a no-op. Every existing collection's
        indexes are compared with the plan first: one that exists under a planned name
        with other keys or uniqueness raises SchemaMismatchError and nothing is created
        (BOOT-6). Collections have no columns: a new nullable field needs nothing (NULL
        is an absent field), and what cannot be compared is in docs/backends/mongodb.md.
        """
        self.check_open(None)
        entries = [self.model(model) for model in schema.models]  # refuse before creating
        with driver_errors(None):
            existing = set((yield Call(DATABASE, "list_collection_names")))
        self.existing.update(existing)
        haves: dict[str, dict[str, Document]] = {}
        for entry in entries:
            if entry.name in existing:
                with driver_errors(entry.name):
                    indexes = yield Call(entry.name, "list_indexes", kind=LIST)
                    haves[entry.name] = {str(ix["name"]): dict(ix) for ix in indexes}
                    yield from self._refuse_named_ids(entry)
        # Index names are per collection here, but one namespace on the other backends:
        # a schema's index name on another of its collections is refused the same way.
        holders = {name: owner for owner, have in haves.items() for name in have}
        todo: list[tuple[_Model, bool, list[IndexPlan]]] = []
        for entry in entries:
            model = entry.model
            have = haves.get(model.name, {})
            plans = []
            for plan in index_plans(model, entry.codec, partial_unique=not self.ferretdb):
                current = have.get(plan.name)
                holder = holders.get(plan.name, model.name)
                if current is None and holder != model.name and plan.name != PK_INDEX:
                    raise SchemaMismatchError(
                        f"index {plan.name!r}: the name is taken by an index of collection "
                        f"{holder!r}; bootstrap() does not redefine indexes (BOOT-6)",
                        model=model.name,
                        index=plan.name,
                    )
                if current is None:
                    plans.append(plan)
                elif not plan.matches(current):
                    raise _index_mismatch(model, plan, current)
            todo.append((entry, model.name not in existing, plans))
        statements: list[str] = []
        for entry, create, plans in todo:
            name = entry.name
            if create:
                statements.append(describe_collection(name))
            statements.extend(plan.describe(name) for plan in plans)
            if dry_run:
                continue
            with driver_errors(name):
                if create:
                    yield from self._create_collection(name)
                    self.existing.add(name)
                for plan in plans:
                    yield Call(name, "create_index", (list(plan.keys),), plan.options())
        return statements

    def _refuse_named_ids(self, entry: _Model) -> Program[None]:
        """A composite ``_id`` stored by an earlier version (``{k1: v1, ...}``) is not the
        positional one this version builds, so the ``_id`` index would not refuse the same
        key again: refuse to work on such a collection rather than duplicate keys."""
        codec = entry.codec
        if codec.single_key is not None:
            return
        # One document (any: a filter would make FerretDB read them all in its own code).
        found = yield Call(entry.name, "find_one", ({}, {"_id": 1}))
        if found is not None and isinstance(found["_id"], dict) and "0" not in found["_id"]:
            raise BackendError(
                "the collection holds composite keys stored by an earlier version "
                f"(_id {{{', '.join(codec.key_fields)}}}); this version stores "
                '{"0": ..., "1": ...}: rewrite its documents (see docs/backends/mongodb.md)',
                model=codec.name,
            )

    def _create_collection(self, name: str) -> Program[None]:
        try:
            yield Call(DATABASE, "create_collection", (name,), {"check_exists": False})
        except OperationFailure as exc:
            if exc.code != _NAMESPACE_EXISTS:  # a concurrent bootstrap got there first
                raise

    # --- statements -----------------------------------------------------------------------

    def statement(self, op: Operation[Any]) -> str | None:
        """The MQL ``op`` runs, operand values shown as ``?`` (for ``on_query``)."""
        try:
            entry = self.model(op.model)
            codec, name = entry.codec, op.model.name
            if isinstance(op, Find):
                text = f"{name}.find({render(compile_filter(codec, op.where))})"
                sort = compile_sort(codec, op.order)
                if sort:
                    text += ".sort({" + ", ".join(f'"{k}": {d}' for k, d in sort) + "})"
                return text + (f".limit({op.limit})" if op.limit is not None else "")
            if isinstance(op, Count):
                return f"{name}.countDocuments({render(compile_filter(codec, op.where))})"
            if isinstance(op, Delete):
                return f"{name}.deleteMany({render(compile_filter(codec, op.where))})"
            if isinstance(op, Update):
                where = render(compile_filter(codec, op.where))
                return f"{name}.updateMany({where}, {render(codec.update(op.values))})"
            if isinstance(op, Insert):
                if len(op.rows) == 1:
                    return f"{name}.insertOne(?)"
                return f"{name}.insertMany([{len(op.rows)} documents], ordered)"
            if isinstance(op, Upsert):
                selector = render(self._upsert_filter(codec, op, codec.document(op.row)["_id"]))
                change = render(codec.update({f: op.row[f] for f in op.update}))
                if op.where is None:
                    return f"{name}.findAndModify({selector}, {change}, upsert)"
                return f"{name}.findOneAndUpdate({selector}, {change}) else insertOne(?)"
        except Exception:  # observability must never mask the operation's own outcome
            return None
        return None

    # --- operations -----------------------------------------------------------------------

    def plan(self, op: Operation[Any], session: Any, capabilities: frozenset[Capability]) -> Plan:
        """How ``op`` runs (``session``: the transaction's, or None) on an adapter
        declaring ``capabilities`` (CAP-1: an instance may narrow what the server has)."""
        model = getattr(op, "model", None)
        if not isinstance(model, Model):
            raise UnsupportedError(f"unknown operation {type(op).__name__}")
        name = model.name
        self.check_open(name)
        check_capabilities(capabilities, op)  # a locking read: no locking_reads here
        entry = self.model(model)
        if name not in self.existing:
            return self._checked(entry, op, session)
        with driver_errors(name):
            return self._plan(entry, op, session)

    def _plan(self, entry: _Model, op: Operation[Any], session: Any) -> Plan:
        name = entry.name
        if isinstance(op, Find):
            return self._find(entry, op, session)
        if isinstance(op, Insert):
            return self._insert(entry, op, session)
        if isinstance(op, Count):
            where = compile_filter(entry.codec, op.where)
            return Call(name, "count_documents", (where,), {"session": session}, model=name)
        if isinstance(op, Update):
            return self._update(entry, op, session)
        if isinstance(op, Delete):
            where = compile_filter(entry.codec, op.where)
            kwargs = {"session": session}
            return Call(name, "delete_many", (where,), kwargs, model=name, then=_deleted)
        if isinstance(op, Upsert):
            return self._upsert(entry, op, session)
        raise UnsupportedError(f"unknown operation {type(op).__name__}", model=name)

    def _checked(self, entry: _Model, op: Operation[Any], session: Any) -> Program[Any]:
        """BOOT-4: MongoDB would create a missing collection on the first write (and
        answer reads of it as empty); no-orm never creates one outside bootstrap()."""
        name = entry.name
        with driver_errors(name):
            names = yield Call(DATABASE, "list_collection_names", (), {"filter": {"name": name}})
            if name not in names:
                raise BackendError(
                    f"the collection {name!r} does not exist: bootstrap() creates it (no-orm "
                    "never creates a collection implicitly)",
                    model=name,
                )
            self.existing.add(name)
            plan = self._plan(entry, op, session)
        return (yield from _as_program(plan) if isinstance(plan, Call) else plan)

    def _find(self, entry: _Model, op: Find, session: Any) -> Plan:
        if op.limit is not None and op.limit <= 0:
            return _returning([])
        codec = entry.codec
        where = compile_filter(codec, op.where)
        sort = compile_sort(codec, op.order) or None
        read = self._read(entry, where, sort, op.limit, 0, session)
        if not entry.batch:
            return read
        return self._read_fitting(entry, read, where, sort, op.limit, session)

    def _read_fitting(
        self,
        entry: _Model,
        read: Call,
        where: Document,
        sort: list[tuple[str, int]] | None,
        limit: int | None,
        session: Any,
    ) -> Program[list[Document]]:
        # The server's batches first: a reply too large for the driver is refused by its
        # header (ProtocolError, the connection is dropped), and a read can simply run
        # again in batches that always fit. Rows that large are rare; a reply per few
        # rows for every read (11 for a page of 20) is not.
        with driver_errors(entry.name):
            try:
                docs = yield read
            except ProtocolError:
                docs = yield self._read(entry, where, sort, limit, entry.batch, session)
        return entry.rows(docs)

    def _read(
        self,
        entry: _Model,
        where: Document,
        sort: list[tuple[str, int]] | None,
        limit: int | None,
        batch: int,
        session: Any,
    ) -> Call:
        kwargs = {"sort": sort, "limit": limit or 0, "batch_size": batch, "session": session}
        return Call(entry.name, "find", (where,), kwargs, LIST, entry.name, entry.rows)

    # --- insert ---------------------------------------------------------------------------

    def _encode(self, codec: Codec, doc: Document) -> RawBSONDocument:
        """``doc`` as BSON, once (pymongo sends it as it is), refused before any I/O when
        the server cannot store it. Within LIM-ROW a row is at most ~15.7 MB of BSON."""
        data = bson.encode(doc)
        if len(data) > self._max_bson:
            raise BackendError(
                f"a row encodes to {len(data)} bytes of BSON; the server stores documents of "
                f"at most {self._max_bson} bytes",
                model=codec.name,
            )
        return RawBSONDocument(data)

    def _insert(self, entry: _Model, op: Insert, session: Any) -> Plan:
        codec, name = entry.codec, entry.name
        docs = [codec.document(row) for row in op.rows]  # every check before any I/O
        raw = [self._encode(codec, doc) for doc in docs]
        if len(docs) == 1:
            kwargs = {"session": session}
            return Call(name, "insert_one", (raw[0],), kwargs, model=name, then=_none)
        _refuse_repeats(entry, op.rows)
        if _in_transaction(session):
            kwargs = {"ordered": True, "session": session}
            return Call(name, "insert_many", (raw,), kwargs, model=name, then=_none)
        return self._insert_batch(entry, docs, raw)

    def _insert_batch(
        self, entry: _Model, docs: list[Document], raw: list[RawBSONDocument]
    ) -> Program[None]:
        # No transaction: insert in ordered statements and, when one fails, delete the
        # rows this call wrote, which are exactly the rows before the failing one.
        step = self._insert_statement or len(raw)
        written = 0
        with driver_errors(entry.name):
            for start in range(0, len(raw), step):
                part = raw[start : start + step]
                try:
                    yield Call(entry.name, "insert_many", (part,), {"ordered": True})
                except BulkWriteError as exc:
                    mine, unsure = yield from self._written_by(
                        entry, exc, docs[start : start + step]
                    )
                    yield from _undo_insert(entry, docs, written, mine, unsure, exc)
                    raise
                except DRIVER_ERRORS as exc:
                    # Not a refused row (the connection, the server): what this statement
                    # wrote is unknown; remove what the earlier ones did.
                    yield from _undo_insert(entry, docs, written, [], len(part), exc)
                    raise
                written += len(part)

    def _written_by(
        self, entry: _Model, exc: BulkWriteError, sent: list[Document]
    ) -> Program[tuple[list[Any], int]]:
        """The ``_id``s one failed ordered insert of ``sent`` wrote, and how many more rows
        it may have written that cannot be told apart from rows that were there before."""
        details = exc.details
        inserted = int(details.get("nInserted", 0))
        failed = sorted(int(e.get("index", 0)) for e in details.get("writeErrors", []))
        first = failed[0] if failed else inserted
        ids = [doc["_id"] for doc in sent]
        if inserted <= first:  # ordered: exactly the rows before the first refused one
            return ids[:inserted], 0
        # The server went on after the refused row: FerretDB run with --test-batch-size
        # below FERRETDB_INSERT_STATEMENT inserts one more of its batches. Later rows that
        # exist now and hold exactly what this call sent are the ones it wrote; if they
        # are not as many as the server counts, some cannot be told apart.
        extra = inserted - first
        with self._lock:
            if self._insert_statement > extra:
                self._insert_statement = extra  # the next batches stop where they should
        refused = set(failed)
        rest = [k for k in range(first + 1, len(ids)) if k not in refused]
        later = {_hashable(ids[k]): sent[k] for k in rest}
        found = []
        for group in _id_groups([ids[k] for k in rest]):
            kwargs = {"batch_size": entry.batch}
            docs = yield Call(entry.name, "find", ({"_id": {"$in": group}},), kwargs, LIST)
            for doc in docs:
                if later.get(_hashable(doc["_id"])) == doc:
                    found.append(doc["_id"])
        if len(found) == extra:
            return ids[:first] + found, 0
        return ids[:first], extra

    # --- update ---------------------------------------------------------------------------

    def _update(self, entry: _Model, op: Update, session: Any) -> Plan:
        codec, name = entry.codec, entry.name
        where = compile_filter(codec, op.where)
        change = codec.update(op.values)
        at_risk = entry.at_risk(op.values)
        if _in_transaction(session) or not at_risk:
            kwargs = {"session": session}
            return Call(name, "update_many", (where, change), kwargs, model=name, then=_matched)
        return self._update_guarded(entry, op, where, change, at_risk)

    def _update_guarded(
        self,
        entry: _Model,
        op: Update,
        where: Document,
        change: Document,
        at_risk: list[Index],
    ) -> Program[int]:
        # update_many is not atomic: a unique-index collision half-way leaves the rows
        # before it changed. Refuse what must collide among the matched rows before
        # writing anything, and keep the old values to put them back otherwise.
        codec, name = entry.codec, entry.name
        touched = [codec.storage[field] for field in op.values]
        columns = set(touched).union(codec.storage[c.field] for ix in at_risk for c in ix.columns)
        with driver_errors(name):
            projection = dict.fromkeys(columns, 1)
            kwargs = {"batch_size": entry.batch}
            before: list[Document] = yield Call(name, "find", (where, projection), kwargs, LIST)
            if not before:
                return 0
            _refuse_update_collisions(entry, at_risk, op.values, before)
            if len(before) == 1:  # one document is updated atomically: nothing to restore
                only = _and(where, codec.key_filter(before[0]["_id"]))
                return _matched((yield Call(name, "update_many", (only, change))))
            matched = 0
            # Only the rows read above (whose old values are known) are updated.
            for ids in _id_groups([doc["_id"] for doc in before]):
                selector = _and(where, {"_id": {"$in": ids}})
                try:
                    matched += _matched((yield Call(name, "update_many", (selector, change))))
                except DRIVER_ERRORS as exc:
                    if not is_duplicate(exc):
                        raise
                    yield from _undo_update(entry, before, op.values, change, exc)
                    raise
            return matched

    # --- upsert ---------------------------------------------------------------------------

    def _upsert_filter(self, codec: Codec, op: Upsert, key: Any) -> dict[str, Any]:
        """The key (top-level equalities, pushed down by FerretDB) and the scope."""
        return conjunction(codec.key_filter(key), compile_filter(codec, op.where))

    def _upsert(
        self, entry: _Model, op: Upsert, session: Any
    ) -> Program[UpsertResult[Document] | None]:
        codec = entry.codec
        with driver_errors(entry.name):
            doc = codec.document(op.row)
            change = codec.update({name: op.row[name] for name in op.update})
            if op.where is None:
                try:
                    done = yield from self._upsert_unscoped(entry, doc, change, session)
                except DRIVER_ERRORS as exc:
                    if _in_transaction(session) or not is_duplicate(exc):
                        raise
                    done = None  # a concurrent insert or a unique index: the loop finds out
                if done is not None:
                    return done
            return (yield from self._upsert_scoped(entry, op, doc, change, session))

    def _upsert_unscoped(
        self, entry: _Model, doc: Document, change: Document, session: Any
    ) -> Program[UpsertResult[Document] | None]:
        """One ``findAndModify(upsert)``: ``change`` on the existing row, or ``doc``
        inserted (the key from the query's equalities, every other field from
        ``$setOnInsert``). Without a scope every existing row is the one to update.
        None when the update would be empty (a model of key fields only)."""
        codec = entry.codec
        query = codec.key_filter(doc["_id"])
        taken = change.get("$set", {})
        on_insert = {k: v for k, v in doc.items() if k not in taken and k not in query}
        update = {**change, "$setOnInsert": on_insert} if on_insert else change
        if not update:
            return None
        options = {
            "query": query,
            "update": update,
            "upsert": True,
            "new": True,
            "codec_options": CODEC_OPTIONS,
            "session": session,
        }
        reply = yield Call(DATABASE, "command", ("findAndModify", entry.name), options)
        existed = bool(reply.get("lastErrorObject", {}).get("updatedExisting"))
        return UpsertResult(codec.row(reply["value"]), inserted=not existed)

    def _upsert_scoped(
        self,
        entry: _Model,
        op: Upsert,
        doc: Document,
        change: Document,
        session: Any,
    ) -> Program[UpsertResult[Document] | None]:
        """Update the row only if it is in the scope, else insert ``doc``; None when the
        key exists outside the scope (the kit raises DuplicateKeyError). Each step is a
        single-document atomic operation; a row deleted in between is tried again."""
        codec, name = entry.codec, entry.name
        key = codec.key_filter(doc["_id"])
        selector = self._upsert_filter(codec, op, doc["_id"])
        in_tx = _in_transaction(session)
        on_session = {"session": session}
        look = Call(name, "find_one", (key, {"_id": 1}), on_session)
        for _ in range(_UPSERT_ATTEMPTS):
            if change:
                options = {"return_document": ReturnDocument.AFTER, "session": session}
                found = yield Call(name, "find_one_and_update", (selector, change), options)
            else:
                found = yield Call(name, "find_one", (selector,), on_session)
            if found is not None:
                return UpsertResult(codec.row(found), inserted=False)
            # In a transaction a failed insert aborts it, so look before inserting there.
            if in_tx and (yield look) is not None:
                return None
            try:
                yield Call(name, "insert_one", (doc,), on_session)
                return UpsertResult(codec.row(doc), inserted=True)
            except PyMongoError as exc:
                if in_tx or not is_duplicate(exc) or _other_index(exc):
                    raise
            if (yield look) is not None:
                return None  # it exists outside the scope: the kit reports a duplicate
            # The row vanished in between, or the collision was on a unique index: retry.
        raise DuplicateKeyError(
            "the row collides with a unique index value that exists", model=codec.name
        )

    # --- internals ------------------------------------------------------------------------

    def model(self, model: Model[Any]) -> _Model:
        entry = self._models.get(id(model))
        if entry is not None and entry.model is model:
            return entry
        codec = Codec(model, ferretdb=bool(self.ferretdb))
        batch = 0
        if self.ferretdb:  # MongoDB itself keeps a reply within 16 MiB
            fits = (self._max_message - 1024 * 1024) // codec.max_bytes(self._max_bson)
            batch = 0 if fits >= _FERRETDB_DEFAULT_BATCH else max(1, fits)
        entry = _Model(model, codec, batch)
        with self._lock:
            self._models[id(model)] = entry
        return entry


def _index_mismatch(model: Model[Any], plan: IndexPlan, current: Document) -> SchemaMismatchError:
    """BOOT-6: an index exists under a planned name with another definition."""
    keys = dict(current.get("key", {}))
    unique = "unique " if current.get("unique") else ""
    what = "the primary key's index" if plan.name == PK_INDEX else f"index {plan.name!r}"
    return SchemaMismatchError(
        f"{what} exists as {unique}{keys}, the model needs "
        f"{'unique ' if plan.unique else ''}{dict(plan.keys)}; bootstrap() does not redefine "
        "indexes or keys (BOOT-6)",
        model=model.name,
        index=plan.name,
    )


def _other_index(exc: PyMongoError) -> bool:
    """Whether MongoDB says the collision was on another index than ``_id``.

    FerretDB does not say which index collided; then the upsert loop finds out.
    """
    details = getattr(exc, "details", None) or {}
    pattern = details.get("keyPattern")
    return isinstance(pattern, dict) and "_id" not in pattern


def _in_transaction(session: Any) -> bool:
    return session is not None and bool(session.in_transaction)


def _restoring(doc: Document, keys: list[str]) -> Document:
    set_ = {key: doc[key] for key in keys if key in doc}
    unset = {key: "" for key in keys if key not in doc}
    out: Document = {}
    if set_:
        out["$set"] = set_
    if unset:
        out["$unset"] = unset
    return out


_ABSENT = object()


def _undo_insert(
    entry: _Model,
    docs: list[Document],
    written: int,
    mine: list[Any],
    unsure: int,
    cause: BaseException,
) -> Program[None]:
    """Delete what a failed batch wrote: the ``written`` rows of its earlier statements
    and the ``mine`` rows of the failed one (OP-INS), by ``_id``: never a row that was
    there before, since the rows this call wrote had keys no stored row had."""
    codec = entry.codec
    ids = [doc["_id"] for doc in docs[:written]] + mine
    total = len(docs)
    try:
        if ids:
            yield from _delete_ids(entry, ids)
    except DRIVER_ERRORS as cleanup:
        raise BackendError(
            f"the batch failed after writing {len(ids)} of its {total} rows, and removing "
            f"them failed too ({translate(cleanup, None)}); those rows are still stored",
            model=codec.name,
        ) from cause
    if unsure:
        raise BackendError(
            f"the batch failed ({translate(cause, None)}); the {len(ids)} rows it is known "
            f"to have written were removed, but up to {unsure} more of its {total} rows "
            "may be stored",
            model=codec.name,
        ) from cause


def _undo_update(
    entry: _Model,
    before: list[Document],
    values: dict[str, Any],
    change: Document,
    cause: BaseException,
) -> Program[None]:
    """Put back the old values of the rows a failed ``update_many`` changed.

    The changed rows are the matched ones that now hold every new value (a scalar
    equality FerretDB evaluates in PostgreSQL); each is restored by an ``UpdateMany``
    (``multi: true``) that also requires those new values, so a row changed again
    meanwhile keeps that newer change. Rows with the same old values share one
    statement. Never ``UpdateOne``: FerretDB v1 would hold a connection per statement.
    """
    codec, name = entry.codec, entry.name
    touched = [codec.storage[field] for field in values]
    set_: Document = change.get("$set", {})
    unset: Document = change.get("$unset", {})
    # Every new value but json ones ({f: null} matches the absent, NULL, field).
    new: Document = {
        codec.storage[field]: codec.value(field, value)
        for field, value in values.items()
        if codec.kinds[field] != JSON
    }

    def differs(doc: Document) -> bool:
        return any(doc.get(key, _ABSENT) != value for key, value in set_.items()) or any(
            key in doc for key in unset
        )

    candidates = {_hashable(doc["_id"]): doc for doc in before if differs(doc)}
    try:
        changed: list[Document] = []
        for ids in _id_groups([doc["_id"] for doc in candidates.values()]):
            probe = {**new, "_id": {"$in": ids}}
            for found in (yield Call(name, "find", (probe, {"_id": 1}), kind=LIST)):
                doc = candidates.get(_hashable(found["_id"]))
                if doc is not None:
                    changed.append(doc)
        groups: dict[bytes, tuple[Document, list[Any]]] = {}
        for doc in changed:
            restore = _restoring(doc, touched)
            groups.setdefault(bson.encode(restore), (restore, []))[1].append(doc["_id"])
        statements: list[UpdateMany] = []
        for restore, ids in groups.values():
            for part in _id_groups(ids):
                if len(part) == 1:
                    statements.append(UpdateMany({**new, **codec.key_filter(part[0])}, restore))
                else:
                    statements.append(UpdateMany({**new, "_id": {"$in": part}}, restore))
        if statements:
            yield Call(name, "bulk_write", (statements,), {"ordered": False})
    except DRIVER_ERRORS as cleanup:
        raise BackendError(
            "the update collided with a unique index half-way and restoring the rows "
            f"it had changed failed ({translate(cleanup, None)}); some of them may keep "
            "the new values",
            model=codec.name,
        ) from cause


def _and(where: Document, extra: Document) -> Document:
    """``where`` (``{}`` matches every document) and ``extra``, flat; ``where`` first,
    since FerretDB evaluates conditions in order and ``extra`` may be a long ``$in``."""
    return conjunction(where, extra)


def _hashable(value: Any) -> Any:
    """An ``_id`` as a dict key: a composite key's document as its (ordered) items."""
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def _id_groups(ids: list[Any], most: int = 0) -> Iterator[list[Any]]:
    """``ids`` in groups (of at most ``most``, if given) whose ``$in`` stays well inside a
    command's 16 MiB."""
    group: list[Any] = []
    size = 0
    for key in ids:
        width = len(key) * 4 + 16 if isinstance(key, str) else len(bson.encode({"": key}))
        if group and (size + width > _ID_BYTES_PER_STATEMENT or len(group) == most):
            yield group
            group, size = [], 0
        group.append(key)
        size += width
    if group:
        yield group


def _delete_ids(entry: _Model, ids: list[Any]) -> Program[None]:
    codec = entry.codec
    ids = sorted(ids, key=codec.first_value)  # so that each statement's range is narrow
    for group in _id_groups(ids, _DELETE_GROUP):
        yield Call(entry.name, "delete_many", (_among(codec, group),))


def _among(codec: Codec, ids: list[Any]) -> Document:
    """``{_id: {$in: ids}}`` behind the range of the keys (of their first field, for a
    composite key): FerretDB tests a ``$in`` element by element on every document, but
    stops at a failed ``$gte``/``$lte`` first, so a document outside the range costs one
    comparison instead of ``len(ids)``."""
    firsts = [codec.first_value(key) for key in ids]
    bounds = {"$gte": min(firsts), "$lte": max(firsts)}
    first = codec.storage[codec.key_fields[0]]  # "_id" for a one-field key
    if first == "_id":
        return {"_id": {**bounds, "$in": ids}}
    return {first: bounds, "_id": {"$in": ids}}


def _refuse_repeats(entry: _Model, rows: tuple[dict[str, Any], ...]) -> None:
    """A batch that repeats a primary key or a unique index value collides with itself:
    refused before any I/O (SQL semantics: a NULL column never collides)."""
    codec = entry.codec
    if len({codec.key_of(row) for row in rows}) != len(rows):
        raise DuplicateKeyError("the batch repeats a primary key", model=codec.name)
    for index in entry.unique:
        fields = [c.field for c in index.columns]
        seen: set[tuple[Any, ...]] = set()
        for row in rows:
            values = tuple(row[f] for f in fields)
            if None in values:
                continue
            if values in seen:
                raise DuplicateKeyError(
                    f"the batch repeats a value of the unique index {index.name!r}",
                    model=codec.name,
                )
            seen.add(values)


def _refuse_update_collisions(
    entry: _Model, at_risk: list[Index], values: dict[str, Any], before: list[Document]
) -> None:
    """An update that would give two of the rows it matches the same values of a unique
    index is refused before anything is written (the server would refuse it half-way)."""
    codec = entry.codec
    for index in at_risk:
        parts: list[tuple[bool, Any]] = []
        for column in index.columns:
            if column.field in values:
                parts.append((True, codec.value(column.field, values[column.field])))
            else:
                parts.append((False, codec.storage[column.field]))
        seen: set[tuple[Any, ...]] = set()
        for doc in before:
            key: list[Any] = []
            for fixed, item in parts:
                value = item if fixed else doc.get(item)
                if value is None:
                    break
                key.append(_hashable(value))
            else:
                found = tuple(key)
                if found in seen:
                    raise DuplicateKeyError(
                        f"the update gives several rows the same values of the unique index "
                        f"{index.name!r}",
                        model=codec.name,
                    )
                seen.add(found)
