"""Spec section 4, reading: order (NULL lowest, code points, total order), get, find, count."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from noorm.kit import Store
from noorm.spec import ALL, Adapter, Find, Order, Row, asc, desc, eq, gt, in_, is_null, lt, ne, not_

from . import oracle
from .checks import ids, rejected
from .models import ITEMS, PAIRS, item

ORDERED: dict[str, list[Any]] = {
    "s": [
        "",
        " ",
        "A",
        "B",
        "Z",
        "a",
        "a ",
        "b",
        "z",
        "é",
        "\uff21",
        "\uffff",
        "\U0001d518",
        "😀",
        "\U0010ffff",
    ],
    "short": ["", "B", "a", "e\u0301", "é", "😀"],
    "n": [-1.7976931348623157e308, -1.0, -5e-324, 0.0, 5e-324, 0.1, 1.0, 1e300],
    "i": [-(2**63), -(2**53) - 1, -1, 0, 1, 2**53, 2**53 + 1, 2**63 - 1],
    "b": [False, True],
    "t": [
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ],
}


def _insert_shuffled(store: Store, field: str, nulls: int) -> list[Row]:
    """Rows holding ORDERED[field] (and ``nulls`` NULLs), inserted in an unrelated order.

    Returns them as stored (read back): an order is judged on the values the adapter
    holds, so that one it stores imperfectly fails that value's clause, not ORD-1.
    """
    values = ORDERED[field]
    rows = [item(f"r{k:02}", **{field: v}) for k, v in enumerate(values)]
    rows += [item(f"n{k}") for k in range(nulls)]
    store.insert_many(ITEMS, list(reversed(rows)))
    stored = store.find(ITEMS, ALL).rows
    assert sorted(ids(stored)) == sorted(ids(rows))
    return stored


@pytest.mark.parametrize(
    "field",
    [
        pytest.param(f, marks=pytest.mark.clause("STR-4" if f in ("s", "short") else "ORD-1"))
        for f in ORDERED
    ],
)
def test_values_sort_in_the_spec_order_both_ways(store: Store, field: str) -> None:
    """Numbers, booleans and instants by value (ORD-1), strings by code point (STR-4).

    Every value is distinct, so the key never decides (ORD-2); the expected order is
    the oracle's, which for values stored exactly is the order of ORDERED[field].
    """
    stored = _insert_shuffled(store, field, nulls=0)
    for order in (asc(field), desc(field)):
        expected = ids(oracle.sort_rows(stored, [order], ["id"]))
        assert ids(store.find(ITEMS, order_by=order)) == expected, order
    assert ids(store.find(ITEMS, order_by=field)) == ids(store.find(ITEMS, order_by=asc(field)))


@pytest.mark.clause("ORD-1")
@pytest.mark.parametrize("field", list(ORDERED))
def test_null_sorts_first_ascending_and_last_descending(store: Store, field: str) -> None:
    values = ORDERED[field]
    _insert_shuffled(store, field, nulls=2)
    ascending = store.find(ITEMS, order_by=asc(field)).rows
    assert [r[field] is None for r in ascending] == [True] * 2 + [False] * len(values)
    assert sorted(ids(ascending)[:2]) == ["n0", "n1"]
    descending = store.find(ITEMS, order_by=desc(field)).rows
    assert [r[field] is None for r in descending] == [False] * len(values) + [True] * 2
    assert [r[field] is None for r in store.find(ITEMS, order_by=field)] == [
        r[field] is None for r in ascending
    ]


@pytest.mark.clause("STR-4")
def test_string_comparison_is_by_code_point_not_collation(store: Store) -> None:
    store.insert_many(
        ITEMS, [item(v, s=v) for v in ["B", "a", "b", "é", "\uffff", "😀", "ä", "A", "Z"]]
    )
    by_code_point = ["A", "B", "Z", "a", "b", "ä", "é", "\uffff", "😀"]
    assert ids(store.find(ITEMS, order_by="s")) == by_code_point
    assert ids(store.find(ITEMS, order_by="id")) == by_code_point
    assert sorted(ids(store.find(ITEMS, lt("s", "a")))) == ["A", "B", "Z"]
    assert sorted(ids(store.find(ITEMS, gt("s", "b")))) == ["ä", "é", "\uffff", "😀"]
    assert ids(store.find(ITEMS, gt("s", "\uffff"))) == ["😀"]
    assert ids(store.find(ITEMS, eq("s", "A"))) == ["A"]


@pytest.mark.clause("ORD-1")
def test_mixed_directions(store: Store) -> None:
    """No two rows tie on any of these orders, so the key (ORD-2) never decides."""
    rows = [
        item("a", b=True, i=1, s="x"),
        item("b", b=True, i=2, s="x"),
        item("c", b=False, i=2, s="y"),
        item("d", b=None, i=3, s="y"),
        item("e", b=True, i=None, s="x"),
        item("f", b=False, i=4, s=None),
        item("g", b=True, i=5, s="w"),
    ]
    store.insert_many(ITEMS, rows)
    assert ids(store.find(ITEMS, order_by=[asc("b"), desc("i")])) == list("dfcgbae")
    assert ids(store.find(ITEMS, order_by=[desc("b"), asc("i")])) == list("eabgcfd")
    assert ids(store.find(ITEMS, order_by=[desc("s"), desc("i"), asc("b")])) == list("dcbaegf")
    assert ids(store.find(ITEMS, order_by=[asc("i"), desc("id")])) == list("eacbdfg")


@pytest.mark.clause("ORD-2")
def test_ties_are_broken_by_the_primary_key_ascending(store: Store) -> None:
    keys = [f"k{(k * 7919) % 101:03}" for k in range(101)]  # a permutation of k000..k100
    store.insert_many(ITEMS, [item(key, i=1, s="same") for key in keys])
    expected = sorted(keys)
    assert ids(store.find(ITEMS)) == expected
    assert ids(store.find(ITEMS, order_by="i")) == expected
    assert ids(store.find(ITEMS, order_by=desc("i"))) == expected
    assert ids(store.find(ITEMS, order_by=[desc("s"), asc("i")])) == expected
    assert ids(store.find(ITEMS, order_by=desc("id"))) == expected[::-1]
    assert ids(store.find(ITEMS, order_by="i", limit=5)) == expected[:5]


@pytest.mark.clause("ORD-2")
def test_a_composite_primary_key_orders_field_by_field(store: Store) -> None:
    pairs = [(2, "a"), (1, "b"), (10, "a"), (1, "a"), (-5, "z"), (2, "B"), (1, "é")]
    store.insert_many(PAIRS, [{"a": a, "b": b} for a, b in pairs])
    assert [(r["a"], r["b"]) for r in store.find(PAIRS)] == sorted(pairs)
    assert [(r["a"], r["b"]) for r in store.find(PAIRS, order_by=desc("a"))] == sorted(
        pairs, key=lambda p: (-p[0], p[1])
    )
    by_a = sorted(pairs, key=lambda p: p[0])
    assert [(r["a"], r["b"]) for r in store.find(PAIRS, order_by=desc("b"))] == sorted(
        by_a, key=lambda p: p[1], reverse=True
    )


@pytest.mark.clause("OP-GET")
def test_get_by_a_composite_primary_key(store: Store) -> None:
    pairs = [(2, "a"), (1, "b"), (10, "a"), (1, "a"), (1, "é")]
    store.insert_many(PAIRS, [{"a": a, "b": b} for a, b in pairs])
    assert store.get(PAIRS, {"a": 1, "b": "é"}) == {"a": 1, "b": "é", "v": None}
    assert store.get(PAIRS, {"a": 1, "b": "e"}) is None
    assert store.get(PAIRS, {"a": 2, "b": "b"}) is None
    assert store.get(PAIRS, {"b": "a", "a": 10}) == {"a": 10, "b": "a", "v": None}


@pytest.mark.clause("ORD-1")
def test_ordering_by_a_json_field_is_rejected(store: Store) -> None:
    rejected(lambda: store.find(ITEMS, order_by="j"), model="items", field="j")
    rejected(lambda: store.find(ITEMS, order_by=[asc("i"), desc("j")]), model="items", field="j")


@pytest.mark.clause("OP-GET")
def test_get_returns_the_whole_row_or_none(store: Store) -> None:
    row = item("k", s="x", short="y", n=1.5, i=2, b=True, t=datetime(2020, 1, 1, tzinfo=UTC))
    row["j"] = {"a": [1]}
    store.insert_many(ITEMS, [row, item("other", s="x")])
    assert store.get(ITEMS, {"id": "k"}) == row
    assert store.get(ITEMS, {"id": "K"}) is None
    assert store.get(ITEMS, {"id": "k "}) is None
    assert store.get(ITEMS, {"id": "missing"}) is None
    rejected(lambda: store.get(PAIRS, {"a": 1}), model="pairs", field="b")
    rejected(lambda: store.get(ITEMS, {}), model="items", field="id")


@pytest.mark.clause("OP-FIND")
def test_find_returns_a_page_whose_cursor_is_none_when_no_row_follows(store: Store) -> None:
    """Pages are compared with the unlimited read: which order that is, is ORD-*'s business."""
    assert store.find(ITEMS).rows == [] and store.find(ITEMS).next_cursor is None
    store.insert_many(ITEMS, [item(f"r{k}", i=k) for k in range(5)])
    for where, order, count in ((None, "i", 5), (gt("i", 1), desc("i"), 3), (None, "id", 5)):
        every = store.find(ITEMS, where, order_by=order)
        assert len(every.rows) == count and every.next_cursor is None
        assert {r["id"]: r for r in every} == {
            f"r{k}": dict.fromkeys(f.name for f in ITEMS.fields) | {"id": f"r{k}", "i": k}
            for k in range(5 - count, 5)
        }
        for limit in range(1, count + 2):
            page = store.find(ITEMS, where, order_by=order, limit=limit)
            assert page.rows == every.rows[:limit], (where, order, limit)
            assert (page.next_cursor is not None) == (limit < count), (where, order, limit)
    bad: Any
    for bad in (0, -1, True, 1.5):
        rejected(partial(store.find, ITEMS, limit=bad), model="items", field=None)


@pytest.mark.clause("OP-FIND")
def test_the_adapter_itself_honours_the_limit_of_a_find(store: Store, adapter: Adapter) -> None:
    """The kit asks for ``limit + 1`` rows and trims; only a direct call shows the adapter's."""
    store.insert_many(ITEMS, [item(f"r{k}", i=k % 3) for k in range(7)])
    for where in (None, eq("i", 1)):
        for order in ((Order("id"),), (Order("i", descending=True), Order("id"))):
            every = adapter.execute(Find(ITEMS, where, order, None))
            assert len(every) == (7 if where is None else 2)
            for limit in (1, 2, 6, 7, 8):
                # Whatever order the adapter reads in, a limit keeps exactly its first rows.
                got = adapter.execute(Find(ITEMS, where, order, limit))
                assert got == every[:limit], (where, order, limit)


@pytest.mark.clause("OP-COUNT")
def test_count_returns_the_number_of_matching_rows(store: Store) -> None:
    assert store.count(ITEMS) == 0
    assert store.count(ITEMS, ALL) == 0
    store.insert_many(ITEMS, [item(f"r{k:03}", i=k % 7 if k % 3 else None) for k in range(250)])
    assert store.count(ITEMS) == 250
    assert store.count(ITEMS, ALL) == 250
    for where in (
        eq("i", 3),
        ne("i", 3),
        is_null("i"),
        not_(eq("i", 3)),
        in_("i", [1, 2]),
        gt("i", 4),
    ):
        assert store.count(ITEMS, where) == len(store.find(ITEMS, where).rows), repr(where)
    assert store.count(ITEMS, is_null("i")) == 84
    assert store.count(ITEMS, {"i": 0}) == len([k for k in range(250) if k % 3 and k % 7 == 0])


LONG_PREFIX = "x" * 3000
"""Past sort-key truncation limits (MariaDB's max_sort_length: 1024 bytes)."""
LONG_TAILS = ["b", "a", "é", "A", "c"]


@pytest.mark.clause("STR-4")
def test_long_strings_sharing_a_prefix_order_by_every_character(store: Store) -> None:
    store.insert_many(ITEMS, [item(f"r{i}", s=LONG_PREFIX + t) for i, t in enumerate(LONG_TAILS)])
    expected = [f"r{LONG_TAILS.index(t)}" for t in sorted(LONG_TAILS)]
    assert ids(store.find(ITEMS, order_by="s")) == expected
    assert ids(store.find(ITEMS, order_by=desc("s"))) == expected[::-1]


@pytest.mark.clause("PAGE-1")
def test_long_strings_sharing_a_prefix_page_by_every_character(store: Store) -> None:
    """The keyset cursor holds the whole string: pages follow the unpaged read exactly."""
    store.insert_many(ITEMS, [item(f"r{i}", s=LONG_PREFIX + t) for i, t in enumerate(LONG_TAILS)])
    expected = ids(store.find(ITEMS, order_by="s"))
    seen: list[str] = []
    cursor = None
    while True:
        page = store.find(ITEMS, order_by="s", limit=2, cursor=cursor)
        seen.extend(ids(page))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(expected) == [f"r{i}" for i in range(len(LONG_TAILS))]
    assert seen == expected
