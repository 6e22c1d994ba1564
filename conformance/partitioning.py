"""The suite with every model partitioned: how the ``citus`` target runs it (PART-4).

:func:`partition_every_model` gives each model that declares no partition key the first
field of its primary key as one. A distributed target's factory applies it to every
schema its adapter bootstraps, so every test of the suite runs on distributed tables
with the clauses unchanged (PART-3 says partitioning changes no result). The suite's
models obey PART-2 for it: every unique index includes the first primary-key field
(``tests/conformance/test_partitioned_suite.py`` certifies the reference adapter with
every model partitioned, so a model that cannot be is caught without a Citus server).
"""

from __future__ import annotations

from noorm.spec import Adapter, Schema

__all__ = ["PartitioningMemoryFactory", "memory_partitioned", "partition_every_model"]


def partition_every_model(schema: Schema) -> Schema:
    """``schema`` with every unpartitioned model partitioned by its first key field.

    A model whose unique index lacks that field cannot be partitioned on any distributed
    engine (PART-2): the SchemaError says which.
    """
    models = [
        m if m.partition_key else m.replace(partition_key=m.primary_key[:1]) for m in schema.models
    ]
    return Schema(models)


class PartitioningMemoryFactory:
    """The reference adapter with every model partitioned, as the ``citus`` target runs
    the suite: ``noorm certify --factory noorm.conformance.partitioning:memory_partitioned``
    certifies on it only if every schema the suite bootstraps can be partitioned."""

    def __call__(self) -> Adapter:
        from noorm.adapters.memory import MemoryAdapter

        class PartitioningMemoryAdapter(MemoryAdapter):
            def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
                return super().bootstrap(partition_every_model(schema), dry_run=dry_run)

        return PartitioningMemoryAdapter()

    def same_database(self, adapter: Adapter) -> Adapter:
        return adapter


memory_partitioned = PartitioningMemoryFactory()
