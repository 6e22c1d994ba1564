"""The kit's enforcement of the portable limits (spec section 10), before any I/O.

Filters are walked iteratively, so a malformed or absurdly deep tree is refused with a
ValidationError instead of a RecursionError, and nested ``and_``/``or_`` of one kind are
one level (``reduce(or_, conditions)`` is as flat as ``or_(*conditions)``).
"""

from __future__ import annotations

from noorm.spec.errors import ValidationError, brief
from noorm.spec.filters import And, Compare, In, IsNull, Not, Or, Path
from noorm.spec.limits import (
    MAX_BATCH_ROWS,
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    MAX_LIMIT,
    MAX_PATH_KEYS,
    MAX_ROW_BYTES,
)

__all__ = ["check_batch", "check_filter", "check_limit", "check_size"]

_OPS = frozenset({"eq", "ne", "lt", "lte", "gt", "gte"})


def check_filter(where: object, model: str) -> bool:
    """Refuse a filter that is not a well-formed tree within LIM-FILTER.

    Returns whether it compares a json path (which needs the json_paths capability).
    """
    paths = False
    values = conditions = size = 0
    stack: list[tuple[object, int, type | None]] = [(where, 0, None)]
    while stack:
        node, depth, parent = stack.pop()
        if isinstance(node, (And, Or)):
            items = node.items
            if not isinstance(items, tuple | list):
                raise _bad(f"{type(node).__name__}.items must be a tuple of filters", model)
            level = depth if parent is type(node) else depth + 1
            if level > MAX_FILTER_DEPTH:
                raise _too_deep(model)
            stack.extend((item, level, type(node)) for item in items)
        elif isinstance(node, Not):
            if depth + 1 > MAX_FILTER_DEPTH:
                raise _too_deep(model)
            stack.append((node.item, depth + 1, Not))
        elif isinstance(node, (Compare, In, IsNull)):
            conditions += 1
            field = _check_ref(node.ref, model)
            paths = paths or isinstance(node.ref, Path)
            if isinstance(node, Compare):
                if not isinstance(node.op, str) or node.op not in _OPS:
                    raise _bad(f"unknown comparison operator {brief(node.op)}", model, field)
                values += 1
                size += _size(node.value)
            elif isinstance(node, In):
                if not isinstance(node.values, tuple | list):
                    raise _bad("in_/not_in take a list of values", model, field)
                if type(node.negated) is not bool:
                    raise _bad("In.negated must be True or False", model, field)
                values += len(node.values)
                if values > MAX_FILTER_VALUES:
                    break
                size += sum(_size(v) for v in node.values)
            if conditions > MAX_FILTER_CONDITIONS:
                raise ValidationError(
                    f"a filter holds at most {MAX_FILTER_CONDITIONS} conditions (LIM-FILTER)",
                    model=model,
                )
        else:
            raise _bad(f"not a filter: {brief(node)}", model)
    if values > MAX_FILTER_VALUES:
        raise ValidationError(
            f"a filter holds at most {MAX_FILTER_VALUES} values, in_ lists included (LIM-FILTER)",
            model=model,
        )
    if size > MAX_ROW_BYTES:
        raise ValidationError(
            f"a filter's values total {size} bytes; at most {MAX_ROW_BYTES} (LIM-FILTER)",
            model=model,
        )
    return paths


def check_size(size: int, what: str, model: str) -> None:
    """LIM-ROW: a written row, or an update's values, within MAX_ROW_BYTES."""
    if size > MAX_ROW_BYTES:
        raise ValidationError(
            f"{what} is {size} bytes; at most {MAX_ROW_BYTES} (LIM-ROW; strings count their "
            "UTF-8 bytes, json values their compact JSON text)",
            model=model,
        )


def check_batch(count: int, model: str) -> None:
    if count > MAX_BATCH_ROWS:
        raise ValidationError(
            f"insert_many takes at most {MAX_BATCH_ROWS} rows, got {count} (LIM-BATCH)",
            model=model,
        )


def check_limit(limit: object, model: str) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be an int from 1 to {MAX_LIMIT} or None, got {brief(limit)} "
            "(LIM-READ; read more with cursors)",
            model=model,
        )


def _check_ref(ref: object, model: str) -> str | None:
    if isinstance(ref, str):
        return ref
    if isinstance(ref, Path):
        if not isinstance(ref.keys, tuple | list) or not ref.keys:
            raise _bad("a path needs at least one key", model, _name(ref.field))
        if len(ref.keys) > MAX_PATH_KEYS:
            raise ValidationError(
                f"a path has at most {MAX_PATH_KEYS} keys, got {len(ref.keys)} (LIM-FILTER)",
                model=model,
                field=_name(ref.field),
            )
        return _name(ref.field)
    raise _bad(f"a filter names a field or a path, got {brief(ref)}", model)


def _size(value: object) -> int:
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "replace"))
    return 8


def _name(field: object) -> str | None:
    return field if isinstance(field, str) else None


def _bad(message: str, model: str, field: str | None = None) -> ValidationError:
    return ValidationError(message, model=model, field=field)


def _too_deep(model: str) -> ValidationError:
    return ValidationError(
        f"a filter nests and_/or_/not_ at most {MAX_FILTER_DEPTH} levels deep (LIM-FILTER)",
        model=model,
    )
