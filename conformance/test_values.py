"""Spec section 2, values: every logical type round-trips exactly, at its boundaries."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest

from noorm.kit import Store
from noorm.spec import ALL, ValidationError, desc, eq, gt, gte, is_null, lt, ne
from noorm.spec.values import MAX_TIMESTAMP, MIN_TIMESTAMP

from .checks import all_rows, ids, rejected, unchanged
from .models import ACCOUNTS, DOCS, ITEMS, SHORT_MAX, item

# --- VAL: validation before I/O -----------------------------------------------------------

NAIVE = datetime(2024, 1, 1, 12, 0)

BAD_ITEM_VALUES: list[tuple[str, Any]] = [
    ("s", 1),
    ("s", b"bytes"),
    ("s", "nul\x00inside"),
    ("short", "x" * (SHORT_MAX + 1)),
    ("n", "1.5"),
    ("n", True),
    ("n", math.nan),
    ("n", math.inf),
    ("n", -math.inf),
    ("n", 2**53 + 1),
    ("i", 1.0),
    ("i", True),
    ("i", "1"),
    ("i", 2**63),
    ("i", -(2**63) - 1),
    ("b", 1),
    ("b", "true"),
    ("t", NAIVE),
    ("t", "2024-01-01T00:00:00Z"),
    ("t", 1704067200),
    ("j", {1: "non-str key"}),
    ("j", {"nan": math.nan}),
    ("j", [2**53 + 1]),
    ("j", {"set": {1, 2}}),
    ("j", "nul\x00inside"),
]


def _bad_id(case: tuple[str, Any]) -> str:
    return f"{case[0]}={case[1]!r}"[:40]


@pytest.mark.clause("VAL-1", "ERR-1")
@pytest.mark.parametrize("case", BAD_ITEM_VALUES, ids=_bad_id)
def test_bad_value_is_rejected_on_every_write_and_nothing_is_written(
    store: Store, case: tuple[str, Any]
) -> None:
    field, value = case
    store.insert(ITEMS, item("keep", s="old", i=1))
    before = all_rows(store, ITEMS)
    rejected(lambda: store.insert(ITEMS, item("new", **{field: value})), model="items", field=field)
    rejected(
        lambda: store.insert_many(ITEMS, [item("new1"), item("new2", **{field: value})]),
        model="items",
        field=field,
    )
    rejected(
        lambda: store.update(ITEMS, {field: value}, key={"id": "keep"}), model="items", field=field
    )
    rejected(
        lambda: store.upsert(ITEMS, item("keep", **{field: value}), update=[field]),
        model="items",
        field=field,
    )
    rejected(
        lambda: store.upsert(ITEMS, item("new", **{field: value}), update=[]),
        model="items",
        field=field,
    )
    unchanged(store, ITEMS, before)


@pytest.mark.clause("VAL-1", "ERR-1")
def test_unknown_field_missing_required_field_and_null_in_required_field(store: Store) -> None:
    rejected(lambda: store.insert(ITEMS, item("x", nope=1)), model="items", field="nope")
    rejected(
        lambda: store.insert(ACCOUNTS, {"org": 1, "id": 1, "name": "n"}),
        model="accounts",
        field="email",
    )
    rejected(
        lambda: store.insert(ACCOUNTS, {"org": 1, "id": 1, "email": None, "name": "n"}),
        model="accounts",
        field="email",
    )
    rejected(lambda: store.insert(ITEMS, {"s": "no key"}), model="items", field="id")
    rejected(lambda: store.update(ITEMS, {"nope": 1}, where=ALL), model="items", field="nope")
    store.insert(ACCOUNTS, {"org": 1, "id": 1, "email": "a@x", "name": "n"})
    rejected(
        lambda: store.update(ACCOUNTS, {"name": None}, key={"org": 1, "id": 1}),
        model="accounts",
        field="name",
    )
    assert all_rows(store, ITEMS) == []
    assert all_rows(store, ACCOUNTS) == [
        {"org": 1, "id": 1, "email": "a@x", "name": "n", "age": None}
    ]


@pytest.mark.clause("VAL-1")
def test_a_bad_row_anywhere_in_a_batch_writes_none_of_it(store: Store) -> None:
    batch = [item(f"r{k}", i=k) for k in range(50)]
    batch.append(item("bad", t=NAIVE))
    rejected(lambda: store.insert_many(ITEMS, batch), model="items", field="t")
    assert store.count(ITEMS) == 0


@pytest.mark.clause("VAL-1", "ERR-1")
def test_bad_keys_filters_and_orders_are_rejected_before_io(store: Store) -> None:
    store.insert(ITEMS, item("a", i=1))
    rejected(lambda: store.get(ITEMS, {"id": 1}), model="items", field="id")
    rejected(lambda: store.get(ITEMS, {"i": 1}), model="items", field="i")
    rejected(lambda: store.find(ITEMS, eq("i", "1")), model="items", field="i")
    rejected(lambda: store.find(ITEMS, eq("nope", 1)), model="items", field="nope")
    rejected(lambda: store.find(ITEMS, order_by="nope"), model="items", field="nope")
    rejected(lambda: store.find(ITEMS, order_by="j"), model="items", field="j")
    rejected(lambda: store.count(ITEMS, lt("t", NAIVE)), model="items", field="t")
    rejected(lambda: store.delete(ITEMS, where=eq("b", 1)), model="items", field="b")
    rejected(lambda: store.update(ITEMS, {"i": 2}, where=gt("n", "0")), model="items", field="n")
    rejected(lambda: store.delete(ITEMS, key={"id": "a", "i": 1}), model="items", field="i")
    rejected(lambda: store.find(ITEMS, limit=0), model="items", field=None)
    assert all_rows(store, ITEMS) == [store.get(ITEMS, {"id": "a"})]
    assert store.get(ITEMS, {"id": "a"}) is not None


@pytest.mark.clause("VAL-2")
def test_omitted_nullable_fields_are_stored_as_null(store: Store) -> None:
    inserted = store.insert(ITEMS, {"id": "only-key"})
    expected = {"id": "only-key", "s": None, "short": None, "n": None, "i": None}
    expected |= {"b": None, "t": None, "j": None}
    assert inserted == expected
    assert store.get(ITEMS, {"id": "only-key"}) == expected
    for field in ("s", "short", "n", "i", "b", "t", "j"):
        assert store.count(ITEMS, is_null(field)) == 1, field


# --- STR ----------------------------------------------------------------------------------

STRINGS = [
    "plain ASCII",
    "",
    " ",
    "trailing space ",
    "😀",
    "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522",
    "é",
    "e\u0301",
    "\u0301 leading combining mark",
    "a\u0308\u0304 stacked marks",
    "\u2126 ohm vs \u03a9 omega",
    "\ufb01 ligature",
    "\uff21 fullwidth",
    "\u200b zero width \u200d joiner \ufeff bom",
    "\U0010ffff last code point",
    "\ue000 private use",
    "\uffff",
    "\x01\x1f\x7f control",
    "\r\n\t whitespace",
    "quotes ' \" ` and \\ backslash; % _ * ? [ ] $ {}",
    "שלום עולם RTL",
    "👩‍👩‍👧‍👦 family ZWJ sequence",
    "x" * 10_000,
]


@pytest.mark.clause("STR-1")
@pytest.mark.parametrize("value", STRINGS, ids=lambda v: repr(v)[:24])
def test_every_code_point_round_trips_exactly(store: Store, value: str) -> None:
    assert store.insert(ITEMS, item("k", s=value))["s"] == value
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None
    assert got["s"] == value
    assert [r["s"] for r in store.find(ITEMS, eq("s", value))] == [value]


@pytest.mark.clause("STR-1", "STR-4")
def test_strings_are_never_normalized_nor_folded(store: Store) -> None:
    """Canonically equivalent, case- or space-different strings are distinct values and keys."""
    variants = ["é", "e\u0301", "E\u0301", "É", "\u2126", "\u03a9", "a", "A", "a ", "ä", "a\u0308"]
    for k, value in enumerate(variants):
        store.insert(ITEMS, item(value, s=value, i=k))
    for k, value in enumerate(variants):
        assert ids(store.find(ITEMS, eq("s", value))) == [value]
        assert ids(store.find(ITEMS, eq("id", value))) == [value]
        got = store.get(ITEMS, {"id": value})
        assert got is not None and got["i"] == k
    assert store.count(ITEMS) == len(variants)


@pytest.mark.clause("STR-1", "OP-GET")
@pytest.mark.parametrize("key", ["😀", "\U0001d518" * 64, "e\u0301", "", "'; drop table items; --"])
def test_unicode_and_odd_strings_work_as_primary_keys(store: Store, key: str) -> None:
    store.insert(ITEMS, item(key, i=1))
    got = store.get(ITEMS, {"id": key})
    assert got is not None and got["id"] == key
    assert store.update(ITEMS, {"i": 2}, key={"id": key}) == 1
    assert store.delete(ITEMS, key={"id": key}) == 1
    assert store.count(ITEMS) == 0


@pytest.mark.clause("STR-2", "VAL-1")
@pytest.mark.parametrize(
    "value",
    ["abcde", "😀😀😀😀😀", "\U0001d518😀é\u0301z", "e\u0301e\u0301a", "\U0010ffff" * SHORT_MAX],
    ids=["ascii", "emoji", "mixed-astral", "combining", "max-code-point"],
)
def test_exactly_max_length_code_points_fit_and_one_more_is_rejected(
    store: Store, value: str
) -> None:
    assert len(value) == SHORT_MAX
    assert store.insert(ITEMS, item("fits", short=value))["short"] == value
    got = store.get(ITEMS, {"id": "fits"})
    assert got is not None and got["short"] == value
    before = all_rows(store, ITEMS)
    longer = value + value[-1]
    rejected(lambda: store.insert(ITEMS, item("long", short=longer)), model="items", field="short")
    rejected(
        lambda: store.update(ITEMS, {"short": longer}, key={"id": "fits"}),
        model="items",
        field="short",
    )
    rejected(
        lambda: store.upsert(ITEMS, item("fits", short=longer), update=["short"]),
        model="items",
        field="short",
    )
    unchanged(store, ITEMS, before)


@pytest.mark.clause("STR-2", "SCH-4")
def test_key_strings_hold_exactly_their_max_length_in_code_points(store: Store) -> None:
    key = "😀" * 64  # 64 code points, 256 UTF-8 bytes, 128 UTF-16 units
    store.insert(ITEMS, item(key))
    assert ids(store.find(ITEMS, eq("id", key))) == [key]
    rejected(lambda: store.insert(ITEMS, item(key + "x")), model="items", field="id")
    assert store.count(ITEMS) == 1


@pytest.mark.clause("STR-3")
def test_the_empty_string_is_not_null(store: Store) -> None:
    store.insert_many(ITEMS, [item("empty", s="", short=""), item("null"), item("space", s=" ")])
    got = store.get(ITEMS, {"id": "empty"})
    assert got is not None and got["s"] == "" and got["short"] == ""
    got = store.get(ITEMS, {"id": "null"})
    assert got is not None and got["s"] is None
    assert ids(store.find(ITEMS, eq("s", ""))) == ["empty"]
    assert ids(store.find(ITEMS, is_null("s"))) == ["null"]
    assert set(ids(store.find(ITEMS, ne("s", "")))) - {"null"} == {"space"}  # null: NULL-1's
    assert ids(store.find(ITEMS, lt("s", " "))) == ["empty"]
    assert store.update(ITEMS, {"s": ""}, key={"id": "null"}) == 1
    assert store.count(ITEMS, is_null("s")) == 0


# --- NUM ----------------------------------------------------------------------------------

FLOATS = [
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    0.1,
    1 / 3,
    -2.5,
    9007199254740993.0,
    1e-7,
    123456789.123456789,
]


@pytest.mark.clause("NUM-1")
@pytest.mark.parametrize("value", FLOATS, ids=repr)
def test_finite_doubles_round_trip_bit_exactly(store: Store, value: float) -> None:
    store.insert(ITEMS, item("k", n=value))
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None
    assert type(got["n"]) is float
    assert got["n"].hex() == value.hex()
    assert ids(store.find(ITEMS, eq("n", value))) == ["k"]


@pytest.mark.clause("NUM-1")
def test_negative_zero_is_stored_as_zero(store: Store) -> None:
    assert math.copysign(1.0, store.insert(ITEMS, item("z", n=-0.0))["n"]) == 1.0
    got = store.get(ITEMS, {"id": "z"})
    assert got is not None and got["n"] == 0.0 and math.copysign(1.0, got["n"]) == 1.0
    assert ids(store.find(ITEMS, eq("n", 0.0))) == ["z"]
    assert ids(store.find(ITEMS, eq("n", -0.0))) == ["z"]
    assert store.count(ITEMS, lt("n", 0.0)) == 0


@pytest.mark.clause("NUM-1", "VAL-1")
def test_ints_within_2_53_are_accepted_as_floats_and_beyond_rejected(store: Store) -> None:
    rows = store.insert_many(
        ITEMS, [item("max", n=2**53), item("min", n=-(2**53)), item("one", n=1)]
    )
    assert [type(r["n"]) for r in rows] == [float, float, float]
    got = {r["id"]: r["n"] for r in all_rows(store, ITEMS)}
    assert got == {"max": 9007199254740992.0, "min": -9007199254740992.0, "one": 1.0}
    assert all(type(v) is float for v in got.values())
    assert ids(store.find(ITEMS, eq("n", 2**53))) == ["max"]
    before = all_rows(store, ITEMS)
    rejected(lambda: store.insert(ITEMS, item("over", n=2**53 + 1)), model="items", field="n")
    rejected(lambda: store.insert(ITEMS, item("under", n=-(2**53) - 1)), model="items", field="n")
    rejected(lambda: store.count(ITEMS, eq("n", 2**53 + 1)), model="items", field="n")
    unchanged(store, ITEMS, before)


@pytest.mark.clause("ORD-1")
def test_number_order_spans_the_whole_double_range(store: Store) -> None:
    """Ordered as stored (read back): whether each double is stored exactly is NUM-1's."""
    values = sorted({v + 0.0 for v in [*FLOATS, 0.0, -1.0, 1.0]})
    for k, v in enumerate(reversed(values)):
        store.insert(ITEMS, item(f"r{k:02}", n=v))
    stored = sorted(r["n"] for r in all_rows(store, ITEMS))
    assert len(stored) == len(values)
    assert [r["n"] for r in store.find(ITEMS, order_by="n")] == stored
    assert [r["n"] for r in store.find(ITEMS, order_by=desc("n"))] == stored[::-1]


INTEGERS = [-(2**63), -(2**63) + 1, -(2**53) - 1, -1, 0, 1, 2**53, 2**53 + 1, 2**63 - 2, 2**63 - 1]


@pytest.mark.clause("NUM-2")
def test_integers_are_exact_signed_64_bit(store: Store) -> None:
    for k, v in enumerate(INTEGERS):
        store.insert(ITEMS, item(f"r{k:02}", i=v))
    rows = all_rows(store, ITEMS)
    assert {r["id"]: r["i"] for r in rows} == {f"r{k:02}": v for k, v in enumerate(INTEGERS)}
    assert all(type(r["i"]) is int for r in rows)
    for k, v in enumerate(INTEGERS):
        assert ids(store.find(ITEMS, eq("i", v))) == [f"r{k:02}"], v
    assert store.count(ITEMS, gt("i", 2**53)) == 3
    assert store.count(ITEMS, gte("i", 2**63 - 1)) == 1
    assert store.count(ITEMS, lt("i", -(2**63) + 1)) == 1


@pytest.mark.clause("NUM-2", "VAL-1")
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64, True, False, 1.0, 0.5])
def test_integers_outside_the_range_bools_and_floats_are_rejected(
    store: Store, value: object
) -> None:
    store.insert(ITEMS, item("keep", i=7))
    before = all_rows(store, ITEMS)
    rejected(lambda: store.insert(ITEMS, item("x", i=value)), model="items", field="i")
    rejected(lambda: store.update(ITEMS, {"i": value}, where=ALL), model="items", field="i")
    rejected(lambda: store.count(ITEMS, eq("i", value)), model="items", field="i")
    unchanged(store, ITEMS, before)


@pytest.mark.clause("BOOL-1")
def test_booleans_accept_and_return_only_bool(store: Store) -> None:
    store.insert_many(ITEMS, [item("t", b=True), item("f", b=False), item("n")])
    rows = {r["id"]: r["b"] for r in all_rows(store, ITEMS)}
    assert rows == {"t": True, "f": False, "n": None}
    assert type(rows["t"]) is bool and type(rows["f"]) is bool
    assert ids(store.find(ITEMS, eq("b", True))) == ["t"]
    assert ids(store.find(ITEMS, eq("b", False))) == ["f"]
    assert set(ids(store.find(ITEMS, ne("b", True)))) - {"n"} == {"f"}  # "n": NULL-1's
    before = all_rows(store, ITEMS)
    for bad in (1, 0, "true", 1.0):
        rejected(partial(store.insert, ITEMS, item("x", b=bad)), model="items", field="b")
        rejected(partial(store.count, ITEMS, eq("b", bad)), model="items", field="b")
    unchanged(store, ITEMS, before)


# --- TS -----------------------------------------------------------------------------------


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


OFFSETS = [
    (
        datetime(2024, 6, 1, 17, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        _utc(2024, 6, 1, 12, 0),
    ),
    (datetime(2024, 6, 1, 4, 0, tzinfo=timezone(timedelta(hours=-8))), _utc(2024, 6, 1, 12, 0)),
    (datetime(2024, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=14))), _utc(2023, 12, 31, 23, 0)),
    (datetime(1969, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-4))), _utc(1970, 1, 1, 0, 0)),
    (
        datetime(2024, 3, 10, 12, 0, 0, tzinfo=timezone(timedelta(minutes=-45))),
        _utc(2024, 3, 10, 12, 45, 0),
    ),
]


@pytest.mark.clause("TS-1")
@pytest.mark.parametrize("given,utc", OFFSETS, ids=lambda v: v.isoformat())
def test_aware_timestamps_come_back_in_utc(store: Store, given: datetime, utc: datetime) -> None:
    returned = store.insert(ITEMS, item("k", t=given))["t"]
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None
    for value in (returned, got["t"]):
        assert value == utc
        assert value.tzinfo == UTC and value.utcoffset() == timedelta(0)
        assert (value.year, value.hour, value.minute) == (utc.year, utc.hour, utc.minute)
    assert ids(store.find(ITEMS, eq("t", given))) == ["k"]
    assert ids(store.find(ITEMS, eq("t", utc))) == ["k"]


@pytest.mark.clause("TS-1", "VAL-1")
def test_naive_timestamps_are_rejected_everywhere(store: Store) -> None:
    store.insert(ITEMS, item("k", t=_utc(2024, 1, 1)))
    before = all_rows(store, ITEMS)
    rejected(lambda: store.insert(ITEMS, item("x", t=NAIVE)), model="items", field="t")
    rejected(lambda: store.update(ITEMS, {"t": NAIVE}, where=ALL), model="items", field="t")
    rejected(lambda: store.find(ITEMS, gt("t", NAIVE)), model="items", field="t")
    unchanged(store, ITEMS, before)


TRUNCATION = [
    (_utc(2024, 1, 1, 0, 0, 0, 123999), _utc(2024, 1, 1, 0, 0, 0, 123000)),
    (_utc(2024, 1, 1, 0, 0, 0, 999), _utc(2024, 1, 1)),
    (_utc(1969, 12, 31, 23, 59, 59, 999999), _utc(1969, 12, 31, 23, 59, 59, 999000)),
    (_utc(1969, 12, 31, 23, 59, 59, 1500), _utc(1969, 12, 31, 23, 59, 59, 1000)),
    (_utc(1000, 1, 1, 0, 0, 0, 999), _utc(1000, 1, 1)),
    (_utc(1500, 6, 15, 8, 30, 0, 456789), _utc(1500, 6, 15, 8, 30, 0, 456000)),
    (_utc(9999, 12, 31, 23, 59, 59, 999999), _utc(9999, 12, 31, 23, 59, 59, 999000)),
    (
        datetime(1970, 1, 1, 0, 30, 0, 999, tzinfo=timezone(timedelta(hours=1))),
        _utc(1969, 12, 31, 23, 30),
    ),
]


@pytest.mark.clause("TS-2")
@pytest.mark.parametrize("given,stored", TRUNCATION, ids=lambda v: v.isoformat())
def test_sub_millisecond_digits_are_truncated_toward_the_past(
    store: Store, given: datetime, stored: datetime
) -> None:
    assert store.insert(ITEMS, item("k", t=given))["t"] == stored
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["t"] == stored
    assert got["t"].microsecond % 1000 == 0
    # Filters truncate the same way, so the given and the stored value both match.
    assert ids(store.find(ITEMS, eq("t", given))) == ["k"]
    assert ids(store.find(ITEMS, eq("t", stored))) == ["k"]
    assert store.count(ITEMS, lt("t", given)) == 0
    assert store.count(ITEMS, gte("t", stored + timedelta(microseconds=999))) == 1
    if stored > MIN_TIMESTAMP:  # one microsecond earlier truncates to the previous millisecond
        assert store.count(ITEMS, gt("t", stored - timedelta(microseconds=1))) == 1
    if stored < MAX_TIMESTAMP:
        assert store.count(ITEMS, gte("t", stored + timedelta(milliseconds=1))) == 0


@pytest.mark.clause("TS-2")
def test_milliseconds_survive_updates_and_upserts(store: Store) -> None:
    first = _utc(1969, 12, 31, 23, 59, 59, 999000)
    second = _utc(2038, 1, 19, 3, 14, 7, 1000)
    store.insert(ITEMS, item("k", t=_utc(2000, 1, 1)))
    store.update(ITEMS, {"t": first}, key={"id": "k"})
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["t"] == first
    assert store.upsert(ITEMS, item("k", t=second), update=["t"]).row["t"] == second
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["t"] == second


@pytest.mark.clause("TS-3")
def test_the_whole_range_is_supported(store: Store) -> None:
    """Whole seconds: the range's last millisecond (.999) is TS-2's truncation test."""
    values = [
        _utc(1000, 1, 1),
        _utc(1000, 1, 1, 0, 0, 1),
        _utc(1582, 10, 4, 23, 59, 59),
        _utc(1582, 10, 15),
        _utc(1899, 12, 31, 23, 59, 59),
        _utc(1969, 12, 31, 23, 59, 58),
        _utc(1969, 12, 31, 23, 59, 59),
        _utc(1970, 1, 1),
        _utc(1970, 1, 1, 0, 0, 1),
        _utc(2038, 1, 19, 3, 14, 8),
        _utc(2100, 2, 28, 23, 59, 59),
        _utc(9999, 12, 31, 23, 59, 59),
    ]
    store.insert_many(ITEMS, [item(f"r{k:02}", t=v) for k, v in reversed(list(enumerate(values)))])
    assert {r["id"]: r["t"] for r in all_rows(store, ITEMS)} == {
        f"r{k:02}": v for k, v in enumerate(values)
    }
    for k, v in enumerate(values):
        assert ids(store.find(ITEMS, eq("t", v))) == [f"r{k:02}"], v
    assert store.count(ITEMS, lt("t", _utc(1970, 1, 1))) == 7
    assert store.count(ITEMS, gte("t", _utc(1969, 12, 31, 23, 59, 59))) == 6


@pytest.mark.clause("TS-3", "VAL-1")
@pytest.mark.parametrize(
    "value",
    [
        _utc(999, 12, 31, 23, 59, 59, 999000),
        datetime(1000, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
    ids=lambda v: v.isoformat(),
)
def test_instants_outside_the_range_are_rejected(store: Store, value: datetime) -> None:
    rejected(lambda: store.insert(ITEMS, item("x", t=value)), model="items", field="t")
    assert store.count(ITEMS) == 0


# --- JSON ---------------------------------------------------------------------------------


def _nested(levels: int) -> Any:
    doc: Any = "leaf"
    for level in range(levels):
        doc = [doc] if level % 2 else {"k": doc}
    return doc


DOCUMENTS: list[Any] = [
    {"a": 1, "b": [1, 2.5, "three", True, False, None, {"c": {"d": []}}], "e": {}},
    [],
    {},
    [[], {}, [[]], {"": ""}],
    "a bare string 😀",
    "",
    0,
    -(2**53),
    2**53,
    1.5,
    5e-324,
    1.7976931348623157e308,
    True,
    False,
    {"null": None, "list": [None, None], "nested": {"x": None}},
    {"unicode": "e\u0301 é \U0001d518 \U0010ffff", "ключ": "значение", "😀": "🎉"},
    {"numbers": [0, -1, 0.1, 1e300, -2.2250738585072014e-308, 9007199254740991]},
    _nested(64),
]


@pytest.mark.clause("JSON-1", "JSON-3")
@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: repr(d)[:30])
def test_json_documents_round_trip(store: Store, doc: Any) -> None:
    assert store.insert(ITEMS, item("k", j=doc))["j"] == doc
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None
    assert got["j"] == doc
    assert _types(got["j"]) == _types(doc), "ints must come back int and floats float"


def _types(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _types(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_types(v) for v in doc]
    return type(doc).__name__


@pytest.mark.clause("JSON-1", "VAL-1")
def test_json_nesting_deeper_than_64_levels_is_rejected(store: Store) -> None:
    rejected(lambda: store.insert(ITEMS, item("x", j=_nested(65))), model="items", field="j")
    assert store.count(ITEMS) == 0


@pytest.mark.clause("JSON-1")
def test_json_values_are_deep_copied_in_and_out(store: Store) -> None:
    original: dict[str, Any] = {"list": [1, {"x": 2}], "obj": {"y": [3]}}
    snapshot = copy.deepcopy(original)
    returned = store.insert(ITEMS, item("k", j=original))
    original["list"].append("caller change")
    original["obj"]["y"].append(4)
    returned["j"]["list"][1]["x"] = "changed the returned row"
    first = store.get(ITEMS, {"id": "k"})
    assert first is not None and first["j"] == snapshot
    first["j"]["obj"]["y"].clear()
    found = store.find(ITEMS, eq("id", "k")).rows[0]
    assert found["j"] == snapshot
    found["j"]["list"].clear()
    upserted = store.upsert(ITEMS, item("k"), update=[]).row
    assert upserted["j"] == snapshot
    upserted["j"]["obj"]["z"] = 1
    again = store.get(ITEMS, {"id": "k"})
    assert again is not None and again["j"] == snapshot


@pytest.mark.clause("JSON-2", "FLT-TYPES")
def test_none_is_the_null_field_and_json_null_inside_round_trips(store: Store) -> None:
    store.insert_many(
        ITEMS,
        [
            item("sql-null", j=None),
            item("absent"),
            item("inner", j={"a": None}),
            item("arr", j=[None]),
        ],
    )
    rows = {r["id"]: r["j"] for r in all_rows(store, ITEMS)}
    assert rows == {"sql-null": None, "absent": None, "inner": {"a": None}, "arr": [None]}
    assert sorted(ids(store.find(ITEMS, is_null("j")))) == ["absent", "sql-null"]
    assert sorted(ids(store.find(ITEMS, ne("j", None)))) == ["arr", "inner"]
    store.insert(DOCS, {"id": 1, "body": {"a": None}})
    rejected(lambda: store.insert(DOCS, {"id": 2, "body": None}), model="docs", field="body")
    rejected(lambda: store.update(DOCS, {"body": None}, key={"id": 1}), model="docs", field="body")
    assert all_rows(store, DOCS) == [{"id": 1, "body": {"a": None}}]


@pytest.mark.clause("JSON-3")
def test_json_key_order_is_not_significant_and_numbers_keep_their_kind(store: Store) -> None:
    doc = {"z": 1, "a": 1.0, "m": -0.0, "big": 2**53, "neg": -7, "f": 2.5e-10}
    store.insert(ITEMS, item("k", j=doc))
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None
    assert got["j"] == {"a": 1.0, "big": 2**53, "f": 2.5e-10, "m": 0.0, "neg": -7, "z": 1}
    kinds = {k: type(v) for k, v in got["j"].items()}
    assert kinds == {"z": int, "a": float, "m": float, "big": int, "neg": int, "f": float}
    assert math.copysign(1.0, got["j"]["m"]) == 1.0


JSON_KEYS = [
    "it's",
    'say "hi"',
    "a.b",
    "a..b.",
    "$",
    "$ref",
    "$.a",
    "[0]",
    "a[0]",
    "?",
    "*",
    "back\\slash",
    "sp ace",
    " ",
    "",
    "ключ",
    "😀",
    "e\u0301",
    "{}",
    "'\"",
    "@#%&",
]


@pytest.mark.clause("JSON-4")
@pytest.mark.parametrize("key", JSON_KEYS, ids=repr)
def test_json_keys_are_stored_exactly_or_rejected_naming_the_field(store: Store, key: str) -> None:
    doc = {key: {key: [key]}, "plain": 1}
    try:
        store.insert(ITEMS, item("k", j=doc))
    except ValidationError as exc:
        assert (exc.model, exc.field) == ("items", "j"), f"{key!r}: {exc!r}"
        assert store.count(ITEMS) == 0
        return
    got = store.get(ITEMS, {"id": "k"})
    assert got is not None and got["j"] == doc
    assert list(got["j"][key]) == [key]
