"""Markdown tables from results files, for docs/performance.md.

    .venv/bin/python -m benchmarks.markdown benchmarks/results/latest.json \\
        benchmarks/results/scale-latest.json
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from .report import fmt

__all__ = ["render"]

_SHORT = {"noorm": "no-orm", "raw": "raw", "sqlalchemy": "SQLAlchemy"}


def _cell(stats: dict[str, Any]) -> str:
    return f"{fmt(stats['median_us'])} ({fmt(stats['min_us'])}-{fmt(stats['max_us'])})"


def _ops(doc: dict[str, Any]) -> list[str]:
    out = []
    for name, backend in doc["backends"].items():
        ops = backend["ops"]
        kinds = [k for k in ("noorm", "raw", "sqlalchemy") if k in next(iter(ops.values()))["wall"]]
        others = [k for k in kinds if k != "noorm"]
        out.append(f"#### {name} — {backend['server']}")
        out.append("")
        head = ["operation", "n"] + [f"{_SHORT[k]} µs" for k in kinds]
        head += [f"no-orm/{_SHORT[k]}" for k in others]
        head += [f"CPU {_SHORT[k]} µs" for k in kinds]
        head += [f"CPU no-orm/{_SHORT[k]}" for k in others]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
        for entry in ops.values():
            wall, cpu = entry["wall"], entry["client_cpu"]
            cells = [entry["label"], str(entry["calls_per_sample"])]
            cells += [_cell(wall[k]) for k in kinds]
            cells += [f"**{wall[f'ratio_noorm_{k}']:.2f}x**" for k in others]
            cells += [fmt(cpu[k]["median_us"]) for k in kinds]
            cells += [f"{cpu[f'ratio_noorm_{k}']:.2f}x" for k in others]
            out.append("| " + " | ".join(cells) + " |")
        if backend["mismatches"]:
            out.append("")
            out += [f"- MISMATCH {m}" for m in backend["mismatches"]]
        out.append("")
    return out


def _median(size: dict[str, Any], q: str, k: str) -> float:
    return float(statistics.median(size["samples_us"][q][k]))


def _scale(doc: dict[str, Any]) -> list[str]:
    out = [
        "| backend | rows | load s | first no-orm | first raw | deep no-orm | deep raw "
        "| deep no-orm/raw |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    notes = []
    for name, backend in doc["backends"].items():
        small, large = backend["sizes"]
        for size in (small, large):
            s = size["samples_us"]
            cells = [name, f"{size['rows']:,}", f"{size['load_seconds']:.1f}"]
            for q in ("first", "deep"):
                for k in ("noorm", "raw"):
                    v = s[q][k]
                    cells.append(f"{fmt(statistics.median(v))} ({fmt(min(v))}-{fmt(max(v))})")
            ratios = [a / b for a, b in zip(s["deep"]["noorm"], s["deep"]["raw"], strict=True)]
            cells.append(f"{statistics.median(ratios):.2f}x")
            out.append("| " + " | ".join(cells) + " |")
        growth = ", ".join(
            f"{_SHORT[k]} {_median(large, 'deep', k) / _median(small, 'deep', k):.2f}x"
            for k in ("noorm", "raw")
        )
        capped = (
            f" (capped from {large['capped_from']:,} rows by --max-call)"
            if "capped_from" in large
            else ""
        )
        notes.append(
            f"- {name}: deep({large['rows']:,}) / deep({small['rows']:,}) = {growth}{capped}"
        )
    return [*out, "", *notes, ""]


def render(paths: list[Path]) -> str:
    lines: list[str] = []
    for path in paths:
        doc = json.loads(path.read_text())
        lines.append(f"<!-- {path.name}: {doc['date']}, `{doc['command']}` -->")
        lines += _scale(doc) if doc.get("benchmark") == "scale" else _ops(doc)
    return "\n".join(lines)


if __name__ == "__main__":
    print(render([Path(p) for p in sys.argv[1:]]))
