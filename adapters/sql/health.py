"""Is a resting pooled connection still alive? Asked without a round trip.

An idle connection is never sent anything unasked in the adapters' use (no LISTEN, no
async notices): when its socket is readable, the server wrote to it or closed it (a
shutdown's goodbye, a terminated backend, a killed server's FIN). A zero-timeout
``poll`` tells that for the price of a system call, so a pool pings only those
connections, and the ones that rested long, before lending them.
"""

from __future__ import annotations

import select
from typing import Protocol

__all__ = ["unsolicited"]


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
