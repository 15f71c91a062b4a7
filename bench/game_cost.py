"""What each game and training mode costs the server per input event, against plain stepping.

Every foot event a tracker sends makes the server run the game and build a state snapshot; this
measures that work alone (no network, no database), for every game and each clinical mode, with
plain stepping measured in the same run as the baseline. Feet stand on their home spots and step
in place (one foot lifts and lands every half second), so targets appear and trials run as in play.

    python bench/game_cost.py [--events 30000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from games.events import BalanceEvent, FootEvent, Side
from games.registry import GAMES
from games.setting_fields import PatientInfo

PATIENT = PatientInfo(Side.LEFT, leg_length_m=0.9, step_reach_m=0.5)
RATE_HZ = 120.0
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("stepping (baseline)", "stepping", {}),
    ("stepping + mirror", "stepping", {"mirror": True}),
    ("stepping + neglect cueing", "stepping", {"neglect_cueing": True}),
    ("stepping + target vanishes", "stepping", {"vision": "target_vanishes"}),
    ("stepping + foot hidden", "stepping", {"vision": "foot_hidden"}),
    ("reaching", "reaching", {}),
    ("weight_shift", "weight_shift", {}),
    ("treadmill", "treadmill", {"belt_speed_m_s": 0.6}),
    ("assessment", "assessment", {}),
]


def make(game: str, settings: dict[str, Any]) -> Any:
    entry = GAMES[game]
    difficulty = {p.name: (p.default_low + p.default_high) / 2 for p in entry.parameters}
    return entry.make(entry.settings_from({"seed": 1, **settings}, PATIENT), difficulty, 0.0)


def cost_us(game_name: str, settings: dict[str, Any], events: int, repeats: int) -> float:
    """Best of ``repeats``: microseconds per input event, its game events drained, plus a snapshot."""
    best = float("inf")
    for _ in range(repeats):
        game = make(game_name, settings)
        home = {side: game.home_spot(side) for side in Side}
        start = time.perf_counter()
        for i in range(events):
            t = i / RATE_HZ
            side = Side.LEFT if i % 2 else Side.RIGHT
            phase = (t % 1.0) / 0.5  # each foot in turn lifted for 0.15 s of its half second
            lifted = int(phase) == (side is Side.LEFT) and phase % 1.0 < 0.3
            x, y = home[side]
            game.on_foot(FootEvent(side, x, y, 0.05 if lifted else 0.0, None, None, t, i), t)
            if i % 2:
                game.on_balance(BalanceEvent(0.002, 0.001, 700.0, 0.5, "cop", t, i), t)
            if i % 2 == 0 and t >= game.next_timer_s():  # as the server ticks: 60 Hz, when a timer is due
                game.tick(t)
            game.take_events()
            game.snapshot()
        best = min(best, (time.perf_counter() - start) / events * 1e6)
        game.close()
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=30_000, help="input events per measurement")
    p.add_argument("--repeats", type=int, default=5, help="measurements per case (the best is kept)")
    args = p.parse_args(argv)
    print(f"# {args.events} events at {RATE_HZ:.0f} Hz of game time, best of {args.repeats}; "
          "each: a foot event (every other one also a balance event, every other a tick when one of the "
          "game's timers may be due), game events drained, one snapshot")
    print(f"{'case':<30} {'us/event':>9} {'x baseline':>11}")
    baseline = None
    for label, game, settings in CASES:
        us = cost_us(game, settings, args.events, args.repeats)
        baseline = baseline or us
        print(f"{label:<30} {us:>9.2f} {us / baseline:>10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
