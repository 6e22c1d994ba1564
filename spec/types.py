"""Logical field types and the Python value types they map to.

The schema describes intent (a string of at most 255 characters), never storage
(VARCHAR(255)); adapters choose the physical type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, ForwardRef, Literal, TypeAlias, Union

__all__ = [
    "BooleanType",
    "FieldType",
    "IntegerType",
    "Json",
    "JsonArray",
    "JsonObject",
    "JsonType",
    "NumberType",
    "StringType",
    "TimestampType",
    "TypeName",
]

if TYPE_CHECKING:
    Json: TypeAlias = dict[str, "Json"] | list["Json"] | str | int | float | bool | None
else:  # the forward reference names its module so get_type_hints() resolves it anywhere
    _JsonRef = ForwardRef("Json", module=__name__)
    Json = Union[dict[str, _JsonRef], list[_JsonRef], str, int, float, bool, None]  # noqa: UP007
"""Any JSON value. Used as a field annotation it declares a nullable json field."""
JsonObject: TypeAlias = dict[str, Json]
JsonArray: TypeAlias = list[Json]

TypeName = Literal["string", "number", "integer", "boolean", "timestamp", "json"]


@dataclass(frozen=True, slots=True)
class StringType:
    """Text; ``max_length`` counts Unicode code points."""

    max_length: int | None = None
    name: ClassVar[TypeName] = "string"


@dataclass(frozen=True, slots=True)
class NumberType:
    """A finite IEEE-754 float64."""

    name: ClassVar[TypeName] = "number"


@dataclass(frozen=True, slots=True)
class IntegerType:
    """The integer variant of number: an exact signed 64-bit integer."""

    name: ClassVar[TypeName] = "integer"


@dataclass(frozen=True, slots=True)
class BooleanType:
    name: ClassVar[TypeName] = "boolean"


@dataclass(frozen=True, slots=True)
class TimestampType:
    """An instant with millisecond precision, returned in UTC."""

    name: ClassVar[TypeName] = "timestamp"


@dataclass(frozen=True, slots=True)
class JsonType:
    """Any JSON value, stored as a document the adapter can look inside."""

    name: ClassVar[TypeName] = "json"


FieldType: TypeAlias = (
    StringType | NumberType | IntegerType | BooleanType | TimestampType | JsonType
)
