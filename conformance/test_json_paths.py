"""Spec section 3, json paths (capability json_paths): typed, null-aware, keys as data."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from noorm.kit import Store
from noorm.spec import (
    Capability,
    UnsupportedError,
    ValidationError,
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
    path,
)
from noorm.spec.limits import MAX_PATH_KEYS
from noorm.spec.values import MAX_JSON_DEPTH

from .checks import ids, rejected
from .models import ITEMS, item

pytestmark = pytest.mark.requires(Capability.JSON_PATHS)

TYPED_DOCS: dict[str, Any] = {
    "int": {"v": 1},
    "float": {"v": 1.0},
    "frac": {"v": 1.5},
    "str": {"v": "1"},
    "true": {"v": True},
    "false": {"v": False},
    "zero": {"v": 0},
    "null": {"v": None},
    "missing": {"w": 1},
    "obj": {"v": {"x": 1}},
    "arr": {"v": [1]},
    "scalar-doc": 1,
    "sql-null": None,
}


@pytest.fixture
def typed(store: Store) -> Store:
    store.insert_many(ITEMS, [item(k, j=v) for k, v in TYPED_DOCS.items()])
    return store


def _find(store: Store, where: Any) -> list[str]:
    return sorted(ids(store.find(ITEMS, where)))


V = path("j", "v")


@pytest.mark.clause("FLT-JSON-1")
def test_a_number_never_equals_a_string_nor_a_boolean(typed: Store) -> None:
    assert _find(typed, eq(V, 1)) == ["float", "int"]
    assert _find(typed, eq(V, 1.0)) == ["float", "int"]
    assert _find(typed, eq(V, "1")) == ["str"]
    assert _find(typed, eq(V, True)) == ["true"]
    assert _find(typed, eq(V, False)) == ["false"]
    assert _find(typed, eq(V, 0)) == ["zero"]
    assert _find(typed, in_(V, [1, "x"])) == ["float", "int"]
    assert _find(typed, in_(V, ["1", False])) == ["false", "str"]


@pytest.mark.clause("FLT-JSON-1")
def test_ordering_on_a_path_compares_within_one_json_type(typed: Store) -> None:
    assert _find(typed, lt(V, 2)) == ["float", "frac", "int", "zero"]
    assert _find(typed, gt(V, 1)) == ["frac"]
    assert _find(typed, gte(V, 1)) == ["float", "frac", "int"]
    assert _find(typed, lte(V, 0.5)) == ["zero"]
    assert _find(typed, gt(V, "0")) == ["str"]
    assert _find(typed, lt(V, "1")) == []
    assert _find(typed, lte(V, "1")) == ["str"]
    assert _find(typed, gte(V, "")) == ["str"]
    for probe in (True, False):  # booleans, objects and arrays never match an ordering
        for build in (lt, lte, gt, gte):
            assert _find(typed, build(V, probe)) == [], f"{build.__name__}({probe})"


@pytest.mark.clause("FLT-JSON-1")
def test_strings_on_a_path_compare_by_code_point(store: Store) -> None:
    values = ["B", "a", "b", "é", "\uffff", "😀"]
    store.insert_many(ITEMS, [item(f"r{k}", j={"v": v}) for k, v in enumerate(values)])
    for k, v in enumerate(values):
        assert _find(store, lt(path("j", "v"), v)) == [f"r{m}" for m in range(k)], v
        assert _find(store, gt(path("j", "v"), v)) == [f"r{m}" for m in range(k + 1, 6)], v


@pytest.mark.clause("FLT-JSON-1")
def test_numbers_on_a_path_compare_numerically(store: Store) -> None:
    values = [-1e300, -2, -0.5, 0, 0.25, 2, 10, 100, 2**53]
    store.insert_many(ITEMS, [item(f"r{k}", j={"v": v}) for k, v in enumerate(values)])
    assert _find(store, gt(path("j", "v"), 9)) == ["r6", "r7", "r8"]  # 10 > 9 although "10" < "9"
    assert _find(store, lt(path("j", "v"), 0)) == ["r0", "r1", "r2"]
    assert _find(store, eq(path("j", "v"), 2**53)) == ["r8"]
    assert _find(store, eq(path("j", "v"), 0.25)) == ["r4"]


@pytest.mark.clause("FLT-JSON-1")
def test_paths_select_nested_object_keys_and_never_index_arrays(store: Store) -> None:
    store.insert_many(
        ITEMS,
        [
            item("deep", j={"a": {"b": {"c": "x"}}}),
            item("shallow", j={"a": {"b": "x"}}),
            item("array", j={"a": [{"b": "x"}], "l": ["x", "y"]}),
            item("keyed", j={"a": {"b": {"c": "y"}}, "l": {"0": "x", "1": "y"}}),
        ],
    )
    assert _find(store, eq(path("j", "a", "b", "c"), "x")) == ["deep"]
    assert _find(store, eq(path("j", "a", "b"), "x")) == ["shallow"]
    assert _find(store, eq(path("j", "l", "0"), "x")) == ["keyed"]
    assert _find(store, eq(path("j", "l", "1"), "y")) == ["keyed"]
    assert _find(store, is_null(path("j", "l", "0"))) == ["array", "deep", "shallow"]


@pytest.mark.clause("FLT-JSON-2")
def test_is_null_matches_null_fields_missing_paths_and_json_null(typed: Store) -> None:
    assert _find(typed, is_null(V)) == ["missing", "null", "scalar-doc", "sql-null"]
    assert _find(typed, eq(V, None)) == ["missing", "null", "scalar-doc", "sql-null"]
    assert _find(typed, not_(is_null(V))) == sorted(
        ["int", "float", "frac", "str", "true", "false", "zero", "obj", "arr"]
    )
    assert _find(typed, is_null(path("j", "v", "x"))) == sorted(set(TYPED_DOCS) - {"obj"})


@pytest.mark.clause("FLT-JSON-2")
def test_ne_matches_present_non_null_values_of_any_type(typed: Store) -> None:
    assert _find(typed, ne(V, 1)) == sorted(["frac", "str", "true", "false", "zero", "obj", "arr"])
    assert _find(typed, ne(V, "1")) == sorted(
        ["int", "float", "frac", "true", "false", "zero", "obj", "arr"]
    )
    assert _find(typed, ne(V, True)) == sorted(
        ["int", "float", "frac", "str", "false", "zero", "obj", "arr"]
    )
    assert _find(typed, not_in(V, [1, True])) == sorted(
        ["frac", "str", "false", "zero", "obj", "arr"]
    )
    assert _find(typed, not_in(V, [])) == sorted(
        ["int", "float", "frac", "str", "true", "false", "zero", "obj", "arr"]
    )


@pytest.mark.clause("FLT-JSON-2")
def test_comparisons_are_false_on_missing_and_null_but_their_negation_is_true(
    typed: Store,
) -> None:
    absent = ["missing", "null", "scalar-doc", "sql-null"]
    for where in (eq(V, 1), lt(V, 100), gt(V, ""), ne(V, 1), in_(V, [1, "1"]), not_in(V, [2])):
        got = _find(typed, where)
        assert not set(got) & set(absent), f"{where!r} matched {set(got) & set(absent)}"
        assert set(absent) <= set(_find(typed, not_(where))), f"not_({where!r})"
    assert typed.count(ITEMS, and_(not_(eq(V, 1)), not_(ne(V, 1)))) == len(absent)


KEYS = [
    "a.b",
    "it's",
    'say "hi"',
    "'\"",
    "$",
    "$.a",
    "$ref",
    "[0]",
    "a[0]",
    "?",
    "?(@.x)",
    "*",
    "back\\slash",
    "sp ace",
    "ключ",
    "😀",
    "e\u0301",
    "é",
    "{a}",
    "-1",
    "0",
]


@pytest.mark.clause("FLT-JSON-3")
def test_path_keys_are_data_never_syntax(store: Store) -> None:
    stored: list[str] = []
    for k, key in enumerate(KEYS):
        doc = {key: k, "a": {"b": -1, "[0]": -1}, "b": -1}
        try:
            store.insert(ITEMS, item(f"r{k:02}", j=doc))
        except ValidationError as exc:  # JSON-4 lets an adapter refuse a key it cannot store
            assert (exc.model, exc.field) == ("items", "j"), f"{key!r}: {exc!r}"
            continue
        stored.append(key)
    for k, key in enumerate(KEYS):
        got = ids(store.find(ITEMS, eq(path("j", key), k)))
        assert got == ([f"r{k:02}"] if key in stored else []), f"path key {key!r}"
    # Nested: a dotted key is one key, not two levels.
    assert sorted(ids(store.find(ITEMS, eq(path("j", "a", "b"), -1)))) == [
        f"r{k:02}" for k, key in enumerate(KEYS) if key in stored
    ]
    assert sorted(ids(store.find(ITEMS, eq(path("j", "a", "[0]"), -1)))) == [
        f"r{k:02}" for k, key in enumerate(KEYS) if key in stored
    ]


@pytest.mark.clause("FLT-JSON-3")
def test_a_key_with_a_quote_does_not_escape_the_path(store: Store) -> None:
    store.insert_many(
        ITEMS,
        [item("x", j={"v": "secret"}), item("y", j={"v'": "other", 'v"': "third"})],
    )
    for key in ("v'", 'v"', "v' or '1'='1", 'v") or ("1"="1', "v\\", "v'--"):
        got = ids(store.find(ITEMS, eq(path("j", key), "secret")))
        assert got == [], f"path key {key!r} matched {got}"
    assert ids(store.find(ITEMS, eq(path("j", "v'"), "other"))) == ["y"]
    assert ids(store.find(ITEMS, eq(path("j", 'v"'), "third"))) == ["y"]


@pytest.mark.clause("FLT-JSON-1")
def test_a_path_compares_only_with_json_scalars(store: Store) -> None:
    for value in ([1], {"a": 1}, 2**53 + 1, float("nan")):
        rejected(partial(store.find, ITEMS, eq(V, value)), model="items", field="j")
    rejected(lambda: store.find(ITEMS, eq(path("s", "x"), 1)), model="items", field="s")


@pytest.mark.clause("FLT-JSON-4")
def test_a_path_into_a_deep_document_answers_right_or_refuses(store: Store) -> None:
    # MAX_JSON_DEPTH containers (the most allowed): every level holds v=2 beside the
    # next one, the innermost v=1; the longest portable path reaches level MAX_PATH_KEYS.
    deep: Any = {"v": 1}
    for _ in range(MAX_JSON_DEPTH - 1):
        deep = {"d": deep, "v": 2}
    store.insert_many(ITEMS, [item("deep", j=deep), item("flat", j={"v": 1})])
    longest = path("j", *(["d"] * (MAX_PATH_KEYS - 1)), "v")
    cases = [
        (eq(V, 1), ["flat"]),
        (eq(V, 2), ["deep"]),
        (is_null(V), []),
        (eq(longest, 2), ["deep"]),
        (is_null(longest), ["flat"]),
    ]
    for where, expected in cases:
        try:
            found = _find(store, where)
        except UnsupportedError as exc:  # allowed: a refusal naming the field, never a wrong answer
            assert (exc.model, exc.field) == ("items", "j")
        else:
            assert found == expected
