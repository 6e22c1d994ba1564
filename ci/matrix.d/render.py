"""Render docs/certification.md from the matrix's reports (standard library only).

Reads ``reports/matrix/<cell>.json`` (the ``noorm certify --report`` JSON) and
``reports/matrix/cells/<cell>.json`` (what ci/matrix knows about the run: commit,
date, server provenance, wall time). A cell without a report is never shown as
certified: it is "not run", "error" or "not available here".

    python ci/matrix.d/render.py    # re-render from the reports on disk
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ADAPTER_ORDER = ["memory", "sqlite", "postgres", "citus", "mysql", "mongodb"]

# Causes worked out by hand for failures seen in the matrix: (text in a failure, cause).
KNOWN_CAUSES = [
    (
        "is not valid for CHARACTER SET 'utf8mb3'",
        "on this server `JSON_UNQUOTE()` returns `utf8mb3` even for a `utf8mb4` document "
        "(`SELECT CHARSET(JSON_UNQUOTE(JSON_EXTRACT(j, '$.a')))` gives `utf8mb3`; on "
        "Debian's 10.11.19 it gives `utf8mb4`), so the adapter's "
        "`JSON_UNQUOTE(...) COLLATE utf8mb4_nopad_bin` for string comparisons on JSON paths "
        "is refused. Measured on 11.4.5: `JSON_UNQUOTE` also turns a 4-byte character into "
        "`?` (`x😀y` comes back as `x?y`, even through `CONVERT(... USING utf8mb4)`), while "
        "`JSON_VALUE(j, '$.a')` returns `utf8mb4` with the character intact. This matches "
        "MariaDB bug MDEV-35614 (JSON_UNQUOTE unescapes into utf8mb3; fixed upstream in "
        "2025). A server bug the adapter does not work around: it could read string paths "
        "with `JSON_VALUE` on MariaDB, or refuse the affected releases.",
    ),
    (
        "UNIQUE constraint failed",
        "FerretDB's SQLite backend reports a unique index built over duplicate values as a "
        "generic `OperationFailure` (`... constraint failed: UNIQUE constraint failed: index "
        "'...' (2067)`, SQLite's SQLITE_CONSTRAINT_UNIQUE), not as MongoDB's DuplicateKey "
        "(11000). The adapter (`adapters/mongodb/errors.py: is_duplicate`) recognises only "
        "11000/11001 and the PostgreSQL backend's form (code 1 with `SQLSTATE 23505`), so "
        "`bootstrap()` raises `BackendError` where BOOT-1/BOOT-2 require `DuplicateKeyError`. "
        "An adapter gap for this backend (one more pattern to recognise), not a data problem: "
        "every other clause passes.",
    ),
]


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None


def _clause_counts(report: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in report.get("clauses", {}).values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    return counts


def _cell_row(cell: Any, reports: Path) -> tuple[list[str], list[str]]:
    """One table row, and the detail lines for the section under the table."""
    report = _load(reports / f"{cell.id}.json")
    meta = _load(reports / "cells" / f"{cell.id}.json") or {}
    if cell.unavailable:
        server = f"{cell.server} {cell.version}"
        return [cell.adapter, server, "**not available here**", "—", "—", "—", "—", "—", "—"], [
            f"- `{cell.id}`: not available here. {cell.unavailable}."
        ]
    label = meta.get("server_label") or f"{cell.server} {cell.version}"
    if report is None:
        status = "error" if meta.get("status") == "error" else "not run"
        detail = [
            f"- `{cell.id}`: **{status}**: {meta.get('error', 'no report in reports/matrix/')}"
        ]
        return [
            cell.adapter,
            label,
            f"**no** ({status})",
            "—",
            "—",
            meta.get("date", "—")[:10],
            (meta.get("commit") or "—")[:10],
            "—",
            _secs(meta),
        ], detail
    counts = _clause_counts(report)
    certified = bool(report.get("certified"))
    clauses = f"{counts.get('passed', 0)} / {counts.get('failed', 0)} / {counts.get('skipped', 0)}"
    other = {k: v for k, v in counts.items() if k not in ("passed", "failed", "skipped")}
    if other:
        clauses += (
            " (" + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(other.items())) + ")"
        )
    summary = report.get("summary", {})
    tests = f"{summary.get('passed', 0)} / {summary.get('failed', 0)} / {summary.get('skipped', 0)}"
    if summary.get("not_run"):
        tests += f" ({summary['not_run']} not run)"
    commit = (meta.get("commit") or "")[:10] + ("+dirty" if meta.get("dirty") else "")
    driver = (report.get("versions") or {}).get("driver") or "— (in-process)"
    if meta.get("driver_dist") and meta["driver_dist"] != driver:
        driver = f"{meta['driver_dist']} (report: {driver})"
    elif not meta.get("driver_dist") and driver.startswith("PyMySQL "):
        driver += " [^pymysql]"
    server = report.get("server_version") or label
    label = meta.get("server_label") or ""
    if " / " in label:  # FerretDB: the report names FerretDB, the label adds its backend
        server = f"{server} on {label.split(' / ', 1)[1]}"
    elif label and label not in server:
        server = f"{server} ({label})"
    row = [
        cell.adapter,
        server,
        "**yes**" if certified else "**NO**",
        clauses,
        tests,
        (report.get("generated_at") or meta.get("date") or "")[:10],
        commit or "—",
        driver,
        _secs(meta),
    ]
    detail: list[str] = []
    if not certified:
        detail.append(f"- `{cell.id}` ({server}): **not certified**.")
        for clause, entry in report.get("clauses", {}).items():
            if entry["outcome"] in ("failed", "incomplete", "not_run"):
                reason = " ".join(str(entry.get("reason", "")).split())
                if len(reason) > 400:
                    reason = reason[:397] + "..."
                detail.append(
                    f"  - {clause} {entry['outcome']} ({entry.get('title', '')}): {reason}"
                )
        text = json.dumps(report.get("why_not_certified", []))
        for needle, cause in KNOWN_CAUSES:
            if needle.replace("'", "\\'") in text or needle in text:
                detail.append(f"  - likely cause: {cause}")
        for why in report.get("why_not_certified", []):
            if not any(why.startswith(f"{c} failed") for c in report.get("clauses", {})):
                detail.append(f"  - {' '.join(why.split())[:400]}")
    return row, detail


def _secs(meta: dict[str, Any]) -> str:
    if "wall_seconds" not in meta:
        return "—"
    return f"{meta['wall_seconds']:.0f} s"


def render(cells: list[Any], reports: Path, out: Path) -> None:
    cells = sorted(
        cells, key=lambda c: ADAPTER_ORDER.index(c.adapter) if c.adapter in ADAPTER_ORDER else 99
    )
    rows, details, provenance = [], [], []
    for cell in cells:
        row, detail = _cell_row(cell, reports)
        rows.append(row)
        details += detail
        meta = _load(reports / "cells" / f"{cell.id}.json") or {}
        if meta.get("provenance"):
            provenance.append(f"- `{cell.id}`: {meta['provenance']}")
    ran = [_load(reports / "cells" / f"{c.id}.json") for c in cells if not c.unavailable]
    walls = [m["wall_seconds"] for m in ran if m and "wall_seconds" in m]
    head = [
        "adapter",
        "server (as the adapter reports it)",
        "certified",
        "clauses passed / failed / skipped",
        "tests passed / failed / skipped",
        "date",
        "no-orm commit",
        "driver",
        "wall time",
    ]
    lines = [
        "# Certification matrix",
        "",
        "<!-- Generated by ci/matrix (ci/matrix.d/render.py) from reports/matrix/*.json: do not edit. -->",
        "",
        "Each built-in adapter certified with `noorm certify` against every server version this",
        "machine can provision, one report per cell in `reports/matrix/<adapter>-<server>-<version>.json`.",
        "`ci/matrix` provisions the servers (loopback only, ports of their own), runs the suite",
        "and renders this page; see [ci/README-services.md](../ci/README-services.md#cimatrix).",
        "A cell is **yes** only when its report says `certified`: every test ran, none failed and",
        "every skip is a declared missing capability on a non-core clause. A cell whose server",
        "could not be provisioned, or that has no report, is never counted as certified.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
        *("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows),
        "",
    ]
    if any("[^pymysql]" in row[7] for row in rows):
        lines += [
            "[^pymysql]: as the report states it, without the installed release beside it: "
            'before the adapter reported `importlib.metadata.version("PyMySQL")`, it '
            "reported `pymysql.__version__`, PyMySQL's MySQLdb-compatibility number (2.2.8 "
            "for PyMySQL 1.2.4). Runs of `ci/matrix` record the installed release next to it.",
            "",
        ]
    if walls:
        lines += [
            f"Sum of the cells' wall times (provisioning + certification): {sum(walls):.0f} s "
            f"over {len(walls)} cells.",
            "",
        ]
    lines += ["## Cells that are not certified or not available", ""]
    lines += details or ["None."]
    lines += ["", "## Where the servers come from", ""]
    lines += provenance or ["(no cell has run yet)"]
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "ci/matrix                                  # every cell, then this page",
        "ci/matrix --only postgres --versions 13,18 # some cells (the others keep their reports)",
        "ci/matrix --render-only                    # this page from reports/matrix/",
        "```",
        "",
        "The per-cell certification output is in `/var/tmp/noorm-matrix/logs/<cell>.log`; the",
        "full per-test results are in the cell's report. `ci/test` keeps certifying one version",
        "per backend (the `ci/services` servers); this matrix is run by hand.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from matrix import REPORTS, ROOT, all_cells

    render(all_cells(), REPORTS, ROOT / "docs" / "certification.md")
