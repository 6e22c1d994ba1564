"""The portable filter language: a small expression tree, not a query builder.

Semantics are two-valued (spec clause FLT-LOGIC): every predicate is either true or
false for a row; a comparison with NULL (or with a missing json path) is false, and
``not_`` is the exact complement of its operand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = [
    "ALL",
    "And",
    "Compare",
    "CompareOp",
    "Filter",
    "In",
    "IsNull",
    "Not",
    "Or",
    "Path",
    "Ref",
    "and_",
    "eq",
    "fixed_fields",
    "flatten",
    "gt",
    "gte",
    "in_",
    "is_null",
    "lt",
    "lte",
    "ne",
    "not_",
    "not_in",
    "or_",
    "path",
    "pinned",
    "uses_paths",
    "where_from",
]

CompareOp = Literal["eq", "ne", "lt", "lte", "gt", "gte"]


@dataclass(frozen=True, slots=True)
class Path:
    """A value inside a json field: ``path("metadata", "user")`` is metadata -> "user"."""

    field: str
    keys: tuple[str, ...]


Ref: TypeAlias = str | Path


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    ref: Ref
    value: Any


@dataclass(frozen=True, slots=True)
class In:
    ref: Ref
    values: tuple[Any, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    """True for NULL fields, and for json paths that are missing or hold JSON null."""

    ref: Ref


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


Filter: TypeAlias = Compare | In | IsNull | And | Or | Not

ALL: Filter = And(())
"""Matches every row: the explicit way to update or delete without a condition."""


def path(field: str, *keys: str) -> Path:
    if not keys:
        raise ValueError("path() needs at least one key")
    return Path(field, tuple(keys))


def _compare(op: CompareOp, ref: Ref, value: Any) -> Filter:
    if value is None:
        # eq(x, None) reads as "x is null"; ne(x, None) as "x is not null".
        if op == "eq":
            return IsNull(ref)
        if op == "ne":
            return Not(IsNull(ref))
    return Compare(op, ref, value)


def eq(ref: Ref, value: Any) -> Filter:
    return _compare("eq", ref, value)


def ne(ref: Ref, value: Any) -> Filter:
    return _compare("ne", ref, value)


def lt(ref: Ref, value: Any) -> Filter:
    return _compare("lt", ref, value)


def lte(ref: Ref, value: Any) -> Filter:
    return _compare("lte", ref, value)


def gt(ref: Ref, value: Any) -> Filter:
    return _compare("gt", ref, value)


def gte(ref: Ref, value: Any) -> Filter:
    return _compare("gte", ref, value)


def _values(values: Iterable[Any]) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes, Mapping)):
        raise TypeError("in_/not_in take a list of values, not a str, bytes or mapping")
    return tuple(values)


def in_(ref: Ref, values: Iterable[Any]) -> Filter:
    return In(ref, _values(values))


def not_in(ref: Ref, values: Iterable[Any]) -> Filter:
    return In(ref, _values(values), negated=True)


def is_null(ref: Ref) -> Filter:
    return IsNull(ref)


def and_(*items: Filter) -> Filter:
    return And(tuple(items))


def or_(*items: Filter) -> Filter:
    return Or(tuple(items))


def not_(item: Filter) -> Filter:
    return Not(item)


def where_from(where: Filter | Mapping[str, Any] | None) -> Filter | None:
    """Accept the mapping shorthand ``{"field": value, ...}`` (an AND of equalities)."""
    if where is None or isinstance(where, (Compare, In, IsNull, And, Or, Not)):
        return where
    if isinstance(where, Mapping):
        items = tuple(eq(k, v) for k, v in where.items())
        return items[0] if len(items) == 1 else And(items)
    raise TypeError(f"expected a filter or a mapping, got {type(where).__name__}")


def uses_paths(where: Filter) -> bool:
    """Whether any condition of ``where`` compares a json path (walked without recursion)."""
    stack: list[Filter] = [where]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(node.items)
        elif isinstance(node, Not):
            stack.append(node.item)
        elif isinstance(node.ref, Path):
            return True
    return False


def fixed_fields(where: Filter | None) -> frozenset[str]:
    """The fields ``where`` pins to one value: ``eq`` or ``is_null`` in its top-level AND.

    Every matching row has the same value there, so ordering by such a field changes
    nothing; leaving it out of ORDER BY lets a backend read an index ``(fixed, ...)``
    in order.
    """
    return frozenset(pinned(where))


def pinned(where: Filter | None) -> dict[str, Any]:
    """The value ``where`` pins each field to (see :func:`fixed_fields`); None for
    ``is_null``. A field pinned twice keeps its first value (no row matches anyway)."""
    values: dict[str, Any] = {}
    stack: list[Filter] = [] if where is None else [where]
    while stack:
        node = stack.pop()
        if isinstance(node, And):
            stack.extend(reversed(node.items))
        elif isinstance(node, Compare | IsNull) and isinstance(node.ref, str):
            if isinstance(node, IsNull):
                values.setdefault(node.ref, None)
            elif node.op == "eq":
                values.setdefault(node.ref, node.value)
    return values


def flatten(f: And | Or) -> list[Filter]:
    """The operands of ``f`` with nested operators of the same kind spliced in, in order.

    Iterative: ``reduce(or_, conditions)`` may nest thousands of levels deep.
    """
    kind = type(f)
    items = f.items
    for item in items:
        if type(item) is kind:
            break
    else:
        return list(items)  # the usual case: nothing to splice
    out: list[Filter] = []
    stack: list[Filter] = list(reversed(items))
    while stack:
        node = stack.pop()
        if type(node) is kind:
            stack.extend(reversed(node.items))
        else:
            out.append(node)
    return out
