"""The kit's side of the limits (spec section 10): refused before I/O, exactly at the edge.

Each limit is tested at the value just inside (reaches the adapter) and just outside
(a ValidationError/SchemaError naming the model, and no operation reaches the adapter).
The conformance suite checks that every adapter handles the inside values.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noorm.adapters.memory import MemoryAdapter
from noorm.kit import Store
from noorm.spec import (
    ALL,
    And,
    Capability,
    Compare,
    Field,
    Find,
    In,
    Index,
    IntegerType,
    IsNull,
    JsonType,
    Model,
    NoOrmError,
    Not,
    Or,
    Order,
    Path,
    Schema,
    SchemaError,
    StringType,
    TimestampType,
    UnsupportedError,
    ValidationError,
    eq,
    in_,
    not_,
    or_,
    path,
)
from noorm.spec.limits import (
    MAX_BATCH_ROWS,
    MAX_FIELDS,
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    MAX_INDEXES,
    MAX_KEY_COLUMNS,
    MAX_LIMIT,
    MAX_ORDER_FIELDS,
    MAX_PATH_KEYS,
    MAX_ROW_BYTES,
    json_bytes,
)

from .test_store import Recording

DOCS = Model(
    "docs",
    [
        Field("id", IntegerType()),
        Field("s", StringType(), nullable=True),
        Field("j", JsonType(), nullable=True),
        Field("t", TimestampType(), nullable=True),
    ],
    primary_key="id",
)
"""With no key string, every fixed cost of a row is 8 bytes: id, and NULL s/j/t."""
FIXED = 4 * 8


@pytest.fixture
def adapter() -> Iterator[Recording]:
    a = Recording()
    yield a
    a.close()


@pytest.fixture
def store(adapter: Recording) -> Store:
    s = Store([DOCS], adapter)
    s.bootstrap()
    adapter.ops.clear()
    return s


def refused(adapter: Recording, call: Callable[[], object], *, field: str | None = None) -> str:
    """``call`` raises a ValidationError naming docs (and ``field``) and reaches no adapter."""
    with pytest.raises(ValidationError) as caught:
        call()
    assert caught.value.model == "docs"
    if field is not None:
        assert caught.value.field == field
    assert adapter.ops == []
    return str(caught.value)


# --- LIM-NAME -------------------------------------------------------------------------------


def _one(name: str = "m", field: str = "id", **kwargs: Any) -> Model[Any]:
    return Model(name, [Field(field, IntegerType())], primary_key=field, **kwargs)


@pytest.mark.parametrize("name", ["pg_user", "pg_class", "sqlite_items", "_x", "_ferretdb_x"])
def test_reserved_model_prefixes_are_refused(name: str) -> None:
    with pytest.raises(SchemaError, match="LIM-NAME") as caught:
        _one(name)
    assert caught.value.model == name


@pytest.mark.parametrize(
    "field", ["_id", "oid", "tableoid", "xmin", "xmax", "cmin", "cmax", "ctid"]
)
def test_reserved_field_names_are_refused(field: str) -> None:
    with pytest.raises(SchemaError, match="LIM-NAME") as caught:
        _one(field=field)
    assert (caught.value.model, caught.value.field) == ("m", field)


@pytest.mark.parametrize(
    "index", ["primary", "m_pkey", "other_pkey", "sqlite_autoindex_m_1", "pg_m"]
)
def test_reserved_index_names_are_refused(index: str) -> None:
    with pytest.raises(SchemaError, match="LIM-NAME"):
        _one(indexes=[Index(index, ["id"])])


def test_an_index_named_like_a_model_is_refused() -> None:
    with pytest.raises(SchemaError, match="is the name of a model"):
        Schema([_one("a", indexes=[Index("b", ["id"])]), _one("b")])


@pytest.mark.parametrize("name", ["pgx_user", "user_pg", "sqlite", "users", "x_", "primary_key"])
def test_names_close_to_reserved_ones_are_legal(name: str) -> None:
    m = Model(name, [Field("id_", IntegerType()), Field("xmin2", IntegerType())], primary_key="id_")
    Schema([m, _one("other", indexes=[Index(f"ix_{name}", ["id"])])])


# --- LIM-SCHEMA and LIM-KEY -----------------------------------------------------------------


def _wide(fields: int = 1, indexes: int = 0) -> Model[Any]:
    names = [f"f{i}" for i in range(fields)]
    return Model(
        "m",
        [Field(n, IntegerType()) for n in names],
        primary_key="f0",
        indexes=[Index(f"m_ix{i}", [names[0]]) for i in range(indexes)],
    )


def test_fields_and_indexes_per_model() -> None:
    _wide(MAX_FIELDS, MAX_INDEXES)
    with pytest.raises(SchemaError, match=f"at most {MAX_FIELDS} fields"):
        _wide(MAX_FIELDS + 1)
    with pytest.raises(SchemaError, match=f"at most {MAX_INDEXES} indexes"):
        _wide(1, MAX_INDEXES + 1)


@pytest.mark.parametrize("where", ["primary key", "index"])
def test_columns_per_key(where: str) -> None:
    def build(n: int) -> Model[Any]:
        names = [f"f{i}" for i in range(n)]
        fields = [Field(x, IntegerType()) for x in names]
        if where == "primary key":
            return Model("m", fields, primary_key=names)
        return Model("m", fields, primary_key="f0", indexes=[Index("m_ix", names)])

    build(MAX_KEY_COLUMNS)
    with pytest.raises(SchemaError, match=f"at most {MAX_KEY_COLUMNS}"):
        build(MAX_KEY_COLUMNS + 1)


def _keyed(key: list[tuple[str, int | None]], index: list[str] | None = None) -> Model[Any]:
    fields = [Field(n, StringType(ml) if ml else IntegerType()) for n, ml in key]
    fields.append(Field("s", StringType(600)))
    fields.append(Field("t", TimestampType()))
    indexes = [Index("m_ix", index)] if index else []
    return Model("m", fields, primary_key=[n for n, _ in key], indexes=indexes)


def test_key_width_at_and_past_2048_bytes() -> None:
    _keyed([("a", 512)])
    _keyed([("a", 256), ("b", 256)])
    _keyed([("a", 508), ("n", None)], ["n", "t", "a"])  # index: 8 + 8 + 2032 = 2048
    wide: list[tuple[list[tuple[str, int | None]], list[str] | None]] = [
        ([("a", 513)], None),
        ([("a", 257), ("b", 256)], None),
        ([("n", None)], ["s", "t"]),  # 2400 + 8 + 8
    ]
    for key, index in wide:
        with pytest.raises(SchemaError, match="LIM-KEY") as caught:
            _keyed(key, index)
        assert caught.value.model == "m"
        assert caught.value.field is not None


def test_an_index_counts_the_primary_key_columns_it_lacks() -> None:
    fields = [Field("a", StringType(256)), Field("b", StringType(256)), Field("c", StringType(1))]
    Model("m", fields, primary_key=["a", "b"], indexes=[Index("m_ba", ["b", "a"])])
    Model("m", fields, primary_key=["a", "b"], indexes=[Index("m_b", ["b"])])  # b + a = 2048
    with pytest.raises(SchemaError, match="2052 bytes"):
        Model("m", fields, primary_key=["a", "b"], indexes=[Index("m_cb", ["c", "b"])])


# --- LIM-ROW ---------------------------------------------------------------------------------


def _json_of(size: int) -> list[str]:
    """A json value whose compact text is exactly ``size`` bytes (multi-byte included)."""
    value = ["é" * ((size - 4) // 2)]  # ["...."]: 2 brackets, 2 quotes, 2 bytes per é
    if (size - 4) % 2:
        value.append("")  # ,"" adds 3 bytes: take one é out for an odd size
        value[0] = value[0][:-1]
    assert json_bytes(value) == size
    return value


def test_a_row_of_exactly_the_limit_is_written_and_one_byte_more_is_refused(
    store: Store, adapter: Recording
) -> None:
    budget = MAX_ROW_BYTES - 3 * 8  # id, s and t count 8 each
    row = {"id": 1, "j": _json_of(budget)}
    assert store.insert(DOCS, row)["j"] == row["j"]
    adapter.ops.clear()
    message = refused(adapter, lambda: store.insert(DOCS, {"id": 2, "j": _json_of(budget + 1)}))
    assert "LIM-ROW" in message
    text = "\U0001f600" * ((MAX_ROW_BYTES - FIXED + 8) // 4)  # 4 bytes each, s replaces a NULL
    store.insert(DOCS, {"id": 3, "s": text})
    adapter.ops.clear()
    refused(adapter, lambda: store.insert(DOCS, {"id": 4, "s": text + "x"}))
    refused(adapter, lambda: store.upsert(DOCS, {"id": 5, "s": text + "x"}, update=["s"]))
    refused(adapter, lambda: store.update(DOCS, {"s": text, "j": _json_of(30)}, key={"id": 3}))
    assert store.count(DOCS) == 2


def test_update_values_are_measured_alone(store: Store, adapter: Recording) -> None:
    store.insert(DOCS, {"id": 1})
    adapter.ops.clear()
    assert store.update(DOCS, {"j": _json_of(MAX_ROW_BYTES)}, key={"id": 1}) == 1
    adapter.ops.clear()
    refused(adapter, lambda: store.update(DOCS, {"j": _json_of(MAX_ROW_BYTES + 1)}, where=ALL))


# --- LIM-BATCH --------------------------------------------------------------------------------


def test_batches_up_to_the_limit(store: Store, adapter: Recording) -> None:
    rows = [{"id": i} for i in range(MAX_BATCH_ROWS + 1)]
    refused(adapter, lambda: store.insert_many(DOCS, rows))
    assert len(store.insert_many(DOCS, iter(rows[:-1]))) == MAX_BATCH_ROWS
    assert store.count(DOCS) == MAX_BATCH_ROWS


# --- LIM-FILTER ---------------------------------------------------------------------------------


def test_values_per_filter(store: Store, adapter: Recording) -> None:
    store.insert_many(DOCS, [{"id": i} for i in range(5)])
    adapter.ops.clear()
    inside = list(range(MAX_FILTER_VALUES))
    assert store.count(DOCS, in_("id", inside)) == 5
    adapter.ops.clear()
    refused(adapter, lambda: store.count(DOCS, in_("id", [*inside, -1])))
    split = And((in_("id", inside[:-1]), eq("id", 3), eq("id", 4)))
    refused(adapter, lambda: store.count(DOCS, split))


def test_conditions_per_filter(store: Store, adapter: Recording) -> None:
    store.insert_many(DOCS, [{"id": i} for i in range(3)])
    adapter.ops.clear()
    conditions = [eq("id", i) for i in range(MAX_FILTER_CONDITIONS)]
    assert store.count(DOCS, or_(*conditions)) == 3
    assert store.count(DOCS, reduce(or_, conditions)) == 3  # nested or_ is one level
    adapter.ops.clear()
    refused(adapter, lambda: store.count(DOCS, or_(*conditions, eq("id", -1))))


def _nested(depth: int) -> Any:
    where: Any = eq("id", 1)
    for level in range(depth):
        where = not_(where) if level % 3 == 0 else (and_ if level % 3 == 1 else or_)(where)
    return where


def and_(*items: Any) -> Any:
    return And(tuple(items))


def test_depth_per_filter(store: Store, adapter: Recording) -> None:
    store.insert_many(DOCS, [{"id": 1}, {"id": 2}, {"id": 3}])
    adapter.ops.clear()
    nots = (MAX_FILTER_DEPTH + 2) // 3  # levels 0, 3, 6, ... are not_
    expected = 1 if nots % 2 == 0 else 2
    assert store.count(DOCS, _nested(MAX_FILTER_DEPTH)) == expected
    adapter.ops.clear()
    message = refused(adapter, lambda: store.count(DOCS, _nested(MAX_FILTER_DEPTH + 1)))
    assert "LIM-FILTER" in message
    deep_not: Any = eq("id", 1)
    for _ in range(1000):
        deep_not = Not(deep_not)  # far beyond the recursion limit: still a ValidationError
    refused(adapter, lambda: store.count(DOCS, deep_not))


def test_path_keys(store: Store, adapter: Recording) -> None:
    doc: Any = 1
    for _ in range(MAX_PATH_KEYS):
        doc = {"k": doc}
    store.insert(DOCS, {"id": 1, "j": doc})
    adapter.ops.clear()
    assert store.count(DOCS, eq(path("j", *["k"] * MAX_PATH_KEYS), 1)) == 1
    adapter.ops.clear()
    refused(
        adapter,
        lambda: store.count(DOCS, eq(path("j", *["k"] * (MAX_PATH_KEYS + 1)), 1)),
        field="j",
    )


def test_bytes_per_filter(store: Store, adapter: Recording) -> None:
    half = "x" * (MAX_ROW_BYTES // 2)
    assert store.count(DOCS, in_("s", [half, half[:-8]])) == 0  # 2 MiB - 8
    adapter.ops.clear()
    refused(adapter, lambda: store.count(DOCS, in_("s", [half, half + "y"])))


@pytest.mark.parametrize(
    "where",
    [
        In("id", 5),  # type: ignore[arg-type]
        And(None),  # type: ignore[arg-type]
        Or((eq("id", 1), None)),  # type: ignore[arg-type]
        Not("id"),  # type: ignore[arg-type]
        Compare("like", "id", 1),  # type: ignore[arg-type]
        Compare("eq", 5, 1),  # type: ignore[arg-type]
        IsNull(Path("j", ())),
        IsNull(Path("j", "ab")),  # type: ignore[arg-type]
        eq("id", 10**5000),
        eq("id", "1"),
        Compare({"op": "eq"}, "id", 1),  # type: ignore[arg-type]
        In("id", (1,), "yes"),  # type: ignore[arg-type]
    ],
    ids=lambda w: type(w).__name__,
)
def test_malformed_filters_are_validation_errors(
    store: Store, adapter: Recording, where: Any
) -> None:
    refused(adapter, lambda: store.find(DOCS, where))


# --- LIM-READ -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limit",
    [0, -1, True, 1.0, "5", MAX_LIMIT + 1, 2**63 - 1, 10**5000],
    ids=["0", "-1", "True", "1.0", "str", "max+1", "2**63-1", "10**5000"],
)
def test_limits_outside_the_range_are_refused(store: Store, adapter: Recording, limit: Any) -> None:
    refused(adapter, lambda: store.find(DOCS, limit=limit))


def test_the_largest_limit_reaches_the_adapter(store: Store, adapter: Recording) -> None:
    store.insert_many(DOCS, [{"id": 1}, {"id": 2}])
    adapter.ops.clear()
    page = store.find(DOCS, limit=MAX_LIMIT)
    assert [r["id"] for r in page] == [1, 2]
    assert page.next_cursor is None
    assert isinstance(adapter.ops[0], Find)
    assert adapter.ops[0].limit == MAX_LIMIT + 1  # the look-ahead row


def test_order_fields() -> None:
    names = [f"f{i}" for i in range(MAX_ORDER_FIELDS + 1)]
    wide = Model("docs", [Field(n, IntegerType()) for n in names], primary_key="f0")
    adapter = Recording()
    store = Store([wide], adapter)
    store.bootstrap()
    adapter.ops.clear()
    assert store.find(wide, order_by=names[:MAX_ORDER_FIELDS]).rows == []
    adapter.ops.clear()
    refused(adapter, lambda: store.find(wide, order_by=names))
    refused(adapter, lambda: store.find(wide, order_by=None))  # type: ignore[arg-type]
    refused(adapter, lambda: store.find(wide, order_by=[Order("f1", [])]))  # type: ignore[arg-type]


class _BrokenEq(str):
    """A field name whose comparison raises (its hash is that of the real name)."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("broken __eq__")

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.insert(DOCS, {_BrokenEq("id"): 1}),
        lambda s: s.get(DOCS, {_BrokenEq("id"): 1}),
        lambda s: s.find(DOCS, {_BrokenEq("id"): 1}),
        lambda s: s.find(DOCS, order_by=_BrokenEq("s")),
        lambda s: s.update(DOCS, {_BrokenEq("s"): "x"}, where=ALL),
        lambda s: s.upsert(DOCS, {"id": 1}, update=[_BrokenEq("s")]),
        lambda s: s.delete(DOCS, key={_BrokenEq("id"): 1}),
    ],
)
def test_a_name_whose_comparison_raises_is_a_validation_error(
    store: Store, adapter: Recording, call: Callable[[Store], object]
) -> None:
    refused(adapter, lambda: call(store))


# --- CAP-1 ---------------------------------------------------------------------------------------


def test_path_filters_are_refused_before_io_without_json_paths() -> None:
    adapter = Recording(frozenset({Capability.TRANSACTIONS}))
    store = Store([DOCS], adapter)
    store.bootstrap()
    adapter.ops.clear()
    for call in (
        lambda: store.find(DOCS, eq(path("j", "a"), 1)),
        lambda: store.count(DOCS, not_(IsNull(path("j", "a")))),
        lambda: store.delete(DOCS, where=or_(eq("id", 1), eq(path("j", "a"), "x"))),
    ):
        with pytest.raises(UnsupportedError) as caught:
            call()
        assert (caught.value.capability, caught.value.model) == ("json_paths", "docs")
    assert adapter.ops == []
    assert store.count(DOCS, IsNull("j")) == 0  # the field itself needs no capability


# --- VAL-3 ---------------------------------------------------------------------------------------


class Color(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 7


class Text(str):
    pass


class Stamp(datetime):
    pass


class Doc(dict[str, Any]):
    pass


def _plain(value: Any) -> None:
    """Every value in ``value`` is of an exact built-in type."""
    assert type(value) in (str, int, float, bool, type(None), dict, list, datetime), type(value)
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str
            _plain(v)
    elif isinstance(value, list):
        for v in value:
            _plain(v)


def test_values_come_back_as_plain_types(store: Store) -> None:
    model = Model(
        "plain",
        [
            Field("id", StringType(10)),
            Field("n", IntegerType()),
            Field("t", TimestampType()),
            Field("j", JsonType()),
        ],
        primary_key="id",
    )
    s = Store([model], MemoryAdapter())
    s.bootstrap()
    stamp = Stamp(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    doc = Doc({Text("k"): [Color.RED, Size.BIG, Text("x"), 1.5], "d": Doc(a=Text("y"))})
    written = s.insert(model, {"id": Color.RED, "n": Size.BIG, "t": stamp, "j": doc})
    for row in (written, s.get(model, {"id": "red"}), s.find(model, {"id": Text("red")}).rows[0]):
        assert row is not None
        for value in row.values():
            _plain(value)
        assert row == {
            "id": "red",
            "n": 7,
            "t": datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
            "j": {"k": ["red", 7, "x", 1.5], "d": {"a": "y"}},
        }
    s.update(model, {"j": [Text("z")], "t": stamp + timedelta(days=1)}, key={"id": "red"})
    again = s.get(model, {"id": "red"})
    assert again is not None
    _plain(again["j"])
    assert type(again["t"]) is datetime
    assert json.dumps(again["j"]) == '["z"]'


# --- generated bad input ------------------------------------------------------------------------

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=3)
    | st.sampled_from([eq("id", 1), Path("j", ("a",)), ALL, DOCS, object(), int])
    | st.builds(lambda: 10**5000),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3)
        | st.tuples(inner, inner)
        | st.builds(And, st.tuples(inner))
        | st.builds(Or, inner)
        | st.builds(Not, inner)
        | st.builds(In, st.sampled_from(["id", "s", "j"]) | inner, inner)
        | st.builds(
            Compare, st.sampled_from(["eq", "lt", "x"]), st.sampled_from(["id", "s"]) | inner, inner
        )
    ),
    max_leaves=8,
)

CALLS: list[Callable[[Store, Any], object]] = [
    lambda s, x: s.insert(DOCS, x),
    lambda s, x: s.insert_many(DOCS, x),
    lambda s, x: s.get(DOCS, x),
    lambda s, x: s.find(DOCS, x),
    lambda s, x: s.find(DOCS, order_by=x),
    lambda s, x: s.find(DOCS, limit=x),
    lambda s, x: s.find(DOCS, cursor=x),
    lambda s, x: s.find(DOCS, after=x),
    lambda s, x: s.count(DOCS, x),
    lambda s, x: s.update(DOCS, x, where=ALL),
    lambda s, x: s.update(DOCS, {"s": "v"}, where=x),
    lambda s, x: s.upsert(DOCS, x, update=["s"]),
    lambda s, x: s.upsert(DOCS, {"id": 1}, update=x),
    lambda s, x: s.delete(DOCS, where=x),
    lambda s, x: s.delete(DOCS, key=x),
    lambda s, x: s.insert(x, {"id": 1}),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=st.sampled_from(range(len(CALLS))), value=junk)
def test_bad_calls_raise_only_noorm_errors(call: int, value: Any) -> None:
    """Whatever a caller passes, the store answers with a NoOrmError or a result."""
    store = Store([DOCS], MemoryAdapter())
    store.bootstrap()
    with contextlib.suppress(NoOrmError):
        CALLS[call](store, value)
