"""Wealth answers kept by their ETag, so a repeated request skips the marts' query.

An ETag names the user, the profile settings an answer depends on, the marts' last build
and the query (`routes.wealth.etag`): while it is current the body is the same bytes. The
token and the user are checked on every request before the cache is asked, and an entry is
only ever found by a key that contains the asking user's id. Least recently used entries go
first once the bodies exceed the budget; a new build makes every older entry unreachable
(they age out). Thread-safe: PostgreSQL handlers run in the threadpool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class AnswerCache:
    """At most `max_bytes` of bodies (0: keeps nothing)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, tag: str) -> bytes | None:
        with self._lock:
            body = self._entries.get(tag)
            if body is not None:
                self._entries.move_to_end(tag)
            return body

    def put(self, tag: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(tag, None)
            if previous is not None:
                self._size -= len(previous)
            self._entries[tag] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)
