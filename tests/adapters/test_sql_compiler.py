"""The shared SQL compiler: shapes, caching, rendering and dialect hooks (no database needed).

Behaviour against a real database is in test_sqlite.py; here the point is what SQL
is produced, that it is produced once per shape, and that values never reach it.
"""

from __future__ import annotations

import functools
import random
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from noorm.adapters.sql import Compiler, Dialect, StatementCache
from noorm.adapters.sql.compiler import CHAIN, DEEP
from noorm.adapters.sqlite import SQLiteDialect
from noorm.adapters.sqlite.dialect import json_path
from noorm.spec import (
    ALL,
    BooleanType,
    Count,
    Delete,
    Field,
    Filter,
    Find,
    Index,
    Insert,
    IntegerType,
    JsonType,
    Model,
    NumberType,
    Order,
    Schema,
    StringType,
    TimestampType,
    Update,
    Upsert,
    ValidationError,
    and_,
    eq,
    gt,
    in_,
    is_null,
    lt,
    ne,
    not_,
    not_in,
    or_,
    path,
)
from noorm.spec.filters import And, Compare, In, Or

ITEMS = Model(
    "items",
    [
        Field("id", StringType(36)),
        Field("name", StringType(100), nullable=True),
        Field("score", NumberType(), nullable=True),
        Field("rank", IntegerType()),
        Field("ok", BooleanType(), nullable=True),
        Field("at", TimestampType(), nullable=True),
        Field("meta", JsonType(), nullable=True),
    ],
    primary_key=["id"],
    indexes=[Index("items_rank", [("rank", "desc"), "id"], unique=True)],
)
PAIRS = Model(
    "pairs",
    [Field("a", IntegerType()), Field("b", StringType(10)), Field("v", NumberType())],
    primary_key=["a", "b"],
)
ORDER = (Order("id"),)
EVIL = 'x"; DROP TABLE items; --'


@pytest.fixture
def compiler() -> Compiler:
    return Compiler(SQLiteDialect())


def find(
    where: Filter | None, *, order: tuple[Order, ...] = ORDER, limit: int | None = None
) -> Find:
    return Find(ITEMS, where, order, limit)


def placeholders(sql: str) -> int:
    return sql.count("?")


# --- caching ------------------------------------------------------------------------------


def test_same_shape_gives_the_same_sql_object(compiler: Compiler) -> None:
    a = compiler.find(find(and_(eq("name", "x"), gt("score", 1.0)), limit=5))
    b = compiler.find(find(and_(eq("name", "y"), gt("score", 99.5)), limit=10))
    assert a.sql is b.sql
    assert a.params == ["x", 1.0, 5]
    assert b.params == ["y", 99.5, 10]


def test_values_never_reach_the_sql(compiler: Compiler) -> None:
    op = find(
        or_(eq("name", EVIL), eq(path("meta", EVIL, "k"), EVIL), in_("name", [EVIL, "'"])),
    )
    compiled = compiler.find(op)
    assert "DROP" not in compiled.sql
    literals = ("'text'", "'null'", "'object'")
    assert "'" not in compiled.sql.replace(literals[0], "").replace(literals[1], "").replace(
        literals[2], ""
    )
    assert EVIL in compiled.params


def test_shape_changes_give_other_sql(compiler: Compiler) -> None:
    base = compiler.find(find(eq("name", "x"))).sql
    assert compiler.find(find(ne("name", "x"))).sql is not base
    assert compiler.find(find(eq("id", "x"))).sql is not base
    assert compiler.find(find(eq("name", "x"), limit=3)).sql is not base
    assert compiler.find(find(eq("name", "x"), order=(Order("rank", True), *ORDER))).sql != base
    assert (
        compiler.find(find(in_("name", ["a"]))).sql
        != compiler.find(find(in_("name", ["a", "b"]))).sql
    )


def test_json_values_of_other_types_are_other_shapes(compiler: Compiler) -> None:
    as_text = compiler.find(find(eq(path("meta", "k"), "1")))
    as_number = compiler.find(find(eq(path("meta", "k"), 1)))
    assert as_text.sql != as_number.sql
    assert compiler.find(find(eq(path("meta", "other", "deeper"), "z"))).sql is as_text.sql


def test_every_operation_is_cached(compiler: Compiler) -> None:
    row: dict[str, Any] = {
        "id": "a", "name": None, "score": 1.0, "rank": 1, "ok": True, "at": None, "meta": {}
    }  # fmt: skip
    ops: list[tuple[Any, Any]] = [
        (Count(ITEMS, eq("rank", 1)), Count(ITEMS, eq("rank", 2))),
        (Delete(ITEMS, eq("rank", 1)), Delete(ITEMS, eq("rank", 2))),
        (Update(ITEMS, eq("rank", 1), {"name": "a"}), Update(ITEMS, eq("rank", 2), {"name": "b"})),
        (Insert(ITEMS, (row,)), Insert(ITEMS, ({**row, "id": "b"},))),
        (Upsert(ITEMS, row, ("name",)), Upsert(ITEMS, {**row, "id": "z"}, ("name",))),
    ]
    for first, second in ops:
        assert compiler.statement(first) is compiler.statement(second)
    size = len(compiler.cache)
    for first, _ in ops:
        compiler.statement(first)
    assert len(compiler.cache) == size


def test_models_are_cached_by_identity_not_by_name(compiler: Compiler) -> None:
    other = Model(
        "items", [Field("id", StringType(36)), Field("x", IntegerType())], primary_key=["id"]
    )
    assert '"x"' in compiler.find(Find(other, None, ORDER)).sql
    assert '"x"' not in compiler.find(find(None)).sql


def test_statement_cache_is_bounded_lru() -> None:
    cache = StatementCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # "a" is now the most recent
    cache.put("c", "C")
    assert cache.get("b") is None
    assert cache.get("a") == "A"
    first = cache.get("c")
    assert cache.put("c", "C again") is first


# --- filters ----------------------------------------------------------------------------------


def where_of(compiler: Compiler, where: Filter) -> tuple[str, list[Any]]:
    compiled = compiler.count(Count(ITEMS, where))
    sql = compiled.sql.removeprefix('SELECT COUNT(*) FROM "items" WHERE ')
    return sql, compiled.params


def test_logic_identities(compiler: Compiler) -> None:
    assert where_of(compiler, ALL) == ("TRUE", [])
    assert where_of(compiler, or_()) == ("FALSE", [])
    assert where_of(compiler, in_("name", [])) == ("FALSE", [])
    assert where_of(compiler, not_in("name", [])) == ('"name" IS NOT NULL', [])
    assert where_of(compiler, not_(eq("name", "x"))) == ('("name" = ?) IS NOT TRUE', ["x"])
    assert where_of(compiler, eq("name", None)) == ('"name" IS NULL', [])
    assert where_of(compiler, ne("name", None)) == ('("name" IS NULL) IS NOT TRUE', [])
    assert where_of(compiler, not_(or_(eq("rank", 1), eq("rank", 2)))) == (
        '("rank" = ? OR "rank" = ?) IS NOT TRUE',  # the group's own parentheses serve
        [1, 2],
    )
    assert where_of(compiler, Compare("lt", "name", None)) == ("FALSE", [])
    assert where_of(compiler, In("name", ("a", None), negated=True)) == ('"name" NOT IN (?)', ["a"])


def test_timestamps_and_booleans_are_encoded(compiler: Compiler) -> None:
    moment = datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert where_of(compiler, lt("at", moment)) == ('"at" < ?', [-1])
    assert where_of(compiler, in_("ok", [True, False])) == ('"ok" IN (?, ?)', [1, 0])


def test_json_comparisons_are_typed(compiler: Compiler) -> None:
    path_k = '$."k"'
    sql, params = where_of(compiler, eq(path("meta", "k"), 1))
    assert sql == (
        "(json_type(\"items\".\"meta\", ?) IN ('integer', 'real') "
        'AND json_extract("items"."meta", ?) = ?)'
    )
    assert params == [path_k, path_k, 1]
    sql, params = where_of(compiler, ne(path("meta", "k"), True))
    assert sql.startswith('(json_type("items"."meta", ?) <> \'null\' AND NOT (')
    assert params == [path_k, path_k, path_k, 1]
    assert where_of(compiler, lt(path("meta", "k"), True)) == ("FALSE", [])
    sql, params = where_of(compiler, is_null(path("meta", "k")))
    assert sql == "COALESCE(json_type(\"items\".\"meta\", ?), 'null') = 'null'"
    assert params == [path_k]


def test_json_in_groups_values_by_type(compiler: Compiler) -> None:
    sql, params = where_of(compiler, in_(path("meta", "k"), ["a", 1, "b", False]))
    assert sql.count(" OR ") == 2
    assert params == ['$."k"', '$."k"', "a", "b", '$."k"', '$."k"', 1, '$."k"', '$."k"', 0]
    sql, params = where_of(compiler, not_in(path("meta", "k"), []))
    assert sql == '(json_type("items"."meta", ?) <> \'null\' AND NOT FALSE)'


@pytest.mark.parametrize(
    "bad",
    [
        eq("meta", "x"),
        in_("meta", ["x"]),
        eq(path("name", "k"), "x"),
        eq("nope", 1),
        eq(path("meta", "k"), [1]),
        Compare("like", "name", "x"),  # type: ignore[arg-type]
    ],
)
def test_bad_filters_are_validation_errors(compiler: Compiler, bad: Filter) -> None:
    with pytest.raises(ValidationError) as info:
        compiler.find(find(bad))
    assert info.value.model == "items"


def test_order_and_limit(compiler: Compiler) -> None:
    sql = compiler.find(
        find(None, order=(Order("name"), Order("score", True), *ORDER), limit=1)
    ).sql
    assert sql.endswith(
        'ORDER BY "name" ASC NULLS FIRST, "score" DESC NULLS LAST, "id" ASC LIMIT ?'
    )
    # ORD-2: the primary key completes every order, and orders a read without one.
    assert compiler.find(find(None, order=(Order("name"),))).sql.endswith(
        'ORDER BY "name" ASC NULLS FIRST, "id" ASC'
    )
    assert compiler.find(find(None, order=())).sql.endswith('ORDER BY "id" ASC')
    pairs = compiler.find(Find(PAIRS, None, (Order("b", True),))).sql
    assert pairs.endswith('ORDER BY "b" DESC, "a" ASC')
    with pytest.raises(ValidationError):
        compiler.find(find(None, order=(Order("meta"),)))
    for limit in (-1, True, 1.5, "1"):
        with pytest.raises(ValidationError):
            compiler.find(find(None, limit=limit))  # type: ignore[arg-type]


def test_shape_and_params_agree_on_random_trees(compiler: Compiler) -> None:
    leaves: list[Filter] = [
        eq("name", "a"),
        ne("score", 1.0),
        in_("rank", [1, 2, 3]),
        not_in("name", ["x"]),
        is_null("ok"),
        eq(path("meta", "k"), "v"),
        ne(path("meta", "a", 'b"c'), 2),
        in_(path("meta", "k"), [1, "1", True]),
        not_in(path("meta", "a.b"), ["q"]),
        is_null(path("meta", "k", "j")),
        gt(path("meta", 'q"'), 1.5),
    ]
    trees: list[Filter] = [*leaves]
    for i, leaf in enumerate(leaves):
        other = leaves[(i * 7 + 3) % len(leaves)]
        trees += [and_(leaf, not_(other)), or_(not_(leaf), and_(other, leaf)), not_(or_(leaf))]
    for tree in trees:
        for dialect in (SQLiteDialect(), SQLiteDialect(json_path_strings=False)):
            compiled = Compiler(dialect).count(Count(ITEMS, tree))
            assert placeholders(compiled.sql) == len(compiled.params), compiled.sql


# --- JSON paths ---------------------------------------------------------------------------------


def test_json_path_strings() -> None:
    assert json_path(("a", "b")) == '$."a"."b"'
    assert json_path(("a.b", "$", "[0]", "")) == '$."a.b"."$"."[0]".""'
    assert json_path(("a\\b", "é", "\n")) == '$."a\\\\b"."é"."\\n"'
    assert json_path(('a"b',)) is None


def test_keys_with_quotes_use_json_each_with_bound_keys() -> None:
    access = SQLiteDialect().json_access('"t"."meta"', ('a"b', "c"), "string")
    assert access.shape == ("each", 2)
    assert access.type_params == ('a"b', "c")
    assert 'a"b' not in access.type_sql
    assert 'json_each("t"."meta") AS "j$0"' in access.type_sql
    assert 'json_each(CASE WHEN "j$0".type = \'object\' THEN "j$0".value END)' in access.type_sql


# --- statements ---------------------------------------------------------------------------------


def item(i: int, name: str | None = None) -> dict[str, Any]:
    return {
        "id": str(i),
        "name": name,
        "score": None,
        "rank": i,
        "ok": None,
        "at": None,
        "meta": None,
    }


def test_insert_chunks_under_the_parameter_limit() -> None:
    dialect = SQLiteDialect(max_params=14)  # two rows of seven columns per statement
    compiler = Compiler(dialect)
    rows = tuple(item(i) for i in range(5))
    chunks = list(compiler.insert(Insert(ITEMS, rows)))
    assert [len(c.params) for c in chunks] == [14, 14, 7]
    assert chunks[0].sql is chunks[1].sql
    assert chunks[0].sql.count("(?, ?, ?, ?, ?, ?, ?)") == 2
    assert [p for c in chunks for p in c.params] == [v for r in rows for v in r.values()]


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 100, 1001])
@pytest.mark.parametrize(("max_params", "max_bytes"), [(7, 10**9), (21, 10**9), (10**6, 2000)])
def test_insert_chunks_hold_every_row_once_in_order(
    rows: int, max_params: int, max_bytes: int
) -> None:
    """Chunks are consecutive, never overlap, never skip a row, and respect both limits."""
    dialect = SQLiteDialect(max_params=max_params)
    dialect.max_statement_bytes = max_bytes
    compiler = Compiler(dialect)
    batch = tuple(item(i, "n" * (i % 50)) for i in range(rows))
    chunks = list(compiler.insert(Insert(ITEMS, batch)))
    assert [p for c in chunks for p in c.params] == [v for r in batch for v in r.values()]
    for chunk in chunks:
        count = len(chunk.params) // 7
        assert chunk.sql.count("(?, ?, ?, ?, ?, ?, ?)") == count >= 1
        assert count * 7 <= max(7, max_params)
        assert count == 1 or dialect.values_bytes(chunk.params) <= max_bytes
    assert len(chunks) >= max(rows * 7 // max_params, 1)


def test_one_huge_row_is_one_chunk_and_bytes_split_batches() -> None:
    dialect = SQLiteDialect()
    dialect.max_statement_bytes = 1000
    compiler = Compiler(dialect)
    chunks = list(compiler.insert(Insert(ITEMS, (item(0, "x" * 5000), item(1), item(2)))))
    assert [len(c.params) // 7 for c in chunks] == [1, 2]


def test_update_upsert_and_key_selects(compiler: Compiler) -> None:
    update = compiler.update(Update(PAIRS, eq("v", 1.0), {"v": 2.0}))
    assert update == ('UPDATE "pairs" SET "v" = ? WHERE "v" = ?', [2.0, 1.0])
    row = {"a": 1, "b": "x", "v": 3.0}
    upsert = Upsert(PAIRS, row, ("v",), gt("v", 0.0))
    assert compiler.upsert_insert(upsert) == (
        'INSERT INTO "pairs" ("a", "b", "v") VALUES (?, ?, ?) ON CONFLICT ("a", "b") DO NOTHING',
        [1, "x", 3.0],
    )
    assert compiler.upsert_update(upsert) == (
        'UPDATE "pairs" SET "v" = ? WHERE "a" = ? AND "b" = ? AND "v" > ?',
        [3.0, 1, "x", 0.0],
    )
    assert compiler.select_key(PAIRS, row, None) == (
        'SELECT "a", "b", "v" FROM "pairs" WHERE "a" = ? AND "b" = ?',
        [1, "x"],
    )
    counted = compiler.update(Update(PAIRS, None, {}))
    assert counted == ('SELECT COUNT(*) FROM "pairs"', [])


def test_ddl() -> None:
    statements = Compiler(SQLiteDialect()).ddl(Schema([ITEMS, PAIRS]))
    assert [s.sql for s in statements] == [
        'CREATE TABLE IF NOT EXISTS "items" ("id" TEXT COLLATE BINARY NOT NULL, '
        '"name" TEXT COLLATE BINARY, "score" REAL, "rank" INTEGER NOT NULL, '
        '"ok" INTEGER CHECK ("ok" IN (0, 1)), "at" INTEGER, '
        '"meta" TEXT CHECK ("meta" IS NULL OR json_valid("meta")), PRIMARY KEY ("id")) STRICT',
        'CREATE UNIQUE INDEX IF NOT EXISTS "items_rank" ON "items" ("rank" DESC, "id" ASC)',
        'CREATE TABLE IF NOT EXISTS "pairs" ("a" INTEGER NOT NULL, '
        '"b" TEXT COLLATE BINARY NOT NULL, "v" REAL NOT NULL, PRIMARY KEY ("a", "b")) STRICT',
    ]
    assert [(s.model, s.index_name) for s in statements] == [
        ("items", None),
        ("items", "items_rank"),
        ("pairs", None),
    ]
    loose = Compiler(SQLiteDialect(strict=False)).ddl(Schema([PAIRS]))
    assert not loose[0].sql.endswith("STRICT")


# --- other dialect settings (what PostgreSQL and MySQL subclasses will flip) ---------------------


class FormatDialect(SQLiteDialect):
    """A stand-in for a %s-placeholder backend with literal LIMIT and no NULLS clause."""

    placeholder: ClassVar[str] = "%s"
    limit_as_param: ClassVar[bool] = False
    create_index_if_not_exists: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__(nulls_clause=False)

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"


class NullsHighDialect(FormatDialect):
    """Like PostgreSQL: NULL sorts highest by default."""

    nulls_sort_low: ClassVar[bool] = False


def test_format_placeholders_literal_limit_and_null_ordering() -> None:
    low = Compiler(FormatDialect())
    first = low.find(find(eq("name", "x"), order=(Order("name"), *ORDER), limit=7))
    assert first.sql == (
        "SELECT `id`, `name`, `score`, `rank`, `ok`, `at`, `meta` FROM `items` "
        "WHERE `name` = %s ORDER BY `name` ASC, `id` ASC LIMIT 7"
    )
    assert first.params == ["x"]
    assert low.find(find(eq("name", "y"), order=(Order("name"), *ORDER), limit=7)).sql is first.sql
    assert low.find(find(eq("name", "y"), order=(Order("name"), *ORDER), limit=8)).sql.endswith(
        "LIMIT 8"
    )
    high = Compiler(NullsHighDialect())
    sql = high.find(find(None, order=(Order("name"), Order("score", True), *ORDER))).sql
    assert sql.endswith(
        "ORDER BY (`name` IS NULL) DESC, `name` ASC, (`score` IS NULL) ASC, `score` DESC, `id` ASC"
    )
    ddl = high.ddl(Schema([ITEMS]))
    assert ddl[1].sql.startswith("CREATE UNIQUE INDEX `items_rank`")


def test_quoting_escapes_quote_characters() -> None:
    assert Dialect().quote('we"ird') == '"we""ird"'
    assert Dialect().literal("it's") == "'it''s'"


def test_base_dialect_has_no_json_paths() -> None:
    from noorm.spec import UnsupportedError

    with pytest.raises(UnsupportedError):
        Dialect().json_access(None, ("k",), None)


def test_and_or_nesting_is_parenthesized(compiler: Compiler) -> None:
    sql, _ = where_of(compiler, Or((And((eq("name", "a"), eq("rank", 1))), eq("rank", 2))))
    assert sql == '(("name" = ? AND "rank" = ?) OR "rank" = ?)'


def test_deeply_nested_operands_come_first_and_params_follow(compiler: Compiler) -> None:
    """An operand nesting DEEP levels or more opens the chain; the plain conditions follow
    as one group. Shallower filters keep the caller's order."""
    shallow = And((eq("rank", 1), Or((eq("name", "a"), not_(eq("name", "b")))), eq("rank", 2)))
    assert where_of(compiler, shallow) == (
        '("rank" = ? AND ("name" = ? OR ("name" = ?) IS NOT TRUE) AND "rank" = ?)',
        [1, "a", "b", 2],
    )
    deep: Filter = eq("name", "b")
    for _ in range(DEEP):
        deep = not_(deep)
    where = And((eq("rank", 1), Or((eq("name", "a"), deep)), eq("rank", 2)))
    sql, params = where_of(compiler, where)
    nots = "(" * DEEP + '"name" = ?' + ") IS NOT TRUE" * DEEP
    assert sql == f'(({nots} OR "name" = ?) AND ("rank" = ? AND "rank" = ?))'
    assert params == ["b", "a", 1, 2]
    # the same shape with other values: the same SQL object, params in the same order
    other = where_of(compiler, And((eq("rank", 3), Or((eq("name", "c"), deep)), eq("rank", 4))))
    assert other == (sql, ["b", "c", 3, 4])


def test_same_kind_nesting_is_one_flat_list(compiler: Compiler) -> None:
    nested = functools.reduce(lambda a, b: Or((a, b)), [eq("rank", i) for i in range(3_000)])
    flat = Or(tuple(eq("rank", i) for i in range(3_000)))
    assert compiler.count(Count(ITEMS, nested)) == compiler.count(Count(ITEMS, flat))
    assert where_of(compiler, And((And((eq("rank", 1), eq("rank", 2))), eq("rank", 3)))) == (
        '("rank" = ? AND "rank" = ? AND "rank" = ?)',
        [1, 2, 3],
    )
    assert where_of(compiler, And((Or((eq("rank", 1),)),))) == ('"rank" = ?', [1])


def _chain_lengths(sql: str, joiner: str) -> list[int]:
    """Operands of every parenthesized group of ``sql`` (conditions hold no parentheses)."""
    lengths, stack = [], [0]
    for token in re.findall(r"\(|\)| OR | AND ", sql):
        if token == "(":
            stack.append(0)
        elif token == ")":
            lengths.append(stack.pop() + 1)
        elif token == joiner:
            stack[-1] += 1
    return lengths


def test_long_lists_become_balanced_chains(compiler: Compiler) -> None:
    """No flat chain longer than CHAIN: SQLite nests a chain of n operands n levels deep."""
    sql, params = where_of(compiler, Or(tuple(eq("rank", i) for i in range(2_000))))
    assert params == list(range(2_000))
    assert max(_chain_lengths(sql, " OR ")) <= CHAIN
    assert sql.count("(") <= 2_000 // CHAIN * 2
    assert where_of(compiler, Or(tuple(eq("rank", i) for i in range(CHAIN))))[0].count("(") == 1


def test_deep_filters_fit_sqlite_parser_and_depth_limits() -> None:
    """32 levels of 30 conditions, nested NOTs, inside a scope and a cursor's OR: SQLite
    3.40 parses them (its parser stack holds about 100 entries, its trees 1,000 levels)."""
    import sqlite3

    conn = sqlite3.connect(":memory:")
    compiler = Compiler(SQLiteDialect(json_path_strings=False))
    conn.execute(compiler.ddl(Schema([ITEMS]))[0].sql.replace(" STRICT", ""))

    def leaf(i: int) -> Filter:
        return [eq("name", "a"), gt("score", 1.0), in_("rank", [1, 2]), is_null("ok"),
                eq(path("meta", 'q"', *["a"] * 30), 1)][i % 5]  # fmt: skip

    deep = leaf(0)
    for level in range(32):
        items = [leaf(level * 30 + k) for k in range(30)]
        items.insert(level % 31, deep)
        deep = And(tuple(items)) if level % 2 else Or(tuple(items))
    nots = leaf(1)
    for _ in range(32):
        nots = not_(nots)
    cursor = Or(tuple(And((*(eq("rank", k) for k in range(b)), gt("rank", b))) for b in range(32)))
    for where in (deep, nots):
        wrapped = And((eq("name", "t"), And((where, cursor))))
        compiled = compiler.find(Find(ITEMS, wrapped, ORDER, 10))
        conn.execute(compiled.sql, compiled.params).fetchall()


def test_compare_with_none_compiles_like_is_null(compiler: Compiler) -> None:
    """The kit rewrites eq/ne None earlier; the compiler must agree for direct callers."""
    order = (Order("id"),)
    for raw_filter, same in (
        (Compare("eq", "name", None), is_null("name")),
        (Compare("ne", "name", None), not_(is_null("name"))),
    ):
        assert compiler.find(Find(ITEMS, raw_filter, order)) == compiler.find(
            Find(ITEMS, same, order)
        )


def test_integer_columns_decode_to_int() -> None:
    from decimal import Decimal

    codec = SQLiteDialect().codec
    decode = codec.decoder(IntegerType())
    assert decode is not None
    for value in (Decimal(7), 7.0, "7", 7):
        decoded = decode(value)
        assert decoded == 7 and type(decoded) is int


# --- the statement cache agrees with a fresh compile -------------------------------------------


def _compiler(backend: str) -> Compiler:
    from noorm.adapters.mysql import MariaDBDialect, MySQLDialect
    from noorm.adapters.postgres.compiler import PostgresCompiler
    from noorm.adapters.postgres.dialect import PostgresDialect

    if backend == "postgres":
        return PostgresCompiler(PostgresDialect())
    return Compiler(
        {
            "sqlite": SQLiteDialect(),
            "json_each": SQLiteDialect(json_path_strings=False),
            "mysql": MySQLDialect(),
            "mariadb": MariaDBDialect(),
        }[backend]
    )


@pytest.mark.parametrize("backend", ["sqlite", "json_each", "postgres", "mysql", "mariadb"])
def test_a_cached_statement_is_what_a_fresh_compile_gives(backend: str) -> None:
    """A filter whose shape was compiled before reuses that statement: its SQL and the
    order of its params must be what compiling it from scratch gives, for trees of every
    form (deep operands are moved first; the quick shape walk must agree)."""
    from .support import FILTERED, FILTERED_ORDER, PLAIN_KINDS, random_tree

    warm = _compiler(backend)
    rng = random.Random(backend)
    for n in range(200):
        depth = rng.randint(1, 32 if n % 4 == 0 else 9)  # the quick walk gives up deeper
        state = rng.getstate()
        for attempt in range(2):  # the second finds the first's statements in the cache
            rng.setstate(state)
            kinds = PLAIN_KINDS if n % 2 else range(12)
            where = random_tree(rng, random.Random(2 * n + attempt), depth, kinds=kinds)
            find = Find(FILTERED, where, FILTERED_ORDER, 10)
            assert warm.find(find) == _compiler(backend).find(find), (n, depth)
            count = Count(FILTERED, where)
            assert warm.count(count) == _compiler(backend).count(count), (n, depth)


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (Compare("lt", "nope", None), "nope"),
        (Compare("gte", path("nope", "k"), None), "nope"),
        (Compare("gt", path("name", "k"), None), "name"),
        (Compare("like", "name", None), "name"),  # type: ignore[arg-type]
    ],
)
def test_comparisons_with_none_check_their_field_and_operator(
    compiler: Compiler, where: Filter, field: str
) -> None:
    """``lt(x, None)`` matches nothing (NULL-1), but only for a field and operator that
    exist: a direct caller gets the same ValidationError as for any other value."""
    with pytest.raises(ValidationError) as caught:
        compiler.count(Count(ITEMS, where))
    assert (caught.value.model, caught.value.field) == ("items", field)


# --- the health check of resting connections (no database needed) ------------------------------


def test_a_resting_socket_is_unsolicited_once_the_peer_writes_or_closes() -> None:
    import socket
    import time

    from noorm.adapters.sql.health import PING_AFTER_IDLE, needs_ping, unsolicited

    ours, peer = socket.socketpair()
    try:
        now = time.monotonic()
        assert not unsolicited(ours)
        assert not needs_ping(ours, now)
        assert needs_ping(ours, now - PING_AFTER_IDLE)  # rested too long
        assert needs_ping(ours, None) and needs_ping(None, now)  # unknown: always
        peer.sendall(b"x")  # e.g. the server's goodbye
        assert unsolicited(ours) and needs_ping(ours, now)
        ours.recv(1)
        assert not unsolicited(ours)
        peer.close()  # the server closed it: readable (EOF)
        assert unsolicited(ours)
    finally:
        ours.close()
        peer.close()
    assert unsolicited(ours)  # closed on our side: no descriptor

    class Gone:
        def fileno(self) -> int:
            raise OSError("the connection is closed")  # as psycopg's closed connection says

    assert unsolicited(Gone())
