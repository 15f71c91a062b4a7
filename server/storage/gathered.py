"""Writes gathered into one transaction: many small writes a second become a few larger ones.

Each commit costs the writer thread a transaction's set-up and (SQLite, ``synchronous=FULL``) a
flush to disk, whatever it holds. Trials finish at 40 a second on a busy server and every running
session writes its recorded input every two seconds: committed one by one, those are more
transactions than rows (a one-trial commit costs SQLite's writer thread about 0.9 ms of CPU, one of
ten about 0.16 ms a trial: ``bench/README.md``). :class:`Gathered` hands its callers' items to one
batch write: the items submitted while a write is in flight go together in the next; with
``interval_s`` a batch starts no sooner than that after the one before (no delay on a quiet server,
batches of many under load); with ``linger_s`` the first of a quiet spell waits that long for
company (only for writes nobody is waiting to see).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

W = TypeVar("W")
R = TypeVar("R")


class Gathered(Generic[W, R]):
    """Submit items one at a time; ``write_many`` stores a batch and returns one result per item
    in order. A batch that fails fails each of its callers, who decide whether to retry."""

    def __init__(self, write_many: Callable[[list[W]], Awaitable[Sequence[R]]], linger_s: float = 0.0,
                 interval_s: float = 0.0) -> None:
        self._write_many = write_many
        self._linger_s = linger_s
        self._interval_s = interval_s
        self._last_start_s = float("-inf")  # loop time the last batch began
        self._pending: list[tuple[W, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: W) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        if self._linger_s:
            await asyncio.sleep(self._linger_s)
        loop = asyncio.get_running_loop()
        while self._pending:
            wait_s = self._last_start_s + self._interval_s - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._last_start_s = loop.time()
            batch, self._pending = self._pending, []
            try:
                results = await self._write_many([item for item, _ in batch])
            except Exception as exc:  # handed to each waiting caller
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
