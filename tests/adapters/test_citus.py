"""The PostgreSQL adapter on Citus (PART-4): distribution plan, error names, mismatches.

The planning and error-parsing tests need no server. The others run on a Citus
coordinator (``NOORM_CITUS_URL``, started by ``ci/citus``) and skip, saying so, without one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from noorm.adapters.postgres.citus import DistributedTable, distribution_plan
from noorm.adapters.postgres.dialect import PostgresDialect, constraint_from_message
from noorm.kit import Store
from noorm.spec import (
    Adapter,
    DuplicateKeyError,
    Field,
    Index,
    IntegerType,
    Model,
    Schema,
    SchemaMismatchError,
    StringType,
    gt,
)

ORGS = Model("orgs", [Field("org", IntegerType())], primary_key=["org"], partition_key="org")
USERS = Model(
    "users",
    [Field("org", IntegerType()), Field("id", StringType(8)), Field("email", StringType(32))],
    primary_key=["org", "id"],
    indexes=[Index("users_email", ["org", "email"], unique=True)],
    partition_key="org",
    colocate_with="orgs",
)
LOCAL = Model("local_things", [Field("id", IntegerType())], primary_key=["id"])
SCHEMA = Schema([USERS, ORGS, LOCAL])


def _dialect() -> PostgresDialect:
    return PostgresDialect("s")


def test_the_plan_distributes_anchors_first_and_colocates() -> None:
    plan = distribution_plan(_dialect(), SCHEMA, {"orgs", "users", "local_things"}, {})
    assert [d.model for d in plan] == ["orgs", "users"]  # local_things stays local
    assert plan[0].sql == (
        "SELECT create_distributed_table('\"s\".\"orgs\"', 'org', colocate_with => 'default')"
    )
    assert 'colocate_with => \'"s"."orgs"\'' in plan[1].sql
    assert distribution_plan(_dialect(), SCHEMA, set(), _existing(1, 1)) == []


def _existing(orgs: int, users: int, column: str = "org") -> dict[str, DistributedTable]:
    return {
        "orgs": DistributedTable("h", "org", orgs),
        "users": DistributedTable("h", column, users),
    }


@pytest.mark.parametrize(
    ("existing", "model", "message"),
    [
        (_existing(1, 2), "users", "not colocated with 'orgs'"),
        (_existing(1, 1, column="id"), "users", "distributed by 'id'"),
        ({"orgs": DistributedTable("h", "org", 1)}, "users", "not distributed"),
        (
            {**_existing(1, 1), "local_things": DistributedTable("h", "id", 3)},
            "local_things",
            "no partition key",
        ),
        (
            {"orgs": DistributedTable("n", None, 4), "users": DistributedTable("h", "org", 4)},
            "orgs",
            "not distributed",
        ),
    ],
)
def test_an_existing_table_distributed_otherwise_is_a_mismatch(
    existing: dict[str, DistributedTable], model: str, message: str
) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        distribution_plan(_dialect(), SCHEMA, set(), existing)
    assert caught.value.model == model and message in str(caught.value)


def test_a_colocated_table_whose_anchor_is_new_is_a_mismatch() -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        distribution_plan(_dialect(), SCHEMA, {"orgs"}, _existing(1, 1))
    assert caught.value.model == "users"


class _Diag:
    constraint_name = None


class _CitusError(Exception):
    sqlstate = "23505"
    diag = _Diag()


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ('duplicate key value violates unique constraint "users_email_102008"', "users_email"),
        ('duplicate key value violates unique constraint "t_pkey_102041"', "t_pkey"),
        ('duplicate key value violates unique constraint "a""b_7"', 'a"b'),
        ("could not create unique index", None),
    ],
)
def test_the_constraint_is_read_from_the_message_without_the_shard_suffix(
    message: str, name: str | None
) -> None:
    assert constraint_from_message(_CitusError(message)) == name
    error = _dialect().classify_error(_CitusError(message), "users")
    assert isinstance(error, DuplicateKeyError) and error.model == "users"
    assert (name or "duplicate key") in str(error)


class _CopyError(_CitusError):
    sqlstate = "XX000"


def test_a_duplicate_in_a_distributed_copy_is_a_duplicate_key_error() -> None:
    """Citus re-raises a worker's unique violation during COPY as an internal error."""
    message = 'duplicate key value violates unique constraint "batch_pkey_175897"'
    error = _dialect().classify_error(_CopyError(message), "batch")
    assert isinstance(error, DuplicateKeyError) and "constraint batch_pkey)" in str(error)
    other = _dialect().classify_error(_CopyError("something else"), "batch")
    assert not isinstance(other, DuplicateKeyError)


# --- on a Citus coordinator ----------------------------------------------------------------

needs_citus = pytest.mark.skipif(
    not os.environ.get("NOORM_CITUS_URL"), reason="needs NOORM_CITUS_URL (ci/citus)"
)


@pytest.fixture
def citus() -> Iterator[Adapter]:
    from noorm.adapters.postgres.testing import CITUS_URL_ENV, ConformanceFactory

    adapter = ConformanceFactory(CITUS_URL_ENV)()
    yield adapter
    adapter.close()


@needs_citus
def test_bootstrap_distributes_and_a_second_run_is_a_no_op(citus: Adapter) -> None:
    from noorm.adapters.postgres import PostgresAdapter

    assert isinstance(citus, PostgresAdapter) and citus.citus_version()
    store = Store(SCHEMA, citus)
    planned = store.bootstrap(dry_run=True)
    assert sum("create_distributed_table" in s for s in planned) == 2
    assert store.bootstrap() == planned and store.bootstrap() == []
    store.insert_many(ORGS, [{"org": k} for k in range(8)])
    store.insert_many(USERS, [{"org": k % 8, "id": f"u{k}", "email": f"e{k}"} for k in range(40)])
    with pytest.raises(DuplicateKeyError, match=r"constraint users_email\)"):
        store.insert(USERS, {"org": 1, "id": "new", "email": "e1"})
    with pytest.raises(DuplicateKeyError, match=r"constraint users_pkey\)"):
        store.insert(USERS, {"org": 1, "id": "u1", "email": "other"})
    # A locking read over every shard: Citus refuses FOR UPDATE there; the rows are locked
    # by key instead, and the read returns what a plain read returns.
    with store.transaction() as tx:
        locked = tx.find(USERS, gt("org", 2), for_update=True).rows
        assert locked == tx.find(USERS, gt("org", 2)).rows and len(locked) == 25
    # The model unpartitioned over its distributed table: a mismatch, nothing changed.
    with pytest.raises(SchemaMismatchError) as caught:
        Store(Schema([USERS.replace(partition_key=(), colocate_with=None)]), citus).bootstrap()
    assert caught.value.model == "users" and caught.value.field == "org"
    assert store.count(USERS) == 40


@needs_citus
def test_a_local_table_later_partitioned_is_a_mismatch(citus: Adapter) -> None:
    plain = Schema([ORGS.replace(partition_key=())])
    Store(plain, citus).bootstrap()
    with pytest.raises(SchemaMismatchError) as caught:
        Store(Schema([ORGS]), citus).bootstrap(dry_run=True)
    assert caught.value.model == "orgs" and "not distributed" in str(caught.value)
