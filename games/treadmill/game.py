"""The treadmill stepping-targets game as the server runs it: the rules plus the game clock.

Unlike the other games, what a headset draws moves without any input: every tick scrolls the
targets. So the targets are live snapshot parts (rebuilt on every snapshot) and a tick that moved
them bumps the version; only the last result and the difficulty are cached per trial.
"""

from __future__ import annotations

from typing import Any

from games.base import TrialResult
from games.events import FootEvent
from games.scene_game import SceneGame, feet_part, result_part
from games.treadmill.rules import BeltTarget, TreadmillRules
from games.treadmill.settings import TREADMILL_PARAMETERS, TreadmillSettings


class TreadmillGame(SceneGame[TreadmillRules]):
    name = "treadmill"
    parameter_specs = TREADMILL_PARAMETERS
    adapts_per_direction = False
    rules_type = TreadmillRules
    settings: TreadmillSettings

    def _play_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        """The rules judge landings themselves (by distance: see :mod:`games.treadmill.rules`), so
        the scene is not consulted."""
        results = self.rules.on_foot(event, self.clock.advance(now_s))
        self.last_foot_seq[event.side] = event.seq
        self._version += 1  # the feet moved: headsets redraw
        return results

    def tick(self, now_s: float) -> list[TrialResult]:
        revision = self.rules.revision
        results = self.rules.tick(self.clock.advance(now_s))
        if results or self.rules.revision != revision:
            self._version += 1
        return results

    def update_settings(self, values: dict[str, Any]) -> dict[str, Any]:
        """A new belt speed moves every target already on the belt, from the last input or tick on
        (the rules read the speed each time they move the belt)."""
        return super().update_settings(values)

    def resume(self, now_s: float) -> None:
        super().resume(now_s)
        self.rules.advance(self.clock.now)  # the belt restarts now, not at the next tick

    def _changed(self) -> None:
        """No scene target to keep in step: only tell headsets to redraw."""
        self._version += 1

    # -- snapshot ------------------------------------------------------------------------------

    def _per_trial_parts(self) -> dict[str, Any]:
        last = self.rules.last_result
        return {
            "last": None if last is None else {**result_part(last), "foot": last.foot.value},
            "difficulty": {k: round(v, 4) for k, v in self.rules.difficulty.items()},
        }

    def _live_parts(self) -> dict[str, Any]:
        rules = self.rules
        target = rules.target
        return {
            "targets": [{**_target_part(t), "state": t.state.value} for t in rules.targets],
            "target": None if target is None else {**_target_part(target), "direction": target.direction},
            "belt_speed_m_s": self.settings.belt_speed_m_s,
            "feet": feet_part(rules.feet),
        }


def _target_part(target: BeltTarget) -> dict[str, Any]:
    return {
        "index": target.index,
        "foot": target.foot.value,
        "x_m": round(target.x_m, 4),
        "y_m": round(target.y_m, 4),
        "radius_m": round(target.radius_m, 4),
    }
