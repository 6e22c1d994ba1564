"""Fixtures of the conformance suite: a fresh adapter per test, and stores on it.

They live in this conftest (not in the plugin) so that they are visible only to the
suite's own tests and never shadow a fixture of the project that runs the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import pytest

from noorm.kit import Plugin, QueryEvent, Store
from noorm.kit.store import Around
from noorm.spec import Adapter, Schema

from .models import SCHEMA
from .plugin import Subject, subject

__all__ = ["CURSOR_KEY", "StoreMaker", "adapter", "make_store", "store", "under_test"]

CURSOR_KEY = b"noorm-conformance-cursor-key-32b"
"""A fixed cursor key, so that cursors are reproducible between runs."""


class StoreMaker(Protocol):
    def __call__(
        self,
        schema: Schema = ...,
        *,
        plugins: Sequence[Plugin] = ...,
        on_query: Callable[[QueryEvent], None] | None = ...,
        around: Around | None = ...,
        log_parameters: bool = ...,
        bootstrap: bool = ...,
    ) -> Store: ...


@pytest.fixture
def under_test(request: pytest.FixtureRequest) -> Subject:
    """The adapter under test: its factory, name and capabilities."""
    return subject(request.config)


@pytest.fixture
def adapter(under_test: Subject) -> Iterator[Adapter]:
    """A fresh adapter on an empty database, closed after the test."""
    fresh = under_test.factory()
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def make_store(adapter: Adapter) -> StoreMaker:
    """Build a store on this test's adapter (bootstrapped unless told otherwise)."""

    def make(
        schema: Schema = SCHEMA,
        *,
        plugins: Sequence[Plugin] = (),
        on_query: Callable[[QueryEvent], None] | None = None,
        around: Around | None = None,
        log_parameters: bool = False,
        bootstrap: bool = True,
    ) -> Store:
        store = Store(
            schema,
            adapter,
            plugins=plugins,
            on_query=on_query,
            around=around,
            log_parameters=log_parameters,
            cursor_key=CURSOR_KEY,
        )
        if bootstrap:
            store.bootstrap()
        return store

    return make


@pytest.fixture
def store(make_store: StoreMaker) -> Store:
    """A bootstrapped store on the suite's schema (noorm.conformance.models.SCHEMA)."""
    return make_store()
