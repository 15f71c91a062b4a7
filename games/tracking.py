"""Where each foot is and whether it is on the floor, from any device.

A pressure mat or force plate says so itself (``FootEvent.contact``). A motion tracker only gives a
height, and a height that hovers near one threshold would flicker between lifted and planted, so the
decision uses hysteresis: a planted foot counts as lifted only above ``lift_height_m``, a lifted foot
as planted again only below the lower ``plant_height_m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from games.events import FootEvent, Side


def is_planted(event: FootEvent, was_planted: bool, lift_height_m: float, plant_height_m: float) -> bool:
    if event.contact is not None:
        return event.contact
    limit = plant_height_m if not was_planted else lift_height_m
    return event.z_m <= limit


@dataclass(slots=True)
class FootTrack:
    """The latest known state of one foot. ``seen`` stays False until the device reports the foot."""

    x_m: float
    y_m: float
    z_m: float
    planted: bool = True
    seen: bool = False
    force_n: float | None = None

    def update(self, event: FootEvent, lift_height_m: float, plant_height_m: float) -> bool:
        """Take one event; return whether the foot was planted *before* it (to see transitions)."""
        was_planted = self.planted
        self.x_m, self.y_m, self.z_m, self.seen = event.x_m, event.y_m, event.z_m, True
        self.force_n = event.force_n
        self.planted = is_planted(event, was_planted, lift_height_m, plant_height_m)
        return was_planted

    def distance_to(self, x_m: float, y_m: float) -> float:
        """Horizontal distance from the foot to a floor point."""
        return math.hypot(self.x_m - x_m, self.y_m - y_m)


@dataclass(slots=True)
class Lift:
    """The moving foot's lift in one trial: when it first left the floor and how high it went.
    Only a device without a contact flag (a tracker) measures the height."""

    at_s: float | None = None
    max_m: float | None = None

    def airborne(self, event: FootEvent, now_s: float) -> None:
        """Take an event of the moving foot while it is off the floor."""
        if self.at_s is None:
            self.at_s = now_s
        if event.contact is None:
            self.max_m = max(self.max_m or 0.0, event.z_m)


def landed(track: FootTrack, was_planted: bool, lifts: dict[Side, Lift], event: FootEvent, now_s: float) -> Lift | None:
    """The lift ``event`` ended, when it puts a foot down after a lift that began while timing ran;
    None while the foot is up (its lift is followed in ``lifts``), standing, or already up when
    timing began. For stages that score each landing (walking, the four squares)."""
    if not track.planted:
        lifts.setdefault(event.side, Lift()).airborne(event, now_s)
        return None
    lift = lifts.pop(event.side, None)
    if was_planted or lift is None or lift.at_s is None:
        return None
    return lift
