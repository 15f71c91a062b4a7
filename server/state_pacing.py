"""How often a station's state goes out: once per event-loop pass, and at most ``state_hz`` a second.

A headset draws at its display rate (90 Hz for most), so states sent faster than that are never
seen; each one still costs the server a snapshot, an encoding and a socket write per viewer. With a
rate set, the first change after a quiet spell goes out at once (no added latency for a lone event)
and later ones wait for the next slot, merged into one state carrying the newest of everything.
``state_hz`` 0 sends one state per loop pass, or as soon as a device's read ends
(``StationRuntime.read_ended``): the lowest latency, every event shown the moment it is processed.
``bench/load.py --server-arg=--state-hz=90`` measures the trade.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class StatePacer:
    """Schedules one station's flushes: ``soon`` at most once per ``1 / state_hz`` seconds."""

    __slots__ = ("_interval_s", "_last_s")

    def __init__(self, state_hz: float) -> None:
        self._interval_s = 1.0 / state_hz if state_hz > 0 else 0.0
        self._last_s = float("-inf")

    def soon(self, flush: Callable[[], None]) -> asyncio.Handle:
        loop = asyncio.get_running_loop()
        if not self._interval_s:
            return loop.call_soon(flush)
        due_s = self._last_s + self._interval_s
        if loop.time() >= due_s:
            return loop.call_soon(flush)
        return loop.call_at(due_s, flush)

    def due(self) -> bool:
        """Whether a state may go out now."""
        return not self._interval_s or asyncio.get_running_loop().time() >= self._last_s + self._interval_s

    def flushed(self) -> None:
        """Call when the state went out: the next slot is one interval from now."""
        if self._interval_s:
            self._last_s = asyncio.get_running_loop().time()
