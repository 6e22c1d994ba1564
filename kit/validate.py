"""Validation before any I/O: rows, keys, filters and orders checked against a model.

A :class:`ModelPlan` is built once per model when a store is created, so a call never
walks the schema: it looks fields up in prebuilt dicts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from noorm.spec.adapter import Capability
from noorm.spec.errors import UnsupportedError, ValidationError, brief, suggest
from noorm.spec.filters import And, Compare, Filter, In, IsNull, Not, Or, Path, Ref, flatten
from noorm.spec.limits import MAX_ORDER_FIELDS, MAX_ROW_BYTES, value_bytes
from noorm.spec.operations import Order
from noorm.spec.schema import Field, Model
from noorm.spec.types import (
    BooleanType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)
from noorm.spec.values import (
    MAX_INTEGER,
    MAX_SAFE_INTEGER,
    MAX_TIMESTAMP,
    MIN_INTEGER,
    MIN_TIMESTAMP,
    check_text,
    copy_json,
    normalize_value,
)

from .limits import check_filter, check_size

__all__ = ["ModelPlan"]


Checker = Callable[[object], Any]


def _checker(model: Model[Any], field: Field) -> Checker:
    """``normalize_value`` for one field, with a fast path for values already canonical.

    The fast path accepts only what the general rules would return unchanged (exact
    built-in types within range); everything else, errors included, takes the general
    path, so the two can never disagree.
    """
    slow: Checker = partial(normalize_value, model, field)
    t = field.type
    if isinstance(t, StringType):
        most = t.max_length

        def string(value: object) -> Any:
            if (
                type(value) is str
                and value.isascii()
                and (most is None or len(value) <= most)
                and "\x00" not in value
            ):
                return value
            return slow(value)

        return string
    if isinstance(t, IntegerType):

        def integer(value: object) -> Any:
            if type(value) is int and MIN_INTEGER <= value <= MAX_INTEGER:
                return value
            return slow(value)

        return integer
    if isinstance(t, NumberType):

        def number(value: object) -> Any:
            if type(value) is float and math.isfinite(value):
                return value + 0.0
            return slow(value)

        return number
    if isinstance(t, BooleanType):
        return lambda value: value if type(value) is bool else slow(value)
    if isinstance(t, TimestampType):

        def timestamp(value: object) -> Any:
            if (
                type(value) is datetime
                and value.tzinfo is UTC
                and value.microsecond % 1000 == 0
                and MIN_TIMESTAMP <= value <= MAX_TIMESTAMP
            ):
                return value
            return slow(value)

        return timestamp
    return slow


_QUICK_FIELDS = 16
"""The most fields a mapping filter may have for :meth:`ModelPlan.quick_filter`."""


def _bound(value: object) -> int:
    """An upper bound of a canonical non-json value's size (LIM-ROW)."""
    if type(value) is str:
        return len(value) if value.isascii() else 4 * len(value)
    return 8


class ModelPlan:
    """Everything validation needs about one model, precomputed."""

    __slots__ = (
        "checkers",
        "columns",
        "fields",
        "json_fields",
        "json_paths",
        "key_fields",
        "model",
        "name",
        "plain",
        "tiebreak",
    )

    def __init__(self, model: Model[Any], *, json_paths: bool = True) -> None:
        self.model = model
        self.json_paths = json_paths
        """Whether the adapter declares json_paths; without it path filters are refused."""
        self.json_fields = frozenset(f.name for f in model.fields if isinstance(f.type, JsonType))
        self.name = model.name
        self.fields: dict[str, Field] = {f.name: f for f in model.fields}
        self.key_fields = model.primary_key
        self.tiebreak = tuple(Order(k) for k in model.primary_key)
        self.checkers = {f.name: _checker(model, f) for f in model.fields}
        self.plain = {n: c for n, c in self.checkers.items() if n not in self.json_fields}
        """The checkers of the fields a filter may compare directly (not json)."""
        self.columns = tuple(
            (f.name, self.checkers[f.name], f.name in self.json_fields, not f.nullable)
            for f in model.fields
        )

    # --- writes ---------------------------------------------------------------------------

    def field(self, name: object) -> Field:
        try:
            f = self.fields.get(name) if isinstance(name, str) else None
        except Exception:  # a str subclass whose __eq__ raises: the caller's, not ours
            raise _broken_name(self.name, name) from None
        if f is None:
            raise ValidationError(
                "unknown field" + suggest(name, self.fields),
                model=self.name,
                field=name if isinstance(name, str) else brief(name),
            )
        return f

    def row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A complete canonical row: every field present, missing nullable ones None."""
        if type(values) is not dict and not isinstance(values, Mapping):
            raise ValidationError(
                f"a row must be a mapping, got {type(values).__name__}", model=self.name
            )
        try:
            known = self.fields.keys() >= values.keys()
        except Exception:
            known = False  # a name whose __eq__ raises: field() below says which
        if not known:
            for name in values:
                self.field(name)  # the first unknown one raises
        out: dict[str, Any] = {}
        size = 0
        for name, check, is_json, required in self.columns:
            if name in values:
                value = values[name]
                if is_json and value is not None:
                    value, bound = copy_json(value, model=self.name, field=name)
                    size += bound
                else:
                    value = check(value)
                    size += _bound(value)
                out[name] = value
            elif required:
                raise ValidationError(
                    "missing value for a non-nullable field", model=self.name, field=name
                )
            else:
                out[name] = None
                size += 8
        if size > MAX_ROW_BYTES:  # the bound is near the limit: measure exactly
            check_size(value_bytes(out, self.json_fields), "the row", self.name)
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
        size = 0
        for name, value in values.items():
            self.field(name)
            if name in self.key_fields:
                raise ValidationError(
                    "primary-key fields cannot be updated", model=self.name, field=name
                )
            if value is not None and name in self.json_fields:
                out[name], bound = copy_json(value, model=self.name, field=name)
                size += bound
            else:
                out[name] = self.checkers[name](value)
                size += _bound(out[name])
        if size > MAX_ROW_BYTES:
            check_size(value_bytes(out, self.json_fields), "the update's values", self.name)
        return out

    def update_fields(self, fields: Sequence[str]) -> tuple[str, ...]:
        if isinstance(fields, str) or not isinstance(fields, Sequence | set | frozenset):
            raise ValidationError(
                f"update= takes a list of field names, got {type(fields).__name__}",
                model=self.name,
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
            self.field(name)
            if name not in self.key_fields:
                raise ValidationError("not a primary-key field", model=self.name, field=name)
        out = {}
        for name in self.key_fields:
            if name not in key:
                raise ValidationError(
                    "the key is missing a primary-key field", model=self.name, field=name
                )
            out[name] = self.checkers[name](key[name])
        return out

    def key_filter(self, key: Mapping[str, Any]) -> Filter:
        if len(self.key_fields) == 1 and type(key) is dict and len(key) == 1:
            name = self.key_fields[0]
            try:
                quick = name in key
            except Exception:  # a key name whose __eq__ raises: key() below says so
                quick = False
            if quick:  # the usual single-field key: what key() checks, directly
                return Compare("eq", name, self.checkers[name](key[name]))
        items = tuple(Compare("eq", name, value) for name, value in self.key(key).items())
        return items[0] if len(items) == 1 else And(items)

    # --- reads ----------------------------------------------------------------------------

    def quick_filter(self, where: dict[str, Any]) -> Filter | None:
        """``checked_filter(where_from(where))`` for a mapping of a few non-json fields to
        non-null values, built directly; None for anything else, or anything invalid
        (the general path then decides, and raises the usual error)."""
        if not 0 < len(where) <= _QUICK_FIELDS:
            return None
        items = []
        size = 0
        for name, value in where.items():
            try:
                check = self.plain.get(name)
            except Exception:  # a name whose __eq__ raises: the general path says so
                return None
            if check is None or value is None:
                return None
            try:
                value = check(value)
            except ValidationError:
                return None
            size += _bound(value)  # bounds check_filter's measure of the value given
            items.append(Compare("eq", name, value))
        if size > MAX_ROW_BYTES:
            return None
        return items[0] if len(items) == 1 else And(tuple(items))

    def order(self, order_by: Sequence[str | Order]) -> tuple[Order, ...]:
        """The requested order with the primary key appended as the final tie-breaker."""
        if isinstance(order_by, (str, Order)):
            order_by = (order_by,)
        if not isinstance(order_by, Sequence):
            raise ValidationError(
                f"order_by takes a field name, asc()/desc() or a list of them, got {brief(order_by)}",
                model=self.name,
            )
        if len(order_by) > MAX_ORDER_FIELDS:
            raise ValidationError(
                f"order_by names at most {MAX_ORDER_FIELDS} fields, got {len(order_by)} (LIM-READ)",
                model=self.name,
            )
        out: list[Order] = []
        seen: set[str] = set()
        for item in order_by:
            order = Order(item) if isinstance(item, str) else item
            if not isinstance(order, Order):
                raise ValidationError(
                    f"order_by takes field names or asc()/desc(), got {brief(item)}",
                    model=self.name,
                )
            f = self.field(order.field)
            if type(order.descending) is not bool:
                raise ValidationError(
                    f"an order's descending must be True or False, got {brief(order.descending)}",
                    model=self.name,
                    field=f.name,
                )
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
        if isinstance(where, (And, Or)):
            return type(where)(tuple(self.filter(item) for item in flatten(where)))
        if isinstance(where, Not):
            return Not(self.filter(where.item))
        raise ValidationError(f"not a filter: {brief(where)}", model=self.name)

    def checked_filter(self, where: Filter) -> Filter:
        """:meth:`filter` after the shape and size checks of LIM-FILTER and CAP-1."""
        if check_filter(where, self.name) and not self.json_paths:
            raise UnsupportedError(
                "the adapter does not declare the json_paths capability: "
                "filters on a path inside a json field are not supported (CAP-1)",
                capability=Capability.JSON_PATHS.value,
                model=self.name,
            )
        return self.filter(where)

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
        return self.checkers[f.name](value)

    def _json_scalar(self, ref: Path, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            check_text(value, "strings", self.name, ref.field)
            return value if type(value) is str else str.__str__(value)
        if isinstance(value, int):
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                raise ValidationError(
                    "json integer is outside +/-2**53", model=self.name, field=ref.field
                )
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationError("numbers must be finite", model=self.name, field=ref.field)
            return float(value) + 0.0
        raise ValidationError(
            f"a json path compares with a str, int, float or bool, got {type(value).__name__}",
            model=self.name,
            field=ref.field,
        )


def _broken_name(model: str, name: object) -> ValidationError:
    return ValidationError(
        f"a field name must be a plain str; comparing the {type(name).__name__} given raised",
        model=model,
        field=brief(name),
    )
