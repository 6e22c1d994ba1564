"""Rows to BSON documents and back, for one model.

Layout (docs/backends/mongodb.md, "Document layout"):

- a single-field primary key is stored only as ``_id``;
- a composite key is ``_id: {k1: v1, k2: v2}`` built in primary-key order (embedded
  document equality is order-sensitive), and the key fields are also kept as
  top-level fields so that filters, sorts and a secondary index can use them;
- NULL is an absent field, never a stored ``null``: MongoDB's ``{f: null}`` and
  ``$nin: [.., null]`` treat absent and null alike, and an absent field is what keeps
  unique indexes from colliding on NULL (SQL semantics) on FerretDB;
- integer -> int64, number -> double, timestamp -> BSON date (ms), json -> embedded
  values, with two reversible escapes (:func:`store_key`, :data:`WRAP`) so that every
  JSON document is stored and every key can be selected by dot notation.

Every check here runs before any I/O, so a rejected row writes nothing (VAL-1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from bson.int64 import Int64

from noorm.spec import (
    BooleanType,
    IntegerType,
    JsonType,
    Model,
    NumberType,
    StringType,
    TimestampType,
    UnsupportedError,
    ValidationError,
)

__all__ = ["ESC", "WRAP", "Codec", "check_text", "load_key", "store_key"]

ESC: Final = "\x7f"
"""Starts an escape in a stored json key. DEL: valid everywhere, and absent from real keys."""
WRAP: Final = ESC + "a"
"""``{WRAP: [...]}`` holds an array nested directly in an array, which FerretDB cannot
store. No user key is stored as WRAP (a user's ESC is always escaped), so it is unambiguous."""
_EMPTY: Final = ESC + "z"
_UNESCAPE: Final = {"e": ESC, "d": ".", "s": "$"}
_ESCAPED = re.compile(ESC + "(.)", re.DOTALL)

STRING, NUMBER, INTEGER, BOOLEAN, TIMESTAMP, JSON = range(6)

_SURROGATE = re.compile("[\ud800-\udfff]")


def store_key(key: str) -> str:
    """A json key as stored: dot notation cannot select ``""``, a leading ``$`` or a ``.``.

    Those (and ESC itself) are escaped with ESC, reversibly (:func:`load_key`), so every
    key round-trips exactly (JSON-4) and every path can address it (FLT-JSON-3).
    """
    if key and key[0] != "$" and "." not in key and ESC not in key:
        return key
    if not key:
        return _EMPTY
    key = key.replace(ESC, ESC + "e").replace(".", ESC + "d")
    return ESC + "s" + key[1:] if key[0] == "$" else key


def load_key(key: str) -> str:
    """The json key a stored key holds (inverse of :func:`store_key`)."""
    if ESC not in key:
        return key
    if key == _EMPTY:
        return ""
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(0)), key)


def check_text(text: str, model: str, field: str) -> str:
    """``text`` if it has a UTF-8 form; lone surrogates (U+D800..U+DFFF) have none."""
    if not text.isascii() and _SURROGATE.search(text):
        raise ValidationError(
            "strings cannot contain lone surrogates (U+D800..U+DFFF): they have no UTF-8 form",
            model=model,
            field=field,
        )
    return text


def _kind(field_type: object) -> int:
    if isinstance(field_type, StringType):
        return STRING
    if isinstance(field_type, NumberType):
        return NUMBER
    if isinstance(field_type, IntegerType):
        return INTEGER
    if isinstance(field_type, BooleanType):
        return BOOLEAN
    if isinstance(field_type, TimestampType):
        return TIMESTAMP
    if isinstance(field_type, JsonType):
        return JSON
    raise AssertionError(f"unhandled field type {field_type!r}")  # pragma: no cover


class Codec:
    """The document layout of one model; built once per model and cached by the adapter."""

    __slots__ = (
        "_layout",
        "_model",
        "_wrap_arrays",
        "key_fields",
        "kinds",
        "name",
        "nullable",
        "single_key",
        "storage",
    )

    def __init__(self, model: Model[Any], *, nested_arrays: bool) -> None:
        self._model = model
        self.name = model.name
        self.key_fields = model.primary_key
        self.single_key = model.primary_key[0] if len(model.primary_key) == 1 else None
        self._wrap_arrays = not nested_arrays
        self.kinds: dict[str, int] = {f.name: _kind(f.type) for f in model.fields}
        self.nullable = frozenset(f.name for f in model.fields if f.nullable)
        self.storage: dict[str, str] = {f.name: f.name for f in model.fields}
        if self.single_key is not None:
            self.storage[self.single_key] = "_id"
        if "_id" in self.kinds and self.single_key != "_id":
            raise UnsupportedError(
                "MongoDB reserves _id for the primary key: a field called _id must be the "
                "whole primary key",
                model=model.name,
                field="_id",
            )
        self._layout = tuple(
            (f.name, self.storage[f.name], self.kinds[f.name]) for f in model.fields
        )

    # --- writing --------------------------------------------------------------------------

    def document(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The document for a complete canonical row (NULL fields left out)."""
        doc: dict[str, Any] = {}
        if self.single_key is None:
            doc["_id"] = {k: self.value(k, row[k]) for k in self.key_fields}
        for name, key, kind in self._layout:
            value = row[name]
            if value is not None:
                doc[key] = self._encode(name, kind, value)
        return doc

    def key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The primary-key values of a row, hashable (for in-batch duplicate checks)."""
        return tuple(row[k] for k in self.key_fields)

    def value(self, name: str, value: Any) -> Any:
        """One canonical field value as stored (also for filter operands); None stays None."""
        return None if value is None else self._encode(name, self.kinds[name], value)

    def update(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``$set`` for values, ``$unset`` for NULLs (NULL is an absent field)."""
        set_: dict[str, Any] = {}
        unset: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                unset[self.storage[name]] = ""
            else:
                set_[self.storage[name]] = self._encode(name, self.kinds[name], value)
        out: dict[str, Any] = {}
        if set_:
            out["$set"] = set_
        if unset:
            out["$unset"] = unset
        return out

    def _encode(self, name: str, kind: int, value: Any) -> Any:
        if kind == INTEGER:
            return Int64(value)
        if kind == STRING:
            return check_text(value, self.name, name)
        if kind == NUMBER:
            return float(value)
        if kind == JSON:
            return self._json(name, value, False)
        return value  # boolean, timestamp (aware UTC, already truncated to the ms)

    def _json(self, name: str, value: Any, in_array: bool) -> Any:
        kind = type(value)
        if kind is str:
            return check_text(value, self.name, name)
        if kind is dict:
            return {
                store_key(check_text(key, self.name, name)): self._json(name, item, False)
                for key, item in value.items()
            }
        if kind is list:
            items = [self._json(name, item, True) for item in value]
            return {WRAP: items} if in_array and self._wrap_arrays else items
        return value  # int, float, bool, None

    # --- reading --------------------------------------------------------------------------

    def row(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The canonical row of a stored document, fields in model order."""
        out: dict[str, Any] = {}
        for name, key, kind in self._layout:
            value = doc.get(key)
            if value is not None:
                if kind == INTEGER:
                    value = int(value)
                elif kind == NUMBER:
                    value = float(value)
                elif kind == JSON:
                    value = _decode_json(value)
            out[name] = value
        return out


def _decode_json(value: Any) -> Any:
    """A fresh copy: int64 as plain int, keys unescaped, wrapped nested arrays unwrapped."""
    kind = type(value)
    if kind is dict:
        if len(value) == 1 and WRAP in value:
            return [_decode_json(item) for item in value[WRAP]]
        return {load_key(key): _decode_json(item) for key, item in value.items()}
    if kind is list:
        return [_decode_json(item) for item in value]
    if kind is Int64:
        return int(value)
    return value
