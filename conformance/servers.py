"""Where a server-backed conformance factory finds its server.

The URL comes from an environment variable (``eval "$(ci/services)"`` sets them);
without one, a throwaway container is started once per process through
testcontainers when a Docker engine answers; otherwise a RuntimeError says how to
provide a server. One place for this, so every server factory behaves the same.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ServerURL", "docker_engine"]


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

    ``container`` builds a started testcontainers container from its module (imported
    lazily, so testcontainers is needed only where a container is actually used);
    ``url_of`` reads its URL. ``hint`` says, in the error, what URL to provide.
    """

    def __init__(
        self,
        url_env: str,
        *,
        image: str,
        module: str,
        container: Callable[[Any, str], Any],
        url_of: Callable[[Any], str],
        hint: str,
    ) -> None:
        self.url_env = url_env
        self.image = image
        self._module = module
        self._container = container
        self._url_of = url_of
        self._hint = hint
        self._started: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        url = os.environ.get(self.url_env)
        if url:
            return url
        with self._lock:
            if self._started is None:
                self._started = self._start()
            return self._started

    def _start(self) -> str:
        if not docker_engine():
            raise RuntimeError(
                f"{self.url_env} is not set and no Docker engine is reachable: point "
                f'{self.url_env} at {self._hint} (eval "$(ci/services)" starts one and exports it)'
            )
        try:
            module = importlib.import_module(self._module)
        except ImportError as exc:
            raise RuntimeError(
                f"{self.url_env} is not set; to start a {self.image} container instead, "
                "pip install 'no-orm[containers]'"
            ) from exc
        container = self._container(module, self.image)
        atexit.register(container.stop)
        return self._url_of(container)
