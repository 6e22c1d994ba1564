"""Find the mutants of one Python source file (pure functions: no I/O, no imports of it).

A mutant is a small textual edit of the source, located with the positions the
:mod:`ast` parser gives each node, so everything outside the edit (formatting,
comments, line numbers) stays as it was. The operators:

========== ===================================================================
compare    ``<``/``<=``, ``>``/``>=`` (boundary), ``==``/``!=``, ``is``/``is not``,
           ``in``/``not in`` swapped
boolean    ``and`` <-> ``or``
not        ``not x`` -> ``x``
negate     the condition of ``if``/``while``/``x if c else y``/comprehension ``if``
           negated (``if c:`` -> ``if not (c):``: the branches swap)
constant   ``True`` <-> ``False``; ``0`` -> ``1``, ``1`` -> ``0``, ``n`` -> ``n + 1``;
           ``"s"`` -> ``"XXsXX"``, ``""`` -> ``"XX"``
return     ``return x`` -> ``return None``
remove     a call statement, an assignment to an attribute or item, ``+=`` and the
           like, ``del``, ``break``, ``continue`` replaced by ``pass``
raise      ``raise ...`` replaced by ``pass``
slice      a computed slice bound off by one: ``s[i:j]`` -> ``s[i + 1:j]`` / ``s[i:j - 1]``
arith      ``+`` <-> ``-``, ``*`` <-> ``/``, ``//`` -> ``*``, ``%`` -> ``//``, ``|`` <-> ``&``,
           ``<<`` <-> ``>>`` (also in ``+=`` and the like)
call       ``min`` <-> ``max``, ``any`` <-> ``all``
========== ===================================================================

Not mutated: docstrings and other bare string statements, annotations, ``__all__``
and ``__slots__``, ``if TYPE_CHECKING:`` blocks, ``@overload`` and ``@abstractmethod``
stubs, ``raise NotImplementedError`` (abstract stubs), ``assert`` statements,
f-strings, ``typing.cast(...)``, ``Literal[...]`` and other type expressions, string
constants inside a ``raise`` statement (error message text), string concatenation
(``"a" + b``), ``%`` formatting of a string, and any node starting on a line that
carries the comment ``# pragma: no mutate``.

Each mutant has a stable :attr:`Mutant.key`: a hash of the file, the enclosing
function (qualified name), the operator, the text of the mutated line, the mutated
snippet and the edit, plus an occurrence index among otherwise identical mutants of
that function. Moving code, or editing other lines, leaves the key unchanged.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["OPERATORS", "PRAGMA", "Edit", "Mutant", "apply", "find_mutants"]

PRAGMA = "pragma: no mutate"

OPERATORS = (
    "compare",
    "boolean",
    "not",
    "negate",
    "constant",
    "return",
    "remove",
    "raise",
    "slice",
    "arith",
    "call",
)


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the UTF-8 bytes ``[start, end)`` of the source with ``text``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Mutant:
    """One mutation of one source file."""

    path: str
    """The file, as given to :func:`find_mutants` (e.g. ``adapters/memory/table.py``)."""
    line: int
    """1-based line of the mutated node."""
    col: int
    """0-based column (UTF-8 bytes, as :mod:`ast` counts) of the mutated node."""
    operator: str
    description: str
    """What changes, e.g. ``'<' -> '<='``."""
    scope: str
    """The qualified name of the enclosing function or class; ``<module>`` at top level."""
    line_text: str
    """The original source line (stripped)."""
    mutated_text: str
    """The same line after the mutation (stripped)."""
    edits: tuple[Edit, ...]
    key: str
    """Stable identifier (see the module docstring)."""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.col + 1}"


def apply(source: str, edits: Sequence[Edit]) -> str:
    """The source with the edits applied (edits must not overlap)."""
    data = source.encode()
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        data = data[: edit.start] + edit.text.encode() + data[edit.end :]
    return data.decode()


def find_mutants(source: str, path: str) -> list[Mutant]:
    """Every mutant of ``source`` (the text of ``path``), in source order."""
    tree = ast.parse(source, filename=path)
    finder = _Finder(_Source(source))
    finder.body(tree.body)
    reference = ast.dump(tree)
    seen: dict[tuple[str, ...], int] = {}
    mutants: list[Mutant] = []
    lines = source.splitlines()
    for found in sorted(finder.found, key=lambda f: (f.line, f.col, f.operator, f.description)):
        mutated = apply(source, found.edits)
        try:
            if ast.dump(ast.parse(mutated)) == reference:
                continue  # the edit does not change the program (e.g. redundant parentheses)
        except SyntaxError as exc:  # a bug of this module: say where
            raise AssertionError(
                f"{path}:{found.line}: mutant {found.operator} {found.description} "
                f"does not parse: {exc}"
            ) from exc
        line_text = lines[found.line - 1].strip()
        mutated_text = mutated.splitlines()[found.line - 1].strip()
        ident = (
            path,
            found.scope,
            found.operator,
            " ".join(line_text.split()),
            " ".join(found.snippet.split()),
            found.description,
        )
        occurrence = seen.get(ident, 0)
        seen[ident] = occurrence + 1
        digest = hashlib.sha1("\x1f".join((*ident, str(occurrence))).encode()).hexdigest()
        mutants.append(
            Mutant(
                path=path,
                line=found.line,
                col=found.col,
                operator=found.operator,
                description=found.description,
                scope=found.scope,
                line_text=line_text,
                mutated_text=mutated_text,
                edits=found.edits,
                key=digest[:12],
            )
        )
    return mutants


# --- internals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    line: int
    col: int
    operator: str
    description: str
    scope: str
    snippet: str
    edits: tuple[Edit, ...]


class _Source:
    """The source as UTF-8 bytes, with node positions turned into byte offsets."""

    def __init__(self, text: str) -> None:
        self.data = text.encode()
        self.starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))
        self.pragma_lines = {
            number
            for number, line in enumerate(text.splitlines(), start=1)
            if "#" in line and PRAGMA in line.split("#", 1)[1]
        }

    def start(self, node: ast.expr | ast.stmt) -> int:
        return self.starts[node.lineno - 1] + node.col_offset

    def end(self, node: ast.expr | ast.stmt) -> int:
        assert node.end_lineno is not None and node.end_col_offset is not None
        return self.starts[node.end_lineno - 1] + node.end_col_offset

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode()

    def segment(self, node: ast.expr | ast.stmt) -> str:
        return self.text(self.start(node), self.end(node))

    def gap(self, start: int, end: int) -> str:
        """The text between two operands, comments blanked out (offsets kept)."""
        return re.sub(r"#[^\n]*", lambda m: " " * len(m.group().encode()), self.text(start, end))


_COMPARE_SWAP: dict[type[ast.cmpop], tuple[type[ast.cmpop], str, str]] = {
    # op: (replacement, pattern of the original token, replacement token)
    ast.Lt: (ast.LtE, r"<(?![<=])", "<="),
    ast.LtE: (ast.Lt, r"<=", "<"),
    ast.Gt: (ast.GtE, r"(?<![->])>(?![>=])", ">="),
    ast.GtE: (ast.Gt, r">=", ">"),
    ast.Eq: (ast.NotEq, r"==", "!="),
    ast.NotEq: (ast.Eq, r"!=", "=="),
    ast.IsNot: (ast.Is, r"\bis\s+not\b", "is"),
    ast.Is: (ast.IsNot, r"\bis\b", "is not"),
    ast.NotIn: (ast.In, r"\bnot\s+in\b", "in"),
    ast.In: (ast.NotIn, r"\bin\b", "not in"),
}

_ARITH_SWAP: dict[type[ast.operator], tuple[str, str]] = {
    # op: (pattern of the token, replacement token)
    ast.Add: (r"\+", "-"),
    ast.Sub: (r"-", "+"),
    ast.Mult: (r"(?<!\*)\*(?!\*)", "/"),
    ast.Div: (r"(?<!/)/(?!/)", "*"),
    ast.FloorDiv: (r"//", "*"),
    ast.Mod: (r"%", "//"),
    ast.BitOr: (r"\|", "&"),
    ast.BitAnd: (r"&", "|"),
    ast.LShift: (r"<<", ">>"),
    ast.RShift: (r">>", "<<"),
}

_CALL_SWAP = {"min": "max", "max": "min", "any": "all", "all": "any"}

_NOT_MUTATED_NAMES = {"__all__", "__slots__", "__match_args__"}
_TYPING_CALLS = {"cast", "TypeVar", "NewType", "ParamSpec", "TypeVarTuple", "overload"}
_TYPING_SUBSCRIPTS = {"Literal", "Annotated", "ClassVar", "Final"}
_NEGATION_COMPARES = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot, ast.In, ast.NotIn)


def _is_string(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
    )


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_atom(node: ast.expr) -> bool:
    return isinstance(node, ast.Name | ast.Attribute | ast.Call | ast.Subscript | ast.Constant)


def _show(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class _Finder:
    def __init__(self, source: _Source) -> None:
        self.src = source
        self.scope: list[str] = []
        self.found: list[_Found] = []

    # --- recording ---------------------------------------------------------------------

    def add(self, node: ast.expr | ast.stmt, operator: str, description: str, *edits: Edit) -> None:
        if node.lineno in self.src.pragma_lines:
            return
        self.found.append(
            _Found(
                line=node.lineno,
                col=node.col_offset,
                operator=operator,
                description=description,
                scope=".".join(self.scope) or "<module>",
                snippet=self.src.segment(node),
                edits=edits,
            )
        )

    def token(
        self, node: ast.expr | ast.stmt, start: int, end: int, pattern: str, new: str, op: str
    ) -> None:
        """Replace the one operator token found between two operands."""
        match = re.search(pattern, self.src.gap(start, end))
        if match is None:
            return
        old = match.group()
        offset = start + len(match.string[: match.start()].encode())
        edit = Edit(offset, offset + len(old.encode()), new)
        self.add(node, op, f"{' '.join(old.split())!r} -> {new!r}", edit)

    def replace(
        self, node: ast.expr | ast.stmt, operator: str, description: str, text: str
    ) -> None:
        self.add(node, operator, description, Edit(self.src.start(node), self.src.end(node), text))

    def negate(self, test: ast.expr) -> None:
        if isinstance(test, ast.Constant):
            return
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return  # the ``not`` operator removes it
        if (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], _NEGATION_COMPARES)
        ):
            return  # the ``compare`` operator swaps it
        self.replace(test, "negate", "negate condition", f"not ({self.src.segment(test)})")

    def remove(self, stmt: ast.stmt, operator: str = "remove") -> None:
        first = self.src.segment(stmt).split("\n", 1)[0]
        self.replace(stmt, operator, f"{_show(first)!r} -> 'pass'", "pass")

    # --- statements --------------------------------------------------------------------

    def body(self, statements: Iterable[ast.stmt]) -> None:
        for stmt in statements:
            self.stmt(stmt)

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_name_of(d) in ("overload", "abstractmethod") for d in node.decorator_list):
                return
            self.scope.append(node.name)
            for default in (*node.args.defaults, *node.args.kw_defaults):
                if default is not None:
                    self.expr(default)
            self.body(node.body)
            self.scope.pop()
        elif isinstance(node, ast.ClassDef):
            self.scope.append(node.name)
            self.body(node.body)
            self.scope.pop()
        elif isinstance(node, ast.If):
            test = node.test
            if _name_of(test) == "TYPE_CHECKING" or (
                isinstance(test, ast.Compare) and _name_of(test.left) == "__name__"
            ):
                return
            self.negate(test)
            self.expr(test)
            self.body(node.body)
            self.body(node.orelse)
        elif isinstance(node, ast.While):
            self.negate(node.test)
            self.expr(node.test)
            self.body(node.body)
            self.body(node.orelse)
        elif isinstance(node, ast.For | ast.AsyncFor):
            self.expr(node.iter)
            self.body(node.body)
            self.body(node.orelse)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                self.expr(item.context_expr)
            self.body(node.body)
        elif isinstance(node, ast.Try | ast.TryStar):
            self.body(node.body)
            for handler in node.handlers:
                self.body(handler.body)
            self.body(node.orelse)
            self.body(node.finalbody)
        elif isinstance(node, ast.Match):
            self.expr(node.subject)
            for case in node.cases:
                if case.guard is not None:
                    self.expr(case.guard)
                self.body(case.body)
        elif isinstance(node, ast.Return):
            value = node.value
            trivial = isinstance(value, ast.Constant) and (
                value.value is None or isinstance(value.value, bool)
            )
            if value is not None and not trivial:
                first = self.src.segment(value).split("\n", 1)[0]
                self.add(
                    node,
                    "return",
                    f"return {_show(first)!r} -> 'return None'",
                    Edit(self.src.start(value), self.src.end(value), "None"),
                )
            if value is not None:
                self.expr(value)
        elif isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant):
                return  # docstring, ``...``
            if isinstance(node.value, ast.Call):
                self.remove(node)
            self.expr(node.value)
        elif isinstance(node, ast.Assign):
            if any(_name_of(t) in _NOT_MUTATED_NAMES for t in node.targets):
                return
            if any(isinstance(t, ast.Attribute | ast.Subscript) for t in node.targets):
                self.remove(node)
            self.expr(node.value)
        elif isinstance(node, ast.AnnAssign):
            if node.value is None or _name_of(node.target) in _NOT_MUTATED_NAMES:
                return
            if _name_of(node.annotation) == "TypeAlias":
                return
            if isinstance(node.target, ast.Attribute | ast.Subscript):
                self.remove(node)
            self.expr(node.value)
        elif isinstance(node, ast.AugAssign):
            swap = _ARITH_SWAP.get(type(node.op))
            if swap is not None and not _is_string(node.value):
                pattern, new = swap
                self.token(
                    node,
                    self.src.end(node.target),
                    self.src.start(node.value),
                    f"{pattern}=",
                    f"{new}=",
                    "arith",
                )
            self.remove(node)
            self.expr(node.value)
        elif isinstance(node, ast.Raise):
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if exc is not None and _name_of(exc) == "NotImplementedError":
                return  # an abstract method's stub: every concrete class overrides it
            self.remove(node, "raise")
            if node.exc is not None:
                self.expr(node.exc, strings=False)
        elif isinstance(node, ast.Delete | ast.Break | ast.Continue):
            self.remove(node)
        # Pass, Import, ImportFrom, Global, Nonlocal, Assert: nothing to mutate

    # --- expressions -------------------------------------------------------------------

    def expr(self, node: ast.expr, *, strings: bool = True) -> None:
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, ast.Constant):
            self.constant(node, strings=strings)
            return
        if isinstance(node, ast.Call):
            name = _name_of(node.func)
            if name in _TYPING_CALLS:
                return
            if isinstance(node.func, ast.Name) and node.func.id in _CALL_SWAP:
                new = _CALL_SWAP[node.func.id]
                self.add(
                    node,
                    "call",
                    f"{node.func.id!r} -> {new!r}",
                    Edit(self.src.start(node.func), self.src.end(node.func), new),
                )
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                swap = _COMPARE_SWAP.get(type(op))
                if swap is not None:
                    _, pattern, new = swap
                    start, end = self.src.end(operands[i]), self.src.start(operands[i + 1])
                    self.token(node, start, end, pattern, new, "compare")
        elif isinstance(node, ast.BoolOp):
            new_op = "or" if isinstance(node.op, ast.And) else "and"
            old_op = "and" if new_op == "or" else "or"
            edits: list[Edit] = []
            for left, right in zip(node.values, node.values[1:], strict=False):
                start, end = self.src.end(left), self.src.start(right)
                match = re.search(rf"\b{old_op}\b", self.src.gap(start, end))
                if match is None:
                    break
                offset = start + len(match.string[: match.start()].encode())
                edits.append(Edit(offset, offset + len(old_op), new_op))
            else:
                self.add(node, "boolean", f"{old_op!r} -> {new_op!r}", *edits)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            start, end = self.src.start(node), self.src.start(node.operand)
            gap = self.src.text(start, end)
            self.add(node, "not", "remove 'not'", Edit(start, end, re.sub(r"^not\s*", "", gap)))
        elif isinstance(node, ast.IfExp):
            self.negate(node.test)
        elif isinstance(node, ast.BinOp):
            arith = _ARITH_SWAP.get(type(node.op))
            concat = isinstance(node.op, ast.Add) and (
                _is_string(node.left) or _is_string(node.right)
            )
            formatting = isinstance(node.op, ast.Mod) and _is_string(node.left)
            if arith is not None and not concat and not formatting:
                pattern, new = arith
                start, end = self.src.end(node.left), self.src.start(node.right)
                self.token(node, start, end, pattern, new, "arith")
        elif isinstance(node, ast.Subscript) and _name_of(node.value) in _TYPING_SUBSCRIPTS:
            return  # a type expression
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            self.slice(node.slice)
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            for generator in node.generators:
                for condition in generator.ifs:
                    self.negate(condition)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, strings=strings)
            elif isinstance(child, ast.comprehension):
                self.expr(child.iter, strings=strings)
                for condition in child.ifs:
                    self.expr(condition, strings=strings)
            elif isinstance(child, ast.keyword):
                self.expr(child.value, strings=strings)

    def constant(self, node: ast.Constant, *, strings: bool) -> None:
        value = node.value
        new: object
        if isinstance(value, bool):
            new = not value
        elif isinstance(value, int):
            new = {0: 1, 1: 0}.get(value, value + 1)
        elif isinstance(value, float):
            new = value + 1.0
        elif isinstance(value, str) and strings:
            new = f"XX{value}XX"
        elif isinstance(value, bytes) and strings:
            new = b"XX" + value + b"XX"
        else:
            return
        self.replace(node, "constant", f"{_show(repr(value))} -> {_show(repr(new))}", repr(new))

    def slice(self, node: ast.Slice) -> None:
        for bound, delta in ((node.lower, "+ 1"), (node.upper, "- 1")):
            if bound is None or isinstance(bound, ast.Constant):
                continue
            if isinstance(bound, ast.UnaryOp) and isinstance(bound.operand, ast.Constant):
                continue  # -1: the constant operator changes it
            text = self.src.segment(bound)
            text = f"{text} {delta}" if _is_atom(bound) else f"({text}) {delta}"
            self.replace(bound, "slice", f"bound {delta}", text)
