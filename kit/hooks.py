"""The three hook kinds a host's users can extend a store with, and query events.

Deliberately only three (no broad lifecycle hooks): extend the schema before it is
final, inject or enforce written values, and add required filters. Each hook gets
the store's explicit context (``store.bind(tenant_id=...)``), never a global.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from noorm.spec.errors import ValidationError, brief
from noorm.spec.filters import Filter
from noorm.spec.schema import Model, Schema

__all__ = ["Plugin", "QueryEvent", "Write", "WriteKind"]

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
class QueryEvent:
    """What the ``on_query`` callback receives for every operation run."""

    operation: str
    model: str
    statement: str | None
    duration: float
    """Seconds spent in the adapter."""
    rows: int
    """Rows returned, written, matched or counted."""
    error: BaseException | None = None
