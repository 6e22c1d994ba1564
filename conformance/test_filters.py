"""Spec section 3, filters: every operator on every type, with NULL, and the logic around them.

The matrix stores one row per sample value of a type plus a NULL row, runs every
operator (and its negation) with every probe, and compares the matched ids with the
set this module computes in plain Python from the spec's rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest

from noorm.kit import Store
from noorm.spec import (
    ALL,
    Capability,
    Filter,
    Ref,
    and_,
    eq,
    gt,
    gte,
    in_,
    is_null,
    lt,
    lte,
    ne,
    not_,
    not_in,
    or_,
    path,
)

from .checks import ids, rejected
from .models import ITEMS, item


def _ms(value: datetime) -> datetime:
    """TS-2, as the test's own expectation: truncate to the millisecond."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# Per field: the stored sample values (in the spec's order) and extra probe values.
SAMPLES: dict[str, tuple[list[Any], list[Any]]] = {
    "s": (
        ["", " ", "B", "Z", "a", "a ", "b", "é", "e\u0301", "\uff21", "😀", "\U0001d518"],
        ["A", "aa", "\uffff", "\U0010ffff", "e"],
    ),
    "short": (["", "B", "a", "ab", "é", "😀😀😀😀😀"], ["A", "b", "\U0010ffff"]),
    "n": (
        [
            -1.7976931348623157e308,
            -2.5,
            -5e-324,
            0.0,
            5e-324,
            1.0,
            2.5,
            2.0**53,
            1.7976931348623157e308,
        ],
        [-1.0, 0.5, 3, -0.0, 2**53],
    ),
    "i": (
        [-(2**63), -(2**53) - 1, -1, 0, 1, 2**53, 2**53 + 1, 2**63 - 1],
        [-(2**63) + 1, 2, 2**53 - 1, 2**63 - 2],
    ),
    "b": ([False, True], []),
    "t": (
        [
            _utc(1000, 1, 1),
            _utc(1969, 12, 31, 23, 59, 59, 998000),
            _utc(1969, 12, 31, 23, 59, 59, 999000),
            _utc(1970, 1, 1),
            _utc(2024, 2, 29, 12, 0, 0, 1000),
            _utc(9999, 12, 31, 23, 59, 59, 999000),
        ],
        [
            _utc(1969, 12, 31, 23, 59, 59, 999999),
            _utc(2024, 2, 29, 12, 0, 0, 1999),
            datetime(2024, 2, 29, 13, 0, 0, 1000, tzinfo=timezone(timedelta(hours=1))),
            _utc(1500, 1, 1),
        ],
    ),
}


def _canonical(field: str, value: Any) -> Any:
    """What the spec says a filter value means for ``field`` (NUM-1, TS-1, TS-2)."""
    if field == "t":
        return _ms(value.astimezone(UTC))
    if field == "n":
        return float(value) + 0.0
    return value


Expectation = Callable[[Any, Any], bool]

# name -> (builder, expectation on (stored, probe) for a non-NULL stored value)
COMPARISONS: dict[str, tuple[Callable[[Ref, Any], Filter], Expectation]] = {
    "eq": (eq, lambda s, p: s == p),
    "ne": (ne, lambda s, p: s != p),
    "lt": (lt, lambda s, p: s < p),
    "lte": (lte, lambda s, p: s <= p),
    "gt": (gt, lambda s, p: s > p),
    "gte": (gte, lambda s, p: s >= p),
    "in_": (in_, lambda s, ps: s in ps),
    "not_in": (not_in, lambda s, ps: s not in ps),
}
OPERATORS = [*COMPARISONS, "is_null"]


RANGES = ("lt", "lte", "gt", "gte")
NULL_ROW = "null"
"""The key of the matrix's row whose field is NULL."""


def _in_lists(values: list[Any], probes: list[Any]) -> list[list[Any]]:
    """Lists for ``in_``/``not_in`` (never empty: the empty list is FLT-IN's own test)."""
    lists: list[list[Any]] = [values[:1], values[-2:], [values[0], values[0]]]
    lists.append([*probes[:2], values[len(values) // 2]])
    lists.append(values)
    return lists


def _probes(field: str, op: str) -> list[Any]:
    values, extra = SAMPLES[field]
    if op == "is_null":
        return [None]
    if op in ("in_", "not_in"):
        return _in_lists(values, extra)
    return [*values, *extra]


def _filter(field: str, op: str, probe: Any) -> Filter:
    return is_null(field) if op == "is_null" else COMPARISONS[op][0](field, probe)


def _load(store: Store, field: str) -> dict[str, Any]:
    """Store one row per sample of ``field`` and a NULL row; their values as read back.

    Filters are judged on the values the adapter returns, so that a value it stores
    imperfectly fails that value's own clause (TS-2, NUM-1, ...), not this module's.
    """
    values, _ = SAMPLES[field]
    rows = [item(f"v{k:02}", **{field: v}) for k, v in enumerate(values)] + [item(NULL_ROW)]
    store.insert_many(ITEMS, rows)
    stored = {r["id"]: r[field] for r in store.find(ITEMS, ALL).rows}
    assert set(stored) == {r["id"] for r in rows}
    return stored


def _matrix_cases() -> list[Any]:
    return [
        pytest.param(
            field,
            op,
            id=f"{field}-{op}",
            marks=pytest.mark.clause(
                "STR-4" if field in ("s", "short") and op in RANGES else "FLT-1"
            ),
        )
        for field in SAMPLES
        for op in COMPARISONS
    ]


@pytest.mark.parametrize("field,op", _matrix_cases())
def test_operator_matrix(store: Store, field: str, op: str) -> None:
    """Every comparison matches exactly the non-NULL values the spec says it does.

    Which NULL rows match is NULL-1's test, negations FLT-LOGIC's, ``in_ []`` FLT-IN's;
    string ranges compare by code point (STR-4).
    """
    stored = _load(store, field)
    build, check = COMPARISONS[op]
    for probe in _probes(field, op):
        canon: Any = (
            [_canonical(field, p) for p in probe]
            if isinstance(probe, list)
            else _canonical(field, probe)
        )
        where = build(field, probe)
        expect = {k for k, v in stored.items() if v is not None and check(v, canon)}
        got = ids(store.find(ITEMS, where))
        assert len(got) == len(set(got)), f"{where!r} returned a row twice"
        assert set(got) - {NULL_ROW} == expect, f"{where!r}"
        assert store.count(ITEMS, where) == len(expect) + (NULL_ROW in got), f"count({where!r})"


@pytest.mark.clause("NULL-1")
@pytest.mark.parametrize("field", list(SAMPLES))
def test_no_comparison_matches_a_null_field_and_is_null_matches_only_nulls(
    store: Store, field: str
) -> None:
    stored = _load(store, field)
    for op in COMPARISONS:
        for probe in _probes(field, op)[:4]:
            where = _filter(field, op, probe)
            assert NULL_ROW not in ids(store.find(ITEMS, where)), f"{where!r}"
    assert ids(store.find(ITEMS, is_null(field))) == [NULL_ROW]
    assert store.count(ITEMS, is_null(field)) == 1
    assert NULL_ROW in stored


@pytest.mark.clause("FLT-LOGIC")
@pytest.mark.parametrize("field", list(SAMPLES))
def test_not_matches_exactly_the_rows_its_operand_does_not(store: Store, field: str) -> None:
    """Judged against the adapter's own answer for the operand, whatever that is."""
    every = set(_load(store, field))
    for op in OPERATORS:
        probes = _probes(field, op)[:4] + ([[]] if op in ("in_", "not_in") else [])
        for probe in probes:
            where = _filter(field, op, probe)
            plain = set(ids(store.find(ITEMS, where)))
            assert set(ids(store.find(ITEMS, not_(where)))) == every - plain, f"not_({where!r})"
            total = store.count(ITEMS, where) + store.count(ITEMS, not_(where))
            assert total == len(every), f"count(not_({where!r}))"


# --- json paths: the same matrix on a value inside a document ---------------------------

ABSENT = object()
"""A row whose document lacks the key (marker for the json matrix)."""

JSON_SAMPLES: list[Any] = [
    -2.5,
    0,
    1,
    1.0,
    1.5,
    2**53,
    "",
    "1",
    "a",
    "b",
    "é",
    "😀",
    True,
    False,
    None,
    {"w": 1},
    [1],
    ABSENT,
]
JSON_PROBES: list[Any] = [1, 1.0, 0, 2, -3, 2**53, "1", "a", "", "e", "\U0010ffff", True, False]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _json_expect(op: str, stored: Any, probe: Any) -> bool:
    """FLT-JSON-1/2 for a present, non-null stored value."""
    same = _kind(stored) == _kind(probe)
    if op == "eq":
        return same and stored == probe
    if op == "ne":
        return not (same and stored == probe)
    if op == "in_":
        return any(_kind(stored) == _kind(p) and stored == p for p in probe)
    if op == "not_in":
        return not any(_kind(stored) == _kind(p) and stored == p for p in probe)
    if not same or _kind(probe) not in ("number", "string"):
        return False
    return bool(COMPARISONS[op][1](stored, probe))


JSON_REF = path("j", "v")


def _json_probes(op: str) -> list[Any]:
    if op == "is_null":
        return [None]
    if op in ("in_", "not_in"):
        return [[1], ["1"], [True], [1, "a"], [1.0, "b", False], ["é", 2**53, 0]]
    return JSON_PROBES


def _load_docs(store: Store) -> tuple[set[str], dict[str, Any]]:
    """One row per json sample (and a NULL field); every key, and the present values.

    Present values are read back, so that a document stored imperfectly fails JSON-*,
    not the filter clauses.
    """
    docs: dict[str, Any] = {"sql-null": None}
    for k, v in enumerate(JSON_SAMPLES):
        docs[f"v{k:02}"] = {"other": 0} if v is ABSENT else {"v": v, "other": 0}
    store.insert_many(ITEMS, [item(key, j=doc) for key, doc in docs.items()])
    stored = {r["id"]: r["j"] for r in store.find(ITEMS, ALL).rows}
    assert set(stored) == set(docs)
    present = {
        k: d["v"] for k, d in stored.items() if isinstance(d, dict) and d.get("v") is not None
    }
    return set(docs), present


@pytest.mark.requires(Capability.JSON_PATHS)
@pytest.mark.parametrize(
    "op",
    [
        pytest.param(
            op, id=op, marks=pytest.mark.clause("FLT-JSON-2" if op == "ne" else "FLT-JSON-1")
        )
        for op in COMPARISONS
    ],
)
def test_json_path_operator_matrix(store: Store, op: str) -> None:
    """Typed comparisons on present, non-null values (``ne`` across types is FLT-JSON-2)."""
    _, present = _load_docs(store)
    for probe in _json_probes(op):
        where = COMPARISONS[op][0](JSON_REF, probe)
        expect = {k for k, v in present.items() if _json_expect(op, v, probe)}
        got = ids(store.find(ITEMS, where))
        assert set(got) & set(present) == expect, f"{where!r}"
        assert store.count(ITEMS, where) == len(got), f"count({where!r})"


@pytest.mark.clause("FLT-JSON-2")
@pytest.mark.requires(Capability.JSON_PATHS)
def test_a_missing_or_null_path_matches_is_null_and_no_comparison(store: Store) -> None:
    """Missing, JSON null and a NULL field: only is_null matches, every negation does."""
    every, present = _load_docs(store)
    absent = every - set(present)
    for op in OPERATORS:
        for probe in _json_probes(op):
            where = is_null(JSON_REF) if op == "is_null" else COMPARISONS[op][0](JSON_REF, probe)
            got = set(ids(store.find(ITEMS, where)))
            if op == "is_null":
                assert got == absent, f"{where!r}"
            else:
                assert not got & absent, f"{where!r} matched {sorted(got & absent)}"
            assert set(ids(store.find(ITEMS, not_(where)))) == every - got, f"not_({where!r})"


# --- FLT-1: the mapping shorthand and nesting ---------------------------------------------


@pytest.mark.clause("FLT-1")
def test_a_mapping_is_an_and_of_equalities(store: Store) -> None:
    store.insert_many(
        ITEMS,
        [
            item("a", s="x", i=1, b=True),
            item("b", s="x", i=2, b=True),
            item("c", s="y", i=1, b=True),
            item("d", s="x", i=1, b=False),
            item("e", s="x", i=1),
        ],
    )
    assert ids(store.find(ITEMS, {"s": "x", "i": 1, "b": True})) == ["a"]
    assert ids(store.find(ITEMS, {"s": "x", "b": None})) == ["e"]
    assert ids(store.find(ITEMS, {"i": 2})) == ["b"]
    assert store.count(ITEMS, {"s": "x", "i": 1}) == 3
    assert store.update(ITEMS, {"n": 1.0}, where={"s": "x", "i": 1}) == 3
    assert store.delete(ITEMS, where={"s": "x", "n": 1.0, "b": False}) == 1


@pytest.mark.clause("FLT-1", "FLT-LOGIC")
def test_nested_logic_combines_like_boolean_algebra(store: Store) -> None:
    rows = [
        item(f"r{k}", i=k % 4 if k % 5 else None, s="ab"[k % 2], b=k % 3 == 0) for k in range(20)
    ]
    store.insert_many(ITEMS, rows)
    where = or_(and_(eq("s", "a"), gt("i", 1)), not_(or_(eq("b", True), lt("i", 2))), and_())
    expect = {
        r["id"]
        for r in rows
        if (r["s"] == "a" and r["i"] is not None and r["i"] > 1)
        or not (r["b"] is True or (r["i"] is not None and r["i"] < 2))
    }
    assert set(ids(store.find(ITEMS, where))) == expect | {r["id"] for r in rows}
    where = and_(or_(eq("s", "a"), gt("i", 1)), not_(or_(eq("b", True), lt("i", 2))))
    expect = {
        r["id"]
        for r in rows
        if (r["s"] == "a" or (r["i"] is not None and r["i"] > 1))
        and not (r["b"] is True or (r["i"] is not None and r["i"] < 2))
    }
    assert set(ids(store.find(ITEMS, where))) == expect
    assert store.count(ITEMS, or_()) == 0
    assert store.count(ITEMS, and_()) == 20
    assert store.count(ITEMS, not_(or_())) == 20
    assert store.count(ITEMS, not_(not_(is_null("i")))) == 4


# --- FLT-2: typed comparisons ---------------------------------------------------------------

MISMATCHED: list[tuple[str, Any]] = [
    ("s", 1),
    ("short", b"x"),
    ("n", "1"),
    ("n", True),
    ("n", 2**53 + 1),
    ("i", 1.0),
    ("i", "1"),
    ("i", False),
    ("i", 2**63),
    ("b", 0),
    ("b", "false"),
    ("t", "2024-01-01"),
    ("t", datetime(2024, 1, 1)),
    ("t", 0),
    ("id", 5),
]


@pytest.mark.clause("FLT-2", "ERR-1")
@pytest.mark.parametrize("case", MISMATCHED, ids=lambda c: f"{c[0]}={c[1]!r}"[:30])
def test_a_value_that_does_not_fit_the_field_type_is_rejected(
    store: Store, case: tuple[str, Any]
) -> None:
    field, value = case
    store.insert(ITEMS, item("keep", i=1))
    for build in (eq, ne, lt, gte):
        rejected(partial(store.find, ITEMS, build(field, value)), model="items", field=field)
    rejected(lambda: store.count(ITEMS, in_(field, [value])), model="items", field=field)
    rejected(lambda: store.delete(ITEMS, where=not_in(field, [value])), model="items", field=field)
    assert store.count(ITEMS) == 1


@pytest.mark.clause("FLT-2", "NUM-1")
def test_a_number_field_compares_with_ints_within_2_53(store: Store) -> None:
    store.insert_many(ITEMS, [item("one", n=1.0), item("half", n=0.5), item("big", n=2.0**53)])
    assert ids(store.find(ITEMS, eq("n", 1))) == ["one"]
    assert ids(store.find(ITEMS, eq("n", 2**53))) == ["big"]
    assert ids(store.find(ITEMS, lt("n", 1))) == ["half"]
    assert sorted(ids(store.find(ITEMS, in_("n", [1, 2**53])))) == ["big", "one"]


# --- NULL-1 -----------------------------------------------------------------------------------


@pytest.mark.clause("NULL-1")
@pytest.mark.parametrize("field", ["s", "short", "n", "i", "b", "t", "j"])
def test_eq_none_is_is_null_and_ne_none_is_not_null(store: Store, field: str) -> None:
    value = {"s": "x", "short": "x", "n": 1.0, "i": 1, "b": False, "t": _utc(2000, 1, 1)}.get(
        field, {"k": None}
    )
    store.insert_many(ITEMS, [item("set", **{field: value}), item("null")])
    assert ids(store.find(ITEMS, eq(field, None))) == ["null"]
    assert ids(store.find(ITEMS, {field: None})) == ["null"]
    assert ids(store.find(ITEMS, ne(field, None))) == ["set"]
    assert ids(store.find(ITEMS, is_null(field))) == ["null"]
    assert ids(store.find(ITEMS, not_(is_null(field)))) == ["set"]
    other = "i" if field != "i" else "n"
    assert store.update(ITEMS, {other: None}, where=eq(field, None)) == 1
    assert store.delete(ITEMS, where=ne(field, None)) == 1
    assert ids(store.find(ITEMS)) == ["null"]


@pytest.mark.clause("NULL-1", "ERR-1")
def test_ordering_comparisons_with_none_are_rejected(store: Store) -> None:
    for build in (lt, lte, gt, gte):
        rejected(partial(store.find, ITEMS, build("i", None)), model="items", field="i")
    rejected(lambda: store.find(ITEMS, in_("i", [1, None])), model="items", field="i")


# --- FLT-LOGIC and FLT-IN -------------------------------------------------------------------


@pytest.mark.clause("FLT-LOGIC")
def test_not_of_a_comparison_matches_null(store: Store) -> None:
    store.insert_many(ITEMS, [item("one", i=1), item("two", i=2), item("null")])

    def found(where: Filter) -> set[str]:
        return set(ids(store.find(ITEMS, where)))

    assert found(not_(eq("i", 1))) == {"null", "two"}
    assert found(not_(gt("i", 1))) == {"null", "one"}
    assert found(not_(in_("i", [1, 2]))) == {"null"}
    assert found(not_(not_in("i", [1]))) == {"null", "one"}
    assert found(not_(and_(gt("i", 0), lt("i", 2)))) == {"null", "two"}
    assert found(or_(not_(eq("i", 1)), eq("i", 1))) == {"null", "one", "two"}
    assert found(and_(not_(eq("i", 1)), not_(eq("i", 2)))) == {"null"}
    assert found(not_(not_(eq("i", 1)))) == {"one"}
    assert store.update(ITEMS, {"s": "x"}, where=not_(eq("i", 2))) == 2
    assert store.delete(ITEMS, where=not_(gt("i", 1))) == 2
    assert ids(store.find(ITEMS)) == ["two"]


@pytest.mark.clause("NULL-1")
def test_ne_does_not_match_null(store: Store) -> None:
    """Unlike not_(eq(f, v)) (FLT-LOGIC): ne is a comparison, false on a NULL field."""
    store.insert_many(ITEMS, [item("one", i=1), item("two", i=2), item("null")])
    assert ids(store.find(ITEMS, ne("i", 1))) == ["two"]
    assert store.count(ITEMS, ne("i", 1)) == 1
    assert store.update(ITEMS, {"s": "x"}, where=ne("i", 2)) == 1
    assert store.delete(ITEMS, where=ne("i", 1)) == 1
    assert sorted(ids(store.find(ITEMS))) == ["null", "one"]


@pytest.mark.clause("FLT-IN")
@pytest.mark.parametrize("field", ["s", "n", "i", "b", "t"])
def test_in_with_an_empty_list_matches_nothing_and_not_in_every_non_null(
    store: Store, field: str
) -> None:
    value = {"s": "x", "n": 1.0, "i": 1, "b": True, "t": _utc(2000, 1, 1)}[field]
    store.insert_many(ITEMS, [item("set", **{field: value}), item("null")])
    assert ids(store.find(ITEMS, in_(field, []))) == []
    assert store.count(ITEMS, in_(field, [])) == 0
    assert ids(store.find(ITEMS, not_in(field, []))) == ["set"]
    assert sorted(ids(store.find(ITEMS, not_(in_(field, []))))) == ["null", "set"]
    assert ids(store.find(ITEMS, not_(not_in(field, [])))) == ["null"]
    assert store.update(ITEMS, {"s": "y"}, where=in_(field, [])) == 0
    assert store.delete(ITEMS, where=in_(field, [])) == 0
    assert store.count(ITEMS) == 2


@pytest.mark.clause("FLT-IN", "FLT-1")
def test_in_takes_long_lists(store: Store) -> None:
    store.insert_many(ITEMS, [item(f"r{k:04}", i=k) for k in range(300)])
    wanted = list(range(0, 5000, 3))  # 1667 values, beyond many SQL parameter limits
    expect = [f"r{k:04}" for k in range(300) if k % 3 == 0]
    assert sorted(ids(store.find(ITEMS, in_("i", wanted)))) == expect
    assert store.count(ITEMS, not_in("i", wanted)) == 300 - len(expect)
    assert store.delete(ITEMS, where=in_("id", expect)) == len(expect)


# --- FLT-TYPES ------------------------------------------------------------------------------


@pytest.mark.clause("FLT-TYPES", "ERR-1")
def test_a_json_field_itself_only_allows_is_null(store: Store) -> None:
    store.insert_many(ITEMS, [item("doc", j={"a": 1}), item("scalar", j=1), item("null")])
    for where in (
        eq("j", {"a": 1}),
        ne("j", 1),
        lt("j", 1),
        gte("j", "a"),
        in_("j", [1]),
        not_in("j", [[1]]),
    ):
        rejected(partial(store.find, ITEMS, where), model="items", field="j")
    assert ids(store.find(ITEMS, is_null("j"))) == ["null"]
    assert sorted(ids(store.find(ITEMS, not_(is_null("j"))))) == ["doc", "scalar"]
    assert store.count(ITEMS, ALL) == 3
