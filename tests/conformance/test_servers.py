"""ServerURL: the environment's URL, else a container, else a clear error."""

from __future__ import annotations

from typing import Any

import pytest

from noorm.adapters.servers import ServerURL, docker_engine


def _server(started: list[str]) -> ServerURL:
    def container(module: Any, image: str) -> Any:
        started.append(image)
        raise AssertionError("no container may start in these tests")

    return ServerURL(
        "NOORM_TEST_SERVER_URL",
        image="db:1",
        module="json",
        container=container,
        url_of=str,
        hint="a test server",
    )


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setenv("NOORM_TEST_SERVER_URL", "db://here")
    assert _server(started)() == "db://here"
    assert started == []


@pytest.mark.skipif(docker_engine(), reason="a Docker engine answers here: no error to check")
def test_without_url_or_docker_the_error_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOORM_TEST_SERVER_URL", raising=False)
    with pytest.raises(
        RuntimeError, match=r"NOORM_TEST_SERVER_URL is not set.*a test server.*ci/services"
    ):
        _server([])()
