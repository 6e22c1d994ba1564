"""MariaDB's upsert in one statement: ``INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING``.

``ON DUPLICATE KEY UPDATE`` fires on a collision with *any* unique key, so the statement
is only used for a model whose primary key is its only one (otherwise it could update
another row); the adapter's locking protocol covers the rest. Two things the statement
cannot say by itself are carried by a session variable that the statement first resets
(in the ``WHERE`` of the ``SELECT`` that supplies the values) and returns last:

- whether the row was inserted (still 0) or existed (set in the duplicate branch);
- whether the existing row was in the scope (1) or not (2): the first assignment decides
  the scope on the row as it was, and every assignment then writes the new value only
  when it was in scope, so a row of another scope is left exactly as it was.

MySQL 8 has no ``RETURNING`` and keeps the locking protocol.
"""

from __future__ import annotations

from typing import Any

from noorm.spec.filters import where_from
from noorm.spec.operations import Upsert

from ..sql.compiler import Compiled, Compiler

__all__ = ["FLAG", "INSERTED", "OUT_OF_SCOPE", "UPDATED", "upsert_returning"]

FLAG = "@noorm_upsert"
INSERTED, UPDATED, OUT_OF_SCOPE = 0, 1, 2


def upsert_returning(compiler: Compiler, op: Upsert) -> Compiled:
    """The statement; its one row holds every column, then :data:`INSERTED`,
    :data:`UPDATED` or :data:`OUT_OF_SCOPE`."""
    table = compiler.table(op.model)
    names = tuple(op.update)
    where = where_from(op.where)
    params: list[Any] = []
    table.encode_row(op.row, params)
    head = len(params)
    shape = compiler._shape(table, where, params)
    key = (table, "mariadb-upsert", names, shape)
    sql = compiler.cache.get(key)
    if sql is None:
        del params[head:]
        ph = compiler.dialect.placeholder
        scope = "TRUE" if where is None else compiler._filter(table, where, params, True)[1]
        decide = f"({FLAG} := IF({scope}, {UPDATED}, {OUT_OF_SCOPE})) = {UPDATED}"
        targets = names or (table.key[0],)  # no update: assign the key to itself
        sets = []
        for n, name in enumerate(targets):
            column = table.column[name]
            value = f"VALUES({column})" if names else column
            test = decide if n == 0 else f"{FLAG} = {UPDATED}"
            sets.append(f"{column} = IF({test}, {value}, {column})")
        values = ", ".join([ph] * len(table.names))
        text = (
            f"INSERT INTO {table.name} ({table.columns}) SELECT {values} FROM DUAL "  # noqa: S608
            f"WHERE ({FLAG} := {INSERTED}) = {INSERTED} "
            f"ON DUPLICATE KEY UPDATE {', '.join(sets)} "
            f"RETURNING {table.columns}, CAST({FLAG} AS SIGNED)"
        )
        sql = compiler.cache.put(key, text)
    return Compiled(sql, params)
