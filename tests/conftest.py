"""Shared fixtures: ``adapter`` runs a test on every adapter this machine can reach."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from noorm.spec import Adapter

ADAPTERS = ["memory", "sqlite"]


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    name = request.param
    made: Adapter
    if name == "memory":
        from noorm.adapters.memory import MemoryAdapter

        made = MemoryAdapter()
    else:
        from noorm.adapters.sqlite import SQLiteAdapter

        made = SQLiteAdapter(tmp_path / "test.sqlite3")
    yield made
    made.close()
