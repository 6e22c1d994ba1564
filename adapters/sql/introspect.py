"""Schema evolution for SQL backends: what bootstrap adds to the tables that exist.

Each backend reads its catalog into a :class:`Catalog` (the stored columns, primary
keys and indexes, and how to match a stored column type against a field);
:func:`evolution_plan` compares every existing table with its model through
:func:`noorm.spec.evolution.evolve`, so the rules are the reference's, and adds an
``ALTER TABLE ... ADD COLUMN`` per new nullable field. It runs before any statement,
so a mismatch anywhere changes nothing (BOOT-6).
"""

from __future__ import annotations

from dataclasses import dataclass

from noorm.spec.evolution import StoredIndex, StoredTable, TypeMatch, evolve
from noorm.spec.schema import Schema

from .compiler import DDL
from .dialect import Dialect

__all__ = ["Catalog", "evolution_plan"]


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the backend records: tables by model name, secondary indexes by name."""

    tables: dict[str, StoredTable]
    indexes: dict[str, StoredIndex]
    type_matches: TypeMatch


def evolution_plan(
    dialect: Dialect, schema: Schema, todo: list[DDL], catalog: Catalog
) -> list[DDL]:
    """``todo`` (what is missing) with the ALTERs of existing tables, each table's before
    its new indexes (which may cover a new column); SchemaMismatchError for the rest."""
    creating = {s.model for s in todo if s.index_name is None}
    alters: dict[str, list[DDL]] = {}
    for model in schema.models:
        table = None if model.name in creating else catalog.tables.get(model.name)
        evolution = evolve(model, table, catalog.indexes, catalog.type_matches)
        if evolution.fields:
            columns = dict(zip(model.field_names, dialect.columns_sql(model), strict=True))
            head = f"ALTER TABLE {dialect.table_name(model.name)} ADD COLUMN "
            alters[model.name] = [DDL(head + columns[f.name], model.name) for f in evolution.fields]
    plan: list[DDL] = []
    for statement in todo:
        if statement.index_name is not None:
            plan.extend(alters.pop(statement.model, ()))
        plan.append(statement)
    for statements in alters.values():
        plan.extend(statements)
    return plan
