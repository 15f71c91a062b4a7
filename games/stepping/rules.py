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
import random
from dataclasses import dataclass
from enum import StrEnum

from games.base import Outcome, TrialResult
from games.events import FootEvent, Side
from games.stepping.settings import STEP_DIRECTIONS, SteppingSettings, home_spot
from games.tracking import FootTrack
from games.trials import ReadyGate


class Phase(StrEnum):
    HOME = "home"
    TARGET = "target"
    DWELL = "dwell"
    PAUSED = "paused"
    FINISHED = "finished"


@dataclass(slots=True)
class Target:
    foot: Side
    direction: str
    direction_deg: float
    x_m: float
    y_m: float
    distance_m: float
    radius_m: float
    shown_at_s: float
    time_window_s: float


_DIRECTION_ANGLES = dict(STEP_DIRECTIONS)


class SteppingRules:
    def __init__(self, settings: SteppingSettings, difficulty: dict[str, float]) -> None:
        self.settings = settings
        self.difficulty = dict(difficulty)
        self._rng = random.Random(settings.seed)
        self.phase = Phase.HOME
        self.feet = {side: FootTrack(*home_spot(side, settings), 0.0) for side in Side}
        self.target: Target | None = None
        self.trial_index = 0
        self.hits = 0
        self.last_result: TrialResult | None = None
        self._ready = ReadyGate(settings.inter_trial_s)
        self._lift_at: float | None = None
        self._landed_at: float | None = None
        self._landing: tuple[float, float] | None = None
        self._max_lift: float | None = None
        self._phase_before_pause = Phase.HOME

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
            self._update_home(now_s)
            if self._ready.due(now_s):
                self._show_target(now_s)
        elif self.phase is Phase.TARGET and self.target is not None:
            if now_s - self.target.shown_at_s >= self.target.time_window_s:
                return [self._finish(Outcome.TIMEOUT, now_s)]
        elif self.phase is Phase.DWELL and self._landed_at is not None:
            if now_s - self._landed_at >= self.settings.dwell_s:
                return [self._finish(Outcome.HIT, now_s)]
        return []

    def pause(self) -> None:
        """Pause; a trial in progress is voided (not scored), as the patient was interrupted."""
        if self.phase in (Phase.PAUSED, Phase.FINISHED):
            return
        self.target = None
        self._ready.reset()
        self.phase = Phase.PAUSED

    def resume(self) -> None:
        if self.phase is Phase.PAUSED:
            self.phase = Phase.HOME

    def finish(self) -> None:
        self.phase = Phase.FINISHED

    @property
    def finished(self) -> bool:
        return self.phase is Phase.FINISHED

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
                if self._lift_at is None:
                    self._lift_at = now_s
                if event.contact is None:
                    self._max_lift = max(self._max_lift or 0.0, event.z_m)
                return []
            if was_planted or self._lift_at is None:
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

    def _update_home(self, now_s: float) -> None:
        if self.trial_index >= self.settings.trials > 0:
            self.phase = Phase.FINISHED
            return
        self._ready.update(all(self._is_home(side) for side in Side), now_s)

    def _is_home(self, side: Side) -> bool:
        track = self.feet[side]
        hx, hy = home_spot(side, self.settings)
        return track.seen and track.planted and math.hypot(track.x_m - hx, track.y_m - hy) <= self.settings.home_radius_m

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
        self._lift_at = self._landed_at = None
        self._landing = None
        self._max_lift = None
        self._ready.reset()

    def _finish(self, outcome: Outcome, now_s: float) -> TrialResult:
        target = self.target
        assert target is not None
        error = None
        if self._landing is not None:
            error = math.hypot(self._landing[0] - target.x_m, self._landing[1] - target.y_m)
        result = TrialResult(
            index=self.trial_index,
            foot=target.foot,
            direction=target.direction,
            direction_deg=target.direction_deg,
            target_x_m=target.x_m,
            target_y_m=target.y_m,
            target_distance_m=target.distance_m,
            target_radius_m=target.radius_m,
            outcome=outcome,
            shown_at_s=target.shown_at_s,
            ended_at_s=now_s,
            reaction_time_s=None if self._lift_at is None else self._lift_at - target.shown_at_s,
            movement_time_s=(
                None
                if self._lift_at is None or self._landed_at is None
                else self._landed_at - self._lift_at
            ),
            placement_error_m=error,
            landing_x_m=None if self._landing is None else self._landing[0],
            landing_y_m=None if self._landing is None else self._landing[1],
            foot_lift_m=self._max_lift,
            difficulty={
                "step_distance_frac": self.difficulty["step_distance_frac"],
                "target_radius_m": target.radius_m,
                "time_window_s": target.time_window_s,
            },
        )
        self.trial_index += 1
        self.hits += outcome.success
        self.last_result = result
        self.target = None
        self.phase = Phase.HOME
        self._ready.reset()
        self._update_home(now_s)
        return result
