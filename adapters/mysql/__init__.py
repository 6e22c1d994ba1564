"""noorm.adapters.mysql: MySQL 8 and MariaDB through PyMySQL, and aiomysql for asyncio.

``MySQLAdapter("mysql://user:password@host:3306/database")`` (or a ``pymysql``
connection, or a connection factory); its asyncio door
``AsyncMySQLAdapter("mysql://...")`` (or an ``aiomysql`` connection). Where a server differs from the spec the
adapter works around it; docs/backends/mysql.md lists each difference. The dialects
import without PyMySQL; the adapter loads it on first use.
"""

from typing import TYPE_CHECKING

from .. import lazy_exports
from .dialect import MariaDBDialect, MySQLCodec, MySQLDialect

if TYPE_CHECKING:
    from .adapter import MySQLAdapter, server_flavour
    from .async_adapter import AsyncMySQLAdapter
    from .connection import ConnectParams, check_connection, parse_url

__all__ = [
    "AsyncMySQLAdapter",
    "ConnectParams",
    "MariaDBDialect",
    "MySQLAdapter",
    "MySQLCodec",
    "MySQLDialect",
    "check_connection",
    "parse_url",
    "server_flavour",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "MySQLAdapter": ".adapter",
        "AsyncMySQLAdapter": ".async_adapter",
        "server_flavour": ".adapter",
        "ConnectParams": ".connection",
        "check_connection": ".connection",
        "parse_url": ".connection",
    },
    "mysql",
)
