"""The one statement PostgreSQL compiles differently: a native, single-statement upsert.

``INSERT ... ON CONFLICT (pk) DO UPDATE SET ... WHERE <scope> RETURNING ..., (xmax = 0)``
decides insert-or-update atomically on the server (no window between an insert and an
update for a concurrent delete to fall into), applies the scope to the *existing* row
only (OP-UPS, HOOK-QUERY: a row of another scope returns nothing and is left alone),
and says which happened: a row the statement inserted has no ``xmax`` yet, a row it
updated carries the updating transaction's lock.
"""

from __future__ import annotations

import copy
from typing import Any

from noorm.spec.filters import where_from
from noorm.spec.operations import Insert, Operation, Upsert

from ..sql.compiler import Compiled, Compiler, Table

__all__ = ["COPY_ROWS", "PostgresCompiler"]

COPY_ROWS = 16
"""Batches of at least this many rows are sent with ``COPY ... FROM STDIN``: one statement
whatever the batch (no 65,535-parameter limit), and several times faster than a
multi-row INSERT (psycopg parses a statement of 40,000 placeholders for half a second)."""


def _existing_row(table: Table) -> Table:
    """``table`` with qualified columns: ``DO UPDATE ... WHERE`` also sees ``EXCLUDED``,
    so a bare column name there is ambiguous."""
    view = copy.copy(table)
    view.column = table.qualified
    return view


class PostgresCompiler(Compiler):
    def statement(self, op: Operation[Any]) -> str | None:
        if isinstance(op, Upsert):
            return self.upsert(op).sql
        if isinstance(op, Insert) and len(op.rows) >= COPY_ROWS:
            return self.copy(self.table(op.model))
        return super().statement(op)

    def copy(self, table: Table) -> str:
        """``COPY`` of every column of ``table`` from the client (values are data)."""
        return f"COPY {table.name} ({table.columns}) FROM STDIN"

    def upsert(self, op: Upsert) -> Compiled:
        """Insert ``op.row``; on a key conflict update ``op.update`` where ``op.where`` holds.

        Returns the row's columns and ``inserted``. With ``op.update`` empty the conflict
        does nothing and returns no row; the caller then reads the existing row.
        """
        table = self.table(op.model)
        names = tuple(op.update)
        where = where_from(op.where) if names else None
        existing = _existing_row(table) if where is not None else table
        params: list[Any] = []
        table.encode_row(op.row, params)
        head = len(params)
        shape = None if where is None else self._filter(existing, where, params, False)[0]
        key = (table, "pg-upsert", names, shape)
        sql = self.cache.get(key)
        if sql is None:
            del params[head:]
            text = self._insert_sql(table, 1)
            text += f" ON CONFLICT ({', '.join(table.column[k] for k in table.key)})"
            if names:
                sets = ", ".join(f"{table.column[n]} = EXCLUDED.{table.column[n]}" for n in names)
                text += f" DO UPDATE SET {sets}"
                if where is not None:
                    text += " WHERE " + self._filter(existing, where, params, True)[1]
            else:
                text += " DO NOTHING"
            sql = self.cache.put(key, f"{text} RETURNING {table.columns}, (xmax = 0)")
        return Compiled(sql, params)
