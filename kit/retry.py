"""Rerunning a transaction that lost a conflict (ISO-5).

A :class:`~noorm.spec.ConflictError` means the backend rolled the whole transaction back
because a concurrent one won (deadlock, serialization failure, lock wait timeout, write
conflict). Only the whole transaction can be rerun, with fresh reads: so the helper owns
the transaction, and refuses to run inside one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from noorm.spec.errors import ConflictError, ValidationError

from .store import Store

__all__ = ["retry_transaction"]

T = TypeVar("T")


def retry_transaction(
    store: Store,
    fn: Callable[[Store], T],
    *,
    attempts: int = 5,
    backoff: float = 0.02,
    max_backoff: float = 1.0,
) -> T:
    """``fn(tx)`` in a transaction, committed; rerun in a fresh one on ConflictError.

    At most ``attempts`` runs in all; before run ``k + 1`` it sleeps a uniformly random
    time of up to ``min(max_backoff, backoff * 2**(k - 1))`` seconds (full jitter, so
    the losers of one conflict do not collide again in step). The last ConflictError is
    re-raised; any other exception propagates at once, its transaction rolled back.
    ``fn`` may run several times: it must do nothing outside ``tx`` that cannot be
    repeated. Inside a transaction this raises ValidationError (a savepoint cannot be
    rerun on its own: the conflict rolled back the outer transaction too).
    """
    if store.in_transaction:
        raise ValidationError(
            "retry_transaction runs its own transaction and cannot run inside another: "
            "call it outside the outer transaction (a conflict rolls back all of it)"
        )
    if type(attempts) is not int or attempts < 1:
        raise ValidationError(f"attempts must be an int of at least 1, got {attempts!r}")
    if not 0 <= backoff <= max_backoff:
        raise ValidationError("backoff and max_backoff need 0 <= backoff <= max_backoff")
    for attempt in range(1, attempts + 1):
        try:
            with store.transaction() as tx:
                return fn(tx)
        except ConflictError:
            if attempt == attempts:
                raise
        time.sleep(random.uniform(0, min(max_backoff, backoff * 2 ** (attempt - 1))))
    raise AssertionError("unreachable")  # pragma: no cover
