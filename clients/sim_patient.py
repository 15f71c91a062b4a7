"""A scripted patient of known ability, for demos and for testing adaptive difficulty.

The model is deliberately simple so that its success rate can be predicted: after a reaction
time the foot swings along a smooth arc toward the target, lands at ``min(target distance, reach)``
from its home spot plus Gaussian placement noise (``placement_sd_m`` per axis), holds, and returns.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from games.events import Side

STANCE_HALF_WIDTH_M = 0.10


@dataclass(frozen=True, slots=True)
class Ability:
    step_reach_m: float = 0.45
    placement_sd_m: float = 0.02
    reaction_s: float = 0.3
    step_speed_m_s: float = 1.0
    lift_m: float = 0.06
    hold_s: float = 0.8
    min_swing_s: float = 0.25


@dataclass(frozen=True, slots=True)
class FootSample:
    side: Side
    x_m: float
    y_m: float
    z_m: float


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One step: reaction, swing out, hold, swing back; times relative to the target's appearance."""

    foot: Side
    home: tuple[float, float]
    landing: tuple[float, float]
    reaction_s: float
    swing_s: float
    hold_s: float
    lift_m: float

    @property
    def duration_s(self) -> float:
        return self.reaction_s + 2 * self.swing_s + self.hold_s

    def position(self, t: float) -> tuple[float, float, float]:
        """Where the stepping foot is ``t`` seconds after the target appeared."""
        out_start = self.reaction_s
        back_start = out_start + self.swing_s + self.hold_s
        if t <= out_start:
            return (*self.home, 0.0)
        if t < out_start + self.swing_s:
            return _arc(self.home, self.landing, (t - out_start) / self.swing_s, self.lift_m)
        if t <= back_start:
            return (*self.landing, 0.0)
        if t < back_start + self.swing_s:
            return _arc(self.landing, self.home, (t - back_start) / self.swing_s, self.lift_m)
        return (*self.home, 0.0)


def home_of(side: Side) -> tuple[float, float]:
    return side.lateral_sign * STANCE_HALF_WIDTH_M, 0.0


class SimulatedPatient:
    def __init__(self, ability: Ability, seed: int | None = None) -> None:
        self.ability = ability
        self._rng = random.Random(seed)

    def plan(self, foot: Side, target_x_m: float, target_y_m: float) -> StepPlan:
        a = self.ability
        home = home_of(foot)
        dx, dy = target_x_m - home[0], target_y_m - home[1]
        distance = math.hypot(dx, dy)
        reach = min(distance, a.step_reach_m)
        ux, uy = (dx / distance, dy / distance) if distance > 1e-9 else (0.0, 1.0)
        landing = (
            home[0] + ux * reach + self._rng.gauss(0.0, a.placement_sd_m),
            home[1] + uy * reach + self._rng.gauss(0.0, a.placement_sd_m),
        )
        swing = max(a.min_swing_s, math.hypot(landing[0] - home[0], landing[1] - home[1]) / a.step_speed_m_s)
        return StepPlan(foot, home, landing, a.reaction_s, swing, a.hold_s, a.lift_m)


def feet_at(plan: StepPlan | None, t: float) -> list[FootSample]:
    """Both feet at time ``t`` into ``plan`` (both at home when there is no plan)."""
    samples = []
    for side in Side:
        if plan is not None and side is plan.foot:
            x, y, z = plan.position(t)
        else:
            (x, y), z = home_of(side), 0.0
        samples.append(FootSample(side, x, y, z))
    return samples


def _arc(a: tuple[float, float], b: tuple[float, float], u: float, lift: float) -> tuple[float, float, float]:
    s = 0.5 - 0.5 * math.cos(math.pi * u)  # smooth start and stop, like a real swing
    return a[0] + (b[0] - a[0]) * s, a[1] + (b[1] - a[1]) * s, lift * math.sin(math.pi * u)
