"""Hypothesis strategies: rows, filters and orders drawn from small pools of edge values.

Pools are small on purpose, so that random rows tie on sort keys and random filters
hit stored values; every pool value is already canonical (what the kit stores), so
the oracle can compare them as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from noorm.spec import (
    Filter,
    Order,
    Ref,
    Row,
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

from .models import SORTABLE

__all__ = ["POOLS", "filters", "orders", "page_sizes", "rows"]

POOLS: dict[str, list[Any]] = {
    "s": ["", "a", "B", "b", "é", "e\u0301", "😀", "\uffff"],
    "short": ["", "ab", "é", "😀"],
    "n": [-1.5, 0.0, 5e-324, 1.0, 2.5],
    "i": [-(2**63), -1, 0, 1, 2**53 + 1, 2**63 - 1],
    "b": [False, True],
    "t": [
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, 0, 1000, tzinfo=UTC),
    ],
    "j": [{"v": 1}, {"v": 1.0}, {"v": "1"}, {"v": True}, {"v": None}, {}, {"v": "a"}, {"v": 2}],
}
"""The values each ITEMS field draws from (NULL is added by the strategies)."""

JSON_PROBES: list[Any] = [1, 1.0, "1", "a", True, False, 0, 2, 1.5]

_ORDERING = (lt, lte, gt, gte)


def _value(field: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.sampled_from(POOLS[field]))


def rows(max_size: int = 20) -> st.SearchStrategy[list[Row]]:
    """Lists of ITEMS rows with keys r000, r001, ... (possibly inserted in another order)."""
    one = st.fixed_dictionaries({field: _value(field) for field in POOLS})
    return st.lists(one, max_size=max_size).flatmap(
        lambda drawn: st.permutations(
            [{"id": f"r{k:03}", **values} for k, values in enumerate(drawn)]
        )
    )


def _field_leaf(field: str) -> st.SearchStrategy[Filter]:
    value = st.sampled_from(POOLS[field])
    values = st.lists(value, max_size=3)
    return st.one_of(
        st.builds(lambda op, v: op(field, v), st.sampled_from((eq, ne, *_ORDERING)), value),
        st.builds(lambda op, vs: op(field, vs), st.sampled_from((in_, not_in)), values),
        st.just(is_null(field)),
    )


def _path_leaf() -> st.SearchStrategy[Filter]:
    ref: Ref = path("j", "v")
    scalar = st.sampled_from(JSON_PROBES)
    return st.one_of(
        st.builds(lambda op, v: op(ref, v), st.sampled_from((eq, ne)), scalar),
        st.builds(lambda op, v: op(ref, v), st.sampled_from(_ORDERING), scalar),
        st.builds(
            lambda op, vs: op(ref, vs), st.sampled_from((in_, not_in)), st.lists(scalar, max_size=3)
        ),
        st.just(is_null(ref)),
        st.just(is_null("j")),
    )


def filters(*, json_paths: bool = False) -> st.SearchStrategy[Filter]:
    """Random filter trees over ITEMS (paths into ``j`` when ``json_paths``)."""
    leaves = st.one_of(*(_field_leaf(f) for f in SORTABLE))
    if json_paths:
        leaves = st.one_of(leaves, _path_leaf())
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(lambda items: and_(*items)),
            st.lists(children, max_size=3).map(lambda items: or_(*items)),
            children.map(not_),
        ),
        max_leaves=6,
    )


def orders() -> st.SearchStrategy[list[Order]]:
    """Random orders: a few distinct sortable fields (or the key), each either direction."""
    fields = st.lists(st.sampled_from([*SORTABLE, "id"]), unique=True, max_size=3)
    return fields.flatmap(
        lambda names: st.tuples(*(st.booleans() for _ in names)).map(
            lambda flags: [Order(n, descending=d) for n, d in zip(names, flags, strict=True)]
        )
    )


def page_sizes(max_size: int = 25) -> st.SearchStrategy[int]:
    return st.integers(min_value=1, max_value=max_size)
