"""The portable value rules: what each logical type accepts and how it is normalized.

Normalization happens once, in the kit, before any I/O, so every adapter receives the
same canonical Python values (spec clauses VAL-*):

- string: ``str`` without NUL, at most ``max_length`` code points;
- number: finite ``float`` (ints within +/-2**53 accepted and converted), -0.0 -> 0.0;
- integer: ``int`` in the signed 64-bit range (``bool`` is rejected);
- boolean: ``bool`` only;
- timestamp: timezone-aware ``datetime`` -> UTC, truncated to the millisecond,
  within :data:`MIN_TIMESTAMP` .. :data:`MAX_TIMESTAMP`;
- json: dicts with ``str`` keys, lists, str, bool, None, ints within +/-2**53 and
  finite floats, nested at most :data:`MAX_JSON_DEPTH` deep; always deep-copied.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import ValidationError
from .limits import json_bytes
from .schema import Field, Model
from .types import (
    BooleanType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)

__all__ = [
    "EPOCH",
    "MAX_INTEGER",
    "MAX_JSON_DEPTH",
    "MAX_SAFE_INTEGER",
    "MAX_TIMESTAMP",
    "MIN_INTEGER",
    "MIN_TIMESTAMP",
    "check_text",
    "copy_json",
    "from_epoch_ms",
    "normalize_json",
    "normalize_value",
    "to_epoch_ms",
]

MAX_SAFE_INTEGER = 2**53
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1
MAX_JSON_DEPTH = 64
MIN_TIMESTAMP = datetime(1000, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_ms(value: datetime) -> int:
    """Exact integer milliseconds since the epoch (for adapters storing integers)."""
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_epoch_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def normalize_value(model: Model[Any], field: Field, value: object) -> Any:
    """The canonical form of ``value`` for ``field``, or a ValidationError naming both."""
    if value is None:
        if field.nullable:
            return None
        raise ValidationError(
            "null is not allowed (the field is not nullable)", model=model.name, field=field.name
        )
    t = field.type
    if isinstance(t, StringType):
        if type(value) is not str:
            if not isinstance(value, str):
                raise _wrong(model, field, "a str", value)
            value = str.__str__(value)  # a plain str, not the caller's subclass (VAL-3)
        check_text(value, "strings", model.name, field.name)
        if t.max_length is not None and len(value) > t.max_length:
            raise ValidationError(
                f"string of {len(value)} characters is longer than max_length {t.max_length}",
                model=model.name,
                field=field.name,
            )
        return value
    if isinstance(t, NumberType):
        return _number(model, field, value)
    if isinstance(t, IntegerType):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(model, field, "an int", value)
        if not MIN_INTEGER <= value <= MAX_INTEGER:
            raise ValidationError(
                f"integer {_short(value)} is outside the signed 64-bit range",
                model=model.name,
                field=field.name,
            )
        return int(value)
    if isinstance(t, BooleanType):
        if not isinstance(value, bool):
            raise _wrong(model, field, "a bool", value)
        return value
    if isinstance(t, TimestampType):
        return _timestamp(model, field, value)
    if isinstance(t, JsonType):
        return normalize_json(value, model=model.name, field=field.name)
    raise AssertionError(f"unhandled field type {t!r}")  # pragma: no cover


def check_text(value: str, what: str, model: str | None, field: str | None) -> None:
    """Text every backend can store: no NUL, no lone surrogate (it has no UTF-8 form)."""
    if "\x00" in value:
        raise ValidationError(f"{what} cannot contain NUL (\\x00)", model=model, field=field)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                f"{what} cannot contain lone surrogates (U+D800..U+DFFF)", model=model, field=field
            ) from None


def _short(value: int) -> str:
    """An int for a message: huge ones by their size (str() refuses over 4300 digits)."""
    if -(10**30) < value < 10**30:
        return str(int(value))
    return f"{'-' if value < 0 else ''}<{int(abs(value)).bit_length()}-bit integer>"


def _wrong(model: Model[Any], field: Field, expected: str, value: object) -> ValidationError:
    return ValidationError(
        f"expected {expected} for a {field.type.name} field, got {type(value).__name__}",
        model=model.name,
        field=field.name,
    )


def _number(model: Model[Any], field: Field, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong(model, field, "a float", value)
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValidationError(
                f"integer {_short(value)} cannot be represented exactly as a float64 number "
                "(use an integer field)",
                model=model.name,
                field=field.name,
            )
        return float(value)
    if not math.isfinite(value):
        raise ValidationError(
            f"numbers must be finite, got {value!r}", model=model.name, field=field.name
        )
    return value + 0.0  # -0.0 + 0.0 == 0.0: one zero on every backend


def _timestamp(model: Model[Any], field: Field, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise _wrong(model, field, "a datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            "naive datetimes are rejected; pass a timezone-aware datetime (e.g. tzinfo=UTC)",
            model=model.name,
            field=field.name,
        )
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_TIMESTAMP <= utc <= MAX_TIMESTAMP + timedelta(microseconds=999):
        raise ValidationError(
            f"timestamp {value.isoformat()} is outside the supported range "
            f"{MIN_TIMESTAMP.isoformat()} .. {MAX_TIMESTAMP.isoformat()}",
            model=model.name,
            field=field.name,
        )
    # A plain datetime, not the caller's subclass (VAL-3).
    return datetime(
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond - utc.microsecond % 1000,
        tzinfo=UTC,
    )


def normalize_json(
    value: object, *, model: str | None = None, field: str | None = None, depth: int = 0
) -> Any:
    """A deep copy of ``value`` that is guaranteed to be portable JSON."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        check_text(value, "json strings", model, field)
        return value if type(value) is str else str.__str__(value)
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValidationError(
                f"json integer {_short(value)} is outside +/-2**53", model=model, field=field
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                f"json numbers must be finite, got {value!r}", model=model, field=field
            )
        return value + 0.0
    if depth >= MAX_JSON_DEPTH:
        raise ValidationError(
            f"json nests deeper than {MAX_JSON_DEPTH} levels", model=model, field=field
        )
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"json object keys must be str, got {type(key).__name__}",
                    model=model,
                    field=field,
                )
            check_text(key, "json object keys", model, field)
            if type(key) is not str:
                key = str.__str__(key)
            out[key] = normalize_json(item, model=model, field=field, depth=depth + 1)
        return out
    if isinstance(value, list):
        return [normalize_json(item, model=model, field=field, depth=depth + 1) for item in value]
    raise ValidationError(f"{type(value).__name__} is not a JSON value", model=model, field=field)


def copy_json(
    value: object, *, model: str | None = None, field: str | None = None
) -> tuple[Any, int]:
    """:func:`normalize_json`, plus an upper bound of the size of its compact JSON text.

    The common case (plain dicts, lists, ASCII strings, in-range ints, finite floats) is
    copied in one pass that also sums a bound (6 bytes per string character covers every
    escape and UTF-8 form), so the size limit (LIM-ROW) needs no ``json.dumps`` unless
    the bound comes near it. Anything else goes through :func:`normalize_json`.
    """
    size = [0]
    return _copy(value, 0, size, model, field), size[0]


def _copy(value: Any, depth: int, size: list[int], model: str | None, field: str | None) -> Any:
    kind = type(value)
    if kind is str:
        if "\x00" not in value:
            if not value.isascii():
                check_text(value, "json strings", model, field)
            size[0] += 6 * len(value) + 2
            return value
    elif kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            size[0] += 18
            return value
    elif kind is float:
        if math.isfinite(value):
            size[0] += 24
            return value + 0.0
    elif value is None or kind is bool:
        size[0] += 5
        return value
    elif kind is dict and depth < MAX_JSON_DEPTH:
        out: dict[str, Any] = {}
        size[0] += 2
        for key, item in value.items():
            if type(key) is not str or "\x00" in key:
                break
            if not key.isascii():
                check_text(key, "json object keys", model, field)
            size[0] += 6 * len(key) + 4
            out[key] = _copy(item, depth + 1, size, model, field)
        else:
            return out
    elif kind is list and depth < MAX_JSON_DEPTH:
        size[0] += 2 + len(value)
        return [_copy(item, depth + 1, size, model, field) for item in value]
    # Subclasses, bad values, too deep: the general path (canonicalizes or raises).
    result = normalize_json(value, model=model, field=field, depth=depth)
    size[0] += json_bytes(result)
    return result
