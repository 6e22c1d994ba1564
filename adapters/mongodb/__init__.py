"""noorm.adapters.mongodb: MongoDB and FerretDB through pymongo.

``MongoAdapter("mongodb://host/dbname")`` (or a ``MongoClient``/``Database``);
``await AsyncMongoAdapter.open(...)`` is the native async door, on ``AsyncMongoClient``,
running the same logic (``core``). Differences
from the spec a server forces are handled or declared; docs/backends/mongodb.md lists
each one with the clause it concerns.
"""

try:
    import pymongo  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "noorm.adapters.mongodb needs pymongo: pip install 'no-orm[mongodb]'"
    ) from exc

import contextlib

from .adapter import MongoAdapter, MongoTransaction

with contextlib.suppress(ImportError):  # pymongo < 4.13 has no (stable) AsyncMongoClient
    from .async_adapter import AsyncMongoAdapter, AsyncMongoTransaction

__all__ = ["AsyncMongoAdapter", "AsyncMongoTransaction", "MongoAdapter", "MongoTransaction"]
