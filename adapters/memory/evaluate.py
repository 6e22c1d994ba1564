"""Filter evaluation and row ordering: docs/spec.md sections 3 and 4 as plain functions.

This is the executable reading of FLT-*, NULL-1 and ORD-* that the memory adapter
runs, kept free of storage so that other code (tests, a kit fallback, another
adapter) can evaluate a filter or order rows exactly as the reference does.

A filter is compiled once into a closure (:func:`predicate`) and then applied per
row, so the per-row cost is a few attribute-free calls rather than a tree walk with
``isinstance`` dispatch. Rows are mappings holding canonical values
(:mod:`noorm.spec.values`); no value is validated here, but filters that the spec
forbids outright (a comparison on a whole json field, a path into a non-json field,
ordering by json) raise ``ValidationError`` instead of returning a silent answer.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from noorm.spec import (
    And,
    Compare,
    Field,
    Filter,
    In,
    IsNull,
    JsonType,
    Model,
    Not,
    Or,
    Order,
    Path,
    Ref,
    ValidationError,
)

__all__ = [
    "Predicate",
    "RowKey",
    "column_key",
    "full_order",
    "json_at",
    "matches",
    "pinned_key",
    "predicate",
    "sort_key",
    "sort_rows",
]

Predicate = Callable[[Mapping[str, Any]], bool]
"""A compiled filter: true when the row matches."""
RowKey = Callable[[Mapping[str, Any]], Any]
"""A sort key for rows, usable with ``sorted``/``list.sort``/``heapq``."""

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}

# JSON kinds for typed path comparisons (FLT-JSON-1). bool is tested before int
# because Python's True == 1: a boolean must never equal (or order against) a number.
_OTHER, _BOOLEAN, _NUMBER, _STRING = 0, 1, 2, 3


def _kind(value: Any) -> int:
    if isinstance(value, bool):
        return _BOOLEAN
    if isinstance(value, (int, float)):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    return _OTHER  # object, array (or None, which callers handle first)


def _always(row: Mapping[str, Any]) -> bool:
    return True


def _never(row: Mapping[str, Any]) -> bool:
    return False


# --- filters ------------------------------------------------------------------------------


def predicate(model: Model[Any], where: Filter | None) -> Predicate:
    """Compile ``where`` (None matches every row) for rows of ``model``."""
    return _always if where is None else _compile(model, where)


def matches(model: Model[Any], where: Filter | None, row: Mapping[str, Any]) -> bool:
    """Whether ``row`` matches ``where``; compile with :func:`predicate` to test many rows."""
    return predicate(model, where)(row)


def json_at(document: Any, keys: Sequence[str]) -> Any:
    """The value at ``keys`` inside ``document``, walking objects only.

    A missing key, a non-object on the way (arrays are not indexed) and JSON null all
    give None: FLT-JSON-2 treats the three alike.
    """
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _compile(model: Model[Any], node: Filter) -> Predicate:
    if isinstance(node, Compare):
        return _compile_compare(model, node)
    if isinstance(node, In):
        return _compile_in(model, node)
    if isinstance(node, IsNull):
        get = _getter(model, node.ref, allow_json_field=True)
        return lambda row: get(row) is None
    if isinstance(node, And):
        return _all_of(tuple(_compile(model, item) for item in node.items))
    if isinstance(node, Or):
        return _any_of(tuple(_compile(model, item) for item in node.items))
    if isinstance(node, Not):
        inner = _compile(model, node.item)
        return lambda row: not inner(row)
    raise ValidationError(f"unknown filter node {node!r}", model=model.name)


def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    if not parts:
        return _always  # and_() is true: the identity of conjunction (ALL)
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda row: first(row) and second(row)
    return lambda row: all(part(row) for part in parts)


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    if not parts:
        return _never  # or_() is false: the identity of disjunction
    if len(parts) == 1:
        return parts[0]
    return lambda row: any(part(row) for part in parts)


def _field(model: Model[Any], ref: Ref) -> Field:
    name = ref.field if isinstance(ref, Path) else ref
    field = model.field(name)  # ValidationError naming model and field when unknown
    if isinstance(ref, Path):
        if not isinstance(field.type, JsonType):
            raise ValidationError(
                "path() selects a value inside a json field; this field is not json",
                model=model.name,
                field=name,
            )
        if not ref.keys:
            raise ValidationError("path() needs at least one key", model=model.name, field=name)
    return field


def _getter(model: Model[Any], ref: Ref, *, allow_json_field: bool = False) -> RowKey:
    field = _field(model, ref)
    name = field.name
    if isinstance(ref, Path):
        keys = ref.keys
        if len(keys) == 1:
            (key,) = keys

            def get_one(row: Mapping[str, Any]) -> Any:
                document = row[name]
                return document.get(key) if isinstance(document, dict) else None

            return get_one
        return lambda row: json_at(row[name], keys)
    if isinstance(field.type, JsonType) and not allow_json_field:
        raise ValidationError(
            "a json field itself can only be tested with is_null; compare a path() inside it",
            model=model.name,
            field=name,
        )
    return operator.itemgetter(name)


def _compile_compare(model: Model[Any], node: Compare) -> Predicate:
    op, value = node.op, node.value
    if op not in _OPERATORS:
        raise ValidationError(f"unknown comparison {op!r}", model=model.name)
    if value is None:
        # NULL-1: eq(x, None) is is_null(x), ne(x, None) its complement; an ordering
        # comparison with NULL is never true.
        if op == "eq":
            return _compile(model, IsNull(node.ref))
        if op == "ne":
            return _compile(model, Not(IsNull(node.ref)))
        _getter(model, node.ref)  # still reject unknown fields
        return _never
    get = _getter(model, node.ref)
    compare = _OPERATORS[op]
    if not isinstance(node.ref, Path):
        name = node.ref

        # Canonical values of one field share one Python type: compare directly.
        def on_field(row: Mapping[str, Any]) -> bool:
            current = row[name]
            return current is not None and compare(current, value)

        return on_field
    kind = _path_value_kind(model, node.ref, value)
    if op == "ne":
        # FLT-JSON-2: present, non-null values that differ, including other types.
        def path_ne(row: Mapping[str, Any]) -> bool:
            current = get(row)
            return current is not None and not (_kind(current) == kind and current == value)

        return path_ne
    if op != "eq" and kind == _BOOLEAN:
        # FLT-JSON-1 orders numbers and strings only: lt/lte/gt/gte never match a
        # boolean at a path (unlike a boolean field, where False < True).
        return _never

    def on_path(row: Mapping[str, Any]) -> bool:
        current = get(row)
        return current is not None and _kind(current) == kind and compare(current, value)

    return on_path


def _path_value_kind(model: Model[Any], ref: Path, value: Any) -> int:
    kind = _kind(value)
    if kind == _OTHER:
        raise ValidationError(
            f"a path comparison takes a string, number or boolean, got {type(value).__name__}",
            model=model.name,
            field=ref.field,
        )
    return kind


def _compile_in(model: Model[Any], node: In) -> Predicate:
    get = _getter(model, node.ref)
    # NULL never matches either form (NULL-1), so a None in the list can never be the
    # reason a row matches; dropping it keeps not_in two-valued instead of SQL's
    # "NOT IN (..., NULL) matches nothing".
    values = [value for value in node.values if value is not None]
    negated = node.negated
    if not isinstance(node.ref, Path):
        name = node.ref
        members = frozenset(values)

        def on_field(row: Mapping[str, Any]) -> bool:
            current = row[name]
            return current is not None and (current in members) != negated

        return on_field
    # Typed membership: one set per JSON kind, so True never finds 1 and "1" never 1.
    by_kind: dict[int, set[Any]] = {}
    for value in values:
        by_kind.setdefault(_path_value_kind(model, node.ref, value), set()).add(value)
    empty: frozenset[Any] = frozenset()

    def on_path(row: Mapping[str, Any]) -> bool:
        current = get(row)
        if current is None:
            return False
        kind = _kind(current)
        if kind == _OTHER:  # an object or array equals no scalar (and is unhashable)
            return negated
        return (current in by_kind.get(kind, empty)) != negated

    return on_path


def pinned_key(model: Model[Any], where: Filter | None) -> tuple[Any, ...] | None:
    """The primary key ``where`` requires (through ``eq`` on every key field), if any.

    Only conjunctions are looked into, so every matching row has this key; the
    caller still applies the whole filter to the one candidate.
    """
    if where is None:
        return None
    found: dict[str, Any] = {}
    _collect_equalities(where, found)
    if not all(name in found for name in model.primary_key):
        return None
    return tuple(found[name] for name in model.primary_key)


def _collect_equalities(node: Filter, found: dict[str, Any]) -> None:
    if isinstance(node, Compare):
        if node.op == "eq" and isinstance(node.ref, str) and node.value is not None:
            found.setdefault(node.ref, node.value)
    elif isinstance(node, And):
        for item in node.items:
            _collect_equalities(item, found)


# --- ordering -----------------------------------------------------------------------------


def full_order(model: Model[Any], order: Sequence[Order]) -> tuple[Order, ...]:
    """``order`` followed by the primary-key fields it lacks, ascending (ORD-2)."""
    named = {column.field for column in order}
    extra = tuple(Order(name) for name in model.primary_key if name not in named)
    return (*order, *extra)


def column_key(model: Model[Any], name: str) -> RowKey:
    """The ascending key of one field: NULL lowest, then the value's natural order (ORD-1).

    Canonical values of a field share one type whose Python order is the spec's: str
    by code point (STR-4), numbers numerically, False < True, UTC datetimes by instant.
    """
    field = model.field(name)
    if isinstance(field.type, JsonType):
        raise ValidationError(
            "rows cannot be ordered by a json field", model=model.name, field=name
        )
    if not field.nullable:
        return operator.itemgetter(name)

    def nullable_key(row: Mapping[str, Any]) -> tuple[bool, Any]:
        value = row[name]
        # (False, None) sorts before any (True, value), and two NULLs compare equal
        # without ever evaluating None < None.
        return (value is not None, value)

    return nullable_key


def _run_key(model: Model[Any], names: Sequence[str]) -> RowKey:
    if len(names) == 1:
        return column_key(model, names[0])
    if not any(model.field(name).nullable for name in names):
        for name in names:
            column_key(model, name)  # rejects json fields
        return operator.itemgetter(*names)
    keys = tuple(column_key(model, name) for name in names)
    return lambda row: tuple([key(row) for key in keys])


def sort_rows(model: Model[Any], rows: list[Any], order: Sequence[Order]) -> None:
    """Sort ``rows`` in place by ``order`` completed with the primary key.

    Columns with mixed directions are handled by stable passes, last run of
    same-direction columns first, each with a plain key and ``reverse``: cheaper than
    one composite key wrapping every descending value in a comparison object.
    """
    runs: list[tuple[bool, list[str]]] = []
    for column in full_order(model, order):
        if runs and runs[-1][0] == column.descending:
            runs[-1][1].append(column.field)
        else:
            runs.append((column.descending, [column.field]))
    for descending, names in reversed(runs):
        rows.sort(key=_run_key(model, names), reverse=descending)


class _Descending:
    """Inverts the order of a key value inside a composite key."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and bool(self.value == other.value)

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)

    def __gt__(self, other: _Descending) -> bool:
        return bool(other.value > self.value)

    def __le__(self, other: _Descending) -> bool:
        return bool(other.value <= self.value)

    def __ge__(self, other: _Descending) -> bool:
        return bool(other.value >= self.value)

    __hash__ = None  # type: ignore[assignment]


def sort_key(model: Model[Any], order: Sequence[Order]) -> RowKey:
    """One composite key for ``order`` completed with the primary key (ORD-1, ORD-2).

    ``sorted(rows, key=sort_key(model, order))`` equals :func:`sort_rows`; the single
    key also serves ``min``/``heapq`` and comparing a row with a cursor position.
    """
    parts = tuple(
        (column_key(model, column.field), column.descending) for column in full_order(model, order)
    )
    return lambda row: tuple(
        [_Descending(key(row)) if descending else key(row) for key, descending in parts]
    )
