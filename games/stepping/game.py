"""The stepping game as the server runs it: rules + Panda3D scene + game clock."""

from __future__ import annotations

from typing import Any

from games.base import TrialResult
from games.events import FootEvent, Side
from games.scene import FloorScene, GameClock
from games.stepping.rules import Phase, SteppingRules, Target
from games.stepping.settings import STEPPING_PARAMETERS, SteppingSettings


class SteppingGame:
    name = "stepping"
    parameter_specs = STEPPING_PARAMETERS

    def __init__(
        self, settings: SteppingSettings, difficulty: dict[str, float], start_s: float
    ) -> None:
        self.settings = settings
        self.clock = GameClock(start_s)
        self.scene = FloorScene(self.name)
        self.rules = SteppingRules(settings, difficulty)
        self._shown: Target | None = None
        self._version = 0
        self.last_foot_seq: dict[Side, int] = {}

    # -- Game protocol --------------------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        t = self.clock.advance(now_s)
        self.scene.move_foot(event.side, event.x_m, event.y_m, event.z_m)
        inside = event.side in self.scene.feet_in_target()
        results = self.rules.on_foot(event, t, inside)
        self.last_foot_seq[event.side] = event.seq
        self._after_step()
        self._version += 1  # the feet moved: headsets redraw
        return results

    def tick(self, now_s: float) -> list[TrialResult]:
        before = (self.rules.phase, self.rules.target)
        results = self.rules.tick(self.clock.advance(now_s))
        if results or before != (self.rules.phase, self.rules.target):
            self._after_step()
            self._version += 1
        return results

    def set_difficulty(self, values: dict[str, float]) -> None:
        """New values apply from the next target, so each trial has one set of parameters."""
        self.rules.difficulty.update(values)
        self._version += 1

    def pause(self, now_s: float) -> None:
        self.clock.advance(now_s)
        self.rules.pause()
        self._after_step()
        self._version += 1

    def resume(self, now_s: float) -> None:
        self.clock.advance(now_s)
        self.rules.resume()
        self._version += 1

    def finish(self) -> None:
        self.rules.phase = Phase.FINISHED
        self._after_step()
        self._version += 1

    @property
    def version(self) -> int:
        return self._version

    @property
    def finished(self) -> bool:
        return self.rules.phase is Phase.FINISHED

    def snapshot(self) -> dict[str, Any]:
        rules = self.rules
        target = rules.target
        last = rules.last_result
        return {
            "game": self.name,
            "phase": rules.phase.value,
            "t_s": round(self.clock.now, 4),
            "trial": rules.trial_index,
            "trials_planned": self.settings.trials,
            "hits": rules.hits,
            "time_left_s": _round(rules.time_left_s(self.clock.now)),
            "target": None
            if target is None
            else {
                "foot": target.foot.value,
                "direction": target.direction,
                "x_m": round(target.x_m, 4),
                "y_m": round(target.y_m, 4),
                "radius_m": round(target.radius_m, 4),
            },
            "feet": {
                side.value: {
                    "x_m": round(track.x_m, 4),
                    "y_m": round(track.y_m, 4),
                    "z_m": round(track.z_m, 4),
                    "planted": track.planted,
                }
                for side, track in rules.feet.items()
            },
            "foot_seq": {side.value: seq for side, seq in self.last_foot_seq.items()},
            "last": None
            if last is None
            else {
                "trial": last.index,
                "outcome": last.outcome.value,
                "placement_error_m": _round(last.placement_error_m),
            },
            "difficulty": {k: round(v, 4) for k, v in rules.difficulty.items()},
        }

    def close(self) -> None:
        self.scene.destroy()

    # -- internals ------------------------------------------------------------------------------

    def _after_step(self) -> None:
        """Keep the scene's target in step with the rules' target."""
        target = self.rules.target
        if target is self._shown:
            return
        if target is None:
            self.scene.clear_target()
        else:
            self.scene.set_target(target.x_m, target.y_m, target.radius_m)
        self._shown = target


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
