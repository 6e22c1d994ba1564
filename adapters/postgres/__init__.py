"""The PostgreSQL adapter (psycopg 3): ``PostgresAdapter("postgresql://...")``.

``pip install 'no-orm[postgres]'``. See docs/backends/postgres.md. The dialect imports
without psycopg; the adapter loads it on first use.
"""

from typing import TYPE_CHECKING

from .. import lazy_exports
from .dialect import PostgresCodec, PostgresDialect

if TYPE_CHECKING:
    from .adapter import PostgresAdapter

__all__ = ["PostgresAdapter", "PostgresCodec", "PostgresDialect"]

__getattr__ = lazy_exports(__name__, {"PostgresAdapter": ".adapter"}, "postgres")
