"""Every bad call gets a no-orm error, on every adapter (issue 9, items 5 and 7).

Hypothesis builds bad calls at every public call site of ``Store`` (the reads, the
writes, ``bind`` and transaction misuse) with junk of every shape: wrong types, huge
ints, NaN/inf, deep and huge JSON, malformed filter nodes built directly from the
``noorm.spec.filters`` classes, unknown operators, long paths, astral/NUL/lone-surrogate
strings, sizes just inside and just outside each ``noorm.spec.limits`` number, bytes,
sets, and objects whose ``__repr__``/``__eq__``/``__hash__``/``__bool__`` raise.

For every call, on memory, SQLite, PostgreSQL, MariaDB/MySQL and MongoDB/FerretDB (a
server adapter is skipped when its URL variable is unset):

1. only ``NoOrmError`` subclasses escape (ERR-1); anything else fails, showing the call;
2. no partial write: after a call that raised, the table, read back through a fresh
   store on a second connection, holds exactly the rows it held before (VAL-1);
3. a ``ValidationError`` names the model, and the field when the junk sits in a field.

One bootstrapped namespace per adapter for the module; rows are reset after a call
that succeeded in writing, never the tables re-created. Each adapter's module fixture
prints its figures (calls, how many raised, foreign errors, partial writes) under ``-s``.
``NOORM_BADCALLS_SCALE=N`` multiplies the examples for a longer hunt, and
``NOORM_BADCALLS_SURVEY=1`` collects failures (one per place) instead of stopping at the
first, to see every defect of a run at once.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noorm.conformance.plugin import load_factory
from noorm.conformance.targets import TARGETS
from noorm.kit import Plugin, Store
from noorm.spec import (
    ALL,
    Adapter,
    And,
    BooleanType,
    Compare,
    Field,
    Filter,
    In,
    Index,
    IntegerType,
    IsNull,
    JsonType,
    Model,
    NoOrmError,
    Not,
    NumberType,
    Or,
    Order,
    Path,
    StringType,
    TimestampType,
    ValidationError,
    eq,
    in_,
    path,
)
from noorm.spec.limits import (
    MAX_BATCH_ROWS,
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    MAX_LIMIT,
    MAX_ORDER_FIELDS,
    MAX_PATH_KEYS,
    MAX_ROW_BYTES,
)
from noorm.spec.values import MAX_TIMESTAMP, MIN_TIMESTAMP

CURSOR_KEY = b"noorm-reliability-cursor-key-32b"

DOCS = Model(
    "docs",
    [
        Field("id", IntegerType()),
        Field("s", StringType(20), nullable=True),
        Field("n", NumberType(), nullable=True),
        Field("i", IntegerType(), nullable=True),
        Field("b", BooleanType(), nullable=True),
        Field("t", TimestampType(), nullable=True),
        Field("j", JsonType(), nullable=True),
        Field("u", StringType(20), nullable=True),
    ],
    primary_key="id",
    indexes=[Index("docs_u", ["u"], unique=True)],
)
FIELDS = DOCS.field_names
T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
BASELINE: list[dict[str, Any]] = [
    {"id": 1, "s": "a", "n": 1.5, "i": 10, "b": True, "t": T0, "j": {"k": [1, "x"]}, "u": "u1"},
    {"id": 2, "s": "b", "n": -2.0, "i": 20, "b": False, "t": T0, "j": [1, 2], "u": "u2"},
    {"id": 3, "s": None, "n": None, "i": None, "b": None, "t": None, "j": None, "u": None},
]
"""The rows every call starts from: id 1 and u 'u1' exist, so valid-looking junk collides."""

# --- the adapters --------------------------------------------------------------------------

BUDGET = {"memory": 800, "sqlite": 500, "postgres": 400, "mysql": 350, "mongodb": 250}
"""Hypothesis examples per adapter: the whole module stays well within a minute.
``NOORM_BADCALLS_SCALE=10`` multiplies them for a longer hunt."""


@dataclass
class Tally:
    calls: int = 0
    raised: int = 0
    foreign: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)


TALLY: dict[str, Tally] = {}
SURVEY: dict[tuple[Any, ...], str] = {}
"""With NOORM_BADCALLS_SURVEY set, failures are collected here (one per place) rather
than raised: a way to see every defect of a run at once."""


@dataclass
class Bed:
    """One adapter, its bootstrapped store, and a second store on another connection."""

    name: str
    store: Store
    reader: Store
    tally: Tally

    def reset(self) -> None:
        self.store.delete(DOCS, where=ALL)
        self.store.insert_many(DOCS, BASELINE)

    def rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.reader.find(DOCS, order_by="id").rows]


@pytest.fixture(scope="module", params=list(BUDGET))
def bed(request: pytest.FixtureRequest) -> Iterator[Bed]:
    target = TARGETS[request.param]
    if target.url_env is not None and not os.environ.get(target.url_env):
        pytest.skip(f"{target.url_env} is unset: no {target.name} server to test")
    factory = load_factory(target.factory)
    adapter = factory()
    opener: Callable[[Adapter], Adapter] = factory.same_database  # type: ignore[attr-defined]
    second = opener(adapter)
    try:
        store = Store([DOCS], adapter, cursor_key=CURSOR_KEY)
        store.bootstrap()
        reader = Store([DOCS], second, cursor_key=CURSOR_KEY)
        tally = TALLY.setdefault(target.name, Tally())
        bench = Bed(target.name, store, reader, tally)
        bench.reset()
        start = time.perf_counter()
        yield bench
        print(
            f"\n{target.name}: {tally.calls} calls, {tally.raised} raised, "
            f"{len(tally.foreign)} non-no-orm errors, {len(tally.partial)} partial writes, "
            f"{time.perf_counter() - start:.1f}s"
        )
        for where, shown in sorted(SURVEY.items(), key=str):
            print(f"  {where}: {shown}")
        SURVEY.clear()
    finally:
        if second is not adapter:
            second.close()
        adapter.close()


# --- junk ---------------------------------------------------------------------------------


class Evil:
    """An object every dunder of which raises: repr, str, eq, hash, bool, len, iter."""

    def __repr__(self) -> str:
        raise RuntimeError("broken __repr__")

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("broken __eq__")

    def __hash__(self) -> int:
        raise RuntimeError("broken __hash__")

    def __bool__(self) -> bool:
        raise RuntimeError("broken __bool__")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("broken __lt__")


class EvilKey:
    """Hashable (it can be a dict key), but its repr and equality raise."""

    def __repr__(self) -> str:
        raise RuntimeError("broken __repr__")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("broken __eq__")

    def __hash__(self) -> int:
        return 7


class EvilStr(str):
    def __repr__(self) -> str:
        raise RuntimeError("broken __repr__")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("broken __eq__")

    __hash__ = str.__hash__


class EvilInt(int):
    def __repr__(self) -> str:
        raise RuntimeError("broken __repr__")


def _deep(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def _nested_filter(depth: int) -> Any:
    where: Any = eq("id", 1)
    for level in range(depth):
        where = Not(where) if level % 2 else And((where, eq("id", 2)))
    return where


def _cycle() -> Any:
    loop: list[Any] = []
    loop.append(loop)
    return loop


LEAVES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    1e308,
    5e-324,
    "",
    "x",
    "\x00",
    "a\x00b",
    "\U0001f600" * 6,
    "\ud800",
    "é" * 21,
    "x" * 21,
    b"bytes",
    bytearray(b"ba"),
    memoryview(b"mv"),
    {1, 2},
    frozenset({"a"}),
    (1, 2),
    (),
    [],
    {},
    Decimal("1.5"),
    Decimal("NaN"),
    complex(1, 2),
    date(2024, 1, 1),
    datetime(2024, 1, 1),  # naive
    datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    datetime.max.replace(tzinfo=UTC),
    datetime.min.replace(tzinfo=UTC),
    timedelta(1),
    object(),
    int,
    DOCS,
    ALL,
    Order("id"),
    Path("j", ("a",)),
    Path("j", ()),
    Path("j", "ab"),  # type: ignore[arg-type]
    Path("nope", ("a",)),
    path("j", *["k"] * (MAX_PATH_KEYS + 1)),
    path("j", "\x00"),
    path("j", 10**30),  # type: ignore[arg-type]
    eq("id", 1),
    eq("nope", 1),
    Compare("like", "id", 1),  # type: ignore[arg-type]
    Compare("eq", 5, 1),  # type: ignore[arg-type]
    Compare("lt", "j", {"a": 1}),
    Compare("eq", "s", "\x00"),
    In("id", 5),  # type: ignore[arg-type]
    In("id", ()),
    In("s", (None, "a")),
    And(None),  # type: ignore[arg-type]
    And(()),
    Or((eq("id", 1), None)),  # type: ignore[arg-type]
    Not("id"),  # type: ignore[arg-type]
    IsNull("nope"),
    IsNull(Path("j", ())),
]


def _big(kind: str) -> Any:
    """Values sized just inside and just outside the limits (built on demand)."""
    match kind:
        case "deep json":
            return _deep(5000)
        case "deep json 64":
            return _deep(64)
        case "cyclic json":
            return _cycle()
        case "huge int":
            return 10**5000
        case "row bytes + 1":
            return "x" * (MAX_ROW_BYTES + 1)
        case "json row bytes":
            return ["x" * (MAX_ROW_BYTES - 4 - 8 * 7)]
        case "json row bytes + 1":
            return ["x" * (MAX_ROW_BYTES - 4 - 8 * 7 + 1)]
        case "in values + 1":
            return in_("id", list(range(MAX_FILTER_VALUES + 1)))
        case "in values":
            return in_("id", list(range(MAX_FILTER_VALUES)))
        case "conditions + 1":
            return Or(tuple(eq("id", i) for i in range(MAX_FILTER_CONDITIONS + 1)))
        case "depth":
            return _nested_filter(MAX_FILTER_DEPTH - 1)
        case "depth + 1":
            return _nested_filter(MAX_FILTER_DEPTH + 1)
        case "deep not":
            return _nested_filter(3000)
        case "order fields + 1":
            return ["id"] * (MAX_ORDER_FIELDS + 1)
        case "limit + 1":
            return MAX_LIMIT + 1
        case "batch + 1":
            return [{"id": 100 + r} for r in range(MAX_BATCH_ROWS + 1)]
        case "long name":
            return "f" * 10_000
        case "evil":
            return Evil()
        case "evil str":
            return EvilStr("s")
        case "evil int":
            return EvilInt(7)
        case "evil key":
            return {EvilKey(): 1}
        case "evil str key":
            return {EvilStr("id"): 1}
        case "evil eq":
            return eq("id", Evil())
        case "evil in":
            return In("s", (EvilStr("a"),))
        case "bad cursor":
            return "eyJ4IjoxfQ.AAAA"
    raise AssertionError(kind)


BIG = [
    "deep json",
    "deep json 64",
    "cyclic json",
    "huge int",
    "row bytes + 1",
    "json row bytes",
    "json row bytes + 1",
    "in values + 1",
    "in values",
    "conditions + 1",
    "depth",
    "depth + 1",
    "deep not",
    "order fields + 1",
    "limit + 1",
    "batch + 1",
    "long name",
    "evil",
    "evil str",
    "evil int",
    "evil key",
    "evil str key",
    "evil eq",
    "evil in",
    "bad cursor",
]

names = st.sampled_from([*FIELDS, "nope", "", "\x00", "ID", "j.k"])

junk = st.recursive(
    st.sampled_from(LEAVES)
    | st.sampled_from(BIG).map(_big)
    | st.integers()
    | st.floats()
    | st.text(max_size=6)
    | st.binary(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(names | st.integers(), inner, max_size=3)
        | st.tuples(inner, inner)
        | st.builds(And, st.tuples(inner))
        | st.builds(Or, st.tuples(inner, inner) | inner)
        | st.builds(Not, inner)
        | st.builds(In, names | inner, st.tuples(inner) | inner, st.booleans() | inner)
        | st.builds(IsNull, names | inner)
        | st.builds(
            Compare,
            st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "like", "x", ""]) | inner,
            names | inner,
            inner,
        )
        | st.builds(Path, names | inner, st.tuples(inner) | inner)
        | st.builds(Order, names | inner, st.sampled_from(["asc", "desc", "up"]) | inner)
    ),
    max_leaves=6,
)
"""A value of any shape: what a careless or hostile caller may pass anywhere."""


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([2**63, -(2**63) - 1, 2**53 + 1, 1e308, -0.0, 5e-324])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=4)
            | st.sampled_from(["$where", "$gt", "a.b", "", ".", "$", "_id", "\U0001f600", "\x00"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)
"""JSON documents, valid and (NUL, lone numbers beyond 64 bits) nearly so, with keys a
document store may read as operators or paths."""

strings = st.text(max_size=22) | st.sampled_from(
    [
        "\U0001f600" * 20,
        "\U0010ffff" * 20,
        "é" * 20,
        "x" * 20,
        "%",
        "_",
        "\\",
        "'",
        '"',
        "a.b",
        "$x",
        "\u2028",
        "\ufeff",
        "a\u0301",
        " ",
        "\t\n",
        "U1",
        "u1 ",
    ]
)
EDGE: dict[str, st.SearchStrategy[Any]] = {
    "id": st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([2**63 - 1, -(2**63), 2**63, 1, 2, 3, True, 1.0]),
    "s": strings,
    "u": strings | st.sampled_from(["u1", "u2", "U1"]),
    "n": st.floats() | st.integers() | st.sampled_from([1e308, -0.0, 5e-324, 2**1024]),
    "i": st.integers(min_value=-(2**64), max_value=2**64),
    "b": st.booleans() | st.sampled_from([0, 1, "true"]),
    "t": st.datetimes(timezones=st.just(UTC) | st.none())
    | st.sampled_from([MIN_TIMESTAMP, MAX_TIMESTAMP, MAX_TIMESTAMP + timedelta(microseconds=1)]),
    "j": json_values | st.sampled_from(["deep json 64", "json row bytes"]).map(_big),
}
"""Per field: values at and just past the edge of what the field holds."""

rows = st.fixed_dictionaries({name: EDGE[name] for name in FIELDS})


def good(id: int = 50) -> dict[str, Any]:
    """A valid new row (its id and u are free)."""
    return {"id": id, "s": "g", "n": 0.5, "i": 5, "b": True, "t": T0, "j": {"g": 1}, "u": f"g{id}"}


# --- the calls --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call site: how to call it with the junk, and which field the junk sits in."""

    name: str
    run: Callable[[Store, Any, str], object]
    in_field: bool | str = False
    """The junk is one field's value (that of the drawn field, or of the one named here):
    a ValidationError that names a field must name that one."""
    names_model: bool = True


def _tx_raise(s: Store, x: Any, f: str) -> None:
    """A valid write, then the bad call, inside one transaction: the write is undone too."""
    with s.transaction() as tx:
        tx.insert(DOCS, good(60))
        tx.update(DOCS, {f: x}, key={"id": 1})


def _tx_after_exit(s: Store, x: Any, f: str) -> None:
    """The transaction's view used after its block ended."""
    with s.transaction() as tx:
        pass
    tx.insert(DOCS, {**good(61), f: x})


def _tx_nested(s: Store, x: Any, f: str) -> None:
    """A bad call in a nested transaction that propagates out of both."""
    with s.transaction() as tx, tx.transaction() as inner:
        inner.insert(DOCS, good(62))
        inner.insert_many(DOCS, [good(63), {**good(64), f: x}])


def _tx_caught(s: Store, x: Any, f: str) -> None:
    """A bad call caught in a nested transaction; the outer one then rolls back too."""
    with s.transaction() as tx:
        tx.insert(DOCS, good(65))
        try:
            with tx.transaction() as inner:
                inner.upsert(DOCS, {**good(1), f: x}, update=[f])
        except NoOrmError:
            pass
        tx.delete(DOCS, key={"id": 1})
        raise ValidationError("abandon the transaction", model="docs")


class ScopeByContext(Plugin):
    """A query scope built from the bound context: ``bind(ctx=x)`` scopes to ``s == x``."""

    def scope(self, model: Model[Any], context: Mapping[str, Any]) -> Filter | None:
        return Compare("eq", "s", context["ctx"]) if "ctx" in context else None


def _scoped(s: Store, x: Any) -> Store:
    """A store with a scoping plugin on the same adapter, bound to the junk."""
    return Store([DOCS], s.adapter, plugins=[ScopeByContext()], cursor_key=CURSOR_KEY).bind(ctx=x)


CALLS: list[Call] = [
    # whole arguments
    Call("insert(row)", lambda s, x, f: s.insert(DOCS, x)),
    Call("insert_many(rows)", lambda s, x, f: s.insert_many(DOCS, x)),
    Call("insert_many([good, row])", lambda s, x, f: s.insert_many(DOCS, [good(), x])),
    Call("get(key)", lambda s, x, f: s.get(DOCS, x)),
    Call("find(where)", lambda s, x, f: s.find(DOCS, x)),
    Call("find(order_by)", lambda s, x, f: s.find(DOCS, order_by=x)),
    Call("find(limit)", lambda s, x, f: s.find(DOCS, limit=x)),
    Call("find(cursor)", lambda s, x, f: s.find(DOCS, cursor=x)),
    Call("find(after)", lambda s, x, f: s.find(DOCS, after=x)),
    Call("find(where, limit=2, cursor)", lambda s, x, f: s.find(DOCS, x, limit=2, cursor=x)),
    Call("count(where)", lambda s, x, f: s.count(DOCS, x)),
    Call("update(values, where=ALL)", lambda s, x, f: s.update(DOCS, x, where=ALL)),
    Call("update(where)", lambda s, x, f: s.update(DOCS, {"s": "v"}, where=x)),
    Call("update(key)", lambda s, x, f: s.update(DOCS, {"s": "v"}, key=x)),
    Call("upsert(row)", lambda s, x, f: s.upsert(DOCS, x, update=["s"])),
    Call("upsert(update=)", lambda s, x, f: s.upsert(DOCS, good(1), update=x)),
    Call("delete(where)", lambda s, x, f: s.delete(DOCS, where=x)),
    Call("delete(key)", lambda s, x, f: s.delete(DOCS, key=x)),
    Call("insert(model)", lambda s, x, f: s.insert(x, good()), names_model=False),
    Call("find(model)", lambda s, x, f: s.find(x), names_model=False),
    Call("bind(**ctx).insert", lambda s, x, f: s.bind(ctx=x).insert(DOCS, {**good(), f: x})),
    Call("scoped find", lambda s, x, f: _scoped(s, x).find(DOCS, limit=2)),
    Call("scoped get", lambda s, x, f: _scoped(s, x).get(DOCS, {"id": 1})),
    Call("scoped update", lambda s, x, f: _scoped(s, x).update(DOCS, {"i": 9}, where=ALL)),
    Call("scoped upsert", lambda s, x, f: _scoped(s, x).upsert(DOCS, good(1), update=["i"])),
    Call("scoped delete", lambda s, x, f: _scoped(s, x).delete(DOCS, key={"id": 2})),
    # the junk in one field
    Call("insert({f: x})", lambda s, x, f: s.insert(DOCS, {**good(), f: x}), True),
    Call(
        "insert_many([good, {f: x}])",
        lambda s, x, f: s.insert_many(DOCS, [good(70), {**good(71), f: x}]),
        True,
    ),
    Call("update({f: x}, where=ALL)", lambda s, x, f: s.update(DOCS, {f: x}, where=ALL), True),
    Call("update({f: x}, key)", lambda s, x, f: s.update(DOCS, {f: x}, key={"id": 1}), True),
    Call(
        "upsert({f: x}, update=[f])",
        lambda s, x, f: s.upsert(DOCS, {**good(1), f: x}, update=[f]),
        True,
    ),
    Call("find({f: x})", lambda s, x, f: s.find(DOCS, {f: x}), True),
    Call("find(eq(f, x))", lambda s, x, f: s.find(DOCS, eq(f, x)), True),
    Call("count(in_(f, [x]))", lambda s, x, f: s.count(DOCS, In(f, (x,))), True),
    Call("count(f < x)", lambda s, x, f: s.count(DOCS, Compare("lt", f, x)), True),
    Call("delete(where={f: x})", lambda s, x, f: s.delete(DOCS, where={f: x}), True),
    Call("find(order_by=Order(f, x))", lambda s, x, f: s.find(DOCS, order_by=Order(f, x))),
    Call("find(path(j, x))", lambda s, x, f: s.find(DOCS, IsNull(Path("j", (x,))))),
    Call("get({id: x})", lambda s, x, f: s.get(DOCS, {"id": x}), "id"),
    # transaction misuse
    Call("transaction: bad update rolls back", _tx_raise),
    Call("transaction: view used after exit", _tx_after_exit),
    Call("transaction: nested, bad batch", _tx_nested),
    Call("transaction: caught inner, outer abandoned", _tx_caught),
]

WRITES = ("insert", "update", "upsert", "delete", "bind", "transaction", "scoped")


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} with a broken repr>"
    return text if len(text) <= 300 else text[:300] + f"... ({len(text)} chars)"


def check(bed: Bed, call: Call, value: Any, where: str) -> None:
    bed.tally.calls += 1
    shown = f"{bed.name}: {call.name} with {where}={_show(value)}"
    try:
        call.run(bed.store, value, where)
    except NoOrmError as exc:
        bed.tally.raised += 1
        after = bed.rows()
        if after != BASELINE:
            bed.tally.partial.append(shown)
            bed.reset()
            if os.environ.get("NOORM_BADCALLS_SURVEY"):
                SURVEY.setdefault(("partial", call.name, type(exc).__name__), shown)
                return
            pytest.fail(f"partial write after {type(exc).__name__}: {shown}\n{after}")
        if isinstance(exc, ValidationError) and call.names_model:
            assert exc.model == "docs", f"{shown}: {exc!r} names no model"
            named = call.in_field if isinstance(call.in_field, str) else where
            if call.in_field and exc.field is not None:
                assert exc.field == named, f"{shown}: {exc!r} names {exc.field}, not {named}"
        return
    except Exception as exc:
        bed.tally.foreign.append(f"{shown}: {type(exc).__name__}: {exc}")
        bed.reset()
        if os.environ.get("NOORM_BADCALLS_SURVEY"):
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            SURVEY.setdefault((type(exc).__name__, tb.filename, tb.lineno), shown)
            return
        raise AssertionError(f"not a NoOrmError: {type(exc).__name__}: {shown}") from exc
    if call.name.startswith(WRITES) or "upsert" in call.name:
        bed.reset()


def test_every_bad_call_gets_a_noorm_error(bed: Bed) -> None:
    """Whatever a caller passes, a store answers with a NoOrmError or a result, and a
    call that raised wrote nothing. (Hypothesis settings are per test, so the budget of
    this adapter is applied to an inner test built here.)"""

    @settings(
        max_examples=int(BUDGET[bed.name] * float(os.environ.get("NOORM_BADCALLS_SCALE", "1"))),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(call=st.sampled_from(CALLS), where=st.sampled_from(FIELDS), data=st.data())
    def bad_call(call: Call, where: str, data: st.DataObject) -> None:
        named = call.in_field if isinstance(call.in_field, str) else where
        value = data.draw(junk | EDGE[named] | rows | st.lists(rows, max_size=3), label="value")
        check(bed, call, value, where)

    bad_call()


NAMED_JSON: list[Any] = [
    {"$where": 1},
    {"a.b": 1},
    {"$gt": {"$ne": 1}},
    {"_id": 5},
    {"": 1},
    {"\x00": 1},
    {"k": "\x00"},
    {"\ud800": 1},
    ["\ud800"],
    [2**63],
    {"k": 2**64},
    [1e308],
    [-0.0],
    [math.nan],
    _deep(64),
    _deep(200),
    _cycle(),
]
NAMED_VALUES: dict[str, list[Any]] = {
    "s": ["\ud800", "x" * 21, "\U0001f600" * 20, "\U0001f600" * 21, "\x00", EvilStr("s")],
    "u": ["u1", "U1"],
    "id": [2**63, -(2**63), 2**63 - 1, True, 1.0, EvilInt(7)],
    "n": [math.nan, math.inf, 2**1024, 1e308, 2**63, Decimal("1.5")],
    "i": [2**63, 2**63 - 1, -(2**63) - 1],
    "t": [
        MAX_TIMESTAMP,
        MIN_TIMESTAMP,
        MAX_TIMESTAMP + timedelta(microseconds=1),
        date(2024, 1, 1),
    ],
}
NAMED_SITES = {
    "j": [
        "insert({f: x})",
        "update({f: x}, key)",
        "upsert({f: x}, update=[f])",
        "transaction: bad update rolls back",
        "transaction: nested, bad batch",
        "transaction: caught inner, outer abandoned",
    ],
    "*": [
        "insert({f: x})",
        "insert_many([good, {f: x}])",
        "update({f: x}, where=ALL)",
        "upsert({f: x}, update=[f])",
        "find(eq(f, x))",
        "count(f < x)",
        "count(in_(f, [x]))",
        "transaction: nested, bad batch",
        "transaction: view used after exit",
    ],
}


def _named() -> Iterator[tuple[str, str, Any]]:
    for value in NAMED_JSON:
        for site in NAMED_SITES["j"]:
            yield site, "j", value
    for name, values in NAMED_VALUES.items():
        for value in values:
            for site in NAMED_SITES["*"]:
                yield site, name, value
    for kind in BIG:
        for site in ("insert(row)", "insert_many(rows)", "find(where)", "find(order_by)"):
            yield site, "id", _big(kind)


def test_named_bad_calls(bed: Bed) -> None:
    """The edges the generator may reach only rarely, every run: operator-like and NUL
    json keys, lone surrogates, numbers past 64 bits, the timestamp range, each limit."""
    sites = {call.name: call for call in CALLS}
    failures = []
    for site, name, value in _named():
        try:
            check(bed, sites[site], value, name)
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert not failures, "\n".join(failures)
