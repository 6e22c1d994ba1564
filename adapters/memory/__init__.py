"""noorm.adapters.memory: the in-process reference adapter.

``MemoryAdapter()`` implements every clause of docs/spec.md with every capability;
host libraries use it in their unit tests. The filter and ordering semantics are
also available as plain functions (:mod:`noorm.adapters.memory.evaluate`).
"""

from .adapter import MemoryAdapter, MemoryTransaction
from .evaluate import matches, predicate, sort_key, sort_rows

__all__ = ["MemoryAdapter", "MemoryTransaction", "matches", "predicate", "sort_key", "sort_rows"]
