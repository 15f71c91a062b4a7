"""Treadmill stepping targets: the rules with plain numbers, the game object's snapshot, the session
metrics, and simulated walkers of known ability playing against the real staircase."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Any

import pytest

from clients.sim_treadmill_walker import TreadmillWalker, WalkerAbility, WalkerStep
from games.base import Outcome, TrialResult
from games.events import FootEvent, Side
from games.registry import GAMES
from games.setting_fields import PatientInfo
from games.treadmill import TreadmillGame, TreadmillSettings
from games.treadmill.rules import SCROLL_OFF_M, Phase, TargetState, TreadmillRules
from scoring.difficulty import DifficultySet, ParameterBounds
from scoring.treadmill import treadmill_metrics

# Belt 0.5 m/s; targets appear 1.5 m ahead, 0.5 m apart along the belt, 0.2 m apart across.
SETTINGS = TreadmillSettings(affected_side=Side.LEFT, belt_speed_m_s=0.5, step_width_m=0.2,
                             spawn_distance_m=1.5, behind_m=0.4)
DIFFICULTY = {"step_length_m": 0.5, "target_radius_m": 0.1}


def foot(side: Side, x: float, y: float, z: float = 0.0, contact: bool | None = None) -> FootEvent:
    return FootEvent(side, x, y, z, contact, None, 0.0, 0)


def walking(difficulty: dict[str, float] = DIFFICULTY, **overrides: Any) -> TreadmillRules:
    """Rules with both feet seen and the stream started at t = 0: target 0 (left) at y = 1.5."""
    rules = TreadmillRules(replace(SETTINGS, **overrides), difficulty)
    rules.on_foot(foot(Side.LEFT, -0.1, 0.0), 0.0)
    assert rules.tick(0.0) == [] and rules.phase is Phase.HOME and not rules.targets, "one foot is not enough"
    rules.on_foot(foot(Side.RIGHT, 0.1, 0.0), 0.0)
    rules.tick(0.0)
    assert rules.phase is Phase.WALKING
    return rules


def run(rules: TreadmillRules, until_s: float, start_s: float, dt_s: float = 0.1) -> list[TrialResult]:
    """Tick from just after ``start_s`` to ``until_s`` inclusive."""
    results: list[TrialResult] = []
    n = round((until_s - start_s) / dt_s)
    for i in range(1, n + 1):
        results += rules.tick(start_s + i * dt_s)
    return results


def step(rules: TreadmillRules, side: Side, times_s: tuple[float, float, float], x: float, y: float
         ) -> list[TrialResult]:
    """Ticks from the first time; the foot lifts 5 cm at the second and lands at (x, y) at the third."""
    start_s, lift_s, land_s = times_s
    results = run(rules, lift_s, start_s)
    results += rules.on_foot(foot(side, x, y - 0.05, 0.05), lift_s)
    results += run(rules, land_s, lift_s)
    return results + rules.on_foot(foot(side, x, y, 0.0), land_s)


# -- rules ------------------------------------------------------------------------------------------


def test_targets_alternate_feet_and_scroll_at_the_belt_speed() -> None:
    rules = walking()
    [first] = rules.targets
    assert (first.index, first.foot, first.x_m, first.y_m) == (0, Side.LEFT, -0.1, 1.5)
    assert run(rules, 1.0, 0.0) == []
    # 1 s at 0.5 m/s: the first target is 0.5 m nearer, and the next (right) is 0.5 m behind it on the belt
    assert [(t.index, t.foot, t.x_m) for t in rules.targets] == [(0, Side.LEFT, -0.1), (1, Side.RIGHT, 0.1)]
    assert [t.y_m for t in rules.targets] == pytest.approx([1.0, 1.5])
    run(rules, 1.6, 1.0)
    assert [t.y_m for t in rules.targets] == pytest.approx([0.7, 1.2])
    assert rules.target is rules.targets[0], "the next due is the nearest coming target"
    assert rules.time_left_s(1.6) == pytest.approx((0.7 + 0.4) / 0.5)


def test_the_stream_waits_for_both_feet() -> None:
    rules = TreadmillRules(SETTINGS, DIFFICULTY)
    for t in (0.0, 0.5, 1.0):
        rules.tick(t)
    assert rules.phase is Phase.HOME and rules.targets == []


def test_landing_inside_its_target_is_a_hit_with_errors_and_step_length() -> None:
    rules = walking()
    # the right foot steps first (no target near it: nothing is scored) ...
    assert step(rules, Side.RIGHT, (0.0, 1.6, 2.0), 0.1, -0.1) == []
    # ... then the left lands at t = 2.6, when target 0 is at (-0.1, 1.5 - 0.5 * 2.6 = 0.2)
    [hit] = step(rules, Side.LEFT, (2.0, 2.2, 2.6), -0.12, 0.23)
    assert hit.outcome is Outcome.HIT and hit.index == 0 and hit.foot is Side.LEFT
    assert (hit.target_x_m, hit.target_y_m) == pytest.approx((-0.1, 0.2)), "where the target was at the landing"
    assert hit.direction == "forward" and hit.direction_deg == 0.0 and hit.target_distance_m == 0.5
    assert hit.measures["landing_error_ap_m"] == pytest.approx(0.03)  # + = too far forward
    assert hit.measures["landing_error_ml_m"] == pytest.approx(0.02)  # + = too far out to the left
    # belt coordinates: dy + v * dt = (0.23 - (-0.1)) + 0.5 * (2.6 - 2.0)
    assert hit.measures["step_length_m"] == pytest.approx(0.63)
    assert hit.measures["belt_speed_m_s"] == 0.5
    assert hit.placement_error_m == pytest.approx((0.02**2 + 0.03**2) ** 0.5)
    assert hit.movement_time_s == pytest.approx(0.4) and hit.foot_lift_m == 0.05
    assert hit.difficulty == DIFFICULTY
    assert rules.hits == 1 and rules.trial_index == 1
    assert rules.targets[0].state is TargetState.HIT and rules.target is rules.targets[1]


def test_contact_flag_counts_a_landing_without_heights() -> None:
    rules = walking()
    run(rules, 2.6, 0.0)
    rules.on_foot(foot(Side.LEFT, -0.1, 0.1, 0.0, contact=False), 2.6)
    [hit] = rules.on_foot(foot(Side.LEFT, -0.1, 0.2, 0.0, contact=True), 2.6)
    assert hit.outcome is Outcome.HIT
    assert "step_length_m" not in hit.measures, "no landing of the other foot yet to measure from"


def test_other_foot_inside_is_wrong_foot() -> None:
    rules = walking()
    [result] = step(rules, Side.RIGHT, (0.0, 2.2, 2.6), -0.08, 0.2)
    assert result.outcome is Outcome.WRONG_FOOT and result.index == 0 and result.foot is Side.LEFT
    assert (result.landing_x_m, result.landing_y_m) == (-0.08, 0.2)
    assert rules.targets[0].state is TargetState.MISSED


def test_own_foot_landing_near_but_outside_is_a_miss() -> None:
    rules = walking()
    [miss] = step(rules, Side.LEFT, (0.0, 2.2, 2.6), -0.1, 0.4)  # 0.2 m past the target: within half a step
    assert miss.outcome is Outcome.MISS and miss.index == 0
    assert miss.measures["landing_error_ap_m"] == pytest.approx(0.2)


def test_landing_far_from_any_target_is_not_scored() -> None:
    rules = walking()
    assert step(rules, Side.LEFT, (0.0, 0.2, 0.6), -0.1, 0.3) == []  # target 0 is 0.9 m away, at 1.2
    assert rules.trial_index == 0


def test_unhit_target_times_out_on_the_behind_line_then_scrolls_off() -> None:
    rules = walking(trials=1)
    # ticks every 0.25 s: the target crosses y = -0.4 at (1.5 + 0.4) / 0.5 = 3.8 s, between two ticks
    results = run(rules, 4.0, 0.0, dt_s=0.25)
    [timeout] = results
    assert timeout.outcome is Outcome.TIMEOUT and timeout.index == 0
    assert timeout.ended_at_s == pytest.approx(3.8)
    assert timeout.target_y_m == pytest.approx(-0.4) and timeout.landing_x_m is None
    assert "step_length_m" not in timeout.measures
    assert rules.finished, "one trial planned, one done"
    [gone] = rules.targets
    assert gone.state is TargetState.MISSED, "kept on screen, as missed"


def test_resolved_targets_scroll_off() -> None:
    rules = walking()
    step(rules, Side.LEFT, (0.0, 2.2, 2.6), -0.1, 0.2)
    # the hit target (0.2 at 2.6 s) is dropped once more than SCROLL_OFF_M past the behind line
    assert 2.6 + (0.2 + 0.4 + SCROLL_OFF_M) / 0.5 == pytest.approx(5.8)
    run(rules, 5.7, 2.6)
    assert 0 in [t.index for t in rules.targets]
    run(rules, 5.9, 5.7)
    assert 0 not in [t.index for t in rules.targets]


def test_a_landing_is_scored_against_one_target_only() -> None:
    # large targets, close together: the landing is inside its own foot's target and the other's
    rules = walking({"step_length_m": 0.2, "target_radius_m": 0.25}, step_width_m=0.1)
    run(rules, 0.6, 0.0)
    assert [(t.foot, t.y_m) for t in rules.targets[:2]] == [(Side.LEFT, pytest.approx(1.2)),
                                                           (Side.RIGHT, pytest.approx(1.4))]
    rules.on_foot(foot(Side.LEFT, -0.05, 1.2, 0.05), 0.6)
    results = rules.on_foot(foot(Side.LEFT, 0.0, 1.3, 0.0), 0.6)
    assert [(r.index, r.outcome) for r in results] == [(0, Outcome.HIT)]
    assert rules.target is rules.targets[1] and rules.targets[1].state is TargetState.COMING


def test_new_difficulty_applies_to_targets_that_appear_later() -> None:
    rules = walking()
    rules.set_difficulty({"step_length_m": 0.3, "target_radius_m": 0.05})
    run(rules, 0.6, 0.0)
    first, second = rules.targets
    assert (first.radius_m, first.distance_m) == (0.1, 0.5), "already on the belt: unchanged"
    assert (second.radius_m, second.distance_m) == (0.05, 0.3)
    assert second.y_m - first.y_m == pytest.approx(0.3)


def test_live_belt_speed_moves_targets_already_on_the_belt() -> None:
    rules = walking()
    run(rules, 1.0, 0.0)
    rules.settings = replace(rules.settings, belt_speed_m_s=1.0)  # what SceneGame.update_settings does
    run(rules, 1.5, 1.0)
    assert [t.y_m for t in rules.targets[:2]] == pytest.approx([0.5, 1.0])
    rules.settings = replace(rules.settings, belt_speed_m_s=0.0)
    run(rules, 3.0, 1.5)
    assert [t.y_m for t in rules.targets[:2]] == pytest.approx([0.5, 1.0]), "a stopped belt stops the targets"
    assert rules.time_left_s(3.0) is None


def test_pause_voids_coming_targets_and_resume_restarts_the_stream() -> None:
    rules = walking()
    step(rules, Side.LEFT, (0.0, 2.2, 2.6), -0.1, 0.2)  # target 0 hit
    results_before = rules.trial_index
    rules.pause()
    assert rules.phase is Phase.PAUSED and rules.target is None
    assert [(t.index, t.state) for t in rules.targets] == [(0, TargetState.HIT)], "coming ones voided"
    assert run(rules, 5.0, 2.6) == [] and rules.trial_index == results_before
    assert rules.targets[0].y_m == pytest.approx(0.2), "nothing scrolls while paused"
    rules.resume()
    rules.tick(5.0)
    assert rules.phase is Phase.WALKING
    new = rules.target
    assert new is not None and (new.index, new.foot) == (1, Side.RIGHT), "voided index given again"
    assert new.y_m == pytest.approx(1.5) and new.shown_at_s == 5.0
    run(rules, 5.4, 5.0)
    assert new.y_m == pytest.approx(1.3)


def test_trials_limit_finishes_once_every_target_is_resolved() -> None:
    rules = walking(trials=2)
    results = run(rules, 6.0, 0.0)
    assert [(r.index, r.outcome) for r in results] == [(0, Outcome.TIMEOUT), (1, Outcome.TIMEOUT)]
    assert rules.finished and [t.state for t in rules.targets] == [TargetState.MISSED] * 2
    assert rules.tick(7.0) == [] and rules.targets[1].y_m == pytest.approx(-0.4, abs=0.06), "finished: stopped"


# -- the game object ---------------------------------------------------------------------------------


def make_game(settings: TreadmillSettings = SETTINGS) -> TreadmillGame:
    game = GAMES["treadmill"].make(settings, dict(DIFFICULTY), 0.0)
    assert isinstance(game, TreadmillGame)
    return game


def test_registry_entry_and_settings_from_a_request() -> None:
    entry = GAMES["treadmill"]
    assert entry.live_settings == ("belt_speed_m_s",) and not entry.adapts_per_direction
    assert [p.name for p in entry.parameters] == ["step_length_m", "target_radius_m"]
    settings = entry.settings_from({"belt_speed_m_s": 0.8, "trials": 20}, PatientInfo(Side.RIGHT, 0.9))
    assert (settings.affected_side, settings.belt_speed_m_s, settings.trials) == (Side.RIGHT, 0.8, 20)
    assert settings.as_dict()["affected_side"] == "R"
    with pytest.raises(ValueError, match="belt_speed_m_s"):
        entry.settings_from({"belt_speed_m_s": 3.5}, PatientInfo(Side.RIGHT, 0.9))


def test_snapshot_moves_with_every_tick() -> None:
    game = make_game()
    try:
        game.on_foot(foot(Side.LEFT, -0.1, 0.0), 0.0)
        game.on_foot(foot(Side.RIGHT, 0.1, 0.0), 0.0)
        game.tick(0.0)
        snap = game.snapshot()
        assert snap["game"] == "treadmill" and snap["phase"] == "walking" and snap["belt_speed_m_s"] == 0.5
        assert snap["targets"] == [{"index": 0, "foot": "L", "x_m": -0.1, "y_m": 1.5, "radius_m": 0.1,
                                    "state": "coming"}]
        assert snap["target"] == {"index": 0, "foot": "L", "x_m": -0.1, "y_m": 1.5, "radius_m": 0.1,
                                  "direction": "forward"}
        assert snap["difficulty"] == DIFFICULTY and snap["last"] is None
        assert set(snap["feet"]) == {"L", "R"}
        version = game.version
        game.tick(0.1)
        assert game.version > version, "targets moved: headsets redraw"
        assert game.snapshot()["target"]["y_m"] == pytest.approx(1.45), "not a cached copy"
        # live belt speed, as the server applies it
        assert game.update_settings({"belt_speed_m_s": 1.0}) == {"belt_speed_m_s": 0.5}
        game.tick(0.2)
        assert game.snapshot()["target"]["y_m"] == pytest.approx(1.35)
        # a hit shows in `last` and in the target's state
        game.on_foot(foot(Side.LEFT, -0.1, 0.0, 0.05), 1.2)
        [hit] = game.on_foot(foot(Side.LEFT, -0.1, 0.35, 0.0), 1.2)  # target at 1.35 - 1.0 = 0.35
        assert hit.outcome is Outcome.HIT
        game.tick(1.2)
        snap = game.snapshot()
        assert snap["last"]["outcome"] == "hit" and snap["last"]["trial"] == 0 and snap["last"]["foot"] == "L"
        assert snap["last"]["belt_speed_m_s"] == 1.0 and snap["hits"] == 1 and snap["trial"] == 1
        assert snap["targets"][0]["state"] == "hit" and snap["target"]["index"] == 1
        # pause voids, resume restarts from the spawn line at the resume time
        game.pause(2.0)
        assert game.snapshot()["target"] is None and game.snapshot()["phase"] == "paused"
        game.resume(10.0)
        game.tick(10.0)
        game.tick(10.5)
        assert game.snapshot()["target"]["y_m"] == pytest.approx(1.0)
    finally:
        game.close()


# -- metrics ---------------------------------------------------------------------------------------


def test_treadmill_metrics_per_side_and_symmetry() -> None:
    rules = walking()
    step(rules, Side.RIGHT, (0.0, 1.6, 2.0), 0.1, -0.1)
    results = step(rules, Side.LEFT, (2.0, 2.2, 2.6), -0.12, 0.23)  # hit, step 0.63
    results += run(rules, 5.5, 2.6)  # the right target times out (at 4.8 s)
    metrics = {(m.metric, m.side): m for m in treadmill_metrics(results, "L")}
    assert metrics[("step_length_m", "L")].value == pytest.approx(0.63) and metrics[("step_length_m", "L")].n == 1
    assert ("step_length_m", "R") not in metrics and ("symmetry_step_length", "") not in metrics
    assert metrics[("hit_rate", "L")].value == 1.0 and metrics[("hit_rate", "R")].value == 0.0
    assert metrics[("hit_rate", "")].value == pytest.approx(0.5) and metrics[("hit_rate", "")].n == 2
    assert metrics[("landing_error_ap_m", "")].value == pytest.approx(0.03)
    assert metrics[("landing_error_ml_m", "")].value == pytest.approx(0.02)
    assert all(m.family == "treadmill" for m in metrics.values())
    right = replace(results[0], foot=Side.RIGHT, measures={**results[0].measures, "step_length_m": 0.42})
    metrics = {(m.metric, m.side): m for m in treadmill_metrics([results[0], right], "L")}
    assert metrics[("symmetry_step_length", "")].value == pytest.approx(0.63 / 0.42)


# -- simulated walkers against the real staircase ---------------------------------------------------


@dataclass
class Session:
    results: list[TrialResult]
    steps: list[WalkerStep]


def walk_session(max_step_m: float, seconds: float = 240.0, seed: int = 1) -> Session:
    """A walker of known ability on a 0.6 m/s belt, with the server's loop: every result goes to the
    staircase (75 % target success) with the values it was played at, so only those of targets set
    out at the current spacing count, and the game takes its new values. The therapist's step length
    bounds are widened to 0.2-0.9 m so neither walker meets the ceiling; the radius keeps its
    default bounds (0.15 m easy to 0.06 m hard), moving with the same level."""
    entry = GAMES["treadmill"]
    difficulty = DifficultySet(entry.parameters)
    difficulty.configure(bounds={"step_length_m": ParameterBounds(0.2, 0.9)})
    settings = TreadmillSettings(affected_side=Side.LEFT, belt_speed_m_s=0.6)
    game = entry.make(settings, difficulty.values(), 0.0)
    walker = TreadmillWalker(WalkerAbility(max_step_length_m=max_step_m, placement_sd_m=0.02), seed=seed)
    results: list[TrialResult] = []
    dt = 1.0 / 60.0
    snapshot = game.snapshot()
    try:
        for i in range(round(seconds / dt)):
            now = i * dt
            out = [r for event in walker.step(now, snapshot) for r in game.on_foot(event, now)]
            for result in out + game.tick(now):
                results.append(result)
                difficulty.record(result.direction, result.outcome.success, result.difficulty)
                key = difficulty.key(result.direction)
                game.set_difficulty(difficulty.values(key), key or None)
            snapshot = game.snapshot()
    finally:
        game.close()
    return Session(results, walker.steps)


@pytest.fixture(scope="module")
def sessions() -> dict[float, Session]:
    return {max_step: walk_session(max_step) for max_step in (0.45, 0.7)}


def settled_step_length(session: Session) -> float:
    """The staircase's step length over the second half of the session (after the climb from the
    starting level), as the mean of the values the targets were spaced by."""
    late = session.results[len(session.results) // 2:]
    return statistics.fmean(r.difficulty["step_length_m"] for r in late)


@pytest.mark.parametrize("max_step", [0.45, 0.7])
def test_staircase_settles_near_the_walkers_longest_step(sessions: dict[float, Session], max_step: float) -> None:
    """Below its longest step the walker's scatter (sd 2 cm) is small next to the radius (6-15 cm):
    it hits nearly every target and the staircase keeps lengthening the spacing. Above it, the walker
    lands short by (spacing - max), a little more each step, so it hits only while that shortfall is
    inside the radius, then misses until a catch-up step: success falls below 75 % within about a
    radius above its max. The ~3 targets already on the belt at a change keep the old spacing; they
    are not counted (their outcomes would lower the level again after each failure: counted, the
    0.7 m walker settled 0.06-0.09 m below its max). Only about a third to a half of the outcomes
    count, so the level moves more slowly and wanders more. With the spacing changing in steps of
    about 3 cm up and 8 cm down against a walker who hits nearly all below its max and few above,
    the mean still sits a few centimetres below a strong walker's max (less with a smaller step).
    Observed over 20 seeds: 0.43-0.49 m for the 0.45 m walker (a short step still lands in the
    large radius), 0.64-0.67 m for the 0.7 m one; this seed 0.43 and 0.665 m."""
    session = sessions[max_step]
    settled = settled_step_length(session)
    assert max_step - 0.07 <= settled <= max_step + 0.06
    late = session.results[len(session.results) // 2:]
    success = sum(r.outcome.success for r in late) / len(late)
    assert 0.65 <= success <= 0.85, "the staircase holds the target success rate"


def test_longer_stepping_walker_settles_higher(sessions: dict[float, Session]) -> None:
    assert settled_step_length(sessions[0.7]) >= settled_step_length(sessions[0.45]) + 0.1


@pytest.mark.parametrize("max_step", [0.45, 0.7])
def test_metrics_report_the_walkers_own_step_lengths(sessions: dict[float, Session], max_step: float) -> None:
    """The game measures a step on the belt from tracked positions alone; it must agree with the
    step the walker made (matched by foot and landing time), and never exceed what it can make."""
    session = sessions[max_step]
    metrics = {(m.metric, m.side): m for m in treadmill_metrics(session.results, "L")}
    for side in Side:
        scored = [r for r in session.results if r.foot is side and "step_length_m" in r.measures]
        made = [_walker_step(session.steps, r).step_length_m for r in scored]
        metric = metrics[("step_length_m", side.value)]
        assert metric.n == len(scored) > 50
        assert metric.value == pytest.approx(statistics.fmean(m for m in made if m is not None), abs=1e-6)
        assert metric.value <= max_step + 0.01
    assert 0.85 <= metrics[("symmetry_step_length", "")].value <= 1.15, "a symmetric walker"
    assert metrics[("landing_error_ml_m", "")].value < 0.03, "sideways only the 2 cm scatter"


def _walker_step(steps: list[WalkerStep], result: TrialResult) -> WalkerStep:
    """The walker's landing the game scored: the game sees it come down a little before the walker
    calls the swing over (at 5 cm lift the height falls under 1.5 cm in the last tenth of the swing)."""
    made = next(s for s in steps if s.foot is result.foot and s.at_s >= result.ended_at_s)
    assert made.at_s - result.ended_at_s < 0.1 and made.step_length_m is not None
    return made
