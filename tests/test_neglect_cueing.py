"""Neglect cueing in the stepping game, driven by simulated patients over simulated time.

A patient with left neglect leaves the left (affected) foot standing: the game must cue it (idle,
and after repeated misses), raise the left-target share one step per cue up to the therapist's
ceiling, and time how long the foot takes to answer a cue. A patient without neglect is never cued.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from clients.sim_patient import Ability, SimulatedPatient, StepPlan, feet_at, home_of
from games.base import Outcome, TrialResult
from games.events import FootEvent, Side
from games.neglect import NeglectCueing, raised_share
from games.registry import GAMES
from games.setting_fields import PatientInfo
from games.stepping.settings import SteppingSettings
from scoring.neglect import neglect_metrics

DT = 0.02  # 50 Hz, a tracker's rate
DIFFICULTY = {"step_distance_frac": 0.5, "target_radius_m": 0.1, "time_window_s": 8.0}
ABLE = Ability(step_reach_m=0.45, placement_sd_m=0.01, reaction_s=0.3, hold_s=0.8)


@dataclass
class Patient:
    """Steps to every target it sees, the simulated patient's way (clients/sim_patient.py)."""

    sim: SimulatedPatient
    plan: StepPlan | None = None
    plan_start_s: float = 0.0
    trial: int = -1

    def see(self, snapshot: dict[str, Any], now_s: float) -> None:
        target = snapshot["target"]
        if target is not None and snapshot["trial"] != self.trial:
            self.trial = snapshot["trial"]
            self.new_target(Side(target["foot"]), target["x_m"], target["y_m"], now_s)

    def new_target(self, foot: Side, x_m: float, y_m: float, now_s: float) -> None:
        self.start(self.sim.plan(foot, x_m, y_m), now_s)

    def start(self, plan: StepPlan, now_s: float) -> None:
        self.plan, self.plan_start_s = plan, now_s

    def busy(self, now_s: float) -> bool:
        return self.plan is not None and now_s - self.plan_start_s < self.plan.duration_s

    def hear(self, events: list[dict[str, Any]], now_s: float, snapshot: dict[str, Any]) -> None:
        pass

    def events(self, now_s: float, seq: int) -> list[FootEvent]:
        """Both feet, as a pressure mat reports them (contact exactly while the foot is down)."""
        samples = feet_at(self.plan, now_s - self.plan_start_s)
        return [FootEvent(s.side, s.x_m, s.y_m, s.z_m, s.z_m == 0.0, None, now_s, seq) for s in samples]


@dataclass
class NeglectingPatient(Patient):
    """Never moves the neglected foot on its own; after a cue (``response_delay_s`` None: never)
    it lifts that foot ``response_delay_s`` later: to the target when one is up for it, else in
    place. Then it forgets the foot again."""

    neglected: Side = Side.LEFT
    response_delay_s: float | None = None
    waiting: tuple[float, float] | None = None  # the neglected foot's target now up

    def see(self, snapshot: dict[str, Any], now_s: float) -> None:
        target = snapshot["target"]
        if target is None or Side(target["foot"]) is not self.neglected:
            self.waiting = None
        super().see(snapshot, now_s)

    def new_target(self, foot: Side, x_m: float, y_m: float, now_s: float) -> None:
        if foot is self.neglected:
            self.waiting = (x_m, y_m)
        else:
            super().new_target(foot, x_m, y_m, now_s)

    def hear(self, events: list[dict[str, Any]], now_s: float, snapshot: dict[str, Any]) -> None:
        delay = self.response_delay_s
        if delay is None or self.busy(now_s) or not any(e["kind"] == "cue" for e in events):
            return
        if self.waiting is not None:
            plan = replace(self.sim.plan(self.neglected, *self.waiting), reaction_s=delay)
        else:
            home = home_of(self.neglected)
            plan = StepPlan(self.neglected, home, home, delay, 0.25, 0.0, 0.06)
        self.start(plan, now_s)


@dataclass
class Run:
    results: list[TrialResult] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def play(game: Any, patient: Patient, seconds: float,
         check: Callable[[Any, float, list[dict[str, Any]]], None] | None = None) -> Run:
    """Feed the game both feet and a tick every ``DT`` of simulated time; the patient sees the
    snapshot and hears the events, as a headset would."""
    run = Run()
    for i in range(1, round(seconds / DT) + 1):
        now = round(i * DT, 6)
        for event in patient.events(now, i):
            run.results += game.on_foot(event, now)
        run.results += game.tick(now)
        events = game.take_events()
        run.events += events
        snapshot = game.snapshot()
        if check is not None:
            check(game, now, events)
        patient.hear(events, now, snapshot)
        patient.see(snapshot, now)
    return run


def stepping(difficulty: dict[str, float] | None = None, **settings: Any) -> Any:
    values = {"affected_side": Side.LEFT, "affected_side_share": 0.5, "neglect_cueing": True,
              "inter_trial_s": 1.0, "dwell_s": 0.5, "seed": 11, **settings}
    return GAMES["stepping"].make(SteppingSettings(**values), {**DIFFICULTY, **(difficulty or {})}, 0.0)


def cues(run: Run) -> list[dict[str, Any]]:
    return [e for e in run.events if e["kind"] == "cue"]


def responses(run: Run) -> list[dict[str, Any]]:
    return [e for e in run.events if e["kind"] == "cue_response"]


def assert_share_steps(run: Run, start: float, step: float, ceiling: float) -> None:
    """Each cue raised the share by one step from where the last one left it, never above the ceiling."""
    share = start
    for cue in cues(run):
        assert cue["share_before"] == pytest.approx(share)
        share = min(ceiling, share + step)
        assert cue["affected_side_share"] == pytest.approx(share)
        assert cue["affected_side_share"] <= ceiling
    assert share == pytest.approx(ceiling), "enough cues to reach the ceiling"


def test_a_patient_who_never_moves_the_left_foot_is_cued_and_the_share_climbs_to_the_ceiling() -> None:
    game = stepping(affected_side_share=0.5, affected_side_share_max=0.7, cue_share_step=0.05,
                    cue_idle_s=3.0, cue_after_misses=2)
    seen_active = []

    def check(game: Any, now: float, events: list[dict[str, Any]]) -> None:
        cueing = game.snapshot()["cueing"]
        share = game.settings.affected_side_share
        assert cueing["affected_side_share"] == share == game.rules.settings.affected_side_share
        assert cueing["affected_side_share"] <= 0.7
        if events:
            seen_active.append(cueing["active"])

    patient = NeglectingPatient(SimulatedPatient(ABLE, seed=1))
    run = play(game, patient, 200.0, check)
    left = [r for r in run.results if r.foot is Side.LEFT]
    assert left and all(r.outcome is Outcome.TIMEOUT for r in left), "the left foot never moved"
    assert all(r.outcome is Outcome.HIT for r in run.results if r.foot is Side.RIGHT)
    reasons = [c["reason"] for c in cues(run)]
    # an 8 s window: idle cues at 3 s and 6 s after each left target appears, and a missed cue
    # after every second left target in a row timed out (right targets do not break the run)
    assert reasons.count("idle") == 2 * len(left)
    assert reasons.count("missed") == len(left) // 2
    for cue in cues(run):
        assert cue["side"] == "L" and cue["cues"] == ["highlight", "sound"]
    idle_at = [c["at_s"] for c in cues(run) if c["reason"] == "idle"]
    shown = [r.shown_at_s for r in left]
    expected_idle = sorted(s + k * 3.0 for s in shown for k in (1, 2))
    assert idle_at == pytest.approx(expected_idle, abs=DT + 1e-9), "one idle cue per cue_idle_s, no more"
    assert_share_steps(run, 0.5, 0.05, 0.7)
    assert responses(run) == [] and all(seen_active)
    # each trial counts its own cues; together they are every cue
    assert sum(int(r.measures["cues"]) for r in run.results) == len(cues(run))
    assert all("cue_response_s" not in r.measures for r in run.results)
    metrics = {m.metric: m for m in neglect_metrics(run.results, run.events, "L")}
    assert metrics["cue_count"].value == len(cues(run))
    assert "cue_response_s" not in metrics
    assert metrics["affected_side_share_final"].value == pytest.approx(0.7)
    assert metrics["affected_target_share"].value == pytest.approx(len(left) / len(run.results))
    game.close()


def test_idle_cues_are_answered_after_the_patients_delay() -> None:
    delay = 0.6
    game = stepping(affected_side_share=0.6, affected_side_share_max=0.9, cue_idle_s=3.0)
    patient = NeglectingPatient(SimulatedPatient(ABLE, seed=2), response_delay_s=delay)
    run = play(game, patient, 150.0)
    left = [r for r in run.results if r.foot is Side.LEFT]
    assert len(left) >= 5
    # the left foot stepped only after the idle cue 3 s into each target, and hit it
    assert all(r.outcome is Outcome.HIT for r in run.results)
    assert [c["reason"] for c in cues(run)] == ["idle"] * len(left)
    for r in left:
        assert r.reaction_time_s == pytest.approx(3.0 + delay, abs=2 * DT + 1e-9)
        assert r.measures["cues"] == 1.0
        assert r.measures["cue_response_s"] == pytest.approx(delay, abs=DT + 1e-9)
    assert all(r.measures["cues"] == 0.0 for r in run.results if r.foot is Side.RIGHT)
    times = [e["response_time_s"] for e in responses(run)]
    assert len(times) == len(cues(run))
    assert times == pytest.approx([delay] * len(times), abs=DT + 1e-9), "delay within one tick"
    assert [e["side"] for e in responses(run)] == ["L"] * len(times)
    metrics = {m.metric: m for m in neglect_metrics(run.results, run.events, "L")}
    assert metrics["cue_count"].value == len(left)
    assert metrics["cue_response_s"].value == pytest.approx(delay, abs=DT + 1e-9)
    assert metrics["cue_response_s"].n == len(times)
    assert metrics["affected_side_share_final"].value == cues(run)[-1]["affected_side_share"]
    assert_share_steps(run, 0.6, 0.05, 0.9)
    game.close()


def test_missed_targets_raise_a_cue_that_is_answered() -> None:
    delay = 0.4
    # a window shorter than cue_idle_s: only misses can raise cues
    game = stepping(affected_side_share=0.5, affected_side_share_max=0.8, cue_idle_s=5.0,
                    cue_after_misses=3, difficulty={"time_window_s": 2.0})
    patient = NeglectingPatient(SimulatedPatient(ABLE, seed=3), response_delay_s=delay)
    run = play(game, patient, 200.0)
    left = [r for r in run.results if r.foot is Side.LEFT]
    assert [c["reason"] for c in cues(run)] == ["missed"] * (len(left) // 3)
    assert len(cues(run)) >= 4
    # the cue comes as the third left target in a row ends, and counts for that trial
    cued = [r for r in run.results if r.measures["cues"]]
    assert [r.index for r in cued] == [left[i].index for i in range(2, len(left) - len(left) % 3, 3)]
    assert [c["at_s"] for c in cues(run)] == pytest.approx([r.ended_at_s for r in cued])
    times = [e["response_time_s"] for e in responses(run)]
    assert times == pytest.approx([delay] * len(cues(run)), abs=DT + 1e-9)
    assert_share_steps(run, 0.5, 0.05, 0.8)
    game.close()


def test_a_patient_without_neglect_is_never_cued() -> None:
    game = stepping(affected_side_share=0.7)
    run = play(game, Patient(SimulatedPatient(ABLE, seed=4)), 100.0)
    assert len(run.results) > 20 and all(r.outcome is Outcome.HIT for r in run.results)
    assert run.events == []
    assert game.settings.affected_side_share == 0.7
    assert all(r.measures["cues"] == 0.0 for r in run.results)
    assert game.snapshot()["cueing"] == {"side": "L", "active": False, "affected_side_share": 0.7, "cues": 0}
    metrics = {m.metric: m.value for m in neglect_metrics(run.results, run.events, Side.LEFT)}
    assert metrics["cue_count"] == 0.0 and "affected_side_share_final" not in metrics
    game.close()


def test_without_the_setting_there_is_no_cueing_state() -> None:
    game = stepping(neglect_cueing=False)
    run = play(game, NeglectingPatient(SimulatedPatient(ABLE, seed=5)), 60.0)
    assert run.events == [] and "cueing" not in game.snapshot()
    assert all("cues" not in r.measures for r in run.results)
    game.close()


def test_a_cue_is_active_until_the_foot_moves_and_a_slide_counts() -> None:
    cueing = NeglectCueing(Side.LEFT, idle_s=3.0, after_misses=2)
    target = object()
    cueing.watch(target, Side.LEFT, -0.1, 0.0, 10.0)
    assert cueing.idle_cue(True, -0.1, 0.0, 12.9) is None
    assert cueing.observe(-0.11, 0.01, True, 12.9) is None  # 1.4 cm: still
    cue = cueing.idle_cue(True, -0.11, 0.01, 13.0)
    assert cue is not None and cue.reason == "idle" and cueing.active
    assert cueing.idle_cue(True, -0.11, 0.01, 15.9) is None, "one cue per cue_idle_s"
    response = cueing.observe(-0.11, 0.035, True, 14.5)  # slid 2.5 cm: answered
    assert response is not None and response.response_time_s == pytest.approx(1.5) and not cueing.active
    assert cueing.take_trial_measures() == {"cues": 1.0, "cue_response_s": pytest.approx(1.5)}
    assert cueing.take_trial_measures() == {"cues": 0.0}
    # the sound foot's targets neither raise idle cues nor break a run of misses
    assert cueing.trial_ended(Side.LEFT, Outcome.WRONG_FOOT, 0, 0, 20.0) is None
    assert cueing.trial_ended(Side.RIGHT, Outcome.HIT, 0, 0, 21.0) is None
    missed = cueing.trial_ended(Side.LEFT, Outcome.TIMEOUT, 0, 0, 22.0)
    assert missed is not None and missed.reason == "missed"


def test_share_steps_stop_at_the_ceiling() -> None:
    assert raised_share(0.7, 0.05, 0.9) == pytest.approx(0.75)
    assert raised_share(0.88, 0.05, 0.9) == 0.9
    assert raised_share(0.95, 0.05, 0.9) == 0.95, "a share set above the ceiling is not lowered"


def test_settings_from_a_request() -> None:
    patient = PatientInfo(Side.LEFT, 0.9)
    s = SteppingSettings.from_request({"neglect_cueing": True, "cue_idle_s": 5, "cue_after_misses": 3,
                                       "cue_share_step": 0.1, "affected_side_share": 0.6,
                                       "affected_side_share_max": 0.8}, patient)
    assert (s.neglect_cueing, s.cue_idle_s, s.cue_after_misses, s.cue_share_step, s.affected_side_share_max) == (
        True, 5.0, 3, 0.1, 0.8)
    assert SteppingSettings().affected_side_share_max == 0.9 and SteppingSettings().cue_idle_s == 3.0
    with pytest.raises(ValueError, match=r"affected_side_share_max.*at least"):
        SteppingSettings.from_request({"neglect_cueing": True, "affected_side_share": 0.8,
                                       "affected_side_share_max": 0.7}, patient)
    for bad in ({"cue_idle_s": 0.5}, {"cue_after_misses": 11}, {"cue_share_step": 0.5},
                {"affected_side_share_max": 1.5}):
        with pytest.raises(ValueError):
            SteppingSettings.from_request(bad, patient)


def test_neglect_metrics_from_events() -> None:
    events = [
        {"kind": "cue", "side": "L", "reason": "idle", "at_s": 1.0, "affected_side_share": 0.75,
         "share_before": 0.7},
        {"kind": "cue_response", "side": "L", "response_time_s": 0.5, "at_s": 1.5},
        {"kind": "cue", "side": "L", "reason": "missed", "at_s": 9.0, "affected_side_share": 0.8,
         "share_before": 0.75},
        {"kind": "cue_response", "side": "L", "response_time_s": 1.5, "at_s": 10.5},
    ]
    base = TrialResult(0, Side.LEFT, "anterior", 0.0, -0.1, 0.3, 0.3, 0.1, Outcome.HIT, 0.0, 1.0,
                       None, None, None, None, None, None)
    results = [base, replace(base, index=1), replace(base, index=2, foot=Side.RIGHT), replace(base, index=3)]
    m = {x.metric: x for x in neglect_metrics(results, events, "L")}
    assert m["cue_count"].value == 2.0
    assert (m["cue_response_s"].value, m["cue_response_s"].n) == (1.0, 2)
    assert m["cue_response_s"].sd == pytest.approx(math.sqrt(0.5))
    assert m["affected_side_share_final"].value == 0.8
    assert m["affected_target_share"].value == 0.75
    assert {x.family for x in m.values()} == {"neglect"} and {x.side for x in m.values()} == {"L"}


def test_a_pause_does_not_count_in_a_cues_response_time() -> None:
    cueing = NeglectCueing(Side.LEFT, idle_s=2.0, after_misses=2)
    cueing.watch(object(), Side.LEFT, -0.1, 0.0, 0.0)
    cue = cueing.idle_cue(True, -0.1, 0.0, 2.0)
    assert cue is not None and cueing.active
    cueing.skip(30.0)  # the therapist paused for 30 s, 0.5 s after the cue
    response = cueing.observe(-0.1, 0.0, False, 33.0)  # the foot lifts 0.5 s after the resume
    assert response is not None and response.response_time_s == pytest.approx(1.0)
