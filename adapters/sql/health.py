"""Is a resting pooled connection still alive? Asked without a round trip.

An idle connection is never sent anything unasked in the adapters' use (no LISTEN, no
async notices): when its socket is readable, the server wrote to it or closed it (a
shutdown's goodbye, a terminated backend, a killed server's FIN). A zero-timeout
``poll`` tells that for the price of a system call, so a pool pings only those
connections, and the ones that rested long, before lending them.
"""

from __future__ import annotations

import select
import time
import weakref
from typing import Any, Protocol

__all__ = ["PING_AFTER_IDLE", "RestTracker", "needs_ping", "unsolicited"]

PING_AFTER_IDLE = 0.5
"""Seconds a pooled connection may rest before it is checked again when lent (as
HikariCP's default): a server restart is noticed by the check, not by the next call."""


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


def unsolicited(conn: _HasFileno) -> bool:
    """Whether the server sent something on (or closed) the resting ``conn``."""
    try:
        fd = conn.fileno()
    except Exception:  # a closed connection has no descriptor: it is certainly not usable
        return True
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def needs_ping(conn: _HasFileno | None, rested_since: float | None) -> bool:
    """Whether a pooled connection must answer a ping before it is lent: it rested longer
    than :data:`PING_AFTER_IDLE` (or since an unknown time), or the server sent something
    on it meanwhile. ``conn`` None is a connection without a socket: always."""
    if conn is None or rested_since is None:
        return True
    return time.monotonic() - rested_since >= PING_AFTER_IDLE or unsolicited(conn)


class RestTracker:
    """When each pooled connection went back to its pool, for a pool's ``check``:
    :meth:`due` says whether it must answer a ping before it is lent again."""

    __slots__ = ("_since",)

    def __init__(self) -> None:
        self._since: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def due(self, conn: Any) -> bool:
        return needs_ping(conn, self._since.get(conn))

    def returned(self, conn: Any) -> None:
        self._since[conn] = time.monotonic()
