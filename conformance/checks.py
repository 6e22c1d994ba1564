"""Assertion helpers shared by the conformance tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from noorm.kit import Store
from noorm.spec import ALL, Model, NoOrmError, Row, ValidationError

__all__ = ["all_rows", "ids", "rejected", "unchanged"]


def ids(rows: Iterable[Any], key: str = "id") -> list[Any]:
    """The ``key`` values of ``rows``, in order."""
    return [r[key] for r in rows]


def all_rows(store: Store, model: Model[Row]) -> list[Row]:
    """Every row of ``model`` in primary-key order (one unpaged find)."""
    return store.find(model, ALL).rows


def rejected(
    call: Callable[[], object],
    *,
    model: str,
    field: str | None,
    error: type[NoOrmError] = ValidationError,
) -> NoOrmError:
    """Run ``call``, expect ``error`` naming ``model`` and ``field`` (ERR-1), return it."""
    with pytest.raises(error) as caught:
        call()
    exc = caught.value
    assert exc.model == model, f"error names model {exc.model!r}, expected {model!r}: {exc}"
    assert exc.field == field, f"error names field {exc.field!r}, expected {field!r}: {exc}"
    for name in (model, field):
        if name is not None:
            assert name in str(exc), f"the message does not name {name!r}: {exc}"
    return exc


def unchanged(store: Store, model: Model[Row], before: list[Row]) -> None:
    """Assert that ``model`` holds exactly the rows ``before`` (nothing was written)."""
    after = all_rows(store, model)
    assert after == before, "a rejected write changed stored rows"
