"""From a finished trial to what is worth keeping: success, and range-of-motion samples.

Range of motion from the reaching game: the reach the game measured at the touch (faulted trials
do not count, as in the Star Excursion Balance Test). From the stepping game: how far the foot
actually travelled along the target direction (the projection of the landing point from the home
spot onto that direction), and how high it lifted. Only landed steps say anything about reach, so
timeouts give no reach sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from games.base import Outcome, TrialResult


@dataclass(frozen=True, slots=True)
class RomSample:
    side: str
    direction: str
    metric: str
    value_m: float


STEP_REACH = "step_reach_m"  # stepping: how far the foot landed along the target direction
FOOT_REACH = "reach_m"  # reaching (SEBT-like): how far the foot touched along the direction
FOOT_LIFT = "foot_lift_m"


def rom_samples(result: TrialResult, home_x_m: float, home_y_m: float) -> list[RomSample]:
    samples: list[RomSample] = []
    side = result.foot.value
    reach = result.measures.get(FOOT_REACH)
    if isinstance(reach, float | int) and result.outcome in (Outcome.HIT, Outcome.MISS):
        return [RomSample(side, result.direction, FOOT_REACH, max(0.0, float(reach)))]
    if result.landing_x_m is not None and result.landing_y_m is not None and result.outcome in (
        Outcome.HIT,
        Outcome.MISS,
    ):
        rad = math.radians(result.direction_deg)
        reach = (result.landing_x_m - home_x_m) * math.sin(rad) + (
            result.landing_y_m - home_y_m
        ) * math.cos(rad)
        samples.append(RomSample(side, result.direction, STEP_REACH, max(0.0, reach)))
    if result.foot_lift_m is not None:
        samples.append(RomSample(side, "vertical", FOOT_LIFT, result.foot_lift_m))
    return samples
