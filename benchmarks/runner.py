"""Runs the workload: fresh namespaces, seed, a checked warm-up round, then timed rounds.

Interleaving: in every round, each operation is timed for every implementation in
turn (the order rotates from one operation and round to the next), so a slow patch of
the machine hits all implementations alike, and paired ratios compare samples taken
seconds apart.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backends import Backend, mongodb_url, mysql_params, mysql_url, postgres_url
from .impl_noorm import NoormImpl
from .workload import OPS, Impl, Op, same

__all__ = ["BackendResult", "open_impl", "run_backend"]

KINDS = ("noorm", "raw", "sqlalchemy")


@dataclass
class BackendResult:
    backend: str
    server: str
    kinds: list[str]
    rounds: int
    per_op: int
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """op -> kind -> wall-clock microseconds per operation, one value per round."""
    cpu: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """op -> kind -> the client thread's CPU microseconds per operation, per round."""
    counts: dict[str, int] = field(default_factory=dict)
    """op -> calls per timed sample (at most ``per_op``; fewer for slow operations)."""
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0


def noorm_adapter(backend: Backend, namespace: str, target: str, conn: Any) -> Any:
    """no-orm's adapter: opened from the URL (its own pool), or on one connection."""
    if target == "conn" and backend.name == "postgres":
        import psycopg

        from noorm.adapters.postgres import PostgresAdapter

        return PostgresAdapter(psycopg.connect(postgres_url(), autocommit=True), schema=namespace)
    if target == "conn" and backend.name == "mysql":
        import pymysql
        from pymysql.constants import CLIENT

        from noorm.adapters.mysql import MySQLAdapter

        return MySQLAdapter(
            pymysql.connect(**mysql_params(namespace), client_flag=CLIENT.FOUND_ROWS)
        )
    return backend.adapter(namespace, conn)


def open_impl(
    backend: Backend, kind: str, noorm_target: str = "url"
) -> tuple[Impl, Callable[[], None]]:
    """``kind``'s implementation in a fresh namespace, and how to close both."""
    ns = backend.fresh(f"bench_{kind}")
    impl: Impl
    try:
        if kind == "noorm":
            impl = NoormImpl(noorm_adapter(backend, ns.name, noorm_target, ns.sqlite_conn))
        elif kind == "raw":
            impl = _raw(backend, ns.name, ns.sqlite_conn)
        else:
            from .impl_sqlalchemy import SQLAlchemyImpl

            if backend.name == "postgres":
                impl = SQLAlchemyImpl("postgres", url=postgres_url(), schema=ns.name)
            elif backend.name == "mysql":
                impl = SQLAlchemyImpl("mysql", url=mysql_url(ns.name))
            else:
                impl = SQLAlchemyImpl(backend.name, sqlite_conn=ns.sqlite_conn)
    except BaseException:
        ns.close()
        raise

    def close() -> None:
        try:
            impl.close()
        finally:
            ns.close()

    return impl, close


def _raw(backend: Backend, namespace: str, conn: Any) -> Impl:
    if backend.name in ("sqlite", "sqlite-file"):
        from .raw_sql import RawSQLite

        return RawSQLite(conn)
    if backend.name == "postgres":
        from .raw_sql import RawPostgres

        return RawPostgres(postgres_url(), namespace)
    if backend.name == "mysql":
        from .raw_sql import RawMySQL

        return RawMySQL(mysql_params(namespace))
    from .raw_mongo import RawMongo

    return RawMongo(mongodb_url(), namespace)


def _time(impl: Impl, op: Op, args: Sequence[Any]) -> tuple[float, float]:
    """(wall, client-thread CPU) microseconds per call of ``op``."""
    call = op.call
    cpu = time.thread_time_ns()
    start = time.perf_counter_ns()
    for a in args:
        call(impl, a)
    wall = time.perf_counter_ns() - start
    cpu = time.thread_time_ns() - cpu
    return wall / len(args) / 1000, cpu / len(args) / 1000


WARMUP_CALLS = 6
"""Calls per operation and implementation in the warm-up round (psycopg prepares a
statement server-side from its 5th execution on)."""
_DEPENDENT = ("get", "update", "upsert", "delete")
"""Operations on the conversations "insert" created in the same round: never more calls."""


def _check(impls: dict[str, Impl], result: BackendResult) -> dict[str, float]:
    """The warm-up round: every implementation a few times; results must agree.

    Returns the slowest implementation's seconds per call, per operation.
    """
    first = next(iter(impls))
    slowest: dict[str, float] = {}
    for op in OPS:
        args = [op.args("w", i) for i in range(WARMUP_CALLS)]
        outcomes = {}
        for kind, impl in impls.items():
            start = time.perf_counter()
            outcomes[kind] = [op.call(impl, a) for a in args]
            per_call = (time.perf_counter() - start) / len(args)
            slowest[op.name] = max(slowest.get(op.name, 0.0), per_call)
        for kind, got in outcomes.items():
            for i, (want, have) in enumerate(zip(outcomes[first], got, strict=True)):
                if not same(op.name, want, have):
                    result.mismatches.append(
                        f"{op.name}[{i}]: {first} returned {want!r}, {kind} returned {have!r}"
                    )
                    break
    return slowest


def _counts(slowest: dict[str, float], per_op: int, budget: float) -> dict[str, int]:
    """Calls per sample: ``per_op``, or fewer (at least 3) where the slowest
    implementation would take more than ``budget`` seconds for them."""
    counts = {op: max(3, min(per_op, int(budget / t))) for op, t in slowest.items()}
    for op in _DEPENDENT:
        counts[op] = min(counts[op], counts["insert"])
    return counts


def run_backend(
    backend: Backend,
    *,
    rounds: int,
    per_op: int,
    kinds: Sequence[str] = KINDS,
    noorm_target: str = "url",
    budget: float = 1.0,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> BackendResult:
    started = time.perf_counter()
    kinds = [k for k in kinds if k != "sqlalchemy" or backend.sql]
    result = BackendResult(backend.name, backend.server_version(), kinds, rounds, per_op)
    impls: dict[str, Impl] = {}
    closers: list[Callable[[], None]] = []
    try:
        for kind in kinds:
            impl, close = open_impl(backend, kind, noorm_target)
            impls[kind] = impl
            closers.append(close)
            impl.seed()
        log(f"[{backend.name}] seeded; warm-up round (checking results agree)")
        result.counts = _counts(_check(impls, result), per_op, budget)
        for problem in result.mismatches:
            log(f"[{backend.name}] MISMATCH {problem}")
        result.samples = {op.name: {k: [] for k in kinds} for op in OPS}
        result.cpu = {op.name: {k: [] for k in kinds} for op in OPS}
        for r in range(rounds):
            gc.collect()
            tag = f"r{r:02d}"
            for n, op in enumerate(OPS):
                args = [op.args(tag, i) for i in range(result.counts[op.name])]
                shift = (r + n) % len(kinds)
                for kind in kinds[shift:] + kinds[:shift]:
                    wall, cpu = _time(impls[kind], op, args)
                    result.samples[op.name][kind].append(wall)
                    result.cpu[op.name][kind].append(cpu)
            log(f"[{backend.name}] round {r + 1}/{rounds} done")
    finally:
        for close in reversed(closers):
            close()
        backend.close()
    result.seconds = time.perf_counter() - started
    return result
