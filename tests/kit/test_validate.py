"""The compiled per-field checkers and the one-pass JSON copy agree with the general rules."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noorm.adapters.memory import MemoryAdapter
from noorm.kit import Store
from noorm.kit.validate import ModelPlan
from noorm.spec import (
    BooleanType,
    Field,
    IntegerType,
    JsonType,
    Model,
    NumberType,
    StringType,
    TimestampType,
    ValidationError,
)
from noorm.spec.limits import json_bytes
from noorm.spec.values import (
    MAX_INTEGER,
    MAX_SAFE_INTEGER,
    MAX_TIMESTAMP,
    MIN_INTEGER,
    MIN_TIMESTAMP,
    copy_json,
    normalize_json,
    normalize_value,
)

MODEL = Model(
    "m",
    [
        Field("id", IntegerType()),
        Field("s", StringType(4), nullable=True),
        Field("u", StringType()),
        Field("n", NumberType(), nullable=True),
        Field("b", BooleanType()),
        Field("t", TimestampType(), nullable=True),
        Field("j", JsonType(), nullable=True),
    ],
    primary_key="id",
)
PLAN = ModelPlan(MODEL)


class Text(str):
    pass


class Level(enum.IntEnum):
    HIGH = 3


class Stamp(datetime):
    pass


texts = st.text(max_size=6) | st.sampled_from(["\x00", "a\x00", "\ud800", "é", "\U0001f600"])
values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(
        [MIN_INTEGER, MAX_INTEGER, MIN_INTEGER - 1, MAX_INTEGER + 1, MAX_SAFE_INTEGER + 1]
    )
    | st.floats()
    | texts
    | texts.map(Text)
    | st.just(Level.HIGH)
    | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5))]) | st.none())
    | st.sampled_from([MIN_TIMESTAMP, MAX_TIMESTAMP, MAX_TIMESTAMP + timedelta(microseconds=1)])
    | st.datetimes(timezones=st.just(UTC)).map(lambda d: Stamp(d.year, d.month, d.day, tzinfo=UTC))
    | st.lists(st.integers(), max_size=2)
)


def _outcome(call: Any) -> Any:
    try:
        result = call()
    except ValidationError as exc:
        return ("error", str(exc))
    return ("value", type(result), result)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from([f.name for f in MODEL.fields if f.name != "j"]), value=values)
def test_a_checker_answers_exactly_like_normalize_value(field: str, value: Any) -> None:
    f = MODEL.field(field)
    fast = _outcome(lambda: PLAN.checkers[field](value))
    slow = _outcome(lambda: normalize_value(MODEL, f, value))
    if fast[0] == "value" and isinstance(fast[2], float) and math.isnan(fast[2]):
        pytest.fail("NaN accepted")
    assert fast == slow


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats()
    | texts
    | texts.map(Text),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(texts | texts.map(Text), inner, max_size=4)
        | st.tuples(inner)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_copy_json_equals_normalize_json_and_bounds_its_size(value: Any) -> None:
    fast = _outcome(lambda: copy_json(value, model="m", field="j")[0])
    slow = _outcome(lambda: normalize_json(value, model="m", field="j"))
    assert fast == slow
    if fast[0] == "value":
        copied, bound = copy_json(value, model="m", field="j")
        assert bound >= json_bytes(copied)


def test_copy_json_bounds_the_worst_escapes() -> None:
    for text in ['"' * 100, "\\" * 100, "\x01" * 100, "\U0001f600" * 100, "é" * 100]:
        for value in (text, [text], {text: text}):
            copied, bound = copy_json(value)
            assert copied == value
            assert bound >= json_bytes(copied)


def test_copy_json_refuses_what_normalize_json_refuses() -> None:
    deep: Any = 1
    for _ in range(65):  # one container more than MAX_JSON_DEPTH
        deep = [deep]
    for bad in ([math.inf], {"a": {1: 2}}, [2**53 + 1], ["\x00"], {"\x00": 1}, deep):
        with pytest.raises(ValidationError):
            copy_json(bad, model="m", field="j")
        with pytest.raises(ValidationError):
            normalize_json(bad, model="m", field="j")


def test_an_unknown_name_suggests_the_close_one() -> None:
    """A misspelt field or model gets a "did you mean"; a name like none gets none."""
    model = Model(
        "accounts", [Field("id", StringType(9)), Field("email", StringType(99))], primary_key=["id"]
    )
    store = Store([model], MemoryAdapter())
    store.bootstrap()
    cases: list[tuple[Callable[[], object], str, str | None, str | None]] = [
        (lambda: store.insert(model, {"id": "a", "emial": "x"}), "accounts", "emial", "'email'"),
        (lambda: store.find(model, {"emal": "x"}), "accounts", "emal", "'email'"),
        (lambda: store.find(model, order_by="mail"), "accounts", "mail", "'email'"),
        (lambda: store.model("acounts"), "acounts", None, "'accounts'"),
        (lambda: store.insert(model, {"id": "a", "zzz": 1}), "accounts", "zzz", None),
    ]
    for call, at_model, at_field, suggestion in cases:
        with pytest.raises(ValidationError) as caught:
            call()
        assert (caught.value.model, caught.value.field) == (at_model, at_field)
        if suggestion is None:
            assert "did you mean" not in str(caught.value)
        else:
            assert str(caught.value).endswith(f"(did you mean {suggestion}?)")
