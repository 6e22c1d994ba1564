"""Spec section 1, schema: models, logical types, portable identifiers, the JSON form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from noorm.spec import (
    BooleanType,
    DuplicateKeyError,
    Field,
    Index,
    IntegerType,
    JsonType,
    Model,
    NumberType,
    Schema,
    SchemaError,
    StringType,
    TimestampType,
    asc,
    desc,
    eq,
    gt,
    schema_from_json,
    schema_to_json,
)

from .checks import all_rows, ids
from .conftest import StoreMaker
from .models import ACCOUNTS, ITEMS, PAIRS, SCHEMA, item


@pytest.mark.clause("SCH-1", "SCH-2")
def test_every_logical_type_composite_keys_and_ordered_indexes_bootstrap(
    make_store: StoreMaker,
) -> None:
    wide = Model(
        "wide",
        [
            Field("k1", IntegerType()),
            Field("k2", StringType(20)),
            Field("k3", TimestampType()),
            Field("k4", BooleanType()),
            Field("k5", NumberType()),
            Field("s", StringType(), nullable=True),
            Field("doc", JsonType()),
        ],
        primary_key=["k1", "k2", "k3", "k4", "k5"],
        indexes=[
            Index("wide_mixed", [("k5", "desc"), "k2", ("k3", "desc")]),
            Index("wide_unique", ["k4", ("k1", "desc")], unique=True),
        ],
    )
    store = make_store(Schema([wide]))
    t = datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)  # milliseconds are TS-2's
    rows: list[dict[str, Any]] = [
        {"k1": 1, "k2": "a", "k3": t, "k4": True, "k5": 0.5, "s": None, "doc": {"x": [1]}},
        {"k1": 1, "k2": "a", "k3": t, "k4": False, "k5": 0.5, "s": "", "doc": []},
        {"k1": 2, "k2": "a", "k3": t, "k4": True, "k5": -0.5, "s": "x", "doc": "text"},
    ]
    store.insert_many(wide, rows)
    by_key = sorted(all_rows(store, wide), key=lambda r: (r["k1"], r["k2"], r["k4"]))
    assert by_key == sorted(rows, key=lambda r: (r["k1"], r["k2"], r["k4"]))
    key = {"k1": 1, "k2": "a", "k3": t, "k4": False, "k5": 0.5}
    assert store.get(wide, key) == rows[1]
    assert store.count(wide, eq("k4", True)) == 2
    with pytest.raises(DuplicateKeyError):  # the unique index over (k4, k1)
        store.insert(wide, {**rows[0], "k2": "b"})


def _awkward_schema() -> tuple[Model[Any], Model[Any]]:
    long_model = "m" + "x" * 62
    long_field = "f" + "y" * 62
    reserved = Model(
        "select",
        [
            Field("from", StringType(10)),
            Field("order", IntegerType(), nullable=True),
            Field("group", StringType(), nullable=True),
            Field("table", BooleanType(), nullable=True),
            Field("index", NumberType(), nullable=True),
            Field("user", TimestampType(), nullable=True),
            Field("_", JsonType(), nullable=True),
        ],
        primary_key=["from"],
        indexes=[
            Index("where", [("order", "desc"), "from"]),
            Index("key", ["table", ("from", "desc")]),
        ],
    )
    long = Model(
        long_model,
        [Field(long_field, IntegerType()), Field("v2", StringType(5), nullable=True)],
        primary_key=[long_field],
        # The unique index holds the key field, so the model can be partitioned (PART-2).
        indexes=[Index("i" + "z" * 62, ["v2", long_field], unique=True)],
    )
    return reserved, long


@pytest.mark.clause("SCH-3")
def test_portable_identifiers_work_verbatim_including_sql_keywords_and_63_chars(
    make_store: StoreMaker,
) -> None:
    reserved, long = _awkward_schema()
    store = make_store(Schema([reserved, long]))
    store.insert_many(
        reserved,
        [
            {"from": "b", "order": 2, "group": "g", "table": True, "index": 1.5, "_": {"a": 1}},
            {"from": "a", "order": 1, "user": datetime(2000, 1, 1, tzinfo=UTC)},
        ],
    )
    found = store.find(reserved, gt("order", 0), order_by=desc("order"))
    assert sorted(ids(found, "from")) == ["a", "b"]
    assert store.update(reserved, {"group": "h"}, where=eq("table", True)) == 1
    got = store.get(reserved, {"from": "b"})
    assert got is not None and got["group"] == "h" and got["_"] == {"a": 1}
    key = long.fields[0].name
    store.insert_many(long, [{key: 1, "v2": "x"}, {key: 2}])
    assert sorted(ids(store.find(long, order_by=asc("v2")), key)) == [1, 2]
    assert store.delete(long, where=eq(key, 2)) == 1
    assert store.delete(reserved, key={"from": "a"}) == 1
    store.bootstrap()


@pytest.mark.clause("SCH-3", "SCH-5")
@pytest.mark.parametrize(
    "name", ["Items", "1items", "items-x", "ítems", "i" * 64, "", "items.x", "items x"]
)
def test_non_portable_identifiers_are_rejected(name: str) -> None:
    with pytest.raises(SchemaError):
        Model(name, [Field("id", IntegerType())], primary_key=["id"])
    with pytest.raises(SchemaError) as caught:
        Model("m", [Field("id", IntegerType()), Field(name, IntegerType())], primary_key=["id"])
    assert caught.value.model == "m"
    with pytest.raises(SchemaError):
        Model("m", [Field("id", IntegerType())], primary_key=["id"], indexes=[Index(name, ["id"])])


@pytest.mark.clause("SCH-3", "SCH-5")
def test_names_are_unique() -> None:
    with pytest.raises(SchemaError) as caught:
        Model("m", [Field("a", IntegerType()), Field("a", StringType())], primary_key=["a"])
    assert (caught.value.model, caught.value.field) == ("m", "a")
    with pytest.raises(SchemaError):
        Schema([ITEMS, ITEMS])
    twin = Model("twin", [Field("id", IntegerType())], primary_key=["id"],
                 indexes=[Index("items_by_t", ["id"])])  # fmt: skip
    with pytest.raises(SchemaError):
        Schema([ITEMS, twin])


BROKEN_MODELS: list[tuple[str, Any, str]] = [
    ("json key", lambda: Model("m", [Field("k", JsonType())], primary_key=["k"]), "k"),
    (
        "nullable key",
        lambda: Model("m", [Field("k", IntegerType(), nullable=True)], primary_key=["k"]),
        "k",
    ),
    ("missing key", lambda: Model("m", [Field("k", IntegerType())], primary_key=["nope"]), "nope"),
    ("unbounded key", lambda: Model("m", [Field("k", StringType())], primary_key=["k"]), "k"),
    (
        "json index",
        lambda: Model(
            "m",
            [Field("k", IntegerType()), Field("d", JsonType())],
            primary_key=["k"],
            indexes=[Index("m_d", ["d"])],
        ),
        "d",
    ),
    (
        "unbounded index",
        lambda: Model(
            "m",
            [Field("k", IntegerType()), Field("s", StringType())],
            primary_key=["k"],
            indexes=[Index("m_s", ["s"])],
        ),
        "s",
    ),
    (
        "missing index column",
        lambda: Model(
            "m", [Field("k", IntegerType())], primary_key=["k"], indexes=[Index("m_x", ["x"])]
        ),
        "x",
    ),
]


@pytest.mark.clause("SCH-4", "SCH-5", "ERR-1")
@pytest.mark.parametrize("case", BROKEN_MODELS, ids=lambda c: c[0])
def test_schemas_breaking_key_and_index_rules_are_rejected_naming_model_and_field(
    case: tuple[str, Any, str],
) -> None:
    _, build, field = case
    with pytest.raises(SchemaError) as caught:
        build()
    assert (caught.value.model, caught.value.field) == ("m", field)
    assert "m" in str(caught.value) and field in str(caught.value)


@pytest.mark.clause("SCH-6")
def test_the_json_form_round_trips_and_describes_the_same_tables(make_store: StoreMaker) -> None:
    reserved, long = _awkward_schema()
    for schema in (SCHEMA, Schema([reserved, long]), Schema([PAIRS])):
        assert schema_from_json(schema_to_json(schema)) == schema
    store = make_store(SCHEMA)
    store.insert(ITEMS, item("written", s="through the original"))
    store.insert(ACCOUNTS, {"org": 1, "id": 1, "email": "a@x", "name": "a"})
    copy = schema_from_json(schema_to_json(SCHEMA))
    twin = make_store(copy)  # bootstraps again: a no-op on the same tables
    assert ids(twin.find(copy.model("items"))) == ["written"]
    with pytest.raises(DuplicateKeyError):
        twin.insert(copy.model("accounts"), {"org": 1, "id": 2, "email": "a@x", "name": "b"})
