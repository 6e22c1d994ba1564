"""The filter and sort compiler: the spec's semantics (docs/spec.md section 3) in MQL.

MongoDB's own semantics differ in three ways this compiler corrects:

- ``$ne``/``$nin`` match absent (NULL) fields; NULL-1 says they must not, so NULL is
  added to the excluded values of nullable fields;
- dot notation walks into arrays (``{"j.a": 1}`` matches ``j = [{"a": 1}]`` and
  ``j.a = [1, 2]``); FLT-JSON-1 says a path never indexes an array, so every prefix of
  a path, and the value compared, is required not to be an array (``$type``);
- ``$not``-free logic: ``not_(x)`` is ``$nor: [x]``, the exact complement (FLT-LOGIC).

Type bracketing does the rest: ``$lt``/``$gt`` only compare within one BSON type
class, numbers compare numerically across int/long/double, and ``true`` never equals
``1``. Ordering a boolean at a path never matches (FLT-JSON-1 orders numbers and
strings only). Path keys are escaped exactly as stored keys are (:meth:`Codec.store_key`),
so a key with a dot, a leading ``$`` or (on FerretDB) a leading or trailing space is one
key, never syntax (FLT-JSON-3).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, cast

from noorm.spec import And, Compare, Filter, In, IsNull, Not, Or, Order, Path, ValidationError

from .codec import JSON, Codec, check_text

__all__ = ["NOTHING", "compile_filter", "compile_sort", "conjunction", "render"]

NOTHING: Final[dict[str, Any]] = {"_id": {"$in": []}}
"""Matches no document (MongoDB refuses an empty ``$or``)."""

_NOT_ARRAY: Final[dict[str, Any]] = {"$type": "array"}
_OPS: Final = {"eq": "$eq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


def compile_filter(codec: Codec, where: Filter | None) -> dict[str, Any]:
    """The MQL filter of ``where`` for ``codec``'s model; ``{}`` matches every document."""
    return {} if where is None else _node(codec, where)


def conjunction(*filters: dict[str, Any]) -> dict[str, Any]:
    """The filters AND-ed, as one flat document (their keys in order: put the cheapest,
    e.g. a key lookup, first)."""
    return _document(_conditions([f for f in filters if f]))


def compile_sort(codec: Codec, order: Sequence[Order]) -> list[tuple[str, int]]:
    """``order`` as a pymongo sort; the kit has already appended the primary key."""
    storage = codec.storage
    return [(storage[o.field], -1 if o.descending else 1) for o in order]


def _node(codec: Codec, node: Filter) -> dict[str, Any]:
    if isinstance(node, Compare):
        if isinstance(node.ref, Path):
            return _path_compare(codec, node.ref, node.op, node.value)
        return _field_compare(codec, node.ref, node.op, node.value)
    if isinstance(node, In):
        if isinstance(node.ref, Path):
            return _path_in(codec, node.ref, node.values, node.negated)
        return _field_in(codec, node.ref, node.values, node.negated)
    if isinstance(node, IsNull):
        if isinstance(node.ref, Path):
            return _path_is_null(codec, node.ref)
        key = codec.storage[node.ref]
        if codec.kinds[node.ref] == JSON:
            # A json array holding null is not NULL; {f: null} alone would match it.
            return {key: {"$eq": None, "$not": _NOT_ARRAY}}
        return {key: None}
    if isinstance(node, And):
        items = [_node(codec, item) for item in node.items]
        if any(item == NOTHING for item in items):
            return dict(NOTHING)
        return _document(_merge("$and", _conditions(items)))
    if isinstance(node, Or):
        items = [_node(codec, item) for item in node.items]
        if any(not item for item in items):
            return {}
        items = _merge("$or", _flat("$or", [item for item in items if item != NOTHING]))
        if not items:
            return dict(NOTHING)
        return items[0] if len(items) == 1 else {"$or": items}
    if isinstance(node, Not):
        inner = _node(codec, node.item)
        if not inner:
            return dict(NOTHING)
        if inner == NOTHING:
            return {}
        if len(inner) == 1 and len(inner.get("$nor", ())) == 1:
            return cast(dict[str, Any], inner["$nor"][0])  # not_(not_(x)) is x
        if len(inner) == 1 and "$or" in inner:
            return {"$nor": inner["$or"]}  # not_(or_(a, b)) is $nor: [a, b]
        return {"$nor": [inner]}
    raise ValidationError(f"not a filter: {node!r}", model=codec.name)


def _conditions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conjunction of ``items`` as one-key conditions (nested ``$and`` spliced in).

    A filter document is the conjunction of its keys, so this changes nothing but the
    shape; :func:`_document` then folds it into as few documents as it can."""
    out: list[dict[str, Any]] = []
    for item in items:
        for key, cond in item.items():
            if key == "$and":
                out.extend(_conditions(cond))
            else:
                out.append({key: cond})
    return out


def _document(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """One-key conditions as one flat document, a condition on a key already taken in
    its ``$and``: ``{a: 1, b: {$lt: 2}, $or: [...]}``, not ``$and: [{a: 1}, ...]``.

    Same meaning, but FerretDB pushes a top-level equality down to PostgreSQL (jsonb
    containment) and evaluates everything under ``$and`` itself, on every document."""
    out: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for cond in conditions:
        key, value = next(iter(cond.items()))
        if key in out:
            rest.append(cond)
        else:
            out[key] = value
    if rest:
        out["$and"] = rest
    return out


def _flat(op: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` with nested ``op`` nodes spliced in: fewer BSON levels, same meaning."""
    out: list[dict[str, Any]] = []
    for item in items:
        if len(item) == 1 and op in item:
            out.extend(item[op])
        else:
            out.append(item)
    return out


def _merge(op: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conditions on one field folded into one list: in an ``$or``, equalities and
    ``$in`` become one ``$in``; in an ``$and``, ``$ne`` and ``$nin`` become one ``$nin``.
    Same meaning, and FerretDB evaluates one list far faster than many conditions."""
    wanted = "$in" if op == "$or" else "$nin"
    lists: dict[str, list[Any]] = {}
    out: list[dict[str, Any]] = []
    for item in items:
        values = _values(item, op)
        if values is None:
            out.append(item)
            continue
        key = next(iter(item))
        if key not in lists:
            lists[key] = []
            out.append({key: {wanted: lists[key]}})
        lists[key].extend(values)
    return out if len(out) < len(items) else items


def _values(item: dict[str, Any], op: str) -> list[Any] | None:
    """The values of ``{f: v}`` / ``{f: {"$in": [...]}}`` (for ``$or``) or of
    ``{f: {"$ne": v}}`` / ``{f: {"$nin": [...]}}`` (for ``$and``) on a plain field."""
    if len(item) != 1:
        return None
    key, cond = next(iter(item.items()))
    if key.startswith("$") or "." in key:
        return None
    if op == "$or" and not isinstance(cond, (dict, list)):
        return [cond]
    if isinstance(cond, dict) and len(cond) == 1:
        name, values = next(iter(cond.items()))
        if (op, name) in (("$or", "$in"), ("$and", "$nin")):
            return list(values)
        if op == "$and" and name == "$ne":
            return [values]
    return None


# --- fields -------------------------------------------------------------------------------


def _field_compare(codec: Codec, name: str, op: str, value: Any) -> dict[str, Any]:
    key = codec.storage[name]
    if value is None:  # eq/ne with None are is_null forms; the kit already rewrote them
        if op == "eq":
            return {key: None}
        if op == "ne":
            return {key: {"$ne": None}}
        return dict(NOTHING)
    stored = codec.value(name, value)
    if op == "ne":
        if name in codec.nullable:
            return {key: {"$nin": [stored, None]}}
        return {key: {"$ne": stored}}
    if op == "eq":
        return {key: stored}
    return {key: {_OPS[op]: stored}}


def _field_in(codec: Codec, name: str, values: Sequence[Any], negated: bool) -> dict[str, Any]:
    key = codec.storage[name]
    stored = [codec.value(name, v) for v in values if v is not None]
    if not negated:
        return {key: {"$in": stored}} if stored else dict(NOTHING)
    if name in codec.nullable:
        stored.append(None)
    return {key: {"$nin": stored}} if stored else {}


# --- json paths ---------------------------------------------------------------------------


def _dotted(codec: Codec, ref: Path) -> tuple[str, list[str]]:
    """The dotted path and its strict prefixes, keys escaped as they are stored."""
    parts = [codec.storage[ref.field]]
    parts.extend(codec.store_key(key, ref.field) for key in ref.keys)
    return ".".join(parts), [".".join(parts[:n]) for n in range(1, len(parts))]


def _scalar(codec: Codec, ref: Path, value: Any) -> Any:
    if isinstance(value, str):
        return check_text(value, codec.name, ref.field)
    return value


def _path_compare(codec: Codec, ref: Path, op: str, value: Any) -> dict[str, Any]:
    if value is None or (op not in ("eq", "ne") and isinstance(value, bool)):
        return dict(NOTHING)
    path, prefixes = _dotted(codec, ref)
    guard: dict[str, Any] = {prefix: {"$not": _NOT_ARRAY} for prefix in prefixes}
    operand = _scalar(codec, ref, value)
    if op == "ne":
        # FLT-JSON-2: present, non-null and different (another JSON type differs too).
        guard["$nor"] = [{path: {"$in": [None, operand], "$not": _NOT_ARRAY}}]
    else:
        guard[path] = {_OPS[op]: operand, "$not": _NOT_ARRAY}
    return guard


def _path_in(codec: Codec, ref: Path, values: Sequence[Any], negated: bool) -> dict[str, Any]:
    operands = [_scalar(codec, ref, v) for v in values if v is not None]
    if not negated and not operands:
        return dict(NOTHING)
    path, prefixes = _dotted(codec, ref)
    guard: dict[str, Any] = {prefix: {"$not": _NOT_ARRAY} for prefix in prefixes}
    if negated:
        guard["$nor"] = [{path: {"$in": [None, *operands], "$not": _NOT_ARRAY}}]
    else:
        guard[path] = {"$in": operands, "$not": _NOT_ARRAY}
    return guard


def _path_is_null(codec: Codec, ref: Path) -> dict[str, Any]:
    path, prefixes = _dotted(codec, ref)
    # Missing (an array on the way counts as missing) or JSON null, but not an array.
    branches: list[dict[str, Any]] = [{prefix: _NOT_ARRAY} for prefix in prefixes]
    branches.append({path: {"$eq": None, "$not": _NOT_ARRAY}})
    return {"$or": branches}


# --- rendering (statement()) --------------------------------------------------------------

_LITERAL_PARENTS: Final = frozenset({"$type", "$exists", "$unset"})


def render(value: Any, literal: bool = False) -> str:
    """Compact JSON-ish text of compiled MQL with operand values shown as ``?``.

    Values are left out on purpose (like SQL placeholders): statements go to logs.
    Only the adapter's own constants (``$type``, ``$exists``, ``$unset``) are shown.
    """
    if isinstance(value, dict):
        inner = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}: {render(v, literal or k in _LITERAL_PARENTS)}"
            for k, v in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render(v, literal) for v in value) + "]"
    return json.dumps(value) if literal else "?"
