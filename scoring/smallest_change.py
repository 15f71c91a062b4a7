"""The smallest change of each assessment metric worth telling the therapist about.

The defaults are conservative and say so: published minimal detectable changes for these exact
measures in stroke are few and depend on the device and protocol, so a clinic that has measured its
own (test-retest on its own equipment) sets them in a TOML file (``--smallest-change``), each with
the source the therapist sees next to the number::

    [reach_pct_ll]
    absolute = 6.0        # in the metric's unit (here % of leg length)
    relative = 0.0        # optional: or this share of the baseline, whichever is larger
    source = "our SEBT test-retest, 12 patients, 2026"

Only the thresholds are the clinic's; each metric's unit and better direction stay the code's.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

_NOT_FROM_A_STUDY = "conservative default, not from a study"


@dataclass(frozen=True, slots=True)
class SmallestChange:
    """The smallest change of a metric worth telling the therapist about: ``absolute`` (in
    ``unit``) or ``relative`` × the baseline, whichever is larger. ``better``: which way is
    improvement ("higher" / "lower"), or None when nearer ``ideal`` is better (symmetry ratios)."""

    absolute: float
    better: str | None
    unit: str
    basis: str
    relative: float = 0.0
    ideal: float | None = None

    def at(self, baseline: float) -> float:
        return max(self.absolute, self.relative * abs(baseline))


def _sway(unit: str, absolute: float, relative: float, what: str) -> SmallestChange:
    return SmallestChange(absolute, "lower", unit, f"{_NOT_FROM_A_STUDY}: {what}", relative)


def _symmetry(what: str) -> SmallestChange:
    return SmallestChange(0.10, None, "ratio", f"{_NOT_FROM_A_STUDY}: 0.10 of the {what} ratio "
                          "(affected ÷ unaffected); nearer 1 is better", ideal=1.0)


def _los(what: str) -> SmallestChange:
    return SmallestChange(0.02, "higher", "m", f"{_NOT_FROM_A_STUDY}: 2 cm of the {what} limit of stability "
                          "(a few to about 15 cm after stroke; a lean's excursion varies by a cm or two "
                          "between sessions)")


_VELOCITY = "COP velocity varies between sessions by tens of percent; 25 % of baseline, at least 2 mm/s"
_AREA = "ellipse area is among the least repeatable sway measures; 40 % of baseline, at least 1 cm²"

SMALLEST_CHANGE: dict[str, SmallestChange] = {
    "sway_velocity_eo_m_s": _sway("m/s", 0.002, 0.25, _VELOCITY),
    "sway_velocity_ec_m_s": _sway("m/s", 0.002, 0.25, _VELOCITY),
    "sway_area_eo_m2": _sway("m²", 1e-4, 0.40, _AREA),
    "sway_area_ec_m2": _sway("m²", 1e-4, 0.40, _AREA),
    "quiet_centre_x_m": SmallestChange(0.01, None, "m", f"{_NOT_FROM_A_STUDY}: 1 cm of the resting "
                                       "centre of pressure sideways; nearer 0 (weight on both feet alike) is "
                                       "better", ideal=0.0),
    "quiet_centre_y_m": SmallestChange(0.01, None, "m", f"{_NOT_FROM_A_STUDY}: 1 cm of the resting "
                                       "centre of pressure forward or back; neither way is better"),
    "romberg_ratio": SmallestChange(0.3, "lower", "ratio", f"{_NOT_FROM_A_STUDY}: 0.3 of the EC/EO "
                                    "velocity ratio; lower means less reliance on vision"),
    "los_forward_m": _los("forward"),
    "los_backward_m": _los("backward"),
    "los_side_m": _los("sideways"),
    "symmetry_los_side": _symmetry("sideways limit of stability"),
    "reach_pct_ll": SmallestChange(8.0, "higher", "% leg length", f"{_NOT_FROM_A_STUDY} in stroke: "
                                   "8 % LL per direction, at the top of the between-session detectable "
                                   "differences of the order reported for the SEBT in healthy adults"),
    "reach_composite_pct_ll": SmallestChange(6.0, "higher", "% leg length", f"{_NOT_FROM_A_STUDY}: "
                                             "6 % LL, a mean of directions varies less than one"),
    "step_length_m": SmallestChange(0.05, "higher", "m", f"{_NOT_FROM_A_STUDY}: 5 cm per side"),
    "step_time_s": SmallestChange(0.10, "lower", "s", f"{_NOT_FROM_A_STUDY}: 0.1 s per side"),
    "foot_lift_m": SmallestChange(0.02, "higher", "m", f"{_NOT_FROM_A_STUDY}: 2 cm of foot clearance"),
    "cadence_steps_per_min": SmallestChange(6.0, "higher", "steps/min",
                                            f"{_NOT_FROM_A_STUDY}: 6 steps/min (about 10 % of a slow cadence)"),
    "symmetry_step_length": _symmetry("step length"),
    "symmetry_step_time": _symmetry("step time"),
    "symmetry_foot_lift": _symmetry("foot lift"),
    "symmetry_reach": _symmetry("reach composite"),
    "reaction_time_s": SmallestChange(0.10, "lower", "s", f"{_NOT_FROM_A_STUDY}: 0.1 s or 15 % of "
                                      "baseline, whichever is larger", relative=0.15),
    "timed_stepping_s": SmallestChange(1.0, "lower", "s", f"{_NOT_FROM_A_STUDY}: 1 s or 15 % of "
                                       "baseline, whichever is larger", relative=0.15),
}


class SmallestChangeError(ValueError):
    """A clinic's table that cannot be used; the message says which entry and why."""


def load_smallest_changes(path: str | Path) -> dict[str, SmallestChange]:
    """The default table with the clinic's entries from the TOML file at ``path`` in their place."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise SmallestChangeError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SmallestChangeError(f"{path} is not valid TOML: {exc}") from None
    return with_clinic_values(data, where=str(path))


def with_clinic_values(data: Mapping[str, Any], where: str = "table") -> dict[str, SmallestChange]:
    """The default table with ``data``'s entries ({metric: {absolute, relative, source}})."""
    rules = dict(SMALLEST_CHANGE)
    for metric, entry in data.items():
        if metric not in SMALLEST_CHANGE:
            raise SmallestChangeError(f"{where}: no assessment metric '{metric}' "
                                      f"(known: {', '.join(sorted(SMALLEST_CHANGE))})")
        if not isinstance(entry, Mapping):
            raise SmallestChangeError(f"{where}: [{metric}] must be a table of absolute, relative, source")
        unknown = set(entry) - {"absolute", "relative", "source"}
        if unknown:
            raise SmallestChangeError(f"{where}: [{metric}] has unknown keys {sorted(unknown)} "
                                      "(allowed: absolute, relative, source)")
        default = SMALLEST_CHANGE[metric]
        absolute = _threshold(entry, "absolute", None, metric, where, default.unit)
        relative = _threshold(entry, "relative", 0.0, metric, where, "share of the baseline")
        if absolute == 0.0 and relative == 0.0:
            raise SmallestChangeError(f"{where}: [{metric}] needs absolute or relative above 0")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise SmallestChangeError(f"{where}: [{metric}] needs a 'source': where the number comes "
                                      "from (the therapist sees it)")
        rules[metric] = replace(default, absolute=absolute, relative=relative,
                                basis=f"set by the clinic: {source.strip()}")
    return rules


def _threshold(entry: Mapping[str, Any], key: str, default: float | None, metric: str, where: str,
               unit: str) -> float:
    value = entry.get(key, default)
    if value is None:
        raise SmallestChangeError(f"{where}: [{metric}] needs '{key}' (in {unit})")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise SmallestChangeError(f"{where}: [{metric}] {key} must be a number >= 0 (in {unit}), "
                                  f"not {value!r}")
    return float(value)
