"""The tailored plan suggested from an assessment: more affected-side practice for a more
asymmetric patient, and every suggested entry accepted by ``start_game`` as it stands."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from clients.sim_assessment import LEG_M, LOS_M, STEP_LENGTH_M, AssessmentPatient
from games.events import Side
from games.registry import GAMES
from games.setting_fields import PatientInfo
from scoring.assessment import assessment_metrics
from scoring.difficulty import DifficultySet
from scoring.plan import SHARE_MAX, SHARE_SYMMETRIC, PlanSuggestion, suggest_plan
from server.messages import open_envelope, parse_start_game
from tests.test_assessment import LOS_TOLERANCE_M, run_assessment, settings, sways

STEP_REACH_M = 0.5


def assessed(patient: AssessmentPatient) -> list[dict[str, Any]]:
    """The metric rows of a simulated assessment, as the store gives them back."""
    run = run_assessment(settings(), patient)
    assert run.game.finished
    return [asdict(m) for m in assessment_metrics(run.results, sways(run), "L", LEG_M)]


@pytest.fixture(scope="module")
def asymmetric() -> list[dict[str, Any]]:
    return assessed(AssessmentPatient())  # affected reach 60 %, shorter and lower affected steps


@pytest.fixture(scope="module")
def symmetric() -> list[dict[str, Any]]:
    return assessed(AssessmentPatient(reach_ratio=1.0, step_length_m=dict.fromkeys(Side, 0.45),
                            lift_m=dict.fromkeys(Side, 0.08)))


def value(rows: list[dict[str, Any]], metric: str) -> float:
    return next(r["value"] for r in rows if r["metric"] == metric and not r["side"])


def assert_startable(suggestion: PlanSuggestion, patient: PatientInfo) -> None:
    """Each entry as a start_game request: parsed, the settings built, the difficulty configured."""
    assert set(suggestion.plan) >= {"stepping", "reaching", "weight_shift"}
    assert set(suggestion.plan) <= set(GAMES) and "assessment" not in suggestion.plan
    for game, entry in suggestion.plan.items():
        message = {"type": "start_game", "v": 1, "station": "station-1", "patient_id": 1, "game": game,
                   "settings": entry["settings"], "difficulty": entry["difficulty"]}
        request = parse_start_game(open_envelope(message).fields)
        registered = GAMES[game]
        game_settings = registered.settings_from(request.settings, patient)
        directions = tuple(game_settings.directions) if registered.adapts_per_direction else ()
        staircase = DifficultySet(registered.parameters, directions)
        d = request.difficulty
        staircase.configure(target_success=d.target_success, bounds=d.bounds, level=d.level)
        assert 0.0 <= entry["difficulty"]["level"] <= 1.0
        assert suggestion.basis[game] and all(isinstance(line, str) and line for line in suggestion.basis[game])


def test_a_more_asymmetric_patient_gets_more_affected_side_practice(asymmetric, symmetric) -> None:
    assert value(asymmetric, "symmetry_reach") == pytest.approx(0.6, abs=1e-6)
    assert value(symmetric, "symmetry_reach") == pytest.approx(1.0, abs=1e-6)
    lopsided = suggest_plan(asymmetric, "L", LEG_M, STEP_REACH_M)
    even = suggest_plan(symmetric, "L", LEG_M, STEP_REACH_M)
    share = lopsided.plan["stepping"]["settings"]["affected_side_share"]
    assert even.plan["stepping"]["settings"]["affected_side_share"] == SHARE_SYMMETRIC < share <= SHARE_MAX
    assert "symmetry" in lopsided.basis["stepping"][0]
    # The affected foot reaches in the reaching game while the asymmetry lasts; both legs after.
    assert lopsided.plan["reaching"]["settings"]["stance"] == "unaffected"
    assert even.plan["reaching"]["settings"]["stance"] == "alternate"


@pytest.mark.parametrize("symmetry", [0.2, 0.4, 0.6, 0.8, 1.0, 1.3])
def test_share_rises_with_asymmetry_within_its_limits(symmetry: float) -> None:
    share = suggest_plan([{"metric": "symmetry_reach", "side": "", "direction": "", "value": symmetry}],
                         "R", LEG_M, None).plan["stepping"]["settings"]["affected_side_share"]
    lower = suggest_plan([{"metric": "symmetry_reach", "side": "", "direction": "", "value": symmetry - 0.1}],
                         "R", LEG_M, None).plan["stepping"]["settings"]["affected_side_share"]
    assert SHARE_SYMMETRIC <= share <= SHARE_MAX and lower >= share


def test_every_suggested_entry_starts_as_suggested(
        asymmetric: list[dict[str, Any]], symmetric: list[dict[str, Any]]) -> None:
    for rows in (asymmetric, symmetric, []):
        for side in Side:
            suggestion = suggest_plan(rows, side.value, LEG_M, STEP_REACH_M)
            assert_startable(suggestion, PatientInfo(side, LEG_M, STEP_REACH_M))
    assert_startable(suggest_plan([], "L", LEG_M, None), PatientInfo(Side.LEFT, LEG_M, None))


def test_extreme_assessments_still_give_valid_entries() -> None:
    """Values far outside what a game allows are kept inside its limits."""
    def rows(scale: float) -> list[dict[str, Any]]:
        out = [{"metric": "reach_pct_ll", "side": s, "direction": d, "value": 160.0 * scale}
               for s in "LR" for d in ("anterior", "medial")]
        out += [{"metric": "reach_composite_pct_ll", "side": s, "direction": "", "value": 160.0 * scale} for s in "LR"]
        out += [{"metric": m, "side": s, "direction": "", "value": v * scale} for s in "LR"
                for m, v in (("reaction_time_s", 9.0), ("step_length_m", 1.5))]
        out += [{"metric": "cadence_steps_per_min", "side": "", "direction": "", "value": 300 * scale},
                {"metric": "symmetry_reach", "side": "", "direction": "", "value": 0.01},
                {"metric": "sway_velocity_eo_m_s", "side": "", "direction": "cop", "value": 1.0 * scale},
                {"metric": "romberg_ratio", "side": "", "direction": "cop", "value": 10.0 * scale}]
        return out
    for scale in (1.0, 0.01):
        suggestion = suggest_plan(rows(scale), "L", LEG_M, 0.3)
        assert_startable(suggestion, PatientInfo(Side.LEFT, LEG_M, 0.3))
        assert suggestion.plan["stepping"]["settings"]["affected_side_share"] == SHARE_MAX


def test_unsteady_quiet_stance_starts_weight_shift_easier(asymmetric) -> None:
    steady = [{"metric": "sway_velocity_eo_m_s", "side": "", "direction": "cop", "value": 0.01},
              {"metric": "romberg_ratio", "side": "", "direction": "cop", "value": 1.3}]
    unsteady = [{**steady[0], "value": 0.04}, steady[1]]
    easy = suggest_plan(unsteady, "L", LEG_M, None).plan["weight_shift"]["difficulty"]
    usual = suggest_plan(steady, "L", LEG_M, None).plan["weight_shift"]["difficulty"]
    assert easy["level"] < usual["level"] and easy["target_success"] > usual["target_success"]


def test_treadmill_belt_speed_from_the_walk(asymmetric) -> None:
    if "treadmill" not in GAMES:
        pytest.skip("no treadmill game in this build")
    entry = suggest_plan(asymmetric, "L", LEG_M, STEP_REACH_M).plan["treadmill"]
    step_m = sum(STEP_LENGTH_M.values()) / 2
    cadence = next(r["value"] for r in asymmetric if r["metric"] == "cadence_steps_per_min")
    assert entry["settings"]["belt_speed_m_s"] == pytest.approx(min(0.8, cadence / 60 * step_m), abs=0.01)
    bounds = entry["difficulty"]["bounds"]["step_length_m"]
    assert bounds["low"] == pytest.approx(0.8 * min(STEP_LENGTH_M.values()))
    assert bounds["high"] <= STEP_REACH_M
    in_place = suggest_plan([{"metric": "step_length_m", "side": s, "direction": "", "value": 0.01} for s in "LR"]
                            + [{"metric": "cadence_steps_per_min", "side": "", "direction": "", "value": 90.0}],
                            "L", LEG_M, STEP_REACH_M).plan["treadmill"]
    assert in_place["settings"]["belt_speed_m_s"] == pytest.approx(0.3)
    assert "bounds" not in in_place["difficulty"]


def test_weight_shift_targets_sit_around_the_measured_quiet_standing_centre() -> None:
    rows = [{"metric": "quiet_centre_x_m", "side": "", "direction": "cop", "value": 0.045},
            {"metric": "quiet_centre_y_m", "side": "", "direction": "cop", "value": -0.01}]
    suggestion = suggest_plan(rows, "L", LEG_M, STEP_REACH_M)
    settings = suggestion.plan["weight_shift"]["settings"]
    assert (settings["centre_x_m"], settings["centre_y_m"]) == (0.045, -0.01)
    assert any("quiet-standing centre" in line for line in suggestion.basis["weight_shift"])
    unmeasured = suggest_plan([], "L", LEG_M, STEP_REACH_M).plan["weight_shift"]["settings"]
    assert "centre_x_m" not in unmeasured


def test_weight_shift_limits_of_stability_follow_the_measured_ones(asymmetric) -> None:
    """The assessed patient leans 12 cm forward, 6 cm back, 5 cm left (affected), 9 cm right: the
    game gets those, with the smaller sideways limit for both sides."""
    suggestion = suggest_plan(asymmetric, "L", LEG_M, STEP_REACH_M)
    game = suggestion.plan["weight_shift"]["settings"]
    measured = {(r["metric"], r["side"]): r["value"] for r in asymmetric if r["metric"].startswith("los_")}
    assert game["los_forward_m"] == round(measured[("los_forward_m", "")], 3)
    assert game["los_backward_m"] == round(measured[("los_backward_m", "")], 3)
    assert game["los_side_m"] == round(min(measured[("los_side_m", "L")], measured[("los_side_m", "R")]), 3)
    for name, known in (("los_forward_m", LOS_M["forward"]), ("los_backward_m", LOS_M["backward"]),
                        ("los_side_m", LOS_M["left"])):
        assert game[name] == pytest.approx(known, abs=LOS_TOLERANCE_M)
    basis = [line for line in suggestion.basis["weight_shift"] if line.startswith("los_side_m")]
    assert len(basis) == 1 and "smaller" in basis[0] and "left (affected)" in basis[0]
    assert_startable(suggestion, PatientInfo(Side.LEFT, LEG_M, STEP_REACH_M))


def test_the_sideways_limit_is_the_smaller_side_even_when_it_is_the_unaffected_one() -> None:
    rows = [{"metric": "los_side_m", "side": "L", "direction": "cop", "value": 0.10},
            {"metric": "los_side_m", "side": "R", "direction": "cop", "value": 0.07}]
    settings = suggest_plan(rows, "L", LEG_M, None).plan["weight_shift"]["settings"]
    assert settings == {"los_side_m": 0.07}  # forward and backward not measured: the defaults


@pytest.mark.parametrize(("measured", "expected"), [(0.5, {"los_forward_m": 0.30, "los_backward_m": 0.20,
                                                         "los_side_m": 0.30}),
                                                  (0.001, {"los_forward_m": 0.02, "los_backward_m": 0.02,
                                                           "los_side_m": 0.02})])
def test_weight_shift_limits_of_stability_are_kept_within_the_games_range(measured: float, expected) -> None:
    rows = [{"metric": "los_forward_m", "side": "", "direction": "com_proxy", "value": measured},
            {"metric": "los_backward_m", "side": "", "direction": "com_proxy", "value": measured},
            {"metric": "los_side_m", "side": "L", "direction": "com_proxy", "value": measured},
            {"metric": "los_side_m", "side": "R", "direction": "com_proxy", "value": measured}]
    suggestion = suggest_plan(rows, "R", LEG_M, None)
    settings = suggestion.plan["weight_shift"]["settings"]
    assert {k: v for k, v in settings.items() if k.startswith("los_")} == expected
    assert all("kept within" in line for line in suggestion.basis["weight_shift"] if line.startswith("los_"))
    assert_startable(suggestion, PatientInfo(Side.RIGHT, LEG_M, None))


def test_without_measured_limits_of_stability_the_game_keeps_its_defaults() -> None:
    suggestion = suggest_plan([], "L", LEG_M, None)
    assert not any(k.startswith("los_") for k in suggestion.plan["weight_shift"]["settings"])
    assert any("defaults" in line for line in suggestion.basis["weight_shift"])
