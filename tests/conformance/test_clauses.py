"""The clause list shipped in the package matches docs/spec.md, and the suite covers it."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import noorm.conformance
from noorm.conformance.clauses import CLAUSE_CAPABILITIES, CLAUSES
from noorm.spec import Capability

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
CLAUSE_LINE = re.compile(r"^- \*\*([A-Z0-9-]+)\*\*(?: \*\(capability: ([a-z_]+)\)\*)?", re.M)


def spec_clauses() -> dict[str, str | None]:
    """Clause id -> capability (None for core), in document order, parsed from docs/spec.md."""
    return {m[1]: m[2] for m in CLAUSE_LINE.finditer(SPEC.read_text(encoding="utf-8"))}


def test_the_shipped_clause_list_matches_docs_spec_md() -> None:
    parsed = spec_clauses()
    bold = re.findall(r"\*\*([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\*\*", SPEC.read_text(encoding="utf-8"))
    assert list(parsed) == bold, "every bold clause id starts a list item"
    assert list(CLAUSES) == list(parsed), "conformance/clauses.py is out of date with docs/spec.md"
    assert {k: v.value for k, v in CLAUSE_CAPABILITIES.items()} == {
        k: v for k, v in parsed.items() if v is not None
    }
    assert all(title and "\n" not in title for title in CLAUSES.values())


def _marks(obj: Any) -> list[Any]:
    marks = getattr(obj, "pytestmark", [])
    return list(marks) if isinstance(marks, list) else [marks]


def suite_variants() -> Iterator[tuple[str, list[str], list[Capability]]]:
    """(test name, clauses, required capabilities) of every test and parameter set."""
    for info in pkgutil.iter_modules(noorm.conformance.__path__):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"noorm.conformance.{info.name}")
        for name, function in vars(module).items():
            if not name.startswith("test_") or not callable(function):
                continue
            base = _marks(module) + _marks(function)
            variants: list[list[Any]] = [base]
            for mark in base:
                if mark.name == "parametrize":
                    values = mark.args[1]
                    sets = [getattr(v, "marks", ()) for v in values]
                    if any(sets):
                        variants = [base + list(s) for s in sets]
            for marks in variants:
                clauses = [c for m in marks if m.name == "clause" for c in m.args]
                needs = [Capability(c) for m in marks if m.name == "requires" for c in m.args]
                yield f"{info.name}::{name}", clauses, needs


def test_every_suite_test_names_known_clauses() -> None:
    variants = list(suite_variants())
    assert len({name for name, _, _ in variants}) > 100
    for name, clauses, _ in variants:
        assert clauses, f"{name} carries no clause marker"
        unknown = set(clauses) - set(CLAUSES)
        assert not unknown, f"{name} names clauses not in docs/spec.md: {unknown}"


def test_every_clause_of_the_spec_has_a_test() -> None:
    covered = {c for _, clauses, _ in suite_variants() for c in clauses}
    assert set(CLAUSES) - covered == set()


def test_capability_clauses_are_declared_and_core_clauses_never_skippable() -> None:
    for name, clauses, needs in suite_variants():
        for clause in clauses:
            capability = CLAUSE_CAPABILITIES.get(clause)
            if needs:
                assert capability is not None, f"{name}: core clause {clause} under requires"
            if capability is not None:
                assert capability in needs, f"{name}: {clause} needs requires({capability})"


@pytest.mark.parametrize("name", sorted(CLAUSES))
def test_clause_ids_are_unique_and_well_formed(name: str) -> None:
    assert re.fullmatch(r"[A-Z]+(-[A-Z0-9]+)+", name)
