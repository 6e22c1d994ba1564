"""Private, throwaway database servers for fault tests: never the shared ``ci/services`` ones.

A fault test stops, kills and restarts its server; doing that to the shared servers
would break every other test running against them. Each server here lives in its own
temporary directory on its own loopback port, runs as the distribution's service user
(``initdb`` and ``mariadbd`` refuse to run as root) and is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "PrivateFerretDB",
    "PrivateMariaDB",
    "PrivatePostgres",
    "ferretdb_binary",
    "free_port",
    "mariadb_available",
    "postgres_bin",
    "private_postgres",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries of the distribution, if installed."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def mariadb_available() -> bool:
    return Path("/usr/sbin/mariadbd").exists() and shutil.which("mariadb-install-db") is not None


def _as_user(user: str, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``args`` as ``user`` when running as root (the servers refuse root), else as is."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", user, "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port} after {timeout} s")


class PrivatePostgres:
    """``initdb`` + ``pg_ctl`` in a temporary directory; trust authentication on loopback."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="noorm-fault-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        _as_user(
            "postgres",
            [str(bin_dir / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8", "--locale=C"],
        )  # fmt: skip
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c full_page_writes=off"  # commits reach the WAL: a crash keeps them
        )
        _as_user(
            "postgres",
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
             "-o", options, "-w", "-t", "60", *args],
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")
        _wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session cleanly; ``immediate`` is a crash."""
        self._ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateMariaDB:
    """``mariadb-install-db`` + ``mariadbd`` in a temporary directory, without grant
    tables (any user connects), on a loopback port."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="noorm-fault-mariadb-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            shutil.chown(self.root, "mysql", "mysql")
        _as_user(
            "mysql",
            ["mariadb-install-db", f"--datadir={self.data}", "--auth-root-authentication-method=normal",
             "--skip-test-db"],
        )  # fmt: skip
        self.start()

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/noorm"

    def start(self) -> None:
        args = [
            "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--datadir={self.data}",
            f"--socket={self.root / 'sock'}",
            f"--pid-file={self.root / 'pid'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-grant-tables",
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-buffer-pool-size=32M",
            "--character-set-server=utf8mb4",
        ]
        if os.geteuid() == 0:
            args = ["runuser", "-u", "mysql", "--", *args]
        log = (self.root / "log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        _wait_for_port(self.port)
        import pymysql

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE IF NOT EXISTS noorm CHARACTER SET utf8mb4")
        conn.close()

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (a clean shutdown) or SIGKILL (a crash), then wait."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        self.process.wait(timeout=60)
        self.process = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    server = PrivatePostgres(bin_dir)
    try:
        yield server
    finally:
        server.close()


class PrivateFerretDB:
    """FerretDB (the binary ``ci/services`` builds) on its SQLite backend, in a temporary
    directory on a loopback port."""

    def __init__(self, binary: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="noorm-fault-ferretdb-"))
        (self.root / "data").mkdir()
        self.port = free_port()
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, f"--listen-addr=127.0.0.1:{self.port}", "--handler=sqlite",
             f"--sqlite-url=file:{self.root / 'data'}/", "--telemetry=disable",
             f"--state-dir={self.root}", "--debug-addr=-", "--log-level=error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(self.port)

    def restart(self, *, kill: bool = False) -> None:
        if self.process is not None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(timeout=30)
        self.start()

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


def ferretdb_binary() -> str | None:
    cache = os.environ.get("NOORM_CACHE", os.path.expanduser("~/.cache/noorm"))
    binary = os.path.join(cache, "bin", "ferretdb")
    return binary if os.access(binary, os.X_OK) else None
