"""The PostgreSQL adapter (psycopg 3): ``PostgresAdapter("postgresql://...")``, and its
asyncio door ``AsyncPostgresAdapter("postgresql://...")``.

``pip install 'no-orm[postgres]'``. See docs/backends/postgres.md. The dialect imports
without psycopg; the adapter loads it on first use.
"""

from typing import TYPE_CHECKING

from .. import lazy_exports
from .dialect import PostgresCodec, PostgresDialect

if TYPE_CHECKING:
    from .adapter import PostgresAdapter
    from .async_adapter import AsyncPostgresAdapter

__all__ = ["AsyncPostgresAdapter", "PostgresAdapter", "PostgresCodec", "PostgresDialect"]

__getattr__ = lazy_exports(
    __name__, {"PostgresAdapter": ".adapter", "AsyncPostgresAdapter": ".async_adapter"}, "postgres"
)
