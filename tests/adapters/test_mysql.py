"""The MySQL/MariaDB adapter against a real server, driven through ``execute``.

The conformance suite certifies every clause; these tests pin what is specific to
MySQL and MariaDB: collations (code point, NO PAD), DATETIME(3) in UTC, JSON path keys
the path syntax or MariaDB's parser would misread, JSON nested deeper than MariaDB's
JSON functions read, the scoped upsert protocol, packet-sized batches, the connection
pool, lost connections, deadlocks, and bootstrap with and without
``CREATE INDEX IF NOT EXISTS``. Filters and orders are also checked against the memory
adapter (the reference) on generated data.

The server comes from NOORM_MYSQL_URL; without it, 127.0.0.1:3306 is tried with the
ci/services credentials, and the module is skipped if nothing listens there. Every
test gets a fresh ``noorm_test_<hex>`` database, dropped afterwards.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pymysql = pytest.importorskip("pymysql", reason="PyMySQL is not installed (no-orm[mysql])")

from pymysql.constants import CLIENT  # noqa: E402

import noorm  # noqa: E402
from noorm.adapters.memory import matches  # noqa: E402
from noorm.adapters.mysql import MariaDBDialect, MySQLAdapter, MySQLDialect  # noqa: E402
from noorm.adapters.mysql.adapter import server_flavour  # noqa: E402
from noorm.adapters.mysql.connection import ConnectParams, parse_url  # noqa: E402
from noorm.adapters.mysql.dialect import SORT_PREFIX, dump_document, json_path  # noqa: E402
from noorm.adapters.mysql.testing import ConformanceFactory  # noqa: E402
from noorm.adapters.sql.codec import dump_json  # noqa: E402
from noorm.adapters.sql.compiler import Compiler  # noqa: E402
from noorm.adapters.sql.health import unsolicited  # noqa: E402
from noorm.conformance.plugin import driver_version  # noqa: E402
from noorm.spec import (  # noqa: E402
    Adapter,
    BackendError,
    Capability,
    ConflictError,
    Count,
    Delete,
    DuplicateKeyError,
    Field,
    Filter,
    Find,
    Index,
    Insert,
    IntegerType,
    Model,
    NumberType,
    Order,
    Schema,
    SchemaMismatchError,
    StringType,
    UnsupportedError,
    Update,
    Upsert,
    UpsertResult,
    and_,
    eq,
    gt,
    gte,
    in_,
    is_null,
    lt,
    lte,
    ne,
    not_,
    not_in,
    or_,
    path,
)
from noorm.spec.values import MAX_TIMESTAMP  # noqa: E402

from . import support  # noqa: E402
from .support import (  # noqa: E402
    BY_ID,
    DOCS,
    SCHEMA,
    SCOPE_T1,
    USERS,
    K,
    doc,
    ids,
    listening,
    user,
)

DEFAULT_URL = "mysql://noorm:noorm@127.0.0.1:3306/noorm"


URL = os.environ.get("NOORM_MYSQL_URL") or (
    DEFAULT_URL if listening("127.0.0.1", 3306, timeout=1) else ""
)
if not URL:
    pytest.skip(
        'no MySQL/MariaDB server: set NOORM_MYSQL_URL (eval "$(ci/services)" starts one)',
        allow_module_level=True,
    )
PARAMS = parse_url(URL)


class _Factory(ConformanceFactory):
    def __init__(self) -> None:
        super().__init__()
        self.url = lambda: URL


FACTORY = _Factory()

# Keys that are syntax in a JSON path somewhere, that PyMySQL's interpolation could
# read as markers, that MariaDB's path parser misreads (a leading "-"), or that an
# encoder might mangle.
KEYS = (
    "plain", "a.b", 'a"b', 'a".b', "a'b", "it's", "$", "$.a", "a[0]", "[", "]", "?", "%",
    "%s", "%%", "a\\b", "\\", '\\"', 'a"[0]', "a b", " ", "", "é", "e\u0301", "日本",
    "\U0001f600", "\ue000", "a\nb", "\x01", "\u2028", "*", "**", '"', ".", "..", "$[0]",
    '"."', "a\\.b", "k\u00a0", "-", "-1", "--x", "- ", "a-b", "last", "0 to 1", "0", "A",
    "\\u0041", "`", "``", "x`y",
)  # fmt: skip


def raw(adapter: MySQLAdapter, **options: Any) -> Any:
    """A plain PyMySQL connection to the adapter's database (for looking behind it)."""
    settings: dict[str, Any] = {
        "host": PARAMS.host,
        "port": PARAMS.port,
        "user": PARAMS.user,
        "password": PARAMS.password,
        "database": adapter.database,
        "charset": "utf8mb4",
        "autocommit": True,
        "client_flag": CLIENT.FOUND_ROWS,
    }
    return pymysql.connect(**(settings | options))


def query(adapter: MySQLAdapter, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = raw(adapter)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params or None)
            return list(cursor.fetchall())
    finally:
        conn.close()


def fresh(schema: Schema | None = SCHEMA) -> MySQLAdapter:
    adapter = FACTORY()
    assert isinstance(adapter, MySQLAdapter)
    if schema is not None:
        adapter.bootstrap(schema)
    return adapter


@pytest.fixture
def db() -> Iterator[MySQLAdapter]:
    adapter = fresh()
    yield adapter
    adapter.close()


@pytest.fixture
def empty() -> Iterator[MySQLAdapter]:
    adapter = fresh(None)
    yield adapter
    adapter.close()


# --- identity --------------------------------------------------------------------------------------


def test_protocol_identity_and_capabilities(db: MySQLAdapter) -> None:
    assert isinstance(db, Adapter)
    assert db.name == "mysql"
    assert db.version == noorm.__version__
    assert db.capabilities == {
        Capability.TRANSACTIONS,
        Capability.SAVEPOINTS,
        Capability.JSON_PATHS,
        Capability.CONCURRENT_BOOTSTRAP,
        Capability.SCHEMA_INTROSPECTION,
        Capability.LOCKING_READS,
        Capability.ATOMIC_UPDATES,
    }
    version = query(db, "SELECT VERSION()")[0][0]
    flavour, numbers, display = server_flavour(version)
    assert db.server_version() == display
    assert db.flavour == flavour
    assert display.startswith("MariaDB " if "MariaDB" in version else "MySQL ")
    assert display.split()[1] == ".".join(map(str, numbers))
    assert isinstance(db.dialect, MariaDBDialect if flavour == "mariadb" else MySQLDialect)


def test_the_driver_version_is_the_pymysql_release(
    db: MySQLAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The installed PyMySQL release, not ``pymysql.__version__`` (2.2.8 for PyMySQL
    1.2.4: a MySQLdb-compatibility number), also as the certification report states it."""
    release = importlib.metadata.version("PyMySQL")
    assert db.driver_version() == f"PyMySQL {release}"
    assert driver_version(db) == f"PyMySQL {release}"
    assert release == ".".join(map(str, pymysql.VERSION[:3]))
    if pymysql.__version__ != release:
        assert pymysql.__version__ not in db.driver_version()

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert db.driver_version() == "PyMySQL " + ".".join(map(str, pymysql.VERSION[:3]))


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("10.11.19-MariaDB-0+deb12u1", ("mariadb", (10, 11, 19), "MariaDB 10.11.19")),
        ("5.5.5-10.6.18-MariaDB-log", ("mariadb", (10, 6, 18), "MariaDB 10.6.18")),
        ("11.4.2-MariaDB", ("mariadb", (11, 4, 2), "MariaDB 11.4.2")),
        ("8.0.36", ("mysql", (8, 0, 36), "MySQL 8.0.36")),
        ("8.4.0-commercial", ("mysql", (8, 4, 0), "MySQL 8.4.0")),
        ("5.7.44-log", ("mysql", (5, 7, 44), "MySQL 5.7.44")),
    ],
)
def test_server_flavour_comes_from_select_version(
    version: str, expected: tuple[str, tuple[int, ...], str]
) -> None:
    assert server_flavour(version) == expected


def test_urls() -> None:
    p = parse_url("mysql://us%40er:p%3Ass@db.example:3307/app?connect_timeout=2&unix_socket=/s")
    assert (p.host, p.port, p.user, p.password, p.database) == (
        "db.example",
        3307,
        "us@er",
        "p:ss",
        "app",
    )
    assert p.options == {"connect_timeout": 2.0, "unix_socket": "/s"}
    assert "p:ss" not in repr(p)
    assert parse_url("mariadb://u@h/d").port == 3306
    for bad, match in [
        ("postgresql://u@h/d", "scheme"),
        ("mysql://u@h/", "one database"),
        ("mysql://u@h/a/b", "one database"),
        ("mysql://u@h/d?charset=latin1", "unknown URL option 'charset'"),
        ("mysql://u@h:port/d", "bad port"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_url(bad)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_failures_are_one_line_backend_errors() -> None:
    base = ConnectParams(PARAMS.host, PARAMS.port, PARAMS.user, PARAMS.password, PARAMS.database)
    cases = [
        (f"mysql://u:p@127.0.0.1:{_closed_port()}/x", "cannot reach", 2003),
        (
            f"mysql://{base.user}:not-the-password-42@{base.host}:{base.port}/{base.database}",
            "access denied",
            1045,
        ),
        (
            f"mysql://{base.user}:{base.password}@{base.host}:{base.port}/noorm_missing_db_x",
            "does not exist",
            1049,
        ),
    ]
    for url, reason, code in cases:
        with pytest.raises(BackendError) as info:
            MySQLAdapter(url)
        message = str(info.value)
        assert reason in message and "\n" not in message, message
        assert isinstance(info.value.__cause__, pymysql.err.MySQLError)
        assert info.value.__cause__.args[0] == code
        assert "not-the-password-42" not in message


def test_the_factory_says_how_to_provide_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("noorm.adapters.servers.docker_engine", lambda: False)
    factory = ConformanceFactory(url_env="NOORM_TEST_UNSET_MYSQL_URL")
    with pytest.raises(RuntimeError, match="NOORM_TEST_UNSET_MYSQL_URL is not set"):
        factory()


# --- JSON path keys (FLT-JSON-3) -------------------------------------------------------------------


def test_this_server_passes_the_path_probe(db: MySQLAdapter) -> None:
    assert db.dialect.json_paths


def test_documents_are_stored_as_plain_json_text() -> None:
    """Only a key's leading "-" is spelt differently, and only in keys."""
    document = {"a": ["-x", {"-k": "-v", "k-": 1}], "-": {"--": None}, "s": '"-'}
    text = dump_document(document)
    assert json.loads(text) == document
    assert text.count("\\u002d") == 3
    assert '"-x"' in text and '"-v"' in text and '"k-"' in text
    plain = {"a": [1, "x"], "b": {"c": "d-e"}}
    assert dump_document(plain) == dump_json(plain)
    assert json_path(("-a", "b-"), escape_dash=True) == '$."\\u002da"."b-"'
    assert json_path(("-a",)) == '$."-a"'


def test_every_key_selects_exactly_itself(db: MySQLAdapter) -> None:
    """Each row holds one key as "hit", plus decoys a lax path would hit."""
    rows = []
    for number, key in enumerate(KEYS):
        document: dict[str, Any] = {key: "hit", "nest": {key: number}}
        document.setdefault("a", {"b": "decoy", "[0]": "decoy"})
        document.setdefault("$", "decoy")
        document.setdefault(key + "x", "decoy")
        rows.append(doc(number, j=document))
    db.execute(Insert(DOCS, tuple(rows)))
    for number, key in enumerate(KEYS):
        expected = [number]
        assert ids(db, eq(path("j", key), "hit")) == expected, repr(key)
        assert ids(db, eq(path("j", "nest", key), number)) == expected, repr(key)
        assert ids(db, in_(path("j", "nest", key), [number, "x"])) == expected, repr(key)
        assert ids(db, gte(path("j", "nest", key), number)) == expected, repr(key)
        lacking = [n for n, row in enumerate(rows) if key not in row["j"]]
        assert ids(db, is_null(path("j", key))) == lacking, repr(key)
        misses = [n for n in range(len(KEYS)) if n != number]
        assert ids(db, not_(eq(path("j", key), "hit"))) == misses, repr(key)
    assert [row["j"] for row in db.execute(Find(DOCS, None, BY_ID))] == [r["j"] for r in rows]


def test_keys_never_match_array_indexes_or_partial_keys(db: MySQLAdapter) -> None:
    db.execute(
        Insert(
            DOCS,
            (
                doc(1, j={"a": [10, 20]}),
                doc(2, j={"a": {"0": 10}}),
                doc(3, j={"ab": 10, "a": {"b": 10}}),
                doc(4, j=[{"a": 10}]),
                doc(5, j="a"),
                doc(6, j={"a": [{"b": 10}]}),
            ),
        )
    )
    assert ids(db, eq(path("j", "a", "0"), 10)) == [2]
    assert ids(db, eq(path("j", "a.b"), 10)) == []
    assert ids(db, eq(path("j", "a", "b"), 10)) == [3]
    assert ids(db, eq(path("j", "0", "a"), 10)) == []
    assert ids(db, is_null(path("j", "a"))) == [4, 5]


# --- typed path comparisons (FLT-JSON-1/2) ---------------------------------------------------------

TYPED: dict[int, Any] = {
    **support.TYPED,
    16: {"k": 10},
    17: {"k": "b "},
    18: {"k": "\U0001f600"},
    19: {"k": "\ufffd"},
    20: {"k": "true"},
}
PRESENT = support.present(TYPED)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (eq(K, 1), [1, 2]),
        (eq(K, 1.0), [1, 2]),
        (eq(K, "1"), [3]),
        (eq(K, True), [4]),
        (eq(K, False), [5]),
        (eq(K, "true"), [20]),
        (eq(K, 0), [14]),
        (ne(K, 1), [n for n in PRESENT if n not in (1, 2)]),
        (ne(K, True), [n for n in PRESENT if n != 4]),
        (ne(K, "1"), [n for n in PRESENT if n != 3]),
        (gt(K, 1), [11, 16]),
        (gt(K, 9), [16]),  # 10 > 9 although "10" < "9"
        (gte(K, 1), [1, 2, 11, 16]),
        (lt(K, 1), [14]),
        (lte(K, 0.0), [14]),
        (lt(K, "b"), [3, 13]),
        (gt(K, "B"), [12, 15, 17, 18, 19, 20]),
        (gt(K, "b"), [15, 17, 18, 19, 20]),  # "b " > "b": trailing spaces count
        (eq(K, "b"), [12]),
        (gt(K, "\uffff"), [18]),  # code point order, not UTF-16
        (lt(K, "\U0001f600"), [3, 12, 13, 15, 17, 19, 20]),
        (gt(K, False), []),
        (lte(K, True), []),
        (is_null(K), [6, 7, 8]),
        (not_(is_null(K)), PRESENT),
        (in_(K, [1, "b", True]), [1, 2, 4, 12]),
        (not_in(K, [1, "b", True]), [n for n in PRESENT if n not in (1, 2, 4, 12)]),
        (not_in(K, []), PRESENT),
        (in_(K, []), []),
        (not_(eq(K, 1)), [n for n in TYPED if n not in (1, 2)]),
        (not_(ne(K, 1)), [1, 2, 6, 7, 8]),
        (not_(gt(K, "a")), [n for n in TYPED if n not in (12, 15, 17, 18, 19, 20)]),
        (is_null(path("j", "k", "a")), [n for n in TYPED if n != 10]),
        (eq(path("j", "k", "a"), 1), [10]),
    ],
)
def test_typed_path_comparisons(db: MySQLAdapter, where: Filter, expected: list[int]) -> None:
    support.check_typed_path_comparisons(db, TYPED, where, expected)
    rows = [doc(n, j=j) for n, j in TYPED.items()]
    assert [r["id"] for r in rows if matches(DOCS, where, r)] == expected  # the reference agrees


def test_string_path_comparisons_read_utf8mb4_values() -> None:
    """MariaDB reads a string at a path with ``JSON_VALUE``, never ``JSON_UNQUOTE``:
    11.4.5's ``JSON_UNQUOTE`` returns utf8mb3 (MDEV-35614), so ``COLLATE
    utf8mb4_nopad_bin`` fails on it and astral characters become ``?``. A path of more
    than 16 keys reads its last step with ``JSON_VALUE`` too. MySQL 8 keeps
    ``JSON_UNQUOTE`` (utf8mb4 there; its ``JSON_VALUE`` needs 8.0.21)."""
    mariadb = MariaDBDialect()
    one = mariadb.json_access("`j`", ("k",), "string")
    assert one.type_sql == "JSON_TYPE(JSON_EXTRACT(`j`, %s))"
    assert one.value_sql == "JSON_VALUE(`j`, %s) COLLATE utf8mb4_nopad_bin"
    assert one.type_params == one.value_params == ('$."k"',)
    keys = tuple(f"k{n}" for n in range(20))
    stepped = mariadb.json_access("`j`", keys, "string")
    assert stepped.type_sql == "JSON_TYPE(JSON_EXTRACT(JSON_EXTRACT(`j`, %s), %s))"
    assert stepped.value_sql == ("JSON_VALUE(JSON_EXTRACT(`j`, %s), %s) COLLATE utf8mb4_nopad_bin")
    assert stepped.value_params == (json_path(keys[:16]), json_path(keys[16:]))
    sql = Compiler(mariadb).find(Find(DOCS, in_(path("j", "k"), ["x", "y"]), BY_ID)).sql
    assert "JSON_VALUE(`docs`.`j`, %s) COLLATE utf8mb4_nopad_bin IN %s" in sql
    for kind in ("string", "number", "boolean", None):
        for dialect in (mariadb, MySQLDialect()):
            for n in (1, 20):
                access = dialect.json_access("`j`", keys[:n], kind)
                uses = access.value_sql.count("JSON_UNQUOTE(")
                assert uses == (kind == "boolean" or (kind == "string" and dialect is not mariadb))
    mysql = MySQLDialect().json_access("`j`", ("k",), "string")
    assert mysql.value_sql == "JSON_UNQUOTE(JSON_EXTRACT(`j`, %s)) COLLATE utf8mb4_0900_bin"


ASTRAL = "a\U0001f600b"


def test_astral_characters_under_path_filters(db: MySQLAdapter) -> None:
    """Astral characters at a path (and in its keys) compare exactly: not as ``?``, in
    code-point order, on paths of one step and of two (more than 16 keys)."""
    long = tuple(f"\U0001f600{n}" for n in range(20))
    deep: Any = ASTRAL
    for key in reversed(long):
        deep = {key: deep}
    db.execute(
        Insert(
            DOCS,
            (
                doc(1, j={"k": ASTRAL, "\U0001f600": "\U0001f600", "d": deep}),
                doc(2, j={"k": "a?b", "\U0001f600": "?", "d": {"x": 1}}),
                doc(3, j={"k": "a\uffffb", "\U0001f600": "\U0001f601"}),
                doc(4, j={"k": 1}),
            ),
        )
    )
    assert ids(db, eq(path("j", "k"), ASTRAL)) == [1]
    assert ids(db, eq(path("j", "k"), "a?b")) == [2]
    assert ids(db, ne(path("j", "k"), ASTRAL)) == [2, 3, 4]
    assert ids(db, gt(path("j", "k"), "a\uffffb")) == [1]  # code point order, not UTF-16
    assert ids(db, lt(path("j", "k"), ASTRAL)) == [2, 3]
    assert ids(db, in_(path("j", "k"), [ASTRAL, "a\uffffb"])) == [1, 3]
    assert ids(db, not_in(path("j", "k"), [ASTRAL])) == [2, 3, 4]
    assert ids(db, eq(path("j", "\U0001f600"), "\U0001f600")) == [1]
    assert ids(db, gte(path("j", "\U0001f600"), "\U0001f600")) == [1, 3]
    assert ids(db, eq(path("j", "d", *long), ASTRAL)) == [1]
    assert ids(db, eq(path("j", "d", *long), "a?b")) == []
    assert ids(db, is_null(path("j", "d", *long))) == [2, 3, 4]
    [row] = db.execute(Find(DOCS, eq(path("j", "d", *long), ASTRAL), BY_ID))
    assert row["j"]["k"] == ASTRAL and row["j"]["d"] == deep  # the document round-trips
    if db.flavour == "mariadb":  # what the server makes of the read itself
        text = dump_document({"k": ASTRAL})
        assert query(
            db,
            "SELECT JSON_VALUE(%s, %s), CHARSET(JSON_VALUE(%s, %s))",
            text,
            '$."k"',
            text,
            '$."k"',
        ) == [(ASTRAL, "utf8mb4")]


# --- JSON nested deeper than MariaDB reads (JSON-1) ------------------------------------------------


# --- JSON nested deeper than MariaDB reads (JSON-1) ------------------------------------------------


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def test_path_filters_are_exact_on_documents_too_deep_for_the_server(
    db: MySQLAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MariaDB's JSON functions stop at 32 levels; when a path filter meets a deeper
    document the adapter reads the rows and decides the filter with the reference
    evaluator (JSON-1 stores 64 levels): reads, counts, writes and scoped upserts are
    exact, and a write still changes only the rows it matches."""
    deep = {"v": 1, "d": _nested(63)}
    db.execute(Insert(DOCS, (doc(1, j=deep), doc(2, j={"v": 1}), doc(3, j=_nested(64)))))
    assert [r["j"] for r in db.execute(Find(DOCS, None, BY_ID))] == [
        deep,
        {"v": 1},
        _nested(64),
    ]
    seen = support.record_sql(db, monkeypatch, ["_query"])
    where = eq(path("j", "v"), 1)
    assert ids(db, where) == [1, 2]
    assert db.execute(Count(DOCS, is_null(path("j", "v")))) == 1
    assert [r["id"] for r in db.execute(Find(DOCS, where, (Order("id", True),), 1))] == [2]
    assert db.execute(Update(DOCS, not_(where), {"s": "changed"})) == 1
    assert db.execute(Update(DOCS, where, {})) == 2
    result = db.execute(Upsert(DOCS, doc(1, s="upserted"), ("s",), where))
    assert result is not None and result.row["s"] == "upserted" and not result.inserted
    assert db.execute(Upsert(DOCS, doc(3, s="no"), ("s",), where)) is None  # out of scope
    assert db.execute(Upsert(DOCS, doc(3), (), is_null(path("j", "v")))) == UpsertResult(
        doc(3, s="changed", j=_nested(64)), inserted=False
    )
    with db.transaction() as tx:  # inside a transaction, as a savepoint
        tx.execute(Update(DOCS, eq("id", 2), {"s": "kept"}))
        assert tx.execute(Delete(DOCS, or_(eq("id", 9), is_null(path("j", "v"))))) == 1
    assert [(r["id"], r["s"]) for r in db.execute(Find(DOCS, None, BY_ID))] == [
        (1, "upserted"),
        (2, "kept"),
    ]
    if db.dialect.json_warnings:  # MariaDB: the server path was tried, then the rows read
        assert any(sql.startswith("SELECT") and "FOR UPDATE" in sql for sql in seen)
    assert ids(db, eq("id", 2)) == [2]  # no path: nothing to read


# --- NOT and NULL (FLT-LOGIC, NULL-1, FLT-IN) -------------------------------------------------------


@pytest.mark.parametrize(("where", "expected"), support.TWO_VALUED_CASES)
def test_two_valued_logic(db: MySQLAdapter, where: Filter, expected: list[int]) -> None:
    support.check_two_valued_logic(db, where, expected)


# --- strings, ordering, values -----------------------------------------------------------------------

STRINGS = [
    "b", "a", "B", "é", "e\u0301", "", "\ue000", "\uffff", "\U0001f600", "\U00010000", "~",
    "a ", " a", "a\t", "A", "ß", "ss", "\u00a0",
]  # fmt: skip


def test_strings_compare_and_sort_by_code_point(db: MySQLAdapter) -> None:
    """STR-4: astral characters after U+E000..U+FFFF, case and trailing spaces significant."""
    db.execute(Insert(DOCS, tuple(doc(n, s=s) for n, s in enumerate(STRINGS))))
    rows = db.execute(Find(DOCS, None, (Order("s"), *BY_ID)))
    assert [r["s"] for r in rows] == sorted(STRINGS)
    down = db.execute(Find(DOCS, None, (Order("s", descending=True), *BY_ID)))
    assert [r["s"] for r in down] == sorted(STRINGS, reverse=True)
    assert {r["s"] for r in db.execute(Find(DOCS, gt("s", "\uffff"), BY_ID))} == {
        "\U0001f600",
        "\U00010000",
    }
    assert ids(db, eq("s", "a")) == [STRINGS.index("a")]  # not "a " (PAD SPACE would)
    assert ids(db, eq("s", "a ")) == [STRINGS.index("a ")]
    assert ids(db, eq("s", "é")) == [STRINGS.index("é")]  # no normalization
    assert ids(db, eq("s", "ss")) == [STRINGS.index("ss")]  # no expansion of ß
    assert ids(db, eq("s", "")) == [STRINGS.index("")]  # STR-3: "" is not NULL
    assert ids(db, in_("s", ["A", "b"])) == [STRINGS.index("b"), STRINGS.index("A")]


def test_strings_sort_in_full_whatever_their_length(empty: MySQLAdapter) -> None:
    """Strings sharing 1 KB to 1 MB prefixes: the server sorts a 1024-character prefix,
    the adapter the rows that share one (and reads the rest of a run a page ends in)."""
    support.check_strings_sort_in_full(empty)


def test_sorting_does_not_depend_on_the_session(empty: MySQLAdapter) -> None:
    """A connection the adapter did not set up (here: max_sort_length at its minimum)
    sorts like the adapter's own: the statement carries what it needs."""
    conn = raw(empty, init_command="SET SESSION max_sort_length = 8")
    adapter = MySQLAdapter(conn)
    try:
        keys = ["\U0001f600" * 500 + tail for tail in ("b", "a", "\U0001f601", "", "\ue000")]
        model = support.KEY512
        adapter.bootstrap(Schema([model]))
        adapter.execute(Insert(model, tuple({"id": k, "v": n} for n, k in enumerate(keys))))
        for order in ((Order("id"),), (Order("id", descending=True),)):
            found = [r["id"] for r in adapter.execute(Find(model, None, order))]
            assert found == sorted(keys, reverse=order[0].descending)
        sql = adapter.statement(Find(model, None, (Order("id"),)))
        if adapter.flavour == "mariadb":
            assert sql is not None and sql.startswith("SET STATEMENT max_sort_length = 4096 FOR ")
    finally:
        adapter.close()
        conn.close()


def test_only_strings_longer_than_the_sort_prefix_sort_by_it() -> None:
    dialect = MariaDBDialect()
    compiler = Compiler(dialect)
    model = Model(
        "m",
        [
            Field("id", StringType(512)),
            Field("a", StringType(SORT_PREFIX)),
            Field("b", StringType()),
        ],
        primary_key=["id"],
    )
    sql = compiler.find(Find(model, None, (Order("b", True), Order("a")))).sql
    assert sql.startswith("SET STATEMENT max_sort_length = 4096 FOR SELECT ")
    assert sql.endswith(f"ORDER BY LEFT(`b`, {SORT_PREFIX}) DESC, `a` ASC, `id` ASC")
    plain = compiler.find(Find(DOCS, None, (Order("n"),))).sql
    assert plain.startswith("SELECT ") and plain.endswith("ORDER BY `n` ASC, `id` ASC")
    mysql8 = Compiler(MySQLDialect()).find(Find(model, None, (Order("b"),))).sql
    assert mysql8.startswith("SELECT ") and f"LEFT(`b`, {SORT_PREFIX})" in mysql8


def test_trailing_spaces_are_distinct_keys_and_unique_values(db: MySQLAdapter) -> None:
    db.execute(Insert(USERS, (user("a", email="x"), user("a ", email="x "), user("A", email="X"))))
    assert ids(db, None, USERS) == ["A", "a", "a "]
    with pytest.raises(DuplicateKeyError):
        db.execute(Insert(USERS, (user("b", email="x "),)))
    assert db.execute(Find(USERS, eq("id", "a "), BY_ID)) == [user("a ", email="x ")]


def test_null_sorts_lowest(db: MySQLAdapter) -> None:
    support.check_null_sorts_lowest(db)


def test_numbers_round_trip_exactly(db: MySQLAdapter) -> None:
    floats = [0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 0.1, 1 / 3]
    floats += [2.0, 2.2250738585072014e-308, 2.0**53, 123456789.12345678]
    ints = [-(2**63), 2**63 - 1, 0, -1, 2**53 + 1]
    rows = [doc(n, n=f, j={"f": f}) for n, f in enumerate(floats)]
    rows += [doc(100 + n, i=i) for n, i in enumerate(ints)]
    db.execute(Insert(DOCS, tuple(rows)))
    stored = {r["id"]: r for r in db.execute(Find(DOCS, None, BY_ID))}
    for n, f in enumerate(floats):
        assert type(stored[n]["n"]) is float
        assert stored[n]["n"] == f and stored[n]["j"]["f"] == f
        if f != 0:
            assert math.copysign(1, stored[n]["n"]) == math.copysign(1, f)
        assert ids(db, eq("n", f)) == [n]
        assert ids(db, eq(path("j", "f"), f)) == [n]
    for n, i in enumerate(ints):
        assert type(stored[100 + n]["i"]) is int
        assert stored[100 + n]["i"] == i
        assert ids(db, eq("i", i)) == [100 + n]
    assert ids(db, lt("i", -(2**62))) == [100]
    assert ids(db, gte("i", 2**63 - 1)) == [101]


def test_timestamps_are_utc_datetime3_whatever_the_session_zone(db: MySQLAdapter) -> None:
    moments = support.MOMENTS
    db.execute(Insert(DOCS, tuple(doc(n, t=t, b=n % 2 == 0) for n, t in enumerate(moments))))
    stored = {r["id"]: r for r in db.execute(Find(DOCS, None, BY_ID))}
    for n, t in enumerate(moments):
        assert stored[n]["t"] == t and stored[n]["t"].tzinfo is UTC
        assert stored[n]["b"] is (n % 2 == 0)
    assert ids(db, lt("t", datetime(1970, 1, 1, tzinfo=UTC))) == [0, 2]
    plus_two = timezone(timedelta(hours=2))
    assert ids(db, eq("t", datetime(1970, 1, 1, 2, tzinfo=plus_two))) == [3]
    assert ids(db, eq("t", MAX_TIMESTAMP)) == [1]
    assert ids(db, eq("b", False)) == [1, 3]
    # The column holds the UTC wall clock, with milliseconds, read back the same from a
    # session in another zone (DATETIME never converts), also through a borrowed connection.
    conn = raw(db, init_command="SET time_zone = '+05:00'")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT `t` FROM `docs` WHERE `id` = 1")
            assert cursor.fetchall() == ((datetime(9999, 12, 31, 23, 59, 59, 999000),),)
        borrowed = MySQLAdapter(conn)
        assert borrowed.execute(Find(DOCS, eq("id", 4), BY_ID))[0]["t"] == moments[4]
        borrowed.execute(Insert(DOCS, (doc(9, t=moments[4]),)))
        borrowed.close()
    finally:
        conn.close()
    assert ids(db, eq("t", moments[4])) == [4, 9]


# --- DDL --------------------------------------------------------------------------------------------


def test_tables_are_innodb_utf8mb4_with_code_point_collations(db: MySQLAdapter) -> None:
    collation = db.dialect.string_collation
    assert collation in ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")  # NO PAD, binary
    tables = query(
        db,
        "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
    )
    assert tables == [("docs", "InnoDB", collation), ("users", "InnoDB", collation)]
    columns = dict(
        query(
            db,
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'docs'",
        )
    )
    assert columns["s"] == "varchar(20)"
    assert columns["n"] == "double"
    assert columns["i"] == "bigint(20)" or columns["i"] == "bigint"
    assert columns["b"] == "tinyint(1)"
    assert columns["t"] == "datetime(3)"
    assert columns["j"] in ("longtext", "json")
    assert query(
        db,
        "SELECT COLUMN_NAME, COLLATION FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME = 'users_tenant_n' ORDER BY SEQ_IN_INDEX",
    ) == [("tenant", "A"), ("n", "D")]
    with pytest.raises(pymysql.err.MySQLError):  # the boolean CHECK holds for other writers
        query(db, "INSERT INTO docs (id, b) VALUES (1, 2)")


def test_mysql8_spelling() -> None:
    """What only a MySQL 8 server would run, checked as text (no MySQL 8 here)."""
    dialect = MySQLDialect()
    ddl = Compiler(dialect).ddl(SCHEMA)
    table = ddl[0].sql
    assert "`j` JSON CHECK (JSON_VALID(`j`))" in table
    assert "`s` VARCHAR(20) COLLATE utf8mb4_0900_bin" in table
    assert table.endswith("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin")
    assert [s.sql for s in ddl if s.index_name] == [
        "CREATE UNIQUE INDEX `users_email` ON `users` (`email` ASC)",
        "CREATE INDEX `users_tenant_n` ON `users` (`tenant` ASC, `n` DESC)",
    ]
    number = dialect.json_access("`j`", ("k",), "number")
    assert number.value_sql.startswith("CASE WHEN JSON_TYPE(JSON_EXTRACT(`j`, %s)) IN (")
    assert number.value_params == ('$."k"', '$."k"')
    assert "COLLATE utf8mb4_0900_bin" in dialect.json_access("`j`", ("k",), "string").value_sql
    assert dialect.quote("a`b") == "`a``b`"


def test_string_columns_fit_innodb_rows() -> None:
    """VARCHAR while the row fits; wide models give way with TEXT, keyed strings last."""
    dialect = MariaDBDialect()
    assert dialect.column_type(Field("x", StringType())) == "LONGTEXT"
    assert dialect.column_type(Field("x", StringType(768))) == "VARCHAR(768)"
    assert dialect.column_type(Field("x", StringType(769))) == "TEXT"
    assert dialect.column_type(Field("x", StringType(20_000))) == "MEDIUMTEXT"
    assert dialect.plan(DOCS).strings == {"s": "VARCHAR(20)"} and not dialect.plan(DOCS).prefixed
    wide = dialect.plan(support.WIDE256)
    assert set(wide.strings.values()) >= {"LONGTEXT", "VARCHAR(20)", "VARCHAR(64)"}
    assert "TEXT" in wide.strings.values() and not wide.prefixed  # some VARCHAR(512) gave way
    keyed = dialect.plan(support.KEYED255)
    assert keyed.prefixed and keyed.prefixed <= set(keyed.strings)
    ddl = Compiler(dialect).ddl(Schema([support.KEYED255]))
    assert any(f"`{name}`(31) ASC" in s.sql for s in ddl[1:] for name in keyed.prefixed)
    assert dialect.plan(support.KEYED255) is keyed  # once per model


def test_keys_wider_than_innodb_holds_are_refused_before_any_ddl(empty: MySQLAdapter) -> None:
    """The schema keeps keys within 2048 bytes (LIM-KEY), which 16 KiB pages hold; a
    server with smaller pages holds less, and the adapter says so before any DDL."""
    empty.bootstrap(Schema([support.KEY512]))
    small = MySQLAdapter(_url_of(empty))
    try:
        small.dialect.page_size = 8192
        pair = Model(
            "pair",
            [Field("a", StringType(256)), Field("b", StringType(256))],
            primary_key=["a", "b"],
        )
        with pytest.raises(UnsupportedError, match="1536") as info:
            small.bootstrap(Schema([pair]))
        assert (info.value.model, info.value.field) == ("pair", "b")
        assert [t for (t,) in query(empty, "SHOW TABLES")] == ["key512"]
    finally:
        small.close()


# --- the portable limits (LIM-*) -------------------------------------------------------------------


def test_keys_and_indexes_at_full_width(empty: MySQLAdapter) -> None:
    support.check_keys_at_full_width(empty)


def test_wide_models(empty: MySQLAdapter) -> None:
    """256 fields create and hold a full row; 255 keyed strings get prefix indexes."""
    support.check_wide_models(empty)
    types = dict(
        query(
            empty,
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'keyed255'",
        )
    )
    assert types["id"] == "bigint" and {"text", "varchar"} >= set(types.values()) - {"bigint"}


def test_a_row_of_short_values_beyond_an_innodb_record_is_refused(empty: MySQLAdapter) -> None:
    """InnoDB keeps each value of up to 40 bytes inside its record (8,126 bytes at 16 KiB
    pages): 255 strings of 10 astral characters (40 bytes) cannot be stored; the same
    fields with ASCII values can. A BackendError, never a partial write."""
    model = Model(
        "short",
        [Field("id", IntegerType())] + [Field(f"f{k:03}", StringType(10)) for k in range(255)],
        primary_key=["id"],
    )
    empty.bootstrap(Schema([model]))
    ascii_row = {"id": 1, **{f"f{k:03}": "abcdefghij" for k in range(255)}}
    empty.execute(Insert(model, (ascii_row,)))
    astral_row = {"id": 2, **{f"f{k:03}": "\U0001f600" * 10 for k in range(255)}}
    with pytest.raises(BackendError, match="1118"):
        empty.execute(Insert(model, (astral_row,)))
    assert empty.execute(Find(model, None, BY_ID)) == [ascii_row]


def test_rows_of_two_mib(empty: MySQLAdapter) -> None:
    support.check_rows_of_two_mib(empty)


def test_batches_of_ten_thousand_rows_are_all_or_nothing(empty: MySQLAdapter) -> None:
    support.check_batches_at_the_limit(empty)


@pytest.mark.parametrize("limit", ["parameters", "packet"])
def test_batches_of_several_statements_hold_exactly_their_rows(
    empty: MySQLAdapter, limit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def split() -> None:
        if limit == "parameters":
            empty.dialect.max_params = 4 * 3
        else:
            empty.max_allowed_packet = 6200  # 554 bytes of values: three rows per statement

    seen = support.record_sql(empty, monkeypatch, ["_command"])
    support.check_batches_of_several_statements(empty, split)
    inserts = [sql for sql in seen if sql.startswith("INSERT")]
    assert len(inserts) > 20 and max(sql.count("(%s, %s, %s, %s)") for sql in inserts) <= 3


def test_filters_at_the_limits(empty: MySQLAdapter) -> None:
    support.check_filters_at_the_limits(empty)


def test_filter_trees_of_random_form(empty: MySQLAdapter) -> None:
    support.check_random_filter_trees(empty, seed=7, count=24)


def test_paths_of_32_keys(db: MySQLAdapter) -> None:
    """MariaDB refuses a path of 32 keys ("Limit of 32 on JSON path depth"), so the path
    is read in two steps; the documents such a path reaches are nested 32 levels, past
    its JSON functions, and are evaluated by the adapter (see the test above)."""
    keys = ("a",) * 31 + ("-b",)
    access = db.dialect.json_access("`j`", keys, "number")
    steps = 2 if db.flavour == "mariadb" else 1
    assert access.type_sql.count("JSON_EXTRACT(") == steps and len(access.type_params) == steps
    shallow: dict[str, Any] = {"a": {"a": {"-b": 1}}}
    db.execute(Insert(DOCS, (doc(1, j=shallow), doc(2, j={"a": 1}), doc(3))))
    assert ids(db, eq(path("j", *keys), 1)) == []
    assert ids(db, is_null(path("j", *keys))) == [1, 2, 3]
    deep: Any = 1
    for key in reversed(keys):
        deep = {key: deep}
    db.execute(Insert(DOCS, (doc(4, j=deep), doc(5, j={"a": deep}))))
    assert ids(db, eq(path("j", *keys), 1)) == [4]
    assert ids(db, is_null(path("j", *keys))) == [1, 2, 3, 5]


def test_deep_documents_on_32_key_paths(empty: MySQLAdapter) -> None:
    support.check_deep_documents_on_32_key_paths(empty)


def test_in_lists_are_one_parameter(db: MySQLAdapter) -> None:
    """PyMySQL writes a tuple as a parenthesized list: one statement text for any length."""
    sql = db.statement(Find(DOCS, in_("i", [1, 2]), BY_ID))
    assert sql is not None and "`i` IN %s" in sql
    assert db.statement(Find(DOCS, in_("i", list(range(70_000))), BY_ID)) is sql
    db.execute(Insert(DOCS, (doc(1, s="it's", n=5e-324), doc(2, s="%s", n=0.1), doc(3))))
    assert ids(db, in_("s", ["it's", "%s", "x"])) == [1, 2]
    assert ids(db, not_in("s", ["it's"])) == [2]
    assert ids(db, in_("n", [*map(float, range(10_000)), 5e-324])) == [1]
    assert ids(db, in_("i", [None])) == [] and ids(db, not_in("s", [])) == [1, 2]


def test_reads_at_the_limits(empty: MySQLAdapter) -> None:
    support.check_reads_at_the_limits(empty)


def test_values_come_back_as_plain_types(db: MySQLAdapter) -> None:
    support.check_values_come_back_as_plain_types(db)


# --- writes -------------------------------------------------------------------------------------------


def test_duplicate_keys(db: MySQLAdapter) -> None:
    db.execute(Insert(USERS, (user("u1"),)))
    for clash in (user("u1", email="other@example.com"), user("u2", email="u1@example.com")):
        with pytest.raises(DuplicateKeyError) as info:
            db.execute(Insert(USERS, (clash,)))
        assert info.value.model == "users"
        assert isinstance(info.value.__cause__, pymysql.err.IntegrityError)
        assert info.value.__cause__.args[0] == 1062
    assert ids(db, None, USERS) == ["u1"]


def test_a_batch_is_one_statement_and_all_or_nothing(db: MySQLAdapter) -> None:
    support.check_a_batch_is_one_statement_and_all_or_nothing(db, "(%s, %s, %s, %s)")


def test_chunked_batches_stay_atomic(db: MySQLAdapter) -> None:
    support.check_chunked_batches_stay_atomic(db)


def test_batches_are_split_to_fit_the_packet_limit(
    db: MySQLAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = "é" * 300_000  # up to 1.2 MB inlined
    rows = tuple(doc(n, j={"text": big, "n": n}) for n in range(30))  # ~36 MB worst case
    seen = support.record_sql(db, monkeypatch, ["_command"])
    db.execute(Insert(DOCS, rows))
    inserts = [sql for sql in seen if sql.startswith("INSERT")]
    assert len(inserts) > 1  # one statement would exceed max_allowed_packet
    assert db.execute(Count(DOCS, None)) == 30
    assert db.execute(Find(DOCS, eq("id", 29), BY_ID))[0]["j"] == {"text": big, "n": 29}
    db.max_allowed_packet = 64 * 1024  # now several chunks, the last one failing
    small = tuple(doc(100 + n, s="x", j={"text": "y" * 5000}) for n in range(20))
    with pytest.raises(DuplicateKeyError):
        db.execute(Insert(DOCS, (*small, doc(0))))
    assert db.execute(Count(DOCS, None)) == 30


def test_large_batches(db: MySQLAdapter) -> None:
    support.check_large_batches(db)


def test_update_counts_rows_matched_and_delete_rows_removed(db: MySQLAdapter) -> None:
    support.check_update_and_delete_counts(db)


# --- upsert (OP-UPS, HOOK-QUERY) ---------------------------------------------------------------------


def test_upsert_inserts_then_updates_only_listed_fields(db: MySQLAdapter) -> None:
    first = db.execute(Upsert(USERS, user("u1", n=1), ("n",), SCOPE_T1))
    assert first == UpsertResult(user("u1", n=1), inserted=True)
    changed = user("u1", email="new@example.com", n=2)
    second = db.execute(Upsert(USERS, changed, ("n",), SCOPE_T1))
    assert second == UpsertResult(user("u1", n=2), inserted=False)
    same = db.execute(Upsert(USERS, changed, ("n",), SCOPE_T1))  # no change: still matched
    assert same == UpsertResult(user("u1", n=2), inserted=False)
    assert db.execute(Find(USERS, None, BY_ID)) == [user("u1", n=2)]
    statement = db.statement(Upsert(USERS, changed, ("n",), SCOPE_T1))
    assert statement is not None and statement.endswith("FOR UPDATE")


def test_upsert_never_touches_a_row_of_another_scope(db: MySQLAdapter) -> None:
    support.check_upsert_never_touches_a_row_of_another_scope(db)


MEMBERS = Model(
    "members",
    [Field("id", StringType(36)), Field("tenant", StringType(20)), Field("n", IntegerType())],
    primary_key=["id"],
    indexes=[Index("members_tenant_n", ["tenant", "n"])],
)
"""A model whose only unique key is its primary key: MariaDB upserts it in one statement."""


def member(id: str, tenant: str = "t1", n: int = 0) -> dict[str, Any]:
    return {"id": id, "tenant": tenant, "n": n}


def test_upsert_of_a_model_without_unique_indexes_is_one_statement(
    db: MySQLAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OP-UPS, HOOK-QUERY on MariaDB's ``INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING``:
    inserted or not is told exactly (also when nothing changes), and a row of another
    scope is never written."""
    if db.flavour != "mariadb":
        pytest.skip("MySQL 8 has no INSERT ... RETURNING")
    db.bootstrap(Schema([MEMBERS]))
    scope = eq("tenant", "t1")
    run = support.record_sql(db, monkeypatch)
    assert db.execute(Upsert(MEMBERS, member("a", n=1), ("n",), scope)) == UpsertResult(
        member("a", n=1), inserted=True
    )
    for _ in range(2):  # a change, then the same values again: still an update
        assert db.execute(Upsert(MEMBERS, member("a", n=2), ("n",), scope)) == UpsertResult(
            member("a", n=2), inserted=False
        )
    assert db.execute(Upsert(MEMBERS, member("a", tenant="t9", n=3), ("n",))) == UpsertResult(
        member("a", n=3),
        inserted=False,  # only the listed field changes
    )
    assert db.execute(Upsert(MEMBERS, member("a", n=9), (), scope)) == UpsertResult(
        member("a", n=3), inserted=False
    )
    assert db.execute(Upsert(MEMBERS, member("b", n=4), (), scope)) == UpsertResult(
        member("b", n=4), inserted=True
    )
    db.execute(Insert(MEMBERS, (member("c", tenant="t2", n=5),)))
    for update in (("n",), ("n", "tenant"), ()):
        assert db.execute(Upsert(MEMBERS, member("c", n=9), update, scope)) is None
    assert db.execute(Find(MEMBERS, None, BY_ID)) == [
        member("a", n=3),
        member("b", n=4),
        member("c", tenant="t2", n=5),
    ]
    upserts = [sql for sql in run if "ON DUPLICATE KEY UPDATE" in sql]
    assert len(run) == len(upserts) + 2  # the insert and the find
    assert db.statement(Upsert(MEMBERS, member("a"), ("n",), scope)) == upserts[0]
    with db.transaction() as tx:  # inside a transaction too
        result = tx.execute(Upsert(MEMBERS, member("a", n=7), ("n",), scope))
        assert result == UpsertResult(member("a", n=7), inserted=False)


def test_upsert_without_update_returns_the_existing_row(db: MySQLAdapter) -> None:
    db.execute(Insert(USERS, (user("u1", n=1),)))
    result = db.execute(Upsert(USERS, user("u1", email="x@example.com", n=7), (), SCOPE_T1))
    assert result == UpsertResult(user("u1", n=1), inserted=False)
    assert db.execute(Upsert(USERS, user("u1", n=7), ())) == result
    assert db.execute(Upsert(USERS, user("u2", n=7), (), SCOPE_T1)) == UpsertResult(
        user("u2", n=7), inserted=True
    )


def test_upsert_collisions_on_other_unique_indexes(db: MySQLAdapter) -> None:
    support.check_upsert_collisions_on_other_unique_indexes(db)


def test_upsert_inside_a_rolled_back_transaction(db: MySQLAdapter) -> None:
    db.execute(Insert(USERS, (user("u1", n=1),)))
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.execute(Upsert(USERS, user("u1", n=2), ("n",)))
        tx.execute(Upsert(USERS, user("u2", n=2), ("n",)))
        with pytest.raises(DuplicateKeyError):
            tx.execute(Upsert(USERS, user("u3", email="u1@example.com"), ("n",)))
        assert tx.execute(Count(USERS, eq("n", 2))) == 2
        raise RuntimeError
    assert db.execute(Find(USERS, None, BY_ID)) == [user("u1", n=1)]


def test_upsert_with_a_json_path_scope(db: MySQLAdapter) -> None:
    db.execute(Insert(DOCS, (doc(1, j={'o"wner': "x", "-k": 1}, n=1.0),)))
    scope = and_(eq(path("j", 'o"wner'), "y"), eq(path("j", "-k"), 1))
    assert db.execute(Upsert(DOCS, doc(1, n=2.0), ("n",), scope)) is None
    scope = and_(eq(path("j", 'o"wner'), "x"), eq(path("j", "-k"), 1))
    result = db.execute(Upsert(DOCS, doc(1, n=2.0), ("n",), scope))
    assert result == UpsertResult(doc(1, j={'o"wner': "x", "-k": 1}, n=2.0), inserted=False)


def test_concurrent_upserts_of_the_same_keys(db: MySQLAdapter) -> None:
    """Locking reads on missing keys take gap locks: racing inserters deadlock and retry."""
    keys = [f"k{n:02}" for n in range(15)]
    results: list[UpsertResult[dict[str, Any]] | None] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(t: int) -> None:
        barrier.wait()
        try:
            for key in keys:
                results.append(db.execute(Upsert(USERS, user(key, n=t), ("n",))))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 6 * len(keys)
    assert sum(1 for r in results if r is not None and r.inserted) == len(keys)
    assert ids(db, None, USERS) == keys


# --- transactions ---------------------------------------------------------------------------------------


def test_commit_rollback_and_own_writes(db: MySQLAdapter) -> None:
    support.check_commit_rollback_and_own_writes(db)


def test_savepoints_roll_back_only_their_block(db: MySQLAdapter) -> None:
    support.check_savepoints_roll_back_only_their_block(db)


def test_a_driver_error_inside_a_transaction_rolls_it_back(db: MySQLAdapter) -> None:
    missing = Model("missing", [Field("id", IntegerType())], primary_key=["id"])
    with pytest.raises(BackendError) as info, db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        tx.execute(Count(missing, None))
    assert info.value.model == "missing"
    assert isinstance(info.value.__cause__, pymysql.err.ProgrammingError)
    assert "1146" in str(info.value) and "\n" not in str(info.value)
    assert db.execute(Count(USERS, None)) == 0


def test_caught_failures_keep_the_transaction_going(db: MySQLAdapter) -> None:
    """TX-5: a failed statement has no effect; InnoDB keeps the transaction open."""
    with db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        with pytest.raises(DuplicateKeyError):
            tx.execute(Insert(USERS, (user("b"), user("a"))))
        with pytest.raises(DuplicateKeyError), tx.transaction() as inner:
            inner.execute(Insert(USERS, (user("c"),)))
            inner.execute(Insert(USERS, (user("a"),)))
        tx.execute(Insert(USERS, (user("d"),)))
    assert ids(db, None, USERS) == ["a", "d"]


@pytest.mark.parametrize("leave", ["return", "raise"])
def test_a_deadlock_victim_commits_nothing(db: MySQLAdapter, leave: str) -> None:
    """The victim leaves its block normally or by raising: either way nothing of it is
    committed, and its connection carries nothing of the rolled-back transaction into
    the next call (a path filter that meets a too-deep document is still decided here)."""
    db.execute(Insert(USERS, (user("a"), user("b"))))
    other = FACTORY.same_database(db)
    assert isinstance(other, MySQLAdapter)
    locked = threading.Barrier(2)
    outcome: dict[str, BaseException | None] = {}

    def run(adapter: MySQLAdapter, name: str, first: str, second: str) -> None:
        try:
            with adapter.transaction() as tx:
                tx.execute(Insert(USERS, (user(f"{name}-own"),)))
                tx.execute(Update(USERS, eq("id", first), {"n": 1}))
                locked.wait()
                try:
                    tx.execute(Update(USERS, eq("id", second), {"n": 2}))
                except BackendError as exc:
                    outcome[name] = exc
                    with pytest.raises(BackendError, match="rolled this transaction back"):
                        tx.execute(Count(USERS, None))
                    if leave == "raise":
                        raise
                    return  # leaving the block must not commit either
            outcome.setdefault(name, None)
        except BackendError as exc:
            outcome[f"{name}-exit"] = exc

    threads = [
        threading.Thread(target=run, args=(db, "x", "a", "b")),
        threading.Thread(target=run, args=(other, "y", "b", "a")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.execute(Insert(DOCS, (doc(1, j={"v": 1, "d": _nested(63)}), doc(2, j={"v": 2}))))
    for adapter in (db, other):  # each one's connection is the one its thread used
        assert ids(adapter, eq(path("j", "v"), 1)) == [1]
    other.close()
    victims = [name for name in ("x", "y") if outcome.get(name) is not None]
    assert len(victims) == 1, outcome
    victim = victims[0]
    assert isinstance(outcome[victim], ConflictError)  # ISO-4
    cause = outcome[victim].__cause__  # type: ignore[union-attr]
    assert isinstance(cause, pymysql.err.OperationalError) and cause.args[0] == 1213
    if leave == "raise":
        assert outcome[f"{victim}-exit"] is outcome[victim]
    else:
        assert "nothing was committed" in str(outcome[f"{victim}-exit"])
    survivor = "y" if victim == "x" else "x"
    assert ids(db, None, USERS) == ["a", "b", f"{survivor}-own"]


def test_misused_executors_raise(db: MySQLAdapter) -> None:
    support.check_misused_executors_raise(db)


def test_other_threads_use_other_connections_during_a_transaction(db: MySQLAdapter) -> None:
    seen: list[int] = []
    with db.transaction() as tx:
        tx.execute(Insert(USERS, (user("a"),)))
        thread = threading.Thread(target=lambda: seen.append(db.execute(Count(USERS, None))))
        thread.start()
        thread.join(timeout=10)
        assert seen == [0]  # its own connection: the uncommitted row is not visible
    assert db.execute(Count(USERS, None)) == 1


def test_many_threads_share_a_bounded_pool() -> None:
    base = fresh()
    adapter = MySQLAdapter(_url_of(base), max_connections=3)
    peak: list[int] = []

    def work(t: int) -> None:
        for n in range(25):
            adapter.execute(Insert(USERS, (user(f"{t}-{n}"),)))
            adapter.execute(Upsert(USERS, user(f"{t}-{n}", n=n), ("n",)))
            peak.append(adapter._open_count)

    try:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert adapter.execute(Count(USERS, None)) == 200
        assert adapter.execute(Count(USERS, eq("n", 24))) == 8
        assert max(peak) <= 3
    finally:
        adapter.close()
        base.close()


def _url_of(adapter: MySQLAdapter) -> str:
    """A URL on ``adapter``'s database, for a second, independent adapter."""
    auth = f"{quote(PARAMS.user, safe='')}:{quote(PARAMS.password, safe='')}"
    return f"mysql://{auth}@{PARAMS.host}:{PARAMS.port}/{adapter.database}"


# --- connections ----------------------------------------------------------------------------------------


def test_a_borrowed_connection_is_shared_and_left_open(db: MySQLAdapter) -> None:
    conn = raw(db)
    adapter = MySQLAdapter(conn)
    adapter.execute(Insert(USERS, (user("a"),)))
    seen: list[int] = []
    with adapter.transaction() as tx:
        tx.execute(Insert(USERS, (user("b"),)))
        thread = threading.Thread(target=lambda: seen.append(adapter.execute(Count(USERS, None))))
        thread.start()
        time.sleep(0.05)
        assert thread.is_alive() and not seen  # one connection: the other thread waits
    thread.join(timeout=10)
    assert seen == [2]
    adapter.close()
    assert conn.open
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM users")
        assert cursor.fetchone() == (2,)
    conn.close()


def test_unsuitable_connections_are_refused(db: MySQLAdapter) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"client_flag": 0}, "FOUND_ROWS"),
        ({"autocommit": False}, "autocommit"),
        ({"charset": "latin1"}, "utf8mb4"),
        ({"database": None}, "default database"),
    ]
    for options, match in cases:
        conn = raw(db, **options)
        with pytest.raises(ValueError, match=match):
            MySQLAdapter(conn)
        conn.close()
    busy = raw(db)
    busy.begin()
    with pytest.raises(ValueError, match="inside a transaction"):
        MySQLAdapter(busy)
    busy.close()
    with pytest.raises(TypeError):
        MySQLAdapter(42)  # type: ignore[arg-type]


def test_a_connection_factory_provides_and_gets_back_connections(db: MySQLAdapter) -> None:
    made: list[Any] = []

    def factory() -> Any:
        conn = raw(db)
        made.append(conn)
        return conn

    adapter = MySQLAdapter(factory, max_connections=4)
    barrier = threading.Barrier(3)

    def work() -> None:
        with adapter.transaction() as tx:
            barrier.wait()  # three transactions open at once: three connections
            tx.execute(Count(USERS, None))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 3
    adapter.close()
    assert not any(conn.open for conn in made)
    with pytest.raises(ValueError, match="FOUND_ROWS"):
        MySQLAdapter(lambda: raw(db, client_flag=0))


def test_a_connection_killed_while_it_rested_is_replaced_before_use(db: MySQLAdapter) -> None:
    """The server closed a pooled connection while it rested (KILL, a restart): the pool
    sees the socket readable and replaces it, so no call fails for it. A connection lost
    during a call fails that call (tests/faults)."""
    db.execute(Insert(USERS, (user("a"),)))
    (session,) = db._idle
    with session.conn.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (victim,) = cursor.fetchone() or (None,)
    killer = raw(db)
    with killer.cursor() as cursor:
        cursor.execute("KILL %s", (victim,))
    killer.close()
    sock: Any = getattr(session.conn, "_sock", None)  # PyMySQL's socket
    deadline = time.monotonic() + 5
    while not unsolicited(sock) and time.monotonic() < deadline:
        time.sleep(0.01)  # the server closes the killed connection's socket shortly after
    assert db.execute(Count(USERS, None)) == 1  # on a new connection, without an error
    assert session not in db._idle


def test_close(empty: MySQLAdapter) -> None:
    adapter = MySQLAdapter(_url_of(empty))
    adapter.close()
    adapter.close()
    with pytest.raises(BackendError, match="closed"):
        adapter.execute(Count(USERS, None))


# --- statement caching ------------------------------------------------------------------------------------


def test_statements_are_cached_per_shape_and_values_are_bound(db: MySQLAdapter) -> None:
    a = Find(DOCS, and_(eq("s", "x"), eq(path("j", "k"), 1)), BY_ID, 5)
    b = Find(DOCS, and_(eq("s", "y'; DROP TABLE docs; --"), eq(path("j", 'o"r'), 2.5)), BY_ID, 50)
    assert db.statement(a) is db.statement(b)
    statement = db.statement(a)
    assert statement is not None and statement.endswith("LIMIT %s")
    assert "'k'" not in statement and '"k"' not in statement  # keys are parameters
    db.execute(a)
    size = len(db.compiler.cache)
    db.execute(b)
    assert len(db.compiler.cache) == size
    assert db.execute(Count(DOCS, None)) == 0  # the table is still there


# --- bootstrap (BOOT-1..3) ---------------------------------------------------------------------------------


def _existing(adapter: MySQLAdapter) -> set[tuple[str, str | None]]:
    rows = query(
        adapter,
        "SELECT TABLE_NAME, NULL FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "UNION SELECT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME <> 'PRIMARY'",
    )
    return set(rows)


def test_bootstrap_is_idempotent_and_dry_run_executes_nothing(empty: MySQLAdapter) -> None:
    planned = empty.bootstrap(SCHEMA, dry_run=True)
    assert len(planned) == 4 and all(s.startswith("CREATE") for s in planned)
    assert _existing(empty) == set()
    assert empty.bootstrap(SCHEMA) == planned
    assert _existing(empty) == {
        ("docs", None),
        ("users", None),
        ("users", "users_email"),
        ("users", "users_tenant_n"),
    }
    assert empty.bootstrap(SCHEMA) == []
    assert empty.bootstrap(SCHEMA, dry_run=True) == []


class _NoIfNotExists(MariaDBDialect):
    """MariaDB spelt like MySQL 8: CREATE INDEX without IF NOT EXISTS."""

    create_index_if_not_exists = False


class _MySQL8Like(MySQLAdapter):
    dialects: ClassVar[dict[str, type[MySQLDialect]]] = {
        **MySQLAdapter.dialects,
        "mariadb": _NoIfNotExists,
    }


MANY = Schema(
    [
        Model(
            f"m{n}",
            [Field("id", IntegerType()), Field("a", StringType(10)), Field("b", NumberType())],
            primary_key=["id"],
            indexes=[Index(f"m{n}_a", ["a"]), Index(f"m{n}_b", [("b", "desc"), "a"], unique=True)],
        )
        for n in range(8)
    ]
)


def _bootstrap_together(
    adapters: list[MySQLAdapter], schema: Schema
) -> tuple[list[list[str]], list[BaseException]]:
    """Bootstrap every adapter at the same instant: what each ran, and the errors."""
    barrier = threading.Barrier(len(adapters))
    ran: list[list[str]] = []
    errors: list[BaseException] = []

    def race(adapter: MySQLAdapter) -> None:
        barrier.wait()
        try:
            ran.append(adapter.bootstrap(schema))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(a,)) for a in adapters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return ran, errors


@pytest.mark.parametrize("opener", [MySQLAdapter, _MySQL8Like], ids=["as-is", "no-if-not-exists"])
def test_concurrent_bootstraps_create_everything_exactly_once(
    opener: Callable[[str], MySQLAdapter],
) -> None:
    """BOOT-3: racers each on their own connection; GET_LOCK makes look-up and create one step."""
    expected = len(MANY.models) * 3
    for _ in range(2):
        base = fresh(None)
        racers = [opener(_url_of(base)) for _ in range(3)]
        if opener is _MySQL8Like:
            assert all(
                "IF NOT EXISTS" not in s
                for s in racers[0].bootstrap(MANY, dry_run=True)
                if "INDEX" in s
            )
        ran, errors = _bootstrap_together(racers, MANY)
        try:
            assert errors == []
            statements = [s for batch in ran for s in batch]
            assert len(statements) == len(set(statements)) == expected
            assert len(_existing(base)) == expected
        finally:
            for racer in racers:
                racer.close()
            base.close()


# --- against the reference, on generated data ----------------------------------------------------------------

FIELD_VALUES: dict[str, Sequence[Any]] = {
    "s": ["", "a", "a ", "B", "b", "é", "\ue000", "\U0001f600"],
    **support.OTHER_FIELD_VALUES,
}
JSON_SCALARS: list[Any] = ["", "1", "a", "a ", "b", "\U0001f600", 0, 1, 1.0, 2.5, -3, True, False]
JSON_KEYS = ["k", 'q"k', "a.b", "$", "-k"]
PATHS = [path("j", key) for key in JSON_KEYS] + [path("j", "o", "k"), path("j", 'q"k', "-k")]
data_rows, filters, orders = support.reference_strategies(
    field_values=FIELD_VALUES,
    json_scalars=JSON_SCALARS,
    json_keys=JSON_KEYS,
    nested_keys=["k", "o", 'q"k', "-k"],
    paths=PATHS,
    max_rows=10,
)


@pytest.fixture(scope="module")
def shared() -> Iterator[MySQLAdapter]:
    adapter = fresh()
    yield adapter
    adapter.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=data_rows(), where=filters, order=orders, limit=st.none() | st.integers(0, 5))
def test_filters_and_orders_agree_with_the_reference(
    shared: MySQLAdapter,
    rows: list[dict[str, Any]],
    where: Filter,
    order: tuple[Order, ...],
    limit: int | None,
) -> None:
    expected = support.reference_rows(rows, where, order, limit)
    support.check_agrees_with_the_reference(shared, rows, where, order, limit, expected, where)


# --- schema evolution (BOOT-5..7) ---------------------------------------------------------


def test_a_changed_varchar_length_is_a_mismatch_and_text_is_not_observed(db: MySQLAdapter) -> None:
    """VARCHAR(n) carries max_length; TEXT columns do not (docs/backends/mysql.md)."""
    named = Model(
        "named",
        [Field("id", IntegerType()), Field("s", StringType(10)), Field("t", StringType(2000))],
        primary_key=["id"],
    )
    db.bootstrap(Schema([named]))
    wider = named.replace(fields=[named.fields[0], Field("s", StringType(20)), named.fields[2]])
    with pytest.raises(SchemaMismatchError, match=r"varchar\(10\)") as caught:
        db.bootstrap(Schema([wider]))
    assert (caught.value.model, caught.value.field) == ("named", "s")
    longer = named.replace(fields=[*named.fields[:2], Field("t", StringType(3000))])
    assert db.bootstrap(Schema([longer]), dry_run=True) == []  # both TEXT
