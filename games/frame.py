"""Patient-frame geometry shared by the games (+x right, +y forward, metres; see games.events).

Azimuths are degrees clockwise seen from above: 0 = forward (+y), 90 = right (+x), 180 = backward,
270 = left. Every game reports ``TrialResult.direction_deg`` this way, whatever its own direction
names are relative to, so results from different games and legs compare on one compass.
"""

from __future__ import annotations

import math

from games.events import Side


def home_spot(side: Side, stance_half_width_m: float) -> tuple[float, float]:
    """Where a foot stands at rest: half the stance width out to its own side, level with the origin."""
    return side.lateral_sign * stance_half_width_m, 0.0


def unit_vector(azimuth_deg: float) -> tuple[float, float]:
    """(x, y) of a patient-frame azimuth; rounded so the axes come out exact (no 6e-17 leftovers)."""
    rad = math.radians(azimuth_deg)
    return round(math.sin(rad), 12) + 0.0, round(math.cos(rad), 12) + 0.0


def azimuth_deg(dx_m: float, dy_m: float) -> float:
    return math.degrees(math.atan2(dx_m, dy_m)) % 360.0
