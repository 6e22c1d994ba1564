"""Mutation testing of the adapters: a small AST mutator and a runner (``ci/mutation``).

:mod:`tests.mutation.mutate` finds the mutants of a source file (pure, no I/O);
:mod:`tests.mutation.runner` copies the package to a scratch directory, applies one
mutant at a time there and runs the tests relevant to the mutated module. The working
tree is never written to. See ``docs/mutation.md``.
"""
