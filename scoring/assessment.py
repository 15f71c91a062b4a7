"""An assessment's metrics (family ``assessment``), and how one assessment compares with the baseline.

From the results of the ``assessment`` game (:mod:`games.assessment`):

* quiet standing, eyes open (``eo``) and closed (``ec``): sway velocity and 95 % prediction-ellipse
  area (:func:`scoring.balance.sway_metrics` on the stage's slice of the session's sway recording;
  with a tracker's pelvis proxy, which that recording does not keep, the stage's own numbers), and
  the Romberg ratio EC/EO of the velocity. ``direction`` names the balance source (``cop`` or
  ``com_proxy``): numbers from different sources are never compared;
* limits of stability: per lean, the maximal excursion of the balance point from where the lean
  started, along the lean's direction (``los_forward_m``, ``los_backward_m``, ``los_side_m`` per
  side leaned to), and its symmetry affected ÷ unaffected; ``direction`` names the source;
* SEBT reach per reaching foot (``side``) and direction, best of the trials with a touch, in % of
  leg length; the composite per side (mean over its directions);
* walking: step length, step time and foot lift per side (mean, sd, n), cadence;
* timed stepping: reaction time per side, and the time from the first target to the last hit's
  landing;
* symmetry, affected ÷ unaffected (1 = symmetric), of reach, step length, step time and foot lift;
* the instrumented standard measures (:mod:`scoring.standard_measures`), from the tracker's
  pelvis recording cut to each test's window, or the feet's landings: 10-metre walk gait speed
  comfortable and fast (``gait_speed_comfortable_m_s``, ``gait_speed_fast_m_s``), Timed Up and Go
  (``tug_s`` and its phases ``tug_<phase>_s``), Five Times Sit-to-Stand (``five_sts_s``, to the
  fifth stand ``five_sts_fifth_stand_s``, ``five_sts_stands``), Four Square Step Test (``fsst_s``,
  ``fsst_errors``). The headline ones are stored under the names the outcome catalogue
  (:mod:`scoring.outcomes.measures`) lists, so the report and FHIR export show them.

Each value's ``task`` names the stage it comes from (``assessment:quiet_eyes_closed``; the Romberg
ratio ``assessment:quiet_eyes_open+quiet_eyes_closed``): sway is measured only here, in the quiet
stands, never from a training game's centre of pressure (:mod:`scoring.session_metrics`).
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from games.base import Outcome, TrialResult
from scoring.balance import sway_metrics
from scoring.errors import AnalysisError
from scoring.metric import MetricValue, task_name
from scoring.smallest_change import SMALLEST_CHANGE, SmallestChange
from scoring.standard_measures import (
    Landing,
    PelvisTrack,
    five_times_sit_to_stand,
    four_square_step,
    ten_metre_walk_speed_m_s,
    timed_up_and_go,
)
from scoring.trajectories import Sway

log = logging.getLogger(__name__)

FAMILY = "assessment"
QUIET = {"quiet_eyes_open": "eo", "quiet_eyes_closed": "ec"}
QUIET_STAGE = {tag: stage for stage, tag in QUIET.items()}
REACH, WALK, TIMED = "reach", "walk", "timed_stepping"
LOS = "limits_of_stability"
FIVE_STS, TUG, FSST, TEN_METRE_WALK = (
    "five_times_sit_to_stand", "timed_up_and_go", "four_square_step", "ten_metre_walk")
# A lean's metric and side: sideways leans are one metric, per side leaned to.
LOS_METRICS = {"forward": ("los_forward_m", ""), "backward": ("los_backward_m", ""),
               "left": ("los_side_m", "L"), "right": ("los_side_m", "R")}
LEAN_START_S = 0.5  # a lean's starting centre: the mean of its window's first half second
LEAN_PERCENTILE = 95.0  # its robust maximum (see lean_excursion_m)
MIN_LEAN_SAMPLES = 10
# Below this the unaffected step is "in place": a ratio of two near-zero lengths means nothing.
MIN_STEP_LENGTH_FOR_SYMMETRY_M = 0.05

# -- metrics ----------------------------------------------------------------------------------------


def assessment_metrics(
    results: Iterable[TrialResult], sways: Mapping[str, Sway], affected_side: str, leg_length_m: float,
    pelvis: PelvisTrack | None = None,
) -> list[MetricValue]:
    """Every assessment metric the session's results support (a stage not run gives none).
    ``sways``: the session's balance recording per source (``cop``, ``com_proxy``); ``pelvis``:
    the tracker's pelvis marker, for the chair and walking tests."""
    results = list(results)
    affected = str(affected_side)
    unaffected = "R" if affected == "L" else "L"
    return (_quiet(results, sways) + _stage_task(LOS, _limits_of_stability(results, sways, affected, unaffected))
            + _stage_task(REACH, _reach(results, affected, unaffected, leg_length_m))
            + _stage_task(WALK, _walk(results, affected, unaffected)) + _stage_task(TIMED, _timed(results))
            + _stage_task(FIVE_STS, _five_sts(results, pelvis)) + _stage_task(TUG, _tug(results, pelvis))
            + _stage_task(FSST, _fsst(results)) + _stage_task(TEN_METRE_WALK, _ten_metre(results, pelvis)))


def _stage_task(stage: str, values: list[MetricValue]) -> list[MetricValue]:
    """``values`` labelled as coming from the assessment's ``stage``."""
    task = task_name(FAMILY, stage)
    return [replace(v, task=task) for v in values]


def _stage(result: TrialResult) -> object:
    return result.measures.get("stage")


@dataclass(frozen=True, slots=True)
class StageSway:
    velocity_m_s: float
    area_m2: float
    centre_x_m: float  # mean point: right (+) of the midpoint between the feet
    centre_y_m: float  # forward (+)
    source: str
    samples: int


def _window(result: TrialResult, sways: Mapping[str, Sway]) -> tuple[Sway, str] | None:
    """A stand's balance samples: the session's recording of the stand's balance source, cut to
    the stand's window (device time), and the source's name."""
    m = result.measures
    source, t0, t1 = m.get("balance_source"), m.get("device_t0_s"), m.get("device_t1_s")
    sway = sways.get(str(source))
    if sway is None or not isinstance(t0, int | float) or not isinstance(t1, int | float):
        return None
    return sway.window(t0, t1), str(source)


def _stage_sway(result: TrialResult, sways: Mapping[str, Sway]) -> StageSway | None:
    """One quiet stage's sway, from its window of the session's recording."""
    if (cut := _window(result, sways)) is None:
        return None
    stage, source = cut
    try:
        s = sway_metrics(stage.times_s, stage.cop_m)
    except AnalysisError:
        return None
    if s.get("mean_velocity_m_s") is None or s.get("ellipse95_area_m2") is None:
        return None
    mean_ap, mean_ml = stage.cop_m.mean(axis=0)
    return StageSway(s["mean_velocity_m_s"], s["ellipse95_area_m2"], float(mean_ml), float(mean_ap), source,
                     int(stage.times_s.size))


def _quiet(results: Sequence[TrialResult], sways: Mapping[str, Sway]) -> list[MetricValue]:
    out: list[MetricValue] = []
    found: dict[str, StageSway] = {}
    for result in results:  # the last of each stage counts (a repeated stage replaces the first)
        tag = QUIET.get(str(_stage(result)))
        if tag is not None and (values := _stage_sway(result, sways)) is not None:
            found[tag] = values
    tasks = {tag: task_name(FAMILY, stage) for tag, stage in QUIET_STAGE.items()}
    for tag in ("eo", "ec"):
        if tag in found:
            v = found[tag]
            out.append(MetricValue(FAMILY, f"sway_velocity_{tag}_m_s", v.velocity_m_s, direction=v.source, n=v.samples,
                                   task=tasks[tag]))
            out.append(MetricValue(FAMILY, f"sway_area_{tag}_m2", v.area_m2, direction=v.source, n=v.samples,
                                   task=tasks[tag]))
    eo, ec = found.get("eo"), found.get("ec")
    if eo is not None:  # where the patient's weight rests: the weight-shift game's centre
        out.append(MetricValue(FAMILY, "quiet_centre_x_m", eo.centre_x_m, direction=eo.source, n=eo.samples,
                               task=tasks["eo"]))
        out.append(MetricValue(FAMILY, "quiet_centre_y_m", eo.centre_y_m, direction=eo.source, n=eo.samples,
                               task=tasks["eo"]))
    if eo is not None and ec is not None and eo.source == ec.source and eo.velocity_m_s > 0:
        out.append(MetricValue(FAMILY, "romberg_ratio", ec.velocity_m_s / eo.velocity_m_s, direction=eo.source,
                               task=task_name(FAMILY, (QUIET_STAGE["eo"], QUIET_STAGE["ec"]))))
    return out


def lean_excursion_m(lean: Sway, azimuth_deg: float) -> float | None:
    """How far the balance point went, along a lean's direction (patient-frame azimuth: 0 forward,
    90 right), from where the lean started: the mean of the window's first ``LEAN_START_S``, when
    the patient, cued only as the window opens, has not yet moved (the lean's own start rather
    than the eyes-open quiet centre: the stage may run without that one, and the feet are placed
    anew before each lean, so each lean is measured from the stance it was made from).

    The maximum is robust, the 95th percentile of the projection rather than its largest sample: a
    single sample may be one noise spike, a plate's glitch or an overshoot caught at once, and
    would not repeat from one session to the next; the 95th percentile is a position held for at
    least 5 % of the window (0.4 s of an 8 s lean). None with too few samples to tell."""
    if lean.times_s.size < MIN_LEAN_SAMPLES:
        return None
    start = lean.times_s <= lean.times_s[0] + LEAN_START_S
    centre = lean.cop_m[start].mean(axis=0)
    rad = math.radians(azimuth_deg)
    along = (lean.cop_m - centre) @ np.array([math.cos(rad), math.sin(rad)])  # columns (AP, ML)
    return max(0.0, float(np.percentile(along, LEAN_PERCENTILE)))


def _limits_of_stability(results: Sequence[TrialResult], sways: Mapping[str, Sway], affected: str,
                         unaffected: str) -> list[MetricValue]:
    """Per lean (the last of a direction counts), its excursion; a faulted lean (a step) does not
    count: its base of support changed before it ended."""
    found: dict[str, tuple[float, str, int]] = {}
    for r in results:
        lean, azimuth = r.measures.get("lean"), r.measures.get("azimuth_deg")
        if (_stage(r) != LOS or r.outcome is not Outcome.HIT or lean not in LOS_METRICS
                or not isinstance(azimuth, int | float) or (cut := _window(r, sways)) is None):
            continue
        window, source = cut
        if (excursion := lean_excursion_m(window, float(azimuth))) is not None:
            found[str(lean)] = (excursion, source, int(window.times_s.size))
    out = [MetricValue(FAMILY, LOS_METRICS[lean][0], found[lean][0], LOS_METRICS[lean][1], found[lean][1],
                       n=found[lean][2]) for lean in LOS_METRICS if lean in found]
    by_side = {LOS_METRICS[lean][1]: found[lean] for lean in ("left", "right") if lean in found}
    a, u = by_side.get(affected), by_side.get(unaffected)
    if a is not None and u is not None and a[1] == u[1] and u[0] > 0:
        out.append(MetricValue(FAMILY, "symmetry_los_side", a[0] / u[0], direction=a[1]))
    return out


def _reach(results: Sequence[TrialResult], affected: str, unaffected: str, leg_length_m: float) -> list[MetricValue]:
    """Best reach per (reaching foot, direction); faulted and timed-out reaches do not count."""
    best: dict[tuple[str, str], float] = {}
    tries: dict[tuple[str, str], int] = defaultdict(int)
    for r in results:
        reach = r.measures.get("reach_m")
        if _stage(r) != REACH or r.outcome not in (Outcome.HIT, Outcome.MISS) or not isinstance(reach, int | float):
            continue
        key = (r.foot.value, r.direction)
        pct = 100.0 * max(0.0, float(reach)) / leg_length_m
        best[key] = max(best.get(key, pct), pct)
        tries[key] += 1
    out = [MetricValue(FAMILY, "reach_pct_ll", value, side, direction, n=tries[(side, direction)])
           for (side, direction), value in sorted(best.items())]
    by_side: dict[str, dict[str, float]] = defaultdict(dict)
    for (side, direction), value in best.items():
        by_side[side][direction] = value
    for side, values in sorted(by_side.items()):
        out.append(MetricValue(FAMILY, "reach_composite_pct_ll", statistics.fmean(values.values()), side,
                               sd=_sd(list(values.values())), n=len(values)))
    common = sorted(set(by_side.get(affected, {})) & set(by_side.get(unaffected, {})))
    if common:
        a = statistics.fmean(by_side[affected][d] for d in common)
        u = statistics.fmean(by_side[unaffected][d] for d in common)
        if u > 0:
            out.append(MetricValue(FAMILY, "symmetry_reach", a / u, n=len(common)))
    return out


def _walk(results: Sequence[TrialResult], affected: str, unaffected: str) -> list[MetricValue]:
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    step_times: list[float] = []
    for r in results:
        if r.direction != WALK:
            continue
        foot_values, m = values[r.foot.value], r.measures
        for name in ("step_length_m", "step_time_s"):
            if isinstance(v := m.get(name), int | float):
                foot_values[name].append(float(v))
        if isinstance(v := m.get("step_time_s"), int | float):
            step_times.append(float(v))
        if r.foot_lift_m is not None:
            foot_values["foot_lift_m"].append(r.foot_lift_m)
    out: list[MetricValue] = []
    means: dict[tuple[str, str], float] = {}
    for name in ("step_length_m", "step_time_s", "foot_lift_m"):
        for side in sorted(values):
            if data := values[side][name]:
                means[(name, side)] = statistics.fmean(data)
                out.append(MetricValue(FAMILY, name, means[(name, side)], side, sd=_sd(data), n=len(data)))
    if step_times and (mean_step := statistics.fmean(step_times)) > 0:
        out.append(MetricValue(FAMILY, "cadence_steps_per_min", 60.0 / mean_step, n=len(step_times)))
    for name, ratio, floor in (("step_length_m", "symmetry_step_length", MIN_STEP_LENGTH_FOR_SYMMETRY_M),
                               ("step_time_s", "symmetry_step_time", 1e-9),
                               ("foot_lift_m", "symmetry_foot_lift", 1e-9)):
        a, u = means.get((name, affected)), means.get((name, unaffected))
        if a is not None and u is not None and abs(u) >= floor:
            out.append(MetricValue(FAMILY, ratio, a / u))
    return out


def _timed(results: Sequence[TrialResult]) -> list[MetricValue]:
    trials = [r for r in results if _stage(r) == TIMED]
    out: list[MetricValue] = []
    reactions: dict[str, list[float]] = defaultdict(list)
    for r in trials:
        if r.reaction_time_s is not None:
            reactions[r.foot.value].append(r.reaction_time_s)
    for side, data in sorted(reactions.items()):
        out.append(MetricValue(FAMILY, "reaction_time_s", statistics.fmean(data), side, sd=_sd(data), n=len(data)))
    hits = [r for r in trials if r.outcome is Outcome.HIT]
    if hits:
        first = min(r.shown_at_s for r in trials)
        last = max(_landed_at(r) for r in hits)
        out.append(MetricValue(FAMILY, "timed_stepping_s", last - first, n=len(trials)))
    return out


def _landed_at(r: TrialResult) -> float:
    """When the stepping foot landed (the end of the trial less its dwell)."""
    if r.reaction_time_s is not None and r.movement_time_s is not None:
        return r.shown_at_s + r.reaction_time_s + r.movement_time_s
    return r.ended_at_s


def _tests(results: Sequence[TrialResult], stage: str, pelvis: PelvisTrack | None) -> list[tuple[str, PelvisTrack]]:
    """Each finished test of a pelvis stage, oldest first, with its window of the pelvis recording."""
    out = []
    for r in results:
        m = r.measures
        t0, t1 = m.get("device_t0_s"), m.get("device_t1_s")
        if (_stage(r) != stage or r.outcome is not Outcome.HIT or pelvis is None
                or not isinstance(t0, int | float) or not isinstance(t1, int | float)):
            continue
        out.append((str(m.get("trial", stage)), pelvis.window(float(t0), float(t1))))
    return out


def _five_sts(results: Sequence[TrialResult], pelvis: PelvisTrack | None) -> list[MetricValue]:
    """The last finished test counts (a repeated test replaces the first)."""
    out: list[MetricValue] = []
    for _, window in _tests(results, FIVE_STS, pelvis)[-1:]:
        try:
            found = five_times_sit_to_stand(window.times_s, window.z_m)
        except AnalysisError as exc:
            log.info("no Five Times Sit-to-Stand: %s", exc)
            continue
        out.append(MetricValue(FAMILY, "five_sts_stands", float(found.stands), n=found.stands))
        if found.total_s is not None:
            out.append(MetricValue(FAMILY, "five_sts_s", found.total_s))
        if found.to_fifth_stand_s is not None:
            out.append(MetricValue(FAMILY, "five_sts_fifth_stand_s", found.to_fifth_stand_s))
    return out


def _tug(results: Sequence[TrialResult], pelvis: PelvisTrack | None) -> list[MetricValue]:
    out: list[MetricValue] = []
    for _, window in _tests(results, TUG, pelvis)[-1:]:
        try:
            found = timed_up_and_go(window.times_s, window.x_m, window.y_m, window.z_m)
        except AnalysisError as exc:
            log.info("no Timed Up and Go: %s", exc)
            continue
        out.append(MetricValue(FAMILY, "tug_s", found.total_s))
        out += [MetricValue(FAMILY, f"tug_{phase}_s", value) for phase, value in found.phases().items()]
        out.append(MetricValue(FAMILY, "tug_distance_m", found.distance_m))
    return out


def _ten_metre(results: Sequence[TrialResult], pelvis: PelvisTrack | None) -> list[MetricValue]:
    """Per pace, the last finished walk."""
    found: dict[str, float] = {}
    for pace, window in _tests(results, TEN_METRE_WALK, pelvis):
        try:
            found[pace] = ten_metre_walk_speed_m_s(window.times_s, window.x_m, window.y_m)
        except AnalysisError as exc:
            log.info("no 10-metre walk speed (%s): %s", pace, exc)
    return [MetricValue(FAMILY, f"gait_speed_{pace}_m_s", value) for pace, value in sorted(found.items())]


def _fsst(results: Sequence[TrialResult]) -> list[MetricValue]:
    """From the landings of the last attempt (a pause starts the test again)."""
    landings = [r for r in results if _stage(r) == FSST and isinstance(r.measures.get("square"), int | float)]
    if not landings:
        return []
    last = max(int(r.measures.get("attempt", 0) or 0) for r in landings)
    found = four_square_step(
        Landing(float(r.measures.get("device_t_s", r.ended_at_s) or 0.0), r.foot.value, int(r.measures["square"]))
        for r in landings if int(r.measures.get("attempt", 0) or 0) == last)
    out = [MetricValue(FAMILY, "fsst_errors", float(found.errors), n=found.squares_done)]
    if found.time_s is not None:
        out.append(MetricValue(FAMILY, "fsst_s", found.time_s, n=found.squares_done))
    return out


def _sd(data: Sequence[float]) -> float | None:
    return statistics.stdev(data) if len(data) >= 2 else None


# -- change against the baseline --------------------------------------------------------------------


def compare(
    baseline_rows: Iterable[Mapping[str, Any]], current_rows: Iterable[Mapping[str, Any]],
    rules: Mapping[str, SmallestChange] = SMALLEST_CHANGE,
) -> list[dict[str, Any]]:
    """One row per current metric (``metric``, ``side``, ``direction``, ``task`` as stored) with its baseline
    value, the change, the smallest change worth noting and the verdict: ``improved`` / ``worse``
    when the change is at least that large (the better direction from :data:`SMALLEST_CHANGE`),
    ``changed`` for such a change of a metric no direction of which is better, ``no notable
    change`` when smaller, ``new`` when the baseline has no such value. A metric
    without a table entry is never called improved or worse. ``rules``: the clinic's table
    (:func:`scoring.smallest_change.load_smallest_changes`); ``basis`` says where each came from."""
    base = {_key(row): float(row["value"]) for row in baseline_rows if row.get("value") is not None}
    out: list[dict[str, Any]] = []
    for row in current_rows:
        if row.get("value") is None:
            continue
        metric, side, direction = key = _key(row)
        value = float(row["value"])
        rule = rules.get(metric)
        baseline = base.get(key)
        entry: dict[str, Any] = {
            "metric": metric, "side": side, "direction": direction, "task": str(row.get("task") or ""),
            "unit": rule.unit if rule else "", "baseline": baseline, "value": value,
            "change": None, "smallest_change": None,
            "better": rule.better if rule else None, "ideal": rule.ideal if rule else None,
            "basis": rule.basis if rule else "", "verdict": "new",
        }
        if baseline is not None:
            entry["change"] = value - baseline
            entry["smallest_change"] = None if rule is None else rule.at(baseline)
            entry["verdict"] = _verdict(rule, baseline, value)
        out.append(entry)
    return out


def _key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    return str(row["metric"]), str(row.get("side") or ""), str(row.get("direction") or "")


def _verdict(rule: SmallestChange | None, baseline: float, value: float) -> str:
    if rule is None:
        return "no notable change"
    if rule.better is None and rule.ideal is not None:  # nearer the ideal is better
        gain = abs(baseline - rule.ideal) - abs(value - rule.ideal)
    elif rule.better in ("higher", "lower"):
        gain = value - baseline if rule.better == "higher" else baseline - value
    else:  # no way is better (where the weight rests forward or back): only whether it moved
        return "changed" if abs(value - baseline) >= rule.at(baseline) else "no notable change"
    if not math.isfinite(gain) or abs(gain) < rule.at(baseline) - 1e-12:
        return "no notable change"
    return "improved" if gain > 0 else "worse"
