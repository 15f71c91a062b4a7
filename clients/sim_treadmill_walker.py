"""A simulated patient walking on a treadmill, of known ability, for the treadmill game's tests.

Pure: no network. Feed it the game time and the game's latest state snapshot; it returns the foot
events a tracker would send (heights only, no contact flag), with the same seed giving the same walk.

The model is deliberately simple so its success can be predicted. Planted feet ride the belt
backward at the belt speed. The trailing foot swings next; it aims at the next coming target of
its own foot ahead of the standing foot, and lands ``min(required step, max_step_length_m)`` ahead
of the standing foot plus Gaussian scatter (``placement_sd_m`` per axis). The step length (the
belt distance between the feet at landing) cannot be changed by timing: both feet and the target
ride the belt. Timing only keeps the walker centred: it lifts so that at touchdown the standing
foot is half a step behind the body (y = 0). A walker asked for steps longer than it can make
lands short, a little further short with each step; once it is out of step (the next target is the
standing foot's), it puts in a short step so that foot can take it, as a patient falls back into
step. The swing is above its landing point by 80 % of its time and then comes straight down onto
it, riding the belt like the target, so where the game sees it land is where it aimed, whatever
the game's height thresholds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from games.events import FootEvent, Side

STANCE_HALF_WIDTH_M = 0.10
_HORIZONTAL_SHARE = 0.8  # the swing covers its distance in this share of its time, then comes down
_SWING_SHARE_OF_STEP = 0.7  # at a fast cadence the swing takes at most this share of the step time
_MIN_SWING_S = 0.15
_MIN_STEP_M = 0.08  # a target nearer than this ahead of the standing foot is left to pass
_Coming = tuple[Side, int | None, float, float]  # a coming target: foot, index, x, y (now)


@dataclass(frozen=True, slots=True)
class WalkerAbility:
    """What the walker can do: its longest step (belt distance between the feet at landing), how
    far its landings scatter around the aimed point (sd per axis), its swing, and its stride with
    nothing to aim at."""

    max_step_length_m: float = 0.45
    placement_sd_m: float = 0.02
    comfortable_step_m: float = 0.35  # the step with no target to aim at (never above the max)
    step_width_m: float = 0.18  # likewise, the distance across between the feet
    swing_s: float = 0.3
    min_double_support_s: float = 0.08
    lift_m: float = 0.05


@dataclass(frozen=True, slots=True)
class WalkerStep:
    """One landing as the walker made it: ``belt_m`` is its place on the belt; ``step_length_m``
    the belt distance to the other foot's last landing (None for the first step)."""

    foot: Side
    at_s: float
    belt_m: float
    step_length_m: float | None
    target_index: int | None


@dataclass(slots=True)
class _Swing:
    foot: Side
    start_x_m: float
    start_y_m: float
    aim_x_m: float
    aim_y_m: float  # the aimed point on the belt, where it is now: it rides the belt too
    lifted_at_s: float
    duration_s: float
    target_index: int | None


class TreadmillWalker:
    def __init__(self, ability: WalkerAbility, seed: int | None = None) -> None:
        self.ability = ability
        self._rng = random.Random(seed)
        self.feet: dict[Side, tuple[float, float]] = {
            side: (side.lateral_sign * STANCE_HALF_WIDTH_M, 0.0) for side in Side
        }
        self.steps: list[WalkerStep] = []
        self.belt_m = 0.0  # how far the belt has carried the walker
        self._swing: _Swing | None = None
        self._leading: Side | None = None  # the foot that landed last
        self._landed_at_s = -math.inf
        self._last_s: float | None = None
        self._seq = 0

    def step(self, now_s: float, snapshot: Mapping[str, Any] | None) -> list[FootEvent]:
        """Move to game time ``now_s`` given the latest snapshot; both feet's events at that time."""
        state = snapshot or {}
        speed = float(state.get("belt_speed_m_s") or 0.0)
        travel = 0.0 if self._last_s is None else speed * (now_s - self._last_s)
        self._last_s = now_s
        self.belt_m += travel
        self.feet = {side: (x, y - travel) for side, (x, y) in self.feet.items()}
        swing = self._swing
        if swing is not None:
            swing.aim_y_m -= travel
            if now_s - swing.lifted_at_s >= swing.duration_s:
                self._land(swing, now_s)
        if self._swing is None and speed > 0.0 and now_s - self._landed_at_s >= self.ability.min_double_support_s:
            self._maybe_lift(now_s, speed, state)
        return [self._event(side, now_s) for side in Side]

    # -- internals --------------------------------------------------------------------------

    def _maybe_lift(self, now_s: float, speed: float, state: Mapping[str, Any]) -> None:
        a = self.ability
        targets = _coming(state, speed, now_s)
        foot = self._leading.other if self._leading is not None else (targets[0][0] if targets else Side.LEFT)
        stance_y = self.feet[foot.other][1]
        index, aim_x, length = self._plan(foot, stance_y, targets)
        swing_s = max(_MIN_SWING_S, min(a.swing_s, _SWING_SHARE_OF_STEP * length / speed))
        if stance_y - speed * swing_s > -length / 2.0:
            return  # lifting now would land ahead of centre: wait for the belt
        x, y = self.feet[foot]
        self._swing = _Swing(
            foot, x, y,
            aim_x + self._rng.gauss(0.0, a.placement_sd_m),
            stance_y + length + self._rng.gauss(0.0, a.placement_sd_m),
            now_s, swing_s, index,
        )

    def _plan(self, foot: Side, stance_y: float, targets: list[_Coming]) -> tuple[int | None, float, float]:
        """The target aimed at (None: none), where across, and the step length (along the belt).

        The nearest coming target ahead of the standing foot decides. The swinging foot's own: step
        onto it, or as far as the walker can. The standing foot's (the walker is out of step with
        the targets, after a skipped one or at the start): a short step in between, so that the
        standing foot can step onto it next, as a patient falls back into step.
        """
        a = self.ability
        ahead = [t for t in targets if t[3] > stance_y + _MIN_STEP_M]
        if not ahead:
            return None, foot.lateral_sign * a.step_width_m / 2.0, min(a.comfortable_step_m, a.max_step_length_m)
        side, index, x, y = ahead[0]
        gap = y - stance_y
        if side is foot:
            return index, x, min(gap, a.max_step_length_m)
        length = min(max(gap - a.comfortable_step_m, _MIN_STEP_M), gap / 2.0, a.max_step_length_m)
        return None, foot.lateral_sign * a.step_width_m / 2.0, length

    def _land(self, swing: _Swing, now_s: float) -> None:
        self.feet[swing.foot] = (swing.aim_x_m, swing.aim_y_m)
        belt = swing.aim_y_m + self.belt_m
        other = next((s for s in reversed(self.steps) if s.foot is swing.foot.other), None)
        self.steps.append(WalkerStep(swing.foot, now_s, belt, None if other is None else belt - other.belt_m,
                                     swing.target_index))
        self._swing = None
        self._leading = swing.foot
        self._landed_at_s = now_s

    def _event(self, side: Side, now_s: float) -> FootEvent:
        swing = self._swing
        if swing is not None and swing.foot is side:
            u = (now_s - swing.lifted_at_s) / swing.duration_s
            s = 0.5 - 0.5 * math.cos(math.pi * min(1.0, u / _HORIZONTAL_SHARE))
            x = swing.start_x_m + (swing.aim_x_m - swing.start_x_m) * s
            y = swing.start_y_m + (swing.aim_y_m - swing.start_y_m) * s
            z = self.ability.lift_m * math.sin(math.pi * min(1.0, u))
        else:
            (x, y), z = self.feet[side], 0.0
        self._seq += 1
        return FootEvent(side, x, y, z, None, None, now_s, self._seq)


def _coming(state: Mapping[str, Any], speed: float, now_s: float) -> list[_Coming]:
    """The snapshot's coming targets as (foot, index, x, y now), nearest first; ``y`` is moved on
    by the belt since the snapshot was taken."""
    taken_s = state.get("t_s")
    age = 0.0 if taken_s is None else max(0.0, now_s - float(taken_s))
    out = []
    for t in state.get("targets") or ():
        if t.get("state", "coming") == "coming" and t.get("foot") in ("L", "R"):
            out.append((Side(t["foot"]), t.get("index"), float(t["x_m"]), float(t["y_m"]) - speed * age))
    return sorted(out, key=lambda item: item[3])
