"""Spec section 4, pagination: keyset pages, ``after=``, and signed cursors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noorm.kit import Store, TenantScope
from noorm.spec import (
    ALL,
    Adapter,
    Filter,
    InvalidCursorError,
    Order,
    Row,
    asc,
    desc,
    eq,
    gt,
    is_null,
    lt,
    not_,
)

from . import oracle, strategies
from .checks import all_rows, ids, rejected
from .conftest import CURSOR_KEY, StoreMaker
from .models import ITEMS, PAIRS, SCHEMA, item

EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def read_all(
    store: Store,
    where: Filter | None,
    order: Sequence[Order],
    size: int,
    *,
    max_pages: int = 1000,
) -> list[list[Row]]:
    """Every page of a read, following next_cursor until it is None."""
    pages: list[list[Row]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = store.find(ITEMS, where, order_by=list(order), limit=size, cursor=cursor)
        assert len(page.rows) <= size
        pages.append(page.rows)
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert page.rows, "an empty page must not carry a next_cursor"
    raise AssertionError(f"paging did not end after {max_pages} pages")


# --- PAGE-1 ---------------------------------------------------------------------------------


@pytest.mark.clause("PAGE-1")
def test_every_page_size_yields_every_row_once_in_order_despite_ties(store: Store) -> None:
    """Pages follow the unpaged read of the same query (its order is ORD-*'s business)."""
    rows = store.insert_many(
        ITEMS, [item(f"r{(k * 5) % 13:02}", i=1 if k % 4 else None, s="tie") for k in range(13)]
    )
    for order in ([asc("i")], [desc("i")], [asc("s"), desc("i")], []):
        expected = ids(store.find(ITEMS, order_by=order))
        assert sorted(expected) == sorted(ids(rows))
        for size in range(1, len(rows) + 2):
            pages = read_all(store, None, order, size)
            chunks = [expected[k : k + size] for k in range(0, len(expected), size)]
            assert [ids(p) for p in pages] == chunks, (order, size)


@pytest.mark.clause("PAGE-1")
@EXAMPLES
@given(
    rows=strategies.rows(), order=strategies.orders(), size=strategies.page_sizes(), data=st.data()
)
def test_paging_with_any_page_size_yields_the_unpaged_read(
    store: Store, rows: list[Row], order: list[Order], size: int, data: st.DataObject
) -> None:
    """Random rows, filters, orders and sizes; the unpaged read is the reference."""
    store.delete(ITEMS, where=ALL)
    if rows:
        store.insert_many(ITEMS, rows)
    where = data.draw(st.one_of(st.none(), strategies.filters()), label="where")
    expected = store.find(ITEMS, where, order_by=order).rows
    pages = read_all(store, where, order, size)
    flat = [r for p in pages for r in p]
    assert flat == expected
    assert len(set(ids(flat))) == len(flat)


# --- PAGE-2 ---------------------------------------------------------------------------------


def _rows_after(current: list[Row], last: Row, order: Sequence[Order]) -> list[Mapping[str, Any]]:
    """The rows of ``current`` strictly after ``last``'s sort key (``last`` may be gone)."""
    merged = {r["id"]: r for r in current}
    merged.setdefault(last["id"], last)
    ordered = oracle.sort_rows(list(merged.values()), order, ["id"])
    position = ids(ordered).index(last["id"])
    return [r for r in ordered[position + 1 :] if r["id"] in {c["id"] for c in current}]


@pytest.mark.clause("PAGE-2")
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_inserts_and_deletes_between_pages_never_repeat_or_skip_rows(
    store: Store, descending: bool
) -> None:
    order = [Order("i", descending=descending)]
    store.insert_many(
        ITEMS, [item(f"r{k:02}", i=None if k % 5 == 4 else k // 3) for k in range(20)]
    )
    size = 3
    seen: list[str] = []
    cursor: str | None = None
    last: Row | None = None
    step = 0
    while True:
        page = store.find(ITEMS, order_by=order, limit=size, cursor=cursor)
        if last is not None:
            expected = _rows_after(all_rows(store, ITEMS), last, order)[:size]
            assert ids(page) == ids(expected), f"page {step}"
        seen += ids(page)
        if page.next_cursor is None:
            break
        last = page.rows[-1]
        cursor = page.next_cursor
        step += 1
        # Between pages: delete the last row returned and the next unread one, insert rows
        # that sort before and after the cursor, and one that ties with the last row.
        store.delete(ITEMS, key={"id": last["id"]})
        upcoming = _rows_after(all_rows(store, ITEMS), last, order)
        if upcoming:
            store.delete(ITEMS, key={"id": upcoming[0]["id"]})
        store.insert_many(
            ITEMS,
            [
                item(f"new{step:02}-low", i=-100 if not descending else 100),
                item(f"new{step:02}-high", i=100 if not descending else -100),
                item(f"new{step:02}-null"),
                item(f"new{step:02}-tie", i=last["i"]),
            ],
        )
    assert len(seen) == len(set(seen)), "a row was returned twice"
    survivors = [r for r in ids(all_rows(store, ITEMS)) if r.startswith("r")]
    assert set(survivors) <= set(seen), "an unchanged row was skipped"
    assert step >= 5


# --- PAGE-3 ---------------------------------------------------------------------------------


@pytest.mark.clause("PAGE-3")
def test_after_starts_strictly_after_the_row_with_that_key(store: Store) -> None:
    rows = store.insert_many(
        ITEMS,
        [item(f"r{k:02}", i=k % 3 if k % 4 else None, s="x" if k % 2 else "y") for k in range(12)],
    )
    for order in ([asc("i")], [desc("i")], [desc("s"), asc("i")], []):
        ordered = ids(store.find(ITEMS, order_by=order))  # the reference: the unpaged read
        assert sorted(ordered) == sorted(ids(rows))
        for position, key in enumerate(ordered):
            page = store.find(ITEMS, order_by=order, after={"id": key})
            assert ids(page) == ordered[position + 1 :], (order, key)
            assert page.next_cursor is None
            limited = store.find(ITEMS, order_by=order, after={"id": key}, limit=2)
            assert ids(limited) == ordered[position + 1 : position + 3]
            if limited.next_cursor is not None:
                rest = store.find(ITEMS, order_by=order, limit=100, cursor=limited.next_cursor)
                assert ids(rest) == ordered[position + 3 :]


@pytest.mark.clause("PAGE-3")
def test_after_an_unknown_key_is_an_empty_page(store: Store) -> None:
    store.insert_many(ITEMS, [item("a", i=1), item("b", i=2), item("c", i=3)])
    for order in ([asc("i")], [desc("i")], []):
        page = store.find(ITEMS, order_by=order, after={"id": "bb"})
        assert page.rows == [] and page.next_cursor is None
        page = store.find(ITEMS, order_by=order, after={"id": "B"}, limit=1)
        assert page.rows == [] and page.next_cursor is None
    store.delete(ITEMS, key={"id": "b"})
    assert store.find(ITEMS, order_by="i", after={"id": "b"}).rows == []


@pytest.mark.clause("PAGE-3")
def test_after_honours_the_filter_and_composite_keys(store: Store) -> None:
    store.insert_many(ITEMS, [item(f"r{k}", i=k) for k in range(6)])
    # The anchor r2 does not match the filter; the read still starts after its position.
    assert ids(store.find(ITEMS, gt("i", 2), order_by=desc("i"), after={"id": "r4"})) == ["r3"]
    assert ids(store.find(ITEMS, not_(eq("i", 3)), order_by="i", after={"id": "r3"})) == [
        "r4",
        "r5",
    ]
    assert ids(store.find(ITEMS, lt("i", 3), order_by="i", after={"id": "r3"})) == []
    pairs = [(1, "a"), (1, "b"), (2, "a"), (2, "b")]
    store.insert_many(PAIRS, [{"a": a, "b": b} for a, b in pairs])
    page = store.find(PAIRS, after={"a": 1, "b": "b"})
    assert [(r["a"], r["b"]) for r in page] == [(2, "a"), (2, "b")]
    page = store.find(PAIRS, order_by=desc("b"), after={"a": 2, "b": "b"})
    assert [(r["a"], r["b"]) for r in page] == [(1, "a"), (2, "a")]
    assert store.find(PAIRS, after={"a": 3, "b": "a"}).rows == []


@pytest.mark.clause("PAGE-3", "HOOK-QUERY")
def test_after_a_key_outside_the_scope_is_an_empty_page(make_store: StoreMaker) -> None:
    store = make_store(plugins=[TenantScope()])
    store.bind(tenant_id="a").insert_many(ITEMS, [item("a1", i=1), item("a2", i=2)])
    store.bind(tenant_id="b").insert_many(ITEMS, [item("b1", i=1), item("b2", i=2)])
    b = store.bind(tenant_id="b")
    assert b.find(ITEMS, order_by="i", after={"id": "a1"}).rows == []
    assert ids(b.find(ITEMS, order_by="i", after={"id": "b1"})) == ["b2"]


# --- CUR-1 ----------------------------------------------------------------------------------


@pytest.fixture
def paged(store: Store) -> tuple[Store, str]:
    store.insert_many(ITEMS, [item(f"r{k}", i=k % 3, s="x") for k in range(9)])
    page = store.find(ITEMS, eq("s", "x"), order_by="i", limit=2)
    assert page.next_cursor is not None
    return store, page.next_cursor


def _resume(store: Store, cursor: Any) -> list[str]:
    return ids(store.find(ITEMS, eq("s", "x"), order_by="i", limit=2, cursor=cursor))


@pytest.mark.clause("CUR-1")
def test_a_cursor_resumes_its_own_query_repeatably(paged: tuple[Store, str]) -> None:
    """It resumes where ``after=`` the first page's last row does (which rows those are,
    and in which order, is PAGE-*'s and ORD-*'s business)."""
    store, cursor = paged
    last = ids(store.find(ITEMS, eq("s", "x"), order_by="i", limit=2))[-1]
    after = ids(store.find(ITEMS, eq("s", "x"), order_by="i", limit=2, after={"id": last}))
    assert after, "the first page must not be the last"
    assert _resume(store, cursor) == after
    assert _resume(store, cursor) == after


@pytest.mark.clause("CUR-2")
def test_a_cursor_continues_on_every_store_with_its_key(
    paged: tuple[Store, str], adapter: Adapter
) -> None:
    """Another worker's store (same key, or a rotation list holding it) continues the
    page; a store with another key refuses the cursor."""
    store, cursor = paged
    expected = _resume(store, cursor)
    for key in (CURSOR_KEY, [b"a newer key of at least 16 bytes", CURSOR_KEY]):
        assert _resume(Store(store.schema, adapter, cursor_key=key), cursor) == expected
    with pytest.raises(InvalidCursorError):
        _resume(Store(store.schema, adapter, cursor_key=b"another key of 16+ bytes"), cursor)


@pytest.mark.clause("CUR-1")
def test_every_single_character_change_is_refused(paged: tuple[Store, str]) -> None:
    store, cursor = paged
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    accepted = []
    for position, char in enumerate(cursor):
        for replacement in (alphabet[(alphabet.index(char) + 1) % 64], "A" if char != "A" else "B"):
            tampered = cursor[:position] + replacement + cursor[position + 1 :]
            try:
                _resume(store, tampered)
            except InvalidCursorError as exc:
                assert exc.model == "items"
            else:
                accepted.append(tampered)
    assert accepted == [], f"{len(accepted)} modified cursors were accepted, e.g. {accepted[:3]}"


@pytest.mark.clause("CUR-1")
def test_malformed_and_swapped_cursors_are_refused(paged: tuple[Store, str]) -> None:
    store, cursor = paged
    other = store.find(ITEMS, eq("s", "x"), order_by="i", limit=5).next_cursor
    assert other is not None and other != cursor
    body, mac = cursor.split(".")
    other_body, other_mac = other.split(".")
    for bad in (
        f"{body}.{other_mac}",
        f"{other_body}.{mac}",
        f"{mac}.{body}",
        body,
        f"{body}.",
        f".{mac}",
        f"{cursor}.{mac}",
        cursor + "A",
        cursor[:-1],
        "",
        "not a cursor",
        "\u00e9.\u00e9",
        123,
    ):
        rejected(partial(_resume, store, bad), model="items", field=None, error=InvalidCursorError)


@pytest.mark.clause("CUR-1")
def test_a_cursor_only_fits_its_own_model_order_filter_and_key(
    paged: tuple[Store, str], make_store: StoreMaker
) -> None:
    store, cursor = paged
    assert _resume(store, cursor)  # valid for its own query
    for where, order in (
        (eq("s", "y"), [asc("i")]),
        (None, [asc("i")]),
        (is_null("s"), [asc("i")]),
        (eq("s", "x"), [desc("i")]),
        (eq("s", "x"), [asc("i"), asc("s")]),
        (eq("s", "x"), []),
    ):
        rejected(
            partial(store.find, ITEMS, where, order_by=order, limit=2, cursor=cursor),
            model="items",
            field=None,
            error=InvalidCursorError,
        )
    store.insert(PAIRS, {"a": 1, "b": "x"})
    with pytest.raises(InvalidCursorError):
        store.find(PAIRS, order_by="a", limit=2, cursor=cursor)
    foreign = Store(SCHEMA, store.adapter, cursor_key=bytes(reversed(CURSOR_KEY)))
    with pytest.raises(InvalidCursorError):
        foreign.find(ITEMS, eq("s", "x"), order_by="i", limit=2, cursor=cursor)
