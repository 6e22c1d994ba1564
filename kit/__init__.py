"""noorm.kit: the runtime a host library calls: a typed store with validation and hooks."""

from .async_store import AsyncStore
from .hooks import Plugin, QueryCall, QueryEvent, Write, WriteKind
from .plugins import AuditTimestamps, TenantScope
from .retry import retry_transaction
from .rows import AsyncRows, Rows
from .store import Page, Store

__all__ = [
    "AsyncRows",
    "AsyncStore",
    "AuditTimestamps",
    "Page",
    "Plugin",
    "QueryCall",
    "QueryEvent",
    "Rows",
    "Store",
    "TenantScope",
    "Write",
    "WriteKind",
    "retry_transaction",
]
