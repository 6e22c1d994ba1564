"""Spec section 10, limits and scale: just inside every limit each adapter gives the
reference result; just outside, the kit refuses before any I/O.

Expectations are computed here, in plain Python (code-point order, the oracle's filter
evaluation), never taken from an adapter. "Before I/O" is shown twice for every
refusal: the store's ``on_query`` callback sees no event, and the same call on a store
over a :class:`~.limits_models.Tripwire` (an adapter that fails the test when reached)
raises the same error. Also covered here: bootstrap over existing data (BOOT-1),
no implicit tables (BOOT-4), plain returned types (VAL-3) and ``after=`` an excluded
row (PAGE-3).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from noorm.kit import Store, TenantScope
from noorm.spec import (
    ALL,
    Adapter,
    And,
    BackendError,
    BooleanType,
    Capability,
    DuplicateKeyError,
    Field,
    FieldType,
    Filter,
    In,
    Index,
    IntegerType,
    JsonType,
    Model,
    Not,
    NumberType,
    Or,
    Order,
    Row,
    Schema,
    StringType,
    TimestampType,
    UnsupportedError,
    ValidationError,
    and_,
    asc,
    desc,
    eq,
    gt,
    in_,
    is_null,
    lt,
    ne,
    not_,
    not_in,
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
    MAX_KEY_BYTES,
    MAX_KEY_COLUMNS,
    MAX_LIMIT,
    MAX_ORDER_FIELDS,
    MAX_PATH_KEYS,
    MAX_ROW_BYTES,
)

from . import oracle
from .checks import all_rows, ids
from .conftest import CURSOR_KEY, StoreMaker
from .limits_models import (
    MIB,
    Events,
    Guarded,
    WithoutJsonPaths,
    astral,
    compact_size,
    escapes_json,
    guarded,
    index_model,
    schema_refused,
    string_list_json,
    text_size,
    utf8_text,
    wide_model,
    wide_value,
    zeros_json,
)
from .models import ITEMS, item
from .plugin import blame

T0 = datetime(2020, 2, 29, 12, 0, tzinfo=UTC)


def walk(
    store: Store,
    model: Model[Row],
    where: Filter | None,
    order: Sequence[Order],
    size: int,
    *,
    max_pages: int = 20_000,
) -> list[Row]:
    """Every row of a read, page by page through next_cursor, until it is None."""
    rows: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    cursor: str | None = None
    for _ in range(max_pages):
        page = store.find(model, where, order_by=list(order), limit=size, cursor=cursor)
        assert len(page.rows) <= size
        for row in page.rows:
            key = tuple(row[k] for k in model.primary_key)
            assert key not in seen, f"a row came twice while paging by {size}"
            seen.add(key)
        rows += page.rows
        if page.next_cursor is None:
            return rows
        assert page.rows, "an empty page must not carry a next_cursor"
        cursor = page.next_cursor
    raise AssertionError(f"paging did not end after {max_pages} pages")


# Ordered reads are part of several limits (keys "stored, found and ordered"), but an
# adapter that orders wrongly breaks an ordering clause, not the limit: such failures are
# blamed on the ordering rule (ORD-1, ORD-2, STR-4) or on paging (PAGE-1), as the
# differential tests do, so that the report names the rule that is broken.


def _keys(rows: Sequence[Mapping[str, Any]], key: Sequence[str]) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in key) for r in rows]


def _brief(keys: list[tuple[Any, ...]]) -> str:
    return ", ".join(repr(k)[:40] for k in keys[:6]) + (", ..." if len(keys) > 6 else "")


def order_rule(
    got: Sequence[Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
    order: Sequence[Order],
    key: Sequence[str],
) -> str | None:
    """The ordering clause that the first misplaced row breaks."""
    named = [o.field for o in order]
    for a, b in zip(got, expected, strict=False):
        if all(a[k] == b[k] for k in key):
            continue
        for field in [*named, *(k for k in key if k not in named)]:
            x, y = a[field], b[field]
            if x == y and type(x) is type(y):
                continue
            if field not in named:
                return "ORD-2"  # the rows tie on the order; the key should decide
            if x is None or y is None or not isinstance(x, str):
                return "ORD-1"
            return "STR-4"
        return "ORD-1"
    return None


def in_order(
    request: pytest.FixtureRequest,
    got: Sequence[Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
    order: Sequence[Order],
    key: Sequence[str] = ("id",),
    *,
    paged: bool = False,
    what: object = "",
) -> None:
    """``got`` are the ``expected`` rows (by key) in that order. The same rows in another
    order, or a page (``paged``) of an ordered read, fail the ordering rule they break."""
    have, want = _keys(got, key), _keys(expected, key)
    if have == want:
        return
    if paged or sorted(map(repr, have)) == sorted(map(repr, want)):
        rule = order_rule(got, expected, order, key)
        if rule is not None:
            blame(request.node, rule)
    raise AssertionError(f"{what} {order}: got [{_brief(have)}], expected [{_brief(want)}]")


def pages_in_order(
    request: pytest.FixtureRequest,
    store: Store,
    model: Model[Row],
    where: Filter | None,
    order: Sequence[Order],
    size: int,
    expected: Sequence[Mapping[str, Any]],
    key: Sequence[str] = ("id",),
) -> None:
    """Paging by ``size`` yields ``expected`` once each, in order (PAGE-1 if not)."""
    try:
        got = walk(store, model, where, order, size)
        have, want = _keys(got, key), _keys(expected, key)
        assert have == want, f"paging {order} by {size}: [{_brief(have)}] != [{_brief(want)}]"
    except AssertionError:
        blame(request.node, "PAGE-1")
        raise


Call = Callable[[Store], object]
"""An operation to try on a store (the real one, then its tripwire)."""


def finds(model: Model[Row], where: Filter | None = None, **options: Any) -> Call:
    return lambda s: s.find(model, where, **options)


def counts(model: Model[Row], where: Filter) -> Call:
    return lambda s: s.count(model, where)


def updates(model: Model[Row], values: Row, where: Filter) -> Call:
    return lambda s: s.update(model, values, where=where)


def deletes(model: Model[Row], where: Filter) -> Call:
    return lambda s: s.delete(model, where=where)


def upserts(model: Model[Row], row: Row, update: list[str]) -> Call:
    return lambda s: s.upsert(model, row, update=update)


def as_tenant(tenant: str, call: Call) -> Call:
    return lambda s: call(s.bind(tenant_id=tenant))


def by_key(rows: Sequence[Row], key: str = "id") -> dict[Any, Row]:
    """Rows by key, for comparing contents without relying on an order."""
    out = {r[key]: r for r in rows}
    assert len(out) == len(rows), "a key was returned twice"
    return out


# === LIM-NAME =============================================================================


def _simple(name: str, *extra: Field, indexes: Sequence[Index] = ()) -> Model[Row]:
    return Model(
        name,
        [Field("id", IntegerType()), Field("v", StringType(10), nullable=True), *extra],
        primary_key=["id"],
        indexes=indexes,
    )


RESERVED_MODEL_NAMES = [
    "pg_user",
    "pg_class",
    "pg_tables",
    "pg_",
    "sqlite_items",
    "sqlite_master",
    "sqlite_sequence",
    "sqlite_",
    "_x",
    "_",
    "_id",
    "_items",
]


@pytest.mark.clause("LIM-NAME", "SCH-5")
@pytest.mark.parametrize("name", RESERVED_MODEL_NAMES)
def test_reserved_model_names_are_refused(name: str) -> None:
    schema_refused(lambda: [_simple(name)], model=name)


RESERVED_INDEX_NAMES = [
    "sqlite_autoindex_things_1",
    "sqlite_x",
    "pg_idx",
    "pg_",
    "_idx",
    "_",
    "_id_",
    "primary",
    "things_pkey",
    "others_pkey",
    "x_pkey",
    "_pkey",
    "things",  # the name of its own model
    "others",  # the name of another model of the schema
]


@pytest.mark.clause("LIM-NAME", "SCH-5")
@pytest.mark.parametrize("name", RESERVED_INDEX_NAMES)
def test_reserved_index_names_are_refused(name: str) -> None:
    schema_refused(
        lambda: [_simple("things", indexes=[Index(name, ["v"])]), _simple("others")],
        model="things",
    )


RESERVED_FIELD_NAMES = ["_id", "oid", "tableoid", "xmin", "xmax", "cmin", "cmax", "ctid"]


@pytest.mark.clause("LIM-NAME", "SCH-5")
@pytest.mark.parametrize("in_key", [False, True], ids=["field", "key"])
@pytest.mark.parametrize("name", RESERVED_FIELD_NAMES)
def test_reserved_field_names_are_refused(name: str, in_key: bool) -> None:
    fields = [Field("id", IntegerType()), Field(name, IntegerType())]
    schema_refused(
        lambda: [Model("things", fields, primary_key=[name] if in_key else ["id"])],
        model="things",
        fields=(name,),
    )


LOOKALIKE_MODELS = [
    # names of system tables and views (information_schema, pg_catalog, mysql, sys)
    "user",
    "users",
    "tables",
    "columns",
    "roles",
    "views",
    "schemata",
    "indexes",
    "statistics",
    "processlist",
    "triggers",
    "routines",
    "db",
    "mysql",
    "information_schema",
    # close to the reserved prefixes, but legal
    "pg",
    "pgx_user",
    "user_pg",
    "sqlite",
    "sqlitex",
    "x_",
    "oid",
]
LOOKALIKE_FIELDS: list[tuple[str, FieldType]] = [
    ("id_", IntegerType()),
    ("xmin2", StringType(20)),
    ("oid_", BooleanType()),
    ("ctid_x", TimestampType()),
    ("tableoid1", NumberType()),
    ("_id_", StringType(20)),
    ("_x", JsonType()),
    ("rowid", IntegerType()),
    ("_rowid_", StringType()),
    ("user", StringType(20)),
]
LOOKALIKE_INDEXES = [
    "pkey_x",
    "primary_x",
    "x_primary",
    "users_pkey_",
    "pkey",
    "pkeys",
    "pgx_idx",
    "sqlitex_idx",
    "x_pkey1",
    "id_",
]


def _lookalikes() -> list[Model[Row]]:
    models: list[Model[Row]] = []
    for k, name in enumerate(LOOKALIKE_MODELS):
        indexes = []
        if k < len(LOOKALIKE_INDEXES):
            choices: list[list[Any]] = [["xmin2", ("id_", "desc")], ["rowid"], [("user", "desc")]]
            columns = choices[k % 3]
            unique = k % 2 == 0  # a unique index leads with p, the first key field (PART-2)
            indexes.append(
                Index(LOOKALIKE_INDEXES[k], ["p", *columns] if unique else columns, unique=unique)
            )
        models.append(
            Model(
                name,
                [Field("p", IntegerType()), Field("id", StringType(32))]
                + [Field(f, t, nullable=True) for f, t in LOOKALIKE_FIELDS],
                primary_key=["p", "id"],
                indexes=indexes,
            )
        )
    return models


def _lookalike_row(key: str, k: int) -> Row:
    return {
        "p": 0,
        "id": key,
        "id_": k,
        "xmin2": f"x{key}",
        "oid_": k % 2 == 0,
        "ctid_x": T0 + timedelta(seconds=k),
        "tableoid1": k / 8,
        "_id_": f"not the key {key}",
        "_x": {"_id": k, "oid": [key], "$set": None},
        "rowid": -k - 1 if key == "a" else 10**12 + k,
        "_rowid_": f"r{key}",
        "user": f"u{key}{k}",
    }


@pytest.mark.clause("LIM-NAME", "SCH-3", "OP-FIND", "OP-COUNT")
def test_legal_names_close_to_reserved_and_system_names_are_our_own_tables(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    """Models named like system views (``tables``, ``users``, ``user``, ...) and fields
    close to system columns (``rowid``, ``xmin2``, ``_id_``) are the adapter's own: an
    empty model finds nothing, and each finds exactly the rows written to it."""
    models = _lookalikes()
    store = make_store(Schema(models))
    for m in models:
        assert store.find(m).rows == [], f"{m.name}: an empty model returned rows"
        assert store.count(m) == 0, m.name
        assert store.get(m, {"p": 0, "id": "a"}) is None, m.name
    written = {}
    for k, m in enumerate(models):
        rows = [_lookalike_row("a", k), _lookalike_row("b", k)]
        assert store.insert_many(m, rows) == rows, m.name
        written[m.name] = rows
    for k, m in enumerate(models):
        rows = written[m.name]
        assert by_key(store.find(m).rows) == by_key(rows), m.name
        assert store.count(m) == 2, m.name
        assert store.get(m, {"p": 0, "id": "b"}) == rows[1], m.name
        assert ids(store.find(m, eq("xmin2", "xa"))) == ["a"], m.name
        assert ids(store.find(m, gt("rowid", 0))) == ["b"], m.name
        for order in ([desc("rowid")], [asc("_rowid_")]):
            found = store.find(m, order_by=order).rows
            keys = ["p", "id"]
            in_order(request, found, oracle.sort_rows(rows, order, keys), order, what=m.name)
        a = {"p": 0, "id": "a"}
        assert store.update(m, {"user": "changed", "rowid": 5}, key=a) == 1, m.name
        got = store.get(m, a)
        assert got == rows[0] | {"user": "changed", "rowid": 5}, m.name
        if m.indexes and m.indexes[0].unique:
            clash = _lookalike_row("c", k) | {
                c.field: rows[1][c.field] for c in m.indexes[0].columns
            }
            with pytest.raises(DuplicateKeyError):
                store.insert(m, clash)
        assert store.delete(m, key=a) == 1, m.name
        assert ids(store.find(m)) == ["b"], m.name
    assert store.bootstrap() == []


# === LIM-SCHEMA ===========================================================================


@pytest.mark.clause("LIM-SCHEMA", "SCH-2", "OP-GET")
def test_a_model_of_max_fields_round_trips_a_full_row(make_store: StoreMaker) -> None:
    wide = wide_model("wide", MAX_FIELDS)
    assert len(wide.fields) == MAX_FIELDS
    store = make_store(Schema([wide]))
    rng = random.Random(MAX_FIELDS)
    full: Row = {"id": 1} | {f.name: wide_value(f, rng) for f in wide.fields[1:]}
    empty: Row = {"id": 2} | {f.name: None for f in wide.fields[1:]}
    assert store.insert(wide, full) == full
    assert store.insert(wide, {"id": 2}) == empty
    assert store.get(wide, {"id": 1}) == full
    assert by_key(store.find(wide).rows) == {1: full, 2: empty}
    values = {k: v for k, v in full.items() if k != "id"}
    assert store.update(wide, values, key={"id": 2}) == 1
    assert store.get(wide, {"id": 2}) == full | {"id": 2}
    assert store.update(wide, dict.fromkeys(values), key={"id": 1}) == 1
    assert store.get(wide, {"id": 1}) == empty | {"id": 1}


@pytest.mark.clause("LIM-SCHEMA", "SCH-5")
def test_a_model_of_more_than_max_fields_is_refused() -> None:
    over = f"f{MAX_FIELDS:03}"
    schema_refused(lambda: [wide_model("wide", MAX_FIELDS + 1)], model="wide", fields=(None, over))


def _indexed_row(r: int, model: Model[Row]) -> Row:
    row: Row = {"grp": 0, "id": r}
    for f in model.fields[2:]:
        k = int(f.name[1:])
        t = f.type
        if isinstance(t, IntegerType):
            row[f.name] = r * 1000 + k
        elif isinstance(t, StringType):
            row[f.name] = f"r{r:03}c{k:02}\u00e9"
        elif isinstance(t, TimestampType):
            row[f.name] = T0 + timedelta(days=r, seconds=k)
        elif isinstance(t, NumberType):
            row[f.name] = r + k / 128
        else:
            row[f.name] = r % 2 == 0
    return row


@pytest.mark.clause("LIM-SCHEMA", "OP-DUP", "ORD-1")
def test_a_model_with_max_indexes_works(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    indexed = index_model("indexed", MAX_INDEXES)
    assert len(indexed.indexes) == MAX_INDEXES
    store = make_store(Schema([indexed]))
    rows = [_indexed_row(r, indexed) for r in range(30)]
    random.Random(32).shuffle(rows)
    assert store.insert_many(indexed, rows) == rows
    assert store.count(indexed) == 30
    for index in indexed.indexes[:8]:
        order = [Order(c.field, descending=c.descending) for c in index.columns]
        got = store.find(indexed, order_by=order).rows
        in_order(request, got, oracle.sort_rows(rows, order, ["grp", "id"]), order, what=index.name)
    unique = [i for i in indexed.indexes if i.unique]
    assert unique
    for index in unique:
        column = index.columns[-1].field  # after grp
        clash = _indexed_row(99, indexed) | {column: rows[0][column]}
        with pytest.raises(DuplicateKeyError):
            store.insert(indexed, clash)
    assert store.count(indexed) == 30


@pytest.mark.clause("LIM-SCHEMA", "SCH-5")
def test_a_model_with_more_than_max_indexes_is_refused() -> None:
    schema_refused(lambda: [index_model("indexed", MAX_INDEXES + 1)], model="indexed")


_KEY_TYPES: tuple[FieldType, ...] = (
    IntegerType(),
    StringType(16),
    TimestampType(),
    BooleanType(),
    NumberType(),
)


def _keyed_model(name: str, key_columns: int, index_columns: int) -> Model[Row]:
    """A primary key of ``key_columns`` fields and a unique index of ``index_columns``:
    the first key field, then ``index_columns - 1`` fields of its own (the index holds the
    first key field so that the model can be partitioned by it, PART-2)."""
    keys = [Field(f"k{k:02}", _KEY_TYPES[k % 5]) for k in range(key_columns)]
    cols = [Field(f"c{k:02}", _KEY_TYPES[k % 5]) for k in range(index_columns - 1)]
    return Model(
        name,
        [*keys, *cols, Field("v", StringType(), nullable=True)],
        primary_key=[f.name for f in keys],
        indexes=[
            Index(
                f"{name}_all",
                [
                    (keys[0].name, "asc"),
                    *((f.name, "desc" if k % 3 == 0 else "asc") for k, f in enumerate(cols)),
                ],
                unique=True,
            ),
            Index(f"{name}_rev", [f.name for f in reversed(keys)]),
        ],
    )


def _key_value(t: FieldType, x: int) -> Any:
    if isinstance(t, IntegerType):
        return x
    if isinstance(t, StringType):
        return f"\U0001f600{x:03}" + "z" * 10
    if isinstance(t, TimestampType):
        return T0 + timedelta(seconds=x)
    if isinstance(t, BooleanType):
        return x % 2 == 1
    return x / 2


@pytest.mark.clause("LIM-SCHEMA", "LIM-READ", "OP-GET", "OP-DUP", "PAGE-1")
def test_a_key_and_an_index_of_max_key_columns_work(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    keyed = _keyed_model("keyed", MAX_KEY_COLUMNS, MAX_KEY_COLUMNS)
    store = make_store(Schema([keyed]))
    keys = keyed.primary_key
    cols = [f for f in keyed.fields if f.name.startswith("c")]
    rows = []
    for r in range(24):
        # Keys share their first 15 columns in groups; index values tie on most columns.
        row: Row = {
            f: _key_value(keyed.field(f).type, (r // 12) if k == 0 else 1)
            for k, f in enumerate(keys)
        }
        row[keys[-1]] = r
        for k, f in enumerate(cols):
            row[f.name] = _key_value(f.type, (r * (k + 1)) % 3 if k < len(cols) - 1 else r)
        row["v"] = f"row {r}"
        rows.append(row)
    assert store.insert_many(keyed, rows) == rows
    for row in rows:
        assert store.get(keyed, {k: row[k] for k in keys}) == row
    order = [Order(f.name, descending=k % 2 == 1) for k, f in enumerate(cols)]
    expected = oracle.sort_rows(rows, order, keys)
    in_order(request, store.find(keyed, order_by=order).rows, expected, order, keys)
    pages_in_order(request, store, keyed, None, order, 3, expected, keys)
    with pytest.raises(DuplicateKeyError):
        store.insert(keyed, rows[3] | {"c14": 999})  # same 16-field primary key
    with pytest.raises(DuplicateKeyError):
        store.insert(keyed, rows[3] | {keys[-1]: 999})  # same 16 unique index columns
    assert store.delete(keyed, key={k: rows[5][k] for k in keys}) == 1
    assert store.count(keyed) == 23


@pytest.mark.clause("LIM-SCHEMA", "SCH-5")
def test_a_key_or_an_index_of_more_than_max_key_columns_is_refused() -> None:
    schema_refused(lambda: [_keyed_model("keyed", MAX_KEY_COLUMNS + 1, 2)], model="keyed")
    schema_refused(lambda: [_keyed_model("keyed", 2, MAX_KEY_COLUMNS + 1)], model="keyed")


# === LIM-KEY ==============================================================================

KEY_CHARS = MAX_KEY_BYTES // 4
"""512: the longest string a key may hold (4 bytes per code point of max_length)."""


@pytest.mark.clause("LIM-KEY", "STR-4", "OP-GET", "OP-UPD", "OP-UPS", "OP-DEL", "PAGE-1")
def test_a_string_key_of_max_width_holds_astral_strings_at_full_length(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    model = Model(
        "k512",
        [Field("id", StringType(KEY_CHARS)), Field("n", IntegerType(), nullable=True)],
        primary_key=["id"],
    )
    store = make_store(Schema([model]))
    rng = random.Random(KEY_CHARS)
    base = astral(rng, KEY_CHARS - 1)
    lasts = ["a", "\u00e9", "\uffff", "\U00010000", "\U0001f600", "\U0003fffd", "\U0010ffff"]
    keys = [base + c for c in lasts] + [astral(rng, KEY_CHARS) for _ in range(3)]
    keys.append(base[:300] + astral(rng, KEY_CHARS - 300))
    assert all(len(k) == KEY_CHARS for k in keys) and len(set(keys)) == len(keys)
    rows: list[Row] = [{"id": k, "n": n} for n, k in enumerate(keys)]
    assert store.insert_many(model, rows) == rows
    for row in rows:
        assert store.get(model, {"id": row["id"]}) == row
    ascending = sorted(rows, key=lambda r: str(r["id"]))  # code-point order
    for order, expected, size in (([asc("id")], ascending, 3), ([desc("id")], ascending[::-1], 2)):
        in_order(request, store.find(model, order_by=order).rows, expected, order)
        pages_in_order(request, store, model, None, order, size, expected)
    for probe in keys[:4]:
        assert ids(store.find(model, eq("id", probe))) == [probe]
        assert set(ids(store.find(model, gt("id", probe)))) == {k for k in keys if k > probe}
        assert store.count(model, lt("id", probe)) == sum(k < probe for k in keys)
    assert set(ids(store.find(model, in_("id", keys[::2])))) == set(keys[::2])
    position = 3
    after = store.find(model, order_by="id", after={"id": ascending[position]["id"]})
    in_order(request, after.rows, ascending[position + 1 :], [asc("id")], paged=True)
    assert store.update(model, {"n": 100}, key={"id": keys[0]}) == 1
    assert store.get(model, {"id": keys[0]}) == {"id": keys[0], "n": 100}
    result = store.upsert(model, {"id": keys[1], "n": 7}, update=["n"])
    assert (result.inserted, result.row) == (False, {"id": keys[1], "n": 7})
    fresh = base + "\U0001f601"
    result = store.upsert(model, {"id": fresh, "n": 8}, update=["n"])
    assert (result.inserted, result.row) == (True, {"id": fresh, "n": 8})
    with pytest.raises(DuplicateKeyError):
        store.insert(model, {"id": keys[2], "n": None})
    assert store.delete(model, key={"id": keys[2]}) == 1
    assert store.get(model, {"id": keys[2]}) is None
    assert set(ids(store.find(model))) == (set(keys) | {fresh}) - {keys[2]}


@pytest.mark.clause("LIM-KEY", "STR-4", "OP-GET", "ORD-2", "PAGE-1")
def test_a_composite_key_and_indexes_of_max_width(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    """Two 256-code-point key strings (2048 bytes); an index on ``b`` alone is as wide,
    because it counts the key column ``a`` it lacks."""
    half = KEY_CHARS // 2
    model = Model(
        "k256x2",
        [
            Field("a", StringType(half)),
            Field("b", StringType(half)),
            Field("v", IntegerType()),
        ],
        primary_key=["a", "b"],
        indexes=[
            Index("k256x2_ab", [("a", "desc"), "b"]),
            Index("k256x2_b", ["b"]),
        ],
    )
    store = make_store(Schema([model]))
    rng = random.Random(half)
    pa, pb = astral(rng, half - 1), astral(rng, half - 1)
    ends = ["a", "\uffff", "\U0001f600"]
    rows: list[Row] = [
        {"a": pa + x, "b": pb + y, "v": 10 * i + j}
        for i, x in enumerate(ends)
        for j, y in enumerate(reversed(ends))
    ]
    rows.append({"a": pb[:half], "b": pa[:half], "v": 99})  # the prefixes crossed over
    rng.shuffle(rows)
    assert store.insert_many(model, rows) == rows
    for row in rows:
        assert store.get(model, {"a": row["a"], "b": row["b"]}) == row
    key = ["a", "b"]
    for order in ([asc("a")], [desc("b")], [asc("b"), desc("a")], [desc("v")], []):
        expected = oracle.sort_rows(rows, order, key)
        in_order(request, store.find(model, order_by=order).rows, expected, order, key)
        pages_in_order(request, store, model, None, order, 2, expected, key)
    probe = rows[0]["b"]
    assert set(ids(store.find(model, eq("b", probe)), "v")) == {
        r["v"] for r in rows if r["b"] == probe
    }
    with pytest.raises(DuplicateKeyError):
        store.insert(model, rows[1] | {"v": -1})
    assert store.update(model, {"v": -5}, key={"a": rows[2]["a"], "b": rows[2]["b"]}) == 1
    assert store.delete(model, key={"a": rows[3]["a"], "b": rows[3]["b"]}) == 1
    assert store.count(model) == len(rows) - 1


@pytest.mark.clause("LIM-KEY", "STR-4", "OP-GET", "OP-UPD", "OP-UPS", "OP-DEL", "PAGE-1")
def test_a_key_of_max_columns_with_long_names_at_max_width(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    """16 string key columns of ``max_length`` 32 (2048 bytes) with 63-character names:
    LIM-KEY counts values only, so however an adapter lays the key out, the names must
    not make it too wide (a document store must not repeat them in its key)."""
    width = MAX_KEY_BYTES // 4 // MAX_KEY_COLUMNS
    names = [f"k{k:02}_" + "n" * 59 for k in range(MAX_KEY_COLUMNS)]
    assert all(len(name) == 63 for name in names)
    model = Model(
        "long_named_key",
        [*(Field(name, StringType(width)) for name in names), Field("v", IntegerType())],
        primary_key=names,
    )
    store = make_store(Schema([model]))
    rng = random.Random(width)
    shared = [astral(rng, width) for _ in names]
    rows: list[Row] = []
    for r in range(6):  # keys share every column but the last one or two
        row: Row = dict(zip(names, shared, strict=True))
        row[names[-1]] = astral(rng, width)
        if r % 3 == 0:
            row[names[-2]] = astral(rng, width)
        row["v"] = r
        rows.append(row)
    assert store.insert_many(model, rows) == rows
    rows.append(rows[0] | {names[-1]: astral(rng, width), "v": 6})
    assert store.insert(model, rows[-1]) == rows[-1]

    def key(row: Row) -> Row:
        return {name: row[name] for name in names}

    for row in rows:
        assert store.get(model, key(row)) == row
    for order in ([], [desc("v")]):
        expected = oracle.sort_rows(rows, order, names)
        in_order(request, store.find(model, order_by=order).rows, expected, order, names)
        pages_in_order(request, store, model, None, order, 2, expected, names)
    with pytest.raises(DuplicateKeyError):
        store.insert(model, rows[1] | {"v": -1})
    assert store.update(model, {"v": 10}, key=key(rows[2])) == 1
    result = store.upsert(model, rows[3] | {"v": 11}, update=["v"])
    assert (result.inserted, result.row) == (False, rows[3] | {"v": 11})
    assert store.delete(model, key=key(rows[4])) == 1
    assert store.get(model, key(rows[4])) is None
    assert store.get(model, key(rows[2])) == rows[2] | {"v": 10}
    assert store.count(model) == len(rows) - 1


@pytest.mark.clause("LIM-KEY", "STR-4", "OP-DUP", "ORD-2")
def test_indexes_exactly_max_key_bytes_wide_counting_the_key_columns_they_lack(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    # 4 * 508 + 8 (t) + 8 (the key id the index lacks) = 2048
    edge = Model(
        "edge",
        [
            Field("id", IntegerType()),
            Field("s", StringType(508)),
            Field("t", TimestampType()),
        ],
        primary_key=["id"],
        indexes=[Index("edge_s_t", ["s", ("t", "desc")])],
    )
    # 8 (p) + 4 * 254 (s) + 4 * 256 (the key id the index lacks) = 2048; the unique index
    # holds p, the first key field, so the model can be partitioned by it (PART-2).
    edge2 = Model(
        "edge2",
        [Field("p", IntegerType()), Field("id", StringType(256)), Field("s", StringType(254))],
        primary_key=["p", "id"],
        indexes=[Index("edge2_s", ["p", ("s", "desc")], unique=True)],
    )
    store = make_store(Schema([edge, edge2]))
    rng = random.Random(2048)
    prefix = astral(rng, 507)
    rows: list[Row] = [
        {"id": k, "s": prefix + c, "t": T0 + timedelta(seconds=k % 2)}
        for k, c in enumerate(["b", "a", "\U0001f600", "\uffff", "a", "b"])
    ]
    store.insert_many(edge, rows)
    for order in ([asc("s"), desc("t")], [desc("s")], [asc("t"), asc("s")]):
        got = store.find(edge, order_by=order).rows
        in_order(request, got, oracle.sort_rows(rows, order, ["id"]), order)
    key_prefix, value_prefix = astral(rng, 255), astral(rng, 253)
    pairs: list[Row] = [
        {"p": 0, "id": key_prefix + c, "s": value_prefix + d}
        for c, d in [("a", "\U0010ffff"), ("b", "a"), ("\U0001f600", "\uffff")]
    ]
    store.insert_many(edge2, pairs)
    got = store.find(edge2, order_by=desc("s")).rows
    in_order(request, got, oracle.sort_rows(pairs, [desc("s")], ["p", "id"]), [desc("s")])
    with pytest.raises(DuplicateKeyError):
        store.insert(edge2, {"p": 0, "id": key_prefix + "z", "s": pairs[1]["s"]})
    assert store.count(edge2) == 3


def _too_wide() -> dict[str, tuple[Callable[[], list[Model[Row]]], tuple[str | None, ...]]]:
    n = KEY_CHARS
    return {
        "key-513": (
            lambda: [Model("wide", [Field("id", StringType(n + 1))], primary_key=["id"])],
            (None, "id"),
        ),
        "key-257x2": (
            lambda: [
                Model(
                    "wide",
                    [Field("a", StringType(n // 2 + 1)), Field("b", StringType(n // 2))],
                    primary_key=["a", "b"],
                )
            ],
            (None, "a", "b"),
        ),
        "key-16x33": (
            lambda: [
                Model(
                    "wide",
                    [Field(f"k{k:02}", StringType(33)) for k in range(16)],
                    primary_key=[f"k{k:02}" for k in range(16)],
                )
            ],
            (None, *(f"k{k:02}" for k in range(16))),
        ),
        "index-509-timestamp": (
            lambda: [
                Model(
                    "wide",
                    [
                        Field("id", IntegerType()),
                        Field("s", StringType(509)),
                        Field("t", TimestampType()),
                    ],
                    primary_key=["id"],
                    indexes=[Index("wide_s_t", ["s", "t"])],
                )
            ],
            (None, "s", "t", "id"),
        ),
        "index-257-lacking-key-256": (
            lambda: [
                Model(
                    "wide",
                    [Field("id", StringType(n // 2)), Field("s", StringType(n // 2 + 1))],
                    primary_key=["id"],
                    indexes=[Index("wide_s", ["s"])],
                )
            ],
            (None, "s", "id"),
        ),
        "index-key-plus-one": (
            lambda: [
                Model(
                    "wide",
                    [
                        Field("a", StringType(n // 2)),
                        Field("b", StringType(n // 2)),
                        Field("v", BooleanType()),
                    ],
                    primary_key=["a", "b"],
                    indexes=[Index("wide_abv", ["a", "b", "v"])],
                )
            ],
            (None, "a", "b", "v"),
        ),
    }


@pytest.mark.clause("LIM-KEY", "SCH-5")
@pytest.mark.parametrize("case", list(_too_wide()))
def test_keys_and_indexes_wider_than_max_key_bytes_are_refused(case: str) -> None:
    build, fields = _too_wide()[case]
    schema_refused(build, model="wide", fields=fields)


# === long strings in order and cursors (STR-4 at scale) ===================================

TEXTS: Model[Row] = Model(
    "texts",
    [Field("id", IntegerType()), Field("s", StringType(), nullable=True)],
    primary_key=["id"],
)


@pytest.mark.clause("STR-4", "ORD-1", "PAGE-1")
def test_long_strings_sharing_long_prefixes_order_and_page_by_code_point(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    """Prefixes past common sort-key cut-offs (1,024 bytes, 64 KiB) and values that
    differ only in their last character: a backend sorting or comparing a truncated
    key, or in UTF-16 order, puts them in the wrong order or finds several."""
    rng = random.Random(70_000)
    prefixes = ["\u00e9" * 550, astral(rng, 5_000), "\u00e9a" * 35_000]
    assert [text_size(prefixes[0]), len(prefixes[1]), len(prefixes[2])] == [1_100, 5_000, 70_000]
    endings = ["", "\x01", "A", "a", "\u00e9", "\uffff", "\U0001f600", "\U0001f601"]
    values: list[str | None] = [p + e for p in prefixes for e in endings]
    values += [None, "", "a", "\u00e9" * 549 + "\U0010ffff"]
    keys = list(range(len(values)))
    rng.shuffle(keys)
    rows: list[Row] = [{"id": k, "s": v} for k, v in zip(keys, values, strict=True)]
    store = make_store(Schema([TEXTS]))
    store.insert_many(TEXTS, rows)
    for order in ([asc("s")], [desc("s")]):
        expected = oracle.sort_rows(rows, order, ["id"])
        in_order(request, store.find(TEXTS, order_by=order).rows, expected, order)
        for size in (1, 2, 3):
            pages_in_order(request, store, TEXTS, None, order, size, expected)
    for row in rows:
        if row["s"] is not None and len(row["s"]) > 1_000:
            assert ids(store.find(TEXTS, eq("s", row["s"]))) == [row["id"]]
    middle = prefixes[2] + "b"
    assert set(ids(store.find(TEXTS, gt("s", middle)))) == {
        r["id"] for r in rows if r["s"] is not None and r["s"] > middle
    }
    assert store.count(TEXTS, lt("s", prefixes[1] + "\U0001f600")) == sum(
        r["s"] is not None and r["s"] < prefixes[1] + "\U0001f600" for r in rows
    )


# === LIM-ROW ==============================================================================

BLOBS: Model[Row] = Model(
    "blobs",
    [
        Field("id", StringType(16)),
        Field("s", StringType(), nullable=True),
        Field("j", JsonType(), nullable=True),
    ],
    primary_key=["id"],
)

ROW_CASES = ["json-strings", "utf8-string", "json-small-ints", "json-escapes"]


def row_size(row: Row) -> int:
    """The spec's size of a BLOBS row: UTF-8 bytes, compact JSON, 8 per NULL."""
    total = text_size(row["id"])
    total += 8 if row["s"] is None else text_size(row["s"])
    total += 8 if row["j"] is None else compact_size(row["j"])
    return total


def big_row(case: str, key: str, size: int) -> Row:
    """A BLOBS row of exactly ``size`` bytes, the bulk in ``s`` or ``j`` as ``case`` says."""
    bulk = size - text_size(key) - 8  # the key, and the other field's NULL
    row: Row = {"id": key, "s": None, "j": None}
    if case == "utf8-string":
        row["s"] = utf8_text(bulk, salt=key)
    elif case == "json-strings":
        row["j"] = string_list_json(bulk, salt=key)
    elif case == "json-small-ints":
        row["j"] = zeros_json(bulk)
    else:
        row["j"] = escapes_json(bulk)
    assert row_size(row) == size
    return row


def _bulk_field(case: str) -> str:
    return "s" if case == "utf8-string" else "j"


@pytest.mark.clause("LIM-ROW", "OP-INS", "OP-UPS", "VAL-1")
@pytest.mark.parametrize("case", ROW_CASES)
def test_a_row_of_max_row_bytes_round_trips_and_one_byte_more_is_refused(
    make_store: StoreMaker, case: str
) -> None:
    g = guarded(make_store, Schema([BLOBS]))
    row = big_row(case, "fits", MAX_ROW_BYTES)
    assert g.store.insert(BLOBS, row) == row
    assert g.store.get(BLOBS, {"id": "fits"}) == row
    over = big_row(case, "over", MAX_ROW_BYTES + 1)
    fields = (None, _bulk_field(case))
    heavy = case == "json-small-ints"  # a million elements take a while to validate
    g.refuses(lambda s: s.insert(BLOBS, over), model="blobs", fields=fields, tripwire=not heavy)
    if not heavy:
        small: Row = {"id": "small", "s": "x", "j": None}
        g.refuses(lambda s: s.insert_many(BLOBS, [small, over]), model="blobs", fields=fields)
        g.refuses(upserts(BLOBS, over, ["s", "j"]), model="blobs", fields=fields)
    assert g.store.get(BLOBS, {"id": "over"}) is None
    assert g.store.get(BLOBS, {"id": "small"}) is None


@pytest.mark.clause("LIM-ROW", "OP-UPD", "VAL-1")
@pytest.mark.parametrize("bulk", ["s", "j"])
def test_update_values_of_max_row_bytes_are_written_and_one_byte_more_is_refused(
    make_store: StoreMaker, bulk: str
) -> None:
    """The values of an update count like a row. The row's key is "" (0 bytes), so the
    updated row is exactly at the limit too (a row grown past it is not portable)."""
    g = guarded(make_store, Schema([BLOBS]))
    original = g.store.insert(BLOBS, {"id": "", "s": "before", "j": [1]})

    def values(size: int) -> Row:
        if bulk == "s":
            out: Row = {"s": utf8_text(size - 8), "j": None}
        else:
            out = {"s": None, "j": string_list_json(size - 8)}
        assert row_size({"id": ""} | out) == size
        return out

    fits = values(MAX_ROW_BYTES)
    assert g.store.update(BLOBS, fits, key={"id": ""}) == 1
    assert g.store.get(BLOBS, {"id": ""}) == {"id": ""} | fits
    assert g.store.update(BLOBS, {"s": "before", "j": [1]}, where=ALL) == 1
    over = values(MAX_ROW_BYTES + 1)
    fields = (None, bulk)
    g.refuses(lambda s: s.update(BLOBS, over, key={"id": ""}), model="blobs", fields=fields)
    g.refuses(lambda s: s.update(BLOBS, over, where=ALL), model="blobs", fields=fields)
    assert all_rows(g.store, BLOBS) == [original]


@pytest.mark.clause("LIM-ROW", "OP-UPS", "VAL-1")
def test_upserts_of_max_row_bytes_insert_and_update_and_one_byte_more_is_refused(
    make_store: StoreMaker,
) -> None:
    g = guarded(make_store, Schema([BLOBS]))
    first = big_row("utf8-string", "k", MAX_ROW_BYTES)
    result = g.store.upsert(BLOBS, first, update=["s", "j"])
    assert (result.inserted, result.row) == (True, first)
    second = big_row("json-strings", "k", MAX_ROW_BYTES)
    result = g.store.upsert(BLOBS, second, update=["s", "j"])
    assert (result.inserted, result.row) == (False, second)
    assert g.store.get(BLOBS, {"id": "k"}) == second
    for over in (
        big_row("utf8-string", "k", MAX_ROW_BYTES + 1),
        big_row("json-strings", "new", MAX_ROW_BYTES + 1),
    ):
        g.refuses(
            upserts(BLOBS, over, ["s", "j"]),
            model="blobs",
            fields=(None, "s", "j"),
        )
    assert all_rows(g.store, BLOBS) == [second]


# === LIM-BATCH ============================================================================

BATCH: Model[Row] = Model(
    "batch",
    [
        Field("grp", IntegerType()),
        Field("id", IntegerType()),
        Field("code", StringType(32)),
        Field("s", StringType(), nullable=True),
        Field("n", NumberType(), nullable=True),
        Field("t", TimestampType(), nullable=True),
        Field("b", BooleanType(), nullable=True),
    ],
    primary_key=["grp", "id"],
    indexes=[Index("batch_code", ["grp", "code"], unique=True)],
)
"""Keys and codes are unique per ``grp`` (four groups): the unique index holds the first
key field, so the model can be partitioned by it (PART-2), and a batch spans partitions."""


def batch_rows(count: int, start: int = 0) -> list[Row]:
    return [
        {
            "grp": k % 4,
            "id": k,
            "code": f"c{k:05}",
            "s": f"row {k} \u00e9\U0001f600",
            "n": k / 4,
            "t": T0 + timedelta(seconds=k),
            "b": k % 3 == 0,
        }
        for k in range(start, start + count)
    ]


@pytest.mark.clause("LIM-BATCH", "OP-INS")
def test_insert_many_takes_max_batch_rows_and_refuses_one_more(make_store: StoreMaker) -> None:
    g = guarded(make_store, Schema([BATCH]))
    rows = batch_rows(MAX_BATCH_ROWS + 1)
    g.refuses(lambda s: s.insert_many(BATCH, rows), model="batch")
    g.refuses(lambda s: s.insert_many(BATCH, iter(rows)), model="batch")
    assert g.store.count(BATCH) == 0
    batch = rows[:MAX_BATCH_ROWS]
    assert g.store.insert_many(BATCH, batch) == batch
    assert g.store.count(BATCH) == MAX_BATCH_ROWS
    assert by_key(g.store.find(BATCH).rows) == by_key(batch)
    for k in (0, MAX_BATCH_ROWS // 2, MAX_BATCH_ROWS - 1):
        assert g.store.get(BATCH, {"grp": k % 4, "id": k}) == batch[k]


COLLISIONS = ["existing-key", "batch-key", "existing-unique", "batch-unique"]
POSITIONS = {"first": 0, "middle": MAX_BATCH_ROWS // 2, "last": MAX_BATCH_ROWS - 1}


def collide(rows: list[Row], existing: Row, kind: str, position: int) -> list[Row]:
    """``rows`` with the row at ``position`` colliding with ``existing`` or another row.

    The other row of a collision inside the batch is as far away as possible (the last
    row for the first, the first for the others), so it lies in another statement of an
    adapter that splits the batch.
    """
    out = [dict(r) for r in rows]
    partner = out[-1] if position == 0 else out[0]
    column = "id" if kind.endswith("key") else "code"
    other = existing if kind.startswith("existing") else partner
    out[position][column] = other[column]
    out[position]["grp"] = other["grp"]  # keys and codes are unique per group
    return out


@pytest.mark.clause("LIM-BATCH", "OP-INS", "OP-DUP")
@pytest.mark.parametrize("position", list(POSITIONS))
@pytest.mark.parametrize("kind", COLLISIONS)
def test_a_collision_anywhere_in_a_max_batch_writes_none_of_it(
    make_store: StoreMaker, kind: str, position: str
) -> None:
    store = make_store(Schema([BATCH]))
    existing = store.insert_many(BATCH, batch_rows(3, start=MAX_BATCH_ROWS + 100))
    before = all_rows(store, BATCH)
    rows = collide(batch_rows(MAX_BATCH_ROWS), existing[1], kind, POSITIONS[position])
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert_many(BATCH, rows)
    assert caught.value.model == "batch"
    assert store.count(BATCH) == 3
    assert by_key(all_rows(store, BATCH)) == by_key(before)


BIG: Model[Row] = Model(
    "big",
    [
        Field("grp", IntegerType()),
        Field("id", IntegerType()),
        Field("code", StringType(32)),
        Field("s", StringType()),
    ],
    primary_key=["grp", "id"],
    indexes=[Index("big_code", ["grp", "code"], unique=True)],
)


@pytest.mark.clause("LIM-BATCH", "LIM-ROW", "OP-INS", "OP-DUP")
def test_a_batch_of_large_rows_stays_all_or_nothing(make_store: StoreMaker) -> None:
    """40 rows of 1 MiB: more than one statement or message holds on some backends."""
    store = make_store(Schema([BIG]))
    existing = store.insert(BIG, {"grp": 0, "id": 1000, "code": "existing", "s": "kept"})
    filler = "x" * (MIB - 4)
    rows: list[Row] = [
        {"grp": k % 4, "id": k, "code": f"c{k}", "s": f"{k:04}{filler}"} for k in range(40)
    ]
    for kind, position in [
        ("existing-key", 0),
        ("batch-key", 20),
        ("existing-unique", 39),
        ("batch-unique", 39),
    ]:
        with pytest.raises(DuplicateKeyError):
            store.insert_many(BIG, collide(rows, existing, kind, position))
        assert all_rows(store, BIG) == [existing], (kind, position)
    store.insert_many(BIG, rows)
    assert store.count(BIG) == 41
    for k in (0, 19, 39):
        assert store.get(BIG, {"grp": k % 4, "id": k}) == rows[k]


# === LIM-FILTER ===========================================================================

FLT: Model[Row] = Model(
    "flt",
    [
        Field("id", IntegerType()),
        Field("s", StringType(16), nullable=True),
        Field("n", IntegerType(), nullable=True),
        Field("t", StringType(), nullable=True),
        Field("j", JsonType(), nullable=True),
    ],
    primary_key=["id"],
)
S_POOL = [None, "", "a", "B", "\u00e9", "\U0001f600", "zz"]
PATH_KEYS = [f"k{k}" for k in range(MAX_PATH_KEYS)]


def nested(keys: Sequence[str], leaf: Any) -> Any:
    for key in reversed(keys):
        leaf = {key: leaf}
    return leaf


def flt_rows(count: int = 60, *, odd: bool = False) -> list[Row]:
    """Rows of FLT: few, because some backends evaluate a filter per stored document."""
    rows: list[Row] = []
    for k in range(count):
        j: Any
        if k % 3 == 0:
            j = nested(PATH_KEYS, [k % 4, f"v{k % 4}", None, True][k % 4])
        elif k % 3 == 1:
            j = nested(PATH_KEYS[:-1], {"other": k})
        else:
            j = None if k % 2 else {"k0": k}
        rows.append(
            {
                "id": 2 * k + int(odd),
                "s": S_POOL[k % len(S_POOL)],
                "n": None if k % 5 == 0 else k % 11,
                "t": None,
                "j": j,
            }
        )
    return rows


def flt_store(make_store: StoreMaker) -> tuple[Guarded, list[Row]]:
    g = guarded(make_store, Schema([FLT]))
    rows = flt_rows()
    g.store.insert_many(FLT, rows)
    return g, rows


def holds(row: Row, where: Filter, members: dict[int, frozenset[Any]]) -> bool:
    """The oracle's verdict, with in_/not_in on a field as a set lookup (the oracle scans
    the list, which is slow for 10,000 values): a field's canonical values share one
    Python type, so equality is ``==`` and a NULL field matches neither (NULL-1)."""
    if isinstance(where, In) and isinstance(where.ref, str):
        value = row[where.ref]
        if value is None:
            return False
        if id(where) not in members:
            members[id(where)] = frozenset(where.values)
        found = value in members[id(where)]
        return found != where.negated
    if isinstance(where, And):
        return all(holds(row, item, members) for item in where.items)
    if isinstance(where, Or):
        return any(holds(row, item, members) for item in where.items)
    if isinstance(where, Not):
        return not holds(row, where.item, members)
    return oracle.matches(row, where)


def matching(rows: Sequence[Row], where: Filter) -> list[Row]:
    members: dict[int, frozenset[Any]] = {}
    return [r for r in rows if holds(r, where, members)]


def expect(rows: Sequence[Row], where: Filter) -> set[int]:
    return {r["id"] for r in matching(rows, where)}


def check_filter(
    request: pytest.FixtureRequest,
    store: Store,
    model: Model[Row],
    rows: Sequence[Row],
    where: Filter,
    *,
    rule: str | None = None,
) -> None:
    """find and count agree with the oracle (a wrong answer blames ``rule`` if given);
    an ordered page and the page its cursor resumes are right too."""
    chosen = matching(rows, where)
    expected = {r["id"] for r in chosen}
    try:
        assert {r["id"] for r in store.find(model, where).rows} == expected, where
        assert store.count(model, where) == len(expected), where
    except AssertionError:
        if rule is not None:
            blame(request.node, rule)
        raise
    order = [desc("n"), asc("s")]
    ordered = oracle.sort_rows(chosen, order, ["id"])
    first = store.find(model, where, order_by=order, limit=7)
    in_order(request, first.rows, ordered[:7], order, paged=True)
    if first.next_cursor is not None:
        second = store.find(model, where, order_by=order, limit=7, cursor=first.next_cursor)
        try:
            assert ids(second) == ids(ordered[7:14]), "the page after the cursor"
        except AssertionError:
            blame(request.node, "PAGE-1")
            raise


def probes(rng: random.Random, count: int) -> list[int]:
    """``count`` ints with repeats: most even ids of FLT, but never a multiple of 4 (so
    about half the rows match), and many values that are no id at all."""
    out: list[int] = []
    while len(out) < count:
        value = rng.randrange(-1_000, 1_000)
        if value % 4:
            out.append(value)
    return out


@pytest.mark.clause("LIM-FILTER", "FLT-IN", "NULL-1", "PAGE-1")
def test_in_and_not_in_with_max_filter_values(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    g, rows = flt_store(make_store)
    rng = random.Random(MAX_FILTER_VALUES)
    values = probes(rng, MAX_FILTER_VALUES)
    strings = [f"v{k}" for k in range(MAX_FILTER_VALUES - 3)] + ["", "a", "\U0001f600"]
    half = MAX_FILTER_VALUES // 2
    for where in (
        in_("id", values),
        not_in("id", values),
        not_in("n", values),
        in_("s", strings),
        not_in("s", strings),
        and_(in_("id", values[:half]), not_in("n", values[half:])),
        or_(not_in("id", values[:half]), in_("s", strings[half:])),
    ):
        check_filter(request, g.store, FLT, rows, where)
    hit = expect(rows, in_("id", values))
    assert g.store.update(FLT, {"t": "hit"}, where=in_("id", values)) == len(hit)
    assert {r["id"] for r in g.store.find(FLT, eq("t", "hit"))} == hit
    over = [*values, 1]
    for where in (
        in_("id", over),
        not_in("id", over),
        in_("s", [*strings, "x"]),
        and_(in_("id", values[:half]), not_in("n", over[half:])),
        and_(in_("id", values), eq("n", 1)),
    ):
        for call in (
            finds(FLT, where),
            counts(FLT, where),
            updates(FLT, {"t": "no"}, where),
            deletes(FLT, where),
        ):
            g.refuses(call, model="flt", fields=(None, "id", "n", "s"))
    assert len(g.store.find(FLT).rows) == len(rows)


def leaf(rng: random.Random, k: int) -> Filter:
    """A leaf condition on FLT, of a kind that varies with ``k``."""
    choice = k % 6
    if choice == 0:
        return eq("id", 2 * rng.randrange(80))
    if choice == 1:
        return gt("n", rng.randrange(12))
    if choice == 2:
        return lt("id", rng.randrange(-50, 50))
    if choice == 3:
        return is_null("s")
    if choice == 4:
        return in_("id", [2 * rng.randrange(80), 2 * rng.randrange(80) + 1])
    return eq("s", rng.choice(S_POOL[1:]))


@pytest.mark.clause("LIM-FILTER", "FLT-1", "FLT-LOGIC", "PAGE-1")
def test_filters_of_max_filter_conditions(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    g, rows = flt_store(make_store)
    rng = random.Random(MAX_FILTER_CONDITIONS)
    conditions = [leaf(rng, k) for k in range(MAX_FILTER_CONDITIONS)]
    check_filter(request, g.store, FLT, rows, or_(*conditions))
    always = [ne("id", -1 - k) for k in range(MAX_FILTER_CONDITIONS - 2)]
    check_filter(request, g.store, FLT, rows, and_(*always, gt("n", 3), not_(is_null("s"))))
    half = MAX_FILTER_CONDITIONS // 2
    check_filter(
        request, g.store, FLT, rows, and_(or_(*conditions[:half]), not_(or_(*conditions[half:])))
    )
    for where in (
        or_(*conditions, eq("id", 0)),
        and_(*always, gt("n", 3), not_(is_null("s")), eq("id", 0)),
        and_(or_(*conditions[:half]), not_(or_(*conditions[half:], eq("id", 0)))),
    ):
        g.refuses(finds(FLT, where), model="flt")
        g.refuses(counts(FLT, where), model="flt")
        g.refuses(deletes(FLT, where), model="flt")
    assert g.store.count(FLT) == len(rows)


def nest_not(item: Filter, depth: int) -> Filter:
    for _ in range(depth):
        item = not_(item)
    return item


def chain(rng: random.Random, depth: int, top: str | None = None) -> Filter:
    """A filter of exactly ``depth`` levels of and_/or_/not_ (the outermost ``top``), no
    level directly inside one of its own kind (so each counts however levels count)."""
    kinds = ["and", "or", "not"]
    spine: list[str] = [] if top is None else [top]
    while len(spine) < depth:
        spine.append(rng.choice([k for k in kinds if not spine or k != spine[-1]]))
    item: Filter = leaf(rng, rng.randrange(6))
    for k, kind in enumerate(reversed(spine)):
        if kind == "not":
            item = not_(item)
        else:
            siblings = [leaf(rng, k + m) for m in range(rng.randrange(1, 3))]
            parts = [*siblings, item] if k % 2 else [item, *siblings]
            item = and_(*parts) if kind == "and" else or_(*parts)
    return item


@pytest.mark.clause("LIM-FILTER", "FLT-LOGIC", "PAGE-1")
def test_filters_nested_max_filter_depth(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    g, rows = flt_store(make_store)
    rng = random.Random(MAX_FILTER_DEPTH)
    for depth in (MAX_FILTER_DEPTH - 1, MAX_FILTER_DEPTH):
        check_filter(request, g.store, FLT, rows, nest_not(gt("n", 4), depth))
        check_filter(request, g.store, FLT, rows, nest_not(is_null("s"), depth))
    for _ in range(6):
        check_filter(request, g.store, FLT, rows, chain(rng, MAX_FILTER_DEPTH))
    for where in (
        nest_not(gt("n", 4), MAX_FILTER_DEPTH + 1),
        chain(rng, MAX_FILTER_DEPTH + 1),
        and_(eq("id", 0), chain(rng, MAX_FILTER_DEPTH, top="or")),
        or_(eq("id", 0), chain(rng, MAX_FILTER_DEPTH, top="not")),
    ):
        depth_of = _depth(where)
        assert depth_of == MAX_FILTER_DEPTH + 1, depth_of
        g.refuses(finds(FLT, where), model="flt")
        g.refuses(updates(FLT, {"t": "no"}, where), model="flt")
    assert g.store.count(FLT, is_null("t")) == len(rows)


def _depth(where: Filter) -> int:
    """Levels of and_/or_/not_, a level directly inside one of its own kind not counted."""

    def walk_(node: Filter, parent: type | None) -> int:
        if isinstance(node, (And, Or)):
            own = 0 if parent is type(node) else 1
            return own + max((walk_(i, type(node)) for i in node.items), default=0)
        if isinstance(node, Not):
            return 1 + walk_(node.item, Not)
        return 0

    return walk_(where, None)


@pytest.mark.clause("LIM-FILTER", "FLT-LOGIC")
def test_and_or_directly_inside_their_own_kind_are_one_level(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    """``reduce(and_, xs)`` is as flat as ``and_(*xs)``: 100 such nestings are one level,
    so they are answered (whatever nesting the backend itself allows)."""
    g, rows = flt_store(make_store)
    rng = random.Random(100)
    for kind in (and_, or_):
        where = leaf(rng, 0)
        for k in range(100):
            where = kind(where, leaf(rng, k + 1)) if k % 2 else kind(leaf(rng, k + 1), where)
        check_filter(request, g.store, FLT, rows, where)
        check_filter(request, g.store, FLT, rows, nest_not(where, MAX_FILTER_DEPTH - 1))


@pytest.mark.clause("FLT-JSON-1", "FLT-JSON-2")
@pytest.mark.requires(Capability.JSON_PATHS)
def test_a_json_path_of_max_path_keys(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    """LIM-FILTER's longest path, MAX_PATH_KEYS keys, on an adapter with json_paths (marked with the
    capability's clauses only: a core clause must never be skippable)."""
    g, rows = flt_store(make_store)
    ref = path("j", *PATH_KEYS)
    assert len(ref.keys) == MAX_PATH_KEYS
    for where in (
        eq(ref, 2),
        eq(ref, "v1"),
        gt(ref, 0),
        is_null(ref),
        not_(is_null(ref)),
        in_(ref, [0, "v1", True]),
        is_null(path("j", *PATH_KEYS[:-1], "other")),
        gt(path("j", *PATH_KEYS[:-1], "other"), 100),
    ):
        check_filter(request, g.store, FLT, rows, where)
    # ne on a path also matches values of another type, never missing ones (FLT-JSON-2)
    check_filter(request, g.store, FLT, rows, ne(ref, 2), rule="FLT-JSON-2")


@pytest.mark.clause("LIM-FILTER", "CAP-1")
def test_a_json_path_of_more_than_max_path_keys_is_refused(make_store: StoreMaker) -> None:
    """Refused before I/O on every adapter, whether or not it declares json_paths."""
    g, rows = flt_store(make_store)
    ref = path("j", *PATH_KEYS, "one_more")
    for where in (eq(ref, 1), is_null(ref), or_(eq("id", 0), not_(in_(ref, [1, 2])))):
        g.refuses(finds(FLT, where), model="flt", fields=("j",))
        g.refuses(counts(FLT, where), model="flt", fields=("j",))
        g.refuses(deletes(FLT, where), model="flt", fields=("j",))
    assert g.store.count(FLT) == len(rows)


@pytest.mark.clause("CAP-1", "LIM-FILTER")
def test_path_filters_are_refused_before_io_for_an_adapter_without_json_paths(
    adapter: Adapter,
) -> None:
    """CAP-1: the kit refuses a path filter itself when the adapter does not declare
    json_paths (here: the adapter under test, hiding that capability)."""
    events = Events()
    store = Store(Schema([FLT]), WithoutJsonPaths(adapter), on_query=events, cursor_key=CURSOR_KEY)
    store.bootstrap()
    store.insert_many(FLT, flt_rows(6))
    before = len(events.seen)
    for where in (
        eq(path("j", "k0"), 1),
        is_null(path("j", "k0")),
        or_(eq("id", 0), not_(in_(path("j", *PATH_KEYS), [1]))),
    ):
        for call in (finds(FLT, where), counts(FLT, where), deletes(FLT, where)):
            with pytest.raises(UnsupportedError) as caught:
                call(store)
            assert caught.value.model == "flt", caught.value
            assert caught.value.capability == Capability.JSON_PATHS.value, caught.value
    # Over the path limit as well: refused before I/O either way (which error first,
    # the limit's or the capability's, the spec does not say).
    with pytest.raises((ValidationError, UnsupportedError)):
        store.find(FLT, eq(path("j", *PATH_KEYS, "one_more"), 1))
    assert events.seen[before:] == [], "a refused path filter reached the adapter"
    assert store.count(FLT, eq("id", 0)) == 1


@pytest.mark.clause("LIM-FILTER")
def test_filter_values_totalling_more_than_max_row_bytes_are_refused(
    make_store: StoreMaker,
) -> None:
    g, rows = flt_store(make_store)
    half = MAX_ROW_BYTES // 2
    stored = utf8_text(half, salt="stored")
    g.store.insert(FLT, {"id": -2, "s": None, "n": 3, "t": stored, "j": None})
    other = utf8_text(half, salt="other")
    assert ids(g.store.find(FLT, in_("t", [stored, other]))) == [-2]  # exactly 2 MiB
    # every other value counts 8 bytes
    shorter = utf8_text(half - 8, salt="other")
    assert ids(g.store.find(FLT, and_(in_("t", [stored, shorter]), eq("n", 3)))) == [-2]
    for where in (
        in_("t", [stored, other + "x"]),
        and_(in_("t", [stored, utf8_text(half - 7, salt="o")]), eq("n", 3)),
        eq("t", utf8_text(MAX_ROW_BYTES + 1)),
        or_(eq("t", stored), eq("t", utf8_text(half + 1, salt="x"))),
    ):
        g.refuses(finds(FLT, where), model="flt", fields=(None, "t"))
        g.refuses(deletes(FLT, where), model="flt", fields=(None, "t"))
    assert g.store.count(FLT) == len(rows) + 1


def _scoped(make_store: StoreMaker) -> tuple[Guarded, Model[Row], list[Row]]:
    """FLT under TenantScope: tenant "a" holds even ids, tenant "b" odd ones."""
    g = guarded(make_store, Schema([FLT]), plugins=[TenantScope()])
    model = g.store.model("flt")
    mine = [r | {"tenant_id": "a"} for r in flt_rows()]
    theirs = [r | {"tenant_id": "b"} for r in flt_rows(odd=True)]
    g.store.bind(tenant_id="a").insert_many(model, mine)
    g.store.bind(tenant_id="b").insert_many(model, theirs)
    return g, model, mine


@pytest.mark.clause("LIM-FILTER", "HOOK-QUERY", "PAGE-1")
def test_filters_at_the_limits_work_under_a_scope_and_a_cursor(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    """The host's filter at every limit (the scope is checked on its own), combined by
    the kit with the scope and, on page 2, with the cursor's filter."""
    g, model, mine = _scoped(make_store)
    a = g.store.bind(tenant_id="a")
    rng = random.Random(7)
    conditions = [leaf(rng, k) for k in range(MAX_FILTER_CONDITIONS)]
    half = MAX_FILTER_VALUES // 2
    for where in (
        in_("id", probes(rng, MAX_FILTER_VALUES)),
        and_(not_in("id", probes(rng, half)), in_("n", probes(rng, half))),
        or_(*conditions),
        chain(rng, MAX_FILTER_DEPTH, top="or"),
        nest_not(gt("n", 4), MAX_FILTER_DEPTH),
    ):
        check_filter(request, a, model, mine, where)
        expected = expect(mine, where)
        assert a.update(model, {"t": "seen"}, where=where) == len(expected)
        assert {r["id"] for r in a.find(model, eq("t", "seen"))} == expected
        assert a.update(model, {"t": None}, where=ALL) == len(mine)
    assert g.store.bind(tenant_id="b").count(model, eq("t", "seen")) == 0


@pytest.mark.clause("LIM-FILTER", "HOOK-QUERY")
def test_a_filter_over_the_limits_is_refused_before_io_under_a_scope(
    make_store: StoreMaker,
) -> None:
    g, model, mine = _scoped(make_store)
    rng = random.Random(8)
    for where in (
        in_("id", probes(rng, MAX_FILTER_VALUES + 1)),
        or_(*(leaf(rng, k) for k in range(MAX_FILTER_CONDITIONS + 1))),
        nest_not(gt("n", 4), MAX_FILTER_DEPTH + 1),
    ):
        g.refuses(as_tenant("a", finds(model, where)), model="flt", fields=(None, "id"))
        g.refuses(as_tenant("a", counts(model, where)), model="flt", fields=(None, "id"))
        g.refuses(
            as_tenant("a", updates(model, {"t": "no"}, where)), model="flt", fields=(None, "id")
        )
    assert g.store.bind(tenant_id="a").count(model, is_null("t")) == len(mine)


# === LIM-READ =============================================================================


@pytest.mark.clause("LIM-READ", "OP-FIND", "PAGE-1")
def test_limit_up_to_max_limit_reads_everything_and_beyond_is_refused(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    g = guarded(make_store, Schema([FLT]))
    rows = flt_rows(20)
    g.store.insert_many(FLT, rows)
    page = g.store.find(FLT, limit=MAX_LIMIT)
    assert by_key(page.rows) == by_key(rows) and page.next_cursor is None
    order = [desc("n"), desc("s")]
    expected = oracle.sort_rows(rows, order, ["id"])
    page = g.store.find(FLT, order_by=order, limit=MAX_LIMIT)
    assert page.next_cursor is None
    in_order(request, page.rows, expected, order)
    first = g.store.find(FLT, order_by=order, limit=5)
    assert first.next_cursor is not None
    rest = g.store.find(FLT, order_by=order, limit=MAX_LIMIT, cursor=first.next_cursor)
    assert rest.next_cursor is None
    try:
        assert ids(rest) == ids(expected[5:]), "the rest after a cursor"
    except AssertionError:
        blame(request.node, "PAGE-1")
        raise
    bad: list[Any] = [MAX_LIMIT + 1, 2**31, 2**63 - 1, 2**63, 2**64, 0, -1, -(2**63)]
    bad += [True, False, 1.5, "10"]
    for limit in bad:
        g.refuses(finds(FLT, limit=limit), model="flt")
        g.refuses(
            finds(FLT, order_by=order, limit=limit, cursor=first.next_cursor),
            model="flt",
        )
        g.refuses(finds(FLT, limit=limit, after={"id": 0}), model="flt")


_ORDER_TYPES: tuple[FieldType, ...] = (
    IntegerType(),
    StringType(8),
    BooleanType(),
    TimestampType(),
    NumberType(),
)
ORD: Model[Row] = Model(
    "ord",
    [Field("id", IntegerType())]
    + [Field(f"o{k:02}", _ORDER_TYPES[k % 5], nullable=True) for k in range(MAX_ORDER_FIELDS + 1)],
    primary_key=["id"],
)


def _order_pool(t: FieldType) -> list[Any]:
    if isinstance(t, IntegerType):
        return [None, 0, -1, 2**63 - 1]
    if isinstance(t, StringType):
        return [None, "a", "B", "\U0001f600"]
    if isinstance(t, BooleanType):
        return [None, False, True]
    if isinstance(t, TimestampType):
        return [None, T0, T0 - timedelta(days=365 * 60)]
    return [None, -0.5, 0.0, 1e300]


@pytest.mark.clause("LIM-READ", "ORD-1", "ORD-2", "PAGE-1")
def test_order_by_max_order_fields_reads_and_pages_in_order(
    request: pytest.FixtureRequest, make_store: StoreMaker
) -> None:
    g = guarded(make_store, Schema([ORD]))
    rng = random.Random(MAX_ORDER_FIELDS)
    rows: list[Row] = []
    for k in range(30):
        row: Row = {"id": k}
        for f in ORD.fields[1:]:
            pool = _order_pool(f.type)
            # mostly ties on the first columns, so that the later ones decide
            row[f.name] = pool[1] if rng.random() < 0.8 else rng.choice(pool)
        rows.append(row)
    rng.shuffle(rows)
    g.store.insert_many(ORD, rows)
    fields = [f.name for f in ORD.fields[1:]]
    order = [Order(name, descending=k % 2 == 1) for k, name in enumerate(fields[:16])]
    assert len(order) == MAX_ORDER_FIELDS
    with_key = [*order[:-1], desc("id")]
    for o in (order, with_key):
        expected = oracle.sort_rows(rows, o, ["id"])
        in_order(request, g.store.find(ORD, order_by=o).rows, expected, o)
        for size in (1, 7):
            pages_in_order(request, g.store, ORD, None, o, size, expected)
    over = [*order, asc(fields[16])]
    g.refuses(lambda s: s.find(ORD, order_by=over), model="ord", fields=(None, fields[16]))
    g.refuses(
        lambda s: s.find(ORD, order_by=over, limit=2, after={"id": 0}),
        model="ord",
        fields=(None, fields[16]),
    )


# === BOOT-1 / BOOT-4: bootstrap over existing data, no implicit tables ======================

V1: Model[Row] = Model(
    "evolving",
    [
        Field("org", IntegerType()),
        Field("id", IntegerType()),
        Field("email", StringType(64)),
        Field("tag", StringType(16), nullable=True),
        Field("n", IntegerType(), nullable=True),
    ],
    primary_key=["org", "id"],
)
NEW_INDEXES = [
    Index("evolving_tag_n", ["tag", ("n", "desc")]),
    Index("evolving_email", ["org", "email"], unique=True),  # per org: PART-2 allows it
]
V2: Model[Row] = V1.replace(indexes=NEW_INDEXES)


def _evolving_rows(count: int = 50) -> list[Row]:
    return [
        {"org": k % 2, "id": k, "email": f"u{k}@x", "tag": ["a", "b", None][k % 3], "n": k % 4}
        for k in range(count)
    ]


@pytest.mark.clause("BOOT-1", "BOOT-2", "OP-DUP")
def test_bootstrap_adds_indexes_to_a_model_that_holds_rows(make_store: StoreMaker) -> None:
    first = make_store(Schema([V1]))
    rows = _evolving_rows()
    first.insert_many(V1, rows)
    second = make_store(Schema([V2]), bootstrap=False)
    planned = second.bootstrap(dry_run=True)
    ran = second.bootstrap()
    assert ran == planned
    for index in NEW_INDEXES:
        assert any(index.name in s for s in ran), f"no statement creates {index.name}: {ran}"
    assert second.bootstrap() == []
    assert second.bootstrap(dry_run=True) == []
    assert first.bootstrap() == []
    assert by_key(all_rows(second, V2)) == by_key(rows)
    with pytest.raises(DuplicateKeyError) as caught:
        second.insert(V2, {"org": 1, "id": 100, "email": "u3@x", "tag": "z"})
    assert caught.value.model == "evolving"
    second.insert(V2, {"org": 0, "id": 101, "email": "new@x", "tag": "a", "n": 0})
    tagged = {r["id"] for r in all_rows(second, V2) if r["tag"] == "a"}
    assert set(ids(second.find(V2, eq("tag", "a")))) == tagged
    assert second.count(V2) == len(rows) + 1


@pytest.mark.clause("BOOT-1", "BOOT-2")
def test_a_unique_index_over_duplicates_fails_to_bootstrap_and_is_proposed_again(
    make_store: StoreMaker,
) -> None:
    """DuplicateKeyError naming the model; a dry run reads no rows, so it still proposes
    the index."""
    first = make_store(Schema([V1]))
    rows = _evolving_rows()
    rows[20]["email"] = rows[10]["email"]  # both of org 0
    first.insert_many(V1, rows)
    second = make_store(Schema([V2]), bootstrap=False)
    with pytest.raises(DuplicateKeyError) as caught:
        second.bootstrap()
    assert caught.value.model == "evolving", caught.value
    assert by_key(all_rows(second, V2)) == by_key(rows)
    planned = second.bootstrap(dry_run=True)
    assert any("evolving_email" in s for s in planned), planned
    assert second.delete(V2, key={"org": 0, "id": 20}) == 1
    ran = second.bootstrap()
    assert any("evolving_email" in s for s in ran), ran
    with pytest.raises(DuplicateKeyError):
        second.insert(V2, {"org": 0, "id": 20, "email": rows[10]["email"]})
    assert second.bootstrap() == [] and second.bootstrap(dry_run=True) == []


NEVER: Model[Row] = Model(
    "never",
    [Field("id", IntegerType()), Field("v", StringType(8), nullable=True)],
    primary_key=["id"],
)
READY: Model[Row] = Model("ready", [Field("id", IntegerType())], primary_key=["id"])


def _raises_naming(call: Callable[[], object], model: str) -> bool:
    """Whether ``call`` raises BackendError naming ``model`` (any other error propagates)."""
    try:
        call()
    except BackendError as exc:
        assert exc.model == model, f"the error names {exc.model!r}: {exc}"
        assert model in str(exc), f"the message does not name {model!r}: {exc}"
        return True
    return False


@pytest.mark.clause("BOOT-4", "ERR-1")
def test_operations_on_a_model_never_bootstrapped_raise_and_write_nothing(
    make_store: StoreMaker,
) -> None:
    make_store(Schema([READY]))  # another model of the database exists
    store = make_store(Schema([READY, NEVER]), bootstrap=False)
    operations: dict[str, Callable[[], object]] = {
        "insert": lambda: store.insert(NEVER, {"id": 1, "v": "x"}),
        "insert_many": lambda: store.insert_many(NEVER, [{"id": 2}, {"id": 3}]),
        "get": lambda: store.get(NEVER, {"id": 1}),
        "find": lambda: store.find(NEVER),
        "find-limit": lambda: store.find(NEVER, eq("v", "x"), order_by="v", limit=2),
        "find-after": lambda: store.find(NEVER, after={"id": 1}),
        "count": lambda: store.count(NEVER),
        "update": lambda: store.update(NEVER, {"v": "y"}, key={"id": 1}),
        "update-all": lambda: store.update(NEVER, {"v": "y"}, where=ALL),
        "delete": lambda: store.delete(NEVER, key={"id": 1}),
        "delete-all": lambda: store.delete(NEVER, where=ALL),
        "upsert": lambda: store.upsert(NEVER, {"id": 4, "v": "z"}, update=["v"]),
        "upsert-nothing": lambda: store.upsert(NEVER, {"id": 5}, update=[]),
    }
    quiet = [name for name, call in operations.items() if not _raises_naming(call, "never")]
    assert quiet == [], f"no BackendError naming the model from: {quiet}"
    store.insert(READY, {"id": 1})
    assert store.count(READY) == 1
    assert any("never" in s for s in store.bootstrap(dry_run=True))
    assert store.bootstrap()
    assert store.count(NEVER) == 0 and store.find(NEVER).rows == []
    assert store.insert(NEVER, {"id": 1}) == {"id": 1, "v": None}


# === VAL-3: plain types back, never the caller's subclass ===================================


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class MyStr(str):
    pass


class MyInt(int):
    pass


class MyFloat(float):
    pass


class MyDict(dict[str, Any]):
    pass


class MyList(list[Any]):
    pass


class MyDatetime(datetime):
    pass


PLAIN = (str, int, float, bool, datetime, dict, list, type(None))

TYPED: Model[Row] = Model(
    "typed",
    [
        Field("id", StringType(16)),
        Field("s", StringType(), nullable=True),
        Field("i", IntegerType(), nullable=True),
        Field("n", NumberType(), nullable=True),
        Field("t", TimestampType(), nullable=True),
        Field("j", JsonType(), nullable=True),
    ],
    primary_key=["id"],
)


def assert_plain(value: Any, where: str = "row") -> None:
    """Every value, key and element of ``value`` is of a built-in type, not a subclass."""
    assert type(value) in PLAIN, f"{where}: {type(value).__name__} {value!r}"
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r} is {type(key).__name__}"
            assert_plain(item, f"{where}[{key!r}]")
    elif type(value) is list:
        for k, item in enumerate(value):
            assert_plain(item, f"{where}[{k}]")


def subclassed(key: str) -> tuple[Row, Row]:
    """A row written with subclasses everywhere, and the plain row it must come back as."""
    doc = MyDict(
        {
            Color.RED: MyList([Level.HIGH, MyInt(2), MyFloat(2.5), MyStr("x"), Color.RED]),
            MyStr("nested"): MyDict(a=MyDict(b=Level.HIGH)),
            "plain": [True, None],
        }
    )
    given: Row = {
        "id": MyStr(key),
        "s": Color.RED,
        "i": Level.HIGH,
        "n": MyFloat(1.5),
        "t": MyDatetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC),
        "j": doc,
    }
    plain: Row = {
        "id": key,
        "s": "red",
        "i": 3,
        "n": 1.5,
        "t": datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC),
        "j": {"red": [3, 2, 2.5, "x", "red"], "nested": {"a": {"b": 3}}, "plain": [True, None]},
    }
    return given, plain


@pytest.mark.clause("VAL-3")
def test_subclasses_and_enum_members_come_back_as_plain_built_in_types(
    make_store: StoreMaker,
) -> None:
    store = make_store(Schema([TYPED]))
    given, plain = subclassed("ins")
    returned = store.insert(TYPED, given)
    assert returned == plain
    assert_plain(returned, "insert")
    many = store.insert_many(TYPED, [subclassed("m1")[0], subclassed("m2")[0]])
    assert_plain(many, "insert_many")
    upsert_given, upsert_plain = subclassed("ups")
    result = store.upsert(TYPED, upsert_given, update=["j"])
    assert result.inserted and result.row == upsert_plain
    assert_plain(result.row, "upsert (insert)")
    changes = {k: v for k, v in subclassed("x")[0].items() if k != "id"}
    assert store.update(TYPED, changes, key={"id": "m1"}) == 1
    result = store.upsert(TYPED, subclassed("m2")[0] | {"n": MyInt(4)}, update=["n", "j", "s"])
    assert not result.inserted
    assert_plain(result.row, "upsert (update)")
    for key in ("ins", "m1", "m2", "ups"):
        got = store.get(TYPED, {"id": key})
        assert got is not None
        assert got == {**plain, "id": key, "n": 4.0 if key == "m2" else 1.5}
        assert_plain(got, f"get {key}")
    found = store.find(TYPED, eq("s", Color.RED)).rows
    assert {r["id"] for r in found} == {"ins", "m1", "m2", "ups"}
    assert_plain(found, "find")


# === PAGE-3: after= a row the filter excludes ==============================================


@pytest.mark.clause("PAGE-3", "PAGE-1")
def test_after_a_row_the_filter_excludes_starts_at_that_rows_place(store: Store) -> None:
    rows = store.insert_many(
        ITEMS,
        [
            item(f"r{k:02}", i=None if k % 5 == 0 else k % 4, s=["x", "y", None][k % 3])
            for k in range(11)
        ],
    )
    for where in (eq("s", "x"), gt("i", 1), not_(eq("i", 2)), is_null("i")):
        for order in ([asc("i")], [desc("i")], [desc("s"), asc("i")], []):
            ordered = oracle.sort_rows(rows, order, ["id"])
            for position, anchor in enumerate(ordered):
                expected = [r["id"] for r in ordered[position + 1 :] if oracle.matches(r, where)]
                page = store.find(ITEMS, where, order_by=order, after={"id": anchor["id"]})
                assert ids(page) == expected, (where, order, anchor["id"])
                assert page.next_cursor is None
                first = store.find(
                    ITEMS, where, order_by=order, after={"id": anchor["id"]}, limit=2
                )
                assert ids(first) == expected[:2]
                if first.next_cursor is not None:
                    rest = store.find(ITEMS, where, order_by=order, cursor=first.next_cursor)
                    assert ids(rest) == expected[2:]
