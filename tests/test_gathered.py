"""Writes gathered into batches: no delay when quiet, few large batches under load, nothing lost."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from server.storage.gathered import Gathered


class Recorder:
    """A batch writer that records each batch and when it began."""

    def __init__(self, fail_first: bool = False) -> None:
        self.batches: list[tuple[float, list[int]]] = []
        self.fail_first = fail_first

    async def write_many(self, items: list[int]) -> list[int]:
        self.batches.append((asyncio.get_running_loop().time(), items))
        await asyncio.sleep(0.01)  # a commit takes a while: items keep coming meanwhile
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("database refused")
        return [item * 10 for item in items]


async def test_a_lone_write_goes_at_once_and_each_caller_gets_its_own_result() -> None:
    writer = Recorder()
    gathered = Gathered(writer.write_many, interval_s=0.25)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await gathered.submit(7) == 70
    assert writer.batches[0][0] - began < 0.05


async def test_under_load_batches_start_no_more_often_than_the_interval() -> None:
    writer = Recorder()
    gathered = Gathered(writer.write_many, interval_s=0.1)

    async def steady(first: int) -> list[int]:  # a trial every 20 ms from each of three stations
        results = []
        for k in range(15):
            results.append(asyncio.ensure_future(gathered.submit(first + k)))
            await asyncio.sleep(0.02)
        return list(await asyncio.gather(*results))

    done = await asyncio.gather(steady(0), steady(100), steady(200))
    assert done == [[10 * (first + k) for k in range(15)] for first in (0, 100, 200)]
    written = sorted(item for _, items in writer.batches for item in items)
    assert written == sorted(first + k for first in (0, 100, 200) for k in range(15))  # each once
    starts = [t for t, _ in writer.batches]
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.1 - 0.005
    assert len(writer.batches) <= 6  # 45 items over ~0.3 s: a handful of commits, not 45


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_goes_on() -> None:
    writer = Recorder(fail_first=True)
    gathered = Gathered(writer.write_many, interval_s=0.05)
    first = asyncio.ensure_future(gathered.submit(1))
    await asyncio.sleep(0.001)
    second = asyncio.ensure_future(gathered.submit(2))  # arrives during the failing commit
    with pytest.raises(RuntimeError, match="database refused"):
        await first
    assert await second == 20
