"""Game timers: each running game is ticked ``tick_hz`` times a second on average, whether by the
ticker or right after its own input (``LiveSessions._tick_if_due``), and never more than a period
after its tick was due."""

from __future__ import annotations

import itertools
from typing import Any, cast

import pytest

from server.cluster import LocalCluster
from server.config import Settings
from server.live_sessions import LiveSessions
from server.stations import StationRuntime
from server.storage.records import StationRecord

pytestmark = pytest.mark.unit


class CountingGame:
    """What the ticker needs of a ``Play``: when its tick is due, its tick, whether it is done."""

    def __init__(self) -> None:
        self.next_tick_s = float("-inf")
        self.ticks: list[float] = []
        self.finished = False

    def tick(self, now_s: float) -> None:
        self.ticks.append(now_s)


@pytest.mark.parametrize("input_hz", [0.0, 30.0, 120.0, 500.0])
def test_a_game_is_ticked_at_the_tick_rate_by_the_ticker_or_its_input(input_hz: float) -> None:
    live = LiveSessions(Settings(tick_hz=60.0), cast(Any, None), LocalCluster())
    station = StationRuntime(StationRecord(1, 1, "station-1"))
    game = CountingGame()
    station.play = cast(Any, game)
    live.stations["station-1"] = station
    ticker = [k / 60.0 + 0.003 for k in range(600)]  # ten seconds of the ticker, out of phase with input
    inputs = [k / input_hz for k in range(int(10 * input_hz))] if input_hz else []
    for now, source in sorted([(t, "ticker") for t in ticker] + [(t, "input") for t in inputs]):
        if source == "ticker":
            live.tick(now)
        else:
            live._tick_if_due(station, cast(Any, game), now)
    gaps = [b - a for a, b in itertools.pairwise(game.ticks)]
    assert 598 <= len(game.ticks) <= 601  # 60 a second on average
    assert max(gaps) <= 2 / 60.0 + 1e-9  # a timer is seen at most a period after it is due
