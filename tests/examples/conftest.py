"""``adapter``: each example test runs on every adapter, servers included.

Server backends read their URL from the environment (``eval "$(ci/services)"`` sets
NOORM_POSTGRES_URL, NOORM_MYSQL_URL and NOORM_MONGODB_URL; ``eval "$(ci/citus)"`` sets
NOORM_CITUS_URL) and are skipped, with that message, where none is set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from noorm.conformance.targets import TARGETS
from noorm.spec import Adapter


def _factory(name: str) -> Callable[[], Adapter]:
    target = TARGETS[name]
    if target.url_env is not None and not os.environ.get(target.url_env):
        starts = "ci/citus" if name == "citus" else "ci/services"
        pytest.skip(f'{name}: set {target.url_env} (eval "$({starts})" starts a server)')
    if name == "mongodb":
        # FerretDB has no transactions; hebo-gateway opts in to non-atomic blocks explicitly.
        from noorm.adapters.mongodb.testing import ConformanceFactory

        return ConformanceFactory(allow_non_atomic_transactions=True)
    return target.load()


@pytest.fixture(params=sorted(TARGETS))
def adapter(request: pytest.FixtureRequest) -> Iterator[Adapter]:
    made = _factory(request.param)()
    yield made
    made.close()
