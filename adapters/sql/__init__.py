"""The SQL layer every SQL adapter shares: dialect, codec, compiler, programs and two drivers.

A backend is a :class:`Dialect` subclass (how it spells things) plus a
:class:`SQLAdapter` subclass (how it gets a connection) — and, for an asyncio door, an
:class:`AsyncSQLAdapter` subclass on the same programs. Multi-statement protocols are
:mod:`.program` generators in :class:`SQLCore`, written once for both doors. See
docs/adapters.md, "On the shared SQL layer", and ``noorm.adapters.sqlite``.
"""

from .adapter import Cursor, Session, SQLAdapter, Transaction
from .async_adapter import AsyncCursor, AsyncSQLAdapter, AsyncTransaction
from .codec import Codec, Convert, dump_json, load_json
from .compiler import DDL, Compiled, Compiler, StatementCache, Table
from .core import SQLCore, as_program
from .dialect import Dialect, JsonAccess, JsonKind
from .program import Command, Pause, Plan, Program, Query, command, query

__all__ = [
    "DDL",
    "AsyncCursor",
    "AsyncSQLAdapter",
    "AsyncTransaction",
    "Codec",
    "Command",
    "Compiled",
    "Compiler",
    "Convert",
    "Cursor",
    "Dialect",
    "JsonAccess",
    "JsonKind",
    "Pause",
    "Plan",
    "Program",
    "Query",
    "SQLAdapter",
    "SQLCore",
    "Session",
    "StatementCache",
    "Table",
    "Transaction",
    "as_program",
    "command",
    "dump_json",
    "load_json",
    "query",
]
