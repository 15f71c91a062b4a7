"""Adaptive difficulty: bounds, locks, therapist changes, and settling with simulated patients."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from clients.sim_patient import Ability, SimulatedPatient
from games.events import Side
from games.stepping.settings import STEPPING_PARAMETERS, SteppingSettings
from scoring.difficulty import DifficultyError, ParameterBounds, Staircase
from tests.simulation import play_offline

REACH_M = 0.6  # the patient's measured reach the game scales distances by


def staircase(**bounds: ParameterBounds) -> Staircase:
    s = Staircase(STEPPING_PARAMETERS)
    s.configure(bounds=bounds)
    return s


def test_weighted_steps_follow_target_rate() -> None:
    s = Staircase(STEPPING_PARAMETERS, target_success=0.75, step_up=0.04)
    assert s.step_down == pytest.approx(0.12)  # 3x the step up for 75 %
    s.configure(target_success=0.8)
    assert s.step_down == pytest.approx(0.16)


def test_values_stay_inside_bounds_and_locks_hold() -> None:
    s = staircase(
        target_radius_m=ParameterBounds(0.06, 0.12),
        time_window_s=ParameterBounds(1.5, 6.0, locked=True, locked_value=4.0),
    )
    for success in [True] * 60 + [False] * 60:
        s.record(success)
        v = s.values()
        assert 0.06 <= v["target_radius_m"] <= 0.12
        assert v["time_window_s"] == 4.0
    assert s.level == 0.0 and s.values()["target_radius_m"] == 0.12  # easiest = largest target


def test_changes_carry_reasons_and_locking_keeps_current_value() -> None:
    s = Staircase(STEPPING_PARAMETERS)
    [*changes] = s.record(True)
    assert {c.parameter for c in changes} == {p.name for p in STEPPING_PARAMETERS}
    assert all(c.reason.startswith("staircase: success -> harder") for c in changes)
    current = s.values()["step_distance_frac"]
    changes = s.configure(bounds={"step_distance_frac": ParameterBounds(0.3, 1.0, locked=True)},
                          reason="therapist t1")
    assert changes == []  # locked where it was: nothing moved
    s.record(True)
    assert s.values()["step_distance_frac"] == current


def test_invalid_settings_change_nothing() -> None:
    s = Staircase(STEPPING_PARAMETERS)
    before = s.describe()
    with pytest.raises(DifficultyError):
        s.configure(target_success=0.6, bounds={"target_radius_m": ParameterBounds(0.01, 0.1)})
    with pytest.raises(DifficultyError):
        s.configure(bounds={"no_such": ParameterBounds(0, 1)})
    with pytest.raises(DifficultyError):
        s.configure(target_success=1.0)
    assert s.describe() == before


def settings(seed: int) -> SteppingSettings:
    return SteppingSettings(affected_side=Side.LEFT, reach_m=REACH_M, dwell_s=0.3, inter_trial_s=0.1,
                            seed=seed)


def test_target_radius_settles_where_placement_noise_predicts() -> None:
    """Landing noise sd per axis -> P(hit | r) = 1 - exp(-r^2 / 2 sd^2): 75 % at r = 1.665 sd."""
    sd = 0.04
    predicted = sd * math.sqrt(-2.0 * math.log(1.0 - 0.75))
    s = staircase(
        step_distance_frac=ParameterBounds(0.3, 1.0, locked=True, locked_value=0.5),
        time_window_s=ParameterBounds(1.5, 6.0, locked=True, locked_value=6.0),
        target_radius_m=ParameterBounds(0.03, 0.25),
    )
    patient = SimulatedPatient(Ability(step_reach_m=0.9, placement_sd_m=sd, hold_s=0.5), seed=11)
    played = play_offline(settings(5), s, patient, trials=320)
    settled = played[120:]
    radius = statistics.mean(p.result.target_radius_m for p in settled)
    success = statistics.mean(p.result.outcome.success for p in settled)
    assert radius == pytest.approx(predicted, rel=0.15), (radius, predicted)
    assert success == pytest.approx(0.75, abs=0.07)


def success_probability(distance_m: float, reach_m: float, radius_m: float, noise: np.ndarray) -> float:
    """The simulated patient's model: lands at min(distance, reach) plus noise; hit if within r."""
    shortfall = distance_m - min(distance_m, reach_m)
    return float(np.mean(np.hypot(shortfall - noise[:, 0], noise[:, 1]) < radius_m))


def predicted_distance(reach_m: float, radius_m: float, sd_m: float, p: float = 0.75) -> float:
    noise = np.random.default_rng(0).normal(0.0, sd_m, (200_000, 2))
    low, high = 0.0, reach_m + radius_m + 5 * sd_m
    for _ in range(40):  # bisection on a decreasing function
        mid = (low + high) / 2
        low, high = (mid, high) if success_probability(mid, reach_m, radius_m, noise) > p else (low, mid)
    return low


@pytest.mark.parametrize("reach_m", [0.35, 0.55])
def test_step_distance_settles_where_reach_predicts(reach_m: float) -> None:
    """A patient who cannot step beyond ``reach_m`` lands short of farther targets. The staircase
    must settle at the distance where this patient's hit probability is the 75 % target."""
    radius, sd = 0.06, 0.02
    predicted = predicted_distance(reach_m, radius, sd)
    s = staircase(
        step_distance_frac=ParameterBounds(0.1, 1.2),
        target_radius_m=ParameterBounds(0.03, 0.25, locked=True, locked_value=radius),
        time_window_s=ParameterBounds(1.5, 6.0, locked=True, locked_value=6.0),
    )
    s.step_up = 0.015  # fine steps: the mean then estimates the 75 % point, not the step size
    patient = SimulatedPatient(Ability(step_reach_m=reach_m, placement_sd_m=sd, hold_s=0.5), seed=3)
    played = play_offline(settings(9), s, patient, trials=400)
    settled = played[100:]
    distance = statistics.mean(p.result.target_distance_m for p in settled)
    success = statistics.mean(p.result.outcome.success for p in settled)
    assert distance == pytest.approx(predicted, abs=0.015), (distance, predicted)
    assert success == pytest.approx(0.75, abs=0.05)


def test_per_direction_levels_move_apart_and_share_the_therapists_bounds() -> None:
    from games.reaching.settings import REACHING_PARAMETERS
    from scoring.difficulty import DifficultySet

    d = DifficultySet(REACHING_PARAMETERS, ("anterior", "medial"))
    start = d.values("anterior")["reach_frac_ll"]
    changes = d.record("anterior", True) + d.record("medial", False)
    assert d.values("anterior")["reach_frac_ll"] > start > d.values("medial")["reach_frac_ll"]
    assert {c.parameter.split(":")[0] for c in changes} == {"anterior", "medial"}

    changes = d.configure(bounds={"reach_frac_ll": ParameterBounds(0.4, 0.6)}, reason="therapist")
    for direction in ("anterior", "medial"):
        assert 0.4 <= d.values(direction)["reach_frac_ll"] <= 0.6
    described = d.describe()
    per_direction = described["per_direction"]
    assert isinstance(per_direction, dict) and set(per_direction) == {"anterior", "medial"}
    with pytest.raises(DifficultyError):  # refused for every direction, none changed
        d.configure(bounds={"reach_frac_ll": ParameterBounds(0.1, 0.6)})
    assert 0.4 <= d.values("medial")["reach_frac_ll"] <= 0.6


def test_only_outcomes_played_at_the_current_values_count() -> None:
    """A trial played at values since changed by the staircase (a treadmill target set out before the
    last change) is stale: ignored, or the level would move twice for one change of difficulty."""
    s = staircase(time_window_s=ParameterBounds(1.5, 6.0, locked=True, locked_value=4.0))
    played = s.values()
    assert s.record(False, played), "played at the current values: counts"
    level = s.level
    assert s.record(False, played) == [] and s.level == level, "stale: ignored"
    assert s.record(True, played) == [] and s.level == level, "a stale success too"
    # a locked parameter is the therapist's: a different played value there does not make it stale
    current = s.values()
    assert s.record(True, {**current, "time_window_s": 6.0}) and s.level > level
    assert s.record(True, {}) and s.record(True), "nothing reported (or no played_at): counts as before"
    # within the tolerance a value is the current one; a therapist's change makes a trial stale
    current = s.values()
    nudged = {k: v + 1e-12 for k, v in current.items()}
    assert s.record(False, nudged)
    played = s.values()
    s.configure(level=0.9)
    level = s.level
    assert s.record(False, played) == [] and s.level == level


def test_stale_outcomes_are_judged_per_direction() -> None:
    from games.reaching.settings import REACHING_PARAMETERS
    from scoring.difficulty import DifficultySet

    d = DifficultySet(REACHING_PARAMETERS, ("anterior", "medial"))
    anterior = d.values("anterior")
    assert d.record("anterior", False, anterior)
    assert d.record("medial", False, anterior), "the same values: current for medial, which had not moved"
    assert d.record("anterior", False, anterior) == [], "anterior moved since: stale"
    assert d.record("anterior", True, d.values("anterior"))
