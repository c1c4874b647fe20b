"""Values several instances may share for a while (the officials' statistics): in Redis when
``REDIS_URL`` is set, else in each process's memory.

A cache is never a reason to fail: a Redis that does not answer is skipped (the value is
computed again) with a warning in the log, and left alone for ``RETRY_AFTER`` seconds so a
dead server costs one timeout now and then, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Protocol

import redis

from marketplace.config import REDIS_TIMEOUTS

log = logging.getLogger(__name__)
RETRY_AFTER = 30.0  # seconds without trying a Redis that failed


class SharedCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, seconds: int) -> None: ...


class LocalCache:
    """Per process: values expire after their seconds; beyond ``size`` the oldest go."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if hit[0] <= time.monotonic():
                del self._items[key]
                return None
            return hit[1]

    def set(self, key: str, value: bytes, seconds: int) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic() + seconds, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class RedisCache:
    """Shared by every instance that names the same Redis (and key prefix)."""

    def __init__(self, url: str, prefix: str = "") -> None:
        self.client = redis.Redis.from_url(url, **REDIS_TIMEOUTS)
        self.prefix = prefix
        self._down_until = 0.0

    def get(self, key: str) -> bytes | None:
        if self._resting():
            return None
        try:
            value = self.client.get(self.prefix + key)
        except redis.RedisError as error:
            self._failed(error)
            return None
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, seconds: int) -> None:
        if seconds <= 0 or self._resting():
            return
        try:
            self.client.set(self.prefix + key, value, ex=seconds)
        except redis.RedisError as error:
            self._failed(error)

    def _resting(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, error: redis.RedisError) -> None:
        self._down_until = time.monotonic() + RETRY_AFTER
        log.warning("cache Redis unreachable, skipped for %ds: %s", RETRY_AFTER, error)


def from_settings(redis_url: str, prefix: str) -> SharedCache:
    return RedisCache(redis_url, prefix) if redis_url else LocalCache()
