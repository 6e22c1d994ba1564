"""Spec section 4, reading: order (NULL lowest, code points, total order), get, find, count."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from noorm.kit import Store
from noorm.spec import ALL, asc, desc, eq, gt, in_, is_null, lt, ne, not_

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


@pytest.mark.clause("ORD-1", "STR-4")
@pytest.mark.parametrize("field", list(ORDERED))
def test_null_sorts_first_ascending_and_last_descending(store: Store, field: str) -> None:
    values = ORDERED[field]
    # Insert in an order unrelated to the values (reverse, interleaved with NULLs).
    rows = [item(f"r{k:02}", **{field: v}) for k, v in enumerate(values)]
    rows += [item("n1"), item("n2")]
    store.insert_many(ITEMS, list(reversed(rows)))
    ascending = store.find(ITEMS, order_by=asc(field)).rows
    assert [r[field] for r in ascending] == [None, None, *values]
    assert ids(ascending)[:2] == ["n1", "n2"]
    descending = store.find(ITEMS, order_by=desc(field)).rows
    assert [r[field] for r in descending] == [*reversed(values), None, None]
    assert ids(descending)[-2:] == ["n1", "n2"]  # ties: primary key ascending (ORD-2)
    assert [r[field] for r in store.find(ITEMS, order_by=field)] == [None, None, *values]


@pytest.mark.clause("STR-4")
def test_string_comparison_is_by_code_point_not_collation(store: Store) -> None:
    store.insert_many(
        ITEMS, [item(v, s=v) for v in ["B", "a", "b", "é", "\uffff", "😀", "ä", "A", "Z"]]
    )
    assert ids(store.find(ITEMS, order_by="s")) == [
        "A",
        "B",
        "Z",
        "a",
        "b",
        "ä",
        "é",
        "\uffff",
        "😀",
    ]
    assert ids(store.find(ITEMS, lt("s", "a"), order_by="s")) == ["A", "B", "Z"]
    assert ids(store.find(ITEMS, gt("s", "b"), order_by="s")) == ["ä", "é", "\uffff", "😀"]
    assert ids(store.find(ITEMS, gt("s", "\uffff"), order_by="s")) == ["😀"]
    assert ids(store.find(ITEMS, eq("s", "A"))) == ["A"]
    assert ids(store.find(ITEMS, order_by="id")) == [
        "A",
        "B",
        "Z",
        "a",
        "b",
        "ä",
        "é",
        "\uffff",
        "😀",
    ]


@pytest.mark.clause("ORD-1", "ORD-2")
def test_mixed_directions(store: Store) -> None:
    rows = [
        item("a", b=True, i=1, s="x"),
        item("b", b=True, i=2, s="x"),
        item("c", b=False, i=2, s="y"),
        item("d", b=None, i=3, s="y"),
        item("e", b=True, i=None, s="x"),
        item("f", b=False, i=2, s=None),
        item("g", b=True, i=2, s="x"),
    ]
    store.insert_many(ITEMS, rows)
    assert ids(store.find(ITEMS, order_by=[asc("b"), desc("i")])) == [
        "d",
        "c",
        "f",
        "b",
        "g",
        "a",
        "e",
    ]
    assert ids(store.find(ITEMS, order_by=[desc("b"), asc("i")])) == [
        "e",
        "a",
        "b",
        "g",
        "c",
        "f",
        "d",
    ]
    assert ids(store.find(ITEMS, order_by=[desc("s"), desc("i"), asc("b")])) == [
        "d", "c", "b", "g", "a", "e", "f",
    ]  # fmt: skip
    assert ids(store.find(ITEMS, order_by=[asc("i"), desc("id")])) == [
        "e",
        "a",
        "g",
        "f",
        "c",
        "b",
        "d",
    ]


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


@pytest.mark.clause("ORD-2", "OP-GET")
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
    assert store.get(PAIRS, {"a": 1, "b": "é"}) == {"a": 1, "b": "é", "v": None}
    assert store.get(PAIRS, {"a": 1, "b": "e"}) is None
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
    assert store.find(ITEMS).rows == [] and store.find(ITEMS).next_cursor is None
    store.insert_many(ITEMS, [item(f"r{k}", i=k) for k in range(5)])
    page = store.find(ITEMS, order_by="i")
    assert ids(page) == ["r0", "r1", "r2", "r3", "r4"] and page.next_cursor is None
    page = store.find(ITEMS, order_by="i", limit=5)
    assert len(page.rows) == 5 and page.next_cursor is None
    page = store.find(ITEMS, order_by="i", limit=6)
    assert len(page.rows) == 5 and page.next_cursor is None
    page = store.find(ITEMS, order_by="i", limit=4)
    assert ids(page) == ["r0", "r1", "r2", "r3"] and page.next_cursor is not None
    page = store.find(ITEMS, gt("i", 1), order_by=desc("i"), limit=2)
    assert ids(page) == ["r4", "r3"] and page.next_cursor is not None
    page = store.find(ITEMS, gt("i", 2), order_by=desc("i"), limit=2)
    assert ids(page) == ["r4", "r3"] and page.next_cursor is None
    page = store.find(ITEMS, limit=1)
    assert ids(page) == ["r0"] and page.next_cursor is not None
    bad: Any
    for bad in (0, -1, True, 1.5):
        rejected(partial(store.find, ITEMS, limit=bad), model="items", field=None)


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


@pytest.mark.clause("STR-4", "PAGE-1")
def test_long_strings_sharing_a_prefix_order_and_page_by_every_character(store: Store) -> None:
    prefix = "x" * 3000  # past sort-key truncation limits (MariaDB's max_sort_length: 1024 bytes)
    tails = ["b", "a", "é", "A", "c"]
    store.insert_many(ITEMS, [item(f"r{i}", s=prefix + t) for i, t in enumerate(tails)])
    expected = [f"r{tails.index(t)}" for t in sorted(tails)]
    assert ids(store.find(ITEMS, order_by="s")) == expected
    seen: list[str] = []
    cursor = None
    while True:
        page = store.find(ITEMS, order_by="s", limit=2, cursor=cursor)
        seen.extend(ids(page))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
