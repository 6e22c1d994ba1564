"""Distributed tables on Citus (PART-4): what bootstrap adds when the server has Citus.

A partitioned model's table is created as on plain PostgreSQL (table, then indexes) and
then distributed by the first field of its partition key (Citus distributes by one
column; PART-2 guarantees every unique index includes it), colocated with the table of
its ``colocate_with`` model. The ``create_distributed_table`` calls come after every
CREATE of the plan, anchors first, so a dry run lists exactly what bootstrap runs
(BOOT-2). Models without a partition key stay local tables on the coordinator.

An existing table is compared with its model through ``pg_dist_partition``: a table
distributed otherwise (by another column, in another colocation group, or not at all
while the model is partitioned, or distributed while the model is not) is a
:class:`~noorm.spec.errors.SchemaMismatchError` naming the model and the partition-key
field (BOOT-6). Redistributing a table holding rows is a migration the host runs itself
(``alter_distributed_table`` / ``create_distributed_table``), never a bootstrap side effect.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from noorm.spec.errors import SchemaMismatchError
from noorm.spec.schema import Model, Schema

from ..sql.compiler import DDL
from ..sql.program import Program, query
from .dialect import PostgresDialect

__all__ = ["CITUS_INSTALLED", "DistributedTable", "distribution_plan", "read_distribution"]

CITUS_INSTALLED = "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'"
"""The version of the Citus extension in the connected database; no row: plain PostgreSQL."""

SEQUENTIAL = "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"
"""Bootstrap's DDL over one connection per worker: several tables distributed and indexed
in one transaction never see "a parallel operation on a distributed table"."""

_DISTRIBUTION = (
    "SELECT c.relname, p.partmethod, "
    "CASE WHEN p.partkey IS NULL THEN NULL "
    "ELSE pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END, p.colocationid "
    "FROM pg_dist_partition AS p "
    "JOIN pg_catalog.pg_class AS c ON c.oid = p.logicalrelid "
    "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = ANY(%s::text[])"
)


class DistributedTable(NamedTuple):
    """A table in Citus's metadata: its method (``h`` hash, ``n`` none: reference or
    single-shard), distribution column (None for ``n``) and colocation group."""

    method: str
    column: str | None
    colocation: int


def read_distribution(schema: str, tables: list[str]) -> Program[dict[str, DistributedTable]]:
    """The Citus metadata of those of ``tables`` (stored names) that it knows."""
    if not tables:
        return {}
    rows = yield query(_DISTRIBUTION, [schema, tables])
    return {
        str(name): DistributedTable(str(method), None if column is None else str(column), int(co))
        for name, method, column, co in rows
    }


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def distribution_plan(
    dialect: PostgresDialect,
    schema: Schema,
    creating: set[str],
    existing: dict[str, DistributedTable],
) -> list[DDL]:
    """The ``create_distributed_table`` statements for the partitioned models whose
    tables bootstrap creates; SchemaMismatchError for an existing table distributed
    otherwise than its model says (``existing``: Citus metadata by stored table name)."""
    for model in schema.models:
        if model.name not in creating:
            _compare(dialect, model, creating, existing)
    todo = [m for m in schema.models if m.name in creating and m.partition_key]
    todo.sort(key=lambda m: m.colocate_with is not None)  # anchors first
    statements = []
    for model in todo:
        column = dialect.identifier(model.partition_key[0])
        colocate = "'default'"
        if model.colocate_with is not None:
            colocate = _literal(dialect.table_name(model.colocate_with))
        sql = (
            f"SELECT create_distributed_table({_literal(dialect.table_name(model.name))}, "
            f"{_literal(column)}, colocate_with => {colocate})"
        )
        statements.append(DDL(sql, model.name))
    return statements


def _compare(
    dialect: PostgresDialect,
    model: Model[Any],
    creating: set[str],
    existing: dict[str, DistributedTable],
) -> None:
    have = existing.get(dialect.identifier(model.name))
    key = model.partition_key
    if not key:
        if have is not None and have.method == "h":
            raise SchemaMismatchError(
                f"the table is distributed by {have.column!r} but the model has no partition "
                "key (PART-4): undistribute it (undistribute_table) or declare the key",
                model=model.name,
                field=have.column,
            )
        return
    want = dialect.identifier(key[0])
    if have is None or have.method != "h" or have.column != want:
        now = (
            "not distributed"
            if have is None or have.method != "h"
            else f"distributed by {have.column!r}"
        )
        raise SchemaMismatchError(
            f"the table exists {now}, but the model is partitioned by {key[0]!r} (PART-4): "
            f"distribute it yourself (create_distributed_table / alter_distributed_table)",
            model=model.name,
            field=key[0],
        )
    anchor = model.colocate_with
    if anchor is None:
        return
    theirs = None if anchor in creating else existing.get(dialect.identifier(anchor))
    if theirs is None or theirs.colocation != have.colocation:
        raise SchemaMismatchError(
            f"the table is not colocated with {anchor!r} (PART-4): colocate it yourself "
            f"(update_distributed_table_colocation)",
            model=model.name,
            field=key[0],
        )
