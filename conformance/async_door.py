"""Certifying an async adapter with the same suite: a sync facade over it.

The suite drives adapters from threads, as sync hosts do. :class:`SyncDoor` presents an
:class:`~noorm.spec.AsyncAdapter` as an :class:`~noorm.spec.Adapter` whose calls run as
coroutines on one event loop, so every clause (same ids, same tests) runs against the
async code. It maps the sync model onto the async one: while a thread has a transaction
open, one task acts for that thread, and every call the thread makes (on the
transaction, its savepoints, or the adapter itself) is awaited in that task, in order,
as an asyncio host's own task would await it. A call from a thread without a
transaction is a task of its own. So the adapter's own rules (a transaction belongs to
its task; the adapter refuses to run outside a transaction inside it) are what the
clauses see.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from functools import partial
from typing import Any, TypeVar

from noorm.spec.adapter import Adapter, AsyncAdapter, AsyncExecutor, Capability
from noorm.spec.operations import Operation
from noorm.spec.schema import Schema

__all__ = ["SyncDoor", "ThreadedFactory", "is_async", "sync_door"]

T = TypeVar("T")


def is_async(adapter: object) -> bool:
    """Whether ``adapter`` is an async door (its ``execute`` is a coroutine function)."""
    return inspect.iscoroutinefunction(getattr(adapter, "execute", None))


class _Loop:
    """One event loop on a daemon thread, shared by the facades of a run."""

    _shared: _Loop | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="noorm-async-door", daemon=True).start()

    @classmethod
    def shared(cls) -> _Loop:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` as a task of its own and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


class _Acting:
    """The task that acts for one thread while it has a transaction open."""

    def __init__(self, loop: _Loop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[
            tuple[Callable[[], Awaitable[Any]], concurrent.futures.Future[Any]] | None
        ]
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._done = asyncio.run_coroutine_threadsafe(self._serve(ready), loop.loop)
        ready.result()

    async def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        self._queue = asyncio.Queue()
        ready.set_result(None)
        while (item := await self._queue.get()) is not None:
            call, result = item
            try:
                value = await call()
            except BaseException as exc:  # handed to the thread, whatever it is
                result.set_exception(exc)
            else:
                result.set_result(value)

    def call(self, call: Callable[[], Awaitable[T]]) -> T:
        """Await ``call()`` in this task, after the calls before it; its result."""
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._loop.loop.call_soon_threadsafe(self._queue.put_nowait, (call, result))
        return result.result()

    def stop(self) -> None:
        self._loop.loop.call_soon_threadsafe(self._queue.put_nowait, None)
        self._done.result()


class SyncDoor:
    """An :class:`~noorm.spec.Adapter` whose calls are the awaited calls of ``adapter``."""

    def __init__(self, adapter: AsyncAdapter, loop: _Loop) -> None:
        self.inner = adapter
        self.name: str = adapter.name
        self.version: str = adapter.version
        self.capabilities: frozenset[Capability] = adapter.capabilities
        self._loop = loop
        self._acting: dict[int, _Acting] = {}
        """Threads with a transaction open -> the task acting for them."""

    @property
    def certified_class(self) -> str:
        """The async adapter's class; a threaded door's says whose calls it runs."""
        inner = self.inner
        name = _qualified(inner)
        sync = getattr(inner, "sync", None)
        return name if sync is None else f"{name}({_qualified(sync)})"

    @property
    def driver_version(self) -> str | None:
        from .plugin import driver_version

        inner = self.inner
        return driver_version(getattr(inner, "sync", inner))

    def _await(self, call: Callable[[], Awaitable[T]]) -> T:
        acting = self._acting.get(threading.get_ident())
        if acting is not None:
            return acting.call(call)
        return self._loop.run(_awaited(call))

    def execute(self, op: Operation[T]) -> T:
        return self._await(lambda: self.inner.execute(op))

    def transaction(self) -> AbstractContextManager[_DoorTransaction]:
        return self._transaction(lambda: self.inner.transaction())

    @contextmanager
    def _transaction(
        self, opener: Callable[[], AbstractAsyncContextManager[AsyncExecutor]]
    ) -> Iterator[_DoorTransaction]:
        thread = threading.get_ident()
        acting = self._acting.get(thread)
        outermost = acting is None
        if acting is None:
            acting = self._acting[thread] = _Acting(self._loop)
        try:
            manager = acting.call(partial(_opened, opener))
            executor = acting.call(manager.__aenter__)
            door = _DoorTransaction(self, executor, thread)
            try:
                yield door
            except BaseException as exc:
                door.closed = True
                if not acting.call(partial(manager.__aexit__, type(exc), exc, exc.__traceback__)):
                    raise
            else:
                door.closed = True
                acting.call(lambda: manager.__aexit__(None, None, None))
        finally:
            if outermost:
                del self._acting[thread]
                acting.stop()

    def bootstrap(self, schema: Schema, *, dry_run: bool = False) -> list[str]:
        return self._await(lambda: self.inner.bootstrap(schema, dry_run=dry_run))

    def server_version(self) -> str:
        return self._await(self.inner.server_version)

    def statement(self, op: Operation[Any]) -> str | None:
        return self.inner.statement(op)

    def close(self) -> None:
        self._await(self.inner.close)


class _DoorTransaction:
    """A transaction's executor seen from its thread. From another thread, or after its
    block, a call is a task of its own: the async executor must refuse it, as a sync
    one refuses another thread."""

    def __init__(self, door: SyncDoor, executor: AsyncExecutor, thread: int) -> None:
        self._door = door
        self._executor = executor
        self._thread = thread
        self.closed = False

    def _owned(self) -> bool:
        return not self.closed and threading.get_ident() == self._thread

    def execute(self, op: Operation[T]) -> T:
        executor = self._executor
        if self._owned():
            return self._door._await(lambda: executor.execute(op))
        return self._door._loop.run(_awaited(lambda: executor.execute(op)))

    @contextmanager
    def transaction(self) -> Iterator[_DoorTransaction]:
        if not self._owned():
            self._door._loop.run(_foreign_savepoint(self._executor))
        with self._door._transaction(self._executor.transaction) as savepoint:
            yield savepoint


async def _foreign_savepoint(executor: AsyncExecutor) -> None:
    """Open a savepoint from a task that does not own the transaction: it must raise."""
    manager = executor.transaction()  # may refuse here, or on entering
    await manager.__aenter__()
    await manager.__aexit__(None, None, None)
    raise RuntimeError(
        "the async adapter opened a savepoint of a transaction from a task that does not "
        "own it, or after its block ended (it must raise BackendError)"
    )


async def _opened(
    opener: Callable[[], AbstractAsyncContextManager[AsyncExecutor]],
) -> AbstractAsyncContextManager[AsyncExecutor]:
    """``opener()`` in the acting task: an executor may check its task right there."""
    return opener()


async def _awaited(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


class _DoorFactory:
    """Wraps an async factory: each adapter it returns, behind a :class:`SyncDoor`."""

    def __init__(self, factory: Callable[[], Any], loop: _Loop) -> None:
        self._factory = factory
        self._loop = loop

    def __call__(self) -> Adapter:
        return self._wrap(self._loop.run(_made(self._factory)))

    def _wrap(self, adapter: Any) -> Adapter:
        if not is_async(adapter):
            raise TypeError(f"{adapter!r} is not an async adapter (its execute is not async)")
        door: Adapter = SyncDoor(adapter, self._loop)
        return door

    @property
    def same_database(self) -> Callable[[Adapter], Adapter] | None:
        opener = getattr(self._factory, "same_database", None)
        if not callable(opener):
            return None

        def same(adapter: Adapter) -> Adapter:
            assert isinstance(adapter, SyncDoor)
            inner = adapter.inner
            return self._wrap(self._loop.run(_made(lambda: opener(inner))))

        return same


def _qualified(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


async def _made(factory: Callable[[], Any]) -> Any:
    """``factory()`` inside the loop (an async adapter may need one to open), awaited if
    it returns an awaitable."""
    made = factory()
    return await made if inspect.isawaitable(made) else made


def sync_door(factory: Callable[[], Any]) -> Callable[[], Adapter]:
    """The sync factory the suite runs, for a factory of async adapters."""
    return _DoorFactory(factory, _Loop.shared())


class ThreadedFactory:
    """An async factory from a sync one (a callable, or its ``module:attribute``): each
    adapter in a :class:`~noorm.adapters.threaded.ThreadedAdapter`, the async door of
    the built-in adapters that have no native one yet."""

    def __init__(self, factory: Callable[[], Adapter] | str) -> None:
        self._factory = factory

    def _sync(self) -> Callable[[], Adapter]:
        if isinstance(self._factory, str):
            module, _, attribute = self._factory.partition(":")
            self._factory = getattr(importlib.import_module(module), attribute)
        assert not isinstance(self._factory, str)
        return self._factory

    def __call__(self) -> AsyncAdapter:
        from noorm.adapters.threaded import ThreadedAdapter

        adapter: AsyncAdapter = ThreadedAdapter(self._sync()())
        return adapter

    def same_database(self, adapter: AsyncAdapter) -> AsyncAdapter:
        from noorm.adapters.threaded import ThreadedAdapter

        opener = getattr(self._sync(), "same_database", None)
        if not callable(opener):
            raise TypeError("the sync factory has no same_database")
        assert isinstance(adapter, ThreadedAdapter)
        other = opener(adapter.sync)
        if other is adapter.sync:
            return adapter
        wrapped: AsyncAdapter = ThreadedAdapter(other)
        return wrapped
