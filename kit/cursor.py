"""Keyset pagination: signed cursors and the filter that resumes after a row.

A cursor carries the sort key of the last row of a page, signed with HMAC-SHA256 and
bound to the query's shape (model, order, filter), so that a modified cursor or one
replayed against another query is refused instead of silently returning wrong rows.
Resuming is expressed in the portable filter language, so adapters need no cursor
support at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from noorm.spec.errors import InvalidCursorError, ValidationError
from noorm.spec.filters import And, Compare, Filter, In, IsNull, Not, Or, Path, fixed_fields
from noorm.spec.operations import Order
from noorm.spec.schema import Field
from noorm.spec.types import BooleanType, IntegerType, NumberType, StringType, TimestampType
from noorm.spec.values import from_epoch_ms, to_epoch_ms

__all__ = ["CursorCodec", "CursorKey", "after_filter", "cursor_keys", "query_shape", "unfixed"]

_VERSION = 1
_MAC_BYTES = 16
_TAGS = 1024
"""Query shapes whose cursor tag a codec remembers."""


def query_shape(model: str, order: tuple[Order, ...], where: Filter | None) -> str:
    """A digest that identifies a query; a cursor is only valid for the same digest.

    The digest is of ``repr((model, order, where))``, written by :func:`_repr` (the
    same text without the dataclasses' generic ``__repr__``).
    """
    parts = ["(", repr(model), ", "]
    _repr(order, parts)
    parts.append(", ")
    _repr(where, parts)
    parts.append(")")
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:24]


def _repr(value: object, parts: list[str]) -> None:
    """Append ``repr(value)`` to ``parts``, fast for filters, orders and their tuples."""
    kind = type(value)
    if kind is tuple:
        items: tuple[object, ...] = value  # type: ignore[assignment]
        parts.append("(")
        for n, item in enumerate(items):
            if n:
                parts.append(", ")
            _repr(item, parts)
        parts.append(",)" if len(items) == 1 else ")")
        return
    fields = _FIELDS.get(kind)
    if fields is None:
        parts.append(repr(value))
        return
    parts.append(kind.__name__)
    for n, name in enumerate(fields):
        parts.append(f"{', ' if n else '('}{name}=")
        _repr(getattr(value, name), parts)
    parts.append(")")


_FIELDS: dict[type, tuple[str, ...]] = {
    Order: ("field", "descending"),
    Compare: ("op", "ref", "value"),
    In: ("ref", "values", "negated"),
    IsNull: ("ref",),
    And: ("items",),
    Or: ("items",),
    Not: ("item",),
    Path: ("field", "keys"),
}
"""The fields each dataclass's generated ``__repr__`` shows, in order."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # unused low bits of the last character were changed
        raise ValueError("non-canonical base64")
    return data


def _encode_value(value: Any) -> Any:
    return to_epoch_ms(value) if isinstance(value, datetime) else value


def _decode_value(field: Field, value: Any) -> Any:
    """Check a decoded sort value against its field; the MAC makes failures unlikely."""
    if value is None and field.nullable:
        return None
    t = field.type
    ok = (
        (isinstance(t, StringType) and isinstance(value, str))
        or (
            isinstance(t, NumberType)
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
        )
        or (isinstance(t, IntegerType) and isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(t, BooleanType) and isinstance(value, bool))
        or (isinstance(t, TimestampType) and isinstance(value, int) and not isinstance(value, bool))
    )
    if not ok:
        raise InvalidCursorError("cursor holds a value of the wrong type", field=field.name)
    if isinstance(t, TimestampType):
        return from_epoch_ms(value)
    if isinstance(t, NumberType):
        return float(value)
    return value


CursorKey = bytes | str
"""A secret of at least 16 bytes (a str counts its UTF-8 bytes)."""


def cursor_keys(key: CursorKey | Sequence[CursorKey]) -> tuple[bytes, ...]:
    """The keys of ``cursor_key``: one key, or several for rotation (the first signs)."""
    keys = [key] if isinstance(key, bytes | str) else list(key) if isinstance(key, Sequence) else []
    out: list[bytes] = []
    for k in keys:
        raw = k.encode() if isinstance(k, str) else k if isinstance(k, bytes) else None
        if raw is None or len(raw) < 16:
            break
        out.append(raw)
    else:
        if out:
            return tuple(out)
    raise ValidationError(
        "cursor_key takes a secret of at least 16 bytes (bytes or str), or a list of them "
        "to rotate keys (the first signs new cursors, every one is accepted)"
    )


class CursorCodec:
    """Signs cursors with the first key and accepts any of the keys (key rotation)."""

    __slots__ = ("_key", "_keys", "_tags")

    def __init__(self, key: bytes | Sequence[bytes]) -> None:
        self._keys = cursor_keys(key)
        self._key = self._keys[0]
        self._tags: dict[tuple[str, bytes], str] = {}

    def _mac(self, payload: bytes, key: bytes | None = None) -> bytes:
        return hmac.digest(key or self._key, payload, "sha256")[:_MAC_BYTES]

    def _tag(self, shape: str, key: bytes | None = None) -> str:
        """The query's shape as the cursor carries it: keyed, so that a scope value in
        the filter cannot be recovered from a cursor by hashing guesses. Remembered for
        the shapes of recent queries (the next page asks again)."""
        key = key or self._key
        tag = self._tags.get((shape, key))
        if tag is None:
            tag = _b64(hmac.digest(key, b"shape:" + shape.encode(), "sha256")[:12])
            if len(self._tags) >= _TAGS:
                self._tags.clear()
            self._tags[(shape, key)] = tag
        return tag

    def encode(self, shape: str, order: tuple[Order, ...], row: Mapping[str, Any]) -> str:
        values = [_encode_value(row[o.field]) for o in order]
        payload = json.dumps(
            [_VERSION, self._tag(shape), values], separators=(",", ":"), ensure_ascii=True
        ).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(
        self,
        cursor: object,
        shape: str,
        order: tuple[Order, ...],
        fields: Mapping[str, Field],
        *,
        model: str,
    ) -> dict[str, Any]:
        """The sort key stored in ``cursor``; InvalidCursorError if it is not ours or not for this query."""
        if not isinstance(cursor, str) or cursor.count(".") != 1:
            raise InvalidCursorError("malformed cursor", model=model)
        body, mac = cursor.split(".")
        try:
            payload = _unb64(body)
            given = _unb64(mac)
        except (ValueError, TypeError):
            raise InvalidCursorError("malformed cursor", model=model) from None
        key = next(
            (k for k in self._keys if hmac.compare_digest(given, self._mac(payload, k))), None
        )
        if key is None:
            raise InvalidCursorError(
                "cursor signature does not match (modified, or signed with a key this store "
                "does not hold: pass the same cursor_key to every worker)",
                model=model,
            )
        try:
            version, cursor_shape, values = json.loads(payload)
        except (ValueError, TypeError):
            raise InvalidCursorError("malformed cursor", model=model) from None
        if version != _VERSION or cursor_shape != self._tag(shape, key):
            raise InvalidCursorError(
                "cursor belongs to another query (model, order or filter differ)", model=model
            )
        if not isinstance(values, list) or len(values) != len(order):
            raise InvalidCursorError("malformed cursor", model=model)
        return {
            o.field: _decode_value(fields[o.field], v) for o, v in zip(order, values, strict=True)
        }


def unfixed(order: tuple[Order, ...], where: Filter | None) -> tuple[Order, ...]:
    """``order`` without the fields that ``where`` fixes to one value.

    A field the filter's top-level conjunction pins with ``eq`` or ``is_null`` has one
    value on every matching row, so sorting by it changes nothing; leaving it out lets
    a backend read the index ``(fixed, sort...)`` in order, and keeps it out of the
    keyset predicate. The order stays total over the rows the filter can match.
    """
    fixed = fixed_fields(where)
    kept = tuple(o for o in order if o.field not in fixed)
    return kept or order


def after_filter(
    order: tuple[Order, ...], key: Mapping[str, Any], fields: Mapping[str, Field]
) -> Filter:
    """Rows strictly after the sort key ``key`` in ``order`` (NULL sorts lowest).

    For an order (a, b, pk) this is ``a >= ka AND (a > ka OR (a = ka AND b > kb) OR ...)``
    with the NULL cases spelled out. The leading bound is redundant, but it is what lets
    every backend start an index range at the cursor instead of filtering the rows
    before it, so a deep page costs what the first one does.
    """
    branches: list[Filter] = []
    equal: list[Filter] = []
    for o in order:
        value = key[o.field]
        nullable = fields[o.field].nullable
        step: Filter | None
        if value is None:
            # Ascending, NULL is first: everything non-NULL follows. Descending, NULL is last.
            step = None if o.descending else Not(IsNull(o.field))
        elif o.descending:
            step = Compare("lt", o.field, value)
            if nullable:
                step = Or((step, IsNull(o.field)))
        else:
            step = Compare("gt", o.field, value)
        if step is not None:
            branches.append(And((*equal, step)) if equal else step)
        equal.append(IsNull(o.field) if value is None else Compare("eq", o.field, value))
    if not branches:
        return Or(())  # the last row of the order: nothing follows
    rest = branches[0] if len(branches) == 1 else Or(tuple(branches))
    bound = _leading_bound(order[0], key[order[0].field], fields[order[0].field].nullable)
    return rest if bound is None or len(branches) == 1 else And((bound, rest))


def _leading_bound(o: Order, value: Any, nullable: bool) -> Filter | None:
    """The range of the first order field that every following row lies in."""
    if value is None:
        return None if not o.descending else IsNull(o.field)
    if not o.descending:
        return Compare("gte", o.field, value)
    bound = Compare("lte", o.field, value)
    return Or((bound, IsNull(o.field))) if nullable else bound
