"""Tenant scoping, built only on the three hooks.

Adds a ``tenant_id`` field to every scoped model (first in each index, so a tenant's
rows stay together), writes the bound tenant into every inserted or upserted row,
refuses a write naming another tenant, and adds ``tenant_id = <bound tenant>`` to every
read and row-selecting write. A store used without a bound tenant refuses to run.

By default the primary key stays the model's own, so keys are unique across tenants: an
insert or upsert of a key that another tenant holds raises ``DuplicateKeyError``, which
tells the caller that the key exists somewhere (an existence oracle). With
``keyed=True`` the tenant field is also the first primary-key field: every tenant has
its own key space, and callers still name rows by the model's own key (the store fills
the tenant in from the bound scope, HOOK-5).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from noorm.spec.errors import ValidationError
from noorm.spec.filters import Compare, Filter
from noorm.spec.schema import Field, Index, Model, Schema
from noorm.spec.types import StringType

from ..hooks import Plugin, Write

__all__ = ["TenantScope"]


class TenantScope(Plugin):
    """``TenantScope()``, then ``store.bind(tenant_id="acme")`` per request."""

    name = "tenant scope"

    def __init__(
        self,
        *,
        field: str = "tenant_id",
        context_key: str = "tenant_id",
        max_length: int = 255,
        models: Collection[str] | None = None,
        keyed: bool = False,
    ) -> None:
        """``keyed``: make the tenant field part of each scoped model's primary key."""
        self.field = field
        self.keyed = keyed
        self.context_key = context_key
        self.max_length = max_length
        self.models = None if models is None else frozenset(models)

    def _applies(self, model: Model[Any]) -> bool:
        return self.models is None or model.name in self.models

    def extend_schema(self, schema: Schema) -> Schema:
        # Built as one new schema: colocated models (PART-1) change together.
        models = list(schema.models)
        for position, model in enumerate(models):
            if not self._applies(model) or model.has_field(self.field):
                continue
            column = Field(self.field, StringType(self.max_length))
            indexes = [
                Index(index.name, [self.field, *index.columns], unique=index.unique)
                for index in model.indexes
            ]
            key = [self.field, *model.primary_key] if self.keyed else None
            # A keyed scope leads the primary key, so it leads a partition key too (PART-1):
            # each tenant's rows stay in one partition.
            partition = (
                [self.field, *model.partition_key] if self.keyed and model.partition_key else None
            )
            models[position] = model.with_field(column, first=True).replace(
                indexes=indexes, primary_key=key, partition_key=partition
            )
        return Schema(models)

    def _tenant(self, model: Model[Any], context: Mapping[str, Any]) -> Any:
        try:
            return context[self.context_key]
        except KeyError:
            raise ValidationError(
                f"this model is tenant-scoped: bind a tenant first, store.bind({self.context_key}=...)",
                model=model.name,
            ) from None

    def on_write(self, write: Write) -> None:
        if not self._applies(write.model):
            return
        write.enforce(self.field, self._tenant(write.model, write.context), plugin=self.name)
        if write.kind == "update" and self.field in write.model.primary_key:
            # The scope already selects only this tenant's rows; a key field is never set.
            del write.values[self.field]

    def scope(self, model: Model[Any], context: Mapping[str, Any]) -> Filter | None:
        if not self._applies(model):
            return None
        return Compare("eq", self.field, self._tenant(model, context))
