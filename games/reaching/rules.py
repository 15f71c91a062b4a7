"""Reaching game rules (Star Excursion Balance Test style) as a pure state machine.

No Panda3D, no network, no clock of its own: the caller passes the time and, for each foot event,
whether that foot is inside the target (the scene's collision answer), so every rule is testable
with plain numbers.

Trial life cycle::

    HOME ──both feet home for inter_trial_s──▶ TARGET ──reaching foot lifts, then touches down──▶ TOUCH
      ▲                                          │ window over: TIMEOUT       shorter than touch_min_s: │
      │                                          ◀──────────────────── scuff, the reach goes on ◀───────┤
      │                                                                         foot lifts again:        ▼
      └─ HIT (touched inside) / MISS (outside) ◀── reaching foot back home ◀────────────── RETURN

A touch anywhere ends the reach: inside the target it is a HIT, elsewhere a MISS, decided when the
foot is back home (or as it lifts off the touch, without ``return_home``). Any time during a trial a
FAULT ends it, with the reason in ``measures["fault"]``:

- ``stance_lifted`` / ``stance_moved``: the stance foot left the floor or drifted more than
  ``stance_tolerance_m`` from where it stood when the target appeared (loss of balance);
- ``weight_bearing``: the touching foot carried more than ``touch_force_share_max`` of both feet's
  force (pressure mat per-foot forces, or the balance plate's left/right share);
- ``foot_rested``: the touch, or any other contact of the reaching foot away from home, lasted
  longer than ``touch_max_s`` (a touch ends only when the foot lifts off it);
- ``cop_outside``: while the reaching foot was in the air, a measured centre of pressure left the
  stance foot's outline by more than ``cop_margin_m``. A tracker's pelvis proxy is not judged: in a
  far reach the pelvis swings back past the heel while the true centre of mass stays over the foot;
- ``no_return``: the foot was not back home within ``return_max_s`` of leaving the touch.

Reach is the projection of the touch point, from the stance foot's spot when the target appeared,
onto the direction: ``reach_m``, and ``reach_pct_ll = 100 * reach_m / leg_length_m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from games.base import Outcome, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.frame import azimuth_deg
from games.per_direction import DirectionDifficulty
from games.reaching.settings import DIRECTION_NAMES, REACH_DIRECTIONS, ReachingSettings
from games.tracking import FootTrack, Lift
from games.trials import TrialLoop, TrialTarget, next_direction

# Below this total force a mat's left/right split is noise (a foot barely resting, a sensor offset).
MIN_TOTAL_FORCE_N = 50.0

_ANGLES = dict(REACH_DIRECTIONS)


class Phase(StrEnum):
    HOME = "home"
    TARGET = "target"
    TOUCH = "touch"
    RETURN = "return"
    PAUSED = "paused"
    FINISHED = "finished"


_IN_TRIAL = (Phase.TARGET, Phase.TOUCH, Phase.RETURN)


@dataclass(slots=True)
class ReachTarget(TrialTarget):
    """One trial's target. ``anchor`` is the stance foot's spot when the target appeared: the
    centre of the star, from which the target is placed and the reach is measured."""

    stance: Side
    foot: Side
    ux: float
    uy: float
    anchor_x_m: float
    anchor_y_m: float
    difficulty: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Touch:
    x_m: float
    y_m: float
    at_s: float
    inside: bool
    ended_at_s: float | None = None


def reach_along(target: ReachTarget, x_m: float, y_m: float) -> float:
    """How far a floor point lies along the target's direction from the star's centre, in metres."""
    return (x_m - target.anchor_x_m) * target.ux + (y_m - target.anchor_y_m) * target.uy


class ReachingRules(TrialLoop[ReachingSettings, ReachTarget]):
    phases = Phase

    def __init__(self, settings: ReachingSettings, difficulty: dict[str, float]) -> None:
        super().__init__(settings)
        self.difficulty = DirectionDifficulty(difficulty, DIRECTION_NAMES)
        self.touch: Touch | None = None
        self._clear_trial()

    def _clear_trial(self) -> None:
        self.touch = None
        self._lift = Lift()
        self._away_since_s: float | None = None  # reaching foot touching or down away from home since
        self._max_share: float | None = None

    def stance_for(self, trial_index: int) -> Side:
        s = self.settings
        return s.stance_side.other if s.alternate_legs and trial_index % 2 else s.stance_side

    # -- inputs -----------------------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        s = self.settings
        track = self.feet[event.side]
        was_planted = track.update(event, s.lift_height_m, s.plant_height_m)
        if self.phase in _IN_TRIAL:
            assert self.target is not None
            if event.side is self.target.stance:
                return self._on_stance_foot(track, now_s)
            return self._on_reaching_foot(event, track, was_planted, now_s, inside_target)
        if self.phase is Phase.HOME:
            self._update_home(now_s)
        return []

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        target = self.target
        if self.phase not in _IN_TRIAL or target is None:
            return []
        if self._away_since_s is not None and event.left_share is not None:
            share = event.left_share if target.foot is Side.LEFT else 1.0 - event.left_share
            if fault := self._weigh(share, now_s):
                return fault
        if event.source == "cop" and not self.feet[target.foot].planted:
            s, stance = self.settings, self.feet[target.stance]
            if (abs(event.x_m - stance.x_m) > s.foot_half_width_m + s.cop_margin_m
                    or abs(event.y_m - stance.y_m) > s.foot_half_length_m + s.cop_margin_m):
                return [self._finish(Outcome.FAULT, now_s, "cop_outside")]
        return []

    def tick(self, now_s: float) -> list[TrialResult]:
        s, target = self.settings, self.target
        if self.phase is Phase.HOME:
            self._wait_at_home(now_s)
            return []
        if self.phase not in _IN_TRIAL or target is None:
            return []
        if self._away_since_s is not None and now_s - self._away_since_s >= s.touch_max_s:
            return [self._finish(Outcome.FAULT, now_s, "foot_rested")]
        if self.phase is Phase.TARGET and now_s - target.shown_at_s >= target.time_window_s:
            return [self._finish(Outcome.TIMEOUT, now_s)]
        if self.phase is Phase.RETURN and self.touch is not None and self.touch.ended_at_s is not None:
            if now_s - self.touch.ended_at_s >= s.return_max_s:
                return [self._finish(Outcome.FAULT, now_s, "no_return")]
        return []

    def next_timer_s(self) -> float:
        """:meth:`tick`'s timers: the wait at home, the target's window, a rest away from home,
        the way back."""
        phase, target, s = self.phase, self.target, self.settings
        if phase is Phase.HOME:
            return self._home_timer_s()
        if phase not in _IN_TRIAL or target is None:
            return float("-inf")  # paused or finished: ticked as ever
        due = float("inf") if self._away_since_s is None else self._away_since_s + s.touch_max_s
        if phase is Phase.TARGET:
            due = min(due, target.shown_at_s + target.time_window_s)
        elif phase is Phase.RETURN and self.touch is not None and self.touch.ended_at_s is not None:
            due = min(due, self.touch.ended_at_s + s.return_max_s)
        return due

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        self.difficulty.set(values, direction)

    def time_left_s(self, now_s: float) -> float | None:
        target, touch = self.target, self.touch
        if self.phase is Phase.TARGET and target is not None:
            return max(0.0, target.time_window_s - (now_s - target.shown_at_s))
        if self.phase is Phase.TOUCH and touch is not None:
            return max(0.0, self.settings.touch_max_s - (now_s - touch.at_s))
        if self.phase is Phase.RETURN and touch is not None and touch.ended_at_s is not None:
            return max(0.0, self.settings.return_max_s - (now_s - touch.ended_at_s))
        return None

    # -- during a trial ---------------------------------------------------------------------

    def _on_stance_foot(self, track: FootTrack, now_s: float) -> list[TrialResult]:
        target = self.target
        assert target is not None
        if not track.planted:
            return [self._finish(Outcome.FAULT, now_s, "stance_lifted")]
        if track.distance_to(target.anchor_x_m, target.anchor_y_m) > self.settings.stance_tolerance_m:
            return [self._finish(Outcome.FAULT, now_s, "stance_moved")]
        return self._weigh(self._mat_share(), now_s) if self._away_since_s is not None else []

    def _on_reaching_foot(
        self, event: FootEvent, track: FootTrack, was_planted: bool, now_s: float, inside: bool
    ) -> list[TrialResult]:
        target = self.target
        assert target is not None
        home_m = track.distance_to(*self.home_spot(target.foot))
        home = track.planted and home_m <= self.settings.home_radius_m
        if self.phase is Phase.TARGET:
            results = self._while_reaching(event, track, was_planted, now_s, inside)
        elif self.phase is Phase.TOUCH:
            results = self._while_touching(track, now_s)
        else:  # RETURN
            results = [self._finish(self._touch_outcome(), now_s)] if home else []
        if results:
            return results
        # On the floor and not resting at home: the foot may touch, not lean on it.
        if track.planted and (self.phase is Phase.TOUCH or not home):
            if self._away_since_s is None:
                self._away_since_s = now_s
            return self._weigh(self._mat_share(), now_s)
        self._away_since_s = None
        return []

    def _while_reaching(
        self, event: FootEvent, track: FootTrack, was_planted: bool, now_s: float, inside: bool
    ) -> list[TrialResult]:
        if not track.planted:
            self._lift.airborne(event, now_s)
            return []
        if was_planted or self._lift.at_s is None:
            return []  # standing on it, or sliding it: not a touch
        self.touch = Touch(event.x_m, event.y_m, now_s, inside)
        self.phase = Phase.TOUCH
        return []

    def _while_touching(self, track: FootTrack, now_s: float) -> list[TrialResult]:
        """The touch ends when the foot lifts off it (sliding it home does not end it)."""
        touch = self.touch
        assert touch is not None
        if track.planted:
            return []
        touch.ended_at_s = now_s
        if now_s - touch.at_s < self.settings.touch_min_s:
            self.touch = None  # a scuff on the way: the reach goes on
            self.phase = Phase.TARGET
            return []
        if not self.settings.return_home:
            return [self._finish(self._touch_outcome(), now_s)]
        self.phase = Phase.RETURN
        return []

    def _mat_share(self) -> float | None:
        """The touching foot's share of both feet's force, from per-foot mat forces."""
        target = self.target
        assert target is not None
        reach_n, stance_n = self.feet[target.foot].force_n, self.feet[target.stance].force_n
        if reach_n is None or stance_n is None or reach_n + stance_n < MIN_TOTAL_FORCE_N:
            return None
        return reach_n / (reach_n + stance_n)

    def _weigh(self, share: float | None, now_s: float) -> list[TrialResult]:
        if share is None:
            return []
        self._max_share = max(self._max_share or 0.0, share)
        if share > self.settings.touch_force_share_max:
            return [self._finish(Outcome.FAULT, now_s, "weight_bearing")]
        return []

    def _touch_outcome(self) -> Outcome:
        assert self.touch is not None
        return Outcome.HIT if self.touch.inside else Outcome.MISS

    # -- between trials ---------------------------------------------------------------------

    def _is_ready(self) -> bool:
        return all(self._is_home(side) for side in Side)

    def _is_home(self, side: Side) -> bool:
        track = self.feet[side]
        return track.seen and track.planted and track.distance_to(*self.home_spot(side)) <= (
            self.settings.home_radius_m
        )

    def _show_target(self, now_s: float) -> None:
        s = self.settings
        stance = self.stance_for(self.trial_index)
        place = self.trial_index // 2 if s.alternate_legs else self.trial_index
        direction = next_direction(self._rng, s.directions, s.order, place)
        values = self.difficulty.values(direction)
        rad = math.radians(_ANGLES[direction])
        medial_sign = -stance.lateral_sign
        ux, uy = medial_sign * math.sin(rad) + 0.0, math.cos(rad) + 0.0  # + 0.0: no -0.0
        anchor = self.feet[stance]
        distance = values["reach_frac_ll"] * s.leg_length_m
        self.target = ReachTarget(
            stance=stance,
            foot=stance.other,
            direction=direction,
            direction_deg=round(azimuth_deg(ux, uy), 6),
            ux=ux,
            uy=uy,
            anchor_x_m=anchor.x_m,
            anchor_y_m=anchor.y_m,
            x_m=anchor.x_m + distance * ux,
            y_m=anchor.y_m + distance * uy,
            distance_m=distance,
            radius_m=values["target_radius_m"],
            shown_at_s=now_s,
            time_window_s=values["time_window_s"],
            difficulty=values,
        )
        self._clear_trial()
        self._ready.reset()
        self.phase = Phase.TARGET

    def _finish(self, outcome: Outcome, now_s: float, fault: str | None = None) -> TrialResult:
        target, touch = self.target, self.touch
        assert target is not None
        measures: dict[str, float | str] = {}
        if touch is not None:
            reach = reach_along(target, touch.x_m, touch.y_m)
            measures["reach_m"] = reach
            measures["reach_pct_ll"] = 100.0 * reach / self.settings.leg_length_m
            measures["touch_duration_s"] = (touch.ended_at_s or now_s) - touch.at_s
        if self._max_share is not None:
            measures["touch_force_share"] = self._max_share
        if fault is not None:
            measures["fault"] = fault
        lift = self._lift.at_s
        return self._conclude(
            outcome,
            now_s,
            foot=target.foot,
            moved_at_s=lift,
            movement_time_s=None if lift is None or touch is None else touch.at_s - lift,
            landing=None if touch is None else (touch.x_m, touch.y_m),
            foot_lift_m=self._lift.max_m,
            difficulty=dict(target.difficulty),
            measures=measures,
        )
