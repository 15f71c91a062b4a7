"""Stored metrics in clinical units for reports: the database keeps SI units named in the metric
(``step_length_m``, ``sway_velocity_eo_m_s``, ``sway_area_eo_m2``); a report shows cm, cm/s, cm², s
and % with one rounding per unit, as the panel does (``clients/web_panel/units.js``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shown:
    factor: float
    unit: str
    digits: int

    def text(self, value: float | None, signed: bool = False) -> str:
        if value is None:
            return "–"
        number = value * self.factor
        return f"{number:+.{self.digits}f}" if signed else f"{number:.{self.digits}f}"


# (suffix, how to show it): longest suffix first
_SUFFIXES = (
    ("_steps_per_min", Shown(1.0, "steps/min", 0)),
    ("_pct_ll", Shown(1.0, "% leg length", 0)),
    ("_pct", Shown(1.0, "%", 0)),
    ("_m_s", Shown(100.0, "cm/s", 1)),
    ("_m2", Shown(10_000.0, "cm²", 1)),
    ("_deg", Shown(1.0, "°", 0)),
    ("_m", Shown(100.0, "cm", 1)),
    ("_s", Shown(1.0, "s", 2)),
)
_RATIO = Shown(1.0, "", 2)
_COUNT = Shown(1.0, "", 0)


def shown(metric: str) -> Shown:
    """How to show a stored metric: ``step_length_m`` in cm, ``symmetry_*`` and ``*_ratio`` as
    plain ratios, counts as whole numbers."""
    for suffix, how in _SUFFIXES:
        if metric.endswith(suffix):
            return how
    if metric.startswith("symmetry") or metric.endswith("ratio") or metric.endswith("_index"):
        return _RATIO
    return _COUNT


def label(metric: str) -> str:
    """A stored metric's name without its unit suffix, in words (``step_length_m`` → "step length")."""
    for suffix, _ in _SUFFIXES:
        if metric.endswith(suffix):
            metric = metric[: -len(suffix)]
            break
    return metric.replace("_", " ")


# UCUM for the units the stored metrics carry in their names (FHIR Observations)
_UCUM = (("_steps_per_min", "/min", "steps per minute"), ("_pct_ll", "%", "%"), ("_pct", "%", "%"),
         ("_m_s", "m/s", "m/s"), ("_m2", "m2", "m²"), ("_deg", "deg", "°"), ("_m", "m", "m"), ("_s", "s", "s"))


def ucum(metric: str) -> tuple[str, str]:
    """(UCUM code, human unit) of a stored metric; ratios and counts are dimensionless ``1``."""
    for suffix, code, human in _UCUM:
        if metric.endswith(suffix):
            return code, human
    return "1", "ratio" if metric.startswith("symmetry") or metric.endswith("ratio") else "count"
