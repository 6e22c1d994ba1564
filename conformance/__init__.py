"""noorm.conformance: the suite that certifies an adapter against docs/spec.md.

Run it against your adapter, without copying any test file::

    pytest --pyargs noorm.conformance --noorm-adapter=mypkg.module:factory \
        [--noorm-report=report.json]

or ``noorm certify --factory mypkg.module:factory``. ``factory()`` returns a fresh
adapter on an empty database each call; the plugin (:mod:`.plugin`) calls it once per
test and closes the adapter after it. Each test names the spec clause it checks
(``@pytest.mark.clause``); capability clauses are skipped, with the reason, for an
adapter that does not declare the capability, and a skipped core clause fails
certification. Modules: :mod:`.clauses` (the clause list), :mod:`.models` (the test
schemas), :mod:`.oracle` (an independent evaluator of filters and orders),
:mod:`.strategies` (Hypothesis strategies), :mod:`.report` (outcomes and verdict),
:mod:`.targets` (built-in factories), ``test_*`` (one module per spec section).
"""

__all__: list[str] = []
