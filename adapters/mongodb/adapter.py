"""The MongoDB adapter: operations as pymongo calls, spec semantics without transactions.

Without multi-document transactions (FerretDB, standalone servers) every operation is
made as atomic as single-document writes allow, and the residual races are documented
in docs/backends/mongodb.md:

- an insert batch is checked for existing keys first and, if the server still refuses
  part of it (a race, or a unique index), the part it wrote is deleted again (OP-INS);
- an upsert is an ``insert_one`` and, on a key collision, a ``find_one_and_update``
  filtered by the key *and* the scope, so a row of another scope is never touched;
- an update that sets a column of a unique index restores the rows it changed when
  the server reports a collision half-way (update_many is not atomic).

With transactions (a replica set or sharded cluster that is not FerretDB) the same
operations run inside the session's transaction instead, where none of that is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC
from typing import Any, TypeAlias, TypeVar, cast

from bson.codec_options import CodecOptions
from pymongo import MongoClient, ReturnDocument, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConfigurationError, OperationFailure, PyMongoError

import noorm
from noorm.spec import (
    BackendError,
    Capability,
    Count,
    Delete,
    DuplicateKeyError,
    Find,
    Insert,
    Model,
    Operation,
    Schema,
    UnsupportedError,
    Update,
    Upsert,
    UpsertResult,
)

from .codec import Codec
from .errors import driver_errors, is_duplicate, translate
from .indexes import describe_collection, index_plans
from .mql import compile_filter, compile_sort, render

__all__ = ["MongoAdapter", "MongoTransaction"]

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


class _Model:
    """What the adapter keeps per model: its codec and collection."""

    __slots__ = ("codec", "collection", "model", "unique_fields")

    def __init__(self, model: Model[Any], codec: Codec, collection: Collection[Document]) -> None:
        self.model = model
        self.codec = codec
        self.collection = collection
        self.unique_fields = frozenset(
            c.field for index in model.indexes if index.unique for c in index.columns
        )


class MongoAdapter:
    """A no-orm adapter on one MongoDB (or FerretDB) database.

    ``MongoAdapter(url_or_client_or_database, database=None)``: a URL opens (and
    :meth:`close` closes) its own client; a ``MongoClient`` or ``Database`` stays the
    caller's. The database name comes from ``database``, the Database, or the URL.
    The server is asked once, here, what it supports.

    ``allow_non_atomic_transactions=True`` lets :meth:`transaction` run its block
    directly on a server without transactions; the TRANSACTIONS capability is still
    not declared, since nothing is rolled back.
    """

    name: str = "mongodb"
    version: str = noorm.__version__
    capabilities: frozenset[Capability]

    def __init__(
        self,
        target: MongoClient[Any] | Database[Any] | str,
        database: str | None = None,
        *,
        allow_non_atomic_transactions: bool = False,
    ) -> None:
        self._owned: MongoClient[Document] | None = None
        client: MongoClient[Any]
        if isinstance(target, str):
            timeout = {} if "serverselectiontimeoutms" in target.lower() else _FAIL_FAST
            client = self._owned = MongoClient(target, **timeout)
            try:
                base: Database[Any] = client.get_database(database or _default_database(client))
            except ValueError:
                client.close()
                raise
        elif isinstance(target, Database):
            if database is not None and database != target.name:
                raise ValueError(f"database={database!r} contradicts the Database {target.name!r}")
            base, client = target, target.client
        elif isinstance(target, MongoClient):
            client = target
            base = client.get_database(database or _default_database(client))
        else:
            raise TypeError(
                f"expected a MongoClient, a Database or a URL, got {type(target).__name__}"
            )
        self._client: MongoClient[Any] = client
        self._db: Database[Document] = base.with_options(codec_options=CODEC_OPTIONS)
        self._allow_non_atomic = allow_non_atomic_transactions
        self._models: dict[int, _Model] = {}
        self._lock = threading.Lock()
        self._closed = False
        try:
            with driver_errors(None):
                build = self._db.command("buildInfo")
                hello = self._db.command("hello")
        except BaseException:
            self.close()
            raise
        ferretdb = build.get("ferretdbVersion")
        self.ferretdb: str | None = str(ferretdb) if ferretdb else None
        """FerretDB's version when the server is FerretDB, else None."""
        self._server_version = f"MongoDB {build.get('version', '?')}" + (
            f" (FerretDB {ferretdb})" if ferretdb else ""
        )
        replicated = "setName" in hello or hello.get("msg") == "isdbgrid"
        caps = {Capability.JSON_PATHS, Capability.CONCURRENT_BOOTSTRAP}
        if replicated and not ferretdb:
            caps.add(Capability.TRANSACTIONS)
        self.capabilities = frozenset(caps)

    # --- identity -------------------------------------------------------------------------

    @property
    def database(self) -> Database[Document]:
        """The database this adapter works on (with the adapter's codec options)."""
        return self._db

    @property
    def database_name(self) -> str:
        return self._db.name

    def server_version(self) -> str:
        """e.g. ``"MongoDB 7.0.42 (FerretDB v1.24.2)"``, from ``buildInfo``."""
        return self._server_version

    def close(self) -> None:
        """Close the client if the adapter opened it; later operations raise BackendError."""
        self._closed = True
        if self._owned is not None:
            self._owned.close()

    # --- Executor -------------------------------------------------------------------------

    def execute(self, op: Operation[T]) -> T:
        return self._run(op, None)

    def transaction(self) -> AbstractContextManager[MongoTransaction]:
        """A multi-document transaction (TX-1); nested ones raise UnsupportedError.

        Without server support this raises UnsupportedError (TX-4), unless the adapter
        was built with ``allow_non_atomic_transactions=True``: then the block runs its
        operations directly, with no rollback.
        """
        if Capability.TRANSACTIONS in self.capabilities:
            return self._session_transaction()
        if self._allow_non_atomic:
            return self._direct_block()
        raise UnsupportedError(
            f"{self._server_version} does not support transactions (they need a replica set "
            "or sharded cluster, and FerretDB has none); pass "
            "allow_non_atomic_transactions=True to run transaction blocks without atomicity",
            capability=Capability.TRANSACTIONS.value,
        )

    @contextmanager
    def _direct_block(self) -> Iterator[MongoTransaction]:
        self._check_open(None)
        tx = MongoTransaction(self, None)
        try:
            yield tx
        finally:
            tx._open = False

    @contextmanager
    def _session_transaction(self) -> Iterator[MongoTransaction]:
        self._check_open(None)
        with driver_errors(None):
            session = self._client.start_session()
        try:
            with driver_errors(None):
                session.start_transaction()
            tx = MongoTransaction(self, session)
            try:
                yield tx
            except BaseException:
                tx._open = False
                with suppress(PyMongoError):  # a failed write has already aborted it
                    session.abort_transaction()
                raise
            tx._open = False
            with driver_errors(None):
                session.commit_transaction()
        finally:
            session.end_session()

    # --- bootstrap ------------------------------------------------------------------------

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        """Create missing collections and indexes; returns a description per call.

        Idempotent and safe to run concurrently: "already exists" is success, and
        ``createIndex`` with an identical spec is a no-op. An index that exists under
        the same name with other keys raises BackendError (no migrations).
        """
        self._check_open(None)
        statements: list[str] = []
        entries = [self._model(model) for model in schema.models]  # refuse before creating
        with driver_errors(None):
            existing = set(self._db.list_collection_names())
        for entry in entries:
            model = entry.model
            collection = entry.collection
            with driver_errors(model.name):
                if model.name not in existing:
                    statements.append(describe_collection(model.name))
                    if not dry_run:
                        self._create_collection(model.name)
                    have: dict[str, Document] = {}
                else:
                    have = {str(ix["name"]): dict(ix) for ix in collection.list_indexes()}
                for plan in index_plans(model, entry.codec, partial_unique=not self.ferretdb):
                    current = have.get(plan.name)
                    if current is not None:
                        if not plan.matches(current):
                            raise BackendError(
                                f"index {plan.name!r} exists with another definition "
                                f"({dict(current.get('key', {}))}); the adapter does not migrate",
                                model=model.name,
                            )
                        continue
                    statements.append(plan.describe(model.name))
                    if not dry_run:
                        collection.create_index(list(plan.keys), **plan.options())
        return statements

    def _create_collection(self, name: str) -> None:
        try:
            self._db.create_collection(name, check_exists=False)
        except OperationFailure as exc:
            if exc.code != _NAMESPACE_EXISTS:  # a concurrent bootstrap got there first
                raise

    # --- statements -----------------------------------------------------------------------

    def statement(self, op: Operation[Any]) -> str | None:
        """The MQL ``op`` runs, operand values shown as ``?`` (for ``on_query``)."""
        try:
            entry = self._model(op.model)
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
                scope = render(self._upsert_filter(codec, op, None))
                change = render(codec.update({f: op.row[f] for f in op.update}))
                return f"{name}.insertOne(?) else findOneAndUpdate({scope}, {change})"
        except Exception:  # observability must never mask the operation's own outcome
            return None
        return None

    # --- operations -----------------------------------------------------------------------

    def _run(self, op: Operation[T], session: ClientSession | None) -> T:
        model = getattr(op, "model", None)
        if not isinstance(model, Model):
            raise UnsupportedError(f"unknown operation {type(op).__name__}")
        self._check_open(model.name)
        entry = self._model(model)
        with driver_errors(model.name):
            if isinstance(op, Find):
                return cast(T, self._find(entry, op, session))
            if isinstance(op, Insert):
                self._insert(entry, op, session)
                return cast(T, None)
            if isinstance(op, Count):
                where = compile_filter(entry.codec, op.where)
                return cast(T, entry.collection.count_documents(where, session=session))
            if isinstance(op, Update):
                return cast(T, self._update(entry, op, session))
            if isinstance(op, Delete):
                where = compile_filter(entry.codec, op.where)
                return cast(T, entry.collection.delete_many(where, session=session).deleted_count)
            if isinstance(op, Upsert):
                return cast(T, self._upsert(entry, op, session))
        raise UnsupportedError(f"unknown operation {type(op).__name__}", model=model.name)

    def _find(self, entry: _Model, op: Find, session: ClientSession | None) -> list[Document]:
        if op.limit is not None and op.limit <= 0:
            return []
        codec = entry.codec
        cursor = entry.collection.find(
            compile_filter(codec, op.where),
            sort=compile_sort(codec, op.order) or None,
            limit=op.limit or 0,
            session=session,
        )
        return [codec.row(doc) for doc in cursor]

    def _insert(self, entry: _Model, op: Insert, session: ClientSession | None) -> None:
        codec, collection = entry.codec, entry.collection
        docs = [codec.document(row) for row in op.rows]  # every check before any I/O
        if len(docs) == 1:
            collection.insert_one(docs[0], session=session)
            return
        if len({codec.key_of(row) for row in op.rows}) != len(op.rows):
            raise DuplicateKeyError("the batch repeats a primary key", model=codec.name)
        if _in_transaction(session):
            collection.insert_many(docs, ordered=True, session=session)
            return
        ids = [doc["_id"] for doc in docs]
        if collection.find_one({"_id": {"$in": ids}}, {"_id": 1}) is not None:
            raise DuplicateKeyError("a primary key of the batch already exists", model=codec.name)
        try:
            collection.insert_many(docs, ordered=True)
        except BulkWriteError as exc:
            # Ordered: exactly the first nInserted documents were written. Remove them,
            # so that the batch writes none of its rows (OP-INS).
            written = ids[: int(exc.details.get("nInserted", 0))]
            if written:
                try:
                    collection.delete_many({"_id": {"$in": written}})
                except PyMongoError as cleanup:
                    raise BackendError(
                        f"the batch failed after writing {len(written)} of {len(ids)} rows, "
                        f"and removing them failed too ({translate(cleanup, None)}); "
                        "those rows are still stored",
                        model=codec.name,
                    ) from exc
            raise

    def _update(self, entry: _Model, op: Update, session: ClientSession | None) -> int:
        codec, collection = entry.codec, entry.collection
        where = compile_filter(codec, op.where)
        change = codec.update(op.values)
        if _in_transaction(session) or not entry.unique_fields.intersection(op.values):
            return collection.update_many(where, change, session=session).matched_count
        # update_many is not atomic: a unique-index collision half-way leaves the rows
        # before it changed. Keep their old values to put them back in that case.
        keys = [codec.storage[name] for name in op.values]
        before = list(collection.find(where, {key: 1 for key in keys}))
        if not before:
            return 0
        ids = [doc["_id"] for doc in before]
        # Only the rows seen above, so that every row changed can be put back.
        where = {"$and": [where, {"_id": {"$in": ids}}]}
        try:
            return collection.update_many(where, change).matched_count
        except PyMongoError as exc:
            if len(ids) == 1 or not is_duplicate(exc):
                raise  # one document is updated atomically: nothing to restore
            restore = [UpdateOne({"_id": doc["_id"]}, _restoring(doc, keys)) for doc in before]
            try:
                collection.bulk_write(restore, ordered=False)
            except PyMongoError as cleanup:
                raise BackendError(
                    "the update collided with a unique index half-way and restoring the rows "
                    f"it had changed failed ({translate(cleanup, None)})",
                    model=codec.name,
                ) from exc
            raise

    def _upsert_filter(self, codec: Codec, op: Upsert, key: Any) -> dict[str, Any]:
        selector: dict[str, Any] = {"_id": key}
        scope = compile_filter(codec, op.where)
        return {"$and": [selector, scope]} if scope else selector

    def _upsert(
        self, entry: _Model, op: Upsert, session: ClientSession | None
    ) -> UpsertResult[Document] | None:
        codec, collection = entry.codec, entry.collection
        doc = codec.document(op.row)
        key = doc["_id"]
        selector = self._upsert_filter(codec, op, key)
        change = codec.update({name: op.row[name] for name in op.update})
        in_tx = _in_transaction(session)
        for _ in range(_UPSERT_ATTEMPTS):
            # In a transaction a failed insert aborts it, so look before inserting there.
            if not in_tx or collection.find_one({"_id": key}, {"_id": 1}, session=session) is None:
                try:
                    collection.insert_one(doc, session=session)
                    return UpsertResult(codec.row(doc), inserted=True)
                except PyMongoError as exc:
                    if in_tx or not is_duplicate(exc) or _other_index(exc):
                        raise
            if change:
                found = collection.find_one_and_update(
                    selector, change, return_document=ReturnDocument.AFTER, session=session
                )
            else:
                found = collection.find_one(selector, session=session)
            if found is not None:
                return UpsertResult(codec.row(found), inserted=False)
            if collection.find_one({"_id": key}, {"_id": 1}, session=session) is not None:
                return None  # it exists outside the scope: the kit reports a duplicate
            # The row vanished in between, or the collision was on a unique index: retry.
        raise DuplicateKeyError(
            "the row collides with a unique index value that exists", model=codec.name
        )

    # --- internals ------------------------------------------------------------------------

    def _model(self, model: Model[Any]) -> _Model:
        entry = self._models.get(id(model))
        if entry is not None and entry.model is model:
            return entry
        codec = Codec(model, nested_arrays=not self.ferretdb)
        entry = _Model(model, codec, self._db.get_collection(model.name))
        with self._lock:
            self._models[id(model)] = entry
        return entry

    def _check_open(self, model: str | None) -> None:
        if self._closed:
            raise BackendError("the MongoDB adapter is closed", model=model)


class MongoTransaction:
    """The executor of one transaction block (``session`` None: a non-atomic block)."""

    __slots__ = ("_adapter", "_open", "_session")

    def __init__(self, adapter: MongoAdapter, session: ClientSession | None) -> None:
        self._adapter = adapter
        self._session = session
        self._open = True

    def execute(self, op: Operation[T]) -> T:
        if not self._open:
            raise BackendError("this transaction has ended; use its executor inside the block")
        return self._adapter._run(op, self._session)

    def transaction(self) -> AbstractContextManager[MongoTransaction]:
        """MongoDB has no savepoints: a nested transaction raises UnsupportedError."""
        if self._session is None:
            return nullcontext(self)  # a non-atomic block nests as another non-atomic block
        raise UnsupportedError(
            "MongoDB has no savepoints: transactions cannot be nested",
            capability=Capability.SAVEPOINTS.value,
        )


def _other_index(exc: PyMongoError) -> bool:
    """Whether MongoDB says the collision was on another index than ``_id``.

    FerretDB does not say which index collided; then the upsert loop finds out.
    """
    details = getattr(exc, "details", None) or {}
    pattern = details.get("keyPattern")
    return isinstance(pattern, dict) and "_id" not in pattern


def _in_transaction(session: ClientSession | None) -> bool:
    return session is not None and session.in_transaction


def _restoring(doc: Document, keys: list[str]) -> Document:
    set_ = {key: doc[key] for key in keys if key in doc}
    unset = {key: "" for key in keys if key not in doc}
    out: Document = {}
    if set_:
        out["$set"] = set_
    if unset:
        out["$unset"] = unset
    return out


def _default_database(client: MongoClient[Any]) -> str:
    try:
        return client.get_default_database().name
    except ConfigurationError:
        raise ValueError(
            "no database name: pass database=... or put one in the URL (mongodb://host/name)"
        ) from None
