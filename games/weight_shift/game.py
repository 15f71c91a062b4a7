"""The weight-shift game as the server runs it: rules + Panda3D scene (cursor vs target) + clock."""

from __future__ import annotations

from typing import Any

from games.base import TrialResult
from games.events import BalanceEvent, FootEvent
from games.scene_game import SceneGame, feet_part, result_part
from games.weight_shift.rules import WeightShiftRules
from games.weight_shift.settings import SHIFT_DIRECTIONS, WEIGHT_SHIFT_PARAMETERS, WeightShiftSettings


class WeightShiftGame(SceneGame[WeightShiftRules]):
    name = "weight_shift"
    parameter_specs = WEIGHT_SHIFT_PARAMETERS
    # LOS differ per direction, and after stroke most toward the paretic side: one level each.
    adapts_per_direction = True

    rules_type = WeightShiftRules
    settings: WeightShiftSettings

    def __init__(self, settings: WeightShiftSettings, difficulty: dict[str, float], start_s: float) -> None:
        super().__init__(settings, difficulty, start_s)
        self._los = _los_part(settings)

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        t = self.clock.advance(now_s)
        self.scene.move_cursor(event.x_m, event.y_m)
        results = self.rules.on_balance(event, t, self.scene.cursor_in_target())
        self._changed()  # the cursor moved: headsets redraw
        return results

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        results = self.rules.on_foot(event, self.clock.advance(now_s))
        self.last_foot_seq[event.side] = event.seq
        self._changed()
        return results

    def _per_trial_parts(self) -> dict[str, Any]:
        rules = self.rules
        target, last = rules.target, rules.last_result
        return {
            "target": None if target is None else {
                "direction": target.direction,
                "direction_deg": target.direction_deg,
                "x_m": round(target.x_m, 4),
                "y_m": round(target.y_m, 4),
                "radius_m": round(target.radius_m, 4),
                "distance_m": round(target.distance_m, 4),
                "share_los": round(target.difficulty["target_share_los"], 4),
                "hold_s": round(target.hold_s, 4),
            },
            "last": None if last is None else result_part(last),
            "difficulty": None if target is None else {k: round(v, 4) for k, v in target.difficulty.items()},
            "difficulty_by_direction": rules.difficulty.as_dict(),
            "los": self._los,
            "centre": {"x_m": self.settings.centre_x_m, "y_m": self.settings.centre_y_m,
                       "radius_m": self.settings.centre_radius_m},
        }

    def _live_parts(self) -> dict[str, Any]:
        rules, cursor = self.rules, self.rules.cursor
        return {
            "cursor": None if cursor is None else {
                "x_m": round(cursor.x_m, 4), "y_m": round(cursor.y_m, 4), "source": cursor.source,
            },
            "hold_progress_s": rules.hold_progress_s(self.clock.now),
            "weight": None if cursor is None or cursor.left_share is None else {
                "left_share": round(cursor.left_share, 4),
                "right_share": round(1.0 - cursor.left_share, 4),
                "force_n": cursor.force_n,
            },
            "feet": feet_part(rules.feet),
        }


def _los_part(settings: WeightShiftSettings) -> dict[str, Any]:
    """The limits of stability around the centre (``x_m``, ``y_m``), with the value along each
    direction so a headset can draw them."""
    return {
        "x_m": settings.centre_x_m,
        "y_m": settings.centre_y_m,
        "forward_m": settings.los_forward_m,
        "backward_m": settings.los_backward_m,
        "side_m": settings.los_side_m,
        "by_direction": {name: round(settings.los_m(az), 4) for name, az in SHIFT_DIRECTIONS},
    }
