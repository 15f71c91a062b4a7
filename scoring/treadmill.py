"""Session metrics of the treadmill stepping-targets game (family ``treadmill``).

Step length is the clinical target of the game (hemiparetic gait is short-stepped, most of all on
the affected side), so it is reported per side with its spread, and as affected / unaffected
symmetry (1.0 = symmetric). Only a target's own foot landing for it (``hit`` or ``miss``) is a step
aimed at a target; wrong-foot landings and never-attempted targets count only against the hit rate.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

from games.base import Outcome, TrialResult
from scoring.metric import MetricValue

FAMILY = "treadmill"
_LANDED = (Outcome.HIT, Outcome.MISS)
_ERRORS = ("landing_error_ap_m", "landing_error_ml_m")  # reported as mean absolute error


def treadmill_metrics(results: Sequence[TrialResult], affected_side: str) -> list[MetricValue]:
    """Mean step length per side (with sd and n), hit rate per side and overall, mean absolute
    landing error front-back (AP) and sideways (ML), and step-length symmetry."""
    out: list[MetricValue] = []
    steps: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[float]] = defaultdict(list)
    trials: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        side = r.foot.value
        trials[side].append(r.outcome.success)
        if r.outcome not in _LANDED:
            continue
        step = r.measures.get("step_length_m")
        if isinstance(step, int | float):
            steps[side].append(float(step))
        for name in _ERRORS:
            value = r.measures.get(name)
            if isinstance(value, int | float):
                errors[name].append(abs(float(value)))
    for side, values in sorted(steps.items()):
        out.append(_mean("step_length_m", values, side))
    for side, outcomes in sorted(trials.items()):
        out.append(MetricValue(FAMILY, "hit_rate", sum(outcomes) / len(outcomes), side, n=len(outcomes)))
    every = [ok for outcomes in trials.values() for ok in outcomes]
    if every:
        out.append(MetricValue(FAMILY, "hit_rate", sum(every) / len(every), n=len(every)))
    for name in _ERRORS:
        if errors[name]:
            out.append(_mean(name, errors[name]))
    other = "R" if affected_side == "L" else "L"
    if steps.get(affected_side) and steps.get(other):
        unaffected = statistics.fmean(steps[other])
        if unaffected > 0:
            out.append(MetricValue(FAMILY, "symmetry_step_length", statistics.fmean(steps[affected_side]) / unaffected))
    return out


def _mean(metric: str, values: list[float], side: str = "") -> MetricValue:
    sd = statistics.stdev(values) if len(values) > 1 else None
    return MetricValue(FAMILY, metric, statistics.fmean(values), side, sd=sd, n=len(values))
