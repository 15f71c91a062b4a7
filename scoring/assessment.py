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
* symmetry, affected ÷ unaffected (1 = symmetric), of reach, step length, step time and foot lift.

Each value's ``task`` names the stage it comes from (``assessment:quiet_eyes_closed``; the Romberg
ratio ``assessment:quiet_eyes_open+quiet_eyes_closed``): sway is measured only here, in the quiet
stands, never from a training game's centre of pressure (:mod:`scoring.session_metrics`).
"""

from __future__ import annotations

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
from scoring.trajectories import Sway

FAMILY = "assessment"
QUIET = {"quiet_eyes_open": "eo", "quiet_eyes_closed": "ec"}
QUIET_STAGE = {tag: stage for stage, tag in QUIET.items()}
REACH, WALK, TIMED = "reach", "walk", "timed_stepping"
LOS = "limits_of_stability"
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
    results: Iterable[TrialResult], sways: Mapping[str, Sway], affected_side: str, leg_length_m: float
) -> list[MetricValue]:
    """Every assessment metric the session's results support (a stage not run gives none).
    ``sways``: the session's balance recording per source (``cop``, ``com_proxy``)."""
    results = list(results)
    affected = str(affected_side)
    unaffected = "R" if affected == "L" else "L"
    return (_quiet(results, sways) + _stage_task(LOS, _limits_of_stability(results, sways, affected, unaffected))
            + _stage_task(REACH, _reach(results, affected, unaffected, leg_length_m))
            + _stage_task(WALK, _walk(results, affected, unaffected)) + _stage_task(TIMED, _timed(results)))


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
