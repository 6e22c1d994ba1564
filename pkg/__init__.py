"""no-orm: a tiny, database-independent persistence core for Python libraries.

- :mod:`noorm.spec` — the contract (schema, operations, errors, adapter protocol)
- :mod:`noorm.kit` — the runtime a host library calls (validation, hooks, cursors)
- :mod:`noorm.adapters` — reference adapters (memory, sqlite, ...)
- :mod:`noorm.conformance` — the suite that certifies an adapter
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
