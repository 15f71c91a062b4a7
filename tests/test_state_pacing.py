"""State pacing: a lone change goes out at once; a stream of them at most ``state_hz`` a second."""

from __future__ import annotations

import asyncio
import itertools

from server.state_pacing import StatePacer


async def _stream(pacer: StatePacer, changes: int, every_s: float) -> tuple[float, float, list[float]]:
    """Changes every ``every_s``, flushed as a station does (one pending flush at a time)."""
    loop = asyncio.get_running_loop()
    flushes: list[float] = []
    pending = False

    def flush() -> None:
        nonlocal pending
        pending = False
        pacer.flushed()
        flushes.append(loop.time())

    start = loop.time()
    for _ in range(changes):
        if not pending:
            pending = True
            pacer.soon(flush)
        await asyncio.sleep(every_s)
    end = loop.time()
    await asyncio.sleep(0.05)
    return start, end, flushes


async def test_capped_states_go_out_at_most_at_the_rate_and_the_first_at_once() -> None:
    start, end, flushes = await _stream(StatePacer(50.0), changes=60, every_s=0.003)
    assert flushes[0] - start < 0.005  # the first change waits for nothing
    gaps = [b - a for a, b in itertools.pairwise(flushes)]
    assert min(gaps) >= 0.02 - 0.002  # 50 Hz, less the loop clock's resolution
    assert len(flushes) <= (end - start) / 0.02 + 2  # a busy machine stretches the stream, not the cap


async def test_uncapped_states_go_out_once_per_change() -> None:
    _, _, flushes = await _stream(StatePacer(0.0), changes=40, every_s=0.002)
    assert len(flushes) == 40
