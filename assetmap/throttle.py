"""Slowing down guessing: a growing wait after repeated wrong secrets, per session and per address.

After ``free`` wrong tries within ``window_s``, a key (a browser session, a client address) must
wait before its next try is even checked: ``base_s`` after the first try over the limit,
doubling with each one after it, at most ``max_s``. A right answer clears the session's count
(not the address's: one user's success does not free an address someone else is guessing from).

Kept in the process's memory: each dashboard replica counts its own tries, and a restart forgets
them (the wait is a brake on guessing, not an account lockout).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class Throttle:
    """Wrong tries per key, and how long each key must wait."""

    free: int = 5
    window_s: float = 60.0
    base_s: float = 30.0
    max_s: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _fails: dict[str, deque[float]] = field(default_factory=dict)
    _until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_s(self, keys: Iterable[str]) -> float:
        """Seconds before any of ``keys`` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            return max([0.0, *(self._until.get(k, 0.0) - now for k in keys)])

    def failed(self, keys: Iterable[str]) -> float:
        """Count a wrong try against each key; return the wait it now owes (seconds)."""
        now = self.clock()
        owed = 0.0
        with self._lock:
            for k in keys:
                q = self._fails.setdefault(k, deque())
                q.append(now)
                while q and q[0] < now - self.window_s:
                    q.popleft()
                over = len(q) - self.free + 1  # the try after the free ones waits
                if over > 0:
                    wait = min(self.max_s, self.base_s * 2 ** (over - 1))
                    self._until[k] = now + wait
                    owed = max(owed, wait)
        return owed

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s wrong tries (a session that knew the secret)."""
        with self._lock:
            self._fails.pop(key, None)
            self._until.pop(key, None)
