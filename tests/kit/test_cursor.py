"""Keyset resumption and signed cursors (PAGE-*, CUR-1), checked against the reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noorm.adapters.memory.evaluate import matches, sort_key
from noorm.kit.cursor import CursorCodec, after_filter, query_shape, unfixed
from noorm.spec import (
    And,
    BooleanType,
    Compare,
    Field,
    Filter,
    IntegerType,
    InvalidCursorError,
    IsNull,
    Model,
    Not,
    NumberType,
    Or,
    Order,
    StringType,
    TimestampType,
)

MODEL = Model(
    "rows",
    [
        Field("id", IntegerType()),
        Field("s", StringType(8), nullable=True),
        Field("n", NumberType(), nullable=True),
        Field("b", BooleanType()),
        Field("t", TimestampType(), nullable=True),
    ],
    primary_key="id",
)
FIELDS = {f.name: f for f in MODEL.fields}
BASE = datetime(2000, 1, 1, tzinfo=UTC)

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "s": st.none() | st.sampled_from(["", "A", "a", "b", "é"]),
            "n": st.none() | st.sampled_from([-1.5, 0.0, 2.0]),
            "b": st.booleans(),
            "t": st.none() | st.integers(-2, 2).map(lambda d: BASE + timedelta(milliseconds=d)),
        }
    ),
    min_size=1,
    max_size=25,
).map(lambda rows: [{"id": i, **r} for i, r in enumerate(rows)])

order_strategy = st.lists(
    st.tuples(st.sampled_from(["s", "n", "b", "t"]), st.booleans()),
    max_size=3,
    unique_by=lambda x: x[0],
).map(lambda cols: (*(Order(f, descending=d) for f, d in cols), Order("id")))


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy, order=order_strategy, data=st.data())
def test_after_filter_selects_exactly_the_rows_after_the_key(
    rows: list[dict[str, Any]], order: tuple[Order, ...], data: st.DataObject
) -> None:
    ordered = sorted(rows, key=sort_key(MODEL, order))
    position = data.draw(st.integers(0, len(ordered) - 1))
    resume = after_filter(order, ordered[position], FIELDS)
    after = [r for r in ordered if matches(MODEL, resume, r)]
    assert after == ordered[position + 1 :]


def test_cursor_round_trip_and_tampering() -> None:
    codec = CursorCodec(b"k" * 32)
    order = (Order("t", descending=True), Order("id"))
    shape = query_shape("rows", order, None)
    row = {"id": 7, "t": datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)}
    token = codec.encode(shape, order, row)
    assert codec.decode(token, shape, order, FIELDS, model="rows") == row

    body, mac = token.split(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    for bad in (f"{flipped}.{mac}", f"{body}.{mac[::-1]}", token + "x", "garbage", "", f"{body}"):
        with pytest.raises(InvalidCursorError):
            codec.decode(bad, shape, order, FIELDS, model="rows")
    with pytest.raises(InvalidCursorError, match="another query"):
        codec.decode(token, query_shape("rows", (Order("id"),), None), order, FIELDS, model="rows")
    with pytest.raises(InvalidCursorError, match="signature"):
        CursorCodec(b"x" * 32).decode(token, shape, order, FIELDS, model="rows")


def test_short_cursor_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        CursorCodec(b"short")


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy, order=order_strategy, data=st.data())
def test_fields_fixed_by_the_filter_leave_the_order_unchanged(
    rows: list[dict[str, Any]], order: tuple[Order, ...], data: st.DataObject
) -> None:
    """Dropping fields pinned by eq/is_null changes neither the rows nor their order."""
    pinned = data.draw(st.lists(st.sampled_from(["s", "n", "b", "t"]), unique=True, max_size=3))
    anchor = data.draw(st.sampled_from(rows))
    items: list[Filter] = [
        IsNull(f) if anchor[f] is None else Compare("eq", f, anchor[f]) for f in pinned
    ]
    where: Filter = And((And(tuple(items)), Or((Compare("gte", "id", 0), IsNull("s")))))
    kept = unfixed(order, where)
    assert kept == (tuple(o for o in order if o.field not in pinned) or order)
    matching = [r for r in rows if matches(MODEL, where, r)]
    assert sorted(matching, key=sort_key(MODEL, kept)) == sorted(
        matching, key=sort_key(MODEL, order)
    )


def test_only_top_level_equalities_fix_a_field() -> None:
    order = (Order("s"), Order("n", descending=True), Order("id"))
    assert unfixed(order, Compare("eq", "s", "a")) == order[1:]
    assert unfixed(order, And((IsNull("n"), Compare("gte", "s", "a")))) == (order[0], order[2])
    assert unfixed(order, Or((Compare("eq", "s", "a"), Compare("eq", "s", "b")))) == order
    assert unfixed(order, Not(Compare("eq", "s", "a"))) == order
    assert unfixed(order, Compare("lte", "s", "a")) == order
    pinned_all = And(tuple(Compare("eq", f, 1) for f in ("s", "n", "id")))
    assert unfixed(order, pinned_all) == order  # never empty: a total order remains
