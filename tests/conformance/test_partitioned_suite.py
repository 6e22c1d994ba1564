"""The ``citus`` target runs the whole suite with every model partitioned (PART-4), so
every model the suite bootstraps must admit its first key field as partition key
(PART-2). Checked here without a Citus server: the reference adapter, partitioning every
schema it bootstraps, must be certified."""

from __future__ import annotations

from pathlib import Path

from noorm.conformance.models import SCHEMA
from noorm.conformance.partitioning import partition_every_model

from .test_cli import noorm


def test_the_suite_schema_partitions_by_first_key_fields() -> None:
    partitioned = partition_every_model(SCHEMA)
    assert {m.name: m.partition_key for m in partitioned.models} == {
        m.name: m.primary_key[:1] for m in SCHEMA.models
    }
    assert partition_every_model(partitioned) == partitioned


def test_the_reference_adapter_is_certified_with_every_model_partitioned(tmp_path: Path) -> None:
    run = noorm(
        "certify", "--factory", "noorm.conformance.partitioning:memory_partitioned", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "CERTIFIED" in run.stdout
