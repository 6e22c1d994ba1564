"""Rows to BSON documents and back, for one model.

Layout (docs/backends/mongodb.md, "Document layout"):

- a single-field primary key is stored only as ``_id``;
- a composite key is ``_id: {"0": v1, "1": v2}``: positional keys, in primary-key order
  (embedded document equality is order-sensitive). Field names would repeat up to
  16 x 63 bytes in every ``_id`` index entry, past FerretDB's 2704-byte B-tree limit
  within LIM-KEY. The key fields are also kept as top-level fields, which filters,
  sorts, key lookups and a secondary index use;
- NULL is an absent field, never a stored ``null``: MongoDB's ``{f: null}`` and
  ``$nin: [.., null]`` treat absent and null alike, and an absent field is what keeps
  unique indexes from colliding on NULL (SQL semantics) on FerretDB;
- integer -> int64, number -> double, timestamp -> BSON date (ms), json -> embedded
  values, with two reversible escapes (:meth:`Codec.store_key`, :data:`WRAP`) so that
  every JSON document is stored, within the server's 16 MiB, and every key can be
  selected by dot notation.

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
    ValidationError,
)
from noorm.spec.limits import MAX_ROW_BYTES

__all__ = [
    "ESC",
    "FERRETDB_SPACES",
    "LEGACY_WRAP",
    "WRAP",
    "Codec",
    "check_text",
    "load_key",
    "store_key",
]

ESC: Final = "\x7f"
"""Starts an escape in a stored json key. DEL: valid everywhere, and absent from real keys."""
WRAP: Final = ""
"""``{WRAP: [...]}`` holds an array nested directly in an array, which FerretDB cannot
store. A user's empty key is stored escaped (``ESC z``), so no user object is ever stored
as a one-key ``{"": [...]}``: the wrapper is unambiguous. The empty key is the shortest
BSON key (its NUL alone), which keeps a 2 MiB row of deeply nested arrays under 16 MiB."""
LEGACY_WRAP: Final = ESC + "a"
"""The wrapper key of earlier versions (2 bytes more per nested array); still read back."""
FERRETDB_SPACES: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Go's ``unicode.IsSpace``: FerretDB v1 refuses a path element that starts or ends with
one ("path element must not contain spaces", InternalError), although it stores such keys."""
_EMPTY: Final = ESC + "z"
_SPACE: Final = ESC + "w"
_UNESCAPE: Final = {"e": ESC, "d": ".", "s": "$"}
_ESCAPED = re.compile(ESC + "(?:w([0-9a-f]{4})|(.))", re.DOTALL)

STRING, NUMBER, INTEGER, BOOLEAN, TIMESTAMP, JSON = range(6)

_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN: Final = frozenset({int, float, bool, type(None)})
"""JSON scalars that are stored and read back as they are (a str needs its check)."""


def store_key(key: str, spaces: bool = False) -> str:
    """A json key as stored: dot notation cannot select ``""``, a leading ``$`` or a ``.``.

    Those (and ESC itself) are escaped with ESC, reversibly (:func:`load_key`), so every
    key round-trips exactly (JSON-4) and every path can address it (FLT-JSON-3). With
    ``spaces`` (FerretDB), a first or last character FerretDB's paths refuse
    (:data:`FERRETDB_SPACES`) is escaped too, as ``ESC w`` and its 4 hex digits.
    """
    if (
        key
        and key[0] != "$"
        and "." not in key
        and ESC not in key
        and not (spaces and (key[0] in FERRETDB_SPACES or key[-1] in FERRETDB_SPACES))
    ):
        return key
    if not key:
        return _EMPTY
    out = key.replace(ESC, ESC + "e").replace(".", ESC + "d")
    if out[0] == "$":
        out = ESC + "s" + out[1:]
    elif spaces and out[0] in FERRETDB_SPACES:
        out = f"{_SPACE}{ord(out[0]):04x}{out[1:]}"
    if spaces and out[-1] in FERRETDB_SPACES:
        out = f"{out[:-1]}{_SPACE}{ord(out[-1]):04x}"
    return out


def _unescape(match: re.Match[str]) -> str:
    code, letter = match.group(1), match.group(2)
    if code is not None:
        return chr(int(code, 16))
    return _UNESCAPE.get(letter, match.group(0))


def load_key(key: str) -> str:
    """The json key a stored key holds (inverse of :func:`store_key`, either flavour)."""
    if ESC not in key:
        return key
    if key == _EMPTY:
        return ""
    return _ESCAPED.sub(_unescape, key)


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
        "_positions",
        "_spaces",
        "_wrap_arrays",
        "key_fields",
        "kinds",
        "name",
        "nullable",
        "single_key",
        "storage",
    )

    def __init__(self, model: Model[Any], *, ferretdb: bool) -> None:
        """``ferretdb``: wrap arrays nested in arrays and escape the keys FerretDB's paths
        refuse (a real MongoDB stores and selects both as they are)."""
        self._model = model
        self.name = model.name
        self.key_fields = model.primary_key
        self.single_key = model.primary_key[0] if len(model.primary_key) == 1 else None
        self._wrap_arrays = ferretdb
        self._spaces = ferretdb
        self.kinds: dict[str, int] = {f.name: _kind(f.type) for f in model.fields}
        self.nullable = frozenset(f.name for f in model.fields if f.nullable)
        self.storage: dict[str, str] = {f.name: f.name for f in model.fields}
        if self.single_key is not None:
            self.storage[self.single_key] = "_id"  # no field is called _id (LIM-NAME)
        self._layout = tuple(
            (f.name, self.storage[f.name], self.kinds[f.name]) for f in model.fields
        )
        self._positions: tuple[tuple[str, str], ...] = ()
        """A composite ``_id``'s keys and the fields they hold, in primary-key order."""
        if self.single_key is None:
            self._positions = tuple((str(k), name) for k, name in enumerate(self.key_fields))

    # --- writing --------------------------------------------------------------------------

    def document(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The document for a complete canonical row (NULL fields left out)."""
        doc: dict[str, Any] = {}
        composite: dict[str, Any] = {}
        if self._positions:
            doc["_id"] = composite  # first; filled below from the encoded key fields
        for name, key, kind in self._layout:
            value = row[name]
            if value is not None:
                doc[key] = self._encode(name, kind, value)
        for pos, name in self._positions:
            composite[pos] = doc[name]
        return doc

    def key_filter(self, key: Any) -> dict[str, Any]:
        """The filter on one stored ``_id`` that FerretDB evaluates in PostgreSQL: a scalar
        ``_id`` itself, a composite one as equalities on its top-level copies (FerretDB
        compares an embedded document in its own code, on every stored document)."""
        if self._positions:
            return {name: key[pos] for pos, name in self._positions}
        return {"_id": key}

    def first_value(self, key: Any) -> Any:
        """The first primary-key field's value in a stored ``_id``."""
        return key["0"] if self._positions else key

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

    def store_key(self, key: str, field: str) -> str:
        """A json key (of ``field``) as stored, and as a path element addresses it."""
        return store_key(check_text(key, self.name, field), self._spaces)

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
            spaces = self._spaces
            return {
                store_key(check_text(key, self.name, name), spaces): self._json(name, item, False)
                for key, item in value.items()
            }
        if kind is list:
            items = [
                item if type(item) in _PLAIN else self._json(name, item, True) for item in value
            ]
            return {WRAP: items} if in_array and self._wrap_arrays else items
        return value  # int, float, bool, None

    def max_bytes(self, max_document: int) -> int:
        """An upper bound of the BSON size of a document of this model within the limits.

        LIM-ROW bounds the text of a row's unbounded strings and json values by 2 MiB. In
        BSON a string keeps its size, but json may grow up to ~7.5 times (every array
        element spends a type byte and its index as a key): a model with a json field can
        hold a document of the server's maximum, ``max_document``.
        """
        total = 5  # the document's length and terminator
        unbounded = False
        for field in self._model.fields:
            kind = self.kinds[field.name]
            if kind == JSON:
                return max_document
            total += 2 + len(self.storage[field.name].encode("utf-8"))  # type, key, NUL
            if kind == STRING:
                length = getattr(field.type, "max_length", None)
                total += 5 + 4 * (length or 0)
                unbounded = unbounded or not length
            else:
                total += 8
        if self.single_key is None:  # the composite _id repeats the key values
            for pos, name in self._positions:
                length = getattr(self._model.field(name).type, "max_length", 0) or 0
                total += 2 + len(pos) + 8 + 4 * length
            total += 7
        return min(max_document, total + (MAX_ROW_BYTES if unbounded else 0))

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


_DECODED: Final = frozenset({str, int, float, bool, type(None)})
"""Values the driver decodes as plain built-in types (int64 comes as ``Int64``)."""


def _decode_json(value: Any) -> Any:
    """A fresh copy: int64 as plain int, keys unescaped, wrapped nested arrays unwrapped.

    Runs on every json value read; scalars are tested inline rather than recursed into."""
    kind = type(value)
    if kind is dict:
        if len(value) == 1:
            inner = value.get(WRAP, value.get(LEGACY_WRAP))
            if type(inner) is list:
                return _decode_list(inner)
        return {
            (key if ESC not in key else load_key(key)): (
                item if type(item) in _DECODED else _decode_json(item)
            )
            for key, item in value.items()
        }
    if kind is list:
        return _decode_list(value)
    if kind is Int64:
        return int(value)
    return value  # str, float, bool, None (BSON strings and doubles decode as plain types)


def _decode_list(items: list[Any]) -> list[Any]:
    return [item if type(item) in _DECODED else _decode_json(item) for item in items]
