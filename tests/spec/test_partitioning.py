"""PART-1/PART-2 at the spec level: validation, the JSON form, and the rule as a property."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noorm.kit import TenantScope
from noorm.kit.plugins.tenant import TenantScope as _TenantScope
from noorm.spec import (
    Field,
    Index,
    IntegerType,
    Model,
    Schema,
    SchemaError,
    StringType,
    json_schema,
    schema_from_json,
    schema_to_json,
)

FIELDS = [Field(name, IntegerType()) for name in ("a", "b", "c", "d")]


def conversations_and_items() -> Schema:
    """The hebo shape: items colocated with their conversation."""
    conversations = Model(
        "conversations",
        [Field("id", StringType(64)), Field("title", StringType(), nullable=True)],
        primary_key="id",
        partition_key="id",
    )
    items = Model(
        "items",
        [Field("conversation_id", StringType(64)), Field("id", StringType(64))],
        primary_key=["conversation_id", "id"],
        indexes=[Index("items_by_id", ["id", "conversation_id"], unique=True)],
        partition_key="conversation_id",
        colocate_with="conversations",
    )
    return Schema([conversations, items])


def test_a_partitioned_model_keeps_its_parts_and_copies_keep_them() -> None:
    schema = conversations_and_items()
    items = schema.model("items")
    assert items.partition_key == ("conversation_id",) and items.partitioned
    assert items.colocate_with == "conversations"
    assert "partition_key=('conversation_id',)" in repr(items)
    copy = items.with_field(Field("n", IntegerType(), nullable=True))
    assert copy.partition_key == items.partition_key and copy.colocate_with == "conversations"
    plain = items.replace(partition_key=(), colocate_with=None)
    assert not plain.partitioned and plain.colocate_with is None and plain != items
    assert items.replace(colocate_with=None).colocate_with is None


def test_errors_name_the_model_the_index_and_the_field() -> None:
    with pytest.raises(SchemaError) as caught:
        Model(
            "accounts",
            [Field("id", IntegerType()), Field("email", StringType(100))],
            primary_key="id",
            partition_key="id",
            indexes=[Index("accounts_email", ["email"], unique=True)],
        )
    exc = caught.value
    assert (exc.model, exc.field) == ("accounts", "id")
    assert "accounts_email" in str(exc) and "PART-2" in str(exc)
    with pytest.raises(SchemaError, match="must be a model name"):
        Model("m", FIELDS, primary_key="a", partition_key="a", colocate_with=3)  # type: ignore[call-overload]
    with pytest.raises(SchemaError, match="field names"):
        Model("m", FIELDS, primary_key="a", partition_key=[1])  # type: ignore[list-item]


def test_the_json_form_validates_and_round_trips() -> None:
    schema = conversations_and_items()
    data = schema_to_json(schema)
    jsonschema.validate(data, json_schema())
    assert schema_from_json(json.dumps(data)) == schema
    items = data["models"][1]
    assert items["partition_key"] == ["conversation_id"]
    assert items["colocate_with"] == "conversations"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["models"][1].update(partition_key="conversation_id"),
        lambda d: d["models"][1].update(partition_key=[]),
        lambda d: d["models"][1].update(partition_key=["id"]),  # not a prefix
        lambda d: d["models"][1].update(colocate_with=7),
        lambda d: d["models"][1].pop("partition_key"),  # colocate_with without a key
        lambda d: d["models"][1].update(shard_key=["id"]),
    ],
)
def test_invalid_partitioning_is_rejected_by_both(mutate: Any) -> None:
    data = schema_to_json(conversations_and_items())
    mutate(data)
    with pytest.raises(SchemaError):
        schema_from_json(data)
    if data["models"][1].get("partition_key") != ["id"]:  # a prefix is a semantic rule
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, json_schema())


def test_tenant_scope_moves_colocated_models_together() -> None:
    keyed = _TenantScope(keyed=True).extend_schema(conversations_and_items())
    assert keyed.model("items").partition_key == ("tenant_id", "conversation_id")
    assert keyed.model("conversations").partition_key == ("tenant_id", "id")
    unkeyed = TenantScope().extend_schema(conversations_and_items())
    assert unkeyed.model("items").partition_key == ("conversation_id",)
    # Scoping only one model of a colocation group breaks PART-1: refused, naming it.
    with pytest.raises(SchemaError) as caught:
        TenantScope(keyed=True, models=["items"]).extend_schema(conversations_and_items())
    assert caught.value.model == "items"


@st.composite
def models(draw: st.DrawFn) -> tuple[list[str], list[str], list[tuple[list[str], bool]]]:
    names = [f.name for f in FIELDS]
    key = draw(st.permutations(names).map(lambda p: p[: draw(st.integers(1, 4))]))
    partition = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    indexes = draw(
        st.lists(
            st.tuples(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True),
                      st.booleans()),
            max_size=3,
        )
    )  # fmt: skip
    return key, partition, indexes


@settings(max_examples=300, deadline=None)
@given(models())
def test_the_rules_hold_exactly_as_stated(
    drawn: tuple[list[str], list[str], list[tuple[list[str], bool]]],
) -> None:
    """A model builds iff its partition key is empty or a prefix of the primary key that
    every unique index includes; the JSON form of one that builds round-trips."""
    key, partition, indexes = drawn
    ok = not partition or (
        key[: len(partition)] == partition
        and all(set(partition) <= set(cols) for cols, unique in indexes if unique)
    )
    built: Model[Any] | None = None
    try:
        built = Model(
            "m",
            FIELDS,
            primary_key=key,
            partition_key=partition,
            indexes=[Index(f"m_{k}", cols, unique=u) for k, (cols, u) in enumerate(indexes)],
        )
    except SchemaError as exc:
        assert not ok, f"refused a valid model: {exc}"
        assert exc.model == "m"
        return
    assert ok, "accepted a model that breaks PART-1/PART-2"
    schema = Schema([built])
    assert schema_from_json(schema_to_json(schema)) == schema
