"""Audit timestamps, built only on the schema and write hooks.

Adds ``created_at`` and ``updated_at`` timestamp fields; an insert sets both, an
update sets ``updated_at``, and an upsert sets both on insert but only ``updated_at``
when it updates. Values come from the plugin's clock: a write that gives either
field itself is rejected, so audit values can be trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from noorm.spec.errors import ValidationError
from noorm.spec.schema import Field, Model, Schema
from noorm.spec.types import TimestampType

from ..hooks import Plugin, Write

__all__ = ["AuditTimestamps"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuditTimestamps(Plugin):
    name = "audit timestamps"

    def __init__(
        self,
        *,
        created: str = "created_at",
        updated: str = "updated_at",
        clock: Callable[[], datetime] = _utcnow,
        models: Collection[str] | None = None,
    ) -> None:
        self.created = created
        self.updated = updated
        self.clock = clock
        self.models = None if models is None else frozenset(models)

    def _applies(self, model: Model[Any]) -> bool:
        return self.models is None or model.name in self.models

    def extend_schema(self, schema: Schema) -> Schema:
        for model in schema.models:
            if not self._applies(model):
                continue
            extended = model
            for name in (self.created, self.updated):
                if not extended.has_field(name):
                    extended = extended.with_field(Field(name, TimestampType()))
            if extended is not model:
                schema = schema.replace(extended)
        return schema

    def on_write(self, write: Write) -> None:
        if not self._applies(write.model):
            return
        for name in (self.created, self.updated):
            if name in write.values:
                raise ValidationError(
                    f"the field is managed by {self.name}", model=write.model.name, field=name
                )
        now = self.clock()
        if write.kind == "update":
            write.values[self.updated] = now
            return
        write.values[self.created] = now
        write.values[self.updated] = now
        if write.kind == "upsert" and write.update:
            if self.created in write.update:
                write.update.remove(self.created)
            if self.updated not in write.update:
                write.update.append(self.updated)
