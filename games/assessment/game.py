"""The assessment as the server runs it: a guided protocol of stages, one after the other, on one
Panda3D scene and one game clock.

Each stage starts by raising a ``stage`` game event (the headset shows its instruction), waits for
the patient to stand ready and then times itself. Results of every stage are numbered in one
sequence (the store keeps one row per session and trial index). Nothing adapts: the staircase has
no parameters, so one assessment compares with the next.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from games.assessment.four_square import FourSquareStage
from games.assessment.lean import LeanStage
from games.assessment.quiet import QuietStage
from games.assessment.settings import (
    ASSESSMENT_PARAMETERS,
    FIVE_STS,
    FSST,
    LIMITS_OF_STABILITY,
    QUIET_STAGES,
    REACH,
    TEN_METRE_WALK,
    TIMED_STEPPING,
    TUG,
    WALK,
    AssessmentSettings,
)
from games.assessment.stage import Stage, r4
from games.assessment.standard import FiveTimesSitToStandStage, TenMetreWalkStage, TimedUpAndGoStage
from games.assessment.standing import cursor_part
from games.assessment.targets import ReachStage, TimedSteppingStage
from games.assessment.walk import WalkStage
from games.base import EmitsEvents, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.frame import home_spot
from games.scene import FloorScene, GameClock
from games.scene_game import feet_part, result_part
from games.tracking import FootTrack

# Parts of a stage's snapshot that describe the stage itself: they go into the state's ``stage``.
STAGE_INFO = ("eyes", "lean", "test", "pelvis", "stands", "turn_line_m", "walked_m", "course_m", "timed_from_m",
              "timed_to_m", "next_square", "squares")


def make_stage(name: str, settings: AssessmentSettings) -> Stage:
    if name in QUIET_STAGES:
        return QuietStage(name, settings)
    if name == LIMITS_OF_STABILITY:
        return LeanStage(settings)
    if name == REACH:
        return ReachStage(settings)
    if name == WALK:
        return WalkStage(settings)
    if name == TIMED_STEPPING:
        return TimedSteppingStage(settings)
    if name == FIVE_STS:
        return FiveTimesSitToStandStage(settings)
    if name == TUG:
        return TimedUpAndGoStage(settings)
    if name == FSST:
        return FourSquareStage(settings)
    if name == TEN_METRE_WALK:
        return TenMetreWalkStage(settings)
    raise ValueError(f"unknown assessment stage {name!r}")


class AssessmentGame(EmitsEvents):
    name = "assessment"
    parameter_specs = ASSESSMENT_PARAMETERS
    adapts_per_direction = False

    def __init__(self, settings: AssessmentSettings, difficulty: dict[str, float], start_s: float) -> None:
        self.settings = settings
        self.clock = GameClock(start_s)
        self.scene = FloorScene(self.name)
        self.feet = {side: FootTrack(*home_spot(side, settings.stance_half_width_m), 0.0) for side in Side}
        self.last_foot_seq: dict[Side, int] = {}
        self._no_constant_part: dict[str, Any] = {}
        self.stages: list[Stage] = [make_stage(n, settings) for n in settings.stage_order]
        self.stage_index = -1
        self.last_result: TrialResult | None = None
        self.cursor: BalanceEvent | None = None
        self._trials = 0
        self._hits = 0
        self._paused = False
        self._finished = False
        self._events: list[dict[str, Any]] = []
        self._version = 0
        self._advance(self.clock.now)

    # -- stages ---------------------------------------------------------------------------------

    @property
    def stage(self) -> Stage | None:
        return self.stages[self.stage_index] if 0 <= self.stage_index < len(self.stages) else None

    def _advance(self, now_s: float) -> None:
        """Start the next stage whenever the current one is done (or there is none yet)."""
        while not self._finished and (self.stage is None or self.stage.done):
            self.stage_index += 1
            stage = self.stage
            if stage is None:
                self._finished = True
                break
            stage.start(self.feet, now_s)
            self.emit("stage", stage=stage.name, index=self.stage_index, count=len(self.stages),
                      instruction=stage.instruction)
            if self._paused:
                stage.pause(now_s)

    def _after(self, results: list[TrialResult], now_s: float) -> list[TrialResult]:
        """Number the results in the session's sequence, move on when a stage is done, and keep
        the scene's target in step with the stage's."""
        numbered = []
        for result in results:
            result = replace(result, index=self._trials)
            self._trials += 1
            self._hits += result.outcome.success
            self.last_result = result
            numbered.append(result)
        self._advance(now_s)
        stage = self.stage
        target = None if stage is None or self._finished else stage.target
        self.scene.follow_target(target)
        self._version += 1
        return numbered


    # -- Game protocol: inputs ----------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        t = self.clock.advance(now_s)
        s = self.settings
        self.feet[event.side].update(event, s.lift_height_m, s.plant_height_m)
        self.last_foot_seq[event.side] = event.seq
        self.scene.move_foot(event.side, event.x_m, event.y_m, event.z_m)
        stage = self.stage
        if stage is None or self._finished:
            self._version += 1
            return []
        inside = stage.target is not None and event.side in self.scene.feet_in_target()
        return self._after(stage.on_foot(event, t, inside), t)

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        t = self.clock.advance(now_s)
        self.cursor = event
        stage = self.stage
        if stage is None or self._finished:
            self._version += 1
            return []
        return self._after(stage.on_balance(event, t), t)

    def tick(self, now_s: float) -> list[TrialResult]:
        t = self.clock.advance(now_s)
        stage = self.stage
        if stage is None or self._finished or self._paused:
            return []
        before = (self.stage_index, stage.phase, stage.target)
        results = stage.tick(t)
        if results or before != (self.stage_index, stage.phase, stage.target):
            return self._after(results, t)
        return []

    def next_timer_s(self) -> float:
        """Each stage keeps its own time: ticked every period."""
        return float("-inf")

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        """Nothing adapts in an assessment."""

    def update_settings(self, values: dict[str, Any]) -> dict[str, Any]:
        before = {name: getattr(self.settings, name) for name in values}
        self.settings = replace(self.settings, **values)
        return before

    def pause(self, now_s: float) -> None:
        t = self.clock.advance(now_s)
        if self._paused or self._finished:
            return
        self._paused = True
        if (stage := self.stage) is not None:
            stage.pause(t)
        self._after([], t)

    def resume(self, now_s: float) -> None:
        t = self.clock.advance(now_s)
        if not self._paused:
            return
        self._paused = False
        if (stage := self.stage) is not None:
            stage.resume(t)
        self._version += 1

    def finish(self) -> None:
        if (stage := self.stage) is not None:
            stage.finish()
        self._finished = True
        self.scene.follow_target(None)
        self._version += 1

    def close(self) -> None:
        self.scene.destroy()

    def home_spot(self, side: Side) -> tuple[float, float]:
        stage = self.stage
        if stage is None:
            return home_spot(side, self.settings.stance_half_width_m)
        return stage.home_spot(side)

    # -- Game protocol: state -----------------------------------------------------------------

    @property
    def trials_done(self) -> int:
        return self._trials

    @property
    def hits(self) -> int:
        return self._hits

    @property
    def version(self) -> int:
        return self._version

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def phase(self) -> str:
        stage = self.stage
        if self._finished or stage is None:
            return "finished"
        return "paused" if self._paused else stage.phase

    def snapshot_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """All of it changes with the stage, so all of it is built for every state."""
        return self.snapshot(), self._no_constant_part

    def snapshot(self) -> dict[str, Any]:
        """The headset draws the running stage's parts (``target``, ``feet``, ``cursor``,
        ``touch``) as it draws the training games', and shows ``stage.instruction``; ``stage``
        also says the eyes of a quiet stand and the current lean of the limits of stability."""
        now = self.clock.now
        stage = self.stage
        running = stage is not None and not self._finished
        time_left = stage.time_left_s(now) if running and stage is not None and not self._paused else None
        parts: dict[str, Any] = stage.parts() if running and stage is not None else {"target": None}
        return {
            "game": self.name,
            "phase": self.phase,
            "t_s": now,
            "trial": self._trials,
            "trials_planned": sum(s.planned for s in self.stages),
            "hits": self._hits,
            "time_left_s": r4(time_left),
            "stage": None if stage is None else {
                "name": stage.name,
                "index": self.stage_index,
                "count": len(self.stages),
                "instruction": stage.instruction,
                "time_left_s": r4(time_left),
                "progress": stage.progress(now),
                **{key: parts.pop(key) for key in STAGE_INFO if key in parts},
            },
            "stages": [s.name for s in self.stages],
            **parts,
            "feet": feet_part(self.feet),
            "cursor": cursor_part(self.cursor),
            "last": None if self.last_result is None else result_part(self.last_result),
            "home": {side.value: dict(zip(("x_m", "y_m"), self.home_spot(side), strict=True)) for side in Side},
            "foot_seq": {side.value: seq for side, seq in self.last_foot_seq.items()},
        }
