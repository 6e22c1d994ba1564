"""Models, data builders and guards of the limits tests (spec section 10, LIM-*).

Every expected size here is computed from the spec's definition (compact JSON text,
UTF-8 bytes), independently of :mod:`noorm.spec.limits`, and every builder checks the
size it promises, so a test at "exactly the limit" really is at the limit.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from noorm.kit import Plugin, QueryEvent, Store
from noorm.spec import (
    Adapter,
    BooleanType,
    Capability,
    Executor,
    Field,
    FieldType,
    Index,
    IntegerType,
    JsonType,
    Model,
    NoOrmError,
    NumberType,
    Operation,
    Row,
    Schema,
    SchemaError,
    StringType,
    TimestampType,
    ValidationError,
)

from .conftest import CURSOR_KEY, StoreMaker

__all__ = [
    "MIB",
    "Events",
    "Guarded",
    "Tripwire",
    "WithoutJsonPaths",
    "astral",
    "compact_size",
    "escapes_json",
    "guarded",
    "schema_refused",
    "string_list_json",
    "text_size",
    "utf8_text",
    "wide_model",
    "zeros_json",
]

T = TypeVar("T")

MIB = 1024 * 1024


# --- sizes, as the spec defines them -----------------------------------------------------


def compact_size(value: Any) -> int:
    """A json value's size: its compact JSON text in UTF-8 bytes (spec section 10)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def text_size(value: str) -> int:
    """A string's size: its UTF-8 bytes."""
    return len(value.encode("utf-8"))


# --- data builders -----------------------------------------------------------------------


def astral(rng: random.Random, n: int) -> str:
    """``n`` random astral code points: 4 UTF-8 bytes each, incompressible."""
    return "".join(chr(rng.randrange(0x10000, 0x3FFFF)) for _ in range(n))


def utf8_text(size: int, salt: str = "") -> str:
    """A string of exactly ``size`` UTF-8 bytes mixing 4-, 3-, 2- and 1-byte characters."""
    unit = "\U0001f600\u20ac\u00e9a"  # 4 + 3 + 2 + 1 bytes
    head = salt[: max(0, size // 2)]
    rest = size - text_size(head)
    text = head + unit * (rest // 10) + "a" * (rest % 10)
    assert text_size(text) == size
    return text


def string_list_json(size: int, chunk: int = 64 * 1024, salt: str = "s") -> list[str]:
    """A list of strings whose compact JSON text is exactly ``size`` bytes."""
    count = max(1, -(-(size - 2) // (chunk + 3)))
    content = size - 2 - 2 * count - (count - 1)  # brackets, quotes, commas
    assert content >= 0
    lengths = [chunk] * (count - 1) + [content - chunk * (count - 1)]
    assert lengths[-1] >= 0
    value = [(salt + "x" * n)[:n] for n in lengths]
    assert compact_size(value) == size
    return value


def zeros_json(size: int) -> list[int]:
    """A list of small ints (``[0,0,...]``) whose compact JSON text is exactly ``size`` bytes.

    The worst case for encoders that spend bytes per array element (BSON spends a key
    string, a type byte and the number on each ``0,``).
    """
    # "[" + "0," * (n - 1) + "0]" is 2n + 1 bytes; ending in "10]" instead, 2n + 2
    value = [0] * ((size - 1) // 2) if size % 2 else [0] * ((size - 2) // 2 - 1) + [10]
    assert compact_size(value) == size
    return value


def escapes_json(size: int) -> list[str]:
    """A one-string list of ``"``, ``\\`` and control characters, ``size`` bytes as JSON.

    Each character costs 2 or 6 bytes of JSON text but 1 byte raw: the worst case for
    an encoder that escapes more than compact JSON does, or counts the raw text.
    """
    unit = '"\\\x01\n\x1f\t\x7f'  # \" \\ \u0001 \n \u001f \t and a raw DEL: 2+2+6+2+6+2+1
    unit_size = compact_size(unit) - 2
    body = size - 4  # ["..."]
    text = unit * (body // unit_size) + "a" * (body % unit_size)
    value = [text]
    assert compact_size(value) == size
    return value


# --- guards: proof that a refusal came before any I/O ------------------------------------


class Events:
    """An ``on_query`` callback that records every event the store reports."""

    def __init__(self) -> None:
        self.seen: list[QueryEvent] = []

    def __call__(self, event: QueryEvent) -> None:
        self.seen.append(event)


class TripwireError(AssertionError):
    """Raised by :class:`Tripwire`: an operation reached an adapter although it was refused."""


class Tripwire:
    """An adapter that fails the test whenever anything reaches it.

    A store on it has the capabilities of the adapter under test, so the kit decides
    exactly as it does there; any call that gets past validation raises TripwireError.
    """

    name = "tripwire"
    version = "0"

    def __init__(self, capabilities: frozenset[Capability]) -> None:
        self.capabilities = capabilities

    def server_version(self) -> str:
        return "tripwire"

    def execute(self, op: Operation[T]) -> T:
        raise TripwireError(
            f"{type(op).__name__} on {op.model.name!r} reached the adapter: the limit was "
            "not enforced before I/O"
        )

    def transaction(self) -> AbstractContextManager[Executor]:
        raise TripwireError("transaction() reached the adapter")

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        raise TripwireError("bootstrap() reached the adapter: the schema was not refused")

    def statement(self, op: Operation[Any]) -> str | None:
        return None

    def close(self) -> None:
        pass


class WithoutJsonPaths:
    """The adapter under test, declaring every capability it has except json_paths."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.name = adapter.name
        self.version = adapter.version
        self.capabilities = frozenset(adapter.capabilities) - {Capability.JSON_PATHS}

    def server_version(self) -> str:
        return self.adapter.server_version()

    def execute(self, op: Operation[T]) -> T:
        return self.adapter.execute(op)

    def transaction(self) -> AbstractContextManager[Executor]:
        return self.adapter.transaction()

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        return self.adapter.bootstrap(schema, dry_run=dry_run)

    def statement(self, op: Operation[Any]) -> str | None:
        return self.adapter.statement(op)

    def close(self) -> None:
        pass


class Guarded:
    """A store on the adapter under test whose queries are recorded, and its twin on a
    :class:`Tripwire` (same schema, plugins and capabilities)."""

    def __init__(self, store: Store, events: Events, tripwire: Store) -> None:
        self.store = store
        self.events = events
        self.tripwire = tripwire

    def refuses(
        self,
        call: Callable[[Store], object],
        *,
        model: str,
        fields: Collection[str | None] = (None,),
        error: type[NoOrmError] = ValidationError,
        tripwire: bool = True,
    ) -> NoOrmError:
        """``call`` raises ``error`` naming ``model`` (and one of ``fields``) before any I/O,
        on the real store (no query event) and on the tripwire (no adapter call; skipped
        with ``tripwire=False`` where validating the input twice would be slow)."""
        caught: NoOrmError | None = None
        for store in (self.store, self.tripwire) if tripwire else (self.store,):
            before = len(self.events.seen)
            with pytest.raises(error) as raised:
                call(store)
            exc = raised.value
            assert exc.model == model, f"error names model {exc.model!r}, expected {model!r}: {exc}"
            assert exc.field in fields, f"error names field {exc.field!r}, expected one of {fields}"
            assert model in str(exc), f"the message does not name {model!r}: {exc}"
            if exc.field is not None:
                assert exc.field in str(exc), f"the message does not name {exc.field!r}: {exc}"
            reached = [e.operation for e in self.events.seen[before:]]
            assert not reached, f"the refused call reached the adapter: {reached}"
            caught = exc
        assert caught is not None
        return caught


def guarded(make_store: StoreMaker, schema: Schema, *, plugins: Sequence[Plugin] = ()) -> Guarded:
    """A bootstrapped store on ``schema`` with its query events recorded, and its tripwire."""
    events = Events()
    store = make_store(schema, plugins=plugins, on_query=events)
    tripwire = Store(
        schema,
        Tripwire(frozenset(store.adapter.capabilities)),
        plugins=plugins,
        cursor_key=CURSOR_KEY,
    )
    return Guarded(store, events, tripwire)


def schema_refused(
    build: Callable[[], Sequence[Model[Any]]],
    *,
    model: str,
    fields: Collection[str | None] = (None,),
) -> SchemaError:
    """Building the models, the schema, a store and a dry-run bootstrap raises SchemaError
    naming ``model`` (and one of ``fields``) before anything reaches an adapter."""
    with pytest.raises(SchemaError) as raised:
        schema = Schema(build())
        store = Store(schema, Tripwire(frozenset(Capability)), cursor_key=CURSOR_KEY)
        store.bootstrap(dry_run=True)
    exc = raised.value
    assert exc.model == model, f"error names model {exc.model!r}, expected {model!r}: {exc}"
    assert exc.field in fields, f"error names field {exc.field!r}, expected one of {fields}"
    assert model in str(exc), f"the message does not name {model!r}: {exc}"
    return exc


# --- models ------------------------------------------------------------------------------

WIDE_TYPES: tuple[FieldType, ...] = (
    StringType(),
    StringType(64),
    StringType(512),
    NumberType(),
    IntegerType(),
    BooleanType(),
    TimestampType(),
    JsonType(),
)
"""The type cycle of the widest model: every logical type, bounded strings included."""


def wide_model(name: str, fields: int) -> Model[Row]:
    """A model of ``fields`` fields: an integer key, then every logical type in turn."""
    return Model(
        name,
        [Field("id", IntegerType())]
        + [
            Field(f"f{k:03}", WIDE_TYPES[k % len(WIDE_TYPES)], nullable=True)
            for k in range(1, fields)
        ],
        primary_key=["id"],
    )


def wide_value(field: Field, rng: random.Random) -> Any:
    """A non-NULL canonical value for ``field``; bounded strings at their full length."""
    t = field.type
    if isinstance(t, StringType):
        return astral(rng, t.max_length) if t.max_length else astral(rng, 40) + '"\\\n'
    if isinstance(t, NumberType):
        return rng.choice([5e-324, -1.7976931348623157e308, 0.1, -2.5, 1e300])
    if isinstance(t, IntegerType):
        return rng.choice([-(2**63), 2**63 - 1, 0, rng.randrange(-(2**62), 2**62)])
    if isinstance(t, BooleanType):
        return rng.random() < 0.5
    if isinstance(t, TimestampType):
        return datetime(1000, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(280_000_000_000))
    return {"k": [1, 2.5, None, True, field.name], "\u00e9": {"x": astral(rng, 3)}}


def index_model(name: str, count: int) -> Model[Row]:
    """A model with ``count`` indexes over 40 columns: single, compound, unique, descending.

    The key is (``grp``, ``id``) and each unique index leads with ``grp``, so the model can
    be partitioned by its first key field (PART-2)."""
    types: tuple[FieldType, ...] = (
        IntegerType(),
        StringType(16),
        TimestampType(),
        NumberType(),
        BooleanType(),
    )
    fields = [Field("grp", IntegerType()), Field("id", IntegerType())] + [
        Field(f"c{k:02}", types[k % len(types)], nullable=True) for k in range(40)
    ]
    indexes = []
    for k in range(count):
        a, b = f"c{k % 40:02}", f"c{(k * 7 + 3) % 40:02}"
        if k % 4 == 0:
            # unique only where every row differs (not on a boolean column)
            unique = k % 8 == 0 and k % 5 != 4
            indexes.append(Index(f"{name}_i{k:02}", ["grp", a] if unique else [a], unique=unique))
        elif k % 4 == 1:
            indexes.append(Index(f"{name}_i{k:02}", [(a, "desc"), b]))
        elif k % 4 == 2:
            indexes.append(Index(f"{name}_i{k:02}", [b, (a, "desc")]))
        else:
            indexes.append(Index(f"{name}_i{k:02}", [a, b, ("id", "desc")]))
    return Model(name, fields, primary_key=["grp", "id"], indexes=indexes)
