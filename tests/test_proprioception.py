"""Proprioception training in the stepping game: what the headset is shown, and what is measured.

A simulated patient whose steps without vision land with a known bias (+3 cm forward, 1 cm too
medial) and spread: the game must hide the target (or the foot) in the snapshot at the right
moments, store each step's signed errors, and the session metrics must recover the bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import pytest

from clients.sim_patient import Ability, SimulatedPatient, StepPlan
from games.base import Outcome, TrialResult
from games.events import Side
from games.setting_fields import PatientInfo
from games.stepping.settings import SteppingSettings
from scoring.proprioception import proprioception_metrics
from tests.test_neglect_cueing import ABLE, Patient, play, stepping

AP_BIAS_M = 0.03  # lands 3 cm beyond the target
ML_BIAS_M = -0.01  # and 1 cm toward the midline
SD_M = 0.01  # per axis, on top of the bias


class BiasedPatient(SimulatedPatient):
    """Lands ``AP_BIAS_M`` forward and ``ML_BIAS_M`` lateral (for the stepping foot) of where the
    unbiased model would; the base model adds the Gaussian spread."""

    def plan(self, foot: Side, target_x_m: float, target_y_m: float) -> StepPlan:
        plan = super().plan(foot, target_x_m, target_y_m)
        x, y = plan.landing
        return replace(plan, landing=(x + foot.lateral_sign * ML_BIAS_M, y + AP_BIAS_M))


@dataclass
class Watch:
    """Checks every snapshot: what is hidden, against where the stepping foot is."""

    vision: str
    hidden_targets: int = 0
    hidden_feet: int = 0
    lifted_in: int | None = None  # the trial in which the stepping foot has left the floor

    def __call__(self, game: Any, now: float, events: list[dict[str, Any]]) -> None:
        snap = game.snapshot()
        target, feet = snap["target"], snap["feet"]
        assert all(isinstance(f["hidden"], bool) for f in feet.values())
        if target is None:
            assert not any(f["hidden"] for f in feet.values()), "nothing hidden between trials"
            return
        stepping_foot = target["foot"]
        if not feet[stepping_foot]["planted"]:
            self.lifted_in = snap["trial"]
        lifted = self.lifted_in == snap["trial"]
        assert target["hidden"] is (self.vision == "target_vanishes" and lifted)
        for side, f in feet.items():
            assert f["hidden"] is (self.vision == "foot_hidden" and lifted and side == stepping_foot)
        self.hidden_targets += target["hidden"]
        self.hidden_feet += any(f["hidden"] for f in feet.values())


def session(vision: str, seconds: float, seed: int = 7) -> tuple[list[TrialResult], Watch]:
    game = stepping(neglect_cueing=False, vision=vision, affected_side_share=0.5, seed=seed,
                    difficulty={"time_window_s": 3.0})
    watch = Watch(vision)
    ability = Ability(step_reach_m=0.45, placement_sd_m=SD_M, reaction_s=0.3, hold_s=0.8)
    run = play(game, Patient(BiasedPatient(ability, seed=seed)), seconds, watch)
    game.close()
    return run.results, watch


def test_target_vanishes_at_lift_off_and_errors_are_signed() -> None:
    results, watch = session("target_vanishes", 120.0)
    assert len(results) > 30 and watch.hidden_targets > 0 and watch.hidden_feet == 0
    for r in results:
        m = r.measures
        assert m["vision"] == "target_vanishes"
        assert m["position_error_m"] == r.placement_error_m
        assert r.landing_x_m is not None and r.landing_y_m is not None
        assert m["position_error_ap_m"] == pytest.approx(r.landing_y_m - r.target_y_m)
        assert m["position_error_ml_m"] == pytest.approx(r.foot.lateral_sign * (r.landing_x_m - r.target_x_m))
    # the rules judge the real target: a 3 cm bias inside a 10 cm radius still hits
    assert sum(r.outcome is Outcome.HIT for r in results) >= 0.9 * len(results)


def test_foot_hidden_from_lift_off_until_the_trial_ends() -> None:
    results, watch = session("foot_hidden", 40.0)
    assert results and watch.hidden_feet > 0 and watch.hidden_targets == 0
    assert all(r.measures["vision"] == "foot_hidden" for r in results)


def test_full_vision_hides_nothing_and_is_left_out_of_the_metrics() -> None:
    results, watch = session("full", 40.0)
    assert results and watch.hidden_targets == 0 and watch.hidden_feet == 0
    assert all(r.measures["vision"] == "full" and "position_error_ap_m" in r.measures for r in results)
    assert proprioception_metrics(results) == []


def test_target_vanishes_on_time_before_lift_off() -> None:
    game = stepping(neglect_cueing=False, vision="target_vanishes", vanish_after_s=0.2,
                    affected_side_share=0.5, difficulty={"time_window_s": 3.0})
    seen: list[tuple[float, bool, bool]] = []  # (time since shown, hidden, stepping foot planted)

    def check(game: Any, now: float, events: list[dict[str, Any]]) -> None:
        target = game.snapshot()["target"]
        if target is not None:
            elapsed = now - game.rules.target.shown_at_s
            seen.append((elapsed, target["hidden"], game.rules.feet[Side(target["foot"])].planted))

    ability = replace(ABLE, reaction_s=0.5)  # lifts after the target has vanished on time
    version = game.version
    play(game, Patient(SimulatedPatient(ability, seed=1)), 10.0, check)
    assert game.version > version
    assert seen and all(hidden for elapsed, hidden, _ in seen if elapsed > 0.2 + 1e-9)
    assert all(not hidden for elapsed, hidden, _ in seen if elapsed < 0.2 - 1e-9)
    assert any(hidden and planted for _, hidden, planted in seen), "hidden before the foot lifted"


def test_metrics_recover_the_bias_per_direction_and_side() -> None:
    results, _ = session("target_vanishes", 900.0)
    metrics = {(m.metric, m.direction, m.side): m for m in proprioception_metrics(results)}
    assert {m.family for m in metrics.values()} == {"proprioception"}
    cells = {(r.direction, r.foot.value) for r in results}
    assert len(cells) == 10, "every direction with both feet"
    for direction, side in [*cells, *(("", s) for s in "LR")]:
        ap = metrics[("position_error_ap_m", direction, side)]
        ml = metrics[("position_error_ml_m", direction, side)]
        assert ap.n is not None and ap.n >= 10
        # the mean of n draws of sd SD_M lies within 4 standard errors of the bias (p < 1e-4)
        tolerance = 4 * SD_M / math.sqrt(ap.n)
        assert ap.value == pytest.approx(AP_BIAS_M, abs=tolerance), (direction, side)
        assert ml.value == pytest.approx(ML_BIAS_M, abs=tolerance), (direction, side)
        assert ap.sd == pytest.approx(SD_M, rel=0.6)
        error = metrics[("position_error_m", direction, side)]
        assert error.n == ap.n
        # the distance is at least the bias's length on average (spread only adds to it)
        assert error.value >= math.hypot(AP_BIAS_M, ML_BIAS_M) - tolerance


def test_vision_settings_from_a_request() -> None:
    patient = PatientInfo(Side.RIGHT, 0.9)
    s = SteppingSettings.from_request({"vision": "target_vanishes", "vanish_after_s": 1.5}, patient)
    assert (s.vision, s.vanish_after_s) == ("target_vanishes", 1.5)
    assert (SteppingSettings().vision, SteppingSettings().vanish_after_s) == ("full", 0.0)
    for bad in ({"vision": "blind"}, {"vanish_after_s": 11}):
        with pytest.raises(ValueError):
            SteppingSettings.from_request(bad, patient)
