"""Where a server-backed conformance factory finds its server.

The URL comes from an environment variable (``eval "$(ci/services)"`` sets them);
without one, a throwaway container is started once per process through
testcontainers when a Docker engine answers; otherwise a RuntimeError says how to
provide a server. One place for this, so every server factory behaves the same.
It lives beside the adapters, not in :mod:`noorm.conformance`: the adapters'
``testing`` modules use it, and nothing in the adapters imports the suite.

The image is the official one (``postgres:16``, ...) unless ``NOORM_<NAME>_IMAGE``
names another. Official images are started with testcontainers' own modules
(PostgresContainer, ...), which know their entrypoints and readiness log lines. An
image that describes itself with the labels ``org.no-orm.port`` (the server port),
``org.no-orm.url`` (a URL template with ``{host}`` and ``{port}``) and
``org.no-orm.ready`` (the log line printed once the server accepts that URL) is
started as a plain container instead: ``ci/images`` builds such images locally
(``noorm-local/postgres:15``, ...) for machines without an image registry.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["ServerURL", "docker_engine", "start_labelled"]

START_TIMEOUT = 180.0
"""Seconds a labelled image may take to print its ready line."""


def docker_engine() -> bool:
    """True when ``docker info`` answers: a Docker engine can start containers."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([docker, "info"], capture_output=True, timeout=15, check=False)
        return done.returncode == 0
    return False


class ServerURL:
    """Callable returning the server URL: the environment's, else a container's.

    The image is ``$image_env`` or ``image``. A labelled image (see the module
    docstring) is started by :func:`start_labelled`; any other by ``container``, which
    builds a started testcontainers container from the first importable of ``module``
    (imported lazily, so testcontainers is needed only where a container is actually
    used); ``url_of`` reads its URL. ``hint`` says, in the error, what URL to provide.
    """

    def __init__(
        self,
        url_env: str,
        *,
        image: str,
        image_env: str | None = None,
        module: str | Sequence[str],
        container: Callable[[Any, str], Any],
        url_of: Callable[[Any], str],
        hint: str,
    ) -> None:
        self.url_env = url_env
        self.image_env = image_env
        self.default_image = image
        self._modules = [module] if isinstance(module, str) else list(module)
        self._container = container
        self._url_of = url_of
        self._hint = hint
        self._started: str | None = None
        self._container_started: Any = None
        self._lock = threading.Lock()

    @property
    def image(self) -> str:
        """The image a container would be started from."""
        return (os.environ.get(self.image_env) if self.image_env else None) or self.default_image

    def __call__(self) -> str:
        url = os.environ.get(self.url_env)
        if url:
            return url
        with self._lock:
            if self._started is None:
                self._started = self._start()
            return self._started

    def stop(self) -> None:
        """Stop the container this started, if any (also done at exit)."""
        with self._lock:
            container, self._container_started, self._started = self._container_started, None, None
        if container is not None:
            container.stop()

    def _start(self) -> str:
        if not docker_engine():
            raise RuntimeError(
                f"{self.url_env} is not set and no Docker engine is reachable: point "
                f'{self.url_env} at {self._hint} (eval "$(ci/services)" starts one and exports it)'
            )
        image = self.image
        try:
            labels = _labels(image)
            module = None if labels is not None else _import_first(self._modules)
        except ImportError as exc:
            raise RuntimeError(
                f"{self.url_env} is not set; to start a {image} container instead, "
                "pip install 'no-orm[containers]'"
            ) from exc
        if labels is not None:
            self._container_started, url = start_labelled(image, labels)
        else:
            self._container_started = self._container(module, image)
            url = self._url_of(self._container_started)
        atexit.register(self.stop)
        return url


def _import_first(names: Sequence[str]) -> Any:
    for name in names[:-1]:
        with contextlib.suppress(ImportError):
            return importlib.import_module(name)
    return importlib.import_module(names[-1])


def _labels(image: str) -> dict[str, str] | None:
    """The ``org.no-orm.*`` labels of a local image, or None (not local, or unlabelled)."""
    docker = importlib.import_module("docker")
    client = docker.from_env()
    try:
        labels = client.images.get(image).labels or {}
    except docker.errors.ImageNotFound:
        return None
    finally:
        client.close()
    found = {k: str(v) for k, v in labels.items() if k.startswith("org.no-orm.")}
    needed = {"org.no-orm.port", "org.no-orm.url", "org.no-orm.ready"}
    return found if needed <= found.keys() else None


def start_labelled(
    image: str, labels: dict[str, str], timeout: float = START_TIMEOUT
) -> tuple[Any, str]:
    """Start a labelled image; once it is ready, return the container and its URL."""
    core = importlib.import_module("testcontainers.core.container")  # an optional dependency
    port = int(labels["org.no-orm.port"])
    container = core.DockerContainer(image).with_exposed_ports(port).start()
    try:
        _wait_for_line(container, labels["org.no-orm.ready"].encode(), timeout, image)
        host = container.get_container_host_ip()
        url = labels["org.no-orm.url"].format(host=host, port=container.get_exposed_port(port))
    except BaseException:
        container.stop()
        raise
    return container, url


def _wait_for_line(container: Any, line: bytes, timeout: float, image: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        out, err = container.get_logs()
        if line in out or line in err:
            return
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status != "running" or time.monotonic() > deadline:
            why = "timed out" if wrapped.status == "running" else f"is {wrapped.status}"
            tail = (out + err).decode(errors="replace")[-2000:]
            raise RuntimeError(f"container of {image} {why} before printing {line!r}:\n{tail}")
        time.sleep(0.2)
