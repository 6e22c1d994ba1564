"""The SQLite adapter (standard-library ``sqlite3``): ``SQLiteAdapter("app.db")``."""

from .adapter import SQLiteAdapter
from .dialect import SQLiteCodec, SQLiteDialect

__all__ = ["SQLiteAdapter", "SQLiteCodec", "SQLiteDialect"]
