"""An async door on any sync adapter: its calls run on worker threads ("lanes").

asyncio code must not block its event loop, and a DB-API driver blocks. The usual
answer (aiosqlite, SQLAlchemy's async SQLite/MySQL dialects over greenlets, Django's
``sync_to_async``) is to run the blocking call on another thread and await it. Here
each lane is one thread that runs its jobs in order, and a transaction keeps its lane
from ``BEGIN`` to ``COMMIT``: the sync adapters bind a transaction to the thread that
opened it, and so every statement of one transaction runs on one connection. Other
calls take any free lane, so ``threads`` bounds how many run at once; the sync
adapter's own pool and locks decide the rest, exactly as for threads of a sync host.

Cancellation: a task cancelled while its statement runs cannot stop the thread; the
statement finishes, and a transaction's rollback (or commit) always runs, shielded,
before its lane serves anyone else.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    suppress,
)
from queue import SimpleQueue
from typing import Any, TypeVar

from noorm.spec.adapter import Adapter, AsyncExecutor, Capability
from noorm.spec.errors import BackendError
from noorm.spec.operations import Operation
from noorm.spec.schema import Schema

from .tasks import OpenTransactions, check_owner

__all__ = ["ThreadedAdapter"]

T = TypeVar("T")

DEFAULT_THREADS = 8
"""Lanes of a :class:`ThreadedAdapter`: calls that may run at once."""


class _Lane:
    """One worker thread; its jobs run one after another, in order.

    A job's result goes back to the awaiting task's loop with ``call_soon_threadsafe``:
    one wake-up each way, nothing else (a ``ThreadPoolExecutor`` plus ``wrap_future``
    costs two more futures and their callbacks per call).
    """

    __slots__ = ("_jobs", "_lock", "_open")

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], _Reply] | None] = (
            SimpleQueue()
        )
        self._lock = threading.Lock()
        self._open = True
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, reply = job
            if reply.future.cancelled():  # its caller gave up before it started
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # delivered to the caller, whatever it is
                reply.send(None, exc)
            else:
                reply.send(result, None)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on this lane; a cancelled caller cancels it only if it has not started."""
        result: T = await self._put(fn, args).future
        return result

    async def finish(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on this lane, run to the end even if the caller is cancelled."""
        result: T = await asyncio.shield(self._put(fn, args).future)
        return result

    def _put(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> _Reply:
        reply = _Reply()
        with self._lock:
            if not self._open:  # a job queued now would never run: its caller would hang
                raise BackendError("the adapter is closed")
            self._jobs.put((fn, args, reply))
        return reply

    def close(self) -> None:
        """Stop after the jobs already queued; later ones are refused."""
        with self._lock:
            if self._open:
                self._open = False
                self._jobs.put(None)


class _Reply:
    """Where a lane's job delivers its outcome: a future of the caller's loop."""

    __slots__ = ("future", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self.loop.create_future()

    def send(self, result: Any, error: BaseException | None) -> None:
        with suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(self._set, result, error)

    def _set(self, result: Any, error: BaseException | None) -> None:
        if self.future.done():  # cancelled while the job ran
            return
        if error is None:
            self.future.set_result(result)
        else:
            self.future.set_exception(error)


class ThreadedAdapter:
    """An :class:`~noorm.spec.AsyncAdapter` running ``adapter``'s calls on ``threads``
    worker threads; the name, version and capabilities are ``adapter``'s.

    ``adapter`` must be safe to share between threads (every built-in adapter is).
    Closing this closes ``adapter``.
    """

    def __init__(self, adapter: Adapter, *, threads: int = DEFAULT_THREADS) -> None:
        if type(threads) is not int or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        self.sync = adapter
        """The adapter whose calls this one runs."""
        self.name: str = adapter.name
        self.version: str = adapter.version
        self.capabilities: frozenset[Capability] = adapter.capabilities
        self._max = threads
        self._lock = threading.Lock()
        self._lanes: list[_Lane] = []
        self._idle: list[_Lane] = []
        self._waiters: deque[asyncio.Future[_Lane]] = deque()
        self._tasks = OpenTransactions()
        self._closed = False

    # --- the AsyncAdapter protocol ----------------------------------------------------------

    async def execute(self, op: Operation[T]) -> T:
        """``adapter.execute(op)`` on a free lane."""
        self._tasks.refuse_inside(op.model.name)
        return await self._call(self.sync.execute, op)

    def transaction(self) -> AbstractAsyncContextManager[AsyncExecutor]:
        """``adapter.transaction()`` with all of its block on one lane."""
        return self._transaction()

    async def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        self._tasks.refuse_inside(None)
        return await self._call(functools.partial(self.sync.bootstrap, schema, dry_run=dry_run))

    async def server_version(self) -> str:
        return await self._call(self.sync.server_version)

    def statement(self, op: Operation[Any]) -> str | None:
        return self.sync.statement(op)

    async def close(self) -> None:
        """Close ``adapter`` (after the calls under way) and stop the lanes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiters = list(self._waiters)
            self._waiters.clear()
        for waiter in waiters:
            waiter.get_loop().call_soon_threadsafe(_fail, waiter)
        try:
            await asyncio.to_thread(self.sync.close)
        finally:
            with self._lock:
                lanes, self._lanes, self._idle = self._lanes, [], []
            for lane in lanes:
                lane.close()

    # --- lanes ------------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        lane = await self._take()
        try:
            return await lane.run(fn, *args)
        finally:
            self._give(lane)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncExecutor]:
        self._tasks.refuse_inside(None)
        lane = await self._take()
        task = self._tasks.enter()
        try:
            async with _entered(lane, self.sync.transaction, task) as tx:
                yield tx
        finally:
            self._tasks.leave(task)
            self._give(lane)

    async def _take(self) -> _Lane:
        with self._lock:
            if self._closed:
                raise BackendError("the adapter is closed")
            if self._idle:
                return self._idle.pop()
            if len(self._lanes) < self._max:
                lane = _Lane(f"noorm-{self.name}")
                self._lanes.append(lane)
                return lane
            waiter: asyncio.Future[_Lane] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled():  # handed a lane as it was cancelled
                self._give(waiter.result())
            raise

    def _give(self, lane: _Lane) -> None:
        with self._lock:
            if self._closed:
                return
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.get_loop().call_soon_threadsafe(self._hand, waiter, lane)
                return
            self._idle.append(lane)

    def _hand(self, waiter: asyncio.Future[_Lane], lane: _Lane) -> None:
        if waiter.done():  # cancelled meanwhile: the next one gets it
            self._give(lane)
        else:
            waiter.set_result(lane)


class _LaneTransaction:
    """The executor of one transaction block: its statements run on its lane, for the
    task that opened it, until the block ends."""

    __slots__ = ("_lane", "_task", "_tx", "closed")

    def __init__(self, lane: _Lane, tx: Any, task: asyncio.Task[Any] | None) -> None:
        self._lane = lane
        self._tx = tx
        self._task = task
        self.closed = False

    async def execute(self, op: Operation[T]) -> T:
        self._check(op.model.name)
        result: T = await self._lane.run(self._tx.execute, op)
        return result

    def transaction(self) -> AbstractAsyncContextManager[AsyncExecutor]:
        """A savepoint, on the same lane."""
        self._check(None)
        return _entered(self._lane, self._tx.transaction, self._task)

    def _check(self, model: str | None) -> None:
        check_owner(self.closed, self._task, model)


@asynccontextmanager
async def _entered(
    lane: _Lane,
    opener: Callable[[], AbstractContextManager[Any]],
    task: asyncio.Task[Any] | None,
) -> AsyncIterator[AsyncExecutor]:
    """The sync context manager ``opener()`` entered and exited on ``lane``; exiting
    always runs, even when the block or the wait for it is cancelled."""
    manager, tx = await lane.finish(_enter, opener)
    executor = _LaneTransaction(lane, tx, task)
    try:
        yield executor
    except BaseException as exc:
        executor.closed = True
        if not await lane.finish(manager.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        executor.closed = True
        await lane.finish(manager.__exit__, None, None, None)


def _enter(opener: Callable[[], AbstractContextManager[Any]]) -> tuple[Any, Any]:
    manager = opener()
    return manager, manager.__enter__()


def _fail(waiter: asyncio.Future[_Lane]) -> None:
    if not waiter.done():
        waiter.set_exception(BackendError("the adapter is closed"))
