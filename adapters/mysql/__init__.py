"""noorm.adapters.mysql: MySQL 8 and MariaDB through PyMySQL.

``MySQLAdapter("mysql://user:password@host:3306/database")`` (or a ``pymysql``
connection, or a connection factory). Where a server differs from the spec the
adapter works around it; docs/backends/mysql.md lists each difference.
"""

try:
    import pymysql  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("noorm.adapters.mysql needs PyMySQL: pip install 'no-orm[mysql]'") from exc

from .adapter import MySQLAdapter, server_flavour
from .connection import ConnectParams, check_connection, parse_url
from .dialect import MariaDBDialect, MySQLCodec, MySQLDialect

__all__ = [
    "ConnectParams",
    "MariaDBDialect",
    "MySQLAdapter",
    "MySQLCodec",
    "MySQLDialect",
    "check_connection",
    "parse_url",
    "server_flavour",
]
