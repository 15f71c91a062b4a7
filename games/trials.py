"""Trial pacing shared by the games: when the next trial may start, and which direction it takes."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

TRIAL_ORDERS = ("random", "cycle")


@dataclass(slots=True)
class ReadyGate:
    """The next target appears only after the patient has been ready (home, centred) for ``wait_s``
    without a break, so a trial never starts while the patient is still settling from the last one."""

    wait_s: float
    since_s: float | None = None

    def update(self, ready: bool, now_s: float) -> None:
        if not ready:
            self.since_s = None
        elif self.since_s is None:
            self.since_s = now_s

    def due(self, now_s: float) -> bool:
        return self.since_s is not None and now_s - self.since_s >= self.wait_s

    def reset(self) -> None:
        self.since_s = None


def next_direction(rng: random.Random, directions: Sequence[str], order: str, index: int) -> str:
    """``random``: a seeded draw (reproducible with the session seed); ``cycle``: the therapist's
    list in its order, ``index`` picking the place (a voided trial repeats its direction)."""
    if order == "cycle":
        return directions[index % len(directions)]
    return rng.choice(directions)
