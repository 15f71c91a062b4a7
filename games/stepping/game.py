"""The stepping game as the server runs it: rules + Panda3D scene + game clock, plus the clinical
modes that change what the headset is shown (neglect cueing, proprioception training)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from games.base import TrialResult
from games.events import FootEvent
from games.neglect import Cue, NeglectCueing, raised_share
from games.scene_game import FootTargetGame, feet_part
from games.stepping.rules import Phase, SteppingRules
from games.stepping.settings import STEPPING_PARAMETERS, SteppingSettings

CUE_KINDS = ["highlight", "sound"]


class SteppingGame(FootTargetGame[SteppingRules]):
    name = "stepping"
    parameter_specs = STEPPING_PARAMETERS
    adapts_per_direction = False
    rules_type = SteppingRules
    settings: SteppingSettings

    def __init__(self, settings: SteppingSettings, difficulty: dict[str, float], start_s: float) -> None:
        super().__init__(settings, difficulty, start_s)
        self.cueing: NeglectCueing | None = (
            NeglectCueing(settings.affected_side, settings.cue_idle_s, settings.cue_after_misses)
            if settings.neglect_cueing else None
        )
        self._vision = settings.vision
        # Plain stepping (no mode on) skips the modes' bookkeeping: every foot event passes here.
        self._modes_on = self.cueing is not None or self._vision != "full"
        self._hidden: tuple[bool, object] = (False, None)
        self._paused_at_s: float | None = None

    # -- inputs: after the rules, the modes look at what changed ---------------------------------

    def _play_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        results = super()._play_foot(event, now_s)
        return self._follow(results) if self._modes_on else results

    def tick(self, now_s: float) -> list[TrialResult]:
        results = super().tick(now_s)
        return self._follow(results) if self._modes_on else results

    def next_timer_s(self) -> float:
        """The rules' timers; with a mode on (its cues and vanishing targets keep time too),
        every period."""
        return float("-inf") if self._modes_on else super().next_timer_s()

    def _follow(self, results: list[TrialResult]) -> list[TrialResult]:
        now = self.clock.now
        if self.cueing is not None:
            results = self._cue(self.cueing, results, now)
        if self._vision != "full":
            hidden = (self.rules.target_hidden(now), self.rules.hidden_foot)
            if hidden != self._hidden:  # a target vanishing on time changes the drawing without input
                self._hidden = hidden
                self._version += 1
        return results

    def _cue(self, cueing: NeglectCueing, results: list[TrialResult], now: float) -> list[TrialResult]:
        """Feed the cueing the affected foot, the finished trials and the target now up; emit its
        cues and responses and attach each trial's cue measures."""
        foot = self.rules.feet[cueing.side]
        response = cueing.observe(foot.x_m, foot.y_m, foot.planted, now)
        if response is not None:
            self.emit("cue_response", side=cueing.side.value,
                      response_time_s=round(response.response_time_s, 4), at_s=round(response.at_s, 4))
            self._version += 1
        out = []
        for result in results:
            cue = cueing.trial_ended(result.foot, result.outcome, foot.x_m, foot.y_m, now)
            if cue is not None:
                self._raise_cue(cue)
            out.append(replace(result, measures={**result.measures, **cueing.take_trial_measures()}))
        target = self.rules.target
        cueing.watch(target, None if target is None else target.foot, foot.x_m, foot.y_m, now)
        cue = cueing.idle_cue(self.rules.phase is Phase.TARGET, foot.x_m, foot.y_m, now)
        if cue is not None:
            self._raise_cue(cue)
        return out

    def _raise_cue(self, cue: Cue) -> None:
        """Emit the cue and raise the affected-side share one step (from the next target on); the
        event carries the share before and after so the server can store the change."""
        s = self.settings
        before = s.affected_side_share
        share = raised_share(before, s.cue_share_step, s.affected_side_share_max)
        if share != before:
            self.update_settings({"affected_side_share": share})
        self._version += 1
        self.emit("cue", side=s.affected_side.value, reason=cue.reason, cues=list(CUE_KINDS),
                  at_s=round(cue.at_s, 4), affected_side_share=share, share_before=before)

    def pause(self, now_s: float) -> None:
        super().pause(now_s)
        if self._paused_at_s is None:
            self._paused_at_s = self.clock.now

    def resume(self, now_s: float) -> None:
        super().resume(now_s)
        if self.cueing is not None and self._paused_at_s is not None:
            self.cueing.skip(self.clock.now - self._paused_at_s)
        self._paused_at_s = None

    # -- snapshot ------------------------------------------------------------------------------

    def _per_trial_parts(self) -> dict[str, Any]:
        rules = self.rules
        last = rules.last_result
        parts = {
            "last": None
            if last is None
            else {
                "trial": last.index,
                "outcome": last.outcome.value,
                "placement_error_m": None if last.placement_error_m is None else round(last.placement_error_m, 4),
            },
            "difficulty": {k: round(v, 4) for k, v in rules.difficulty.items()},
        }
        if self._vision != "target_vanishes":  # the target never changes mid-trial
            parts["target"] = self._target_part(hidden=False)
        return parts

    def _live_parts(self) -> dict[str, Any]:
        """Feet, and what modes change mid-trial: a vanishing target, a hidden foot, the cueing."""
        rules = self.rules
        parts: dict[str, Any] = {
            "feet": feet_part(rules.feet, rules.hidden_foot if self._vision == "foot_hidden" else None)}
        if self._vision == "target_vanishes":
            parts["target"] = self._target_part(hidden=rules.target_hidden(self.clock.now))
        cueing = self.cueing
        if cueing is not None:
            parts["cueing"] = {"side": cueing.side.value, "active": cueing.active,
                               "affected_side_share": self.settings.affected_side_share, "cues": cueing.total_cues}
        return parts

    def _target_part(self, hidden: bool) -> dict[str, Any] | None:
        target = self.rules.target
        if target is None:
            return None
        return {
            "foot": target.foot.value,
            "direction": target.direction,
            "x_m": round(target.x_m, 4),
            "y_m": round(target.y_m, 4),
            "radius_m": round(target.radius_m, 4),
            "hidden": hidden,
        }
