"""Small asyncio helpers."""

from __future__ import annotations

import asyncio
import weakref


class LoopSemaphore:
    """A semaphore of `limit` per event loop: an asyncio semaphore belongs to the loop it
    is first used in, and one process may run apps in several (the tests do; a closed loop
    takes its own along)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            semaphore = self._by_loop.setdefault(loop, asyncio.Semaphore(self.limit))
        return semaphore
