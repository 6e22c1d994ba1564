"""The mutator itself: which mutants it finds, that they parse, that their keys are stable."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from tests.mutation.mutate import Mutant, apply, find_mutants
from tests.mutation.runner import (
    AREAS,
    Result,
    _matches,
    load_equivalent,
    sample,
    summary_table,
)

SOURCE = textwrap.dedent(
    '''
    """Module docstring."""
    from typing import TYPE_CHECKING, Literal

    if TYPE_CHECKING:
        LIMIT = 10

    __all__ = ["f"]
    Kind = Literal["a", "b"]


    def f(items: list[int], n: int = 3) -> int | None:
        """Docstring."""
        if not items or n < 0:
            raise ValueError("bad input")
        total = 0
        for x in items[n:]:
            total += x
        return total if total > 1 else None


    def g(flag: bool) -> bool:
        return flag  # pragma: no mutate
    '''
)


def mutants_of(source: str = SOURCE) -> list[Mutant]:
    return find_mutants(source, "pkg/mod.py")


def mutated_lines(operator: str) -> set[str]:
    return {m.mutated_text for m in mutants_of() if m.operator == operator}


def test_every_mutant_parses_and_differs() -> None:
    reference = ast.dump(ast.parse(SOURCE))
    mutants = mutants_of()
    assert mutants
    for m in mutants:
        assert ast.dump(ast.parse(apply(SOURCE, m.edits))) != reference, m


def test_operators() -> None:
    assert mutated_lines("compare") == {
        "if not items or n <= 0:",
        "return total if total >= 1 else None",
    }
    assert mutated_lines("boolean") == {"if not items and n < 0:"}
    assert mutated_lines("not") == {"if items or n < 0:"}
    assert mutated_lines("raise") == {"pass"}
    assert mutated_lines("arith") == {"total -= x"}
    assert mutated_lines("slice") == {"for x in items[n + 1:]:"}
    assert mutated_lines("return") == {"return None"}
    assert "if not (not items or n < 0):" in mutated_lines("negate")
    assert "return total if not (total > 1) else None" in mutated_lines("negate")
    assert mutated_lines("constant") == {
        "def f(items: list[int], n: int = 4) -> int | None:",
        "if not items or n < 1:",
        "total = 1",
        "return total if total > 0 else None",
    }


def test_what_is_not_mutated() -> None:
    texts = " ".join(m.mutated_text for m in mutants_of())
    # docstrings, TYPE_CHECKING, __all__, Literal, annotations, raise messages, pragma
    for kept in ("Docstring", "LIMIT", "XXf", "XXa", "XXbad", "return flag"):
        assert kept not in texts
    assert all(m.scope in ("f", "g") for m in mutants_of())


def test_keys_are_stable_when_code_moves() -> None:
    before = {m.key: m for m in mutants_of()}
    moved = SOURCE.replace('__all__ = ["f"]', '__all__ = ["f"]\n\n\nUNRELATED = 1\n')
    after = {m.key: m for m in mutants_of(moved) if m.scope != "<module>"}
    assert set(after) <= set(before)
    assert len(after) == len([m for m in before.values() if m.scope != "<module>"])
    assert all(after[k].line == before[k].line + 4 for k in after)


def test_identical_mutants_get_distinct_keys() -> None:
    source = "def f(a, b):\n    return (a < b, a < b)\n"
    keys = [m.key for m in find_mutants(source, "x.py") if m.operator == "compare"]
    assert len(keys) == len(set(keys)) == 2


def test_non_ascii_columns() -> None:
    source = 'def f(x):\n    return ("é→", x == 1)\n'
    texts = {m.mutated_text for m in find_mutants(source, "x.py")}
    assert 'return ("é→", x != 1)' in texts


def test_sample_is_stratified_and_reproducible() -> None:
    mutants = mutants_of()
    results = [Result(m, "memory" if i % 3 else "sql") for i, m in enumerate(mutants)]
    first = sample(results, 6, seed=7)
    assert [r.mutant.key for r in first] == [r.mutant.key for r in sample(results, 6, seed=7)]
    assert len(first) == 6
    assert {r.area for r in first} == {"memory", "sql"}


def test_summary_table_counts() -> None:
    mutants = mutants_of()[:4]
    results = [
        Result(m, "memory", status=s)
        for m, s in zip(mutants, ["killed", "timeout", "survived", "equivalent"], strict=True)
    ]
    table = summary_table(results)
    assert "memory (all)" in table
    assert table.splitlines()[-1].split() == ["TOTAL", "4", "1", "1", "1", "1", "66.7%"]


@pytest.mark.parametrize("area", sorted(AREAS))
def test_areas_exist(area: str) -> None:
    assert (Path(__file__).resolve().parents[2] / AREAS[area].folder).is_dir()


def test_equivalent_list_is_well_formed() -> None:
    for key, entry in load_equivalent().items():
        assert len(key) == 12 and entry["reason"] and entry["location"]


def test_only_selectors_match_whole_lines() -> None:
    source = "def f(x):\n    return x < 1\n" + "\n" * 7 + "def g(x):\n    return x > 2\n"
    mutants = find_mutants(source, "m.py")
    lines = {m.line for m in mutants}
    assert lines == {2, 11}
    assert {m.line for m in mutants if _matches(m, ["m.py:1"])} == set()
    assert {m.line for m in mutants if _matches(m, ["m.py:11"])} == {11}
    assert {m.line for m in mutants if _matches(m, ["m.py"])} == {2, 11}
    first = mutants[0]
    assert [m for m in mutants if _matches(m, [first.key])] == [first]
