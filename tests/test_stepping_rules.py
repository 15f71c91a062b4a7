"""Stepping rules, driven with plain numbers (no Panda3D, no network)."""

from __future__ import annotations

import math

import pytest

from games.base import Outcome
from games.events import FootEvent, Side
from games.stepping.rules import Phase, SteppingRules
from games.stepping.settings import SteppingSettings

DIFFICULTY = {"step_distance_frac": 0.5, "target_radius_m": 0.1, "time_window_s": 3.0}


def foot(side: Side, x: float, y: float, z: float = 0.0, contact: bool | None = None) -> FootEvent:
    return FootEvent(side, x, y, z, contact, None, 0.0, 0)


def inside(rules: SteppingRules, e: FootEvent) -> bool:
    t = rules.target
    return t is not None and math.hypot(e.x_m - t.x_m, e.y_m - t.y_m) <= t.radius_m


def feed(rules: SteppingRules, e: FootEvent, now: float):
    return rules.on_foot(e, now, inside(rules, e))


def ready_rules(**overrides) -> SteppingRules:
    """Rules with both feet home and a target on screen at t = 1.0 s."""
    settings = SteppingSettings(
        affected_side=Side.RIGHT, affected_side_share=1.0, reach_m=0.6, inter_trial_s=0.5,
        dwell_s=0.5, directions=("anterior",), seed=3, **overrides
    )
    rules = SteppingRules(settings, DIFFICULTY)
    assert rules.tick(0.0) == []
    assert rules.phase is Phase.HOME and rules.target is None, "no target before any foot is seen"
    feed(rules, foot(Side.LEFT, -0.1, 0.0), 0.4)
    feed(rules, foot(Side.RIGHT, 0.1, 0.0), 0.5)
    rules.tick(0.9)
    assert rules.target is None, "feet must stay home for inter_trial_s first"
    rules.tick(1.0)
    assert rules.phase is Phase.TARGET
    return rules


def test_target_placement_uses_reach_and_direction() -> None:
    rules = ready_rules()
    t = rules.target
    assert t is not None and t.foot is Side.RIGHT and t.direction == "anterior"
    assert (t.x_m, t.y_m) == pytest.approx((0.1, 0.3))  # home (0.1, 0) + 0.5 * 0.6 m forward
    assert t.radius_m == 0.1 and t.direction_deg == pytest.approx(0.0)


def test_hit_records_times_error_and_lift() -> None:
    rules = ready_rules()
    assert feed(rules, foot(Side.RIGHT, 0.1, 0.05, 0.04), 1.4) == []  # lifts: reaction 0.4 s
    feed(rules, foot(Side.RIGHT, 0.1, 0.2, 0.07), 1.6)
    feed(rules, foot(Side.RIGHT, 0.12, 0.31, 0.0), 1.9)  # lands inside: movement 0.5 s
    assert rules.phase is Phase.DWELL
    assert rules.tick(2.3) == []
    [result] = rules.tick(2.4)
    assert result.outcome is Outcome.HIT
    assert result.reaction_time_s == pytest.approx(0.4)
    assert result.movement_time_s == pytest.approx(0.5)
    assert result.placement_error_m == pytest.approx(math.hypot(0.02, 0.01))
    assert result.foot_lift_m == pytest.approx(0.07)
    assert result.difficulty == DIFFICULTY
    assert rules.hits == 1 and rules.trial_index == 1 and rules.phase is Phase.HOME


def test_landing_outside_is_a_miss_with_error() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.RIGHT, 0.1, 0.1, 0.05), 1.3)
    [result] = feed(rules, foot(Side.RIGHT, 0.1, 0.15, 0.0), 1.6)
    assert result.outcome is Outcome.MISS
    assert result.placement_error_m == pytest.approx(0.15)


def test_leaving_target_before_dwell_is_a_miss() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.RIGHT, 0.1, 0.2, 0.05), 1.3)
    feed(rules, foot(Side.RIGHT, 0.1, 0.3, 0.0), 1.5)
    [result] = feed(rules, foot(Side.RIGHT, 0.1, 0.3, 0.05), 1.7)  # lifted again after 0.2 s
    assert result.outcome is Outcome.MISS


def test_timeout_without_moving() -> None:
    rules = ready_rules()
    assert rules.tick(3.9) == []
    [result] = rules.tick(4.0)
    assert result.outcome is Outcome.TIMEOUT
    assert result.reaction_time_s is None and result.placement_error_m is None


def test_wrong_foot_in_target() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.LEFT, 0.0, 0.2, 0.05), 1.3)
    [result] = feed(rules, foot(Side.LEFT, 0.1, 0.3, 0.0), 1.6)
    assert result.outcome is Outcome.WRONG_FOOT and result.foot is Side.RIGHT


def test_contact_flag_from_a_mat_overrides_height() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.RIGHT, 0.1, 0.1, 0.0, contact=False), 1.2)
    feed(rules, foot(Side.RIGHT, 0.1, 0.3, 0.0, contact=True), 1.5)
    assert rules.phase is Phase.DWELL
    [result] = rules.tick(2.0)
    assert result.outcome is Outcome.HIT and result.foot_lift_m is None  # a mat cannot see height


def test_small_height_jitter_is_not_a_step() -> None:
    rules = ready_rules()
    for i, z in enumerate([0.01, 0.02, 0.012, 0.02, 0.0]):  # under the 25 mm lift threshold
        feed(rules, foot(Side.RIGHT, 0.1, 0.0, z), 1.1 + i * 0.1)
    assert rules.phase is Phase.TARGET
    assert rules.feet[Side.RIGHT].planted


def test_pause_voids_the_trial_and_needs_home_again() -> None:
    rules = ready_rules()
    feed(rules, foot(Side.RIGHT, 0.1, 0.2, 0.05), 1.3)
    rules.pause()
    assert rules.phase is Phase.PAUSED and rules.target is None
    assert rules.tick(10.0) == []
    rules.resume()
    feed(rules, foot(Side.RIGHT, 0.1, 0.0, 0.0), 10.1)
    rules.tick(10.2)
    rules.tick(10.7)
    assert rules.phase is Phase.TARGET and rules.trial_index == 0, "voided trial was not counted"


def test_session_finishes_after_planned_trials() -> None:
    rules = ready_rules(trials=1)
    [result] = rules.tick(4.0)
    assert result.outcome is Outcome.TIMEOUT
    assert rules.phase is Phase.FINISHED


def test_affected_side_share_biases_targets() -> None:
    settings = SteppingSettings(affected_side=Side.LEFT, affected_side_share=0.8, seed=7,
                                inter_trial_s=0.0)
    rules = SteppingRules(settings, DIFFICULTY)
    feet = []
    now = 0.0
    for _ in range(500):
        feed(rules, foot(Side.LEFT, -0.1, 0.0), now)
        feed(rules, foot(Side.RIGHT, 0.1, 0.0), now)
        rules.tick(now)
        assert rules.target is not None
        feet.append(rules.target.foot)
        now += 10.0
        rules.tick(now)  # time out
    share = feet.count(Side.LEFT) / len(feet)
    assert 0.75 <= share <= 0.85
