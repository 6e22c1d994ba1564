"""The PostgreSQL adapter (psycopg 3): ``PostgresAdapter("postgresql://...")``.

``pip install 'no-orm[postgres]'``. See docs/backends/postgres.md.
"""

from .adapter import PostgresAdapter
from .dialect import PostgresCodec, PostgresDialect

__all__ = ["PostgresAdapter", "PostgresCodec", "PostgresDialect"]
