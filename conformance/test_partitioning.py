"""Spec section 11, partitioning: the partition key, colocation and the unique-index rule.

The schema rules (PART-1, PART-2) are the kit's, checked before any adapter is involved,
so they hold identically everywhere. PART-3 is differential: one workload runs on the
adapter under test twice, on two fresh databases from its factory: with partitioned,
colocated models and with the same models unpartitioned; every result must be equal.
(Whether the results are right is every other clause's business: an adapter that gets
ordering wrong gets it wrong alike on both, and fails ORD-1, not PART-3.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, TypedDict

import pytest

from noorm.kit import Plugin, Store, TenantScope
from noorm.spec import (
    ALL,
    Adapter,
    Capability,
    DuplicateKeyError,
    Field,
    Filter,
    Index,
    IntegerType,
    JsonType,
    Model,
    NoOrmError,
    Order,
    Row,
    Schema,
    SchemaError,
    SchemaMismatchError,
    StringType,
    TimestampType,
    and_,
    asc,
    desc,
    eq,
    gt,
    in_,
    is_null,
    model,
    schema_from_json,
    schema_to_json,
)

from .conftest import CURSOR_KEY, StoreMaker
from .plugin import Subject

# --- the models ---------------------------------------------------------------------------

ORGS: Model[Row] = Model(
    "part_orgs",
    [Field("org", IntegerType()), Field("name", StringType(40), nullable=True)],
    primary_key=["org"],
    partition_key=["org"],
)
USERS: Model[Row] = Model(
    "part_users",
    [
        Field("org", IntegerType()),
        Field("id", StringType(16)),
        Field("email", StringType(64)),
        Field("score", IntegerType(), nullable=True),
        Field("t", TimestampType(), nullable=True),
        Field("doc", JsonType(), nullable=True),
    ],
    primary_key=["org", "id"],
    indexes=[
        Index("part_users_email", ["email", "org"], unique=True),
        Index("part_users_score", [("score", "desc"), "t"]),
    ],
    partition_key=["org"],
    colocate_with="part_orgs",
)
"""Colocated with ORGS; its unique index holds the partition key, not in first place."""

EVENTS: Model[Row] = Model(
    "part_events",
    [Field("id", StringType(32)), Field("kind", StringType(8)), Field("n", IntegerType())],
    primary_key=["id"],
    indexes=[Index("part_events_kind", ["kind", "n"])],
    partition_key="id",
)
"""Partitioned by a string key, in no colocation group."""

PARTITIONED = Schema([ORGS, USERS, EVENTS])
PLAIN = Schema(m.replace(partition_key=(), colocate_with=None) for m in PARTITIONED.models)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _users(count: int) -> list[Row]:
    return [
        {
            "org": k % 5,
            "id": f"u{k:03}",
            "email": f"user{k % 17}@org{k % 5}",
            "score": None if k % 7 == 0 else (k * 37) % 11,
            "t": T0 + timedelta(minutes=k % 4),
            "doc": {"k": k, "tags": ["a", "b"][: k % 3]},
        }
        for k in range(count)
        # (email, org) is unique: k % 17 and k % 5 fix k modulo 85.
    ]


# --- PART-1: the partition key and colocation ------------------------------------------------


def _refused(build: Callable[[], object], model: str, field: str | None, *words: str) -> None:
    with pytest.raises(SchemaError) as caught:
        build()
    exc = caught.value
    assert exc.model == model, f"names model {exc.model!r}, expected {model!r}: {exc}"
    assert exc.field == field, f"names field {exc.field!r}, expected {field!r}: {exc}"
    for word in (model, *words, *([field] if field else [])):
        assert word in str(exc), f"the message does not name {word!r}: {exc}"


def _pair(**changes: Any) -> Model[Row]:
    params: dict[str, Any] = {
        "primary_key": ["a", "b"],
        "partition_key": ["a"],
        "indexes": [],
    } | changes
    return Model(
        "pk_rules",
        [Field("a", IntegerType()), Field("b", StringType(8)), Field("c", IntegerType())],
        **params,
    )


@pytest.mark.clause("PART-1", "SCH-5")
def test_a_partition_key_is_a_prefix_of_the_primary_key() -> None:
    assert _pair().partition_key == ("a",)
    assert _pair(partition_key=["a", "b"]).partition_key == ("a", "b")
    assert _pair(partition_key="a").partitioned and not _pair(partition_key=()).partitioned
    _refused(lambda: _pair(partition_key=["b"]), "pk_rules", "b", "prefix")
    _refused(lambda: _pair(partition_key=["b", "a"]), "pk_rules", "b", "prefix")
    _refused(lambda: _pair(partition_key=["c"]), "pk_rules", "c", "prefix")
    _refused(lambda: _pair(partition_key=["a", "c"]), "pk_rules", "c", "prefix")
    _refused(lambda: _pair(partition_key=["zz"]), "pk_rules", "zz", "does not exist")
    _refused(lambda: _pair(partition_key=["a", "a"]), "pk_rules", None, "repeats")
    # Replacing the primary key keeps the partition key, which must still be its prefix.
    _refused(lambda: _pair().replace(primary_key=["b", "a"]), "pk_rules", "a")


@pytest.mark.clause("PART-1", "SCH-5")
def test_colocation_needs_a_partitioned_anchor_with_a_like_key() -> None:
    anchor = Model(
        "anchor",
        [Field("k", IntegerType()), Field("s", StringType(8))],
        primary_key=["k", "s"],
        partition_key=["k"],
    )
    plain = anchor.replace(partition_key=())
    ok = _pair(colocate_with="anchor")
    assert Schema([anchor, ok]).model("pk_rules").colocate_with == "anchor"
    _refused(lambda: _pair(partition_key=(), colocate_with="anchor"), "pk_rules", None, "partition key")  # fmt: skip
    _refused(lambda: _pair(colocate_with="pk_rules"), "pk_rules", None, "itself")
    _refused(lambda: Schema([ok]), "pk_rules", None, "anchor")
    _refused(lambda: Schema([plain, ok]), "pk_rules", None, "anchor")
    chained = Model(
        "chained",
        [Field("k", IntegerType())],
        primary_key=["k"],
        partition_key="k",
        colocate_with="pk_rules",
    )
    _refused(lambda: Schema([anchor, ok, chained]), "chained", None, "pk_rules")
    by_string = anchor.replace(primary_key=["s", "k"], partition_key=["s"])
    _refused(lambda: Schema([by_string, ok]), "pk_rules", "a", "string", "integer")
    longer = anchor.replace(partition_key=["k", "s"])
    _refused(lambda: Schema([longer, ok]), "pk_rules", None, "anchor")


@pytest.mark.clause("PART-1", "SCH-6")
def test_the_json_form_carries_the_partition_key_and_colocation(make_store: StoreMaker) -> None:
    data = schema_to_json(PARTITIONED)
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["part_users"]["partition_key"] == ["org"]
    assert by_name["part_users"]["colocate_with"] == "part_orgs"
    assert "colocate_with" not in by_name["part_orgs"]
    assert "partition_key" not in schema_to_json(PLAIN)["models"][0]
    copy = schema_from_json(data)
    assert copy == PARTITIONED and copy != PLAIN
    store = make_store(PARTITIONED)
    store.insert(ORGS, {"org": 1, "name": "one"})
    twin = make_store(copy)  # bootstraps again: a no-op on the same tables
    assert twin.bootstrap() == []
    assert twin.get(copy.model("part_orgs"), {"org": 1}) == {"org": 1, "name": "one"}


# --- PART-2: unique indexes include the partition key -------------------------------------


class Typed(TypedDict):
    id: int
    email: Annotated[str, StringType(64)]


@pytest.mark.clause("PART-2", "SCH-5")
def test_a_unique_index_without_the_partition_key_is_refused_when_the_model_is_built() -> None:
    lacking = Index("pk_rules_c", ["c"], unique=True)
    _refused(lambda: _pair(indexes=[lacking]), "pk_rules", "a", "pk_rules_c", "partition key")
    wide = Index("pk_rules_cb", ["c", "b"], unique=True)
    _refused(lambda: _pair(partition_key=["a", "b"], indexes=[wide]), "pk_rules", "a", "pk_rules_cb")  # fmt: skip
    # A non-unique index need not hold it; a unique one may hold it anywhere.
    _pair(indexes=[Index("pk_rules_c", ["c"]), Index("pk_rules_ca", ["c", "a"], unique=True)])
    # Adding the index later, or partitioning a model that has one, is refused alike.
    _refused(lambda: _pair().with_index(lacking), "pk_rules", "a", "pk_rules_c")
    unpartitioned = _pair(partition_key=(), indexes=[lacking])
    _refused(lambda: unpartitioned.replace(partition_key=["a"]), "pk_rules", "a")

    _refused(
        lambda: model(
            "typed_accounts",
            Typed,
            primary_key="id",
            partition_key="id",
            indexes=[Index("typed_accounts_email", ["email"], unique=True)],
        ),
        "typed_accounts",
        "id",
        "typed_accounts_email",
    )
    typed = model(
        "typed_accounts",
        Typed,
        primary_key="id",
        partition_key="id",
        indexes=[Index("typed_accounts_email", ["email", "id"], unique=True)],
    )
    assert typed.partition_key == ("id",)


class _UniqueEverywhere(Plugin):
    """A schema hook that adds a unique index on ``email`` alone."""

    name = "unique email"

    def extend_schema(self, schema: Schema) -> Schema:
        users = schema.model("part_users")
        return schema.replace(users.with_index(Index("part_users_any", ["email"], unique=True)))


@pytest.mark.clause("PART-2", "HOOK-SCHEMA")
def test_a_schema_hook_cannot_break_the_rule_and_tenant_scope_keeps_it(adapter: Adapter) -> None:
    with pytest.raises(SchemaError) as caught:
        Store(PARTITIONED, adapter, plugins=[_UniqueEverywhere()], cursor_key=CURSOR_KEY)
    assert caught.value.model == "part_users" and "part_users_any" in str(caught.value)
    keyed = Store(PARTITIONED, adapter, plugins=[TenantScope(keyed=True)], cursor_key=CURSOR_KEY)
    users = keyed.model("part_users")
    assert users.primary_key == ("tenant_id", "org", "id")
    assert users.partition_key == ("tenant_id", "org")
    assert keyed.model("part_orgs").partition_key == ("tenant_id", "org")
    keyed.bootstrap()
    acme, other = keyed.bind(tenant_id="acme"), keyed.bind(tenant_id="other")
    acme.insert(USERS, {"org": 1, "id": "u", "email": "same@x"})
    other.insert(USERS, {"org": 1, "id": "u", "email": "same@x"})  # own key space
    with pytest.raises(DuplicateKeyError) as dup:
        acme.insert(USERS, {"org": 1, "id": "v", "email": "same@x"})
    assert dup.value.model == "part_users"
    assert acme.count(USERS) == 1 and other.count(USERS) == 1
    unkeyed = Store(PARTITIONED, adapter, plugins=[TenantScope()], cursor_key=CURSOR_KEY)
    assert unkeyed.model("part_users").partition_key == ("org",)
    assert [c.field for c in unkeyed.model("part_users").indexes[0].columns] == [
        "tenant_id",
        "email",
        "org",
    ]


# --- PART-3: partitioning changes no result -----------------------------------------------


class _Both:
    """The partitioned store and the reference: the same adapter, models unpartitioned."""

    def __init__(self, tested: Store, reference: Store) -> None:
        self.tested = tested
        self.reference = reference

    def same(self, call: Callable[[Store], Any], what: str) -> Any:
        """Run ``call`` on both stores; both return equal values or raise the same error."""
        got, want = _outcome(call, self.tested), _outcome(call, self.reference)
        assert got == want, f"{what}: {got!r} != reference {want!r}"
        return got


def _outcome(call: Callable[[Store], Any], store: Store) -> Any:
    try:
        return ("ok", call(store))
    except NoOrmError as exc:
        return ("error", type(exc).__name__, exc.model, getattr(exc, "index", None))


@pytest.fixture
def both(make_store: StoreMaker, under_test: Subject) -> Iterator[_Both]:
    reference = under_test.factory()  # a second fresh database of the adapter under test
    try:
        yield _Both(make_store(PARTITIONED), _bootstrapped(PLAIN, reference))
    finally:
        reference.close()


def _bootstrapped(schema: Schema, adapter: Adapter) -> Store:
    store = Store(schema, adapter, cursor_key=CURSOR_KEY)
    store.bootstrap()
    return store


def _get(model: Model[Row], key: dict[str, Any], store: Store) -> Row | None:
    return store.get(model, key)


def _count(model: Model[Row], where: Filter | None, store: Store) -> int:
    return store.count(model, where)


def _find(model: Model[Row], where: Filter | None, store: Store) -> list[Row]:
    return store.find(model, where).rows


def _walk(model: Model[Row], where: Filter | None, order: list[Order], store: Store) -> Any:
    return _pages(store, model, where=where, order_by=order)


def _pages(store: Store, model: Model[Row], **find: Any) -> list[list[Row]]:
    """Every page of a cursor walk, limit 7."""
    pages: list[list[Row]] = []
    cursor = None
    while True:
        page = store.find(model, limit=7, cursor=cursor, **find)
        pages.append(page.rows)
        cursor = page.next_cursor
        if cursor is None:
            return pages


@pytest.mark.clause("PART-3", "OP-INS", "OP-GET", "OP-FIND", "OP-COUNT", "PAGE-1")
def test_reads_on_partitioned_models_give_the_reference_results(both: _Both) -> None:
    orgs = [{"org": k, "name": None if k == 3 else f"org {k}"} for k in range(5)]
    both.same(lambda s: s.insert_many(ORGS, orgs), "insert_many orgs")
    both.same(lambda s: s.insert_many(USERS, _users(60)), "insert_many users")
    both.same(
        lambda s: s.insert_many(EVENTS, [{"id": f"e{k:02}", "kind": "ab"[k % 2], "n": k} for k in range(30)]),
        "insert_many events",
    )  # fmt: skip
    for key in ({"org": 2, "id": "u002"}, {"org": 3, "id": "u002"}, {"org": 9, "id": "x"}):
        both.same(partial(_get, USERS, key), f"get {key}")
    both.same(lambda s: s.get(EVENTS, {"id": "e07"}), "get event")
    wheres = [
        None,
        eq("org", 2),  # one partition
        in_("org", [1, 4]),  # two partitions
        and_(eq("org", 0), gt("score", 3)),
        gt("score", 5),  # every partition
        is_null("score"),
        eq("email", "user3@org3"),  # a unique value, found without the partition key
    ]
    for where in wheres:
        both.same(partial(_count, USERS, where), f"count {where}")
        both.same(partial(_find, USERS, where), f"find {where}")
        for order in ([], [desc("score"), asc("t")], [asc("email")], [desc("org"), desc("id")]):
            both.same(partial(_walk, USERS, where, order), f"pages {where} {order}")
    both.same(lambda s: _pages(s, EVENTS, order_by=[asc("kind"), desc("n")]), "event pages")
    both.same(lambda s: s.find(USERS, after={"org": 2, "id": "u017"}).rows, "after a key")
    both.same(lambda s: s.find(ORGS, order_by=desc("name")).rows, "orgs by name")


@pytest.mark.clause("PART-3", "OP-DUP", "OP-UPD", "OP-UPS", "OP-DEL")
def test_writes_on_partitioned_models_give_the_reference_results(both: _Both) -> None:
    both.same(lambda s: s.insert_many(ORGS, [{"org": k, "name": None} for k in range(5)]), "orgs")
    both.same(lambda s: s.insert_many(USERS, _users(40)), "users")
    # Duplicates: the primary key, and the unique index within one partition.
    both.same(lambda s: s.insert(USERS, {"org": 1, "id": "u001", "email": "new@x"}), "dup key")
    both.same(lambda s: s.insert(USERS, {"org": 1, "id": "new", "email": "user1@org1"}), "dup uq")
    both.same(lambda s: s.insert(USERS, {"org": 2, "id": "new", "email": "user1@org1"}), "other")
    both.same(
        lambda s: s.insert_many(USERS, [{"org": 4, "id": "b1", "email": "b@x"},
                                        {"org": 0, "id": "u000", "email": "c@x"}]),
        "a batch with a duplicate in another partition",
    )  # fmt: skip
    both.same(lambda s: s.count(USERS), "count after the failed batch")
    # Updates by key, by filter within a partition and across partitions, conditional.
    both.same(lambda s: s.update(USERS, {"score": 100}, key={"org": 3, "id": "u003"}), "upd key")
    both.same(lambda s: s.update(USERS, {"score": 1}, key={"org": 3, "id": "u004"}), "upd missing")
    both.same(lambda s: s.update(USERS, {"score": 7}, where=eq("org", 2)), "upd partition")
    both.same(lambda s: s.update(USERS, {"doc": [1]}, where=gt("score", 8)), "upd across")
    both.same(
        lambda s: s.update(USERS, {"score": 0}, key={"org": 0, "id": "u005"}, where=eq("score", 9)),
        "conditional",
    )
    both.same(
        lambda s: s.update(USERS, {"email": "user2@org2"}, key={"org": 2, "id": "u007"}),
        "an update that collides on the unique index",
    )
    both.same(lambda s: s.update(USERS, {"org": 4}, key={"org": 2, "id": "u007"}), "key fixed")
    # Upserts: insert, update listed fields, collide on the unique index.
    new = {"org": 1, "id": "up", "email": "up@x", "score": 5}
    both.same(lambda s: s.upsert(USERS, new, update=["score"]), "upsert inserts")
    both.same(
        lambda s: s.upsert(USERS, {**new, "score": 6, "email": "z@x"}, update=["score"]),
        "upsert updates",
    )
    both.same(lambda s: s.upsert(ORGS, {"org": 9, "name": "nine"}, update=["name"]), "upsert org")
    both.same(
        lambda s: s.upsert(USERS, {"org": 1, "id": "up2", "email": "up@x"}, update=["score"]),
        "an upsert that collides on the unique index",
    )
    # Deletes.
    both.same(lambda s: s.delete(USERS, key={"org": 4, "id": "u004"}), "del key")
    both.same(lambda s: s.delete(USERS, key={"org": 4, "id": "u004"}, where=ALL), "del again")
    both.same(lambda s: s.delete(USERS, where=eq("org", 1)), "del partition")
    both.same(lambda s: s.delete(USERS, where=is_null("score")), "del across")
    both.same(lambda s: s.delete(ORGS, key={"org": 9}, where=eq("name", "x")), "del conditional")
    both.same(lambda s: _pages(s, USERS, order_by=[desc("score")]), "what is left")
    both.same(lambda s: s.find(ORGS).rows, "orgs left")


def _transfer(store: Store, fail: bool) -> int:
    """Move score between two partitions and rename both orgs, in one transaction."""
    with store.transaction() as tx:
        tx.update(USERS, {"score": 50}, key={"org": 0, "id": "u000"})
        tx.update(USERS, {"score": 60}, key={"org": 4, "id": "u004"})
        tx.update(ORGS, {"name": "moved"}, where=in_("org", [0, 4]))
        tx.insert(USERS, {"org": 2, "id": "t", "email": "t@x"})
        seen = tx.count(USERS, gt("score", 40)) + tx.count(ORGS, eq("name", "moved"))
        if fail:
            tx.insert(USERS, {"org": 3, "id": "u", "email": "user3@org3"})  # a duplicate
        return seen


@pytest.mark.clause("TX-1", "TX-3")
@pytest.mark.requires(Capability.TRANSACTIONS)
def test_transactions_across_partitions_and_models_give_the_reference_results(
    both: _Both,
) -> None:
    """PART-3's transactions: marked with TX-1/TX-3 only, whose capability may be absent
    (a core clause can never be skipped)."""
    both.same(lambda s: s.insert_many(ORGS, [{"org": k, "name": None} for k in range(5)]), "orgs")
    both.same(lambda s: s.insert_many(USERS, _users(20)), "users")
    both.same(lambda s: _transfer(s, fail=True), "a transaction that fails")
    both.same(lambda s: (s.find(USERS).rows, s.find(ORGS).rows), "nothing changed")
    both.same(lambda s: _transfer(s, fail=False), "a transaction that commits")
    both.same(lambda s: (s.find(USERS).rows, s.find(ORGS).rows), "everything changed")


@pytest.mark.clause("PART-3", "BOOT-1", "BOOT-2")
def test_bootstrap_of_a_partitioned_schema_is_idempotent(make_store: StoreMaker) -> None:
    store = make_store(PARTITIONED, bootstrap=False)
    planned = store.bootstrap(dry_run=True)
    assert store.bootstrap() == planned
    assert store.bootstrap() == [] and store.bootstrap(dry_run=True) == []
    store.insert(USERS, {"org": 1, "id": "a", "email": "a@x"})
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert(USERS, {"org": 1, "id": "b", "email": "a@x"})
    assert caught.value.model == "part_users"
    assert "part_users" in str(caught.value)


# --- PART-4: distributed where the backend distributes, metadata elsewhere -----------------


@pytest.mark.clause("PART-4", "BOOT-6")
def test_a_table_distributed_otherwise_is_a_mismatch_and_metadata_elsewhere(
    make_store: StoreMaker,
) -> None:
    """Bootstrapping the unpartitioned models over the partitioned tables (and back):
    a non-distributed backend has nothing to do; a distributed one reports a mismatch
    naming the model and changes nothing."""
    first = make_store(Schema([EVENTS]))
    first.insert(EVENTS, {"id": "kept", "kind": "a", "n": 1})
    plain = make_store(Schema([EVENTS.replace(partition_key=())]), bootstrap=False)
    try:
        assert plain.bootstrap(dry_run=True) == []
        assert plain.bootstrap() == []
    except SchemaMismatchError as exc:
        assert exc.model == "part_events" and "part_events" in str(exc)
        with pytest.raises(SchemaMismatchError):
            plain.bootstrap()
    assert first.find(EVENTS).rows == [{"id": "kept", "kind": "a", "n": 1}]
    assert first.bootstrap() == []
