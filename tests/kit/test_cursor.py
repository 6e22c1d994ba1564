"""Keyset resumption and signed cursors (PAGE-*, CUR-1), checked against the reference."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noorm.adapters.memory import MemoryAdapter
from noorm.adapters.memory.evaluate import matches, sort_key
from noorm.kit import Store
from noorm.kit.cursor import CursorCodec, after_filter, query_shape, unfixed
from noorm.kit.store import CURSOR_KEY_ENV
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
    ValidationError,
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


@pytest.mark.parametrize(
    "key", [b"", b"short", "", "x" * 15, 5, None, [], [b"k" * 32, b"short"], [b"k" * 32, 7]]
)
def test_bad_cursor_keys_are_refused(key: Any) -> None:
    with pytest.raises(ValidationError, match="cursor_key"):
        CursorCodec(key)
    with pytest.raises(ValidationError, match="cursor_key"):
        Store([MODEL], MemoryAdapter(), cursor_key=key if key is not None else b"")


def _paged(store: Store) -> str:
    store.insert_many(MODEL, [{"id": i, "b": True} for i in range(3)])
    cursor = store.find(MODEL, limit=1).next_cursor
    assert cursor is not None
    return cursor


def test_a_cursor_works_on_every_store_with_the_same_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers share cursor_key, so a cursor from one is valid on another (str or bytes)."""
    monkeypatch.delenv(CURSOR_KEY_ENV, raising=False)
    adapter = MemoryAdapter()
    first = Store([MODEL], adapter, cursor_key="a shared secret of 32 characters")
    first.bootstrap()
    cursor = _paged(first)
    second = Store([MODEL], adapter, cursor_key=b"a shared secret of 32 characters")
    assert [r["id"] for r in second.find(MODEL, limit=5, cursor=cursor)] == [1, 2]
    with pytest.raises(InvalidCursorError, match="cursor_key"):
        Store([MODEL], adapter).find(MODEL, limit=5, cursor=cursor)  # an ephemeral key


def test_rotated_keys_accept_old_cursors_and_sign_with_the_new_one() -> None:
    adapter = MemoryAdapter()
    old, new = b"o" * 32, b"n" * 32
    before = Store([MODEL], adapter, cursor_key=old)
    before.bootstrap()
    cursor = _paged(before)
    rotating = Store([MODEL], adapter, cursor_key=[new, old])
    page = rotating.find(MODEL, limit=1, cursor=cursor)
    assert [r["id"] for r in page] == [1]
    assert page.next_cursor is not None
    after = Store([MODEL], adapter, cursor_key=new)  # old key retired
    assert [r["id"] for r in after.find(MODEL, limit=5, cursor=page.next_cursor)] == [2]
    with pytest.raises(InvalidCursorError):
        after.find(MODEL, limit=5, cursor=cursor)


def test_stores_without_cursor_key_share_the_key_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NOORM_CURSOR_KEY: every worker started with it accepts the others' cursors, with
    no code; commas separate rotated keys; an explicit cursor_key wins."""
    adapter = MemoryAdapter()
    old, new = "an old secret of thirty-two chars", "a new secret of thirty-two chars!"
    monkeypatch.setenv(CURSOR_KEY_ENV, old)
    first = Store([MODEL], adapter)
    first.bootstrap()
    cursor = _paged(first)
    assert [r["id"] for r in Store([MODEL], adapter).find(MODEL, limit=5, cursor=cursor)] == [1, 2]
    monkeypatch.setenv(CURSOR_KEY_ENV, f" {new} , {old}")
    rotating = Store([MODEL], adapter)
    page = rotating.find(MODEL, limit=1, cursor=cursor)
    assert page.next_cursor is not None
    assert [
        r["id"]
        for r in Store([MODEL], adapter, cursor_key=new).find(
            MODEL, limit=5, cursor=page.next_cursor
        )
    ] == [2]
    with pytest.raises(InvalidCursorError):
        Store([MODEL], adapter, cursor_key=b"x" * 32).find(MODEL, limit=5, cursor=cursor)
    for bad in ("short", f"{new},", f"{new},short"):
        monkeypatch.setenv(CURSOR_KEY_ENV, bad)
        with pytest.raises(ValidationError, match=CURSOR_KEY_ENV):
            Store([MODEL], adapter)
    monkeypatch.setenv(CURSOR_KEY_ENV, "   ")  # blank: as if unset, a random key
    with pytest.raises(InvalidCursorError):
        Store([MODEL], adapter).find(MODEL, limit=5, cursor=cursor)


def test_a_cursor_does_not_reveal_the_filter() -> None:
    """The query shape is keyed: a scope value cannot be recovered by hashing guesses."""
    store = Store([MODEL], MemoryAdapter(), cursor_key=b"k" * 32)
    store.bootstrap()
    store.insert_many(MODEL, [{"id": i, "b": True, "s": "tenant7"} for i in range(3)])
    cursor = store.find(MODEL, {"s": "tenant7"}, limit=1).next_cursor
    assert cursor is not None
    payload = json.loads(base64.urlsafe_b64decode(cursor.split(".")[0] + "=="))
    for guess in ("tenant7", "tenant6"):
        digest = query_shape("rows", (Order("id"),), Compare("eq", "s", guess))
        assert digest not in payload


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
