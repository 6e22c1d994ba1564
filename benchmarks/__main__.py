"""``python -m benchmarks [ops] [...]`` and ``python -m benchmarks scale [...]``.

ops (the default): hebo-gateway's operations through no-orm, the raw driver and
SQLAlchemy Core on each backend; a table per backend and a JSON results file.
scale: the first and a deep page of a big conversation at two table sizes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from .backends import ALL, reachable
from .report import RESULTS


def _backends(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in allowed:
            raise argparse.ArgumentTypeError(f"unknown backend {n!r} (one of {','.join(allowed)})")
    return names


def _command() -> str:
    return " ".join([".venv/bin/python -m benchmarks", *map(shlex.quote, sys.argv[1:])])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "scale":
        from .scale import main as scale_main

        return scale_main(argv[1:], command=_command())
    if argv and argv[0] == "ops":
        argv = argv[1:]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backends", type=lambda t: _backends(t, ALL), default=list(ALL), help=",".join(ALL)
    )
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 9)")
    parser.add_argument(
        "--ops", type=int, default=None, help="operations per timed sample (default 100)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds a sample may take; slow operations get fewer calls (default 1.0)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds, <= 20 calls, 0.1 s samples: a smoke run"
    )
    parser.add_argument(
        "--noorm-target",
        choices=("url", "conn"),
        default="url",
        help="PostgreSQL/MariaDB: open no-orm's adapter from the URL (its pool, the "
        "default) or on one connection, like raw",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 9)
    per_op = args.ops or (20 if args.quick else 100)
    budget = args.budget or (0.1 if args.quick else 1.0)

    from .report import machine, now, ops_json, print_backend, write_json
    from .runner import run_backend

    started = time.perf_counter()
    backends = reachable(args.backends)
    servers = {b.name: b.server_version() for b in backends}
    document: dict[str, Any] = {
        "benchmark": "ops",
        "date": now(),
        "command": _command(),
        "machine": machine(servers),
        "settings": {
            "rounds": rounds,
            "max_calls_per_sample": per_op,
            "sample_budget_s": budget,
            "noorm_target": args.noorm_target,
        },
        "backends": {},
    }
    results = []
    for backend in backends:
        result = run_backend(
            backend, rounds=rounds, per_op=per_op, noorm_target=args.noorm_target, budget=budget
        )
        results.append(result)
        print_backend(result)
        document["backends"][backend.name] = ops_json(result)
    wall = time.perf_counter() - started
    document["wall_seconds"] = round(wall, 1)
    write_json(args.json, document)
    print(f"wall time {wall:.0f}s; results in {args.json}")
    return 1 if any(r.mismatches for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
