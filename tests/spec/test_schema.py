"""SCH-*: building and validating the canonical schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NotRequired, TypedDict

import pytest

from noorm.spec import (
    BooleanType,
    Field,
    Index,
    IndexColumn,
    IntegerType,
    Json,
    JsonObject,
    JsonType,
    Model,
    NumberType,
    Schema,
    SchemaError,
    StringType,
    TimestampType,
    ValidationError,
    model,
)


def _model(**overrides: Any) -> Model[dict[str, Any]]:
    args: dict[str, Any] = {
        "name": "items",
        "fields": [Field("id", StringType(36)), Field("n", NumberType(), nullable=True)],
        "primary_key": ("id",),
        "indexes": (),
    }
    args.update(overrides)
    return Model(args.pop("name"), args.pop("fields"), **args)


def test_a_valid_model_keeps_its_parts() -> None:
    m = _model(indexes=[Index("items_n", [("n", "desc"), "id"], unique=True)])
    assert m.field_names == ("id", "n")
    assert m.primary_key == ("id",)
    assert m.indexes[0].columns == (IndexColumn("n", descending=True), IndexColumn("id"))
    assert m.indexes[0].unique


@pytest.mark.parametrize(
    "name", ["Items", "1items", "items-x", "", "a" * 64, "ïtems", "items x", "items\x00"]
)
def test_non_portable_model_names_are_rejected(name: str) -> None:
    with pytest.raises(SchemaError, match="portable identifier"):
        _model(name=name)


def test_exactly_63_characters_is_portable() -> None:
    assert _model(name="a" * 63).name == "a" * 63


def test_bad_field_name_names_model_and_field() -> None:
    with pytest.raises(SchemaError) as info:
        _model(fields=[Field("id", StringType(36)), Field("Bad", NumberType())])
    assert info.value.model == "items"
    assert info.value.field == "Bad"


def test_duplicate_field() -> None:
    with pytest.raises(SchemaError, match="duplicate field") as info:
        _model(fields=[Field("id", StringType(36)), Field("id", NumberType())])
    assert info.value.field == "id"


@pytest.mark.parametrize(
    ("fields", "key", "message"),
    [
        ([Field("id", StringType(36))], ("missing",), "does not exist"),
        ([Field("id", StringType(36), nullable=True)], ("id",), "cannot be nullable"),
        ([Field("id", StringType())], ("id",), "needs a max_length"),
        ([Field("id", JsonType())], ("id",), "json field cannot"),
        ([Field("id", StringType(3))], (), "primary key of at least one"),
        ([Field("id", StringType(3))], ("id", "id"), "repeats"),
    ],
)
def test_primary_key_rules(fields: list[Field], key: tuple[str, ...], message: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        Model("items", fields, primary_key=key)
    assert info.value.model == "items"


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (Index("ix", ["nope"]), "does not exist"),
        (Index("ix", ["doc"]), "cannot index a json"),
        (Index("ix", ["text"]), "needs a max_length"),
        (Index("ix", []), "no columns"),
        (Index("ix", ["id", "id"]), "repeats"),
        (Index("Bad", ["id"]), "portable"),
    ],
)
def test_index_rules(index: Index, message: str) -> None:
    fields = [Field("id", StringType(3)), Field("doc", JsonType()), Field("text", StringType())]
    with pytest.raises(SchemaError, match=message):
        Model("items", fields, primary_key="id", indexes=[index])


def test_composite_primary_key() -> None:
    m = Model(
        "pairs",
        [Field("a", StringType(5)), Field("b", IntegerType()), Field("c", BooleanType())],
        primary_key=("a", "b"),
    )
    assert m.primary_key == ("a", "b")


def test_schema_rejects_duplicate_models_and_shared_index_names() -> None:
    a = _model(indexes=[Index("shared", ["n"])])
    with pytest.raises(SchemaError, match="duplicate model"):
        Schema([a, a])
    b = _model(name="other", indexes=[Index("shared", ["n"])])
    with pytest.raises(SchemaError, match="already used by model 'items'"):
        Schema([a, b])


def test_unknown_model_and_field_lookups_name_them() -> None:
    schema = Schema([_model()])
    with pytest.raises(ValidationError) as info:
        schema.model("nope")
    assert info.value.model == "nope"
    with pytest.raises(ValidationError) as finfo:
        schema.model("items").field("nope")
    assert (finfo.value.model, finfo.value.field) == ("items", "nope")


def test_extension_helpers_validate_and_do_not_mutate() -> None:
    m = _model()
    wider = m.with_field(Field("tenant_id", StringType(10)), first=True).with_index(
        Index("items_tenant", ["tenant_id", "id"])
    )
    assert wider.field_names == ("tenant_id", "id", "n")
    assert m.field_names == ("id", "n")
    with pytest.raises(SchemaError):
        m.with_index(Index("broken", ["missing"]))
    schema = Schema([m]).replace(wider)
    assert schema.model("items") is wider


class Conversation(TypedDict):
    id: Annotated[str, StringType(255)]
    created_at: datetime
    metadata: Json
    data: JsonObject
    score: float | None
    count: int
    flag: bool
    note: NotRequired[str | None]


def test_typed_models_map_annotations_to_logical_types() -> None:
    m = model("conversations", Conversation, primary_key="id")
    expected = [
        Field("id", StringType(255)),
        Field("created_at", TimestampType()),
        Field("metadata", JsonType(), nullable=True),
        Field("data", JsonType()),
        Field("score", NumberType(), nullable=True),
        Field("count", IntegerType()),
        Field("flag", BooleanType()),
        Field("note", StringType(), nullable=True),
    ]
    assert list(m.fields) == expected


def test_typed_model_with_unresolvable_annotation_is_a_schema_error() -> None:
    class Broken(TypedDict):
        id: Missing  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(SchemaError, match="cannot read the annotations"):
        model("broken", Broken, primary_key="id")
