"""Plugins shipped with the kit, each built only on the public hooks."""

from .audit import AuditTimestamps
from .tenant import TenantScope

__all__ = ["AuditTimestamps", "TenantScope"]
