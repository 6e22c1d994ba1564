"""The MongoDB adapter against a real server (FerretDB in CI), through Store and raw ops.

Every test gets a fresh ``noorm_test_<uuid>`` database, dropped afterwards. The server
comes from NOORM_MONGODB_URL; without it, 127.0.0.1:27017 is tried and the module is
skipped if nothing answers there. Clause ids of docs/spec.md are in the test names or
comments; FerretDB differences are in docs/backends/mongodb.md.
"""

from __future__ import annotations

import enum
import math
import os
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pymongo = pytest.importorskip("pymongo", reason="pymongo is not installed (no-orm[mongodb])")

import bson  # noqa: E402
from pymongo import MongoClient, monitoring  # noqa: E402
from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError  # noqa: E402

import noorm  # noqa: E402
from noorm.adapters.memory import matches, sort_rows  # noqa: E402
from noorm.adapters.mongodb import MongoAdapter, MongoTransaction  # noqa: E402
from noorm.adapters.mongodb.codec import ESC, LEGACY_WRAP, WRAP, Codec  # noqa: E402
from noorm.adapters.mongodb.testing import ConformanceFactory  # noqa: E402
from noorm.kit import QueryEvent, Store, TenantScope  # noqa: E402
from noorm.spec import (  # noqa: E402
    ALL,
    Adapter,
    And,
    BackendError,
    BooleanType,
    Capability,
    Compare,
    Count,
    Delete,
    DuplicateKeyError,
    Field,
    FieldType,
    Filter,
    Find,
    In,
    Index,
    Insert,
    IntegerType,
    IsNull,
    JsonType,
    Model,
    NoOrmError,
    Not,
    NumberType,
    Operation,
    Or,
    Order,
    Schema,
    SchemaError,
    SchemaMismatchError,
    StringType,
    TimestampType,
    UnsupportedError,
    Update,
    Upsert,
    UpsertResult,
    ValidationError,
    and_,
    asc,
    desc,
    eq,
    gt,
    gte,
    in_,
    is_null,
    lt,
    ne,
    not_,
    not_in,
    or_,
    path,
)
from noorm.spec.limits import (  # noqa: E402
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    MAX_LIMIT,
    MAX_ORDER_FIELDS,
    MAX_PATH_KEYS,
    MAX_ROW_BYTES,
    json_bytes,
)

from ..faults.servers import PrivateFerretDB, ferretdb_binary  # noqa: E402

URL = os.environ.get("NOORM_MONGODB_URL") or "mongodb://127.0.0.1:27017/"


def _reachable() -> bool:
    if os.environ.get("NOORM_MONGODB_URL"):
        return True  # explicitly configured: a dead server must fail the tests, not skip them
    probe: MongoClient[Any] = MongoClient(URL, serverSelectionTimeoutMS=1000)
    try:
        probe.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        probe.close()


if not _reachable():
    pytest.skip(
        "no MongoDB server: NOORM_MONGODB_URL is unset and 127.0.0.1:27017 does not answer "
        '(eval "$(ci/services)" starts FerretDB)',
        allow_module_level=True,
    )

ITEMS = Model(
    "items",
    [
        Field("id", StringType(64)),
        Field("s", StringType(128), nullable=True),
        Field("n", NumberType(), nullable=True),
        Field("i", IntegerType(), nullable=True),
        Field("b", BooleanType(), nullable=True),
        Field("t", TimestampType(), nullable=True),
        Field("j", JsonType(), nullable=True),
        Field("text", StringType(), nullable=True),
    ],
    primary_key=["id"],
    indexes=[Index("items_s_i", ["s", ("i", "desc")])],  # narrow enough for TenantScope too
)
PAIRS = Model(
    "pairs",
    [
        Field("v", StringType(), nullable=True),
        Field("b", StringType(16)),
        Field("a", IntegerType()),
    ],
    primary_key=["b", "a"],  # declared out of field order on purpose
)
ACCOUNTS = Model(
    "accounts",
    [
        Field("id", IntegerType()),
        Field("org", StringType(16)),
        Field("email", StringType(100), nullable=True),
        Field("handle", StringType(32), nullable=True),
    ],
    primary_key=["id"],
    indexes=[
        Index("accounts_email", ["email"], unique=True),
        Index("accounts_org_handle", ["org", "handle"], unique=True),
    ],
)
SCHEMA = Schema([ITEMS, PAIRS, ACCOUNTS])


def row(id: str, **values: Any) -> dict[str, Any]:
    return {"id": id, **values}


def ids(rows: Any) -> list[Any]:
    return [r["id"] for r in rows]


@pytest.fixture(scope="module")
def client() -> Iterator[MongoClient[Any]]:
    shared: MongoClient[Any] = MongoClient(URL, serverSelectionTimeoutMS=5000)
    yield shared
    shared.close()


def _fresh_name() -> str:
    return f"noorm_test_{uuid.uuid4().hex}"


@pytest.fixture
def db_name(client: MongoClient[Any]) -> Iterator[str]:
    name = _fresh_name()
    yield name
    client.drop_database(name)


@pytest.fixture
def adapter(client: MongoClient[Any], db_name: str) -> Iterator[MongoAdapter]:
    made = MongoAdapter(client, db_name)
    yield made
    made.close()


@pytest.fixture
def store(adapter: MongoAdapter) -> Store:
    made = Store(SCHEMA, adapter)
    made.bootstrap()
    return made


def raw(adapter: MongoAdapter, collection: str, key: Any) -> dict[str, Any] | None:
    """The stored document, read with pymongo directly."""
    return adapter.database[collection].find_one({"_id": key})


def bson_type(adapter: MongoAdapter, collection: str, key: Any, field: str) -> str | None:
    """The BSON type name of a stored field, asked of the server with $type."""
    for name in ("double", "long", "int", "string", "bool", "date", "object", "array", "null"):
        if adapter.database[collection].find_one({"_id": key, field: {"$type": name}}):
            return name
    return None


# --- identity -----------------------------------------------------------------------------


def test_adapter_identity_and_capabilities(adapter: MongoAdapter) -> None:
    assert isinstance(adapter, Adapter)
    assert adapter.name == "mongodb"
    assert adapter.version == noorm.__version__
    assert adapter.server_version().startswith("MongoDB ")
    assert Capability.JSON_PATHS in adapter.capabilities
    assert Capability.CONCURRENT_BOOTSTRAP in adapter.capabilities
    assert Capability.SAVEPOINTS not in adapter.capabilities
    assert Capability.SCHEMA_INTROSPECTION not in adapter.capabilities  # no columns to read
    assert Capability.LOCKING_READS not in adapter.capabilities  # no SELECT ... FOR UPDATE
    # FerretDB v1 reads a document, then writes it: no compare-and-set (ISO-1).
    assert (Capability.ATOMIC_UPDATES in adapter.capabilities) is not bool(adapter.ferretdb)
    if adapter.ferretdb:
        assert adapter.server_version().endswith(f"(FerretDB {adapter.ferretdb})")
        assert Capability.TRANSACTIONS not in adapter.capabilities  # TX-4: never pretends


def test_constructor_accepts_a_url_a_client_or_a_database(
    client: MongoClient[Any], db_name: str
) -> None:
    by_url = MongoAdapter(f"{URL.rstrip('/')}/{db_name}")
    by_client = MongoAdapter(client, db_name)
    by_database = MongoAdapter(client[db_name])
    try:
        assert {by_url.database_name, by_client.database_name, by_database.database_name} == {
            db_name
        }
        by_url_store = Store(SCHEMA, by_url)
        by_url_store.bootstrap()
        by_url_store.insert(ITEMS, row("x"))
        assert Store(SCHEMA, by_database).get(ITEMS, {"id": "x"}) == {
            **dict.fromkeys(ITEMS.field_names),
            "id": "x",
        }
    finally:
        for made in (by_url, by_client, by_database):
            made.close()
    client.admin.command("ping")  # closing adapters never closes a client they were given
    with pytest.raises(ValueError, match="database"):
        MongoAdapter(client)
    with pytest.raises(ValueError, match="contradicts"):
        MongoAdapter(client[db_name], "other")
    with pytest.raises(TypeError):
        MongoAdapter(42)  # type: ignore[arg-type]


def test_an_unreachable_server_is_a_one_line_backend_error() -> None:
    with pytest.raises(BackendError) as caught:
        MongoAdapter("mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=200")
    assert isinstance(caught.value.__cause__, ServerSelectionTimeoutError)
    message = str(caught.value)
    assert "cannot reach the MongoDB server" in message and "\n" not in message
    assert "Topology" not in message


def test_a_closed_adapter_refuses_operations_and_closes_its_own_client(db_name: str) -> None:
    owned = MongoAdapter(f"{URL.rstrip('/')}/{db_name}")
    store = Store(SCHEMA, owned)
    store.bootstrap()
    owned.close()
    with pytest.raises(BackendError, match="closed"):
        store.count(ITEMS)
    with pytest.raises(PyMongoError):  # the URL's client itself is closed too
        owned._client.admin.command("ping")


# --- values (VAL, STR, NUM, BOOL, TS, JSON) -------------------------------------------------

STRINGS = [
    "",
    "😀 astral \U0010ffff",
    "e\u0301 combining",
    "\ue000 private use \uffff",
    "\x01\x1f\x7f control\r\n\t",
    "quotes ' \" ` \\ $ . { }",
    "x" * 5000,
]


@pytest.mark.parametrize("value", STRINGS, ids=lambda v: repr(v)[:20])
def test_strings_round_trip_exactly(store: Store, value: str) -> None:  # STR-1, STR-3
    assert store.insert(ITEMS, row("k", text=value))["text"] == value
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["text"] == value
    assert ids(store.find(ITEMS, eq("text", value))) == ["k"]
    assert ids(store.find(ITEMS, is_null("text"))) == []


@pytest.mark.parametrize("key", ["😀", "e\u0301", "", "a.b", "$x", "'; --"], ids=repr)
def test_odd_strings_are_primary_keys(store: Store, key: str) -> None:  # STR-1, OP-GET
    store.insert(ITEMS, row(key, i=1))
    got = store.get(ITEMS, {"id": key})
    assert got is not None and got["id"] == key
    assert store.update(ITEMS, {"i": 2}, key={"id": key}) == 1
    assert store.delete(ITEMS, key={"id": key}) == 1
    assert store.count(ITEMS) == 0


@pytest.mark.parametrize(
    "value", [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 0.1]
)
def test_doubles_round_trip_bit_exactly(
    store: Store, adapter: MongoAdapter, value: float
) -> None:  # NUM-1
    store.insert(ITEMS, row("k", n=value))
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None
    assert got["n"] == value and type(got["n"]) is float
    if value == 0:
        assert math.copysign(1.0, got["n"]) == 1.0  # -0.0 is stored as 0.0
    else:
        assert got["n"].hex() == value.hex()
    assert ids(store.find(ITEMS, eq("n", value))) == ["k"]
    assert bson_type(adapter, "items", "k", "n") == "double"


def test_ints_in_number_fields_are_stored_as_doubles(store: Store, adapter: MongoAdapter) -> None:
    store.insert(ITEMS, row("k", n=3))  # NUM-1: accepted, stored and returned as a float
    assert bson_type(adapter, "items", "k", "n") == "double"
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["n"] == 3.0 and type(got["n"]) is float


@pytest.mark.parametrize(
    "value", [0, 1, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, -(2**63), -(2**63) + 1]
)
def test_integers_are_exact_int64(store: Store, adapter: MongoAdapter, value: int) -> None:
    store.insert(ITEMS, row("k", i=value))  # NUM-2
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["i"] == value and type(got["i"]) is int
    assert bson_type(adapter, "items", "k", "i") == "long"
    assert ids(store.find(ITEMS, eq("i", value))) == ["k"]
    assert ids(store.find(ITEMS, ne("i", value))) == []


def test_int64_neighbours_compare_exactly(store: Store) -> None:  # NUM-2, ORD-1
    values = [2**63 - 1, 2**63 - 2, 2**53 + 1, 2**53, 2**53 - 1, -(2**63), -(2**63) + 1]
    store.insert_many(ITEMS, [row(f"r{k}", i=v) for k, v in enumerate(values)])
    ordered = [r["i"] for r in store.find(ITEMS, order_by="i")]
    assert ordered == sorted(values)
    assert sorted(r["i"] for r in store.find(ITEMS, gt("i", 2**53))) == [
        2**53 + 1,
        2**63 - 2,
        2**63 - 1,
    ]
    assert ids(store.find(ITEMS, eq("i", 2**63 - 2))) == ["r1"]


def test_booleans_round_trip_and_never_equal_numbers(store: Store) -> None:  # BOOL-1
    store.insert_many(ITEMS, [row("t", b=True), row("f", b=False), row("n")])
    got = {r["id"]: r["b"] for r in store.find(ITEMS, ALL)}
    assert got == {"t": True, "f": False, "n": None}
    assert all(type(v) is bool for v in got.values() if v is not None)
    assert ids(store.find(ITEMS, eq("b", True))) == ["t"]
    assert ids(store.find(ITEMS, lt("b", True))) == ["f"]  # a boolean *field* orders False < True


@pytest.mark.parametrize(
    "given,stored",
    [
        (datetime(1000, 1, 1, tzinfo=UTC), datetime(1000, 1, 1, tzinfo=UTC)),
        (
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        ),
        (
            datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        ),
        (
            datetime(2024, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 2, 29, 23, 30, tzinfo=UTC),
        ),
    ],
)
def test_timestamps_are_bson_dates_and_come_back_aware_utc(
    store: Store, adapter: MongoAdapter, given: datetime, stored: datetime
) -> None:  # TS-1..3
    store.insert(ITEMS, row("k", t=given))
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["t"] == stored and got["t"].tzinfo is UTC
    assert bson_type(adapter, "items", "k", "t") == "date"
    assert ids(store.find(ITEMS, eq("t", given))) == ["k"]  # the filter value truncates too


JSON_DOCS: list[Any] = [
    {"a": 1, "b": [1, 2.5, "three", True, None, {"c": {"d": []}}], "e": {}},
    [[1, [2, [3]]], [], [[]], {"": ""}],
    {"big": 2**53, "neg": -(2**53), "mid": 2**40, "f": 1.0, "z": -0.0},
    {"unicode": "e\u0301 \U0010ffff", "ключ": "значение", "😀": "🎉"},
    {"a.b": {"$c": {"": [".", "$", ESC, WRAP, ESC + "z"]}}, ESC: 1, LEGACY_WRAP: [2], WRAP: [3]},
    [{WRAP: [1]}, {LEGACY_WRAP: [2]}, [{WRAP: []}], {ESC: [[]]}],
    "bare string",
    0,
    2.5,
    True,
    [],
    {},
]


@pytest.mark.parametrize("doc", JSON_DOCS, ids=lambda d: repr(d)[:30])
def test_json_documents_round_trip_with_their_number_kinds(store: Store, doc: Any) -> None:
    assert store.insert(ITEMS, row("k", j=doc))["j"] == doc  # JSON-1, JSON-3, JSON-4
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["j"] == doc
    assert _kinds(got["j"]) == _kinds(doc)


def _kinds(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _kinds(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_kinds(v) for v in doc]
    return type(doc)


def test_json_is_deep_copied_in_and_out(store: Store) -> None:  # JSON-1
    original: dict[str, Any] = {"l": [1, {"x": 2}]}
    returned = store.insert(ITEMS, row("k", j=original))
    original["l"].append(3)
    returned["j"]["l"].clear()
    first = store.get(ITEMS, {"id": "k"})
    assert first is not None and first["j"] == {"l": [1, {"x": 2}]}
    first["j"]["l"].clear()
    upserted = store.upsert(ITEMS, row("k"), update=[]).row
    assert upserted["j"] == {"l": [1, {"x": 2}]}


def test_keys_dot_notation_cannot_address_are_escaped_reversibly(
    store: Store, adapter: MongoAdapter
) -> None:  # JSON-4, FLT-JSON-3
    doc = {"a.b": 1, "$x": 2, "": 3, ESC: 4, "plain": 5}
    store.insert(ITEMS, row("k", j=doc))
    stored = raw(adapter, "items", "k")
    assert stored is not None
    assert set(stored["j"]) == {"a" + ESC + "db", ESC + "sx", ESC + "z", ESC + "e", "plain"}
    for k, key in enumerate(doc):
        assert ids(store.find(ITEMS, eq(path("j", key), k + 1))) == ["k"], key
    assert ids(store.find(ITEMS, eq(path("j", "a", "b"), 1))) == []  # one key, not two levels
    assert ids(store.find(ITEMS, is_null(path("j", "a")))) == ["k"]


def test_nested_arrays_are_stored_wrapped_where_the_server_needs_it(
    store: Store, adapter: MongoAdapter
) -> None:  # JSON-1 on FerretDB (no nested arrays)
    store.insert(ITEMS, row("k", j={"m": [[1, 2], [[3]]]}))
    stored = raw(adapter, "items", "k")
    assert stored is not None
    if adapter.ferretdb:
        assert stored["j"]["m"] == [{WRAP: [1, 2]}, {WRAP: [{WRAP: [3]}]}]
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["j"] == {"m": [[1, 2], [[3]]]}
    # A path never looks into arrays, wrapped or not (FLT-JSON-1).
    assert ids(store.find(ITEMS, is_null(path("j", "m", WRAP)))) == ["k"]
    assert ids(store.find(ITEMS, ne(path("j", "m"), 1))) == ["k"]
    # The wrapper of earlier versions ({ESC a: [...]}) still reads back.
    adapter.database["items"].insert_one(
        {"_id": "old", "j": {"m": [{LEGACY_WRAP: [1, 2]}, {LEGACY_WRAP: [{LEGACY_WRAP: []}]}]}}
    )
    got = store.get(ITEMS, {"id": "old"})
    assert got is not None and got["j"] == {"m": [[1, 2], [[]]]}


def test_lone_surrogates_are_rejected_before_any_write(store: Store) -> None:  # VAL-1
    for bad in (row("k", s="\ud800"), row("k", j={"\udfff": 1}), row("k", j=["ok", "\ud83d"])):
        with pytest.raises(ValidationError) as caught:
            store.insert_many(ITEMS, [row("first"), bad])
        field = "s" if "s" in bad else "j"
        assert (caught.value.model, caught.value.field) == ("items", field)
    assert store.count(ITEMS) == 0
    with pytest.raises(ValidationError):
        store.find(ITEMS, eq("s", "\ud800"))
    with pytest.raises(ValidationError):
        store.find(ITEMS, eq(path("j", "\ud800"), 1))


def test_null_is_an_absent_field(store: Store, adapter: MongoAdapter) -> None:  # VAL-2
    store.insert(ITEMS, row("k", s="x", j={"a": None}))
    assert raw(adapter, "items", "k") == {"_id": "k", "s": "x", "j": {"a": None}}
    store.update(ITEMS, {"s": None, "n": 1.5}, key={"id": "k"})
    assert raw(adapter, "items", "k") == {"_id": "k", "n": 1.5, "j": {"a": None}}
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["s"] is None and got["j"] == {"a": None}


def test_composite_keys_are_an_id_document_in_key_order_plus_top_level_copies(
    store: Store, adapter: MongoAdapter
) -> None:
    store.insert(PAIRS, {"a": 1, "b": "x", "v": "one"})
    doc = adapter.database["pairs"].find_one()
    assert doc is not None
    # Positional keys in primary-key order: field names would repeat in every _id index
    # entry (16 x 63 bytes of names overflow FerretDB's 2704-byte B-tree entries).
    assert list(doc["_id"].items()) == [("0", "x"), ("1", 1)]
    assert bson_type(adapter, "pairs", doc["_id"], "_id.1") == "long"
    assert list(doc) == ["_id", "v", "b", "a"]
    assert (doc["a"], doc["b"]) == (1, "x")
    assert store.get(PAIRS, {"a": 1, "b": "x"}) == {"v": "one", "b": "x", "a": 1}
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert(PAIRS, {"b": "x", "a": 1})
    assert caught.value.model == "pairs"
    assert store.update(PAIRS, {"v": "two"}, key={"b": "x", "a": 1}) == 1
    # An upsert inserts the same layout (its key from the query, the rest on insert).
    assert store.upsert(PAIRS, {"a": 2, "b": "x", "v": None}, update=["v"]).inserted
    upserted = adapter.database["pairs"].find_one({"a": 2})
    assert upserted is not None and upserted == {"_id": {"0": "x", "1": 2}, "b": "x", "a": 2}
    assert list(upserted["_id"]) == ["0", "1"]
    assert bson_type(adapter, "pairs", upserted["_id"], "_id.1") == "long"
    assert bson_type(adapter, "pairs", upserted["_id"], "a") == "long"
    assert store.delete(PAIRS, key={"a": 1, "b": "x"}) == 1


def test_bootstrap_refuses_composite_keys_stored_with_field_names(adapter: MongoAdapter) -> None:
    # Earlier versions stored {_id: {b: .., a: ..}}: the _id index would not refuse the
    # same key in the positional layout, so such a collection must be rewritten first.
    assert adapter.bootstrap(SCHEMA) != []
    adapter.database["pairs"].insert_one({"_id": {"b": "x", "a": bson.Int64(1)}, "b": "x"})
    with pytest.raises(BackendError, match="earlier version") as caught:
        adapter.bootstrap(SCHEMA)
    assert caught.value.model == "pairs"
    with pytest.raises(BackendError, match="earlier version"):  # a dry run says so too
        adapter.bootstrap(SCHEMA, dry_run=True)
    adapter.database["pairs"].delete_many({})
    adapter.database["pairs"].insert_one({"_id": {"0": "x", "1": bson.Int64(1)}, "b": "x"})
    assert adapter.bootstrap(SCHEMA) == []


# --- filters (FLT, NULL) ------------------------------------------------------------------


@pytest.fixture
def nullable(store: Store) -> Store:
    store.insert_many(
        ITEMS,
        [row("one", i=1, s="a"), row("two", i=2, s="b"), row("none"), row("zero", i=0, s="")],
    )
    return store


def test_not_is_the_exact_complement_and_includes_null(nullable: Store) -> None:  # FLT-LOGIC
    assert found(nullable, not_(eq("i", 1))) == ["none", "two", "zero"]
    assert found(nullable, not_(ne("i", 1))) == ["none", "one"]
    assert sorted(ids(nullable.find(ITEMS, not_(not_(eq("i", 1)))))) == ["one"]
    assert sorted(ids(nullable.find(ITEMS, not_(in_("s", []))))) == ["none", "one", "two", "zero"]


def test_ne_and_not_in_never_match_null(nullable: Store) -> None:  # NULL-1, FLT-IN
    assert sorted(ids(nullable.find(ITEMS, ne("i", 1)))) == ["two", "zero"]
    assert sorted(ids(nullable.find(ITEMS, not_in("i", [1, 2])))) == ["zero"]
    assert sorted(ids(nullable.find(ITEMS, not_in("s", [])))) == ["one", "two", "zero"]
    assert ids(nullable.find(ITEMS, in_("s", []))) == []
    assert sorted(ids(nullable.find(ITEMS, lt("i", 2)))) == ["one", "zero"]
    assert ids(nullable.find(ITEMS, is_null("i"))) == ["none"]
    assert sorted(ids(nullable.find(ITEMS, ne("s", None)))) == ["one", "two", "zero"]
    assert ids(nullable.find(ITEMS, eq("s", ""))) == ["zero"]  # STR-3


def test_empty_and_or_are_identities(nullable: Store) -> None:
    assert nullable.count(ITEMS, and_()) == 4
    assert nullable.count(ITEMS, or_()) == 0
    assert nullable.count(ITEMS, not_(or_())) == 4
    assert nullable.count(ITEMS, not_(and_())) == 0
    assert nullable.count(ITEMS, or_(eq("i", 1), and_())) == 4


TYPED: dict[str, Any] = {
    "int": {"v": 1},
    "float": {"v": 1.0},
    "frac": {"v": 1.5},
    "str": {"v": "1"},
    "true": {"v": True},
    "false": {"v": False},
    "zero": {"v": 0},
    "null": {"v": None},
    "missing": {"w": 1},
    "obj": {"v": {"x": 1}},
    "arr": {"v": [1]},
    "arrnull": {"v": [None]},
    "inarray": [{"v": 1}],
    "scalar": 1,
    "sql-null": None,
}
V = path("j", "v")


@pytest.fixture
def typed(store: Store) -> Store:
    store.insert_many(ITEMS, [row(k, j=v) for k, v in TYPED.items()])
    return store


def found(store: Store, where: Filter) -> list[str]:
    got = sorted(ids(store.find(ITEMS, where)))
    assert store.count(ITEMS, where) == len(got)
    return got


def test_path_comparisons_are_typed(typed: Store) -> None:  # FLT-JSON-1
    assert found(typed, eq(V, 1)) == ["float", "int"]
    assert found(typed, eq(V, "1")) == ["str"]
    assert found(typed, eq(V, True)) == ["true"]
    assert found(typed, eq(V, 0)) == ["zero"]
    assert found(typed, in_(V, [1, "x"])) == ["float", "int"]
    assert found(typed, in_(V, [True, "1"])) == ["str", "true"]
    assert found(typed, lt(V, 2)) == ["float", "frac", "int", "zero"]
    assert found(typed, gt(V, "0")) == ["str"]
    assert found(typed, lt(V, True)) == []  # booleans are not ordered at a path
    assert found(typed, gte(V, False)) == []


def test_null_missing_and_arrays_on_paths(typed: Store) -> None:  # FLT-JSON-2
    absent = ["inarray", "missing", "null", "scalar", "sql-null"]
    assert found(typed, is_null(V)) == absent
    assert found(typed, not_(is_null(V))) == sorted(set(TYPED) - set(absent))
    assert found(typed, ne(V, 1)) == [
        "arr",
        "arrnull",
        "false",
        "frac",
        "obj",
        "str",
        "true",
        "zero",
    ]
    assert found(typed, ne(V, True)) == sorted(set(TYPED) - set(absent) - {"true"})
    assert found(typed, not_in(V, [1, "1"])) == [
        "arr",
        "arrnull",
        "false",
        "frac",
        "obj",
        "true",
        "zero",
    ]
    assert found(typed, not_in(V, [])) == sorted(set(TYPED) - set(absent))
    assert found(typed, is_null(path("j", "v", "x"))) == sorted(set(TYPED) - {"obj"})
    assert found(typed, eq(path("j", "v", "x"), 1)) == ["obj"]
    for where in (eq(V, 1), lt(V, 9), ne(V, 1), in_(V, [1]), not_in(V, [2])):
        assert not set(found(typed, where)) & set(absent), where
        assert set(absent) <= set(found(typed, not_(where))), where
    assert found(typed, is_null("j")) == ["sql-null"]  # [None] is not NULL (FLT-TYPES)


def test_path_keys_are_data(store: Store) -> None:  # FLT-JSON-3
    keys = ["it's", 'say "hi"', "sp ace", "ключ", "😀", "a$", "0", "[0]", "a.b", "$ref", ""]
    store.insert_many(
        ITEMS, [row(f"r{k:02}", j={key: k, "a": {"b": -1}}) for k, key in enumerate(keys)]
    )
    for k, key in enumerate(keys):
        assert ids(store.find(ITEMS, eq(path("j", key), k))) == [f"r{k:02}"], key
    assert len(store.find(ITEMS, eq(path("j", "a", "b"), -1))) == len(keys)


SPACED_KEYS = [
    " a", "a ", " ", "  ", "\ta", "a\n", "\r", "\x0b\x0c", "\x85x", "x\xa0", "\u1680",
    "\u2000a\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000y\u3000", "a b",
    "\x1c", "\u200b", "\ufeff", ". a", "$ ", " $", ESC + " ", " " + ESC, "x" + ESC + "w0020",
]  # fmt: skip
"""Keys FerretDB stores but whose paths it refuses (leading or trailing Go white space),
their neighbours it accepts (inner space, U+001C, U+200B, U+FEFF), and mixes with the
other escapes."""


def test_keys_with_leading_or_trailing_spaces_are_selected_by_paths(
    store: Store, adapter: MongoAdapter
) -> None:  # JSON-4, FLT-JSON-3 on FerretDB
    docs = [{key: k, "n": {key: {key: "deep"}}} for k, key in enumerate(SPACED_KEYS)]
    rows = store.insert_many(ITEMS, [row(f"r{k:02}", j=doc) for k, doc in enumerate(docs)])
    assert [r["j"] for r in store.find(ITEMS, ALL)] == docs  # every key round-trips
    stored = raw(adapter, "items", "r00")
    assert stored is not None
    # FerretDB gets " a" escaped; a real MongoDB selects it as it is.
    assert next(iter(stored["j"])) == (ESC + "w0020a" if adapter.ferretdb else " a")
    for k, key in enumerate(SPACED_KEYS):
        wheres: list[Filter] = [
            eq(path("j", key), k),
            ne(path("j", key), k),
            in_(path("j", key), [k, -1]),
            not_in(path("j", key), [k]),
            is_null(path("j", key)),
            eq(path("j", "n", key, key), "deep"),
            gte(path("j", "n", key, key), "deep"),
            is_null(path("j", "n", key, "other")),
        ]
        for where in wheres:
            expected = [r["id"] for r in rows if matches(ITEMS, where, r)]
            assert ids(store.find(ITEMS, where)) == expected, (key, where)
            assert store.count(ITEMS, where) == len(expected), (key, where)


def test_store_key_escapes_are_reversible() -> None:  # JSON-4
    from noorm.adapters.mongodb.codec import FERRETDB_SPACES, load_key, store_key

    samples = [*SPACED_KEYS, "", ".", "$", "$.", ESC, ESC + "z", ESC + "e", "a.b.c", "plain"]
    samples += [c + "x" + c for c in FERRETDB_SPACES] + [c for c in FERRETDB_SPACES]
    for spaces in (False, True):
        stored = [store_key(key, spaces) for key in samples]
        assert [load_key(key) for key in stored] == samples
        assert len(set(stored)) == len(set(samples))
        for key in stored:
            assert key and "." not in key and not key.startswith("$")
            if spaces:
                assert key == key.strip("".join(FERRETDB_SPACES)), repr(key)


# --- ordering (ORD, STR-4) ----------------------------------------------------------------


def test_strings_order_by_code_point(store: Store) -> None:  # STR-4
    values = ["B", "a", "b", "é", "e\u0301", "ä", "Z", "", "\ue000", "\uffff", "😀", "\U00010000"]
    store.insert_many(ITEMS, [row(f"r{k:02}", s=v) for k, v in enumerate(values)])
    store.insert(ITEMS, row("null"))
    ascending = [r["s"] for r in store.find(ITEMS, order_by="s")]
    assert ascending == [None, *sorted(values)]
    descending = [r["s"] for r in store.find(ITEMS, order_by=desc("s"))]
    assert descending == [*sorted(values, reverse=True), None]  # ORD-1: NULL last descending
    assert [r["s"] for r in store.find(ITEMS, gt("s", "\uffff"))] == ["😀", "\U00010000"]
    assert sorted(r["s"] for r in store.find(ITEMS, lt("s", "b"))) == ["", "B", "Z", "a"]


def test_numbers_timestamps_and_booleans_order_with_null_lowest(store: Store) -> None:
    times = [datetime(y, 1, 1, tzinfo=UTC) for y in (1000, 1969, 1970, 2024, 9999)]
    numbers = [-1.7976931348623157e308, -1.0, 0.0, 5e-324, 1.0, 1.7976931348623157e308]
    store.insert_many(
        ITEMS,
        [row(f"t{k}", t=t) for k, t in enumerate(times)]
        + [row(f"n{k}", n=n) for k, n in enumerate(numbers)],
    )
    assert [r["t"] for r in store.find(ITEMS, not_(is_null("t")), order_by="t")] == times
    assert [r["n"] for r in store.find(ITEMS, not_(is_null("n")), order_by=desc("n"))] == sorted(
        numbers, reverse=True
    )
    first = store.find(ITEMS, order_by="n", limit=5).rows
    assert all(r["n"] is None for r in first)  # the 5 timestamp rows have NULL n


def test_keyset_pages_visit_every_row_once_in_order(store: Store) -> None:  # PAGE-1, PAGE-2
    rows = [row(f"r{k:02}", s=None if k % 4 == 0 else f"s{k % 3}", i=k % 5) for k in range(23)]
    store.insert_many(ITEMS, rows)
    order = [desc("s"), asc("i")]
    expected = ids(store.find(ITEMS, order_by=order))
    reference = [dict(r, n=None, b=None, t=None, j=None) for r in rows]
    sort_rows(ITEMS, reference, order)
    assert expected == ids(reference)  # the server's order is the reference order
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = store.find(ITEMS, order_by=order, limit=4, cursor=cursor)
        seen += ids(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        if len(seen) == 8:  # writes between pages never repeat or skip unchanged rows
            store.delete(ITEMS, key={"id": seen[0]})
            store.insert(ITEMS, row("new", s="zzz", i=0))  # sorts before the cursor: unseen
    assert seen == expected


def test_keyset_pages_on_a_composite_key(store: Store) -> None:
    store.insert_many(PAIRS, [{"a": a, "b": b} for a in (3, 1, 2) for b in ("y", "x")])
    pages, cursor = [], None
    while True:
        page = store.find(PAIRS, limit=2, cursor=cursor)
        pages.append([(r["b"], r["a"]) for r in page])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == [[("x", 1), ("x", 2)], [("x", 3), ("y", 1)], [("y", 2), ("y", 3)]]
    assert [(r["b"], r["a"]) for r in store.find(PAIRS, after={"a": 3, "b": "x"})] == [
        ("y", 1),
        ("y", 2),
        ("y", 3),
    ]


# --- writes (OP-INS, OP-UPS, OP-UPD, OP-DEL) ----------------------------------------------


def test_a_duplicate_anywhere_writes_none_of_the_batch(store: Store) -> None:  # OP-INS, OP-DUP
    store.insert(ITEMS, row("old", s="keep"))
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert_many(ITEMS, [row("a"), row("b"), row("old"), row("c")])
    assert caught.value.model == "items"
    with pytest.raises(DuplicateKeyError):
        store.insert_many(ITEMS, [row("a"), row("b"), row("a")])
    assert ids(store.find(ITEMS, ALL)) == ["old"]


def test_a_unique_collision_half_way_is_cleaned_up(store: Store, adapter: MongoAdapter) -> None:
    # The existing email is found only by the server, after earlier rows were written:
    # the adapter must remove those again (OP-INS). A value the batch repeats itself is
    # refused before anything is sent.
    store.insert(ACCOUNTS, {"id": 1, "org": "o", "email": "taken@x"})
    batch = [{"id": k, "org": "o", "email": f"{k}@x"} for k in range(2, 6)]
    with pytest.raises(DuplicateKeyError):
        store.insert_many(ACCOUNTS, [*batch, {"id": 9, "org": "o", "email": "taken@x"}])
    with pytest.raises(DuplicateKeyError):
        store.insert_many(ACCOUNTS, [*batch, {"id": 9, "org": "o", "email": "2@x"}])
    assert [r["id"] for r in store.find(ACCOUNTS, ALL)] == [1]
    adapter.execute(Insert(ACCOUNTS, tuple({**r, "handle": None} for r in batch)))
    assert store.count(ACCOUNTS) == 5


BATCH_COLLISIONS = ["existing-key", "batch-key", "existing-unique", "batch-unique"]


def _colliding_batch(size: int, kind: str, position: int) -> list[dict[str, Any]]:
    """Accounts 0..size-1 (emails unique), the row at ``position`` colliding with the
    stored account -1 or with the batch row farthest from it (another statement)."""
    rows: list[dict[str, Any]] = [
        {"id": k, "org": f"o{k % 7}", "email": f"{k}@x", "handle": None} for k in range(size)
    ]
    partner = rows[-1] if position == 0 else rows[0]
    column = "id" if kind.endswith("key") else "email"
    value = (-1 if column == "id" else "kept@x") if kind.startswith("existing") else partner[column]
    if kind != "none":
        rows[position] = {**rows[position], column: value}
    return rows


@pytest.mark.parametrize("kind", BATCH_COLLISIONS)
@pytest.mark.parametrize("size", [101, 450])  # one statement and a bit; 5 statements
def test_a_colliding_batch_writes_nothing_wherever_the_row_is(
    store: Store, adapter: MongoAdapter, kind: str, size: int
) -> None:  # OP-INS, LIM-BATCH
    kept = store.insert(ACCOUNTS, {"id": -1, "org": "keep", "email": "kept@x", "handle": "h"})
    for position in (0, 1, 99, 100, size // 2, size - 2, size - 1):
        rows = _colliding_batch(size, kind, position)
        with pytest.raises(DuplicateKeyError) as caught:
            store.insert_many(ACCOUNTS, rows)
        assert caught.value.model == "accounts"
        assert store.find(ACCOUNTS, ALL).rows == [kept], (kind, position)
    # nothing was left half-deleted or half-written: the same rows go in afterwards
    fine = _colliding_batch(size, "none", 0)
    assert store.insert_many(ACCOUNTS, fine) == fine
    assert store.count(ACCOUNTS) == size + 1


def test_a_failed_batch_never_deletes_a_row_it_did_not_write(
    store: Store, adapter: MongoAdapter
) -> None:  # OP-INS: only rows this call wrote are compensated
    stored = store.insert_many(
        ACCOUNTS, [{"id": k, "org": "old", "email": f"old{k}@x", "handle": None} for k in (5, 50)]
    )
    # Rows 0..4 are written, row 5 collides on its key: 0..4 go, the old 5 and 50 stay.
    rows = [{"id": k, "org": "new", "email": f"{k}@x", "handle": None} for k in range(60)]
    for collide_at in (5, 50):
        with pytest.raises(DuplicateKeyError):
            store.insert_many(ACCOUNTS, rows[collide_at:] + rows[:collide_at])
        assert store.find(ACCOUNTS, ALL).rows == stored
    # A unique collision with a stored row of another key: the stored row stays.
    with pytest.raises(DuplicateKeyError):
        store.insert_many(ACCOUNTS, [*rows[6:40], {**rows[40], "email": "old50@x"}])
    assert store.find(ACCOUNTS, ALL).rows == stored


def test_a_batch_the_driver_sends_in_several_messages_stays_all_or_nothing(
    store: Store, adapter: MongoAdapter
) -> None:  # LIM-BATCH: 34 rows of 1.5 MiB are more than one 48 MB message
    big = "x" * (3 * 1024 * 1024 // 2)
    rows = [{"id": str(k), "s": f"{k}", "text": big} for k in range(34)]
    store.insert(ITEMS, row("33", s="kept"))
    with pytest.raises(DuplicateKeyError):
        store.insert_many(ITEMS, rows)
    assert [r["s"] for r in store.find(ITEMS, ALL)] == ["kept"]
    store.delete(ITEMS, where=ALL)
    store.insert_many(ITEMS, rows)
    got = store.find(ITEMS, ALL, order_by="s").rows
    assert [(r["id"], r["text"] == big) for r in got] == sorted((r["id"], True) for r in rows)


def _health(adapter: MongoAdapter) -> None:
    """The server still answers every client: a ping and a find on a fresh connection."""
    fresh: MongoClient[Any] = MongoClient(URL, serverSelectionTimeoutMS=5000, socketTimeoutMS=10000)
    try:
        assert fresh.admin.command("ping")["ok"] == 1.0
        assert fresh[adapter.database_name]["accounts"].find_one({}, {"_id": 1}) is not None
    finally:
        fresh.close()


@pytest.mark.parametrize("size", [300, 2000])
def test_an_update_colliding_on_a_unique_index_changes_nothing_and_never_wedges_the_server(
    store: Store, adapter: MongoAdapter, size: int
) -> None:  # OP-UPD
    # FerretDB v1 keeps a PostgreSQL connection per multi:false update statement until
    # the command ends: restoring rows with one UpdateOne each wedged it (pool of 50).
    rows = [{"id": k, "org": f"o{k:05}", "email": f"{k}@x", "handle": None} for k in range(size)]
    store.insert_many(ACCOUNTS, rows)
    before = store.find(ACCOUNTS, ALL, limit=size).rows
    with pytest.raises(DuplicateKeyError):  # every row the same email: refused up front
        store.update(ACCOUNTS, {"email": "same@x"}, where=ALL)
    assert store.find(ACCOUNTS, ALL, limit=size).rows == before
    _health(adapter)
    # (org, handle) is unique: setting handle to "h" collides only with the row below,
    # which holds the last org. FerretDB updates in storage order, so every other row
    # is changed before the collision, and the adapter must put all of them back.
    blocker = {"id": -1, "org": f"o{size - 1:05}", "email": None, "handle": "h"}
    store.insert(ACCOUNTS, blocker)
    with pytest.raises(DuplicateKeyError) as caught:
        store.update(ACCOUNTS, {"handle": "h"}, where=gte("id", 0))
    assert caught.value.model == "accounts"
    assert store.find(ACCOUNTS, gte("id", 0), limit=size).rows == before
    assert store.count(ACCOUNTS, {"handle": "h"}) == 1
    _health(adapter)
    # Old values that differ per row are put back row by row (multi statements too).
    store.update(ACCOUNTS, {"handle": "x"}, where=lt("id", 0))
    for k in range(0, size, 97):
        store.update(ACCOUNTS, {"handle": f"h{k}"}, key={"id": k})
    before = store.find(ACCOUNTS, ALL, limit=size + 1).rows
    store.update(ACCOUNTS, {"handle": "h"}, key={"id": -1})
    with pytest.raises(DuplicateKeyError):
        store.update(ACCOUNTS, {"handle": "h"}, where=gte("id", 0))
    store.update(ACCOUNTS, {"handle": "x"}, key={"id": -1})
    assert store.find(ACCOUNTS, ALL, limit=size + 1).rows == before
    _health(adapter)
    # NULL never collides: setting the other column of (org, handle) is no risk.
    assert store.update(ACCOUNTS, {"org": "same", "handle": None}, where=gte("id", 0)) == size


def test_an_update_of_composite_keyed_rows_is_restored_by_key(adapter: MongoAdapter) -> None:
    model = Model(
        "members",
        [
            Field("team", StringType(16)),
            Field("user", IntegerType()),
            Field("seat", IntegerType(), nullable=True),
            Field("note", JsonType(), nullable=True),
        ],
        primary_key=["team", "user"],
        indexes=[Index("members_team_seat", ["team", "seat"], unique=True)],
    )
    store = Store([model], adapter)
    store.bootstrap()
    rows = [{"team": f"t{k}", "user": k, "seat": k, "note": {"k": [k, [k]]}} for k in range(80)]
    store.insert_many(model, rows)
    store.insert(model, {"team": "t79", "user": 1000, "seat": 5, "note": None})
    before = store.find(model, ALL, limit=100).rows
    with pytest.raises(DuplicateKeyError):
        store.update(model, {"seat": 5, "note": {"new": True}}, where=lt("user", 1000))
    assert store.find(model, ALL, limit=100).rows == before


def test_unique_indexes_never_collide_on_null(store: Store) -> None:  # SQL semantics
    store.insert_many(
        ACCOUNTS,
        [
            {"id": 1, "org": "o"},
            {"id": 2, "org": "o"},  # email and handle NULL twice
            {"id": 3, "org": "o", "email": "a@x"},
            {"id": 4, "org": "p", "handle": "h"},
            {"id": 5, "org": "q", "handle": "h"},
        ],
    )
    with pytest.raises(DuplicateKeyError):
        store.insert(ACCOUNTS, {"id": 6, "org": "p", "handle": "h"})
    with pytest.raises(DuplicateKeyError):
        store.insert(ACCOUNTS, {"id": 6, "org": "z", "email": "a@x"})
    assert store.update(ACCOUNTS, {"email": None}, key={"id": 3}) == 1
    store.insert(ACCOUNTS, {"id": 6, "org": "z", "email": "a@x"})
    assert store.count(ACCOUNTS) == 6


def test_an_update_colliding_half_way_changes_nothing(store: Store) -> None:  # OP-UPD
    store.insert_many(ACCOUNTS, [{"id": k, "org": "o", "email": f"{k}@x"} for k in range(1, 5)])
    before = store.find(ACCOUNTS, ALL).rows
    with pytest.raises(DuplicateKeyError) as caught:
        store.update(ACCOUNTS, {"email": "same@x"}, where=gt("id", 1))
    assert caught.value.model == "accounts"
    assert store.find(ACCOUNTS, ALL).rows == before
    with pytest.raises(DuplicateKeyError):  # one row: atomic on its own
        store.update(ACCOUNTS, {"email": "1@x"}, key={"id": 2})
    assert store.find(ACCOUNTS, ALL).rows == before
    assert store.update(ACCOUNTS, {"email": None, "handle": "h"}, where=eq("id", 2)) == 1
    assert store.update(ACCOUNTS, {"org": "p"}, where=ALL) == 4


def test_update_and_delete_return_counts(store: Store) -> None:  # OP-UPD, OP-DEL
    store.insert_many(ITEMS, [row(f"r{k}", i=k) for k in range(5)])
    assert store.update(ITEMS, {"s": "x"}, where=lt("i", 3)) == 3
    assert store.update(ITEMS, {"s": "x"}, where=eq("i", 99)) == 0
    assert sorted(ids(store.find(ITEMS, {"s": "x"}))) == ["r0", "r1", "r2"]
    assert store.delete(ITEMS, where=not_(eq("s", "x"))) == 2
    assert store.delete(ITEMS, where=ALL) == 3
    assert store.count(ITEMS) == 0


def test_upsert_inserts_updates_listed_fields_or_leaves_the_row(store: Store) -> None:  # OP-UPS
    first = store.upsert(ITEMS, row("k", s="a", i=1), update=["s"])
    assert first.inserted and (first.row["s"], first.row["i"]) == ("a", 1)
    second = store.upsert(ITEMS, row("k", s="b", i=2, n=None), update=["s", "n"])
    assert not second.inserted and (second.row["s"], second.row["i"]) == ("b", 1)
    untouched = store.upsert(ITEMS, row("k", s="c", i=3), update=[])
    assert not untouched.inserted and (untouched.row["s"], untouched.row["i"]) == ("b", 1)
    cleared = store.upsert(ITEMS, row("k"), update=["s"])  # NULL in an updated field
    assert cleared.row["s"] is None
    assert store.get(ITEMS, {"id": "k"}) == cleared.row


def test_a_scoped_upsert_never_touches_another_scope(adapter: MongoAdapter) -> None:
    store = Store(SCHEMA, adapter, plugins=[TenantScope(models=["items"])])
    store.bootstrap()
    acme, other = store.bind(tenant_id="acme"), store.bind(tenant_id="other")
    acme.insert(ITEMS, row("k", s="acme's"))
    with pytest.raises(DuplicateKeyError):  # HOOK-QUERY
        other.upsert(ITEMS, row("k", s="stolen"), update=["s"])
    with pytest.raises(DuplicateKeyError):
        other.upsert(ITEMS, row("k", s="stolen"), update=[])
    assert other.get(ITEMS, {"id": "k"}) is None
    got = acme.get(ITEMS, {"id": "k"})
    assert got is not None and got["s"] == "acme's"
    assert acme.upsert(ITEMS, row("k", s="mine"), update=["s"]).row["s"] == "mine"


def test_upsert_operations_report_out_of_scope_as_none(adapter: MongoAdapter) -> None:
    Store(SCHEMA, adapter).bootstrap()
    full = {**dict.fromkeys(ITEMS.field_names), "id": "k", "s": "a", "i": 1}
    scope = Compare("eq", "i", 1)
    inserted = adapter.execute(Upsert(ITEMS, full, ("s",), scope))
    assert inserted == UpsertResult(full, inserted=True)
    other = {**full, "s": "b", "i": 2}
    assert adapter.execute(Upsert(ITEMS, other, ("s",), Compare("eq", "i", 2))) is None
    assert adapter.execute(Upsert(ITEMS, other, (), Compare("eq", "i", 2))) is None
    assert adapter.execute(Find(ITEMS, None, (Order("id"),))) == [full]
    kept = adapter.execute(Upsert(ITEMS, other, (), scope))
    assert kept == UpsertResult(full, inserted=False)
    changed = adapter.execute(Upsert(ITEMS, other, ("s",), scope))
    assert changed == UpsertResult({**full, "s": "b"}, inserted=False)


def test_an_upsert_colliding_on_a_unique_index_is_a_duplicate(store: Store) -> None:
    store.insert(ACCOUNTS, {"id": 1, "org": "o", "email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        store.upsert(ACCOUNTS, {"id": 2, "org": "o", "email": "a@x"}, update=["email"])
    store.insert(ACCOUNTS, {"id": 2, "org": "o"})
    with pytest.raises(DuplicateKeyError):
        store.upsert(ACCOUNTS, {"id": 2, "org": "o", "email": "a@x"}, update=["email"])
    assert store.count(ACCOUNTS, {"email": "a@x"}) == 1


def test_concurrent_upserts_of_one_key_insert_exactly_once(
    client: MongoClient[Any], db_name: str
) -> None:
    adapters = [MongoAdapter(client, db_name) for _ in range(6)]
    Store(SCHEMA, adapters[0]).bootstrap()
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(adapters))

    def work(adapter: MongoAdapter, k: int) -> None:
        store = Store(SCHEMA, adapter)
        barrier.wait()
        try:
            results.append(store.upsert(ITEMS, row("same", i=k), update=["i"]).inserted)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a, k)) for k, a in enumerate(adapters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [False] * 5 + [True]
    assert Store(SCHEMA, adapters[0]).count(ITEMS) == 1


# --- limits (LIM-KEY, LIM-ROW, LIM-FILTER, LIM-READ, VAL-3) ---------------------------------


def astral(rng: random.Random, n: int) -> str:
    """``n`` random astral code points: 4 UTF-8 bytes each, incompressible."""
    return "".join(chr(rng.randrange(0x10000, 0x3FFFF)) for _ in range(n))


def ordered_rows(
    model: Model[Any], rows: list[dict[str, Any]], order: list[Order]
) -> list[dict[str, Any]]:
    """The reference order (the memory adapter's sort), on a copy."""
    out = list(rows)
    sort_rows(model, out, order)
    return out


def _keyset(store: Store, model: Model[Any], order: list[Order], size: int) -> list[Any]:
    out: list[Any] = []
    cursor = None
    while True:
        page = store.find(model, ALL, order_by=order, limit=size, cursor=cursor)
        out.extend(page.rows)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def test_keys_and_indexes_of_max_width_hold_astral_strings(adapter: MongoAdapter) -> None:
    # LIM-KEY: 2048 bytes; FerretDB's PostgreSQL B-tree holds ~2704 bytes per entry.
    single = Model(
        "single",
        [Field("id", StringType(512)), Field("v", IntegerType(), nullable=True)],
        primary_key=["id"],
    )
    pair = Model(
        "pair",
        [Field("a", StringType(256)), Field("b", StringType(256)), Field("v", IntegerType())],
        primary_key=["a", "b"],
        indexes=[Index("pair_ab", [("a", "desc"), "b"]), Index("pair_b", ["b"])],
    )
    events = Model(  # 4 * 508 + 8 (created_at) + 8 (the key it lacks) = 2048
        "events",
        [Field("id", IntegerType()), Field("s", StringType(508)), Field("at", TimestampType())],
        primary_key=["id"],
        indexes=[
            Index("events_s_at", ["s", ("at", "desc")]),
            Index("events_u", ["s"], unique=True),
        ],
    )
    tagged = Model(  # 4 * 256 + 4 * 256 (the key it lacks) = 2048
        "tagged",
        [Field("id", StringType(256)), Field("s", StringType(256))],
        primary_key=["id"],
        indexes=[Index("tagged_s", [("s", "desc")])],
    )
    store = Store([single, pair, events, tagged], adapter)
    store.bootstrap()
    layout = {
        name: {ix["name"]: list(ix["key"].items()) for ix in adapter.database[name].list_indexes()}
        for name in ("pair", "events", "tagged")
    }
    # An index holding every key field gets nothing appended; one lacking some key fields
    # gets only those (the top-level copies), never the whole composite _id.
    assert layout["pair"]["pair_ab"] == [("a", -1), ("b", 1)]
    assert layout["pair"]["pair_b"] == [("b", 1), ("a", 1)]
    assert layout["pair"]["noorm-pk"] == [("a", 1), ("b", 1)]
    assert layout["events"]["events_s_at"] == [("s", 1), ("at", -1), ("_id", 1)]
    assert layout["events"]["events_u"] == [("s", 1)]
    assert layout["tagged"]["tagged_s"] == [("s", -1), ("_id", 1)]
    rng = random.Random(2048)
    base = astral(rng, 511)
    keys = [base + c for c in ("a", "\uffff", "\U0001f600", "\U0010ffff")] + [
        astral(rng, 512) for _ in range(3)
    ]
    store.insert_many(single, [{"id": k, "v": n} for n, k in enumerate(keys)])
    assert [r["id"] for r in store.find(single, ALL, order_by="id")] == sorted(keys)
    assert [r["id"] for r in _keyset(store, single, [desc("id")], 2)] == sorted(keys)[::-1]
    for n, key in enumerate(keys):
        assert store.get(single, {"id": key}) == {"id": key, "v": n}
    with pytest.raises(DuplicateKeyError):
        store.insert(single, {"id": keys[1], "v": None})
    pa, pb = astral(rng, 255), astral(rng, 255)
    pairs = [
        {"a": pa + x, "b": pb + y, "v": 10 * i + j}
        for i, x in enumerate("a\uffff\U0001f600")
        for j, y in enumerate("\U0001f600a")
    ]
    store.insert_many(pair, pairs)
    for order in ([asc("a")], [desc("b")], [asc("b"), desc("a")], [desc("v")]):
        expected = [r["v"] for r in ordered_rows(pair, pairs, order)]
        assert [r["v"] for r in _keyset(store, pair, order, 2)] == expected, order
    assert store.get(pair, {"a": pairs[2]["a"], "b": pairs[2]["b"]}) == pairs[2]
    prefix = astral(rng, 507)
    at = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"id": k, "s": prefix + c, "at": at} for k, c in enumerate("b\U0001f600a\uffff")]
    store.insert_many(events, rows)
    order = [asc("s"), desc("at")]
    assert [r["id"] for r in store.find(events, ALL, order_by=order)] == [2, 0, 3, 1]
    with pytest.raises(DuplicateKeyError):
        store.insert(events, {"id": 9, "s": prefix + "a", "at": at})
    kp, vp = astral(rng, 255), astral(rng, 255)
    tags = [{"id": kp + c, "s": vp + d} for c, d in [("a", "\U0010ffff"), ("b", "a"), ("c", "a")]]
    store.insert_many(tagged, tags)
    expected = [r["id"] for r in ordered_rows(tagged, tags, [desc("s")])]
    assert [r["id"] for r in store.find(tagged, ALL, order_by=desc("s"))] == expected


def zeros(size: int) -> list[int]:
    """``[0, 0, ...]`` of exactly ``size`` bytes of compact JSON (the worst case for BSON)."""
    return [0] * ((size - 1) // 2) if size % 2 else [0] * ((size - 2) // 2 - 1) + [10]


def chains(size: int, depth: int) -> list[Any]:
    """A list of arrays nested ``depth`` deep, ``size`` bytes of compact JSON or a bit less:
    on FerretDB each nested array is wrapped, the worst case of the wrapped encoding."""
    element: Any = []
    for _ in range(depth - 1):
        element = [element]
    unit = json_bytes(element) + 1
    return [element] * ((size - 1) // unit)


def test_rows_of_max_row_bytes_fit_in_bson(store: Store, adapter: MongoAdapter) -> None:
    # LIM-ROW: 2 MiB of compact JSON. BSON spends a type byte and a key on every array
    # element, and on FerretDB a wrapper document on every array nested in an array.
    budget = MAX_ROW_BYTES - 8 * 8  # the other fields count 8 bytes each
    limit = 16 * 1024 * 1024
    for ferretdb in (False, True):
        codec = Codec(ITEMS, ferretdb=ferretdb)
        for value in (zeros(budget), chains(budget, 2), chains(budget, 8), chains(budget, 63)):
            assert json_bytes(value) <= budget
            full = {**dict.fromkeys(ITEMS.field_names), "id": "k" * 64, "j": value}
            assert len(bson.encode(codec.document(full))) < limit
    # On the server (FerretDB takes ~10 s per direction for a million array elements).
    value = zeros(budget)
    store.insert(ITEMS, row("zeros", j=value))
    got = store.get(ITEMS, {"id": "zeros"})
    assert got is not None and got["j"] == value
    nested = chains(64 * 1024, 63)
    store.insert(ITEMS, row("chains", j=nested))
    got = store.get(ITEMS, {"id": "chains"})
    assert got is not None and got["j"] == nested


def _nest(keys: list[str], leaf: Any) -> Any:
    for key in reversed(keys):
        leaf = {key: leaf}
    return leaf


def test_filters_and_reads_at_the_limits(store: Store, adapter: MongoAdapter) -> None:
    keys = [f"k{k}" for k in range(MAX_PATH_KEYS)]
    rows = [
        row(
            f"r{k:03}",
            i=k,
            n=k / 2,
            s=f"s{k % 7}",
            j=_nest(keys[: MAX_PATH_KEYS - 2 + k % 3], k % 4),
        )
        for k in range(300)
    ]
    rows.append(row("null"))
    store.insert_many(ITEMS, rows)
    stored = store.find(ITEMS, ALL, limit=MAX_LIMIT).rows
    assert len(stored) == 301  # LIM-READ: limit 1,000,000 (the kit asks for one more)

    def check(where: Filter) -> None:
        expected = [r["id"] for r in stored if matches(ITEMS, where, r)]
        assert ids(store.find(ITEMS, where, limit=MAX_LIMIT)) == expected
        assert store.count(ITEMS, where) == len(expected)

    many = list(range(0, 2 * MAX_FILTER_VALUES, 2))  # LIM-FILTER: 10,000 values
    check(in_("i", many))
    check(not_in("i", many))
    check(in_("id", [f"r{k:03}" for k in range(MAX_FILTER_VALUES)]))
    check(or_(*(eq("i", k * 3) for k in range(MAX_FILTER_CONDITIONS))))
    check(and_(*(ne("i", k * 3) for k in range(MAX_FILTER_CONDITIONS))))
    deep: Filter = eq("s", "s1")
    for _ in range(MAX_FILTER_DEPTH - 1):
        deep = not_(deep)
    check(deep)
    mixed: Filter = in_("i", [1, 2, 3, 50])
    for level in range(MAX_FILTER_DEPTH - 1):
        other = gt("i", 10 * level)
        mixed = [or_(mixed, other), and_(mixed, not_(other)), not_(mixed)][level % 3]
    check(mixed)
    check(is_null(path("j", *keys)))  # LIM-FILTER: paths of MAX_PATH_KEYS keys
    check(eq(path("j", *keys), 2))
    check(ne(path("j", *keys[:-1]), 2))
    check(in_(path("j", *keys), [0, 1, 3]))


def test_order_by_max_order_fields_and_keyset_pages(adapter: MongoAdapter) -> None:
    types: list[FieldType] = [
        IntegerType(),
        StringType(8),
        BooleanType(),
        NumberType(),
        TimestampType(),
    ]
    model = Model(
        "ordered",
        [Field("id", IntegerType())]
        + [Field(f"f{k:02}", types[k % 5], nullable=True) for k in range(MAX_ORDER_FIELDS)],
        primary_key=["id"],
    )
    store = Store([model], adapter)
    store.bootstrap()
    samples: list[list[Any]] = [
        [None, -1, 0, 2**40],
        [None, "", "a", "B"],
        [None, False, True],
        [None, -0.5, 0.0, 1e300],
        [None, datetime(1969, 1, 1, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)],
    ]
    rows = [
        {"id": r, **{f"f{k:02}": samples[k % 5][(r * (k + 1)) % len(samples[k % 5])]
                     for k in range(MAX_ORDER_FIELDS)}}
        for r in range(120)
    ]  # fmt: skip
    store.insert_many(model, rows)
    order = [Order(f"f{k:02}", descending=k % 3 == 1) for k in range(MAX_ORDER_FIELDS)]
    expected = [r["id"] for r in ordered_rows(model, rows, order)]
    assert [r["id"] for r in store.find(model, ALL, order_by=order, limit=MAX_LIMIT)] == expected
    assert [r["id"] for r in _keyset(store, model, order, 7)] == expected


def test_deep_filters_beyond_the_limits_never_raise_raw_exceptions(adapter: MongoAdapter) -> None:
    # The kit refuses these; an adapter called directly answers right or raises a noorm
    # error (the driver's exception as __cause__), never a raw RecursionError.
    Store(SCHEMA, adapter).bootstrap()
    full = {**dict.fromkeys(ITEMS.field_names), "id": "a", "i": 1}
    adapter.execute(Insert(ITEMS, (full, {**full, "id": "b", "i": 2})))
    for depth in (33, 300, 5000):
        negated: Filter = Compare("eq", "i", 1)
        for _ in range(depth):
            negated = Not(negated)
        nested: Filter = Compare("eq", "i", 1)
        for level in range(depth):
            other = Compare("gt", "i", level)
            nested = And((nested, other)) if level % 2 else Or((nested, Not(other)))
        for where in (negated, nested):
            try:
                got = adapter.execute(Find(ITEMS, where, (Order("id"),)))
            except NoOrmError as exc:
                assert isinstance(exc, BackendError) and exc.__cause__ is not None, exc
                assert exc.model == "items"
            else:
                assert [r["id"] for r in got] == [
                    r["id"] for r in (full, {**full, "id": "b", "i": 2}) if matches(ITEMS, where, r)
                ]


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def test_values_come_back_as_plain_built_in_types(store: Store, adapter: MongoAdapter) -> None:
    # VAL-3: from the server, and from the rows an insert or upsert returns.
    class MyStr(str):
        pass

    class MyDatetime(datetime):
        pass

    given = row(
        "k",
        s=Color.RED,
        i=Level.HIGH,
        n=2.5,
        b=True,
        t=MyDatetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2))),
        j={"a": [MyStr("x"), Level.HIGH, {"b": Color.RED}], "c": 1.5},
        text=MyStr("plain"),
    )

    def plain(value: Any) -> None:
        if isinstance(value, dict):
            assert type(value) is dict
            for key, item in value.items():
                assert type(key) is str
                plain(item)
        elif isinstance(value, list):
            assert type(value) is list
            for item in value:
                plain(item)
        elif isinstance(value, datetime):
            assert type(value) is datetime and value.tzinfo is UTC
        else:
            assert type(value) in (str, int, float, bool, type(None)), type(value)

    returned = [
        store.insert(ITEMS, given),
        store.get(ITEMS, {"id": "k"}),
        store.find(ITEMS, ALL).rows[0],
        store.upsert(ITEMS, given, update=["s", "j", "t"]).row,
        store.upsert(ITEMS, {**given, "id": "new"}, update=[]).row,
        store.insert_many(ITEMS, [{**given, "id": "m"}])[0],
    ]
    for got in returned:
        assert got is not None
        plain(got)
        assert got["s"] == "red" and got["i"] == 3 and got["j"]["a"] == ["x", 3, {"b": "red"}]
    doc = raw(adapter, "items", "k")
    assert doc is not None
    plain(Codec(ITEMS, ferretdb=bool(adapter.ferretdb)).row(doc))


# --- bootstrap (BOOT) ---------------------------------------------------------------------


def test_bootstrap_creates_collections_and_named_indexes_once(adapter: MongoAdapter) -> None:
    planned = adapter.bootstrap(SCHEMA, dry_run=True)  # BOOT-2
    assert adapter.database.list_collection_names() == []
    assert 'db.createCollection("items")' in planned
    # The primary key is appended to a non-unique index so keyset sorts can use it.
    assert 'db.items.createIndex({"s": 1, "i": -1, "_id": 1}, {"name": "items_s_i"})' in planned
    assert 'db.pairs.createIndex({"b": 1, "a": 1}, {"name": "noorm-pk"})' in planned
    assert adapter.bootstrap(SCHEMA) == planned  # BOOT-1
    assert adapter.bootstrap(SCHEMA) == []
    assert adapter.bootstrap(SCHEMA, dry_run=True) == []
    indexes = {ix["name"]: ix for ix in adapter.database["accounts"].list_indexes()}
    assert list(indexes["accounts_org_handle"]["key"].items()) == [("org", 1), ("handle", 1)]
    assert indexes["accounts_email"]["unique"] is True
    items = {ix["name"]: ix for ix in adapter.database["items"].list_indexes()}
    assert list(items["items_s_i"]["key"].items()) == [("s", 1), ("i", -1), ("_id", 1)]


def test_bootstrap_refuses_to_redefine_an_index(adapter: MongoAdapter) -> None:
    adapter.bootstrap(SCHEMA)
    changed = ITEMS.replace(indexes=[Index("items_s_i", ["s"])])
    with pytest.raises(SchemaMismatchError) as caught:  # BOOT-6
        adapter.bootstrap(Schema([changed]))
    assert caught.value.model == "items" and caught.value.index == "items_s_i"
    assert "items_s_i" in str(caught.value)


def test_indexes_mongodb_cannot_hold_twice_are_merged(adapter: MongoAdapter) -> None:
    model = Model(
        "tags",
        [Field("id", IntegerType()), Field("name", StringType(20))],
        primary_key=["id"],
        indexes=[
            Index("tags_id", ["id"]),  # the built-in _id index already is this one
            Index("tags_name", ["name"]),
            Index("tags_name_too", ["name"]),  # same keys: served by tags_name
            Index("tags_name_id", ["name", "id"], unique=True),  # same keys, unique: kept
            Index("tags_name_unique", ["name"], unique=True),
        ],
    )
    assert adapter.bootstrap(Schema([model])) == [
        'db.createCollection("tags")',
        'db.tags.createIndex({"name": 1, "_id": 1}, {"name": "tags_name_id", "unique": true})',
        'db.tags.createIndex({"name": 1}, {"name": "tags_name_unique", "unique": true})',
    ]
    store = Store([model], adapter)
    store.insert(model, {"id": 1, "name": "a"})
    with pytest.raises(DuplicateKeyError):
        store.insert(model, {"id": 2, "name": "a"})


def test_a_field_called_id_is_refused_by_the_schema(adapter: MongoAdapter) -> None:
    # LIM-NAME reserves _id (MongoDB's document key): no model ever has such a field, so
    # the adapter needs no special case for it.
    for key in (["_id"], ["key"]):
        with pytest.raises(SchemaError) as caught:
            Model(
                "clash",
                [Field("key", IntegerType()), Field("_id", IntegerType())],
                primary_key=key,
            )
        assert (caught.value.model, caught.value.field) == ("clash", "_id")
    assert adapter.database.list_collection_names() == []


def test_no_collection_is_created_implicitly(
    client: MongoClient[Any], adapter: MongoAdapter
) -> None:  # BOOT-4
    full = {**dict.fromkeys(ITEMS.field_names), "id": "a"}
    operations: list[Operation[Any]] = [
        Insert(ITEMS, (full,)),
        Insert(ITEMS, (full, {**full, "id": "b"})),
        Find(ITEMS, None, (Order("id"),)),
        Count(ITEMS, None),
        Update(ITEMS, None, {"s": "x"}),
        Update(ACCOUNTS, None, {"email": "x@x"}),
        Delete(ITEMS, None),
        Upsert(ITEMS, full, ("s",), None),
    ]
    for op in operations:
        with pytest.raises(BackendError) as caught:
            adapter.execute(op)
        assert caught.value.model == op.model.name, op
        assert op.model.name in str(caught.value) and "bootstrap" in str(caught.value)
    assert adapter.database.list_collection_names() == []
    # Absence is never cached: another process bootstraps, and this adapter sees it.
    other = MongoAdapter(client, adapter.database_name)
    other.bootstrap(SCHEMA)
    adapter.execute(Insert(ITEMS, (full,)))
    assert adapter.execute(Count(ITEMS, None)) == 1
    assert adapter.bootstrap(SCHEMA) == []
    assert adapter.bootstrap(SCHEMA, dry_run=True) == []


def test_bootstrap_adds_indexes_to_collections_that_hold_rows(adapter: MongoAdapter) -> None:
    bare = [m.replace(indexes=[]) for m in SCHEMA.models]
    Store(bare, adapter).bootstrap()
    early = Store(bare, adapter)
    early.insert_many(
        ACCOUNTS.replace(indexes=[]),
        [{"id": k, "org": "o", "email": f"{k}@x", "handle": None} for k in range(5)],
    )
    planned = adapter.bootstrap(SCHEMA, dry_run=True)
    assert planned == [
        'db.items.createIndex({"s": 1, "i": -1, "_id": 1}, {"name": "items_s_i"})',
        'db.accounts.createIndex({"email": 1}, {"name": "accounts_email", "unique": true})',
        'db.accounts.createIndex({"org": 1, "handle": 1}, '
        '{"name": "accounts_org_handle", "unique": true})',
    ]
    assert adapter.bootstrap(SCHEMA) == planned  # BOOT-1
    assert adapter.bootstrap(SCHEMA) == []
    assert adapter.bootstrap(SCHEMA, dry_run=True) == []
    store = Store(SCHEMA, adapter)
    with pytest.raises(DuplicateKeyError):
        store.insert(ACCOUNTS, {"id": 9, "org": "p", "email": "3@x"})
    assert store.count(ACCOUNTS) == 5


def test_concurrent_bootstraps_from_threads_all_succeed(
    client: MongoClient[Any], db_name: str
) -> None:  # BOOT-3
    adapters = [MongoAdapter(client, db_name) for _ in range(4)]
    barrier = threading.Barrier(len(adapters))
    errors: list[BaseException] = []

    def boot(adapter: MongoAdapter) -> None:
        barrier.wait()
        try:
            adapter.bootstrap(SCHEMA)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=boot, args=(a,)) for a in adapters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert adapters[0].bootstrap(SCHEMA) == []


_CHILD = """
import sys
from noorm.adapters.mongodb import MongoAdapter
from noorm.spec import Field, Index, IntegerType, Model, Schema, StringType
model = Model(
    "boot",
    [Field("a", IntegerType()), Field("b", StringType(8)), Field("c", StringType(8), nullable=True)],
    primary_key=["a", "b"],
    indexes=[Index("boot_c", ["c"], unique=True)],
)
adapter = MongoAdapter(sys.argv[1], sys.argv[2])
adapter.bootstrap(Schema([model]))
print(sorted(ix["name"] for ix in adapter.database["boot"].list_indexes()))
adapter.close()
"""


def test_concurrent_bootstraps_from_processes_all_succeed(db_name: str) -> None:  # BOOT-3
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, URL, db_name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    assert {out.strip() for out, _ in outputs} == {"['_id_', 'boot_c', 'noorm-pk']"}


# --- transactions (TX-4) ------------------------------------------------------------------


def test_without_server_transactions_transaction_is_unsupported(
    store: Store, adapter: MongoAdapter
) -> None:
    if Capability.TRANSACTIONS in adapter.capabilities:
        pytest.skip("this server supports transactions")
    with pytest.raises(UnsupportedError) as caught:
        adapter.transaction()
    assert caught.value.capability == "transactions"
    with pytest.raises(UnsupportedError), store.transaction():
        pass  # pragma: no cover


def test_non_atomic_transactions_are_opt_in_and_never_declared(
    client: MongoClient[Any], db_name: str
) -> None:
    adapter = MongoAdapter(client, db_name, allow_non_atomic_transactions=True)
    if Capability.TRANSACTIONS in adapter.capabilities:
        pytest.skip("this server supports transactions")
    assert Capability.TRANSACTIONS not in adapter.capabilities
    adapter.bootstrap(SCHEMA)
    full = {**dict.fromkeys(ITEMS.field_names), "id": "a"}
    with pytest.raises(RuntimeError), adapter.transaction() as tx:
        assert isinstance(tx, MongoTransaction)
        tx.execute(Insert(ITEMS, (full,)))
        with tx.transaction() as inner:
            inner.execute(Update(ITEMS, Compare("eq", "id", "a"), {"s": "x"}))
        raise RuntimeError("no rollback happens")
    assert adapter.execute(Count(ITEMS, None)) == 1  # documented: the writes stay
    with pytest.raises(BackendError, match="ended"):
        tx.execute(Count(ITEMS, None))
    # The same through the kit: Store.transaction() leaves the decision to the adapter.
    store = Store(SCHEMA, adapter, cursor_key=b"k" * 32)
    with pytest.raises(RuntimeError), store.transaction() as stx:
        stx.insert(ITEMS, {"id": "b"})
        raise RuntimeError("no rollback happens")
    assert store.count(ITEMS) == 2 and store.get(ITEMS, {"id": "b"}) is not None


def test_a_forced_transaction_on_ferretdb_fails_loudly(adapter: MongoAdapter) -> None:
    if not adapter.ferretdb:
        pytest.skip("FerretDB only")
    adapter.bootstrap(SCHEMA)
    adapter.capabilities = adapter.capabilities | {Capability.TRANSACTIONS}
    full = {**dict.fromkeys(ITEMS.field_names), "id": "a"}
    with pytest.raises(BackendError) as caught, adapter.transaction() as tx:
        tx.execute(Insert(ITEMS, (full,)))
    assert isinstance(caught.value.__cause__, OperationFailure)
    assert adapter.execute(Count(ITEMS, None)) == 0


# --- query shapes: what FerretDB pushes down to PostgreSQL, round trips -------------------


class Commands(monitoring.CommandListener):
    """The commands a client sends (name and body), for asserting query shapes."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def names(self) -> list[str]:
        return [name for name, _ in self.sent if name not in ("listCollections", "endSessions")]

    def last(self, name: str) -> dict[str, Any]:
        return [body for sent, body in self.sent if sent == name][-1]


@pytest.fixture
def watched(db_name: str) -> Iterator[tuple[Store, MongoAdapter, Commands]]:
    """A bootstrapped hebo-gateway store on a client whose commands are recorded."""
    from hebo_gateway.models import SCHEMA as HEBO

    commands = Commands()
    client: MongoClient[Any] = MongoClient(URL, event_listeners=[commands])
    made = MongoAdapter(client, db_name)
    store = Store(HEBO, made)
    store.bootstrap()
    yield store, made, commands
    made.close()
    client.close()


def _explain(adapter: MongoAdapter, find: dict[str, Any]) -> dict[str, Any]:
    command = {k: find[k] for k in ("find", "filter", "sort", "limit") if k in find}
    return dict(adapter.database.command("explain", command))


def test_hebo_pages_and_key_lookups_are_pushed_down_to_postgresql(
    watched: tuple[Store, MongoAdapter, Commands],
) -> None:
    """The list query, its cursor (deep) page and a composite-key get send flat filter
    documents, whose equalities FerretDB evaluates in PostgreSQL (jsonb containment)
    instead of reading and testing every stored document in its own code."""
    from hebo_gateway.models import conversation_items as items

    store, adapter, commands = watched
    if not adapter.ferretdb:
        pytest.skip("FerretDB's explain (pushdown flags, PostgreSQL plan) only")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[Any] = [
        {
            "id": f"i{n:02}",
            "conversation_id": c,
            "created_at": t0 + timedelta(seconds=n // 2),
            "type": "message",
            "data": {"n": n},
        }
        for c in ("c1", "c2")
        for n in range(30)
    ]
    store.insert_many(items, rows)
    order = [desc("created_at"), desc("id")]
    first = store.find(items, {"conversation_id": "c1"}, order_by=order, limit=20)
    list_query = commands.last("find")
    second = store.find(
        items, {"conversation_id": "c1"}, order_by=order, limit=20, cursor=first.next_cursor
    )
    deep_page = commands.last("find")
    assert [r["id"] for r in [*first.rows, *second.rows]] == [f"i{n:02}" for n in range(29, -1, -1)]
    assert store.get(items, {"conversation_id": "c2", "id": "i07"}) == rows[37]
    get = commands.last("find")

    assert list_query["filter"] == {"conversation_id": "c1"}
    assert "$and" not in deep_page["filter"] and deep_page["filter"]["conversation_id"] == "c1"
    assert get["filter"] == {"conversation_id": "c2", "id": "i07"}
    for find, pushed in (
        (list_query, ["conversation_id"]),
        (deep_page, ["conversation_id"]),
        (get, ["conversation_id", "id"]),
    ):
        plan = _explain(adapter, find)
        assert plan["filterPushdown"] is True, plan
        condition = str(plan["queryPlanner"]["Plan"].get("Filter", ""))
        for field in pushed:
            assert f"-> '{field}'::text) @>" in condition, condition


def test_an_upsert_is_one_command_and_a_batch_sends_only_its_inserts(
    watched: tuple[Store, MongoAdapter, Commands],
) -> None:
    """OP-UPS without a scope: one findAndModify whether the row exists or not. OP-INS:
    no pre-query of the batch's keys (the unique index finds a duplicate). OP-FIND: one
    reply for a page."""
    from hebo_gateway.models import conversations

    store, _, commands = watched
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    new: Any = {"id": "c1", "created_at": t0, "metadata": {"a": "1"}}
    commands.sent.clear()
    assert store.upsert(conversations, new, update=["metadata"]) == UpsertResult(new, True)
    changed: Any = {**new, "created_at": t0 + timedelta(days=1), "metadata": None}
    stored: Any = {**new, "metadata": None}
    assert store.upsert(conversations, changed, update=["metadata"]) == UpsertResult(stored, False)
    assert store.upsert(conversations, changed, update=[]) == UpsertResult(stored, False)
    assert commands.names() == ["findAndModify"] * 3
    assert commands.last("findAndModify")["query"] == {"_id": "c1"}
    commands.sent.clear()
    batch: list[Any] = [{"id": f"b{n}", "created_at": t0, "metadata": None} for n in range(10)]
    assert store.insert_many(conversations, batch) == batch
    assert commands.names() == ["insert"]
    # A model with a json field may hold documents of 16 MiB, but a page of small ones
    # is one reply: the server's batch first, smaller batches only if that is too large.
    commands.sent.clear()
    assert len(store.find(conversations, limit=10).rows) == 10
    assert commands.names() == ["find"]


def test_a_scoped_upsert_updates_in_one_command_and_inserts_in_two(db_name: str) -> None:
    """HOOK-QUERY: the scope's equalities must not be copied into a new row, so a scoped
    upsert is an update in scope first, then an insert; another scope's row is found by
    the failed insert and never written."""
    commands = Commands()
    client: MongoClient[Any] = MongoClient(URL, event_listeners=[commands])
    adapter = MongoAdapter(client, db_name)
    try:
        store = Store(SCHEMA, adapter, plugins=[TenantScope(models=["items"])])
        store.bootstrap()
        acme, other = store.bind(tenant_id="acme"), store.bind(tenant_id="other")
        commands.sent.clear()
        assert acme.upsert(ITEMS, row("k", s="a"), update=["s"]).inserted
        assert commands.names() == ["findAndModify", "insert"]
        commands.sent.clear()
        assert acme.upsert(ITEMS, row("k", s="b"), update=["s"]).row["s"] == "b"
        assert commands.names() == ["findAndModify"]
        assert commands.last("findAndModify")["query"] == {"_id": "k", "tenant_id": "acme"}
        commands.sent.clear()
        with pytest.raises(DuplicateKeyError):
            other.upsert(ITEMS, row("k", s="stolen"), update=["s"])
        assert commands.names() == ["findAndModify", "insert", "find"]
        got = acme.get(ITEMS, {"id": "k"})
        assert got is not None and got["s"] == "b"  # untouched by the other scope
    finally:
        adapter.close()
        client.close()


# --- observability, errors, factory -------------------------------------------------------


def test_statements_show_the_mql_shape_without_values(store: Store, adapter: MongoAdapter) -> None:
    events: list[QueryEvent] = []
    observed = Store(SCHEMA, adapter, on_query=events.append)
    observed.insert(ITEMS, row("k", s="secret"))
    observed.find(ITEMS, and_(gt("s", "secret"), ne("i", 5)), order_by=desc("s"), limit=3)
    observed.find(ITEMS, eq(path("j", "a.b"), 1))
    assert [e.operation for e in events] == ["insert", "find", "find"]
    assert events[0].statement == "items.insertOne(?)"
    batch = Insert(ITEMS, ({**dict.fromkeys(ITEMS.field_names), "id": "a"},) * 2)
    assert adapter.statement(batch) == "items.insertMany([2 documents], ordered)"
    assert events[1].statement == (
        'items.find({"s": {"$gt": ?}, "i": {"$nin": [?, ?]}}).sort({"s": -1, "_id": 1}).limit(4)'
    )
    assert "secret" not in str(events)
    assert events[2].statement is not None and f'"j.a{ESC}db"' in events[2].statement
    assert '{"$not": {"$type": "array"}}' in events[2].statement
    update = adapter.statement(Update(ITEMS, IsNull("s"), {"s": "x", "n": None}))
    assert update == 'items.updateMany({"s": ?}, {"$set": {"s": ?}, "$unset": {"n": ""}})'
    assert adapter.statement(Delete(ITEMS, In("id", ("a",), negated=True))) == (
        'items.deleteMany({"_id": {"$nin": [?]}})'
    )


def test_driver_errors_are_wrapped_with_their_cause(adapter: MongoAdapter) -> None:  # ERR-1
    # An index made outside no-orm with the keys of a schema index: the server refuses.
    adapter.database["accounts"].create_index([("email", 1)], name="made_by_hand")
    with pytest.raises(BackendError) as backend:
        adapter.bootstrap(SCHEMA)
    assert backend.value.model == "accounts"
    assert isinstance(backend.value.__cause__, OperationFailure)
    adapter.database["accounts"].drop_index("made_by_hand")
    adapter.bootstrap(SCHEMA)
    full = {**dict.fromkeys(ITEMS.field_names), "id": "a"}
    adapter.execute(Insert(ITEMS, (full,)))
    with pytest.raises(DuplicateKeyError) as caught:
        adapter.execute(Insert(ITEMS, (full,)))
    assert caught.value.model == "items" and isinstance(caught.value.__cause__, PyMongoError)


def test_the_conformance_factory_makes_and_drops_fresh_databases(
    client: MongoClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOORM_MONGODB_URL", URL)
    factory = ConformanceFactory()
    first, second = factory(), factory()
    assert isinstance(first, MongoAdapter) and isinstance(second, MongoAdapter)
    assert first.database_name != second.database_name
    assert first.database_name.startswith("noorm_test_")
    Store(SCHEMA, first).bootstrap()
    twin = factory.same_database(first)
    assert isinstance(twin, MongoAdapter) and twin.database_name == first.database_name
    assert twin.bootstrap(SCHEMA) == []
    twin.close()
    first.close()
    second.close()
    assert first.database_name not in client.list_database_names()
    monkeypatch.delenv("NOORM_MONGODB_URL")
    with pytest.raises(RuntimeError, match="NOORM_MONGODB_URL"):
        factory()


# --- differential: the adapter agrees with the reference on generated filters -------------

SAMPLE_VALUES: dict[str, list[Any]] = {
    "s": [None, "", "a", "B", "é", "😀"],
    "n": [None, -1.5, 0.0, 1.0, 2.5],
    "i": [None, -(2**63), -1, 0, 1, 2**53 + 1],
    "b": [None, True, False],
    "t": [None, datetime(1969, 7, 20, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)],
}
JSON_VALUES: list[Any] = [None, 1, 1.0, "1", True, False, None, [1], {"x": 1}, {"v": [None]}]


@pytest.fixture(scope="module")
def reference(client: MongoClient[Any]) -> Iterator[tuple[Store, list[dict[str, Any]]]]:
    name = _fresh_name()
    adapter = MongoAdapter(client, name)
    store = Store(SCHEMA, adapter)
    store.bootstrap()
    rows = []
    for k in range(40):
        values = {f: v[(k * (3 + n)) % len(v)] for n, (f, v) in enumerate(SAMPLE_VALUES.items())}
        doc = JSON_VALUES[k % len(JSON_VALUES)]
        j = None if k % 7 == 0 else ({"v": doc} if k % 3 else doc)
        rows.append(row(f"r{k:02}", **values, j=j))
    stored = store.insert_many(ITEMS, rows)
    yield store, stored
    adapter.close()
    client.drop_database(name)


def _leaf() -> st.SearchStrategy[Filter]:
    def compare(field: str) -> st.SearchStrategy[Filter]:
        values = [v for v in SAMPLE_VALUES[field] if v is not None]
        ops = st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"])
        return st.one_of(
            st.builds(lambda op, v: Compare(op, field, v), ops, st.sampled_from(values)),
            st.builds(
                lambda vs, neg: In(field, tuple(vs), neg),
                st.lists(st.sampled_from(values), max_size=3),
                st.booleans(),
            ),
            st.just(IsNull(field)),
        )

    scalars = [1, 1.0, 0, "1", "", True, False, 2.5]
    ref = st.sampled_from([path("j", "v"), path("j", "x"), path("j", "v", "x")])
    on_path = st.one_of(
        st.builds(
            Compare,
            st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]),
            ref,
            st.sampled_from(scalars),
        ),
        st.builds(
            lambda r, vs, neg: In(r, tuple(vs), neg),
            ref,
            st.lists(st.sampled_from(scalars), max_size=3),
            st.booleans(),
        ),
        st.builds(IsNull, ref),
        st.just(IsNull("j")),
    )
    return st.one_of(*(compare(f) for f in SAMPLE_VALUES), on_path)


FILTERS = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda xs: And(tuple(xs)), st.lists(inner, max_size=3)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(inner, max_size=3)),
        st.builds(Not, inner),
    ),
    max_leaves=6,
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(where=FILTERS, order=st.sampled_from(["s", "n", "i", "b", "t"]), descending=st.booleans())
def test_filters_and_orders_agree_with_the_reference_adapter(
    reference: tuple[Store, list[dict[str, Any]]], where: Filter, order: str, descending: bool
) -> None:
    store, rows = reference
    expected = [r for r in rows if matches(ITEMS, where, r)]
    sort_rows(ITEMS, expected, [Order(order, descending)])
    got = store.find(ITEMS, where, order_by=Order(order, descending))
    assert ids(got) == ids(expected), where
    assert store.count(ITEMS, where) == len(expected)


# --- FerretDB's SQLite backend (docs/certification.md) ------------------------------------------


@pytest.fixture(scope="module")
def sqlite_ferretdb() -> Iterator[MongoClient[Any]]:
    """A private FerretDB on its SQLite backend (the binary ci/services builds)."""
    binary = ferretdb_binary()
    if binary is None:
        pytest.skip("no FerretDB binary in $NOORM_CACHE/bin (ci/services builds it)")
    server = PrivateFerretDB(binary)
    client: MongoClient[Any] = MongoClient(server.url, tz_aware=True)
    try:
        yield client
    finally:
        client.close()
        server.close()


def test_a_unique_index_over_duplicates_is_a_duplicate_key_error_on_the_sqlite_backend(
    sqlite_ferretdb: MongoClient[Any],
) -> None:
    """FerretDB/SQLite reports the failed index build as code 1 with SQLite's 2067
    (BOOT-1): the same DuplicateKeyError as on its PostgreSQL backend."""
    plain = Model(
        "evolving", [Field("id", IntegerType()), Field("email", StringType(40))], primary_key=["id"]
    )
    unique = plain.replace(indexes=[Index("evolving_email", ["email"], unique=True)])
    adapter = MongoAdapter(sqlite_ferretdb, f"noorm_sqlite_{uuid.uuid4().hex[:8]}")
    try:
        Store([plain], adapter).bootstrap()
        Store([plain], adapter).insert_many(
            plain, [{"id": 1, "email": "a"}, {"id": 2, "email": "a"}]
        )
        with pytest.raises(DuplicateKeyError) as caught:
            Store([unique], adapter).bootstrap()
        assert caught.value.model == "evolving"
        assert isinstance(caught.value.__cause__, OperationFailure)
    finally:
        sqlite_ferretdb.drop_database(adapter.database.name)
        adapter.close()
