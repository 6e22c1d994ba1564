"""The three hook kinds a host's users can extend a store with, and what observability sees.

Deliberately only three (no broad lifecycle hooks): extend the schema before it is
final, inject or enforce written values, and add required filters. Each hook gets
the store's explicit context (``store.bind(tenant_id=...)``), never a global.

Observability is the host's, not its users': ``Store(around=...)`` encloses each
operation (a tracing span, a timer) and receives a :class:`QueryCall`;
``Store(on_query=...)`` receives one :class:`QueryEvent` per operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from noorm.spec.errors import ValidationError, brief
from noorm.spec.filters import Filter
from noorm.spec.schema import Model, Schema

__all__ = ["Plugin", "QueryCall", "QueryEvent", "Write", "WriteKind"]

WriteKind = Literal["insert", "update", "upsert"]

_MISSING = object()


class Write:
    """One write about to be validated; write hooks edit it in place.

    ``values`` is the row (insert, upsert) or the changed fields (update).
    ``update`` lists the fields an upsert changes on conflict (None otherwise).
    """

    __slots__ = ("context", "kind", "model", "update", "values")

    def __init__(
        self,
        kind: WriteKind,
        model: Model[Any],
        values: dict[str, Any],
        context: Mapping[str, Any],
        update: list[str] | None = None,
    ) -> None:
        self.kind = kind
        self.model = model
        self.values = values
        self.context = context
        self.update = update

    def enforce(self, field: str, value: Any, *, plugin: str) -> None:
        """Set ``field`` to ``value``; reject the write if the caller gave another value."""
        given = self.values.get(field, _MISSING)
        if given is not _MISSING and given != value:
            raise ValidationError(
                f"value {brief(given)} contradicts {brief(value)} enforced by {plugin}",
                model=self.model.name,
                field=field,
            )
        self.values[field] = value


class Plugin:
    """Base class for plugins: override the hooks you need; the defaults do nothing."""

    name = "plugin"

    def extend_schema(self, schema: Schema) -> Schema:
        """Return the schema with this plugin's fields and indexes added."""
        return schema

    def on_write(self, write: Write) -> None:
        """Inject or enforce values on an insert, update or upsert."""

    def scope(self, model: Model[Any], context: Mapping[str, Any]) -> Filter | None:
        """A filter every read and every row-selecting write on ``model`` must satisfy."""
        return None


@dataclass(frozen=True, slots=True)
class QueryCall:
    """What ``Store(around=...)`` receives as an operation starts (OBS-3)."""

    operation: str
    """``insert`` (also for ``insert_many``), ``get``, ``find``, ``count``, ``update``,
    ``upsert`` or ``delete``."""
    model: str
    context: Mapping[str, Any]
    """The store's bound context (``store.bind(...)``), e.g. the tenant."""


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """What ``Store(on_query=...)`` receives once per operation, as it ends (OBS-1, OBS-2)."""

    operation: str
    """As in :class:`QueryCall`."""
    model: str
    statement: str | None
    """The operation's main statement (for ``find(after=...)`` the page query), its
    operand values as placeholders; None where the adapter has none (memory)."""
    duration: float
    """Seconds the whole operation took, from its first statement to the end of its last."""
    rows: int
    """Rows returned (a page's rows, without the row read ahead to know whether another
    page follows), inserted, matched by an update, removed, or counted; 1 for an upsert;
    0 when the operation failed."""
    error: BaseException | None = None
    """The exception the operation raised; None when it succeeded."""
    statements: tuple[str, ...] = ()
    """Every statement the operation ran, in order (two for ``find(after=...)``: the
    row's position, then the page)."""
