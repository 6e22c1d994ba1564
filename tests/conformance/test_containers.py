"""The container path of ServerURL, for real: start one PostgreSQL container, use its URL.

Runs where a Docker engine answers (``ci/containers`` starts one and builds the local
images); skips, saying why, everywhere else. The image is ``NOORM_POSTGRES_IMAGE``
(``ci/images`` exports ``noorm-local/postgres:15``), else the official ``postgres:16``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from urllib.parse import urlsplit

import psycopg
import pytest

from noorm.adapters.postgres.testing import ConformanceFactory
from noorm.adapters.servers import ServerURL, docker_engine

pytestmark = [
    pytest.mark.skipif(
        not docker_engine(),
        reason="no Docker engine answers (`docker info` fails): the container path is "
        "not exercised here; ci/containers runs it",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("testcontainers") is None,
        reason="testcontainers is not installed (pip install 'no-orm[containers]')",
    ),
]

UNSET = "NOORM_TEST_NEVER_SET_URL"


def _image_available(image: str) -> str | None:
    """None when ``image`` is local or can be pulled, else why not."""
    docker = importlib.import_module("docker")  # testcontainers' dependency
    client = docker.from_env()
    try:
        client.images.get(image)
        return None
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(image)
            return None
        except docker.errors.APIError as exc:
            return f"{image} is not local and cannot be pulled ({exc.explanation})"
    finally:
        client.close()


def test_a_container_is_started_and_its_url_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    factory = ConformanceFactory(url_env=UNSET)  # never set: only a container can answer
    server = factory.url
    assert isinstance(server, ServerURL)
    image = os.environ.get("NOORM_POSTGRES_IMAGE") or "postgres:16"
    why = _image_available(image)
    if why is not None:
        pytest.skip(f"{why}; set NOORM_POSTGRES_IMAGE (ci/images builds noorm-local/postgres:15)")
    config = importlib.import_module("testcontainers.core.config").testcontainers_config
    if not config.ryuk_disabled and (why := _image_available(config.ryuk_image)) is not None:
        pytest.skip(f"testcontainers' reaper: {why}; set TESTCONTAINERS_RYUK_DISABLED=true")
    try:
        url = server()
        assert server() == url, "one container per process"
        parts = urlsplit(url)
        assert parts.hostname in {"127.0.0.1", "localhost"}
        assert parts.port is not None and parts.port != 5432  # a published, random port
        with psycopg.connect(url, connect_timeout=10) as conn:
            row = conn.execute("select current_setting('server_version_num')::int").fetchone()
        assert row is not None and row[0] >= 150000
        adapter = factory()  # the factory's own schema-per-adapter path on that server
        try:
            assert adapter.server_version().startswith("PostgreSQL")
        finally:
            adapter.close()
    finally:
        server.stop()
