"""The outcome catalogue and the therapist-entered scales as pure functions: each scale's scoring
rule and checked ranges, verdicts against the published MDC/MCID, norms by age and sex, training
dose and adherence, and the clinical units reports use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scoring.outcomes.dose import session_doses, week_doses
from scoring.outcomes.measures import BY_STORED_METRIC, MEASURES
from scoring.outcomes.scales import FMA_LE_ITEMS, SCALES, ScaleError
from scoring.outcomes.units import shown, ucum
from scoring.outcomes.verdict import compare


def bbs(value: int, **override: int) -> dict[str, int]:
    return {f"b{n}": value for n in range(1, 15)} | override


def fma(value: int, **override: int) -> dict[str, int]:
    items = {i.key: (value if value != 1 or 1 in i.choices else 0) for i in FMA_LE_ITEMS}
    return items | override


def test_berg_sums_fourteen_items_and_applies_its_standing_rule() -> None:
    assert SCALES["bbs"].score(bbs(4)).total == 56
    assert SCALES["bbs"].score(bbs(0)).total == 0
    items = bbs(2, b2=4)
    del items["b3"]  # not tested: full marks follow from standing 2 minutes safely
    result = SCALES["bbs"].score(items)
    assert result.items["b3"] == 4 and result.total == 2 * 12 + 4 + 4
    with pytest.raises(ScaleError, match="b3"):
        SCALES["bbs"].score(bbs(2, b2=4, b3=3))
    with pytest.raises(ScaleError, match="missing b14"):
        SCALES["bbs"].score({f"b{n}": 2 for n in range(1, 14)})
    for bad in (5, -1, 2.5, "3", True):
        with pytest.raises(ScaleError, match="b7"):
            SCALES["bbs"].score(bbs(2, b7=bad))  # type: ignore[arg-type]
    with pytest.raises(ScaleError, match="unknown items b15"):
        SCALES["bbs"].score(bbs(2, b15=1))


def test_fugl_meyer_lower_extremity_totals_and_its_rules() -> None:
    assert len(FMA_LE_ITEMS) == 17
    full = SCALES["fma_le"].score(fma(2))
    assert (full.total, full.parts) == (34, {"motor_e": 28, "coordination_f": 6})
    # reflex items I are 0 or 2 only
    with pytest.raises(ScaleError, match=r"i_knee_flexors.*0, 2"):
        SCALES["fma_le"].score(fma(2, i_knee_flexors=1))
    # normal reflex activity (V) scores only after 4 points in part IV
    with pytest.raises(ScaleError, match="v_normal_reflexes"):
        SCALES["fma_le"].score(fma(2, iv_knee_flexion=1))
    partial = SCALES["fma_le"].score(fma(2, iv_knee_flexion=1, v_normal_reflexes=0, f_time=1))
    assert partial.total == 34 - 1 - 2 - 1 and partial.parts == {"motor_e": 25, "coordination_f": 5}


def test_functional_ambulation_category_is_its_one_answer() -> None:
    assert SCALES["fac"].score({"category": 3}).total == 3
    for bad in (6, -1, 2.5):
        with pytest.raises(ScaleError, match="category"):
            SCALES["fac"].score({"category": bad})


def test_modified_ashworth_grades_per_muscle_group_with_one_plus() -> None:
    result = SCALES["mas"].score({"L.ankle_plantarflexors": "1+", "L.knee_extensors": "1", "R.hip_flexors": "0"})
    assert result.total == 1.5 and result.parts == {"L": 1.5, "R": 0.0}
    assert SCALES["mas"].score({"L.hip_adductors": "3"}).total == 3
    with pytest.raises(ScaleError, match=r"L\.hip_flexors.*0, 1, 1\+, 2, 3, 4"):
        SCALES["mas"].score({"L.hip_flexors": "2+"})
    with pytest.raises(ScaleError, match=r"L\.hip_flexors"):
        SCALES["mas"].score({"L.hip_flexors": 2})  # grades are the scale's codes, "2"
    with pytest.raises(ScaleError, match="at least one"):
        SCALES["mas"].score({})


def test_sensation_and_joint_position_sense_score_per_side() -> None:
    sites = ("hallux", "first_metatarsal", "fifth_metatarsal", "heel", "dorsum")
    touch = {f"L.{s}": 1 for s in sites} | {f"R.{s}": 2 for s in sites}
    result = SCALES["light_touch"].score(touch)
    assert result.parts == {"L": 5, "R": 10} and result.total == 5  # the lower foot
    with pytest.raises(ScaleError, match="every item of a side"):
        SCALES["light_touch"].score({"L.hallux": 2})
    with pytest.raises(ScaleError, match=r"R\.heel"):
        SCALES["light_touch"].score({f"R.{s}": 3 if s == "heel" else 2 for s in sites})
    vibration = SCALES["vibration"].score({"L.hallux": 3.5, "L.medial_malleolus": 5, "R.hallux": 7})
    assert vibration.total == 3.5 and vibration.parts == {"L": 3.5, "R": 7}
    with pytest.raises(ScaleError, match="from 0 to 8"):
        SCALES["vibration"].score({"L.hallux": 9})
    jps = SCALES["jps"].score({f"R.{j}": 3 for j in ("hip", "knee", "ankle", "hallux")})
    assert jps.total == 12 and jps.parts == {"R": 12}


def test_neglect_tests() -> None:
    stars = SCALES["star_cancellation"].score({"left": 18, "right": 27})
    assert stars.total == 45 and stars.parts["laterality_index"] == pytest.approx(0.4)
    with pytest.raises(ScaleError, match="right"):
        SCALES["star_cancellation"].score({"left": 20, "right": 28})
    lines = SCALES["line_bisection"].score({"line1": 20.0, "line2": 10.0, "line3": -3.0})
    assert lines.total == pytest.approx(9.0) and lines.parts == {"lines": 3}
    with pytest.raises(ScaleError, match="line1"):
        SCALES["line_bisection"].score({"line2": 5.0})
    assert SCALES["cbs"].score({f"c{n}": 2 for n in range(1, 11)}).total == 20


def test_every_scale_names_a_catalogue_measure_with_sources() -> None:
    for scale in SCALES.values():
        measure = MEASURES[scale.measure]
        assert measure.kind == "scale"
        described = scale.describe()
        assert described["items"] and all(i["label"] for i in described["items"])
    for m in MEASURES.values():
        # every published number has its source; every missing one says why
        assert m.mdc.source and m.mcid.source and m.norms_source, m.id
        assert (m.norms == ()) or m.norms_source, m.id
    assert MEASURES["tug"].loinc == "89423-8" and MEASURES["gait_speed_comfortable"].loinc == "83172-7"
    assert BY_STORED_METRIC["tug_s"] is MEASURES["tug"]


def test_verdicts_use_mcid_then_mdc_in_the_better_direction() -> None:
    bbs_m, tug, fma_m, fac = MEASURES["bbs"], MEASURES["tug"], MEASURES["fma_le"], MEASURES["fac"]
    assert compare(bbs_m, 30, 37).verdict == "improved_mdc"  # MDC 6, no MCID recorded
    assert compare(bbs_m, 30, 34).verdict == "within_mdc"
    assert compare(bbs_m, 30, 23).verdict == "worse_mdc"
    assert compare(tug, 24.0, 20.0).verdict == "improved_mdc"  # lower is better, MDC 2.9 s
    assert compare(tug, 20.0, 24.0).verdict == "worse_mdc"
    assert compare(fma_m, 20, 26).verdict == "improved_mcid"  # MCID 6, no MDC
    assert compare(fma_m, 20, 23).verdict == "below_mcid"
    assert compare(fac, 2, 3).verdict == "no_threshold"
    assert compare(fac, 3, 3).verdict == "no_change"
    lines = MEASURES["line_bisection"]  # no better direction: nearer 0 % is better
    assert compare(lines, 20.0, -5.0).verdict == "no_threshold" and "improved" in compare(lines, 20.0, -5.0).text
    assert "worse" in compare(lines, 5.0, -12.0).text
    assert compare(lines, 8.0, -8.0).text == "as far from 0 % of half-line"
    speed = compare(MEASURES["gait_speed_comfortable"], 0.40, 0.56)
    assert speed.verdict == "improved_mcid" and "0.16 m/s" in speed.text


def test_norms_by_age_and_sex() -> None:
    speed = MEASURES["gait_speed_comfortable"]
    assert speed.norm_for(72, "F").value == 1.13  # type: ignore[union-attr]
    assert speed.norm_for(72, "M").value == 1.26  # type: ignore[union-attr]
    assert speed.norm_for(72, None) is None  # norms by sex only: no sex, no norm
    assert MEASURES["tug"].norm_for(65, "F").value == 8.1  # type: ignore[union-attr]
    assert MEASURES["tug"].norm_for(50, "F") is None
    assert MEASURES["bbs"].norm_for(None, "F") is None


def test_training_dose_per_session_and_week_with_adherence() -> None:
    sessions = [
        {"session_id": 1, "game": "stepping", "started_at": "2026-11-30T09:00:00+00:00", "source": "live"},
        {"session_id": 2, "game": "reaching", "started_at": "2026-12-01T09:00:00+00:00", "source": "live"},
        {"session_id": 3, "game": "assessment", "started_at": "2026-12-02T09:00:00+00:00", "source": "live"},
        {"session_id": 4, "game": "stepping", "started_at": "2026-12-03T09:00:00+00:00", "source": "recording"},
    ]
    trials = ([{"session_id": 1, "shown_at_s": 10.0 * i, "ended_at_s": 10.0 * i + 4.0, "movement_time_s": 1.0}
               for i in range(15)]
              + [{"session_id": 2, "shown_at_s": 5.0 * i, "ended_at_s": 5.0 * i + 2.5,
                  "movement_time_s": None if i % 2 else 0.8} for i in range(10)])
    plan = {"games": {"stepping": {"settings": {"trials": 20}}, "reaching": {"settings": {"trials": 0}}}}
    doses = session_doses(sessions, trials, plan)
    assert [d.session_id for d in doses] == [1, 2]  # no assessment, no recording
    step, reach = doses
    assert (step.active_s, step.trials, step.repetitions, step.planned_trials) == (60.0, 15, 15, 20)
    assert step.adherence == 0.75
    assert (reach.active_s, reach.repetitions, reach.adherence) == (25.0, 5, None)  # 0 trials = until stopped
    weeks = week_doses(doses)
    assert [w.week for w in weeks] == ["2026-W49"]  # Monday 30 Nov to Sunday 6 Dec
    assert (weeks[0].sessions, weeks[0].trials, weeks[0].active_s, weeks[0].adherence) == (2, 25, 85.0, 0.75)


def test_clinical_units_and_ucum() -> None:
    assert shown("step_length_m").text(0.4567) == "45.7" and shown("step_length_m").unit == "cm"
    assert shown("sway_velocity_eo_m_s").text(0.0123) == "1.2"
    assert shown("sway_area_eo_m2").unit == "cm²"
    assert shown("reach_pct_ll").text(55.4) == "55"
    assert shown("symmetry_step_length").text(0.876) == "0.88"
    assert ucum("speed_m_s") == ("m/s", "m/s") and ucum("sway_area_eo_m2")[0] == "m2"
    assert ucum("cadence_steps_per_min")[0] == "/min" and ucum("symmetry_reach")[0] == "1"


def test_docs_list_every_measure_and_every_source() -> None:
    """docs/outcomes.md names each catalogue measure and carries every reference the code cites."""
    from scoring.outcomes import measures

    doc = (Path(__file__).resolve().parent.parent / "docs" / "outcomes.md").read_text(encoding="utf-8")
    for m in MEASURES.values():
        assert f"`{m.id}`" in doc, m.id
        if m.loinc:
            assert f"LOINC {m.loinc}" in doc
    cited = {name: value for name, value in vars(measures).items()
             if name.isupper() and isinstance(value, str) and re.search(r"\b(19|20)\d\d;", value)}
    assert len(cited) >= 20
    for name, value in cited.items():
        title = value.split(". ")[1]  # authors. Title. Journal year;...
        assert title in doc, name
