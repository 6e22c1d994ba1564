"""Validation before any I/O: rows, keys, filters and orders checked against a model.

A :class:`ModelPlan` is built once per model when a store is created, so a call never
walks the schema: it looks fields up in prebuilt dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from noorm.spec.errors import ValidationError
from noorm.spec.filters import And, Compare, Filter, In, IsNull, Not, Or, Path, Ref
from noorm.spec.operations import Order
from noorm.spec.schema import Field, Model
from noorm.spec.types import JsonType
from noorm.spec.values import MAX_SAFE_INTEGER, check_text, normalize_value

__all__ = ["ModelPlan"]


class ModelPlan:
    """Everything validation needs about one model, precomputed."""

    __slots__ = ("fields", "key_fields", "model", "name", "required", "tiebreak")

    def __init__(self, model: Model[Any]) -> None:
        self.model = model
        self.name = model.name
        self.fields: dict[str, Field] = {f.name: f for f in model.fields}
        self.key_fields = model.primary_key
        self.required = frozenset(f.name for f in model.fields if not f.nullable)
        self.tiebreak = tuple(Order(k) for k in model.primary_key)

    # --- writes ---------------------------------------------------------------------------

    def field(self, name: object) -> Field:
        f = self.fields.get(name) if isinstance(name, str) else None
        if f is None:
            raise ValidationError("unknown field", model=self.name, field=str(name))
        return f

    def row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A complete canonical row: every field present, missing nullable ones None."""
        if not isinstance(values, Mapping):
            raise ValidationError(
                f"a row must be a mapping, got {type(values).__name__}", model=self.name
            )
        for name in values:
            if name not in self.fields:
                raise ValidationError("unknown field", model=self.name, field=str(name))
        out: dict[str, Any] = {}
        for name, f in self.fields.items():
            if name in values:
                out[name] = normalize_value(self.model, f, values[name])
            elif name in self.required:
                raise ValidationError(
                    "missing value for a non-nullable field", model=self.name, field=name
                )
            else:
                out[name] = None
        return out

    def changes(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical values for an update: known, non-key fields only."""
        if not isinstance(values, Mapping):
            raise ValidationError(
                f"values must be a mapping, got {type(values).__name__}", model=self.name
            )
        if not values:
            raise ValidationError("an update needs at least one value", model=self.name)
        out: dict[str, Any] = {}
        for name, value in values.items():
            f = self.field(name)
            if name in self.key_fields:
                raise ValidationError(
                    "primary-key fields cannot be updated", model=self.name, field=name
                )
            out[name] = normalize_value(self.model, f, value)
        return out

    def update_fields(self, fields: Sequence[str]) -> tuple[str, ...]:
        if isinstance(fields, str):
            raise ValidationError(
                "update= takes a list of field names, not a string", model=self.name
            )
        out: list[str] = []
        for name in fields:
            self.field(name)
            if name in self.key_fields:
                raise ValidationError(
                    "primary-key fields cannot be updated", model=self.name, field=name
                )
            if name not in out:
                out.append(name)
        return tuple(out)

    def key(self, key: Mapping[str, Any]) -> dict[str, Any]:
        """A canonical primary key: exactly the key fields."""
        if not isinstance(key, Mapping):
            raise ValidationError(
                f"a key must be a mapping of the primary-key fields {list(self.key_fields)}, "
                f"got {type(key).__name__}",
                model=self.name,
            )
        for name in key:
            if name not in self.key_fields:
                self.field(name)
                raise ValidationError("not a primary-key field", model=self.name, field=str(name))
        out = {}
        for name in self.key_fields:
            if name not in key:
                raise ValidationError(
                    "the key is missing a primary-key field", model=self.name, field=name
                )
            out[name] = normalize_value(self.model, self.fields[name], key[name])
        return out

    def key_filter(self, key: Mapping[str, Any]) -> Filter:
        items = tuple(Compare("eq", name, value) for name, value in self.key(key).items())
        return items[0] if len(items) == 1 else And(items)

    # --- reads ----------------------------------------------------------------------------

    def order(self, order_by: Sequence[str | Order]) -> tuple[Order, ...]:
        """The requested order with the primary key appended as the final tie-breaker."""
        if isinstance(order_by, (str, Order)):
            order_by = (order_by,)
        out: list[Order] = []
        seen: set[str] = set()
        for item in order_by:
            order = Order(item) if isinstance(item, str) else item
            if not isinstance(order, Order):
                raise ValidationError(
                    f"order_by takes field names or asc()/desc(), got {item!r}", model=self.name
                )
            f = self.field(order.field)
            if isinstance(f.type, JsonType):
                raise ValidationError("cannot order by a json field", model=self.name, field=f.name)
            if order.field in seen:
                raise ValidationError(
                    "order_by repeats a field", model=self.name, field=order.field
                )
            seen.add(order.field)
            out.append(order)
        out.extend(o for o in self.tiebreak if o.field not in seen)
        return tuple(out)

    def filter(self, where: Filter) -> Filter:
        """The filter with every reference checked and every value made canonical."""
        if isinstance(where, Compare):
            return Compare(
                where.op, self._ref(where.ref), self._operand(where.ref, where.value, where.op)
            )
        if isinstance(where, In):
            ref = self._ref(where.ref)
            return In(ref, tuple(self._operand(ref, v, "eq") for v in where.values), where.negated)
        if isinstance(where, IsNull):
            ref = self._ref(where.ref)
            return where if ref is where.ref else IsNull(ref)
        if isinstance(where, And):
            return And(tuple(self.filter(item) for item in where.items))
        if isinstance(where, Or):
            return Or(tuple(self.filter(item) for item in where.items))
        if isinstance(where, Not):
            return Not(self.filter(where.item))
        raise ValidationError(f"not a filter: {where!r}", model=self.name)

    def _ref(self, ref: Ref) -> Ref:
        if isinstance(ref, Path):
            f = self.field(ref.field)
            if not isinstance(f.type, JsonType):
                raise ValidationError("a path needs a json field", model=self.name, field=f.name)
            if not ref.keys or not all(isinstance(k, str) for k in ref.keys):
                raise ValidationError("path keys must be strings", model=self.name, field=f.name)
            for k in ref.keys:
                check_text(k, "path keys", self.name, f.name)
            return ref
        self.field(ref)
        return ref

    def _operand(self, ref: Ref, value: Any, op: str) -> Any:
        if value is None:
            raise ValidationError(
                f"{op} cannot compare with None; use is_null()",
                model=self.name,
                field=ref.field if isinstance(ref, Path) else ref,
            )
        if isinstance(ref, Path):
            return self._json_scalar(ref, value)
        f = self.fields[ref]
        if isinstance(f.type, JsonType):
            raise ValidationError(
                "a json field can only be tested with is_null(); compare a path inside it",
                model=self.name,
                field=f.name,
            )
        return normalize_value(self.model, f, value)

    def _json_scalar(self, ref: Path, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            check_text(value, "strings", self.name, ref.field)
            return value
        if isinstance(value, int):
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                raise ValidationError(
                    f"json integer {value} is outside +/-2**53", model=self.name, field=ref.field
                )
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationError("numbers must be finite", model=self.name, field=ref.field)
            return value + 0.0
        raise ValidationError(
            f"a json path compares with a str, int, float or bool, got {type(value).__name__}",
            model=self.name,
            field=ref.field,
        )
