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

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import parse_qsl, unquote, urlsplit

import pymysql
from pymysql.constants import CLIENT, SERVER_STATUS

from noorm.spec.errors import BackendError

from .dialect import PROBE_KEYS, MySQLDialect, error_code, one_line

__all__ = [
    "SESSION_SETUP",
    "ConnectParams",
    "Connection",
    "ConnectionFactory",
    "check_connection",
    "connect",
    "json_paths_work",
    "parse_url",
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


def connect(params: ConnectParams) -> Connection:
    """A new connection with the adapter's session settings; BackendError on failure."""
    options = dict(params.options)
    default_tls = not any(key.startswith("ssl") for key in options)
    if default_tls and params.where in _WITHOUT_TLS:
        options["ssl_disabled"] = True  # what PyMySQL would fall back to anyway
    try:
        conn = pymysql.connect(
            host=params.host,
            port=params.port,
            user=params.user,
            password=params.password,
            database=params.database,
            charset="utf8mb4",
            autocommit=True,
            client_flag=CLIENT.FOUND_ROWS,
            init_command=SESSION_SETUP,
            **options,
        )
        capabilities: int = getattr(conn, "server_capabilities", CLIENT.SSL)
        if default_tls and not capabilities & CLIENT.SSL:
            with _WITHOUT_TLS_LOCK:
                _WITHOUT_TLS.add(params.where)
        return conn
    except pymysql.err.MySQLError as exc:
        raise BackendError(_cannot_connect(params, exc)) from exc
    except OSError as exc:  # e.g. a unix socket path that does not exist
        raise BackendError(f"cannot connect to {params.where}: {exc}") from exc


def _cannot_connect(params: ConnectParams, exc: pymysql.err.MySQLError) -> str:
    code = error_code(exc)
    reason = one_line(exc)
    if code == 1045:
        return f"access denied for user {params.user!r} at {params.where} (wrong user or password): {reason}"
    if code == 1049:
        return f"database {params.database!r} does not exist on {params.where}: {reason}"
    if code in (2002, 2003, 2005, 2013):
        return f"cannot reach a MySQL/MariaDB server at {params.where}: {reason}"
    return f"cannot connect to {params.where} (error {code}): {reason}"


def check_connection(conn: Connection) -> None:
    """Refuse a connection the adapter cannot use correctly (ValueError saying why)."""
    if not conn.open:
        raise ValueError("the connection is closed")
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
    if not conn.db:
        raise ValueError("the connection has no default database (pass database=...)")


def json_paths_work(conn: pymysql.Connection[Any], dialect: MySQLDialect) -> bool:
    """Whether this server selects exactly the probe keys with ``dialect``'s paths.

    Each probe document, stored the way the dialect's codec stores documents, holds
    decoys that a lax reading would hit instead: a longer key, ``"a"."b"`` for the key
    ``a.b``, ``"A"`` for an escaped ``A``, and the same key one level down.
    """
    terms: list[str] = []
    params: list[Any] = []
    expected: list[Any] = []
    for number, key in enumerate(PROBE_KEYS):
        doc: dict[str, Any] = {key: number}
        doc.setdefault(key + "x", -1)
        doc.setdefault("a", {"b": -2})
        doc.setdefault("A", -4)
        doc.setdefault("nest", {key: -3})
        text = dialect.codec.encode_json(doc)
        terms.append("JSON_EXTRACT(%s, %s), JSON_EXTRACT(%s, %s)")
        params += [text, dialect.json_path((key,)), text, dialect.json_path(("nest", key))]
        expected += [str(number), "-3"]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(terms), params)
            row = cursor.fetchone()
            warned = cursor.warning_count
    except pymysql.err.MySQLError:
        return False
    return not warned and row is not None and [str(v) for v in row] == expected
