"""Reaching rules (SEBT-style), driven with plain numbers; then once through the Panda3D wrapper."""

from __future__ import annotations

import math
from typing import Any

import pytest

from games.base import Outcome
from games.events import BalanceEvent, FootEvent, Side
from games.reaching.game import ReachingGame
from games.reaching.rules import Phase, ReachingRules
from games.reaching.settings import ReachingSettings
from games.registry import GAMES
from games.setting_fields import PatientInfo

DIFFICULTY = {"reach_frac_ll": 0.5, "target_radius_m": 0.05, "time_window_s": 3.0}
LEG_M = 0.9
STANCE = (0.06, 0.0)  # right foot stands
HOME_L = (-0.06, 0.0)  # left foot reaches
R2 = math.sqrt(0.5)


def foot(side: Side, x: float, y: float, z: float = 0.0, contact: bool | None = None,
         force: float | None = None) -> FootEvent:
    return FootEvent(side, x, y, z, contact, force, 0.0, 0)


def cop(x: float, y: float, source: str = "cop", left_share: float | None = None) -> BalanceEvent:
    return BalanceEvent(x, y, None, left_share, source, 0.0, 0)


def feed(rules: ReachingRules, e: FootEvent, now: float):
    t = rules.target
    inside = t is not None and math.hypot(e.x_m - t.x_m, e.y_m - t.y_m) <= t.radius_m
    return rules.on_foot(e, now, inside)


def ready_rules(**overrides) -> ReachingRules:
    """Right-leg stance, left foot reaching, a target on screen at t = 1.0 s."""
    options: dict[str, Any] = dict(stance_side=Side.RIGHT, leg_length_m=LEG_M, directions=("anterior",),
                   inter_trial_s=0.5, seed=3)
    options.update(overrides)
    rules = ReachingRules(ReachingSettings(**options), DIFFICULTY)
    assert rules.tick(0.0) == [] and rules.target is None, "no target before the feet are seen"
    feed(rules, foot(Side.RIGHT, *STANCE), 0.4)
    feed(rules, foot(Side.LEFT, *HOME_L), 0.5)
    rules.tick(0.9)
    assert rules.target is None or options["inter_trial_s"] < 0.4, "feet home for inter_trial_s first"
    rules.tick(1.0)
    assert rules.phase is Phase.TARGET
    return rules


def reach_and_touch(rules: ReachingRules, x: float, y: float, at: float = 1.8, **kw) -> None:
    feed(rules, foot(Side.LEFT, -0.06, 0.05, 0.05), 1.3)  # lifts: reaction 0.3 s
    feed(rules, foot(Side.LEFT, x, y, 0.0, **kw), at)  # touches down


@pytest.mark.parametrize("stance, direction, unit, azimuth", [
    (Side.RIGHT, "anterior", (0.0, 1.0), 0.0),
    (Side.RIGHT, "medial", (-1.0, 0.0), 270.0),  # right stance: medial is to the left (-x)
    (Side.RIGHT, "lateral", (1.0, 0.0), 90.0),  # the left foot crosses behind the right one
    (Side.RIGHT, "anteromedial", (-R2, R2), 315.0),
    (Side.RIGHT, "posterolateral", (R2, -R2), 135.0),
    (Side.LEFT, "medial", (1.0, 0.0), 90.0),  # left stance: medial is to the right (+x)
    (Side.LEFT, "posteromedial", (R2, -R2), 135.0),
    (Side.LEFT, "anterolateral", (-R2, R2), 315.0),
])
def test_directions_are_named_relative_to_the_stance_leg(stance, direction, unit, azimuth) -> None:
    anchor = (stance.lateral_sign * 0.06, 0.0)
    rules = ReachingRules(ReachingSettings(stance_side=stance, leg_length_m=LEG_M, directions=(direction,),
                                           inter_trial_s=0.0), DIFFICULTY)
    feed(rules, foot(stance, *anchor), 0.0)
    feed(rules, foot(stance.other, -anchor[0], 0.0), 0.0)
    rules.tick(0.0)
    t = rules.target
    assert t is not None and t.stance is stance and t.foot is stance.other
    d = 0.5 * LEG_M
    assert (t.x_m, t.y_m) == pytest.approx((anchor[0] + d * unit[0], d * unit[1]))
    assert t.direction_deg == pytest.approx(azimuth)


def test_hit_records_reach_in_percent_leg_length_and_times() -> None:
    rules = ready_rules()
    assert rules.target is not None
    assert (rules.target.x_m, rules.target.y_m) == pytest.approx((0.06, 0.45))
    reach_and_touch(rules, 0.07, 0.44)
    assert rules.phase is Phase.TOUCH
    assert feed(rules, foot(Side.LEFT, 0.07, 0.40, 0.05), 2.0) == []  # lifts off the touch
    assert rules.phase is Phase.RETURN
    [result] = feed(rules, foot(Side.LEFT, -0.05, 0.01, 0.0), 2.6)  # back home
    assert result.outcome is Outcome.HIT and result.foot is Side.LEFT
    m = result.measures
    assert m["reach_m"] == pytest.approx(0.44)  # projection on +y from the stance foot
    assert m["reach_pct_ll"] == pytest.approx(100 * 0.44 / LEG_M)
    assert m["touch_duration_s"] == pytest.approx(0.2)
    assert "fault" not in m and "touch_force_share" not in m  # a tracker knows no forces
    assert result.reaction_time_s == pytest.approx(0.3)
    assert result.movement_time_s == pytest.approx(0.5)
    assert result.placement_error_m == pytest.approx(math.hypot(0.01, 0.01))
    assert result.foot_lift_m == pytest.approx(0.05)
    assert result.difficulty == DIFFICULTY
    assert rules.hits == 1 and rules.phase is Phase.HOME


def test_reach_is_the_projection_onto_a_diagonal() -> None:
    rules = ready_rules(directions=("anteromedial",))  # right stance: toward (-x, +y)
    reach_and_touch(rules, 0.06 - 0.30, 0.20)  # 0.30 left, 0.20 forward of the stance foot
    feed(rules, foot(Side.LEFT, -0.2, 0.2, 0.05), 2.0)
    [result] = feed(rules, foot(Side.LEFT, *HOME_L), 2.5)
    assert result.measures["reach_m"] == pytest.approx((0.30 + 0.20) * R2)
    assert result.outcome is Outcome.MISS  # the target sits at 0.45 m along the diagonal


def test_touch_outside_the_target_is_a_miss() -> None:
    rules = ready_rules()
    reach_and_touch(rules, 0.06, 0.30)
    feed(rules, foot(Side.LEFT, 0.0, 0.2, 0.05), 2.0)
    [result] = feed(rules, foot(Side.LEFT, *HOME_L), 2.4)
    assert result.outcome is Outcome.MISS
    assert result.measures["reach_pct_ll"] == pytest.approx(100 * 0.30 / LEG_M)


def test_without_return_home_the_trial_ends_as_the_foot_leaves_the_touch() -> None:
    rules = ready_rules(return_home=False)
    reach_and_touch(rules, 0.06, 0.45)
    [result] = feed(rules, foot(Side.LEFT, 0.06, 0.40, 0.05), 2.0)
    assert result.outcome is Outcome.HIT


def test_timeout_without_a_touch() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.LEFT, -0.06, 0.2, 0.06), 1.5)  # lifted, hovering
    assert rules.tick(3.99) == []
    [result] = rules.tick(4.0)
    assert result.outcome is Outcome.TIMEOUT and "reach_m" not in result.measures


def test_a_short_scuff_does_not_end_the_reach() -> None:
    rules = ready_rules(touch_min_s=0.1)
    reach_and_touch(rules, 0.0, 0.2, at=1.5)
    feed(rules, foot(Side.LEFT, 0.0, 0.25, 0.05), 1.55)  # off again after 50 ms
    assert rules.phase is Phase.TARGET and rules.touch is None
    feed(rules, foot(Side.LEFT, 0.06, 0.45, 0.0), 1.9)
    feed(rules, foot(Side.LEFT, 0.06, 0.40, 0.05), 2.1)
    [result] = feed(rules, foot(Side.LEFT, *HOME_L), 2.5)
    assert result.outcome is Outcome.HIT and result.measures["reach_m"] == pytest.approx(0.45)


# -- faults ----------------------------------------------------------------------------------


def fault_of(results) -> str:
    [result] = results
    assert result.outcome is Outcome.FAULT and not result.outcome.success
    return result.measures["fault"]


def test_stance_foot_lifting_is_a_fault() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.LEFT, -0.06, 0.1, 0.05), 1.3)
    assert fault_of(feed(rules, foot(Side.RIGHT, 0.06, 0.0, 0.04), 1.5)) == "stance_lifted"


def test_stance_foot_drifting_more_than_the_tolerance_is_a_fault() -> None:
    rules = ready_rules()
    assert feed(rules, foot(Side.RIGHT, 0.06 + 0.04, 0.0), 1.2) == []  # 4 cm: tolerated
    assert fault_of(feed(rules, foot(Side.RIGHT, 0.06 + 0.055, 0.0), 1.3)) == "stance_moved"


def test_weight_on_the_touching_foot_from_mat_forces_is_a_fault() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.RIGHT, *STANCE, contact=True, force=700.0), 1.2)
    feed(rules, foot(Side.LEFT, -0.06, 0.1, contact=False, force=0.0), 1.3)
    feed(rules, foot(Side.LEFT, 0.06, 0.45, contact=True, force=60.0), 1.8)  # light: 8 %
    assert rules.phase is Phase.TOUCH
    feed(rules, foot(Side.RIGHT, *STANCE, contact=True, force=640.0), 1.82)
    [result] = feed(rules, foot(Side.LEFT, 0.06, 0.45, contact=True, force=250.0), 1.85)  # 28 %
    assert result.outcome is Outcome.FAULT and result.measures["fault"] == "weight_bearing"
    assert result.measures["touch_force_share"] == pytest.approx(250 / 890)
    assert result.measures["reach_m"] == pytest.approx(0.45)  # the touch still says how far


def test_a_light_touch_on_a_mat_reports_its_force_share() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.RIGHT, *STANCE, contact=True, force=600.0), 1.2)
    feed(rules, foot(Side.LEFT, -0.06, 0.1, contact=False, force=0.0), 1.3)
    feed(rules, foot(Side.LEFT, 0.06, 0.45, contact=True, force=100.0), 1.8)
    feed(rules, foot(Side.LEFT, 0.06, 0.45, contact=False, force=0.0), 2.0)
    [result] = feed(rules, foot(Side.LEFT, *HOME_L, contact=True, force=300.0), 2.5)
    assert result.outcome is Outcome.HIT
    assert result.measures["touch_force_share"] == pytest.approx(100 / 700)


def test_weight_share_from_a_balance_plate_is_a_fault() -> None:
    rules = ready_rules()
    reach_and_touch(rules, 0.06, 0.45)
    assert rules.on_balance(cop(0.05, 0.1, left_share=0.1), 1.85) == []
    assert fault_of(rules.on_balance(cop(0.05, 0.1, left_share=0.3), 1.9)) == "weight_bearing"


def test_resting_on_the_touch_is_a_fault() -> None:
    rules = ready_rules(touch_max_s=1.0)
    reach_and_touch(rules, 0.06, 0.45, at=1.8)
    assert rules.tick(2.79) == []
    assert fault_of(rules.tick(2.81)) == "foot_rested"


def test_cop_leaving_the_stance_foot_while_on_one_leg_is_a_fault() -> None:
    rules = ready_rules()
    assert rules.on_balance(cop(0.0, 0.0), 1.1) == []  # both feet down: COP between them is fine
    feed(rules, foot(Side.LEFT, -0.06, 0.1, 0.05), 1.3)
    assert rules.on_balance(cop(0.06 + 0.07, 0.1), 1.4) == []  # within 4.5 cm + 3 cm margin
    assert rules.on_balance(cop(0.06, 0.3, source="com_proxy"), 1.45) == []  # pelvis proxy: not judged
    assert fault_of(rules.on_balance(cop(0.06 + 0.08, 0.1), 1.5)) == "cop_outside"


def test_not_coming_home_is_a_fault() -> None:
    rules = ready_rules(return_max_s=2.0)
    reach_and_touch(rules, 0.06, 0.45)
    feed(rules, foot(Side.LEFT, 0.06, 0.40, 0.05), 2.0)
    assert rules.tick(3.99) == []
    assert fault_of(rules.tick(4.0)) == "no_return"


# -- difficulty, legs, pause -------------------------------------------------------------------


def test_difficulty_is_kept_and_applied_per_direction() -> None:
    rules = ready_rules(directions=("anterior", "medial"), order="cycle", inter_trial_s=0.0)
    rules.set_difficulty({"reach_frac_ll": 0.8, "target_radius_m": 0.1}, "medial")
    assert rules.target is not None
    assert rules.target.direction == "anterior" and rules.target.distance_m == pytest.approx(0.45)
    rules.tick(4.0)  # timeout
    rules.tick(4.1)
    t = rules.target
    assert t is not None
    assert t.direction == "medial" and t.distance_m == pytest.approx(0.8 * LEG_M) and t.radius_m == 0.1
    assert t.x_m == pytest.approx(0.06 - 0.72)
    [result] = rules.tick(20.0)
    assert result.difficulty == {"reach_frac_ll": 0.8, "target_radius_m": 0.1, "time_window_s": 3.0}
    rules.set_difficulty({"time_window_s": 5.0})  # every direction
    assert rules.difficulty.values("anterior")["time_window_s"] == 5.0
    assert rules.difficulty.values("medial")["reach_frac_ll"] == 0.8


def test_alternating_legs_cover_every_direction_with_each_leg() -> None:
    rules = ready_rules(alternate_legs=True, directions=("anterior", "medial"), order="cycle",
                        inter_trial_s=0.0)
    seen = []
    now = 1.0
    for _ in range(4):
        t = rules.target
        assert t is not None
        seen.append((t.stance, t.direction))
        anchor = rules.home_spot(t.stance)
        feed(rules, foot(t.stance, *anchor), now)
        feed(rules, foot(t.foot, *rules.home_spot(t.foot)), now)
        now += 5.0
        rules.tick(now)  # timeout
        rules.tick(now)  # next target
    assert seen == [(Side.RIGHT, "anterior"), (Side.LEFT, "anterior"),
                    (Side.RIGHT, "medial"), (Side.LEFT, "medial")]


def test_pause_voids_the_trial() -> None:
    rules = ready_rules()
    reach_and_touch(rules, 0.06, 0.45)
    rules.pause()
    assert rules.phase is Phase.PAUSED and rules.target is None and rules.touch is None
    assert rules.tick(30.0) == []
    rules.resume()
    feed(rules, foot(Side.LEFT, *HOME_L), 30.1)
    rules.tick(30.2)
    rules.tick(30.7)
    assert rules.phase is Phase.TARGET and rules.trial_index == 0, "the voided trial was not counted"


def test_session_finishes_after_planned_trials() -> None:
    rules = ready_rules(trials=1)
    rules.tick(4.0)
    assert rules.phase is Phase.FINISHED and rules.finished


# -- through the Panda3D wrapper and the registry ----------------------------------------------


def test_game_wrapper_uses_the_scene_and_snapshots_the_trial() -> None:
    entry = GAMES["reaching"]
    settings = entry.settings_from({"stance": "unaffected", "directions": ["anterior"], "inter_trial_s": 0.0},
                                   PatientInfo(affected_side=Side.LEFT, leg_length_m=LEG_M))
    assert settings.stance_side is Side.RIGHT and settings.leg_length_m == LEG_M
    game = entry.make(settings, DIFFICULTY, 100.0)
    assert isinstance(game, ReachingGame) and game.adapts_per_direction
    game.on_foot(FootEvent(Side.RIGHT, *STANCE, 0.0, None, None, 0.0, 1), 100.1)
    game.on_foot(FootEvent(Side.LEFT, *HOME_L, 0.0, None, None, 0.0, 2), 100.1)
    game.tick(100.2)
    snap = game.snapshot()
    assert snap["game"] == "reaching" and snap["phase"] == "target"
    assert snap["target"] == {"foot": "L", "stance": "R", "direction": "anterior", "direction_deg": 0.0,
                              "x_m": 0.06, "y_m": 0.45, "radius_m": 0.05, "distance_m": 0.45,
                              "distance_pct_ll": 50.0, "centre_x_m": 0.06, "centre_y_m": 0.0}
    assert snap["difficulty"] == DIFFICULTY and set(snap["difficulty_by_direction"]) >= {"anterior", "medial"}
    version = game.version
    game.on_foot(FootEvent(Side.LEFT, -0.06, 0.1, 0.05, None, None, 0.0, 3), 100.4)
    assert game.version > version and game.snapshot()["foot_seq"] == {"R": 1, "L": 3}
    game.on_foot(FootEvent(Side.LEFT, 0.06 + 0.049, 0.45, 0.0, None, None, 0.0, 4), 100.8)  # rim
    assert game.snapshot()["touch"] == {"x_m": 0.109, "y_m": 0.45, "inside": True}
    game.on_foot(FootEvent(Side.LEFT, 0.0, 0.3, 0.05, None, None, 0.0, 5), 101.0)
    [result] = game.on_foot(FootEvent(Side.LEFT, *HOME_L, 0.0, None, None, 0.0, 6), 101.5)
    assert result.outcome is Outcome.HIT and result.ended_at_s == pytest.approx(1.5)
    last = game.snapshot()["last"]
    assert last["outcome"] == "hit" and last["reach_pct_ll"] == 50.0
    assert game.home_spot(Side.LEFT) == HOME_L and game.trials_done == 1 and game.hits == 1
    game.finish()
    assert game.finished and game.snapshot()["phase"] == "finished"
    game.close()


def test_settings_from_a_request_are_checked() -> None:
    entry = GAMES["reaching"]
    patient = PatientInfo(Side.RIGHT, 0.8)
    assert entry.settings_from({"stance": "alternate"}, patient).alternate_legs
    assert entry.settings_from({"stance": "affected"}, patient).stance_side is Side.RIGHT
    for bad in ({"touch_max_s": 99.0}, {"directions": ["north"]}, {"no_such": 1}, {"return_home": 1}):
        with pytest.raises(ValueError):
            entry.settings_from(bad, patient)
    assert ReachingSettings().as_dict()["stance_side"] == "R"
