"""What the sync and the async MongoDB adapter share beyond the core: their identity, the
target they were given, and where a :class:`~.core.Call` goes."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import noorm
from noorm.spec import Capability, Operation

from .core import CLIENT, CODEC_OPTIONS, MongoCore, client_of, database_name

__all__ = ["MongoDoor"]

ClientT = TypeVar("ClientT")
DatabaseT = TypeVar("DatabaseT")


class MongoDoor(Generic[ClientT, DatabaseT]):
    """An adapter on one database of a ``ClientT`` (``MongoClient``/``AsyncMongoClient``):
    its :class:`~.core.MongoCore`, client, database and collection objects. No I/O."""

    name: str = "mongodb"
    version: str = noorm.__version__

    def __init__(
        self,
        target: Any,
        database: str | None,
        allow_non_atomic_transactions: bool,
        types: tuple[type[Any], type[Any]],
    ) -> None:
        client, base, owned = client_of(target, database, *types)
        if base is None:
            try:
                base = client.get_database(database_name(client, database))
            except ValueError:
                if owned:
                    self._discard(client)
                raise
        self._owned: ClientT | None = client if owned else None
        self._client: ClientT = client
        self._db: DatabaseT = base.with_options(codec_options=CODEC_OPTIONS)
        self._collections: dict[str, Any] = {}
        self._core = MongoCore(allow_non_atomic_transactions=allow_non_atomic_transactions)
        self.capabilities: frozenset[Capability] = frozenset()
        """What the server supports (known once it was asked); an instance may narrow
        them, and then refuses what needs the others (CAP-1)."""
        self.ferretdb: str | None = None
        """FerretDB's version when the server is FerretDB, else None (known once the
        server was asked)."""

    def _discard(self, client: Any) -> None:
        """Release a client this adapter opened and will not use (before any I/O)."""

    @property
    def database(self) -> DatabaseT:
        """The database this adapter works on (with the adapter's codec options)."""
        return self._db

    @property
    def database_name(self) -> str:
        return str(self._db.name)  # type: ignore[attr-defined]

    @property
    def _closed(self) -> bool:
        return self._core.closed

    def statement(self, op: Operation[Any]) -> str | None:
        """The MQL ``op`` runs, operand values shown as ``?`` (for ``on_query``)."""
        return self._core.statement(op)

    def _target(self, on: Any) -> Any:
        """The object a :class:`~.core.Call` ``on`` names."""
        if on.__class__ is str:
            collection = self._collections.get(on)
            if collection is None:
                collection = self._collections[on] = self._db.get_collection(on)  # type: ignore[attr-defined]
            return collection
        return self._db if on is None else self._client if on is CLIENT else on
