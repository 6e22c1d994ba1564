"""The SQL layer every SQL adapter shares: dialect, codec, compiler and a DB-API base.

A backend is a :class:`Dialect` subclass (how it spells things) plus a
:class:`SQLAdapter` subclass (how it gets a connection). See ``noorm.adapters.sqlite``.
"""

from .adapter import Cursor, Session, SQLAdapter, Transaction
from .codec import Codec, Convert, dump_json, load_json
from .compiler import DDL, Compiled, Compiler, StatementCache, Table
from .dialect import Dialect, JsonAccess, JsonKind

__all__ = [
    "DDL",
    "Codec",
    "Compiled",
    "Compiler",
    "Convert",
    "Cursor",
    "Dialect",
    "JsonAccess",
    "JsonKind",
    "SQLAdapter",
    "Session",
    "StatementCache",
    "Table",
    "Transaction",
    "dump_json",
    "load_json",
]
