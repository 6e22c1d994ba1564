"""SCH-6: the JSON form of a schema round-trips and matches the shipped JSON Schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from noorm.spec import (
    BooleanType,
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
    json_schema,
    schema_from_json,
    schema_to_json,
)


def _schema() -> Schema:
    return Schema(
        [
            Model(
                "conversations",
                [
                    Field("id", StringType(255)),
                    Field("created_at", TimestampType()),
                    Field("metadata", JsonType(), nullable=True),
                ],
                primary_key="id",
                indexes=[Index("conversations_created", [("created_at", "desc"), ("id", "desc")])],
            ),
            Model(
                "items",
                [
                    Field("conversation_id", StringType(255)),
                    Field("id", StringType(255)),
                    Field("n", NumberType(), nullable=True),
                    Field("i", IntegerType()),
                    Field("b", BooleanType()),
                    Field("text", StringType()),
                ],
                primary_key=("conversation_id", "id"),
                indexes=[Index("items_n", ["n"], unique=True)],
            ),
        ]
    )


def test_round_trip_is_equal() -> None:
    schema = _schema()
    data = schema_to_json(schema)
    assert schema_from_json(data) == schema
    assert schema_from_json(json.dumps(data)) == schema


def test_json_form_validates_against_the_shipped_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())
    jsonschema.validate(schema_to_json(_schema()), json_schema())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="other"),
        lambda d: d["models"][0]["fields"][0].update(type="varchar"),
        lambda d: d["models"][0]["fields"][0].update(extra=1),
        lambda d: d["models"][0]["fields"][1].update(max_length=3),
        lambda d: d["models"][0].update(primary_key=["nope"]),
    ],
)
def test_invalid_json_forms_are_rejected_by_both(mutate: object) -> None:
    data = schema_to_json(_schema())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(SchemaError):
        schema_from_json(data)
    if data["models"][0]["primary_key"] != ["nope"]:  # a semantic rule only the builder checks
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, json_schema())
