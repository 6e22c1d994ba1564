"""Which asyncio tasks are inside an async adapter's transactions.

An async adapter refuses its own ``execute``/``transaction``/``bootstrap`` from a task
that has one of its transactions open: that call would run outside the transaction
(on another connection), or wait for it forever (on the same one). Every async door
keeps this record the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from noorm.spec.errors import BackendError

__all__ = ["OpenTransactions", "check_owner"]


class OpenTransactions:
    """Tasks inside a transaction of one adapter, with how many blocks each has open."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[Any] | None, int] = {}

    def enter(self) -> asyncio.Task[Any] | None:
        """Record the calling task as inside one more block; that task."""
        task = asyncio.current_task()
        self._tasks[task] = self._tasks.get(task, 0) + 1
        return task

    def leave(self, task: asyncio.Task[Any] | None) -> None:
        if self._tasks[task] == 1:
            del self._tasks[task]
        else:
            self._tasks[task] -= 1

    def refuse_inside(self, model: str | None) -> None:
        """BackendError if the calling task is inside one of the adapter's transactions."""
        if self._tasks and asyncio.current_task() in self._tasks:
            raise BackendError(
                "this task has an open transaction: run operations through its executor "
                "(`async with adapter.transaction() as tx: await tx.execute(...)`); running "
                "them here would run outside it, or wait for it forever",
                model=model,
            )


def check_owner(closed: bool, task: asyncio.Task[Any] | None, model: str | None) -> None:
    """A transaction executor's own checks: used inside its block, by its task."""
    if closed:
        raise BackendError(
            "this transaction has ended: its executor is valid only inside its `async with` block",
            model=model,
        )
    if asyncio.current_task() is not task:
        raise BackendError(
            "a transaction's executor belongs to the task that opened it", model=model
        )
