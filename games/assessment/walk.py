"""Comfortable walking or stepping in place: ``walk_steps`` steps, each a lift then a landing of
one foot, timed once both feet have stood home for ``ready_s``.

Per step (one result, ``direction="walk"``, ``foot`` = the stepping foot): ``step_length_m`` (the
landing's y minus the other foot's y where it last landed: about 0 in place), ``step_time_s``
(from the other foot's previous landing; absent for the first step, before which the other foot has
not landed), ``swing_time_s`` (lift to landing) and the lift height (``foot_lift_m``, only from a
tracker). The landing position goes in ``measures`` (``landing_x_m``, ``landing_y_m``), not in the
result's landing fields: those mean "where a step toward a target landed" to range-of-motion
scoring, and a walked step's y grows with the distance walked.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from games.assessment.settings import WALK, AssessmentSettings
from games.assessment.stage import Stage, copy_feet, feet_home, stage_result
from games.base import Outcome, TrialResult
from games.events import FootEvent, Side
from games.tracking import FootTrack, Lift, landed
from games.trials import ReadyGate

# A patient who stops walking does not hold up the rest of the assessment for ever.
WALK_MAX_S = 120.0


class WalkPhase(StrEnum):
    HOME = "home"
    WALK = "walk"
    DONE = "done"


class WalkStage(Stage):
    name = WALK

    def __init__(self, settings: AssessmentSettings) -> None:
        self.settings = settings
        self.instruction = f"Walk {settings.walk_steps} steps at your own comfortable pace (or step in place)"
        self.planned = settings.walk_steps
        self._gate = ReadyGate(settings.ready_s)
        self._phase = WalkPhase.HOME
        self._paused = False
        self._t0_s = 0.0
        self.steps = 0
        self.feet: dict[Side, FootTrack] = {}
        self._lifts: dict[Side, Lift] = {}
        self._landed: dict[Side, tuple[float | None, float]] = {}  # side -> (time or None, y)

    def start(self, feet: Mapping[Side, FootTrack], now_s: float) -> None:
        self.feet = copy_feet(feet)
        self._gate.update(self._ready(), now_s)

    def _ready(self) -> bool:
        return feet_home(self.feet, self, self.settings.home_radius_m)

    def _begin(self, now_s: float) -> None:
        """Timing starts: each foot's last landing is where it stands, at no known time."""
        self._phase, self._t0_s = WalkPhase.WALK, now_s
        self._lifts = {}
        self._landed = {side: (None, track.y_m) for side, track in self.feet.items()}

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        s = self.settings
        track = self.feet[event.side]
        was_planted = track.update(event, s.lift_height_m, s.plant_height_m)
        if self._paused:
            return []
        if self._phase is WalkPhase.HOME:
            self._gate.update(self._ready(), now_s)
            return []
        if self._phase is not WalkPhase.WALK:
            return []
        lift = landed(track, was_planted, self._lifts, event, now_s)
        return [] if lift is None else [self._step(event, lift, now_s)]

    def _step(self, event: FootEvent, lift: Lift, now_s: float) -> TrialResult:
        assert lift.at_s is not None
        side = event.side
        other_t, other_y = self._landed.get(side.other, (None, self.feet[side.other].y_m))
        self._landed[side] = (now_s, event.y_m)
        self.steps += 1
        measures: dict[str, float | str] = {
            "stage": WALK,
            "step": self.steps,
            "step_length_m": event.y_m - other_y,
            "swing_time_s": now_s - lift.at_s,
            "landing_x_m": event.x_m,
            "landing_y_m": event.y_m,
        }
        if other_t is not None:
            measures["step_time_s"] = now_s - other_t
        if self.steps >= self.settings.walk_steps:
            self._phase = WalkPhase.DONE
        return stage_result(foot=side, direction=WALK, outcome=Outcome.HIT, shown_at_s=lift.at_s,
                            ended_at_s=now_s, movement_time_s=now_s - lift.at_s, foot_lift_m=lift.max_m,
                            measures=measures)

    def tick(self, now_s: float) -> list[TrialResult]:
        if self._paused:
            return []
        if self._phase is WalkPhase.HOME:
            self._gate.update(self._ready(), now_s)
            if self._gate.due(now_s):
                self._begin(now_s)
        elif self._phase is WalkPhase.WALK and now_s - self._t0_s >= WALK_MAX_S:
            self._phase = WalkPhase.DONE
        return []

    def pause(self, now_s: float) -> None:
        """Steps already taken stand; after the pause the patient starts again from home, and a
        step time never spans the pause."""
        self._paused = True
        if self._phase is WalkPhase.WALK:
            self._phase = WalkPhase.HOME
        self._gate.reset()

    @property
    def done(self) -> bool:
        return self._phase is WalkPhase.DONE

    @property
    def phase(self) -> str:
        return self._phase.value

    def progress(self, now_s: float) -> str:
        return f"{self.steps}/{self.settings.walk_steps}"
