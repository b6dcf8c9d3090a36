"""What stands before the Argon2id work of a login, per API process.

- Failed logins are counted over a sliding window per username and client address (a
  guesser), per client address (a guesser trying many names) and per username (many
  addresses guessing one name; higher, so one address alone cannot lock a user out). Past
  a limit a login answers 429 (with `Retry-After`) before any Argon2 work, whether or not
  the username exists, so the limit tells nothing about who exists.
- At most `slots` verifications run at once (each takes the user's Argon2 memory, 64 MiB by
  default) and at most `admitted` logins hold a request thread (verifying or waiting for a
  slot); more answer 503 at once, so a burst of logins cannot occupy every request thread
  and stall the read endpoints.

The counts live in the process: with several workers each counts its own share.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WINDOW_SECONDS = 15 * 60
FAILURES_PER_USERNAME_AND_ADDRESS = 10
FAILURES_PER_ADDRESS = 30
FAILURES_PER_USERNAME = 100
ARGON2_SLOTS = 2
ADMITTED_LOGINS = 8
TRACKED_KEYS = 10_000  # oldest forgotten first: a flood of names cannot grow memory


class LoginsBusy(Exception):
    """Every login place is taken: answer 503 and let the client retry shortly."""


class LoginGuard:
    def __init__(
        self,
        *,
        window_seconds: float = WINDOW_SECONDS,
        per_username_and_address: int = FAILURES_PER_USERNAME_AND_ADDRESS,
        per_address: int = FAILURES_PER_ADDRESS,
        per_username: int = FAILURES_PER_USERNAME,
        slots: int = ARGON2_SLOTS,
        admitted: int = ADMITTED_LOGINS,
        tracked_keys: int = TRACKED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window_seconds
        self.limits = {
            "user+address": per_username_and_address,
            "address": per_address,
            "user": per_username,
        }
        self.tracked_keys = tracked_keys
        self.clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(slots)
        self._admitted = threading.BoundedSemaphore(max(admitted, slots))

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [
            ("user+address", f"{username}\n{address}"),
            ("address", address),
            ("user", username),
        ]

    def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until this username and address may try again; None if they may now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(username, address):
                failures = self._failures.get(key)
                if failures is None:
                    continue
                while failures and failures[0] <= now - self.window:
                    failures.popleft()
                if len(failures) >= self.limits[key[0]]:
                    wait = max(wait, failures[0] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(username, address):
                failures = self._failures.setdefault(key, deque(maxlen=self.limits[key[0]]))
                failures.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self.tracked_keys:
                self._failures.popitem(last=False)

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(username, address)[0], None)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold an Argon2 slot (waiting for one only if admitted); LoginsBusy if full."""
        if not self._admitted.acquire(blocking=False):
            raise LoginsBusy
        try:
            with self._slots:
                yield
        finally:
            self._admitted.release()
