"""Operations to ``(sql, params)``, compiled once per shape.

Every filter is walked once per call to collect its bound parameters together with a
hashable *shape* (the filter with the values taken out). The SQL text is cached by
table, operation kind and shape, so two calls that differ only in values get the very
same string object back (and the driver's own statement cache hits too). On a cache
miss the same walk runs again with rendering switched on, so parameters and
placeholders can never drift apart.

Filter semantics are the spec's two-valued logic (FLT-LOGIC): comparisons with NULL
are unknown in SQL, AND/OR keep an unknown operand "not true" exactly like false, and
every NOT goes through :meth:`Dialect.not_sql`, which counts unknown as false.

Filter trees are rendered to stay inside every backend's parser and expression limits
(LIM-FILTER: 1,000 conditions, 32 levels, plus the kit's scope and cursor filters).
Nested ``and_``/``or_`` of one kind are one flat list; a list of more than
:data:`CHAIN` operands becomes a balanced tree of parenthesized chains (a flat chain of
2,000 is 2,000 levels deep for SQLite, whose limit is 1,000); and within each chain the
operand that nests deepest comes first, where its opening parenthesis costs the parser
one stack entry instead of three (SQLite 3.40's parser stack holds about 100).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from noorm.spec.errors import ValidationError
from noorm.spec.filters import (
    And,
    Compare,
    Filter,
    In,
    IsNull,
    Not,
    Or,
    Path,
    fixed_fields,
    flatten,
    where_from,
)
from noorm.spec.operations import Count, Delete, Find, Insert, Operation, Order, Update, Upsert
from noorm.spec.schema import Field, Model, Schema
from noorm.spec.types import (
    BooleanType,
    IntegerType,
    JsonType,
    NumberType,
    StringType,
    TimestampType,
)

from .dialect import Dialect, JsonKind

__all__ = ["DDL", "Compiled", "Compiler", "StatementCache", "Table"]

Shape = Hashable

_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_KINDS: tuple[JsonKind, ...] = ("string", "number", "boolean")
_TYPE_NAMES = {
    StringType: "string",
    NumberType: "number",
    IntegerType: "integer",
    BooleanType: "boolean",
    TimestampType: "timestamp",
}  # the kinds an IN list of a field may have (a json field itself takes none)

_NOT_SCALAR: Any = object()

CHAIN = 16
"""The most operands one flat AND/OR chain holds; longer lists nest balanced chains."""
DEEP = 6
"""Operands nesting this deep (in parentheses, see :meth:`Compiler._chain`) go first."""


def _levels(count: int) -> int:
    """Levels of parentheses :func:`_join` nests ``count`` operands in."""
    levels = 1
    while count > CHAIN:
        count = -(-count // CHAIN)
        levels += 1
    return levels


def _join(sqls: list[str], joiner: str) -> str:
    """``sqls`` joined into one parenthesized chain, or a balanced tree of chains of at
    most :data:`CHAIN` operands each (the first operand stays first)."""
    while len(sqls) > CHAIN:
        size = -(-len(sqls) // -(-len(sqls) // CHAIN))  # balanced groups of <= CHAIN
        sqls = [
            "(" + joiner.join(group) + ")" if len(group) > 1 else group[0]
            for group in (sqls[i : i + size] for i in range(0, len(sqls), size))
        ]
    return "(" + joiner.join(sqls) + ")"


def _grouped(f: Filter) -> bool:
    """Whether ``f`` renders as one parenthesized AND/OR chain."""
    while isinstance(f, (And, Or)):
        items = flatten(f)
        if len(items) != 1:
            return len(items) > 1
        f = items[0]
    return False


class Compiled(NamedTuple):
    """A statement ready for ``cursor.execute(sql, params)``."""

    sql: str
    params: list[Any]


class DDL(NamedTuple):
    """One bootstrap statement and what it creates (``index_name`` None: the table)."""

    sql: str
    model: str
    index_name: str | None = None


class StatementCache:
    """A thread-safe LRU of SQL text by shape key."""

    def __init__(self, maxsize: int = 512) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        # Without the lock: each OrderedDict call is atomic under the GIL, and a key that
        # another thread evicts in between is simply not moved (the text is still valid).
        sql = self._data.get(key)
        if sql is not None:
            try:
                self._data.move_to_end(key)
            except KeyError:  # evicted by another thread in between: still a valid text
                return sql
        return sql

    def put(self, key: Hashable, sql: str) -> str:
        """Store ``sql``; if another thread stored the key first, return its string."""
        with self._lock:
            existing = self._data.get(key)
            if existing is not None:
                return existing
            self._data[key] = sql
            if len(self._data) > self.maxsize:
                self._data.popitem(last=False)
            return sql

    def __len__(self) -> int:
        return len(self._data)


class Table:
    """Per-model facts every statement needs, computed once per Model object."""

    __slots__ = (
        "column",
        "columns",
        "count_head",
        "decode",
        "decoders",
        "delete_head",
        "encoders",
        "insert_head",
        "key",
        "model",
        "name",
        "names",
        "qualified",
        "row_encoders",
        "scalars",
        "select_head",
        "strings",
        "texts",
        "update_head",
    )

    def __init__(self, model: Model[Any], dialect: Dialect) -> None:
        codec = dialect.codec
        self.model = model
        self.name = dialect.table_name(model.name)
        self.names = tuple(f.name for f in model.fields)
        self.column = {f.name: dialect.quote(f.name) for f in model.fields}
        self.columns = ", ".join(self.column.values())
        # JSON access may put the column inside a subquery with columns of its own.
        self.qualified = {f.name: f"{self.name}.{self.column[f.name]}" for f in model.fields}
        self.key = model.primary_key
        # Statement heads: quoted identifiers only; every value is a bound parameter.
        self.select_head = f"SELECT {self.columns} FROM {self.name}"  # noqa: S608
        self.count_head = f"SELECT COUNT(*) FROM {self.name}"  # noqa: S608
        self.delete_head = f"DELETE FROM {self.name}"  # noqa: S608
        self.update_head = f"UPDATE {self.name} SET "  # noqa: S608
        self.insert_head = f"INSERT INTO {self.name} ({self.columns}) VALUES "  # noqa: S608
        self.row_encoders = tuple((f.name, codec.encoder(f.type)) for f in model.fields)
        self.encoders = dict(self.row_encoders)
        self.decoders = tuple(
            (f.name, dec) for f in model.fields if (dec := codec.decoder(f.type)) is not None
        )
        self.scalars = {
            name: encode
            for (name, encode), f in zip(self.row_encoders, model.fields, strict=True)
            if not isinstance(f.type, JsonType)
        }
        """Encoders of the fields a plain comparison may name (see :meth:`Compiler._shape`)."""
        self.strings = tuple(f.name for f in model.fields if isinstance(f.type, StringType))
        self.decode = _row_decoder(self.names, dict(self.decoders))
        """Driver rows (columns in field order) to canonical dicts."""
        self.texts = tuple(
            i for i, f in enumerate(model.fields) if isinstance(f.type, (StringType, JsonType))
        )

    def field(self, name: str) -> Field:
        return self.model.field(name)  # ValidationError naming model and field

    def encode(self, name: str, value: Any) -> Any:
        """The driver value of ``value`` for field ``name`` (NULL stays None)."""
        try:
            encode = self.encoders[name]
        except KeyError:
            self.model.field(name)
            raise
        return value if value is None or encode is None else encode(value)

    def encode_row(self, row: Mapping[str, Any], into: list[Any]) -> None:
        """Append a row's values in column order; a missing nullable field is NULL (VAL-2)."""
        for name, encode in self.row_encoders:
            value = row.get(name)
            into.append(value if value is None or encode is None else encode(value))

    def written(self, params: Sequence[Any]) -> dict[str, Any]:
        """The canonical row one INSERT's ``params`` wrote, without reading it back.

        Strings bind as they are, so a ``str`` subclass the caller passed (an
        ``enum.StrEnum`` member) is returned as its plain ``str`` (VAL-3); every other
        type goes through its decoder, which builds a new plain value.
        """
        row = self.decode([params])[0]
        for name in self.strings:
            value = row[name]
            if value is not None and type(value) is not str:
                row[name] = str.__str__(value)
        return row


def _row_decoder(
    names: tuple[str, ...], decoders: Mapping[str, Callable[[Any], Any]]
) -> Callable[[Iterable[Sequence[Any]]], list[dict[str, Any]]]:
    """A function decoding driver rows to canonical dicts in one generated pass.

    One dict display per row with each decoder called directly (NULL passes through):
    no per-row ``zip``, no second loop over the decoded columns.
    """
    scope: dict[str, Any] = {}
    items = []
    for i, name in enumerate(names):
        decode = decoders.get(name)
        if decode is None:
            items.append(f"{name!r}: r[{i}]")
        else:
            scope[f"d{i}"] = decode
            items.append(f"{name!r}: None if (v{i} := r[{i}]) is None else d{i}(v{i})")
    source = f"def decode(rows):\n    return [{{{', '.join(items)}}} for r in rows]\n"
    exec(source, scope)  # field names are validated identifiers, and quoted by repr
    function: Callable[[Iterable[Sequence[Any]]], list[dict[str, Any]]] = scope["decode"]
    return function


def _quick(table: Table, f: Filter, params: list[Any]) -> tuple[Shape, int] | None:
    """:meth:`Compiler._node`'s shape and nesting of ``f``, its params appended (in the
    same order); None (params half-appended) for a filter with anything else in it: a
    json field or path, an IN list, a comparison with None."""
    kind = type(f)
    if kind is Compare:
        shape = _plain(table, f, params)  # type: ignore[arg-type]
        return None if shape is None else (shape, 0)
    if kind is IsNull:
        ref = f.ref  # type: ignore[union-attr]
        return (("null", ref), 0) if type(ref) is str and ref in table.scalars else None
    if kind is Not:
        inner = _quick(table, f.item, params)  # type: ignore[union-attr]
        return None if inner is None else (("Not", inner[0]), inner[1] + 1)
    if kind is And or kind is Or:
        items = flatten(f)  # type: ignore[arg-type]
        if len(items) < 2:
            return ((kind.__name__,), 0) if not items else _quick(table, items[0], params)
        head = len(params)
        parts = []
        ends = []
        for item in items:
            part = _quick(table, item, params)
            if part is None:
                return None
            parts.append(part)
            ends.append(len(params))
        shape = (kind.__name__, tuple([part[0] for part in parts]))
        nestings = [part[1] for part in parts]
        deepest = max(nestings[1:])
        if deepest < DEEP:
            return shape, _levels(len(parts)) + max(nestings[0], 2 + deepest)
        return shape, _deep_first(nestings, params, head, ends)[2]
    return None


def _deep_first(
    nestings: list[int], params: list[Any], head: int, ends: list[int]
) -> tuple[list[int], list[int], int]:
    """The operand order of a chain with an operand after the first nesting :data:`DEEP`
    levels or more (see :meth:`Compiler._chain`): the nested operands' indexes, deepest
    first, the plain ones', and the chain's nesting. The params from ``head`` on (operand
    ``i``'s end at ``ends[i]``) are put in that order."""
    nested = [i for i, n in enumerate(nestings) if n]
    nested.sort(key=lambda i: -nestings[i])  # stable: the deepest first
    plain = [i for i, n in enumerate(nestings) if not n]
    order = nested + plain
    if order != list(range(len(nestings))):
        starts = [head, *ends[:-1]]
        segments = [params[starts[i] : ends[i]] for i in order]
        del params[head:]
        for segment in segments:
            params.extend(segment)
    # The plain conditions form one operand, parenthesized if there are several.
    costs = [nestings[i] for i in nested] + ([1 if len(plain) > 1 else 0] if plain else [])
    # The first operand opens at the chain's start; any other one after "x AND (".
    return nested, plain, _levels(len(costs)) + max(costs[0], 2 + costs[1])


def _plain(table: Table, f: Compare, params: list[Any]) -> Shape | None:
    """:meth:`Compiler._node`'s shape of a comparison of a non-json field (None: another
    kind of comparison), its encoded value appended to ``params``."""
    ref, value = f.ref, f.value
    if type(ref) is not str or value is None:
        return None
    encode = table.scalars.get(ref, _NOT_SCALAR)
    if encode is _NOT_SCALAR:
        return None
    params.append(value if encode is None else encode(value))
    return ("cmp", f.op, ref)


class Compiler:
    """Turns operations into :class:`Compiled` statements for one :class:`Dialect`."""

    def __init__(self, dialect: Dialect, *, cache_size: int = 512) -> None:
        self.dialect = dialect
        self.cache = StatementCache(cache_size)
        self._tables: dict[int, Table] = {}
        self._tables_lock = threading.Lock()
        self._max_tables = max(64, cache_size // 4)

    # --- tables ---------------------------------------------------------------------------

    def table(self, model: Model[Any]) -> Table:
        """The :class:`Table` of ``model``, by identity (models are immutable)."""
        table = self._tables.get(id(model))  # atomic under the GIL: no lock to read
        if table is not None and table.model is model:
            return table
        table = Table(model, self.dialect)
        with self._tables_lock:
            if len(self._tables) >= self._max_tables:
                self._tables.pop(next(iter(self._tables)))  # the oldest Model object
            self._tables[id(model)] = table
        return table

    # --- operations -------------------------------------------------------------------------

    def statement(self, op: Operation[Any]) -> str | None:
        """The (first) statement ``op`` runs, for observability."""
        if isinstance(op, Insert):
            return next((c.sql for c in self.insert(op)), None)
        if isinstance(op, Find):
            return self.find(op).sql
        if isinstance(op, Count):
            return self.count(op).sql
        if isinstance(op, Update):
            return self.update(op).sql
        if isinstance(op, Delete):
            return self.delete(op).sql
        if isinstance(op, Upsert):
            return self.upsert_insert(op).sql
        raise TypeError(f"not an operation: {op!r}")

    def insert(self, op: Insert) -> Iterator[Compiled]:
        """One multi-row INSERT per chunk, the chunks consecutive and covering every row
        once; one chunk unless the batch exceeds ``max_params`` or ``max_statement_bytes``."""
        table = self.table(op.model)
        rows = op.rows
        params: list[Any] = []
        if len(rows) == 1:
            yield self.insert_row(table, rows[0])
            return
        width = len(table.names)
        per_chunk = max(1, self.dialect.max_params // width)
        budget = self.dialect.max_statement_bytes
        for row in rows:
            table.encode_row(row, params)
        # An upper bound of every chunk's bytes at once, at C speed (strings and json
        # texts are in their columns): usually the batch is far from the budget.
        texts = sum(sum(map(len, filter(None, params[i::width]))) for i in table.texts)
        if 4 * texts + 32 * len(params) <= budget:
            step = per_chunk * width
            for start in range(0, len(params), step):
                chunk = params[start : start + step]
                yield Compiled(self._insert_sql(table, len(chunk) // width), chunk)
            return
        measure = self.dialect.values_bytes
        count = used = 0
        start = 0
        for end in range(width, len(params) + 1, width):
            size = measure(params[end - width : end])
            if count and (count == per_chunk or used + size > budget):
                yield Compiled(self._insert_sql(table, count), params[start : end - width])
                start, count, used = end - width, 0, 0
            used += size
            count += 1
        yield Compiled(self._insert_sql(table, count), params[start:])

    def insert_row(self, table: Table, row: Mapping[str, Any]) -> Compiled:
        """The INSERT of one row (what :meth:`insert` yields for a batch of one)."""
        params: list[Any] = []
        table.encode_row(row, params)
        return Compiled(self._insert_sql(table, 1), params)

    def find(self, op: Find) -> Compiled:
        table = self.table(op.model)
        d = self.dialect
        where = where_from(op.where)
        limit = self._limit(op)
        params: list[Any] = []
        shape = self._shape(table, where, params)
        kind = "find-for-update" if op.for_update else "find"
        key = (table, kind, shape, op.order, limit is None if d.limit_as_param else limit)
        sql = self.cache.get(key)
        if sql is None:
            params = []
            order = self.full_order(table, op.order, where)
            text = d.select_prefix([table.field(o.field) for o in order])
            text += table.select_head + d.index_hint(table.model, fixed_fields(where), order)
            text += self._where(table, where, params, render=True)[1]
            text += self._order(table, order)
            if limit is not None:
                text += f" LIMIT {d.placeholder if d.limit_as_param else int(limit)}"
            if op.for_update:
                text += d.for_update_sql
            sql = self.cache.put(key, text)
        if limit is not None and d.limit_as_param:
            params.append(limit)
        return Compiled(sql, params)

    def count(self, op: Count) -> Compiled:
        table = self.table(op.model)
        return self._filtered(table, "count", table.count_head, (), op.where)

    def delete(self, op: Delete) -> Compiled:
        table = self.table(op.model)
        return self._filtered(table, "delete", table.delete_head, (), op.where)

    def update(self, op: Update) -> Compiled:
        """``UPDATE ... SET``; with no values, a COUNT of the rows it would match."""
        table = self.table(op.model)
        if not op.values:
            return self.count(Count(op.model, op.where))
        names = tuple(op.values)
        sets = [table.encode(name, op.values[name]) for name in names]
        return self._filtered(table, ("update", names), self._set(table, names), sets, op.where)

    def upsert_insert(self, op: Upsert) -> Compiled:
        """INSERT of ``op.row`` that does nothing when the primary key exists."""
        table = self.table(op.model)
        key = (table, "upsert-insert")
        sql = self.cache.get(key)
        if sql is None:
            columns = [table.column[k] for k in table.key]
            text = self._insert_sql(table, 1) + self.dialect.on_conflict_do_nothing(columns)
            sql = self.cache.put(key, text)
        params: list[Any] = []
        table.encode_row(op.row, params)
        return Compiled(sql, params)

    def upsert_update(self, op: Upsert) -> Compiled:
        """UPDATE of the ``op.update`` fields of the row with ``op.row``'s key, within ``op.where``."""
        table = self.table(op.model)
        names = tuple(op.update)
        sets = [table.encode(name, op.row.get(name)) for name in names]
        head = self._set(table, names)
        return self._by_key(table, ("upsert-update", names), head, sets, op.row, op.where)

    def returning(self, compiled: Compiled, table: Table) -> Compiled:
        """``compiled`` (an INSERT, UPDATE or DELETE) returning every column of the rows it
        wrote, in field order."""
        key = ("returning", compiled.sql)
        sql = self.cache.get(key)
        if sql is None:
            sql = self.cache.put(key, f"{compiled.sql} RETURNING {table.columns}")
        return Compiled(sql, compiled.params)

    def select_key(
        self, model: Model[Any], key: Mapping[str, Any], where: Filter | None
    ) -> Compiled:
        """SELECT of the row with primary key ``key`` if it also matches ``where``."""
        table = self.table(model)
        return self._by_key(table, "select-key", table.select_head, [], key, where)

    # --- DDL ------------------------------------------------------------------------------

    def ddl(self, schema: Schema) -> list[DDL]:
        """CREATE TABLE and CREATE INDEX statements, in their idempotent forms."""
        d = self.dialect
        if_not = " IF NOT EXISTS" if d.create_index_if_not_exists else ""
        out: list[DDL] = []
        for model in schema.models:
            table = d.table_name(model.name)
            body = d.columns_sql(model)
            body.append(
                f"PRIMARY KEY ({', '.join(d.key_part(model, k) for k in model.primary_key)})"
            )
            out.append(
                DDL(
                    f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(body)}){d.table_options}",
                    model.name,
                )
            )
            for index in model.indexes:
                columns = ", ".join(
                    f"{d.key_part(model, c.field)} {'DESC' if c.descending else 'ASC'}"
                    for c in index.columns
                )
                unique = "UNIQUE " if index.unique else ""
                out.append(
                    DDL(
                        f"CREATE {unique}INDEX{if_not} {d.index_name(index.name)} "
                        f"ON {d.index_table(model.name)} ({columns})",
                        model.name,
                        index.name,
                    )
                )
        return out

    # --- pieces -----------------------------------------------------------------------------

    def _insert_sql(self, table: Table, rows: int) -> str:
        key = (table, "insert", rows)
        sql = self.cache.get(key)
        if sql is None:
            one = "(" + ", ".join([self.dialect.placeholder] * len(table.names)) + ")"
            sql = self.cache.put(key, table.insert_head + ", ".join([one] * rows))
        return sql

    def _set(self, table: Table, names: tuple[str, ...]) -> str:
        key = (table, "set", names)
        sql = self.cache.get(key)
        if sql is None:
            ph = self.dialect.placeholder
            text = table.update_head + ", ".join(f"{table.column[n]} = {ph}" for n in names)
            sql = self.cache.put(key, text)
        return sql

    def _filtered(
        self, table: Table, kind: Hashable, head: str, params: Sequence[Any], where: Filter | None
    ) -> Compiled:
        """``head`` followed by the WHERE clause of ``where``, cached by shape."""
        where = where_from(where)
        out = list(params)
        shape = self._shape(table, where, out)
        key = (table, kind, shape)
        sql = self.cache.get(key)
        if sql is None:
            out = list(params)
            sql = self.cache.put(key, head + self._where(table, where, out, render=True)[1])
        return Compiled(sql, out)

    def _by_key(
        self,
        table: Table,
        kind: Hashable,
        head: str,
        params: list[Any],
        row: Mapping[str, Any],
        where: Filter | None,
    ) -> Compiled:
        """``head`` restricted to the row with ``row``'s primary key and to ``where``."""
        where = where_from(where)
        ph = self.dialect.placeholder
        out = list(params)
        out.extend(table.encode(k, row[k]) for k in table.key)
        shape = self._shape(table, where, out)
        key = (table, kind, shape)
        sql = self.cache.get(key)
        if sql is None:
            out = list(params)
            out.extend(table.encode(k, row[k]) for k in table.key)
            terms = [f"{table.column[k]} = {ph}" for k in table.key]
            if where is not None:
                terms.append(self._filter(table, where, out, render=True)[1])
            sql = self.cache.put(key, f"{head} WHERE {' AND '.join(terms)}")
        return Compiled(sql, out)

    def _limit(self, op: Find) -> int | None:
        limit = op.limit
        if limit is None:
            return None
        if type(limit) is not int or limit < 0:  # only a real int is ever rendered as SQL
            raise ValidationError(
                f"limit must be a non-negative int, got {limit!r}", model=op.model.name
            )
        return limit

    def full_order(
        self, table: Table, order: tuple[Order, ...], where: Filter | None = None
    ) -> tuple[Order, ...]:
        """``order`` followed by the primary-key fields it lacks, ascending (ORD-2).

        Key fields ``where`` pins with an equality are left out: they order nothing, and
        in ORDER BY they keep MariaDB from reading an index ``(key, sort...)`` in order.
        """
        named = {item.field for item in order} | fixed_fields(where)
        extra = tuple(Order(name) for name in table.key if name not in named)
        return order + extra if extra else order

    def _order(self, table: Table, order: tuple[Order, ...]) -> str:
        d = self.dialect
        terms = []
        for item in order:
            field = table.field(item.field)
            if isinstance(field.type, JsonType):
                raise ValidationError(
                    "cannot order by a json field", model=table.model.name, field=field.name
                )
            column = d.order_expr(table.column[field.name], field)
            terms.append(d.order_sql(column, item.descending, field.nullable))
        return " ORDER BY " + ", ".join(terms) if terms else ""

    def _where(
        self, table: Table, where: Filter | None, params: list[Any], *, render: bool
    ) -> tuple[Shape, str]:
        if where is None:
            return None, ""
        shape, sql = self._filter(table, where, params, render)
        return shape, f" WHERE {sql}" if render else ""

    # --- filters ------------------------------------------------------------------------------

    def _shape(self, table: Table, where: Filter | None, params: list[Any]) -> Shape:
        """The shape of ``where`` and its params, exactly as :meth:`_filter` gives them.

        Filters of comparisons and ``is_null`` of plain fields under AND, OR and NOT
        (keys, ``{"field": value}`` filters, scopes, cursor pages) are walked by
        :func:`_quick`, without :meth:`_node`'s checks and SQL bookkeeping: a shape is
        only ever found in the cache after :meth:`_filter` rendered it, which checked
        its fields and operators, and a new shape is rendered that way.
        """
        if where is None:
            return None
        head = len(params)
        quick = _quick(table, where, params)
        if quick is not None:
            return quick[0]
        del params[head:]
        return self._filter(table, where, params, False)[0]

    def _filter(
        self, table: Table, f: Filter, params: list[Any], render: bool
    ) -> tuple[Shape, str]:
        """Shape of ``f`` and (if ``render``) its SQL; appends its params in SQL order."""
        shape, sql, _ = self._node(table, f, params, render)
        return shape, sql

    def _node(
        self, table: Table, f: Filter, params: list[Any], render: bool
    ) -> tuple[Shape, str, int]:
        """:meth:`_filter` plus how deeply the SQL nests parentheses (0 for a condition).

        The nesting is a function of the shape alone, so operands are put in the same
        order whether or not the SQL is rendered, and params always follow the SQL.
        """
        d = self.dialect
        if isinstance(f, (And, Or)):
            items = flatten(f)
            if not items:
                return (type(f).__name__,), (d.true_sql if isinstance(f, And) else d.false_sql), 0
            if len(items) == 1:
                return self._node(table, items[0], params, render)
            return self._chain(table, f, items, params, render)
        if isinstance(f, Not):
            inner, sql, nesting = self._node(table, f.item, params, render)
            sql = d.not_sql(sql, grouped=_grouped(f.item)) if render else ""
            return ("Not", inner), sql, nesting + 1
        if isinstance(f, Compare):
            if f.value is None:  # NULL-1, as the filter builders spell it
                if f.op == "eq":
                    return self._node(table, IsNull(f.ref), params, render)
                if f.op == "ne":
                    return self._node(table, Not(IsNull(f.ref)), params, render)
                self._operator(table, f)
                self._reference(table, f.ref)
                return ("never",), d.false_sql, 0
            if isinstance(f.ref, Path):
                return self._json_compare(table, f, f.ref, params, render)
            field = self._scalar_field(table, f.ref, f.op)
            operator = self._operator(table, f)
            params.append(table.encode(field.name, f.value))
            sql = f"{table.column[field.name]} {operator} {d.placeholder}" if render else ""
            return ("cmp", f.op, field.name), sql, 0
        if isinstance(f, In):
            if isinstance(f.ref, Path):
                return self._json_in(table, f, f.ref, params, render)
            field = self._scalar_field(table, f.ref, "not_in" if f.negated else "in_")
            column = table.column[field.name]
            # NULL never matches (NULL-1); a None kept in the list would make NOT IN unknown.
            values = [table.encode(field.name, v) for v in f.values if v is not None]
            kind = _TYPE_NAMES[type(field.type)]
            packed = bool(values) and d.in_packed(kind, len(values))
            shape = ("in", field.name, f.negated, -1 if packed else len(values))
            if not values:  # FLT-IN: in_ [] is false, not_in [] is "not NULL"
                return shape, (f"{column} IS NOT NULL" if f.negated else d.false_sql), 0
            if packed:
                params.append(d.pack_in(kind, values))
            else:
                params.extend(values)
            sql = d.in_sql(column, f.negated, kind, len(values), packed) if render else ""
            return shape, sql, 0
        if isinstance(f, IsNull):
            if isinstance(f.ref, Path):
                field = self._json_field(table, f.ref)
                access = d.json_access(
                    table.qualified[field.name] if render else None, f.ref.keys, None
                )
                params.extend(access.type_params)
                null = d.literal(d.json_types["null"][0])
                sql = f"COALESCE({access.type_sql}, {null}) = {null}" if render else ""
                return ("jnull", field.name, access.shape), sql, 0
            field = table.field(f.ref)
            return ("null", field.name), f"{table.column[field.name]} IS NULL", 0
        raise ValidationError(f"not a filter: {f!r}", model=table.model.name)

    def _chain(
        self, table: Table, f: And | Or, items: list[Filter], params: list[Any], render: bool
    ) -> tuple[Shape, str, int]:
        """An AND/OR of two or more operands.

        When an operand after the first nests :data:`DEEP` levels or more, operands that
        nest come first, the deepest first, and the plain conditions after them as one
        group: ``(deepest AND other AND (c1 AND c2 AND ...))``. The deepest operand then
        costs the parser one stack entry and the expression tree a level or two, however
        many conditions sit beside it. Shallower filters keep the caller's order.
        """
        head = len(params)
        parts = []
        ends = []
        for item in items:
            parts.append(self._node(table, item, params, render))
            ends.append(len(params))
        shape: Shape = (type(f).__name__, tuple([p[0] for p in parts]))
        deepest = max([p[2] for p in parts[1:]])
        if deepest < DEEP:  # shallow operands (the usual case): as they come
            nesting = _levels(len(parts)) + max(parts[0][2], 2 + deepest)
            if not render:
                return shape, "", nesting
            joiner = " AND " if isinstance(f, And) else " OR "
            return shape, _join([p[1] for p in parts], joiner), nesting
        nested, plain, nesting = _deep_first([p[2] for p in parts], params, head, ends)
        if not render:
            return shape, "", nesting
        joiner = " AND " if isinstance(f, And) else " OR "
        operands = [parts[i][1] for i in nested]
        if len(plain) > 1:
            operands.append(_join([parts[i][1] for i in plain], joiner))
        else:
            operands += [parts[i][1] for i in plain]
        return shape, _join(operands, joiner), nesting

    def _reference(self, table: Table, ref: str | Path) -> Field:
        return self._json_field(table, ref) if isinstance(ref, Path) else table.field(ref)

    def _scalar_field(self, table: Table, name: str, op: str) -> Field:
        field = table.field(name)
        if isinstance(field.type, JsonType):
            raise ValidationError(
                f"{op} does not apply to a json field itself (only is_null does); "
                "compare a path inside it",
                model=table.model.name,
                field=name,
            )
        return field

    def _json_field(self, table: Table, ref: Path) -> Field:
        field = table.field(ref.field)
        if not isinstance(field.type, JsonType):
            raise ValidationError(
                "a path needs a json field", model=table.model.name, field=ref.field
            )
        if not ref.keys:
            raise ValidationError(
                "a path needs at least one key", model=table.model.name, field=ref.field
            )
        return field

    def _operator(self, table: Table, f: Compare) -> str:
        try:
            return _OPERATORS[f.op]
        except KeyError:
            field = f.ref.field if isinstance(f.ref, Path) else f.ref
            raise ValidationError(
                f"unknown operator {f.op!r}", model=table.model.name, field=field
            ) from None

    def _json_kind(self, table: Table, field: Field, value: Any) -> JsonKind:
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, (int, float)):
            return "number"
        if isinstance(value, str):
            return "string"
        raise ValidationError(
            f"a path compares with a str, number or bool, got {type(value).__name__}",
            model=table.model.name,
            field=field.name,
        )

    def _type_in(self, type_sql: str, names: tuple[str, ...], *, negated: bool = False) -> str:
        d = self.dialect
        if len(names) == 1:
            return f"{type_sql} {'<>' if negated else '='} {d.literal(names[0])}"
        listed = ", ".join(d.literal(n) for n in names)
        return f"{type_sql} {'NOT IN' if negated else 'IN'} ({listed})"

    def _json_compare(
        self, table: Table, f: Compare, ref: Path, params: list[Any], render: bool
    ) -> tuple[Shape, str, int]:
        """FLT-JSON-1/2: typed comparison; ``ne`` is "present, non-null and different"."""
        d = self.dialect
        field = self._json_field(table, ref)
        operator = self._operator(table, f)
        kind = self._json_kind(table, field, f.value)
        if kind == "boolean" and f.op not in ("eq", "ne"):
            return ("never",), d.false_sql, 0  # FLT-JSON-1 orders numbers and strings only
        access = d.json_access(table.qualified[field.name] if render else None, ref.keys, kind)
        scalar = d.codec.encode_json_scalar(f.value)
        shape = ("jcmp", f.op, field.name, kind, access.shape)
        if f.op == "ne":
            params.extend(access.type_params)
            params.extend(access.type_params)
            params.extend(access.value_params)
            params.append(scalar)
            if not render:
                return shape, "", 0
            present = self._type_in(access.type_sql, d.json_types["null"], negated=True)
            typed = self._type_in(access.type_sql, d.json_types[kind])
            value = f"{access.value_sql} = {d.placeholder}"
            return shape, f"({present} AND NOT ({typed} AND {value}))", 0
        params.extend(access.type_params)
        params.extend(access.value_params)
        params.append(scalar)
        if not render:
            return shape, "", 0
        typed = self._type_in(access.type_sql, d.json_types[kind])
        return shape, f"({typed} AND {access.value_sql} {operator} {d.placeholder})", 0

    def _json_in(
        self, table: Table, f: In, ref: Path, params: list[Any], render: bool
    ) -> tuple[Shape, str, int]:
        """in_ on a path: an OR of typed IN lists, one per JSON kind among the values."""
        d = self.dialect
        field = self._json_field(table, ref)
        column = table.qualified[field.name] if render else None
        by_kind: dict[JsonKind, list[Any]] = {}
        for value in f.values:
            if value is None:
                continue
            by_kind.setdefault(self._json_kind(table, field, value), []).append(value)
        present_sql = ""
        shape_parts: list[Hashable] = []
        if f.negated:  # not_in: present, non-null, and none of the values (of any type)
            access = d.json_access(column, ref.keys, None)
            params.extend(access.type_params)
            shape_parts.append(access.shape)
            if render:
                present_sql = self._type_in(access.type_sql, d.json_types["null"], negated=True)
        groups = []
        for kind in _KINDS:
            values = by_kind.get(kind)
            if not values:
                continue
            access = d.json_access(column, ref.keys, kind)
            params.extend(access.type_params)
            params.extend(access.value_params)
            scalars = [d.codec.encode_json_scalar(v) for v in values]
            in_kind = f"json-{kind}"
            packed = d.in_packed(in_kind, len(scalars))
            if packed:
                params.append(d.pack_in(in_kind, scalars))
            else:
                params.extend(scalars)
            shape_parts.append((kind, -1 if packed else len(values), access.shape))
            if render:
                typed = self._type_in(access.type_sql, d.json_types[kind])
                listed = d.in_sql(access.value_sql, False, in_kind, len(scalars), packed)
                groups.append(f"({typed} AND {listed})")
        shape = ("jin", field.name, f.negated, tuple(shape_parts))
        if not render:
            return shape, "", 0
        if not groups:
            matched = d.false_sql
        elif len(groups) == 1:
            matched = groups[0]
        else:
            matched = "(" + " OR ".join(groups) + ")"
        if f.negated:
            return shape, f"({present_sql} AND NOT {matched})", 0
        return shape, matched, 0
