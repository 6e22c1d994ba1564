"""Statistics, the printed tables and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .runner import BackendResult
from .workload import OPS

__all__ = ["fmt", "machine", "ops_json", "paired_ratio", "print_backend", "write_json"]

RESULTS = Path(__file__).resolve().parent / "results"
_LABELS = {op.name: op.label for op in OPS}
_SHORT = {"noorm": "noorm", "raw": "raw", "sqlalchemy": "sqla"}


def fmt(us: float) -> str:
    """Microseconds, three significant digits or so."""
    if us >= 10_000:
        return f"{us / 1000:.1f}ms"
    if us >= 100:
        return f"{us:.0f}"
    return f"{us:.1f}"


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """The median of the per-round ratios a[i] / b[i] (samples of the same round)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine(servers: dict[str, str]) -> dict[str, Any]:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
        "servers": servers,
        "drivers": {
            p: _version(p) for p in ("psycopg", "psycopg-pool", "PyMySQL", "pymongo", "SQLAlchemy")
        },
        "noorm_commit": _git("rev-parse", "--short", "HEAD"),
        "noorm_worktree_modified": bool(dirty),
    }


def print_backend(result: BackendResult) -> None:
    kinds = result.kinds
    others = [k for k in kinds if k != "noorm"]
    print(
        f"== {result.backend} ({result.server}): {result.rounds} rounds, n = calls per "
        f"sample, {result.seconds:.0f}s"
    )
    print(
        " ".join(
            ["wall us/op: median (min-max)".ljust(32), "n".rjust(3)]
            + [_SHORT[k].rjust(20) for k in kinds]
            + [f"noorm/{_SHORT[k]}".rjust(11) for k in others]
            + ["|", "client CPU us/op:".rjust(17)]
            + [_SHORT[k].rjust(7) for k in kinds]
            + [f"noorm/{_SHORT[k]}".rjust(11) for k in others]
        )
    )
    for op, by_kind in result.samples.items():
        cpu = result.cpu[op]
        cells = [_LABELS[op].ljust(32), str(result.counts[op]).rjust(3)]
        for k in kinds:
            s = by_kind[k]
            cells.append(f"{fmt(statistics.median(s))} ({fmt(min(s))}-{fmt(max(s))})".rjust(20))
        cells += [f"{paired_ratio(by_kind['noorm'], by_kind[k]):.2f}x".rjust(11) for k in others]
        cells += ["|", "".rjust(17)]
        cells += [fmt(statistics.median(cpu[k])).rjust(7) for k in kinds]
        cells += [f"{paired_ratio(cpu['noorm'], cpu[k]):.2f}x".rjust(11) for k in others]
        print(" ".join(cells))
    for problem in result.mismatches:
        print(f"  MISMATCH {problem}")
    print()


def _stats(s: Sequence[float]) -> dict[str, Any]:
    return {
        "median_us": round(statistics.median(s), 2),
        "min_us": round(min(s), 2),
        "max_us": round(max(s), 2),
        "samples_us": [round(x, 2) for x in s],
    }


def ops_json(result: BackendResult) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for op, by_kind in result.samples.items():
        cpu = result.cpu[op]
        entry: dict[str, Any] = {
            "label": _LABELS[op],
            "calls_per_sample": result.counts[op],
            "wall": {},
            "client_cpu": {},
        }
        for k in result.kinds:
            entry["wall"][k] = _stats(by_kind[k])
            entry["client_cpu"][k] = _stats(cpu[k])
        for k in result.kinds:
            if k != "noorm":
                entry["wall"][f"ratio_noorm_{k}"] = round(
                    paired_ratio(by_kind["noorm"], by_kind[k]), 3
                )
                entry["client_cpu"][f"ratio_noorm_{k}"] = round(
                    paired_ratio(cpu["noorm"], cpu[k]), 3
                )
        ops[op] = entry
    return {
        "server": result.server,
        "rounds": result.rounds,
        "max_calls_per_sample": result.per_op,
        "seconds": round(result.seconds, 1),
        "mismatches": result.mismatches,
        "ops": ops,
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
