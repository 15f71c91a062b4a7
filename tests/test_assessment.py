"""The assessment game driven by simulated patients over simulated time, its metrics, and the
comparison with a baseline.

The simulated patient (``clients.sim_assessment``, the one ``clients.sim_player`` plays a live
server's assessment with) has known abilities: quiet-stance sway as low-pass filtered noise whose
amplitude doubles with the eyes closed; limits of stability per direction (less toward the
affected left side), reached by a smooth lean after a reaction time and held with sway; SEBT
reach per direction, the affected foot reaching 60 % as far as the unaffected; walking steps of
known length and lift per side; known reaction times. It acts on the game's snapshot, as a
headset sees it. Everything runs in simulated time at 50 Hz, so nothing depends on the machine's
speed.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from clients.sim_assessment import (
    AFFECTED,
    DOUBLE_SUPPORT_S,
    LEAN_AZIMUTH_DEG,
    LEG_M,
    LIFT_M,
    LOS_M,
    RATE_HZ,
    REACH_RATIO,
    REACTION_S,
    STEP_AFTER_S,
    STEP_LENGTH_M,
    SWING_S,
    UNAFFECTED_REACH,
    AssessmentPatient,
    home,
)
from games.assessment import AssessmentGame, AssessmentSettings
from games.base import Outcome, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.reaching.settings import REACH_DIRECTIONS
from games.registry import GAMES
from games.setting_fields import PatientInfo
from scoring.assessment import assessment_metrics, compare
from scoring.difficulty import DifficultySet
from scoring.metric import MetricValue
from scoring.session_metrics import analyse_session
from scoring.smallest_change import SMALLEST_CHANGE, SmallestChangeError, load_smallest_changes
from scoring.trajectories import Sway, SwayRecorder
from server.codec import ProtocolError
from server.fields import Fields
from server.messages import open_envelope, parse_start_game

DT = 1.0 / RATE_HZ
DEVICE_CLOCK_OFFSET_S = 1000.0  # the mat's clock is not the game's


@dataclass
class Run:
    game: AssessmentGame
    results: list[TrialResult]
    events: list[dict]
    sway: SwayRecorder
    snapshots: dict[str, dict]  # one snapshot per stage, taken while it ran
    t_s: float


def run_assessment(settings: AssessmentSettings, patient: AssessmentPatient, limit_s: float = 600.0) -> Run:
    """Play the whole assessment as the server would: feet and balance events in, tick, results
    and events out; the balance events also go to a SwayRecorder as ``server.play`` does."""
    game = AssessmentGame(settings, {}, start_s=0.0)
    results: list[TrialResult] = []
    events = list(game.take_events())
    sway = SwayRecorder(("cop", "com_proxy"))
    snapshots: dict[str, dict] = {}
    t, seq = 0.0, 0
    snap = game.snapshot()
    while not game.finished and t < limit_s:
        patient.act(snap, t)  # what the headset was last sent
        for side, (x, y, z) in patient.feet.items():
            results += game.on_foot(FootEvent(side, x, y, z, None, None, t, seq), t)
            seq += 1
        if patient.balance is not None:
            event = BalanceEvent(*patient.reading, None, None, patient.balance, t + DEVICE_CLOCK_OFFSET_S, seq)
            sway.append(event.device_time_s, event.x_m, event.y_m, event.source)
            results += game.on_balance(event, t)
            seq += 1
        results += game.tick(t)
        events += game.take_events()
        snap = game.snapshot()
        if snap["stage"] and snap["phase"] not in ("home", "finished"):
            snapshots.setdefault(snap["stage"]["name"], snap)
        t += DT
    return Run(game, results, events, sway, snapshots, t)


def sways(run: Run) -> dict[str, Sway]:
    """The session's balance recording per source, as ``server.play`` hands it to scoring."""
    return {source: run.sway.build(source) for source in run.sway.recorded}


def settings(**overrides) -> AssessmentSettings:
    values: dict[str, Any] = dict(affected_side=AFFECTED, leg_length_m=LEG_M, step_reach_m=0.5, quiet_s=10.0, seed=1)
    values.update(overrides)
    return AssessmentSettings(**values)


@pytest.fixture(scope="module")
def full_run() -> Run:
    run = run_assessment(settings(), AssessmentPatient())
    assert run.game.finished, f"the assessment did not finish in {run.t_s:.0f} s"
    return run


@pytest.fixture(scope="module")
def metrics(full_run: Run) -> dict[tuple[str, str, str], MetricValue]:
    values = assessment_metrics(full_run.results, sways(full_run), AFFECTED.value, LEG_M)
    return {(m.metric, m.side, m.direction): m for m in values}


# -- the protocol -----------------------------------------------------------------------------------


def test_stages_run_in_order_and_each_announces_itself(full_run: Run) -> None:
    stages = [e for e in full_run.events if e["kind"] == "stage"]
    assert [e["stage"] for e in stages] == list(AssessmentSettings().stages)
    assert [e["index"] for e in stages] == [0, 1, 2, 3, 4, 5]
    assert all(e["count"] == 6 and e["instruction"] for e in stages)
    assert "eyes closed" in stages[1]["instruction"]
    assert stages[2]["stage"] == "limits_of_stability" and "lean FORWARD" in stages[2]["instruction"]
    # Results come stage after stage, in the protocol's order.
    order = [r.measures["stage"] for r in full_run.results]
    blocks = [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s]
    assert blocks == ["quiet_eyes_open", "quiet_eyes_closed", "limits_of_stability", "reach", "walk",
                      "timed_stepping"]
    assert order.count("limits_of_stability") == 4 and order.count("reach") == 16
    assert order.count("walk") == 10 and order.count("timed_stepping") == 8


def test_results_are_numbered_across_stages(full_run: Run) -> None:
    assert [r.index for r in full_run.results] == list(range(len(full_run.results)))
    assert full_run.game.trials_done == len(full_run.results)


def test_result_formats(full_run: Run) -> None:
    by_stage: dict[str, list[TrialResult]] = {}
    for r in full_run.results:
        by_stage.setdefault(str(r.measures["stage"]), []).append(r)
    [eo], [ec] = by_stage["quiet_eyes_open"], by_stage["quiet_eyes_closed"]
    for quiet, name in ((eo, "quiet_eyes_open"), (ec, "quiet_eyes_closed")):
        m: dict[str, Any] = quiet.measures
        assert quiet.direction == name and quiet.outcome is Outcome.HIT
        assert m["balance_source"] == "cop" and m["balance_samples"] >= 10 * RATE_HZ - 1
        assert m["device_t1_s"] - m["device_t0_s"] == pytest.approx(10.0, abs=2 * DT)
        assert m["device_t0_s"] > DEVICE_CLOCK_OFFSET_S  # the device's own clock
        assert "sway_velocity_m_s" not in m  # the stage marks its window; scoring measures it
    reach = by_stage["reach"]
    assert {r.foot for r in reach[:8]} == {AFFECTED} and {r.foot for r in reach[8:]} == {AFFECTED.other}
    assert all("reach_pct_ll" in r.measures for r in reach)
    walk = by_stage["walk"]
    assert all(r.direction == "walk" and r.landing_x_m is None for r in walk)
    assert [r.foot for r in walk[:2]] == [AFFECTED.other, AFFECTED]
    assert "step_time_s" not in walk[0].measures and "step_time_s" in walk[1].measures
    timed = by_stage["timed_stepping"]
    assert [r.foot for r in timed] == [AFFECTED.other, AFFECTED] * 4
    assert all(r.outcome is Outcome.HIT for r in timed)
    json.dumps([r.as_record() for r in full_run.results])  # storable as is


def test_snapshot_shows_the_stage_and_its_parts(full_run: Run) -> None:
    snaps = full_run.snapshots
    quiet = snaps["quiet_eyes_closed"]
    assert quiet["stage"]["instruction"] and quiet["stage"]["eyes"] == "closed"
    assert quiet["stage"]["time_left_s"] is not None and quiet["cursor"]["source"] == "cop"
    reach = snaps["reach"]
    assert reach["target"]["foot"] == AFFECTED.value and reach["stage"]["progress"].endswith("/16")
    assert set(reach["feet"]) == {"L", "R"}
    assert snaps["timed_stepping"]["target"]["radius_m"] > 0
    assert snaps["walk"]["stage"]["progress"].endswith("/10")
    los = snaps["limits_of_stability"]  # its first timed moment: the first lean has been cued
    assert los["phase"] == "lean" and los["stage"]["lean"] == "forward" and los["stage"]["progress"] == "0/4"
    assert los["stage"]["instruction"].startswith("Lean FORWARD as far as you can without stepping")
    assert los["cursor"]["source"] == "cop" and los["target"] is None
    json.dumps(snaps)


def test_each_lean_is_cued_once_the_feet_are_home_and_marks_its_window(full_run: Run) -> None:
    leans = [r for r in full_run.results if r.measures["stage"] == "limits_of_stability"]
    assert [r.direction for r in leans] == ["forward", "backward", "left", "right"]
    assert [r.foot for r in leans] == [AFFECTED, AFFECTED, Side.LEFT, Side.RIGHT]  # sideways: the leg loaded
    for r in leans:
        m: dict[str, Any] = r.measures
        assert r.outcome is Outcome.HIT and m["lean"] == r.direction and m["balance_source"] == "cop"
        assert m["azimuth_deg"] == LEAN_AZIMUTH_DEG[r.direction]
        assert m["device_t1_s"] - m["device_t0_s"] == pytest.approx(8.0, abs=2 * DT)
    # Between leans the patient stands ready again (ready_s, 1 s) before the next cue.
    assert all(b.shown_at_s - a.ended_at_s >= 1.0 - DT for a, b in itertools.pairwise(leans))


# -- the metrics ------------------------------------------------------------------------------------


def test_every_assessment_metric_names_the_stage_it_comes_from(full_run: Run) -> None:
    """The session's analysis, as the server runs it: each value's task is its stage; the whole
    session's own values (range of motion from every trial) are the assessment's; no whole-session
    sway (the session mixes standing with reaching and walking)."""
    families = analyse_session([], None, full_run.sway.build(), AFFECTED.value, LEG_M, game="assessment",
                               results=full_run.results, events=full_run.events,
                               proxy_sway=full_run.sway.build("com_proxy"))
    assert "balance" not in families
    tasks: dict[str, set[str]] = {}
    for m in families["assessment"]:
        tasks.setdefault(m.metric, set()).add(m.task)
    expected = {
        "sway_velocity_eo_m_s": "quiet_eyes_open", "sway_area_eo_m2": "quiet_eyes_open",
        "quiet_centre_x_m": "quiet_eyes_open", "sway_velocity_ec_m_s": "quiet_eyes_closed",
        "sway_area_ec_m2": "quiet_eyes_closed", "romberg_ratio": "quiet_eyes_open+quiet_eyes_closed",
        "los_forward_m": "limits_of_stability", "symmetry_los_side": "limits_of_stability",
        "reach_pct_ll": "reach", "reach_composite_pct_ll": "reach", "symmetry_reach": "reach",
        "step_length_m": "walk", "cadence_steps_per_min": "walk", "symmetry_foot_lift": "walk",
        "reaction_time_s": "timed_stepping", "timed_stepping_s": "timed_stepping",
    }
    for metric, stage in expected.items():
        assert tasks[metric] == {f"assessment:{stage}"}, metric
    assert set().union(*tasks.values()) <= {f"assessment:{s}" for s in AssessmentSettings().stages} | {
        "assessment:quiet_eyes_open+quiet_eyes_closed"}


def test_sway_is_larger_with_eyes_closed(metrics, full_run: Run) -> None:
    eo, ec = metrics[("sway_velocity_eo_m_s", "", "cop")], metrics[("sway_velocity_ec_m_s", "", "cop")]
    area_eo, area_ec = metrics[("sway_area_eo_m2", "", "cop")], metrics[("sway_area_ec_m2", "", "cop")]
    assert ec.value > eo.value and area_ec.value > area_eo.value
    # Twice the amplitude: twice the velocity and four times the area, give or take 10 s of noise.
    assert metrics[("romberg_ratio", "", "cop")].value == pytest.approx(2.0, rel=0.25)
    assert area_ec.value / area_eo.value == pytest.approx(4.0, rel=0.5)
    # The stage's window holds exactly the samples of its stand: 10 s at the patient's rate.
    assert eo.n == ec.n == pytest.approx(10 * RATE_HZ, abs=2)


def test_reach_per_direction_and_symmetry(metrics) -> None:
    for name, _ in REACH_DIRECTIONS:
        unaffected = metrics[("reach_pct_ll", AFFECTED.other.value, name)].value
        affected = metrics[("reach_pct_ll", AFFECTED.value, name)].value
        assert unaffected == pytest.approx(100 * UNAFFECTED_REACH[name], abs=1e-6)
        assert affected == pytest.approx(100 * REACH_RATIO * UNAFFECTED_REACH[name], abs=1e-6)
    mean = 100 * sum(UNAFFECTED_REACH.values()) / len(UNAFFECTED_REACH)
    assert metrics[("reach_composite_pct_ll", AFFECTED.other.value, "")].value == pytest.approx(mean)
    assert metrics[("symmetry_reach", "", "")].value == pytest.approx(REACH_RATIO, abs=1e-6)


# The 95th percentile of a lean's projection lies about 1.5 sway SDs (3 mm) above the level held
# for three quarters of the window, and the starting centre (half a second of low-pass sway) is
# known to a mm or two: 6 mm, under a third of the 2 cm smallest change worth noting.
LOS_TOLERANCE_M = 0.006


def test_limits_of_stability_per_direction_and_symmetry(metrics) -> None:
    got = {"forward": metrics[("los_forward_m", "", "cop")], "backward": metrics[("los_backward_m", "", "cop")],
           "left": metrics[("los_side_m", "L", "cop")], "right": metrics[("los_side_m", "R", "cop")]}
    for direction, m in got.items():
        assert m.value == pytest.approx(LOS_M[direction], abs=LOS_TOLERANCE_M), direction
        assert m.n == pytest.approx(8 * RATE_HZ, abs=2)
    symmetry = metrics[("symmetry_los_side", "", "cop")].value
    assert symmetry == pytest.approx(LOS_M["left"] / LOS_M["right"], abs=0.08)  # affected (left) ÷ right


def test_one_bad_sample_does_not_move_a_limit_of_stability() -> None:
    """A plate's single glitch 5 cm beyond the held lean: the largest sample would take it, the
    95th percentile does not."""
    run = run_assessment(settings(stages=("limits_of_stability",), lean_directions=("right",)),
                         AssessmentPatient(glitch_on_lean="right"))
    [lean] = run.results
    m: dict[str, Any] = lean.measures
    cut = sways(run)["cop"].window(m["device_t0_s"], m["device_t1_s"])
    assert cut.cop_m[:, 1].max() > LOS_M["right"] + 0.04  # the glitch is in the window
    [value] = [m.value for m in assessment_metrics(run.results, sways(run), "L", LEG_M) if m.metric == "los_side_m"]
    assert value == pytest.approx(LOS_M["right"], abs=LOS_TOLERANCE_M)


def test_limits_of_stability_are_measured_from_where_each_lean_starts() -> None:
    """Weight resting 3 cm toward the right foot: each lean's excursion is still its own, not the
    distance from the midpoint between the feet."""
    run = run_assessment(settings(stages=("limits_of_stability",), lean_directions=("left", "right")),
                         AssessmentPatient(cop_offset_m=(0.03, 0.0)))
    values = {(m.metric, m.side): m.value for m in assessment_metrics(run.results, sways(run), "L", LEG_M)}
    assert values[("los_side_m", "L")] == pytest.approx(LOS_M["left"], abs=LOS_TOLERANCE_M)
    assert values[("los_side_m", "R")] == pytest.approx(LOS_M["right"], abs=LOS_TOLERANCE_M)
    assert ("los_forward_m", "") not in values


def test_a_step_during_a_lean_ends_it_as_a_fault_and_the_lean_is_done_again() -> None:
    run = run_assessment(settings(stages=("limits_of_stability",)), AssessmentPatient(step_on_lean="forward"))
    assert run.game.finished
    forward, again, *others = run.results
    assert forward.direction == "forward" and forward.outcome is Outcome.FAULT
    assert forward.measures["fault"] == "stepped" and forward.measures["feet_lifted"] == 1
    assert forward.measures["attempt"] == 0
    # It ended at the lift-off, about STEP_AFTER_S into the lean; its window stops there too.
    assert forward.measures["duration_s"] == pytest.approx(STEP_AFTER_S, abs=0.1)
    m: dict[str, Any] = forward.measures
    window_s = m["device_t1_s"] - m["device_t0_s"]
    assert m["duration_s"] - 3 * DT <= window_s <= m["duration_s"]  # not 8 s
    # The same lean again once the foot is back home and ready_s has passed; this time it holds.
    assert (again.direction, again.outcome, again.measures["attempt"]) == ("forward", Outcome.HIT, 1)
    assert again.shown_at_s >= forward.ended_at_s + 1.0
    assert [(r.direction, r.outcome) for r in others] == [(d, Outcome.HIT) for d in ("backward", "left", "right")]
    values = {(m.metric, m.side): m.value for m in assessment_metrics(run.results, sways(run), "L", LEG_M)}
    assert values[("los_forward_m", "")] == pytest.approx(LOS_M["forward"], abs=LOS_TOLERANCE_M)  # the retry's


@pytest.mark.parametrize(("retries", "steps"), [(0, 1), (1, 2)])
def test_a_lean_that_ends_in_a_step_on_every_try_gives_no_limit(retries: int, steps: int) -> None:
    run = run_assessment(settings(stages=("limits_of_stability",), lean_retries=retries),
                         AssessmentPatient(step_on_lean="forward", steps_on_lean=steps))
    assert run.game.finished
    tries = [r for r in run.results if r.direction == "forward"]
    assert [r.outcome for r in tries] == [Outcome.FAULT] * (retries + 1)
    assert [r.direction for r in run.results[len(tries):]] == ["backward", "left", "right"]
    values = {(m.metric, m.side): m.value for m in assessment_metrics(run.results, sways(run), "L", LEG_M)}
    assert ("los_forward_m", "") not in values  # a stepped lean is no limit of stability
    assert values[("los_backward_m", "")] == pytest.approx(LOS_M["backward"], abs=LOS_TOLERANCE_M)


def test_walking_steps_per_side(metrics) -> None:
    for side in Side:
        length = metrics[("step_length_m", side.value, "")]
        assert length.value == pytest.approx(STEP_LENGTH_M[side], abs=1e-9) and length.n == 5
        # The lift is the highest sample of a 0.4 s arc sampled at 50 Hz: within 1 % of its peak.
        assert metrics[("foot_lift_m", side.value, "")].value == pytest.approx(LIFT_M[side], rel=0.01)
        # Landing to the other foot's landing: one swing plus one double support, to a sample
        # and the few ms by which the lower-lifting foot reaches the plant height sooner.
        assert metrics[("step_time_s", side.value, "")].value == pytest.approx(
            SWING_S + DOUBLE_SUPPORT_S, abs=DT + 0.01)
    assert metrics[("cadence_steps_per_min", "", "")].value == pytest.approx(
        60 / (SWING_S + DOUBLE_SUPPORT_S), rel=0.05)
    assert metrics[("symmetry_step_length", "", "")].value == pytest.approx(0.30 / 0.45, abs=1e-6)
    assert metrics[("symmetry_foot_lift", "", "")].value == pytest.approx(0.5, rel=0.02)
    assert metrics[("symmetry_step_time", "", "")].value == pytest.approx(1.0, abs=0.1)


def test_timed_stepping(metrics, full_run: Run) -> None:
    # Reaction ends at lift-off: the scripted reaction, plus one frame (the patient sees the
    # target in the frame after it appears) and the moment the swing takes to rise above the
    # 2.5 cm lift threshold (about 0.02 s), to a sample.
    for side in Side:
        assert metrics[("reaction_time_s", side.value, "")].value == pytest.approx(
            REACTION_S[side] + DT + 0.02, abs=DT + 0.005)
    total = metrics[("timed_stepping_s", "", "")]
    timed = [r for r in full_run.results if r.measures["stage"] == "timed_stepping"]
    assert total.n == 8 and timed[0].shown_at_s < timed[0].shown_at_s + total.value < timed[-1].ended_at_s


def test_every_metric_has_a_smallest_change(metrics) -> None:
    assert {name for name, _, _ in metrics} <= set(SMALLEST_CHANGE)
    assert all(m.family == "assessment" for m in metrics.values())


def test_a_faulted_reach_is_tried_again_after_the_others() -> None:
    run = run_assessment(settings(stages=("reach",), reach_directions=("anterior", "medial")),
                         AssessmentPatient(fault_reaches=1))
    assert run.game.finished
    got = [(r.foot, r.direction, r.outcome, r.measures["attempt"]) for r in run.results]
    right, left = AFFECTED.other, AFFECTED
    assert got == [(left, "anterior", Outcome.FAULT, 0), (left, "medial", Outcome.MISS, 0),
                   (left, "anterior", Outcome.MISS, 1),  # the retry, still standing on the right leg
                   (right, "anterior", Outcome.MISS, 0), (right, "medial", Outcome.MISS, 0)]
    assert run.results[0].measures["fault"] == "stance_lifted"
    values = {(m.metric, m.side, m.direction): m for m in
              assessment_metrics(run.results, sways(run), "L", LEG_M)}
    assert values[("reach_pct_ll", "L", "anterior")].n == 1  # the faulted reach does not count


# -- without a balance plate ------------------------------------------------------------------------


def test_quiet_stage_without_balance_input_ends_on_time_and_says_so() -> None:
    run = run_assessment(settings(stages=("quiet_eyes_open",)), AssessmentPatient(balance=None))
    [result] = run.results
    assert run.game.finished and result.direction == "quiet_eyes_open"
    assert result.measures["balance_source"] == "none" and result.measures["balance_samples"] == 0
    assert "no balance input" in str(result.measures["note"])
    assert result.ended_at_s - result.shown_at_s == pytest.approx(10.0, abs=2 * DT)
    assert assessment_metrics(run.results, sways(run), "L", LEG_M) == []


def test_a_pelvis_proxy_gives_sway_reported_as_a_proxy() -> None:
    run = run_assessment(settings(stages=("quiet_eyes_open", "quiet_eyes_closed")),
                         AssessmentPatient(balance="com_proxy"))
    assert len(run.sway) == 0 and run.sway.recorded == ("com_proxy",)  # no measured COP at all
    values = {(m.metric, m.direction): m.value
              for m in assessment_metrics(run.results, sways(run), "L", LEG_M)}
    assert values[("sway_velocity_ec_m_s", "com_proxy")] > values[("sway_velocity_eo_m_s", "com_proxy")]
    assert values[("romberg_ratio", "com_proxy")] > 1.0


def test_quiet_stage_waits_for_the_feet_to_be_home() -> None:
    game = AssessmentGame(settings(stages=("quiet_eyes_open",)), {}, 0.0)
    away = (home(Side.LEFT)[0] - 0.4, 0.3)
    t = 0.0
    while t < 5.0:
        game.on_foot(FootEvent(Side.LEFT, *away, 0.0, None, None, t, 0), t)
        game.on_foot(FootEvent(Side.RIGHT, *home(Side.RIGHT), 0.0, None, None, t, 1), t)
        game.tick(t)
        t += DT
    assert game.phase == "home" and game.snapshot()["stage"]["time_left_s"] is None
    while t < 6.5:
        for side in Side:
            game.on_foot(FootEvent(side, *home(side), 0.0, None, None, t, 2), t)
        game.tick(t)
        t += DT
    assert game.phase == "stand" and game.snapshot()["stage"]["time_left_s"] == pytest.approx(9.5, abs=0.1)
    game.close()


def test_a_pause_voids_the_stand_in_progress() -> None:
    game = AssessmentGame(settings(stages=("quiet_eyes_open",)), {}, 0.0)
    t, results = 0.0, []

    def step() -> None:
        nonlocal t
        for side in Side:
            results.extend(game.on_foot(FootEvent(side, *home(side), 0.0, None, None, t, 0), t))
        results.extend(game.tick(t))
        t += DT

    while t < 6.0:
        step()
    game.pause(t)
    assert game.phase == "paused"
    game.resume(t + 1.0)
    t += 1.0
    while not game.finished:
        step()
    [result] = results
    assert result.shown_at_s > 7.0  # timed again from the resume, not from before the pause
    game.close()


def test_the_game_is_registered_and_started_like_any_other() -> None:
    message = {"type": "start_game", "v": 1, "station": "station-1", "patient_id": 1, "game": "assessment",
               "settings": {"stages": ["walk", "quiet_eyes_open"], "quiet_s": 20, "walk_steps": 12},
               "difficulty": {"target_success": 0.75}}
    request = parse_start_game(open_envelope(message).fields)
    entry = GAMES["assessment"]
    s = entry.settings_from(request.settings, PatientInfo(Side.RIGHT, 0.85, None))
    assert s.stage_order == ("quiet_eyes_open", "walk") and s.affected_side is Side.RIGHT
    assert s.step_reach_m == pytest.approx(0.6 * 0.85)
    staircase = DifficultySet(entry.parameters)
    staircase.configure(target_success=0.75, level=0.3)
    assert staircase.values() == {} and staircase.initial_changes() == []
    game = entry.make(s, staircase.values(), 0.0)
    assert [e["stage"] for e in game.take_events()] == ["quiet_eyes_open"]
    json.dumps(game.snapshot())
    json.dumps(s.as_dict())
    game.close()
    assert not entry.adapts_per_direction and all(d for d in entry.directions)
    with pytest.raises(ProtocolError, match="quiet_s"):  # 10 to 60 s
        parse_start_game(Fields({**message, "settings": {"quiet_s": 5}}, "start_game"))


# -- compared with the baseline ---------------------------------------------------------------------


def row(metric: str, value: float, side: str = "", direction: str = "") -> dict:
    return {"metric": metric, "side": side, "direction": direction, "value": value}


def verdicts(baseline: list[dict], current: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(r["metric"], r["side"], r["direction"]): r for r in compare(baseline, current)}


def test_compare_flags_changes_at_least_the_smallest_worth_noting() -> None:
    step = SMALLEST_CHANGE["reach_composite_pct_ll"].absolute  # 6 % LL, higher is better
    baseline = [row("reach_composite_pct_ll", 50.0, "L"), row("reach_composite_pct_ll", 50.0, "R"),
                row("step_time_s", 0.80, "L"), row("step_time_s", 0.80, "R"), row("cadence_steps_per_min", 80.0)]
    current = [row("reach_composite_pct_ll", 50.0 + step, "L"),  # exactly the smallest change: flagged
               row("reach_composite_pct_ll", 50.0 - step + 0.5, "R"),  # just short of it
               row("step_time_s", 0.65, "L"),  # lower is better
               row("step_time_s", 0.95, "R"),
               row("cadence_steps_per_min", 83.0),
               row("symmetry_reach", 0.7)]
    v = verdicts(baseline, current)
    assert v[("reach_composite_pct_ll", "L", "")]["verdict"] == "improved"
    assert v[("reach_composite_pct_ll", "L", "")]["change"] == pytest.approx(step)
    assert v[("reach_composite_pct_ll", "R", "")]["verdict"] == "no notable change"
    assert v[("step_time_s", "L", "")]["verdict"] == "improved"
    assert v[("step_time_s", "R", "")]["verdict"] == "worse"
    assert v[("step_time_s", "R", "")]["better"] == "lower" and v[("step_time_s", "R", "")]["unit"] == "s"
    assert v[("cadence_steps_per_min", "", "")]["verdict"] == "no notable change"
    new = v[("symmetry_reach", "", "")]
    assert new["verdict"] == "new" and new["baseline"] is None and new["change"] is None


def test_compare_uses_the_relative_threshold_and_nearness_to_symmetry() -> None:
    baseline = [row("sway_velocity_eo_m_s", 0.020, direction="cop"), row("symmetry_step_length", 0.60),
                row("symmetry_foot_lift", 0.95), row("timed_stepping_s", 20.0)]
    current = [row("sway_velocity_eo_m_s", 0.016, direction="cop"),  # -20 %: under the 25 % needed
               row("symmetry_step_length", 0.75),  # toward 1
               row("symmetry_foot_lift", 1.2),  # past 1 and further from it
               row("timed_stepping_s", 16.9),  # 3.1 s better: more than 15 % of 20 s
               row("sway_velocity_eo_m_s", 0.01, direction="com_proxy")]  # another source: new
    v = verdicts(baseline, current)
    sway = v[("sway_velocity_eo_m_s", "", "cop")]
    assert sway["verdict"] == "no notable change" and sway["smallest_change"] == pytest.approx(0.005)
    assert v[("symmetry_step_length", "", "")]["verdict"] == "improved"
    assert v[("symmetry_step_length", "", "")]["better"] is None
    assert v[("symmetry_step_length", "", "")]["ideal"] == 1.0
    assert v[("symmetry_foot_lift", "", "")]["verdict"] == "worse"
    assert v[("timed_stepping_s", "", "")]["verdict"] == "improved"
    assert v[("sway_velocity_eo_m_s", "", "com_proxy")]["verdict"] == "new"


def test_compare_of_a_simulated_patient_with_itself_finds_no_change(metrics) -> None:
    rows = [{"metric": m.metric, "side": m.side, "direction": m.direction, "value": m.value} for m in metrics.values()]
    assert {r["verdict"] for r in compare(rows, rows)} == {"no notable change"}


def test_smallest_change_table_is_complete() -> None:
    for name, rule in SMALLEST_CHANGE.items():
        assert rule.absolute > 0 and rule.unit and rule.basis, name
        assert rule.better in ("higher", "lower") or rule.better is None, name
    # Only where the weight rests forward or back has neither a better way nor an ideal.
    assert [n for n, r in SMALLEST_CHANGE.items() if r.better is None and r.ideal is None] == ["quiet_centre_y_m"]


def test_the_resting_centre_is_measured_and_a_move_of_it_is_reported() -> None:
    """Quiet standing with the weight 3 cm toward the right foot: the eyes-open centre says so, a
    later centre nearer the midpoint is an improvement, one moved forward is a change."""
    run = run_assessment(settings(stages=("quiet_eyes_open",)), AssessmentPatient(cop_offset_m=(0.03, 0.01)))
    values = {(m.metric, m.direction): m.value for m in assessment_metrics(run.results, sways(run), "L", LEG_M)}
    assert values[("quiet_centre_x_m", "cop")] == pytest.approx(0.03, abs=0.003)
    assert values[("quiet_centre_y_m", "cop")] == pytest.approx(0.01, abs=0.003)
    rows = compare([row("quiet_centre_x_m", 0.03, direction="cop"), row("quiet_centre_y_m", 0.0, direction="cop")],
                   [row("quiet_centre_x_m", 0.01, direction="cop"), row("quiet_centre_y_m", 0.02, direction="cop")])
    assert [r["verdict"] for r in rows] == ["improved", "changed"]



def test_a_clinics_table_replaces_the_thresholds_it_names_and_keeps_units_and_directions(tmp_path) -> None:
    table = tmp_path / "ours.toml"
    table.write_text('[step_length_m]\nabsolute = 0.03\nsource = "our 2026 test-retest"\n'
                     '[sway_velocity_eo_m_s]\nabsolute = 0.001\nrelative = 0.15\nsource = "Smith 2020"\n')
    rules = load_smallest_changes(table)
    step = rules["step_length_m"]
    assert (step.absolute, step.relative, step.unit, step.better) == (0.03, 0.0, "m", "higher")
    assert step.basis == "set by the clinic: our 2026 test-retest"
    assert rules["sway_velocity_eo_m_s"].at(0.02) == pytest.approx(0.003)  # 15 % of the baseline
    assert rules["cadence_steps_per_min"] is SMALLEST_CHANGE["cadence_steps_per_min"]  # not named: default
    # +4 cm of step length: worth noting for this clinic (3 cm), not by default (5 cm)
    baseline, current = [row("step_length_m", 0.30, "L")], [row("step_length_m", 0.34, "L")]
    assert compare(baseline, current, rules)[0]["verdict"] == "improved"
    assert compare(baseline, current)[0]["verdict"] == "no notable change"


@pytest.mark.parametrize(("text", "message"), [
    ('[reach]\nabsolute = 5.0\nsource = "x"\n', "no assessment metric 'reach'"),
    ('[step_length_m]\nabsolute = 0.03\n', "needs a 'source'"),
    ('[step_length_m]\nabsolute = -0.03\nsource = "x"\n', "absolute must be a number >= 0 (in m)"),
    ('[step_length_m]\nrelative = 0.1\nsource = "x"\n', "needs 'absolute' (in m)"),
    ('[step_length_m]\nabsolute = 0.0\nsource = "x"\n', "absolute or relative above 0"),
    ('[step_length_m]\nabsolute = 0.03\nbetter = "lower"\nsource = "x"\n', "unknown keys ['better']"),
    ("step_length_m = 0.03\n", "must be a table"),
    ("[step_length_m\n", "is not valid TOML"),
])
def test_a_clinics_table_that_cannot_be_used_says_which_entry_and_why(tmp_path, text: str, message: str) -> None:
    table = tmp_path / "ours.toml"
    table.write_text(text)
    with pytest.raises(SmallestChangeError, match=re.escape(message)):
        load_smallest_changes(table)
    with pytest.raises(SmallestChangeError, match="cannot read"):
        load_smallest_changes(tmp_path / "missing.toml")
