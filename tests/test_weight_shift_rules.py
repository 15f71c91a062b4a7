"""Weight-shift rules, driven with plain numbers; then the cursor scene and the Panda3D wrapper."""

from __future__ import annotations

import math
from typing import Any

import pytest

from games.base import Outcome
from games.events import BalanceEvent, FootEvent, Side
from games.registry import GAMES
from games.scene import FloorScene
from games.setting_fields import PatientInfo
from games.weight_shift.rules import Phase, WeightShiftRules
from games.weight_shift.settings import WeightShiftSettings

DIFFICULTY = {"target_share_los": 0.5, "target_radius_m": 0.02, "hold_s": 1.0, "time_window_s": 3.0}


def cop(x: float, y: float, left_share: float | None = None) -> BalanceEvent:
    return BalanceEvent(x, y, 700.0, left_share, "cop", 0.0, 0)


def feed(rules: WeightShiftRules, x: float, y: float, now: float):
    t = rules.target
    inside = t is not None and math.hypot(x - t.x_m, y - t.y_m) <= t.radius_m
    return rules.on_balance(cop(x, y), now, inside)


def ready_rules(**overrides) -> WeightShiftRules:
    """A target to the right (0.07 m: half the 0.14 m side LOS) on screen at t = 1.0 s."""
    options: dict[str, Any] = dict(directions=("right",), inter_trial_s=0.5, seed=1)
    options.update(overrides)
    rules = WeightShiftRules(WeightShiftSettings(**options), DIFFICULTY)
    assert rules.tick(0.0) == [] and rules.target is None, "no target before the cursor is seen"
    feed(rules, 0.005, 0.0, 0.4)
    rules.tick(0.8)
    assert rules.target is None or options["inter_trial_s"] < 0.4, "centred for inter_trial_s first"
    rules.tick(1.0)
    assert rules.phase is Phase.TARGET
    return rules


def test_limits_of_stability_are_a_half_ellipse() -> None:
    s = WeightShiftSettings(los_forward_m=0.12, los_backward_m=0.06, los_side_m=0.14)
    assert [s.los_m(a) for a in (0, 90, 180, 270)] == pytest.approx([0.12, 0.14, 0.06, 0.14])
    assert s.los_m(45) == pytest.approx(1 / math.sqrt(0.5 / 0.14**2 + 0.5 / 0.12**2))
    assert s.los_m(135) == pytest.approx(1 / math.sqrt(0.5 / 0.14**2 + 0.5 / 0.06**2))


def test_straight_path_hit_after_the_hold() -> None:
    rules = ready_rules()
    t = rules.target
    assert t is not None
    assert (t.x_m, t.y_m, t.radius_m) == pytest.approx((0.07, 0.0, 0.02))
    for i, x in enumerate([0.01, 0.02, 0.03, 0.04]):
        assert feed(rules, x, 0.0, 1.2 + 0.1 * i) == []
    feed(rules, 0.051, 0.0, 1.6)  # enters at the rim: 0.6 s after the target appeared
    assert rules.phase is Phase.HOLD
    feed(rules, 0.06, 0.0, 2.0)
    assert rules.tick(2.59) == []
    [result] = rules.tick(2.6)
    assert result.outcome is Outcome.HIT
    assert result.foot is Side.RIGHT  # a shift to the right loads the right leg
    m = result.measures
    assert m["time_to_target_s"] == pytest.approx(0.6)
    assert m["path_efficiency"] == pytest.approx(1.0)
    assert m["hold_achieved_s"] == pytest.approx(1.0)
    assert m["target_distance_m"] == pytest.approx(0.07) and m["los_m"] == pytest.approx(0.14)
    assert m["closest_distance_m"] == pytest.approx(0.01)
    assert result.reaction_time_s == pytest.approx(0.5)  # left the 3 cm centre circle at 1.5 s
    assert result.movement_time_s == pytest.approx(0.1)
    assert result.difficulty == DIFFICULTY and rules.hits == 1 and rules.phase is Phase.HOME


def test_a_curved_path_is_less_efficient() -> None:
    rules = ready_rules()
    feed(rules, 0.035, 0.035, 1.3)
    feed(rules, 0.051, 0.0, 1.6)  # first point inside
    feed(rules, 0.07, 0.0, 1.7)  # path after entry does not count
    [result] = rules.tick(2.6)
    start = (0.005, 0.0)
    path = math.dist(start, (0.035, 0.035)) + math.dist((0.035, 0.035), (0.051, 0.0))
    assert result.measures["path_efficiency"] == pytest.approx(math.dist(start, (0.051, 0.0)) / path)
    assert float(result.measures["path_efficiency"]) < 0.8


def test_leaving_the_target_restarts_the_hold() -> None:
    rules = ready_rules()
    feed(rules, 0.06, 0.0, 1.5)
    feed(rules, 0.04, 0.0, 2.2)  # left after 0.7 s
    assert rules.phase is Phase.TARGET and rules.tick(2.6) == []
    feed(rules, 0.07, 0.0, 2.4)
    assert rules.tick(3.3) == []  # 0.9 s into the new hold
    [result] = rules.tick(3.4)
    assert result.outcome is Outcome.HIT
    assert result.measures["time_to_target_s"] == pytest.approx(0.5)  # the first entry counts


def test_timeout_reports_the_best_partial_hold() -> None:
    rules = ready_rules()  # deadline: 1.0 + 3.0 window + 1.0 hold
    feed(rules, 0.06, 0.0, 4.2)
    assert rules.tick(4.99) == []
    [result] = rules.tick(5.0)
    assert result.outcome is Outcome.TIMEOUT
    assert result.measures["hold_achieved_s"] == pytest.approx(0.8)


def test_timeout_without_reaching() -> None:
    rules = ready_rules()
    feed(rules, 0.03, 0.0, 1.5)
    [result] = rules.tick(5.0)
    assert result.outcome is Outcome.TIMEOUT
    assert "time_to_target_s" not in result.measures and "path_efficiency" not in result.measures
    assert result.measures["closest_distance_m"] == pytest.approx(0.04)
    assert result.measures["hold_achieved_s"] == 0.0


def test_zero_hold_hits_on_entry() -> None:
    rules = ready_rules()
    rules.set_difficulty({"hold_s": 0.0})
    rules.tick(5.0)  # this trial times out (it kept the old hold); the next uses the new one
    feed(rules, 0.0, 0.0, 5.1)
    rules.tick(5.6)
    [result] = feed(rules, 0.07, 0.0, 6.0)
    assert result.outcome is Outcome.HIT and result.measures["hold_achieved_s"] == 0.0


@pytest.mark.parametrize("event", [
    FootEvent(Side.LEFT, -0.1, 0.0, 0.0, False, 0.0, 0.0, 0),  # a mat: contact off
    FootEvent(Side.LEFT, -0.1, 0.0, 0.04, None, None, 0.0, 0),  # a tracker: above the lift height
])
def test_a_foot_lifting_during_a_trial_is_a_fault(event: FootEvent) -> None:
    rules = ready_rules()
    assert rules.on_foot(FootEvent(Side.LEFT, -0.1, 0.0, 0.02, None, None, 0.0, 0), 1.1) == []  # jitter
    [result] = rules.on_foot(event, 1.2)
    assert result.outcome is Outcome.FAULT and result.measures["fault"] == "stepped"


def test_no_target_while_a_foot_is_up() -> None:
    rules = WeightShiftRules(WeightShiftSettings(inter_trial_s=0.0), DIFFICULTY)
    rules.on_foot(FootEvent(Side.LEFT, -0.1, 0.0, 0.1, None, None, 0.0, 0), 0.0)
    feed(rules, 0.0, 0.0, 0.1)
    rules.tick(1.0)
    assert rules.target is None
    rules.on_foot(FootEvent(Side.LEFT, -0.1, 0.0, 0.0, None, None, 0.0, 0), 1.1)
    rules.tick(1.2)
    assert rules.target is not None


def test_difficulty_is_applied_per_direction() -> None:
    rules = ready_rules(directions=("right", "left"), order="cycle", inter_trial_s=0.0)
    rules.set_difficulty({"target_share_los": 1.0}, "left")
    assert rules.target is not None
    assert rules.target.direction == "right" and rules.target.x_m == pytest.approx(0.07)
    rules.tick(5.0)  # timeout; the cursor is still at the centre
    rules.tick(5.0)
    t = rules.target
    assert t is not None
    assert t.direction == "left" and t.x_m == pytest.approx(-0.14) and t.direction_deg == 270.0
    [result] = rules.tick(20.0)
    assert result.difficulty["target_share_los"] == 1.0 and result.foot is Side.LEFT


def test_pause_voids_the_trial() -> None:
    rules = ready_rules()
    feed(rules, 0.06, 0.0, 1.5)
    rules.pause()
    assert rules.phase is Phase.PAUSED and rules.target is None
    assert rules.tick(10.0) == []
    rules.resume()
    feed(rules, 0.0, 0.0, 10.1)
    rules.tick(10.7)
    assert rules.phase is Phase.TARGET and rules.trial_index == 0


# -- the cursor in the scene, and the wrapper ---------------------------------------------------


def test_cursor_inside_target_by_collision_and_feet_do_not_count() -> None:
    scene = FloorScene("ws")
    assert not scene.cursor_in_target()
    scene.set_target(0.07, 0.0, 0.02)
    scene.move_foot(Side.RIGHT, 0.07, 0.0, 0.0)  # a foot on the target is not the cursor
    assert not scene.cursor_in_target() and scene.feet_in_target() == {Side.RIGHT}
    for (x, y), expected in [((0.07, 0.0), True), ((0.055, 0.012), True), ((0.05, 0.0), True),
                             ((0.049, 0.0), False), ((0.07, 0.025), False)]:
        scene.move_cursor(x, y)
        assert scene.cursor_in_target() is expected, (x, y)
    scene.destroy()


def test_game_wrapper_snapshot_and_hit() -> None:
    entry = GAMES["weight_shift"]
    settings = entry.settings_from({"directions": ["forward"], "inter_trial_s": 0.0, "los_forward_m": 0.10},
                                   PatientInfo(affected_side=Side.LEFT, leg_length_m=0.9))
    game = entry.make(settings, DIFFICULTY, 50.0)
    assert game.adapts_per_direction and game.home_spot(Side.RIGHT) == (0.1, 0.0)
    game.on_balance(BalanceEvent(0.0, 0.0, 700.0, 0.5, "cop", 0.0, 0), 50.1)
    game.tick(50.2)
    snap = game.snapshot()
    assert snap["game"] == "weight_shift" and snap["phase"] == "target"
    assert snap["target"] == {"direction": "forward", "direction_deg": 0.0, "x_m": 0.0, "y_m": 0.05,
                              "radius_m": 0.02, "distance_m": 0.05, "share_los": 0.5, "hold_s": 1.0}
    assert snap["los"]["forward_m"] == 0.10 and snap["los"]["by_direction"]["left"] == 0.14
    assert snap["weight"] == {"left_share": 0.5, "right_share": 0.5, "force_n": 700.0}
    assert snap["centre"] == {"x_m": 0.0, "y_m": 0.0, "radius_m": 0.03}
    game.on_balance(BalanceEvent(0.005, 0.04, 700.0, 0.45, "cop", 0.0, 1), 50.5)  # inside (1.1 cm off)
    snap = game.snapshot()
    assert snap["phase"] == "hold" and snap["cursor"] == {"x_m": 0.005, "y_m": 0.04, "source": "cop"}
    assert snap["weight"]["right_share"] == 0.55 and snap["hold_progress_s"] == pytest.approx(0.0)
    [result] = game.tick(51.5)
    assert result.outcome is Outcome.HIT and result.foot is Side.LEFT  # straight ahead: the affected leg
    assert game.snapshot()["last"]["path_efficiency"] == 1.0
    game.close()


def test_a_patient_standing_off_centre_plays_around_their_own_centre() -> None:
    """After a stroke the weight often rests on the sound side: with the measured quiet-standing
    centre 6 cm to the right, resting there starts trials and targets are placed from it."""
    rules = WeightShiftRules(WeightShiftSettings(directions=("left",), inter_trial_s=0.5, seed=1,
                                                 centre_x_m=0.06, centre_y_m=0.01), DIFFICULTY)
    feed(rules, 0.0, 0.0, 0.1)  # the midpoint between the feet is not where this patient rests
    rules.tick(1.0)
    assert rules.target is None
    feed(rules, 0.055, 0.012, 1.1)
    rules.tick(1.7)
    t = rules.target
    assert rules.phase is Phase.TARGET and t is not None
    assert (t.x_m, t.y_m) == pytest.approx((0.06 - 0.07, 0.01))  # half the side LOS left of the centre
    game = GAMES["weight_shift"].make(rules.settings, DIFFICULTY, 0.0)
    snapshot = game.snapshot()
    game.close()
    assert snapshot["centre"]["x_m"] == 0.06 and (snapshot["los"]["x_m"], snapshot["los"]["y_m"]) == (0.06, 0.01)
