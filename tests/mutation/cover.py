"""A pytest plugin that records which test runs which line (``-p tests.mutation.cover``).

The mutation runner loads it once per command on the unmutated snapshot. Coverage
starts when pytest loads the plugin (before ``noorm`` is imported), and every test's
setup, call and teardown run under a dynamic context named by its node id, so lines run
at import time keep the empty context. A mutant on a line that some tests run only
needs those tests; see :func:`tests.mutation.runner.guided_plan`.

Environment: ``NOORM_MUTATION_COVERAGE`` is the coverage data file (the per-test
durations go to the same path plus ``.durations.json``), ``NOORM_MUTATION_INCLUDE``
the file pattern to measure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path

import coverage
import pytest

_DATA = os.environ["NOORM_MUTATION_COVERAGE"]
_COVERAGE = coverage.Coverage(
    data_file=_DATA, include=[os.environ["NOORM_MUTATION_INCLUDE"]], config_file=False
)
_COVERAGE.start()
_DURATIONS: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    _COVERAGE.switch_context(item.nodeid)
    yield
    _COVERAGE.switch_context("")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _DURATIONS[report.nodeid] = _DURATIONS.get(report.nodeid, 0.0) + report.duration


def pytest_unconfigure(config: pytest.Config) -> None:
    _COVERAGE.stop()
    _COVERAGE.save()
    Path(_DATA + ".durations.json").write_text(json.dumps(_DURATIONS), encoding="utf-8")
