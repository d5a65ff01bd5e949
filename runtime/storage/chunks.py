"""Values larger than one Redis value may hold (512 MB by default) travel as several parts.

The value's own key then holds a marker with the number of parts; the parts have keys of their own.
"""

from __future__ import annotations

from collections.abc import Callable

from .serialization import as_bytes

MARKER = b"WKCHUNKS:"


def split(data, limit: int) -> tuple[object, list[memoryview]]:
    """(what the value's key holds, the parts); no parts when the value fits. ``data``: ``bytes`` or
    ``serialization.Frames``, joined only when it must be cut."""
    if len(data) <= limit:
        return data, []
    view = memoryview(as_bytes(data))
    parts = [view[start : start + limit] for start in range(0, len(data), limit)]
    return MARKER + str(len(parts)).encode(), parts


def part_count(head) -> int | None:
    """How many parts the value has, or None when ``head`` (any bytes-like) is the value itself."""
    if bytes(head[: len(MARKER)]) == MARKER:
        return int(bytes(head[len(MARKER) :]))
    return None


def whole(head, read: Callable[[list[str]], list], part_key: Callable[[int], str]):
    """The value whose key holds ``head`` (None if missing): ``head`` itself, or its parts joined,
    read with ``read(keys)`` from the keys ``part_key(0..n-1)``."""
    if head is None:
        return None
    count = part_count(head)
    return head if count is None else bytearray().join(read([part_key(n) for n in range(count)]))
