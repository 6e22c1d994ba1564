"""Value conversion between canonical Python values and what a DB-API driver binds.

The kit hands adapters canonical values (:mod:`noorm.spec.values`); a codec only
changes their *representation* for one backend (a bool as 0/1, a datetime as epoch
milliseconds, a JSON document as text) and turns driver results back into canonical
values. Encoders and decoders are resolved once per column, not per value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from noorm.spec.types import (
    BooleanType,
    FieldType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)

__all__ = ["Codec", "Convert", "dump_json", "load_json"]

Convert = Callable[[Any], Any]
"""One value in, one value out; never called with None (NULL passes through)."""


def dump_json(value: Any) -> str:
    """The one JSON text form every SQL backend stores.

    Compact and with non-ASCII kept as UTF-8: the SQLite dialect relies on object
    keys being written exactly like this when it addresses them in a JSON path.
    """
    return _dumps(value)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
"""``json.dumps`` with :func:`dump_json`'s options, without building an encoder per call."""


_DECODER = json.JSONDecoder()


def load_json(text: str, decoder: json.JSONDecoder = _DECODER) -> Any:
    """``decoder.decode(text)`` for a document a backend stored: the C scanner called
    directly, without the per-call checks (a quarter of the time on a small document).
    Anything it does not read whole (surrounding whitespace, errors) goes through
    ``decode``, which gives the same value or the same exception.
    """
    try:
        value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]
    except (StopIteration, ValueError, TypeError):
        return decoder.decode(text)
    return value if end == len(text) else decoder.decode(text)


class Codec:
    """Per-logical-type conversion; override the ``encode_*``/``decode_*`` a backend needs.

    The defaults suit a driver that binds ``bool`` and aware ``datetime`` natively and
    stores json as text.
    """

    def encode_boolean(self, value: bool) -> Any:
        return value

    def decode_boolean(self, value: Any) -> bool:
        return bool(value)

    def decode_number(self, value: Any) -> float:
        # Drivers may hand back an int for an integral REAL/DOUBLE; the contract is float.
        return float(value)

    def decode_integer(self, value: Any) -> int:
        return int(value)

    def encode_timestamp(self, value: datetime) -> Any:
        return value

    def decode_timestamp(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the driver, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def encode_json(self, value: Any) -> Any:
        return dump_json(value)

    def decode_json(self, value: Any) -> Any:
        # The parser builds fresh objects, so the caller never shares state with the store.
        return load_json(value)

    def encode_json_scalar(self, value: str | float | bool) -> Any:
        """A filter value compared with the SQL value a JSON path access yields."""
        return value

    def encoder(self, type_: FieldType) -> Convert | None:
        """The encoder for a column of ``type_``; None means the value binds as it is."""
        if isinstance(type_, BooleanType):
            return self.encode_boolean
        if isinstance(type_, TimestampType):
            return self.encode_timestamp
        if isinstance(type_, JsonType):
            return self.encode_json
        return None

    def decoder(self, type_: FieldType) -> Convert | None:
        """The decoder for a column of ``type_``; None means the driver value is canonical."""
        if isinstance(type_, BooleanType):
            return self.decode_boolean
        if isinstance(type_, NumberType):
            return self.decode_number
        if isinstance(type_, IntegerType):
            return self.decode_integer
        if isinstance(type_, TimestampType):
            return self.decode_timestamp
        if isinstance(type_, JsonType):
            return self.decode_json
        if isinstance(type_, StringType):
            return None
        raise AssertionError(f"unhandled field type {type_!r}")  # pragma: no cover
