"""The JSON form of a schema, so that a schema is language-neutral data.

The form is described by ``schema.schema.json`` (JSON Schema, draft 2020-12) shipped
beside this module; ``schema_from_json(schema_to_json(s)) == s`` for every schema.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from .errors import SchemaError
from .schema import Field, Index, IndexColumn, Model, Schema
from .types import (
    BooleanType,
    FieldType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)

__all__ = ["FORMAT", "json_schema", "schema_from_json", "schema_to_json"]

FORMAT = "no-orm/schema@1"

_SIMPLE: dict[str, FieldType] = {
    "number": NumberType(),
    "integer": IntegerType(),
    "boolean": BooleanType(),
    "timestamp": TimestampType(),
    "json": JsonType(),
}


def _field_to_json(field: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"name": field.name, "type": field.type.name}
    if isinstance(field.type, StringType) and field.type.max_length is not None:
        out["max_length"] = field.type.max_length
    if field.nullable:
        out["nullable"] = True
    return out


def schema_to_json(schema: Schema) -> dict[str, Any]:
    """A plain-JSON description of ``schema``."""
    return {
        "format": FORMAT,
        "models": [
            {
                "name": m.name,
                "fields": [_field_to_json(f) for f in m.fields],
                "primary_key": list(m.primary_key),
                "indexes": [
                    {
                        "name": i.name,
                        "columns": [
                            {"field": c.field, "order": "desc" if c.descending else "asc"}
                            for c in i.columns
                        ],
                        **({"unique": True} if i.unique else {}),
                    }
                    for i in m.indexes
                ],
                **({"partition_key": list(m.partition_key)} if m.partition_key else {}),
                **({"colocate_with": m.colocate_with} if m.colocate_with is not None else {}),
            }
            for m in schema.models
        ],
    }


def _expect(cond: bool, message: str, model: str | None = None) -> None:
    if not cond:
        raise SchemaError(message, model=model)


def _field_from_json(data: Any, model: str) -> Field:
    _expect(
        isinstance(data, dict) and isinstance(data.get("name"), str), "a field needs a name", model
    )
    name = data["name"]
    kind = data.get("type")
    unknown = set(data) - {"name", "type", "max_length", "nullable"}
    if unknown:
        raise SchemaError(f"unknown field properties {sorted(unknown)}", model=model, field=name)
    if kind == "string":
        field_type: FieldType = StringType(data.get("max_length"))
    elif kind in _SIMPLE and "max_length" not in data:
        field_type = _SIMPLE[kind]
    else:
        raise SchemaError(f"unknown field type {kind!r}", model=model, field=name)
    nullable = data.get("nullable", False)
    if not isinstance(nullable, bool):
        raise SchemaError("nullable must be a boolean", model=model, field=name)
    return Field(name, field_type, nullable=nullable)


def _model_from_json(data: Any) -> Model[Any]:
    _expect(isinstance(data, dict) and isinstance(data.get("name"), str), "a model needs a name")
    name = data["name"]
    _expect(isinstance(data.get("fields"), list), "a model needs a list of fields", name)
    _expect(isinstance(data.get("primary_key"), list), "a model needs a primary_key list", name)
    indexes = []
    for raw in data.get("indexes", []):
        _expect(
            isinstance(raw, dict) and isinstance(raw.get("columns"), list),
            "an index needs columns",
            name,
        )
        columns = []
        for col in raw["columns"]:
            _expect(
                isinstance(col, dict) and col.get("order", "asc") in ("asc", "desc"),
                "bad index column",
                name,
            )
            columns.append(IndexColumn(col.get("field"), descending=col.get("order") == "desc"))
        indexes.append(Index(raw.get("name"), columns, unique=bool(raw.get("unique", False))))
    fields = [_field_from_json(f, name) for f in data["fields"]]
    unknown = set(data) - {
        "name",
        "fields",
        "primary_key",
        "indexes",
        "partition_key",
        "colocate_with",
    }
    if unknown:
        raise SchemaError(f"unknown model properties {sorted(unknown)}", model=name)
    partition_key = data.get("partition_key", [])
    _expect(
        isinstance(partition_key, list) and all(isinstance(p, str) for p in partition_key),
        "partition_key must be a list of field names",
        name,
    )
    colocate_with = data.get("colocate_with")
    _expect(
        colocate_with is None or isinstance(colocate_with, str),
        "colocate_with must be a model name",
        name,
    )
    return Model(
        name,
        fields,
        primary_key=data["primary_key"],
        indexes=indexes,
        partition_key=partition_key,
        colocate_with=colocate_with,
    )


def schema_from_json(data: dict[str, Any] | str) -> Schema:
    """Build and validate a schema from its JSON form (a dict or JSON text)."""
    if isinstance(data, str):
        data = json.loads(data)
    _expect(isinstance(data, dict), "a schema is a JSON object")
    assert isinstance(data, dict)
    _expect(data.get("format") == FORMAT, f"format must be {FORMAT!r}")
    _expect(isinstance(data.get("models"), list), "a schema needs a list of models")
    return Schema(_model_from_json(m) for m in data["models"])


def json_schema() -> dict[str, Any]:
    """The JSON Schema describing the JSON form."""
    text = resources.files(__package__).joinpath("schema.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result
