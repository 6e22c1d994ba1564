"""Opening and checking PyMySQL connections: URLs, session settings, one-line failures.

Every connection the adapter uses must

- be in autocommit mode: the adapter issues ``START TRANSACTION``/``SAVEPOINT``/
  ``COMMIT`` itself, so the driver must not open transactions behind its back;
- carry ``CLIENT.FOUND_ROWS``, so that UPDATE reports rows *matched*, not rows
  changed (OP-UPD; the upsert relies on it too);
- use the ``utf8mb4`` charset (``utf8``/``utf8mb3`` cannot carry astral characters);
- have a default database (every statement names tables, never ``db.table``).

Connections opened from a URL also run :data:`SESSION_SETUP` (UTC time zone, a strict
``sql_mode``). TLS follows PyMySQL's default (used when the server
offers it) unless ``ssl_*`` options say more; a server seen without TLS support is
remembered, so later connections to it skip building a TLS context they could not use
(PyMySQL loads the system CA store for each one, which costs more than a local handshake).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias
from urllib.parse import parse_qsl, unquote, urlsplit

import pymysql
from pymysql.constants import CLIENT, SERVER_STATUS

from noorm.spec.errors import BackendError

from .dialect import error_code, one_line

__all__ = [
    "SESSION_SETUP",
    "ConnectParams",
    "Connection",
    "ConnectionFactory",
    "cannot_connect",
    "check_connection",
    "check_settings",
    "connect",
    "connect_options",
    "offers_tls",
    "parse_url",
    "tls_context",
]

if TYPE_CHECKING:
    Connection: TypeAlias = pymysql.Connection[Any]
else:  # PyMySQL's class is generic only in its type stubs
    Connection = pymysql.Connection

ConnectionFactory: TypeAlias = Callable[[], Connection]
"""A zero-argument callable returning a new, open PyMySQL connection."""

SESSION_SETUP = (
    "SET SESSION time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
)
"""Run on every connection the adapter opens from a URL (use it as ``init_command`` of
connections you pass). The order of strings does not depend on it: how much of a
string MariaDB sorts by is set on each statement that sorts strings (``SET STATEMENT
max_sort_length``, see :mod:`.dialect`), so a connection you pass, or one PyMySQL
reconnects, sorts exactly like the adapter's own."""

_SCHEMES = frozenset({"mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql"})
_OPTIONS = {"connect_timeout": float, "read_timeout": float, "write_timeout": float}
_PATH_OPTIONS = ("unix_socket", "ssl_ca", "ssl_cert", "ssl_key")
_WITHOUT_TLS: set[str] = set()
_WITHOUT_TLS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class ConnectParams:
    """What :func:`connect` needs; built by :func:`parse_url` (the password is never shown)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    options: dict[str, Any] = field(default_factory=dict)

    def with_database(self, database: str) -> ConnectParams:
        return replace(self, database=database)

    @property
    def where(self) -> str:
        socket = self.options.get("unix_socket")
        return f"{socket}" if socket else f"{self.host}:{self.port}"


def parse_url(url: str, *, connect_timeout: float = 5.0) -> ConnectParams:
    """``mysql://user:password@host:port/database?option=value`` as :class:`ConnectParams`.

    Options: ``connect_timeout``, ``read_timeout``, ``write_timeout`` (seconds),
    ``unix_socket``, ``ssl_ca``, ``ssl_cert``, ``ssl_key``. Anything else is refused,
    so a misspelt option never goes unnoticed.
    """
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            f"expected a mysql:// or mariadb:// URL, got scheme {parts.scheme or '(none)'!r}"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ValueError("the URL must name one database: mysql://user:password@host/database")
    options: dict[str, Any] = {"connect_timeout": connect_timeout}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OPTIONS:
            options[key] = _OPTIONS[key](value)
        elif key in _PATH_OPTIONS:
            options[key] = value
        else:
            allowed = ", ".join([*_OPTIONS, *_PATH_OPTIONS])
            raise ValueError(f"unknown URL option {key!r} (allowed: {allowed})")
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise ValueError(f"bad port in the URL: {exc}") from None
    return ConnectParams(
        host=parts.hostname or "127.0.0.1",
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=database,
        options=options,
    )


def connect_options(params: ConnectParams) -> dict[str, Any]:
    """The connection arguments both drivers take (PyMySQL's names, which aiomysql shares):
    the server, the user, the database and the adapter's session settings."""
    return {
        "host": params.host,
        "port": params.port,
        "user": params.user,
        "password": params.password,
        "database": params.database,
        "charset": "utf8mb4",
        "autocommit": True,
        "client_flag": CLIENT.FOUND_ROWS,
        "init_command": SESSION_SETUP,
    }


def connect(params: ConnectParams) -> Connection:
    """A new connection with the adapter's session settings; BackendError on failure."""
    options = dict(params.options)
    default_tls = not any(key.startswith("ssl") for key in options)
    if default_tls and params.where in _WITHOUT_TLS:
        options["ssl_disabled"] = True  # what PyMySQL would fall back to anyway
    try:
        conn = pymysql.connect(**connect_options(params), **options)
        if default_tls:
            offers_tls(params, conn)
        return conn
    except pymysql.err.MySQLError as exc:
        raise BackendError(cannot_connect(params, exc)) from exc
    except OSError as exc:  # e.g. a unix socket path that does not exist
        raise BackendError(f"cannot connect to {params.where}: {exc}") from exc


def offers_tls(params: ConnectParams, conn: object) -> bool:
    """Whether the server of ``conn`` offers TLS; one that does not is remembered, so
    later connections to it skip building a TLS context."""
    capabilities: int = getattr(conn, "server_capabilities", CLIENT.SSL)
    if not capabilities & CLIENT.SSL:
        with _WITHOUT_TLS_LOCK:
            _WITHOUT_TLS.add(params.where)
        return False
    return True


def tls_context(params: ConnectParams) -> ssl.SSLContext | None:
    """The TLS context for a driver that takes one (aiomysql), as PyMySQL builds it from
    the same URL options (``ssl_ca``, ``ssl_cert``, ``ssl_key``; like PyMySQL without
    its ``ssl_verify_*`` options, the server's certificate is not verified); without
    them TLS where the server offers it (PyMySQL's default): None for a server seen
    without TLS."""
    ca = params.options.get("ssl_ca")
    cert = params.options.get("ssl_cert")
    default = ca is None and cert is None and params.options.get("ssl_key") is None
    if default and params.where in _WITHOUT_TLS:
        return None
    context = ssl.create_default_context(cafile=ca)
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # as PyMySQL: servers' own certificates
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(cert, params.options.get("ssl_key"))
    return context


def cannot_connect(params: ConnectParams, exc: pymysql.err.MySQLError) -> str:
    code = error_code(exc)
    reason = one_line(exc)
    if code == 1045:
        return f"access denied for user {params.user!r} at {params.where} (wrong user or password): {reason}"
    if code == 1049:
        return f"database {params.database!r} does not exist on {params.where}: {reason}"
    if code in (2002, 2003, 2005, 2013):
        return f"cannot reach a MySQL/MariaDB server at {params.where}: {reason}"
    return f"cannot connect to {params.where} (error {code}): {reason}"


class Settings(Protocol):
    """What :func:`check_settings` reads of a connection (PyMySQL's and aiomysql's alike)."""

    @property
    def client_flag(self) -> int: ...

    @property
    def charset(self) -> str: ...

    def get_autocommit(self) -> bool: ...


def check_connection(conn: Connection) -> None:
    """Refuse a connection the adapter cannot use correctly (ValueError saying why)."""
    if not conn.open:
        raise ValueError("the connection is closed")
    check_settings(conn)


def check_settings(conn: Settings) -> None:
    """Refuse an open connection whose settings the adapter cannot work with
    (ValueError saying why): PyMySQL's or aiomysql's."""
    if not conn.get_autocommit():
        raise ValueError(
            "pass a connection in autocommit mode (pymysql.connect(..., autocommit=True)): "
            "the adapter begins and commits transactions itself"
        )
    if not conn.client_flag & CLIENT.FOUND_ROWS:
        raise ValueError(
            "pass a connection opened with client_flag=pymysql.constants.CLIENT.FOUND_ROWS, "
            "so that UPDATE counts the rows it matched"
        )
    if conn.charset != "utf8mb4":
        raise ValueError(
            f"the connection's charset is {conn.charset!r}; open it with charset='utf8mb4'"
        )
    status: int = getattr(conn, "server_status", None) or 0  # not in the type stubs
    if status & SERVER_STATUS.SERVER_STATUS_IN_TRANS:
        raise ValueError("the connection is inside a transaction; commit or roll it back first")
    if not getattr(conn, "db", None):
        raise ValueError("the connection has no default database (pass database=...)")
