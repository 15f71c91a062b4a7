"""Stepping game rules as a pure state machine: no Panda3D, no network, no clock of its own.

The caller tells the rules the time and, for each foot event, whether that foot is inside the
target (the scene answers that with its collision traverser). That keeps every rule testable with
plain numbers.

Trial life cycle::

    HOME ──both feet home for inter_trial_s──▶ TARGET ──named foot lands inside──▶ DWELL
      ▲                                         │ lands outside: MISS                │ held dwell_s: HIT
      │                                         │ other foot lands inside: WRONG_FOOT│ leaves early: MISS
      └──────────────── result recorded ◀───────┴ window over: TIMEOUT ◀─────────────┘
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from games.base import Outcome, TrialResult
from games.events import FootEvent, Side
from games.stepping.settings import STEP_DIRECTIONS, SteppingSettings, home_spot
from games.tracking import FootTrack, Lift
from games.trials import TrialLoop, TrialTarget


class Phase(StrEnum):
    HOME = "home"
    TARGET = "target"
    DWELL = "dwell"
    PAUSED = "paused"
    FINISHED = "finished"


@dataclass(slots=True)
class Target(TrialTarget):
    foot: Side


_DIRECTION_ANGLES = dict(STEP_DIRECTIONS)


class SteppingRules(TrialLoop[SteppingSettings, Target]):
    phases = Phase

    def __init__(self, settings: SteppingSettings, difficulty: dict[str, float]) -> None:
        super().__init__(settings)
        self.difficulty = dict(difficulty)
        self._lift = Lift()
        self._landed_at: float | None = None
        self._landing: tuple[float, float] | None = None
        self._phase_before_pause = Phase.HOME
        # the settings the home spots were worked out for, and those spots (``_is_home``, every event)
        self._homes: tuple[SteppingSettings | None, dict[Side, tuple[float, float]]] = (None, {})

    # -- inputs -----------------------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        track = self.feet[event.side]
        was_planted = track.update(event, self.settings.lift_height_m, self.settings.plant_height_m)
        if self.phase is Phase.TARGET:
            return self._during_target(event, track, was_planted, now_s, inside_target)
        if self.phase is Phase.DWELL:
            return self._during_dwell(event, track, now_s, inside_target)
        if self.phase is Phase.HOME:
            self._update_home(now_s)
        return []

    def tick(self, now_s: float) -> list[TrialResult]:
        if self.phase is Phase.HOME:
            self._wait_at_home(now_s)
        elif self.phase is Phase.TARGET and self.target is not None:
            if now_s - self.target.shown_at_s >= self.target.time_window_s:
                return [self._finish(Outcome.TIMEOUT, now_s)]
        elif self.phase is Phase.DWELL and self._landed_at is not None:
            if now_s - self._landed_at >= self.settings.dwell_s:
                return [self._finish(Outcome.HIT, now_s)]
        return []

    def next_timer_s(self) -> float:
        """:meth:`tick`'s three timers: the wait at home, the target's window, the dwell."""
        phase = self.phase
        if phase is Phase.HOME:
            return self._home_timer_s()
        if phase is Phase.TARGET and self.target is not None:
            return self.target.shown_at_s + self.target.time_window_s
        if phase is Phase.DWELL and self._landed_at is not None:
            return self._landed_at + self.settings.dwell_s
        return float("-inf")  # paused or finished: ticked as ever

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        """One set of values for every direction: stepping does not adapt per direction."""
        self.difficulty.update(values)

    def finish(self) -> None:
        """Unlike the other games, a target still up stays in place (and in the snapshot)."""
        self.phase = Phase.FINISHED

    # -- proprioception training (the ``vision`` setting) -------------------------------------

    def target_hidden(self, now_s: float) -> bool:
        """``target_vanishes``: the headset stops drawing the target once the stepping foot lifts,
        or ``vanish_after_s`` after it appeared when that is > 0 and comes first. The rules still
        judge the step against the real target."""
        s, target = self.settings, self.target
        if s.vision != "target_vanishes" or target is None:
            return False
        timed_out = s.vanish_after_s > 0 and now_s - target.shown_at_s >= s.vanish_after_s
        return self._lift.at_s is not None or timed_out

    @property
    def hidden_foot(self) -> Side | None:
        """``foot_hidden``: the stepping foot's avatar is hidden from lift-off until the trial ends."""
        target = self.target
        if self.settings.vision != "foot_hidden" or target is None or self._lift.at_s is None:
            return None
        return target.foot

    def time_left_s(self, now_s: float) -> float | None:
        if self.phase is Phase.TARGET and self.target is not None:
            return max(0.0, self.target.time_window_s - (now_s - self.target.shown_at_s))
        if self.phase is Phase.DWELL and self._landed_at is not None:
            return max(0.0, self.settings.dwell_s - (now_s - self._landed_at))
        return None

    # -- phases -----------------------------------------------------------------------------

    def _during_target(
        self, event: FootEvent, track: FootTrack, was_planted: bool, now_s: float, inside: bool
    ) -> list[TrialResult]:
        target = self.target
        assert target is not None
        if event.side is target.foot:
            if not track.planted:
                self._lift.airborne(event, now_s)
                return []
            if was_planted or self._lift.at_s is None:
                return []  # still standing: sliding the foot is not a step
            self._landed_at = now_s
            self._landing = (event.x_m, event.y_m)
            if inside:
                self.phase = Phase.DWELL
                return []
            return [self._finish(Outcome.MISS, now_s)]
        if track.planted and not was_planted and inside:
            self._landing = (event.x_m, event.y_m)
            return [self._finish(Outcome.WRONG_FOOT, now_s)]
        return []

    def _during_dwell(
        self, event: FootEvent, track: FootTrack, now_s: float, inside: bool
    ) -> list[TrialResult]:
        assert self.target is not None
        if event.side is self.target.foot and (not track.planted or not inside):
            return [self._finish(Outcome.MISS, now_s)]
        return []

    def _is_ready(self) -> bool:
        return self._is_home(Side.LEFT) and self._is_home(Side.RIGHT)  # on every event at home: no generator

    def _is_home(self, side: Side) -> bool:
        track = self.feet[side]
        if not (track.seen and track.planted):  # a lifted foot (half of all events): no geometry
            return False
        settings = self.settings
        homes = self._homes
        if homes[0] is not settings:  # the home spots, worked out again only when the settings change
            homes = self._homes = (settings, {s: home_spot(s, settings) for s in Side})
        hx, hy = homes[1][side]
        return math.hypot(track.x_m - hx, track.y_m - hy) <= settings.home_radius_m

    def _show_target(self, now_s: float) -> None:
        s = self.settings
        other = s.affected_side.other
        foot = s.affected_side if self._rng.random() < s.affected_side_share else other
        direction = self._rng.choice(s.directions)
        angle = _DIRECTION_ANGLES[direction]
        distance = self.difficulty["step_distance_frac"] * s.reach_m
        hx, hy = home_spot(foot, s)
        rad = math.radians(angle)
        x = hx + foot.lateral_sign * distance * math.sin(rad)
        y = hy + distance * math.cos(rad)
        # Patient-frame azimuth: 0 = forward (+y), 90 = right (+x).
        azimuth = math.degrees(math.atan2(x - hx, y - hy)) % 360.0
        self.target = Target(
            foot=foot,
            direction=direction,
            direction_deg=round(azimuth, 6),
            x_m=x,
            y_m=y,
            distance_m=distance,
            radius_m=self.difficulty["target_radius_m"],
            shown_at_s=now_s,
            time_window_s=self.difficulty["time_window_s"],
        )
        self.phase = Phase.TARGET
        self._lift = Lift()
        self._landed_at = None
        self._landing = None
        self._ready.reset()

    def _finish(self, outcome: Outcome, now_s: float) -> TrialResult:
        target = self.target
        assert target is not None
        lift, landed = self._lift.at_s, self._landed_at
        return self._conclude(
            outcome,
            now_s,
            foot=target.foot,
            moved_at_s=lift,
            movement_time_s=None if lift is None or landed is None else landed - lift,
            landing=self._landing,
            foot_lift_m=self._lift.max_m,
            measures=self._position_measures(target, outcome),
            difficulty={
                "step_distance_frac": self.difficulty["step_distance_frac"],
                "target_radius_m": target.radius_m,
                "time_window_s": target.time_window_s,
            },
        )

    def _position_measures(self, target: Target, outcome: Outcome) -> dict[str, float | str]:
        """The vision the step was made with and, when the stepping foot landed, where relative to
        the target: + AP = too far forward, + ML = too far lateral for that foot. A wrong-foot
        landing is the other foot's, so it says nothing about this foot's position sense."""
        measures: dict[str, float | str] = {"vision": self.settings.vision}
        if self._landing is None or outcome is Outcome.WRONG_FOOT:
            return measures
        dx, dy = self._landing[0] - target.x_m, self._landing[1] - target.y_m
        measures["position_error_m"] = math.hypot(dx, dy)
        measures["position_error_ap_m"] = dy
        measures["position_error_ml_m"] = target.foot.lateral_sign * dx
        return measures
