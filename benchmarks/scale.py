"""``python -m benchmarks scale``: does a deep page cost what a first page costs?

For each backend, at a small and a large table size: load one conversation holding
half the items (500,000 of 1,000,000) among conversations of 100 items, then time its
first page and a page half-way down it, through no-orm and through raw keyset SQL/MQL,
interleaved in rounds. The deep page is reached as a client reaches it: a find with
``after=`` the item at that position, then the ``next_cursor`` of that page. Keyset
pagination should make deep(large)/deep(small) close to 1. Also prints the query plan
of the statement no-orm issues for the deep page (informational).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

from pymongo import MongoClient
from pymongo.monitoring import CommandListener, CommandStartedEvent

from noorm.kit import QueryEvent
from noorm.spec import Find

from .backends import Backend, Namespace, mongodb_url, mysql_params, postgres_url, reachable
from .impl_noorm import ORDER, NoormImpl
from .report import RESULTS, fmt, machine, now, paired_ratio, write_json
from .runner import _raw
from .scale_load import BIG, Layout, loader_for, verify
from .workload import PAGE, Impl, conversation_items

__all__ = ["main"]

BACKENDS = ("sqlite-file", "postgres", "mysql", "mongodb")
KINDS = ("noorm", "raw")
QUERIES = ("first", "deep")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class _Recorder:
    """The adapter, remembering the last Find it ran (to EXPLAIN it with its parameters)."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter
        self.last_find: Find | None = None

    def execute(self, op: Any) -> Any:
        if isinstance(op, Find):
            self.last_find = op
        return self._adapter.execute(op)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)


class _MongoFinds(CommandListener):
    """Keeps the last ``find`` command pymongo sent."""

    def __init__(self) -> None:
        self.last: dict[str, Any] | None = None

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.last = dict(event.command)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def _measure(
    calls: dict[str, dict[str, Callable[[], Any]]], rounds: int, budget: float
) -> dict[str, dict[str, list[float]]]:
    """query -> kind -> microseconds per call, one value per round (interleaved)."""
    counts = {}
    for q, by_kind in calls.items():
        slowest = 0.0
        for fn in by_kind.values():
            start = time.perf_counter()
            fn()
            slowest = max(slowest, time.perf_counter() - start)
        counts[q] = max(1, min(20, int(budget / max(slowest, 1e-9))))
    out: dict[str, dict[str, list[float]]] = {q: {k: [] for k in KINDS} for q in calls}
    for r in range(rounds):
        for n, (q, by_kind) in enumerate(calls.items()):
            kinds = list(KINDS[(r + n) % 2 :] + KINDS[: (r + n) % 2])
            for kind in kinds:
                fn = by_kind[kind]
                start = time.perf_counter_ns()
                for _ in range(counts[q]):
                    fn()
                out[q][kind].append((time.perf_counter_ns() - start) / counts[q] / 1000)
    return out


def _explain(
    backend: Backend, ns: Namespace, adapter: Any, op: Find, mongo: _MongoFinds | None
) -> list[str]:
    """The plan of the deep-page statement, as the backend prints it."""
    if backend.name == "mongodb":
        assert mongo is not None and mongo.last is not None
        cmd = {k: v for k, v in mongo.last.items() if k in ("find", "filter", "sort", "limit")}
        client: MongoClient[Any] = MongoClient(mongodb_url())
        try:
            db = client[ns.name]
            plan = db.command("explain", cmd, verbosity="executionStats")
        finally:
            client.close()
        plan.pop("serverInfo", None)
        plan.pop("command", None)
        lines = [f"find {json.dumps(cmd, default=str)}"]
        lines += json.dumps(plan, indent=1, default=str).splitlines()
        return lines
    compiled = adapter.compiler.find(op)
    sql, params = compiled.sql, compiled.params
    lines = [sql]
    if backend.name == "sqlite-file":
        assert ns.sqlite_conn is not None
        for row in ns.sqlite_conn.execute("EXPLAIN QUERY PLAN " + sql, params):
            lines.append(f"  {row[3]}")
        return lines
    if backend.name == "postgres":
        import psycopg

        with psycopg.connect(postgres_url(), autocommit=True) as pg:
            rows = pg.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
        return lines + [f"  {r[0]}" for r in rows]
    import pymysql

    prefix, sep, select = sql.partition(" FOR SELECT ")
    conn = pymysql.connect(**mysql_params(ns.name))
    try:
        with conn.cursor() as cur:
            for verb in ("ANALYZE", "EXPLAIN"):
                text = f"{prefix} FOR {verb} SELECT {select}" if sep else f"{verb} {sql}"
                try:
                    cur.execute(text, params)
                except pymysql.err.MySQLError:
                    continue
                names = [d[0] for d in cur.description or ()]
                lines.append(f"  ({verb}) " + " | ".join(names))
                lines += ["  " + " | ".join(str(v) for v in row) for row in cur.fetchall()]
                break
    finally:
        conn.close()
    return lines


def run_size(
    backend: Backend, rows: int, rounds: int, budget: float, explain: bool
) -> dict[str, Any]:
    layout = Layout(rows)
    ns = backend.fresh("bench_scale")
    loader = loader_for(backend, ns)
    impls: list[Impl] = []
    client: MongoClient[Any] | None = None
    try:
        start = time.perf_counter()
        loader.load("conversations", layout.conversations())
        loader.load("conversation_items", layout.items())
        loader.analyze()
        load_s = time.perf_counter() - start
        log(f"[{backend.name}] {rows:,} rows loaded in {load_s:.1f}s")

        mongo = None
        if backend.name == "mongodb":
            from noorm.adapters.mongodb import MongoAdapter

            mongo = _MongoFinds()
            client = MongoClient(mongodb_url(), event_listeners=[mongo])
            base: Any = MongoAdapter(client, ns.name)
        else:
            base = backend.adapter(ns.name, ns.sqlite_conn)
        recorder = _Recorder(base)
        statements: list[str | None] = []

        def on_query(event: QueryEvent) -> None:
            statements.append(event.statement)

        noorm = NoormImpl(recorder, on_query=on_query)
        raw = _raw(backend, ns.name, ns.sqlite_conn)
        impls += [noorm, raw]
        problems = verify(noorm.store, loader, layout)
        for p in problems:
            log(f"[{backend.name}] LOAD MISMATCH {p}")

        # The deep page, reached as a client would: after= a row, then next_cursor.
        anchor = layout.at_position(layout.deep)
        before = noorm.store.find(
            conversation_items,
            {"conversation_id": BIG},
            order_by=ORDER,
            limit=PAGE,
            after={"conversation_id": BIG, "id": anchor["id"]},
        )
        assert before.next_cursor is not None and len(before.rows) == PAGE
        last = before.rows[-1]
        cursors = {"noorm": before.next_cursor, "raw": (last["created_at"], last["id"])}
        pages = {
            k: impl.list_items(BIG, cursors[k])[0] for k, impl in zip(KINDS, impls, strict=True)
        }
        if pages["noorm"] != pages["raw"]:
            problems.append("the deep pages of noorm and raw differ")
        want = layout.at_position(layout.deep + PAGE + 1)
        if pages["noorm"][0] != want:
            problems.append(f"deep page starts at {pages['noorm'][0]['id']}, not {want['id']}")
        statements.clear()
        recorder.last_find = None
        impls[0].list_items(BIG, cursors["noorm"])
        deep_op = cast("Find | None", recorder.last_find)  # set by the call just above
        deep_sql = statements[-1] if statements else None

        calls: dict[str, dict[str, Callable[[], Any]]] = {
            "first": {
                k: partial(impl.list_items, BIG, None) for k, impl in zip(KINDS, impls, strict=True)
            },
            "deep": {
                k: partial(impl.list_items, BIG, cursors[k])
                for k, impl in zip(KINDS, impls, strict=True)
            },
        }
        samples = _measure(calls, rounds, budget)
        plan: list[str] = []
        if explain and deep_op is not None:
            try:
                plan = _explain(backend, ns, base, deep_op, mongo)
            except Exception as exc:  # informational only
                plan = [f"(no plan: {type(exc).__name__}: {exc})"]
        return {
            "rows": rows,
            "big_conversation_items": layout.big,
            "deep_position": layout.deep,
            "load_seconds": round(load_s, 1),
            "problems": problems,
            "statement": deep_sql,
            "plan": plan,
            "samples_us": samples,
        }
    finally:
        for impl in impls:
            impl.close()
        if client is not None:
            client.close()
        loader.close()
        ns.close()


def _median(d: dict[str, Any], q: str, k: str) -> float:
    return float(statistics.median(d["samples_us"][q][k]))


def print_backend(name: str, server: str, small: dict[str, Any], large: dict[str, Any]) -> None:
    print(f"== scale: {name} ({server}), median us per 20-row page (min-max)")
    head = ["rows".rjust(10), "load s".rjust(7)]
    head += [f"{q} {k}".rjust(22) for q in QUERIES for k in KINDS]
    head += ["deep noorm/raw".rjust(15)]
    print(" ".join(head))
    for res in (small, large):
        cells = [f"{res['rows']:,}".rjust(10), f"{res['load_seconds']:.1f}".rjust(7)]
        for q in QUERIES:
            for k in KINDS:
                s = res["samples_us"][q][k]
                cells.append(f"{fmt(statistics.median(s))} ({fmt(min(s))}-{fmt(max(s))})".rjust(22))
        deep = res["samples_us"]["deep"]
        cells.append(f"{paired_ratio(deep['noorm'], deep['raw']):.2f}x".rjust(15))
        print(" ".join(cells))
    for k in KINDS:
        ratio = _median(large, "deep", k) / _median(small, "deep", k)
        first = _median(large, "first", k) / _median(small, "first", k)
        print(
            f"  {k}: deep({large['rows']:,})/deep({small['rows']:,}) = {ratio:.2f}x, "
            f"first({large['rows']:,})/first({small['rows']:,}) = {first:.2f}x"
        )
    if "capped_from" in large:
        print(
            f"  large size capped from {large['capped_from']:,} to {large['rows']:,} rows "
            "(--max-call): pages here cost in proportion to the data"
        )
    for res in (small, large):
        for p in res["problems"]:
            print(f"  PROBLEM at {res['rows']:,} rows: {p}")
    if large["plan"]:
        print(f"  plan of no-orm's deep-page statement at {large['rows']:,} rows:")
        for line in large["plan"]:
            print(f"    {line}")
    print()


def _capped(name: str, small: dict[str, Any], rows: int, large: int, max_call: float) -> int:
    """``large``, or less where a page at ``large`` rows would take over ``max_call`` seconds,
    predicting (pessimistically) that a page's cost grows with the conversation's size."""
    slowest = max(
        statistics.median(s) for by_kind in small["samples_us"].values() for s in by_kind.values()
    )
    predicted = slowest / 1e6 * large / rows
    if predicted <= max_call:
        return large
    capped = max(rows, int(rows * max_call / (slowest / 1e6)) // 1000 * 1000)
    log(
        f"[{name}] a page takes {slowest / 1000:.0f} ms at {rows:,} rows: {large:,} rows would "
        f"need ~{predicted:.0f}s per page; measuring {capped:,} rows instead (--max-call)"
    )
    return capped


def main(argv: list[str], *, command: str) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scale", description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKENDS), help=",".join(BACKENDS))
    parser.add_argument("--rows", type=int, default=None, help="large size (default 1000000)")
    parser.add_argument("--small", type=int, default=None, help="small size (default 10000)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 7)")
    parser.add_argument("--quick", action="store_true", help="1,000 vs 20,000 rows, 3 rounds")
    parser.add_argument(
        "--max-call",
        type=float,
        default=None,
        help="seconds a page may be predicted to take at the large size; a backend "
        "slower than that is measured at fewer rows (default 10, quick 1.5)",
    )
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument("--json", default=None, help="default benchmarks/results/scale-latest.json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    for n in names:
        if n not in BACKENDS:
            parser.error(f"unknown backend {n!r} (one of {','.join(BACKENDS)})")
    large = args.rows or (20_000 if args.quick else 1_000_000)
    small = args.small or (1_000 if args.quick else 10_000)
    rounds = args.rounds or (3 if args.quick else 7)
    budget = 0.05 if args.quick else 0.5
    max_call = args.max_call or (1.5 if args.quick else 10.0)

    out = Path(args.json) if args.json else RESULTS / "scale-latest.json"
    started = time.perf_counter()
    backends = reachable(names)
    servers = {b.name: b.server_version() for b in backends}
    document: dict[str, Any] = {
        "benchmark": "scale",
        "date": now(),
        "command": command,
        "machine": machine(servers),
        "settings": {
            "small": small,
            "large": large,
            "rounds": rounds,
            "sample_budget_s": budget,
            "max_call_s": max_call,
        },
        "backends": {},
    }
    failed = False
    for backend in backends:
        try:
            first = run_size(backend, small, rounds, budget, explain=False)
            size = _capped(backend.name, first, small, large, max_call)
            second = run_size(backend, size, rounds, budget, explain=not args.no_explain)
            if size != large:
                second["capped_from"] = large
        finally:
            backend.close()
        print_backend(backend.name, servers[backend.name], first, second)
        document["backends"][backend.name] = {
            "server": servers[backend.name],
            "sizes": [first, second],
        }
        failed = failed or bool(first["problems"] or second["problems"])
    wall = time.perf_counter() - started
    document["wall_seconds"] = round(wall, 1)
    write_json(out, document)
    print(f"wall time {wall:.0f}s; results in {out}")
    return 1 if failed else 0
