"""noorm.adapters.mongodb: MongoDB and FerretDB through pymongo.

``MongoAdapter("mongodb://host/dbname")`` (or a ``MongoClient``/``Database``). Differences
from the spec a server forces are handled or declared; docs/backends/mongodb.md lists
each one with the clause it concerns.
"""

try:
    import pymongo  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "noorm.adapters.mongodb needs pymongo: pip install 'no-orm[mongodb]'"
    ) from exc

from .adapter import MongoAdapter, MongoTransaction

__all__ = ["MongoAdapter", "MongoTransaction"]
