"""An independent evaluator of filters and orders, written from docs/spec.md alone.

The suite checks adapters against this oracle rather than against the memory adapter,
so that the reference implementation is itself under test. It works on canonical rows
(what the kit hands an adapter) and canonical filters (what ``ModelPlan.filter``
produces), and is deliberately naive: clarity over speed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from noorm.spec import And, Compare, Filter, In, IsNull, Not, Or, Order, Path, Ref

__all__ = ["MISSING", "json_kind", "matches", "resolve", "select", "sort_rows"]


class _Missing:
    """A json path that selects nothing (the field is NULL, or a key is absent)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def resolve(row: Mapping[str, Any], ref: Ref) -> Any:
    """The value ``ref`` selects in ``row``: a field value, a json value or MISSING."""
    if isinstance(ref, str):
        return row[ref]
    value: Any = row[ref.field]
    if value is None:
        return MISSING
    for key in ref.keys:
        # FLT-JSON-1: a path selects object keys only; it never indexes into an array.
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def json_kind(value: Any) -> str:
    """The JSON type of a value: null, boolean, number, string, array or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _absent(value: Any) -> bool:
    """NULL-1 / FLT-JSON-2: NULL fields, missing paths and JSON null match no comparison."""
    return value is None or value is MISSING


def _equal(ref: Ref, stored: Any, probe: Any) -> bool:
    if isinstance(ref, Path) and json_kind(stored) != json_kind(probe):
        return False  # FLT-JSON-1: typed, so 1 never equals "1" nor true
    return bool(stored == probe)


def _compare(op: str, ref: Ref, stored: Any, probe: Any) -> bool:
    if op == "eq":
        return _equal(ref, stored, probe)
    if op == "ne":
        return not _equal(ref, stored, probe)
    if isinstance(ref, Path) and (
        json_kind(stored) != json_kind(probe) or json_kind(probe) not in ("number", "string")
    ):
        return False  # FLT-JSON-1: ordering compares numbers or strings, never across types
    if op == "lt":
        return bool(stored < probe)
    if op == "lte":
        return bool(stored <= probe)
    if op == "gt":
        return bool(stored > probe)
    if op == "gte":
        return bool(stored >= probe)
    raise ValueError(f"unknown comparison {op!r}")


def matches(row: Mapping[str, Any], where: Filter | None) -> bool:
    """Whether ``row`` satisfies ``where`` under the spec's two-valued logic."""
    if where is None:
        return True
    if isinstance(where, Compare):
        stored = resolve(row, where.ref)
        if _absent(stored):
            return False
        return _compare(where.op, where.ref, stored, where.value)
    if isinstance(where, In):
        stored = resolve(row, where.ref)
        if _absent(stored):
            return False
        found = any(_equal(where.ref, stored, v) for v in where.values)
        return not found if where.negated else found
    if isinstance(where, IsNull):
        return _absent(resolve(row, where.ref))
    if isinstance(where, And):
        return all(matches(row, item) for item in where.items)
    if isinstance(where, Or):
        return any(matches(row, item) for item in where.items)
    if isinstance(where, Not):
        return not matches(row, where.item)
    raise TypeError(f"not a filter: {where!r}")


def _cmp(a: Any, b: Any) -> int:
    """ORD-1: NULL is the lowest value; otherwise the natural order of canonical values."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    return int(a > b) - int(a < b)


def sort_rows(
    rows: Sequence[Mapping[str, Any]], order: Sequence[Order], primary_key: Sequence[str]
) -> list[Mapping[str, Any]]:
    """``rows`` in ``order`` with the primary key appended as tie-breaker (ORD-2)."""
    named = {o.field for o in order}
    full = [*order, *(Order(k) for k in primary_key if k not in named)]

    def compare(x: Mapping[str, Any], y: Mapping[str, Any]) -> int:
        for o in full:
            c = _cmp(x[o.field], y[o.field])
            if c:
                return -c if o.descending else c
        return 0

    return sorted(rows, key=functools.cmp_to_key(compare))


def select(
    rows: Sequence[Mapping[str, Any]],
    where: Filter | None,
    order: Sequence[Order],
    primary_key: Sequence[str],
    limit: int | None = None,
) -> list[Mapping[str, Any]]:
    """What ``find`` must return: the matching rows, ordered, at most ``limit`` of them."""
    chosen = sort_rows([r for r in rows if matches(r, where)], order, primary_key)
    return chosen if limit is None else chosen[:limit]
