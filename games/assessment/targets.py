"""The stages played against floor targets, run by the training games' own rules so an assessment
measures exactly what the games measure.

``reach``: the reaching game's rules (SEBT), the directions cycled in the therapist's order, first
standing on the unaffected leg (the affected foot reaches), then on the affected leg. The target
sits at the far end of the scale (``reach_frac_ll`` at its maximum) so it is a marker to reach
toward, not a goal to stop at: the touch measures the patient's maximum reach.

``timed_stepping``: the stepping game's rules at a fixed, moderate difficulty, feet alternating
(unaffected first) through a fixed sequence of directions, so every assessment asks the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from games.assessment.settings import REACH, TIMED_STEPPING, AssessmentSettings
from games.assessment.stage import Stage, copy_feet, r4
from games.base import Outcome, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.reaching.rules import ReachingRules
from games.reaching.settings import REACHING_PARAMETERS, ReachingSettings
from games.stepping.rules import SteppingRules
from games.stepping.settings import DIRECTION_NAMES as STEP_DIRECTION_NAMES
from games.stepping.settings import SteppingSettings
from games.tracking import FootTrack

_REACH_FRAC_MAX = next(p.maximum for p in REACHING_PARAMETERS if p.name == "reach_frac_ll")
REACH_DIFFICULTY = {"reach_frac_ll": _REACH_FRAC_MAX, "target_radius_m": 0.05, "time_window_s": 10.0}
TIMED_DIFFICULTY = {"step_distance_frac": 0.5, "target_radius_m": 0.10, "time_window_s": 5.0}
TIMED_DWELL_S = 0.2
TIMED_INTER_TRIAL_S = 0.5
REACHED = (Outcome.HIT, Outcome.MISS)  # a touch was made: the reach counts


def _tagged(results: list[TrialResult], **extra: float | str) -> list[TrialResult]:
    return [replace(r, measures={**r.measures, **extra}) for r in results]


def _target_part(target: Any, **extra: Any) -> dict[str, Any] | None:
    if target is None:
        return None
    return {"foot": target.foot.value, "direction": target.direction, "x_m": r4(target.x_m),
            "y_m": r4(target.y_m), "radius_m": r4(target.radius_m), **extra}


class _RulesStage(Stage):
    """A stage played by a training game's rules (``self.rules``, made when the stage starts):
    pausing, finishing and what the headset shows are the rules' own."""

    rules: Any = None

    def pause(self, now_s: float) -> None:
        assert self.rules is not None
        self.rules.pause()

    def resume(self, now_s: float) -> None:
        assert self.rules is not None
        self.rules.resume()

    def finish(self) -> None:
        if self.rules is not None:
            self.rules.finish()

    @property
    def phase(self) -> str:
        return "done" if self.done or self.rules is None else self.rules.phase.value

    @property
    def target(self) -> Any:
        return None if self.done or self.rules is None else self.rules.target

    def time_left_s(self, now_s: float) -> float | None:
        return None if self.done or self.rules is None else self.rules.time_left_s(now_s)


class ReachStage(_RulesStage):
    """Blocks of reaches: per stance leg, every direction once, then again those that did not
    produce a reach (fault, timeout), up to ``reach_retries`` more times."""

    name = REACH

    def __init__(self, settings: AssessmentSettings) -> None:
        self.settings = settings
        self.stances = (settings.affected_side.other, settings.affected_side)
        self.planned = len(self.stances) * len(settings.reach_directions)
        self.stance_index = 0
        self.attempt = 0
        self.trials = 0
        self.rules: ReachingRules | None = None
        self.instruction = self._instruction(self.stances[0])
        self._missing: list[str] = []  # directions of the block in play without a reach yet

    def _reach_settings(self, stance: Side, directions: tuple[str, ...]) -> ReachingSettings:
        s = self.settings
        return ReachingSettings(stance_side=stance, leg_length_m=s.leg_length_m, directions=directions,
                                order="cycle", trials=len(directions), inter_trial_s=s.ready_s,
                                lift_height_m=s.lift_height_m, plant_height_m=s.plant_height_m, seed=s.seed)

    @staticmethod
    def _instruction(stance: Side) -> str:
        leg, other = ("left", "right") if stance is Side.LEFT else ("right", "left")
        return (f"Stand on your {leg} leg. Reach the {other} foot as far as you can toward each "
                "marker, touch the floor lightly and come back")

    def _block(self, stance: Side, directions: tuple[str, ...], feet: Mapping[Side, FootTrack]) -> None:
        self.rules = ReachingRules(self._reach_settings(stance, directions), REACH_DIFFICULTY)
        self.rules.feet = copy_feet(feet)
        self.instruction = self._instruction(stance)
        self._missing = list(directions)

    @property
    def stance(self) -> Side:
        return self.stances[min(self.stance_index, len(self.stances) - 1)]

    def start(self, feet: Mapping[Side, FootTrack], now_s: float) -> None:
        self._block(self.stance, self.settings.reach_directions, feet)

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        assert self.rules is not None
        return self._after(self.rules.on_foot(event, now_s, inside_target))

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        assert self.rules is not None
        return self._after(self.rules.on_balance(event, now_s))

    def tick(self, now_s: float) -> list[TrialResult]:
        assert self.rules is not None
        return self._after(self.rules.tick(now_s))

    def _after(self, results: list[TrialResult]) -> list[TrialResult]:
        rules = self.rules
        assert rules is not None
        for r in results:
            if r.outcome in REACHED and "reach_m" in r.measures and r.direction in self._missing:
                self._missing.remove(r.direction)
        self.trials += len(results)
        tagged = _tagged(results, stage=REACH, attempt=self.attempt)
        if rules.finished and not self.done:
            self._next_block(rules.feet)
        return tagged

    def _next_block(self, feet: Mapping[Side, FootTrack]) -> None:
        if self._missing and self.attempt < self.settings.reach_retries:
            self.attempt += 1
            self._block(self.stance, tuple(self._missing), feet)
            return
        self.stance_index += 1
        self.attempt = 0
        if self.stance_index < len(self.stances):
            self._block(self.stance, self.settings.reach_directions, feet)

    @property
    def done(self) -> bool:
        return self.stance_index >= len(self.stances)

    def progress(self, now_s: float) -> str:
        return f"{self.trials}/{self.planned}"

    def parts(self) -> dict[str, Any]:
        target = self.target
        touch = None if self.rules is None else self.rules.touch
        return {
            "target": None if target is None else _target_part(
                target, stance=target.stance.value, centre_x_m=r4(target.anchor_x_m),
                centre_y_m=r4(target.anchor_y_m), marker=True),
            "touch": None if touch is None else {"x_m": r4(touch.x_m), "y_m": r4(touch.y_m), "inside": touch.inside},
            "stance": self.stance.value,
        }

    def home_spot(self, side: Side) -> tuple[float, float]:
        rules = self.rules
        if rules is None:
            return super().home_spot(side)
        return rules.home_spot(side)


class _PlannedSteppingRules(SteppingRules):
    """The stepping rules with the foot and direction of each target fixed by a plan: the rules
    still place and judge the target; the plan only leaves them no choice to make."""

    def __init__(self, settings: SteppingSettings, difficulty: dict[str, float],
                 plan: tuple[tuple[Side, str], ...]) -> None:
        super().__init__(settings, difficulty)
        self.base = settings
        self.plan = plan

    def _show_target(self, now_s: float) -> None:
        foot, direction = self.plan[self.trial_index % len(self.plan)]
        share = 1.0 if foot is self.base.affected_side else 0.0  # the rules draw foot = affected iff < share
        self.settings = replace(self.base, affected_side_share=share, directions=(direction,))
        super()._show_target(now_s)


def timed_plan(affected: Side, targets: int) -> tuple[tuple[Side, str], ...]:
    """Feet alternate, unaffected first; each pair of targets takes the next direction, so both
    feet step the same directions."""
    feet = (affected.other, affected)
    return tuple((feet[i % 2], STEP_DIRECTION_NAMES[(i // 2) % len(STEP_DIRECTION_NAMES)]) for i in range(targets))


class TimedSteppingStage(_RulesStage):
    name = TIMED_STEPPING

    def __init__(self, settings: AssessmentSettings) -> None:
        self.settings = settings
        self.instruction = "Step onto each target with the foot it shows, as fast as you can, and back home"
        self.planned = settings.timed_targets
        self.rules: _PlannedSteppingRules | None = None

    def start(self, feet: Mapping[Side, FootTrack], now_s: float) -> None:
        s = self.settings
        stepping = SteppingSettings(
            affected_side=s.affected_side, reach_m=s.step_reach_m, trials=s.timed_targets, dwell_s=TIMED_DWELL_S,
            inter_trial_s=TIMED_INTER_TRIAL_S, home_radius_m=s.home_radius_m,
            stance_half_width_m=s.stance_half_width_m, lift_height_m=s.lift_height_m,
            plant_height_m=s.plant_height_m, seed=s.seed,
        )
        self.rules = _PlannedSteppingRules(stepping, TIMED_DIFFICULTY, timed_plan(s.affected_side, s.timed_targets))
        self.rules.feet = copy_feet(feet)

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        assert self.rules is not None
        return _tagged(self.rules.on_foot(event, now_s, inside_target), stage=TIMED_STEPPING)

    def tick(self, now_s: float) -> list[TrialResult]:
        assert self.rules is not None
        return _tagged(self.rules.tick(now_s), stage=TIMED_STEPPING)

    @property
    def done(self) -> bool:
        return self.rules is not None and self.rules.finished

    def progress(self, now_s: float) -> str:
        return f"{0 if self.rules is None else self.rules.trial_index}/{self.planned}"

    def parts(self) -> dict[str, Any]:
        return {"target": _target_part(self.target)}
