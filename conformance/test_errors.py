"""Spec clause ERR-1: one error hierarchy; nothing from a driver leaks out unwrapped."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from noorm.kit import Store
from noorm.spec import (
    ALL,
    BackendError,
    DuplicateKeyError,
    InvalidCursorError,
    NoOrmError,
    SchemaError,
    SchemaMismatchError,
    UnsupportedError,
    ValidationError,
    eq,
)

from .conftest import CURSOR_KEY, StoreMaker
from .models import ITEMS, SCHEMA, item
from .plugin import Subject


@pytest.mark.clause("ERR-1")
def test_the_error_hierarchy() -> None:
    assert issubclass(SchemaError, ValidationError)
    assert issubclass(InvalidCursorError, ValidationError)
    for kind in (ValidationError, DuplicateKeyError, UnsupportedError, BackendError):
        assert issubclass(kind, NoOrmError) and kind is not NoOrmError
    assert not issubclass(DuplicateKeyError, ValidationError)
    assert not issubclass(BackendError, ValidationError)
    # Found by reading the database, not in the input, and no driver failure (BOOT-6).
    assert issubclass(SchemaMismatchError, NoOrmError)
    assert not issubclass(SchemaMismatchError, (ValidationError, BackendError))
    mismatch = SchemaMismatchError("redefined", model="items", index="items_s")
    assert (mismatch.model, mismatch.field, mismatch.index) == ("items", None, "items_s")
    error = ValidationError("too long", model="items", field="short")
    assert (error.model, error.field) == ("items", "short") and "items.short" in str(error)


def _operations(store: Store) -> dict[str, Callable[[], object]]:
    return {
        "insert": lambda: store.insert(ITEMS, item("a")),
        "find": lambda: store.find(ITEMS, eq("i", 1)),
        "get": lambda: store.get(ITEMS, {"id": "a"}),
        "count": lambda: store.count(ITEMS),
        "update": lambda: store.update(ITEMS, {"i": 1}, where=ALL),
        "upsert": lambda: store.upsert(ITEMS, item("a"), update=["i"]),
        "delete": lambda: store.delete(ITEMS, where=ALL),
    }


@pytest.mark.clause("ERR-1")
def test_operations_on_a_model_that_was_never_bootstrapped_raise_only_noorm_errors(
    make_store: StoreMaker,
) -> None:
    """A missing table is a backend failure: a BackendError naming the model, that says
    bootstrap() creates it."""
    store = make_store(bootstrap=False)
    for name, call in _operations(store).items():
        try:
            call()  # a backend that creates collections on first use may just work
        except NoOrmError as exc:
            assert isinstance(exc, BackendError), f"{name}: {exc!r}"
            assert exc.model == "items", f"{name}: the error does not name the model: {exc!r}"
            assert "does not exist" in str(exc) and "bootstrap()" in str(exc), (
                f"{name}: the error does not say the table is missing: {exc}"
            )


@pytest.mark.clause("ERR-1")
def test_a_closed_adapter_raises_backend_errors_not_driver_errors(under_test: Subject) -> None:
    adapter = under_test.factory()
    store = Store(SCHEMA, adapter, cursor_key=CURSOR_KEY)
    store.bootstrap()
    store.insert(ITEMS, item("a"))
    adapter.close()
    for name, call in _operations(store).items():
        try:
            call()  # an adapter may reopen on demand
        except NoOrmError as exc:
            assert isinstance(exc, BackendError), f"{name}: {exc!r}"
