"""The instrumented standard measures: the detection functions on simulated trajectories of known
timing (clients/sim_measures.py), and the assessment's stages played by that patient in
simulated time, the way the server runs them (events in, ticks, results out; the pelvis recorded
as ``server.play`` records the tracker's markers)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from clients.sim_measures import (
    ChairAbility,
    FeetScript,
    MeasuresPatient,
    PelvisScript,
    five_sts_script,
    tug_script,
    walk_script,
)
from games.assessment import AssessmentGame, AssessmentSettings
from games.assessment.four_square import square_of
from games.assessment.settings import DEFAULT_STAGES, FSST_SEQUENCE, STAGE_INPUTS, STAGE_NAMES, STANDARD_STAGES
from games.base import Outcome, TrialResult
from games.events import FEET, PELVIS_HEIGHT, BalanceEvent, FootEvent, Side
from games.registry import GAMES
from scoring.assessment import assessment_metrics
from scoring.errors import AnalysisError
from scoring.input_chunks import InputJournal, restore
from scoring.metric import MetricValue
from scoring.outcomes.measures import BY_STORED_METRIC
from scoring.recordings.labels import PELVIS
from scoring.session_metrics import analyse_recorded
from scoring.standard_measures import (
    Landing,
    PelvisTrack,
    five_times_sit_to_stand,
    four_square_step,
    sit_stands,
    ten_metre_walk_speed_m_s,
    timed_up_and_go,
)
from scoring.trajectories import SwayRecorder, TrajectoryRecorder
from server.device_input import event_wire, parse_balance_wire
from server.device_kinds import PRESSURE_MAT, PROVIDES, TRACKER

RATE_HZ = 50.0
NOISE_M = 0.001  # a tracker's marker jitter
# Detected times against the script's: the rise's and sit's first and last few hundredths of a
# second are slower than any threshold can see, a walk's bob shifts "standing" by up to a tenth.
TOLERANCE_S = 0.15
DEVICE_CLOCK_OFFSET_S = 1000.0


def sample(script: PelvisScript, before_s: float = 1.0, after_s: float = 2.0, rate_hz: float = RATE_HZ,
           seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The script as a tracker samples it, with jitter, from ``before_s`` before it starts."""
    t = np.arange(-before_s, script.duration_s + after_s, 1.0 / rate_hz)
    p = np.array([script.at(max(0.0, x)) for x in t])
    return t, p + np.random.default_rng(seed).normal(0.0, NOISE_M, p.shape)


# -- detection on known trajectories ----------------------------------------------------------------


@pytest.mark.parametrize("ability", [ChairAbility(), ChairAbility(rise_s=2.0, sit_s=2.5, walk_m_s=0.4, turn_s=3.0),
                                     ChairAbility(seated_m=0.62, standing_m=0.88, rise_s=0.8, sit_s=0.9,
                                                  walk_m_s=1.3, turn_s=1.0, turn_to_sit_s=0.8)],
                         ids=["typical", "slow", "quick-short-rise"])
def test_timed_up_and_go_total_and_phases_match_the_script(ability: ChairAbility) -> None:
    script = tug_script(ability)
    t, p = sample(script)
    found = timed_up_and_go(t + 50.0, p[:, 0], p[:, 1], p[:, 2])
    assert found.total_s == pytest.approx(script.duration_s, abs=TOLERANCE_S)
    expected = {"sit_to_stand": script.span("rise"), "walk_out": script.span("walk_out"),
                "turn": script.span("turn"), "walk_back": script.span("walk_back"),
                "turn_to_sit": script.span("turn_to_sit", "sit")}
    for phase, value in found.phases().items():
        assert value == pytest.approx(expected[phase], abs=TOLERANCE_S), phase
    assert sum(found.phases().values()) == pytest.approx(found.total_s)
    assert found.distance_m == pytest.approx(3.0 + 0.15, abs=0.05)


def test_five_times_sit_to_stand_counts_stands_and_times_to_the_last_sit() -> None:
    ability = ChairAbility(rise_s=1.1, sit_s=1.3, stand_pause_s=0.3, seat_pause_s=0.2)
    script = five_sts_script(ability)
    t, p = sample(script, rate_hz=100.0)
    found = five_times_sit_to_stand(t, p[:, 2])
    assert found.stands == 5
    assert found.total_s == pytest.approx(script.duration_s, abs=TOLERANCE_S)
    assert found.to_fifth_stand_s == pytest.approx(script.span("rise1", "rise5"), abs=TOLERANCE_S)


def test_four_stands_are_not_five() -> None:
    t, p = sample(five_sts_script(ChairAbility(), stands=4))
    found = five_times_sit_to_stand(t, p[:, 2])
    assert (found.stands, found.total_s, found.to_fifth_stand_s) == (4, None, None)


def test_sitting_still_is_no_sit_to_stand() -> None:
    t = np.arange(0.0, 5.0, 0.02)
    z = 0.55 + np.random.default_rng(1).normal(0.0, 0.003, t.size)
    with pytest.raises(AnalysisError, match="rose only"):
        sit_stands(t, z)


def test_a_marker_gap_is_skipped() -> None:
    script = five_sts_script(ChairAbility())
    t, p = sample(script)
    z = p[:, 2].copy()
    z[200:215] = np.nan  # 0.3 s unseen mid-test
    assert five_times_sit_to_stand(t, z).total_s == pytest.approx(script.duration_s, abs=TOLERANCE_S)


@pytest.mark.parametrize(("speed", "heading"), [(0.4, 0.0), (0.8, 30.0), (1.6, 200.0)])
def test_ten_metre_walk_speed_over_the_middle_six_metres(speed: float, heading: float) -> None:
    script = walk_script((1.0, -2.0, 0.95), heading, speed)
    t, p = sample(script)
    assert ten_metre_walk_speed_m_s(t, p[:, 0], p[:, 1]) == pytest.approx(speed, rel=0.02)


def test_a_walk_that_stops_short_has_no_speed() -> None:
    t, p = sample(walk_script((0.0, 0.0, 0.95), 0.0, 1.0, distance_m=7.0))
    with pytest.raises(AnalysisError, match="did not pass 8 m"):
        ten_metre_walk_speed_m_s(t, p[:, 0], p[:, 1])


def landings(script: FeetScript) -> list[Landing]:
    return [Landing(t, side.value, square) for t, side, square in script.landings()]


def test_four_square_step_times_from_square_two_to_back_in_square_one() -> None:
    script = FeetScript(swing_s=0.35, pause_s=0.15)
    found = four_square_step(landings(script))
    times = [t for t, _, _ in script.landings()]
    first_in_two = next(t for t, _, square in script.landings() if square == 2)
    assert (found.errors, found.squares_done) == (0, len(FSST_SEQUENCE) - 1)
    assert found.time_s == pytest.approx(times[-1] - first_in_two)


@pytest.mark.parametrize("wrong_at", [1, 4, 8])
def test_a_landing_in_the_wrong_square_is_one_sequence_error(wrong_at: int) -> None:
    found = four_square_step(landings(FeetScript(wrong_at=wrong_at)))
    assert found.errors == 1 and found.time_s is not None


def test_a_skipped_square_is_an_error_and_the_rest_still_counts() -> None:
    script = FeetScript()
    skipping = [x for x in landings(script) if not (x.square == 3 and x.t_s < 3.0)]  # 2 straight to 4
    found = four_square_step(skipping)
    assert found.errors == 2 and found.time_s is not None  # both feet landed in 4 out of order


def test_stopping_half_way_gives_errors_but_no_time() -> None:
    found = four_square_step(landings(FeetScript())[:8])
    assert found.time_s is None and found.squares_done == 4


def test_squares_on_the_floor() -> None:
    size = 0.45
    assert [square_of(x, y, size) for x, y in ((0.0, 0.0), (0.0, size), (size, size), (size, 0.0))] == [1, 2, 3, 4]
    assert square_of(-0.5, 0.0, size) == 0 and square_of(0.0, 1.0, size) == 0


# -- the stages, played in simulated time -------------------------------------------------------------


@dataclass
class Run:
    game: AssessmentGame
    results: list[TrialResult]
    events: list[dict[str, Any]]
    pelvis: TrajectoryRecorder
    snapshots: list[dict[str, Any]]
    patient: MeasuresPatient

    def metrics(self) -> dict[str, MetricValue]:
        track = self.pelvis.track(PELVIS)
        values = assessment_metrics(self.results, {}, "L", 0.9, None if track is None else PelvisTrack(*track))
        return {v.metric: v for v in values}

    def device_time(self, t_s: float) -> float:
        return t_s + DEVICE_CLOCK_OFFSET_S


def play(stages: tuple[str, ...], patient: MeasuresPatient | None = None, limit_s: float = 300.0,
         tracker: bool = True, pause_s: tuple[float, float] | None = None, **overrides: Any) -> Run:
    """The assessment as the server runs it, with a tracker: foot events and a pelvis proxy (with
    its height) in; the pelvis marker recorded in device time. ``pause_s``: (from, to) the game is
    paused (as the therapist's pause does)."""
    patient = patient or MeasuresPatient()
    s = AssessmentSettings(affected_side=Side.LEFT, leg_length_m=0.9, stages=stages, ready_s=0.5, **overrides)
    game = AssessmentGame(s, {}, start_s=0.0)
    results: list[TrialResult] = []
    events = list(game.take_events())
    rec = TrajectoryRecorder()
    snapshots: list[dict[str, Any]] = []
    t, seq, dt = 0.0, 0, 1.0 / RATE_HZ
    snap = game.snapshot()
    while not game.finished and t < limit_s:
        patient.act(snap, t)
        device_t = t + DEVICE_CLOCK_OFFSET_S
        for side, (x, y, z) in patient.feet.items():
            results += game.on_foot(FootEvent(side, x, y, z, None, None, device_t, seq), t)
            seq += 1
        if tracker:
            x, y, z = patient.pelvis
            rec.append(device_t, {PELVIS: patient.pelvis})
            results += game.on_balance(BalanceEvent(x, y, None, None, "com_proxy", device_t, seq, z), t)
            seq += 1
        if pause_s is not None and pause_s[0] <= t < pause_s[0] + dt:
            game.pause(t)
        if pause_s is not None and pause_s[1] <= t < pause_s[1] + dt:
            game.resume(t)
        results += game.tick(t)
        events += game.take_events()
        snap = game.snapshot()
        snapshots.append(snap)
        t += dt
    return Run(game, results, events, rec, snapshots, patient)


def test_standard_stages_are_chosen_not_run_by_default_and_follow_the_right_input() -> None:
    assert not set(STANDARD_STAGES) & set(DEFAULT_STAGES)
    assert AssessmentSettings().stages == DEFAULT_STAGES
    chair_and_walk = ("five_times_sit_to_stand", "timed_up_and_go", "ten_metre_walk")
    assert {STAGE_INPUTS[s] for s in chair_and_walk} == {PELVIS_HEIGHT}
    assert STAGE_INPUTS["four_square_step"] == FEET
    entry = GAMES["assessment"]
    assert entry.inputs(AssessmentSettings(stages=("timed_up_and_go",))) == {PELVIS_HEIGHT}
    # a force plate or a mat cannot do the chair and walking tests; a tracker can do everything
    assert entry.playable_with(PROVIDES[PRESSURE_MAT]) == ("assessment (stages: " + ", ".join(
        s for s in STAGE_NAMES if STAGE_INPUTS[s] != PELVIS_HEIGHT) + ")")
    assert entry.playable_with(PROVIDES[TRACKER]) == "assessment"


def test_a_pelvis_height_survives_the_relay_to_the_process_hosting_the_game() -> None:
    pelvis = BalanceEvent(0.1, 1.2, None, None, "com_proxy", 12.5, 7, 0.93)
    kind, data = event_wire(pelvis)
    assert kind == "balance" and parse_balance_wire(data) == pelvis
    cop = BalanceEvent(0.01, 0.02, 700.0, 0.5, "cop", 12.5, 8)
    assert "z_m" not in event_wire(cop)[1] and parse_balance_wire(event_wire(cop)[1]) == cop


def test_timed_up_and_go_stage_shows_its_instruction_and_is_measured_from_the_pelvis() -> None:
    run = play(("timed_up_and_go",))
    assert run.game.finished
    stages = [e for e in run.events if e.get("kind") == "stage"]
    assert [e["stage"] for e in stages] == ["timed_up_and_go"]
    waiting = next(s for s in run.snapshots if s["phase"] == "home")["stage"]
    going = next(s for s in run.snapshots if s["phase"] == "test")["stage"]
    assert "Sit on the chair" in waiting["instruction"]
    assert "walk to the line 3 metres ahead" in going["instruction"] and going["turn_line_m"] == 3.0
    assert going["test"] == "timed_up_and_go" and going["pelvis"]["z_m"] < 0.7
    [result] = run.results
    assert result.outcome is Outcome.HIT and result.direction == "timed_up_and_go"
    assert result.measures["balance_source"] == "com_proxy"
    played = run.patient.played[0].script
    assert isinstance(played, PelvisScript)
    m = run.metrics()
    assert m["tug_s"].value == pytest.approx(played.duration_s, abs=TOLERANCE_S)
    assert m["tug_turn_s"].value == pytest.approx(played.span("turn"), abs=TOLERANCE_S)
    assert m["tug_s"].task == "assessment:timed_up_and_go"
    assert BY_STORED_METRIC["tug_s"].loinc == "89423-8"


def test_five_times_sit_to_stand_stage_counts_in_its_instruction() -> None:
    run = play(("five_times_sit_to_stand",))
    counts = {s["stage"]["stands"] for s in run.snapshots if s["phase"] == "test"}
    assert counts == {0, 1, 2, 3, 4, 5}
    assert any("(3 of 5)" in s["stage"]["instruction"] for s in run.snapshots if s["phase"] == "test")
    played = run.patient.played[0].script
    assert isinstance(played, PelvisScript)
    m = run.metrics()
    assert m["five_sts_stands"].value == 5
    assert m["five_sts_s"].value == pytest.approx(played.duration_s, abs=TOLERANCE_S)
    assert m["five_sts_fifth_stand_s"].value == pytest.approx(played.span("rise1", "rise5"), abs=TOLERANCE_S)


def test_ten_metre_walk_comfortable_then_fast() -> None:
    patient = MeasuresPatient(paces_m_s={"comfortable": 0.7, "fast": 1.4})
    run = play(("ten_metre_walk",), patient)
    assert [r.direction for r in run.results] == ["comfortable", "fast"]
    instructions = {s["stage"]["instruction"] for s in run.snapshots if s["phase"] == "test"}
    assert any("comfortable pace" in i for i in instructions) and any("as fast as you safely can" in i
                                                                      for i in instructions)
    m = run.metrics()
    assert m["gait_speed_comfortable_m_s"].value == pytest.approx(0.7, rel=0.03)
    assert m["gait_speed_fast_m_s"].value == pytest.approx(1.4, rel=0.03)
    assert BY_STORED_METRIC["gait_speed_comfortable_m_s"].loinc == "83172-7"


@pytest.mark.parametrize("wrong_at", [None, 3])
def test_four_square_step_stage_records_each_landing_and_the_next_square(wrong_at: int | None) -> None:
    patient = MeasuresPatient(squares=FeetScript(wrong_at=wrong_at))
    run = play(("four_square_step",), patient)
    assert run.game.finished
    landing = [r for r in run.results if r.measures["stage"] == "four_square_step"]
    assert [r.measures["square"] for r in landing] == [s for _, _, s in patient.squares.landings()]
    shown = [s["stage"]["next_square"] for s in run.snapshots if s["phase"] == "test"]
    assert [k for k, _ in itertools.groupby(shown)] == list(FSST_SEQUENCE[1:])
    assert run.snapshots[-2]["stage"]["squares"][0] == {"square": 1, "x_m": 0.0, "y_m": 0.0, "size_m": 0.45}
    script_times = [t for t, _, _ in patient.squares.landings()]
    first_in_two = next(t for t, _, s in patient.squares.landings() if s == 2)
    m = run.metrics()
    assert m["fsst_errors"].value == (0 if wrong_at is None else 1)
    # a tracked foot counts as down a few hundredths before the script's touch-down: both ends alike
    assert m["fsst_s"].value == pytest.approx(script_times[-1] - first_in_two, abs=2.0 / RATE_HZ)


def test_a_pause_voids_the_test_in_progress_and_it_is_done_again() -> None:
    run = play(("timed_up_and_go",), pause_s=(5.0, 6.0))  # mid-walk
    assert [p.stage for p in run.patient.played] == ["timed_up_and_go", "timed_up_and_go"]
    [result] = run.results
    assert result.outcome is Outcome.HIT
    again = run.patient.played[1]
    assert float(result.measures["device_t0_s"]) > run.device_time(6.0)  # the window is the second test's
    assert isinstance(again.script, PelvisScript)
    assert run.metrics()["tug_s"].value == pytest.approx(again.script.duration_s, abs=TOLERANCE_S)


def test_chair_tests_without_a_pelvis_marker_end_and_say_so() -> None:
    run = play(("timed_up_and_go", "five_times_sit_to_stand"), tracker=False, standard_max_s=30.0)
    assert run.game.finished
    assert [(r.measures["stage"], r.outcome) for r in run.results] == [
        ("five_times_sit_to_stand", Outcome.TIMEOUT), ("timed_up_and_go", Outcome.TIMEOUT)]  # protocol order
    assert all("pelvis" in str(r.measures["note"]) for r in run.results)
    assert run.metrics() == {}


def test_a_test_not_finished_in_time_times_out_and_gives_no_value() -> None:
    patient = MeasuresPatient(chair=ChairAbility(walk_m_s=0.1))  # 3 m out and back at 0.1 m/s: a minute
    run = play(("timed_up_and_go",), patient, standard_max_s=30.0)
    [result] = run.results
    assert result.outcome is Outcome.TIMEOUT
    assert "tug_s" not in run.metrics()


def test_the_whole_battery_runs_in_order_with_the_protocol_before_it() -> None:
    run = play(("quiet_eyes_open", *STANDARD_STAGES), quiet_s=10.0)
    stages = [e["stage"] for e in run.events if e.get("kind") == "stage"]
    assert stages == ["quiet_eyes_open", *STANDARD_STAGES]
    m = run.metrics()
    assert {"five_sts_s", "tug_s", "fsst_s", "gait_speed_comfortable_m_s", "gait_speed_fast_m_s"} <= set(m)


def test_a_crashed_sessions_stored_input_gives_the_same_measures() -> None:
    """The pelvis recording goes to the database in chunks as the session runs; a server that died
    mid-session computes the measures on restart from those chunks (``server.recovery``): the
    device times come back exactly, so the stages' windows cut the same samples."""
    run = play(("five_times_sit_to_stand", "timed_up_and_go"))
    sway = SwayRecorder(("cop", "com_proxy"))
    journal = InputJournal(run.pelvis, sway, [], every_s=2.0, max_samples=256)
    rebuilt = restore([chunk.pack() for chunk in journal.take(0.0, everything=True)])

    def measures(markers: TrajectoryRecorder, sways: SwayRecorder) -> dict[str, float]:
        families = analyse_recorded([], markers, sways, "L", 0.9, game="assessment", modes=(), results=run.results,
                                    events=[])
        return {v.metric: v.value for v in families["assessment"]}

    live = measures(run.pelvis, sway)
    assert {"five_sts_s", "tug_s", "tug_turn_s"} <= set(live)
    assert measures(rebuilt.markers, rebuilt.sway) == live
