"""A tailored starting plan from an assessment: per game, ``start_game`` settings and a starting
difficulty, each choice with the reason for it, for the therapist to edit and accept.

The rules are plain rules of thumb of this software, stated in each ``basis`` line; they are not
clinical norms. Every value is kept inside the game's declared limits (its setting fields and
parameter specs in :mod:`games.registry`), so a suggested entry passes the checks of ``start_game``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from games.registry import GAMES
from games.stepping.settings import REACH_PER_LEG_LENGTH
from scoring.difficulty import DEFAULT_START_LEVEL, DEFAULT_TARGET_SUCCESS

SHARE_SYMMETRIC = 0.5  # no asymmetry: as many targets for either foot
SHARE_MAX = 0.85  # never all targets for the affected foot: the sound side keeps moving too
SHARE_MAX_AT_DEFICIT = 0.5  # the affected side at half the unaffected (or less) gets SHARE_MAX
SHARE_UNMEASURED = 0.7  # the stepping game's own default, when symmetry was not measured
SYMMETRY_METRICS = ("symmetry_reach", "symmetry_step_length", "symmetry_foot_lift")
HIGH_SWAY_M_S = 0.02  # rule of thumb: quiet-stance COP velocity above this is unsteady
HIGH_ROMBERG = 2.0
BELT_MIN_M_S, BELT_MAX_M_S = 0.2, 0.8  # a first treadmill session: slow, and never brisk
IN_PLACE_STEP_M = 0.10  # shorter mean steps: the walk was stepping in place, no speed measured
BELT_UNMEASURED_M_S = 0.3


@dataclass(frozen=True, slots=True)
class PlanSuggestion:
    """``plan``: {game: {"settings": {...}, "difficulty": {...}}}, as ``start_game`` takes them.
    ``basis``: {game: [why each choice, one line each]}."""

    plan: dict[str, dict[str, Any]]
    basis: dict[str, list[str]] = field(default_factory=dict)


class _Rows:
    """Metric lookup by (metric, side, direction); direction None: any (sway's source)."""

    def __init__(self, rows: Iterable[Mapping[str, Any] | Any]) -> None:
        self.rows = [r if isinstance(r, Mapping) else asdict(r) if is_dataclass(r) and not isinstance(r, type)
                     else vars(r) for r in rows]

    def get(self, metric: str, side: str = "", direction: str | None = "") -> float | None:
        for r in self.rows:
            if (r.get("metric") == metric and (r.get("side") or "") == side
                    and (direction is None or (r.get("direction") or "") == direction)
                    and r.get("value") is not None):
                return float(r["value"])
        return None

    def by_direction(self, metric: str, side: str) -> dict[str, float]:
        return {str(r.get("direction") or ""): float(r["value"]) for r in self.rows
                if r.get("metric") == metric and (r.get("side") or "") == side and r.get("value") is not None}


def suggest_plan(
    rows: Iterable[Mapping[str, Any] | Any], affected_side: str, leg_length_m: float, step_reach_m: float | None
) -> PlanSuggestion:
    """A plan from an assessment's metric rows (metric, side, direction, value; none at all gives
    the games' defaults with the reasons said)."""
    metrics = _Rows(rows)
    affected = str(affected_side)
    unaffected = "R" if affected == "L" else "L"
    reach_m = step_reach_m or REACH_PER_LEG_LENGTH * leg_length_m
    plan: dict[str, dict[str, Any]] = {}
    basis: dict[str, list[str]] = {}
    for name, build in (("stepping", _stepping), ("reaching", _reaching), ("weight_shift", _weight_shift),
                        ("treadmill", _treadmill)):
        plan[name], basis[name] = build(metrics, affected, unaffected, leg_length_m, reach_m)
    return PlanSuggestion(plan, basis)


# -- the affected-side share -----------------------------------------------------------------------


def affected_side_share(metrics: _Rows) -> tuple[float, str]:
    """More asymmetry, more practice for the affected side: from 0.5 (symmetric) up to 0.85 when the
    affected side reaches half of the unaffected or less. A ratio above 1 (the affected side the
    better) counts as symmetric."""
    ratios = {name: v for name in SYMMETRY_METRICS if (v := metrics.get(name)) is not None}
    if not ratios:
        return SHARE_UNMEASURED, (f"affected_side_share {SHARE_UNMEASURED}: no left/right symmetry was "
                                  "measured, the stepping game's default")
    symmetry = statistics.fmean(min(1.0, max(0.0, v)) for v in ratios.values())
    deficit = 1.0 - symmetry
    share = round(SHARE_SYMMETRIC + (SHARE_MAX - SHARE_SYMMETRIC) * min(1.0, deficit / SHARE_MAX_AT_DEFICIT), 2)
    shown = ", ".join(f"{name.removeprefix('symmetry_').replace('_', ' ')} {v:.2f}" for name, v in ratios.items())
    return share, (f"affected_side_share {share}: symmetry affected/unaffected {shown} (mean {symmetry:.2f}); "
                   f"{SHARE_SYMMETRIC} when symmetric, rising to {SHARE_MAX} at half or less")


# -- per game ---------------------------------------------------------------------------------------


def _stepping(
    m: _Rows, affected: str, unaffected: str, leg_m: float, reach_m: float
) -> tuple[dict[str, Any], list[str]]:
    game = "stepping"
    share, why = affected_side_share(m)
    settings = _settings(game, affected_side_share=share)
    lines = [why]
    bounds: dict[str, dict[str, float]] = {}
    level = DEFAULT_START_LEVEL
    reaction = [v for side in (affected, unaffected) if (v := m.get("reaction_time_s", side)) is not None]
    if reaction:
        slow = max(reaction)
        spec = _param(game, "time_window_s")
        if spec is not None:
            low = min(6.0, slow + 1.0)
            high = max(spec.default_high, 3.0 * low)
            bounds["time_window_s"] = _bounds(game, "time_window_s", low, high)
            lines.append(f"time_window_s {bounds['time_window_s']['low']}-{bounds['time_window_s']['high']} s: "
                         f"the slower side's reaction time {slow:.2f} s plus 1 s to step at the hard end, "
                         "three times that at the easy end")
        level = 0.2 if slow > 1.0 else 0.4 if slow < 0.6 else DEFAULT_START_LEVEL
        lines.append(f"level {level}: reaction time {slow:.2f} s (slower than 1 s: 0.2, faster than 0.6 s: 0.4)")
    else:
        lines.append(f"level {level}: the default (no reaction time measured)")
    composite = m.get("reach_composite_pct_ll", affected)
    spec = _param(game, "step_distance_frac")
    if composite is not None and spec is not None and composite > 0:
        far = 1.1 * composite / 100.0 * leg_m / reach_m
        high = min(spec.default_high, far)
        bounds["step_distance_frac"] = _bounds(game, "step_distance_frac", min(spec.default_low, high), high)
        lines.append(f"step_distance_frac up to {bounds['step_distance_frac']['high']}: targets no farther than "
                     f"110 % of the affected foot's mean SEBT reach ({composite:.0f} % of {leg_m:.2f} m leg) "
                     f"over the step reach {reach_m:.2f} m")
    return _entry(game, settings, level, DEFAULT_TARGET_SUCCESS, bounds), lines


def _reaching(
    m: _Rows, affected: str, unaffected: str, leg_m: float, reach_m: float
) -> tuple[dict[str, Any], list[str]]:
    game = "reaching"
    symmetry = m.get("symmetry_reach")
    stance = "unaffected" if symmetry is None or symmetry < 0.9 else "alternate"
    lines = [f"stance {stance}: " + ("reach symmetry not measured: the affected foot reaches"
                                     if symmetry is None else
                                     f"reach symmetry {symmetry:.2f} " + ("< 0.9: the affected foot reaches"
                                                                          if stance == "unaffected" else
                                                                          ">= 0.9: both legs in turn"))]
    reaching_sides = (affected,) if stance == "unaffected" else (affected, unaffected)
    composites = [v for side in reaching_sides if (v := m.get("reach_composite_pct_ll", side)) is not None]
    bests = [v for side in reaching_sides for v in m.by_direction("reach_pct_ll", side).values()]
    bounds: dict[str, dict[str, float]] = {}
    level = DEFAULT_START_LEVEL
    spec = _param(game, "reach_frac_ll")
    if composites and bests and spec is not None:
        c = min(composites) / 100.0
        low = max(spec.minimum, 0.5 * c)
        high = max(low + 0.05, 1.1 * max(bests) / 100.0)
        bounds["reach_frac_ll"] = b = _bounds(game, "reach_frac_ll", low, high)
        level = round(min(1.0, max(0.0, (0.8 * c - b["low"]) / max(1e-9, b["high"] - b["low"]))), 2)
        lines.append(f"reach_frac_ll {b['low']}-{b['high']}: half the reaching foot's mean SEBT reach "
                     f"({100 * c:.0f} % LL) to 110 % of its best ({max(bests):.0f} % LL)")
        lines.append(f"level {level}: the first targets at about 80 % of the mean reach")
    else:
        lines.append("reach_frac_ll: the game's default bounds (no SEBT reach measured)")
    return _entry(game, _settings(game, stance=stance), level, DEFAULT_TARGET_SUCCESS, bounds), lines


def _weight_shift(
    m: _Rows, affected: str, unaffected: str, leg_m: float, reach_m: float
) -> tuple[dict[str, Any], list[str]]:
    game = "weight_shift"
    velocity = m.get("sway_velocity_eo_m_s", direction=None)
    romberg = m.get("romberg_ratio", direction=None)
    limits, lines = _limits_of_stability(m, affected, unaffected)
    unsteady = (velocity is not None and velocity > HIGH_SWAY_M_S) or (romberg is not None and romberg > HIGH_ROMBERG)
    bounds: dict[str, dict[str, float]] = {}
    if unsteady:
        level, success = 0.2, 0.8
        hold = _param(game, "hold_s")
        if hold is not None:
            bounds["hold_s"] = _bounds(game, "hold_s", hold.default_low, min(hold.default_high, 1.0))
        lines.append(f"level {level}, target success {success}, holds of at most 1 s: unsteady quiet stance "
                     f"(velocity {_fmt(velocity, 'm/s', 3)}, Romberg {_fmt(romberg, '', 2)}; rule of thumb: "
                     f"over {HIGH_SWAY_M_S} m/s or {HIGH_ROMBERG})")
    else:
        level, success = DEFAULT_START_LEVEL, DEFAULT_TARGET_SUCCESS
        lines.append(f"level {level}, target success {success}: " + (
            "quiet stance not measured" if velocity is None and romberg is None else
            f"steady quiet stance (velocity {_fmt(velocity, 'm/s', 3)}, Romberg {_fmt(romberg, '', 2)})"))
    settings: dict[str, Any] = _settings(game, **limits)
    x, y = _quiet_centre(m)
    if x is not None and y is not None:  # targets around where the patient's weight really rests
        settings.update(_settings(game, centre_x_m=x, centre_y_m=y))
        lines.append(f"centre {100 * settings['centre_x_m']:+.1f} cm right, {100 * settings['centre_y_m']:+.1f} cm "
                     "forward: the patient's quiet-standing centre of pressure, eyes open")
    else:
        lines.append("centre: midway between the feet (quiet-standing centre not measured)")
    return _entry(game, settings, level, success, bounds), lines


def _limits_of_stability(m: _Rows, affected: str, unaffected: str) -> tuple[dict[str, float], list[str]]:
    """The weight-shift game's limits of stability from the assessment's (one balance source, the
    measured COP first), each kept within the game's range. The game has one sideways limit for
    both sides: the smaller of the two measured, so that no target lies beyond what either side
    reached (after a stroke that is nearly always the affected side's, but not always)."""
    for source in ("cop", "com_proxy"):
        forward, backward = m.get("los_forward_m", direction=source), m.get("los_backward_m", direction=source)
        sides = {side: v for side in (affected, unaffected) if (v := m.get("los_side_m", side, source)) is not None}
        if forward is not None or backward is not None or sides:
            break
    else:
        return {}, ["limits of stability: the game's defaults (not measured)"]
    specs = {spec.name: spec for spec in GAMES["weight_shift"].setting_fields}
    limits: dict[str, float] = {}
    lines: list[str] = []

    def keep(name: str, measured: float, why: str) -> None:
        spec = specs[name]
        assert spec.low is not None and spec.high is not None  # every limit is a bounded number
        limits[name] = value = round(min(spec.high, max(spec.low, measured)), 3)
        clamped = "" if value == round(measured, 3) else f", kept within {spec.low}-{spec.high} m"
        lines.append(f"{name} {value:.3f} m: {why} (balance source {source}){clamped}")

    if forward is not None:
        keep("los_forward_m", forward, f"the measured forward limit of stability {forward:.3f} m")
    if backward is not None:
        keep("los_backward_m", backward, f"the measured backward limit of stability {backward:.3f} m")
    if sides:
        smallest = min(sides.values())
        shown = ", ".join(f"{'left' if s == 'L' else 'right'}{' (affected)' if s == affected else ''} {v:.3f} m"
                          for s, v in sorted(sides.items()))
        keep("los_side_m", smallest, f"the smaller measured sideways limit ({shown}): the game uses one limit "
             "for both sides, and no target should lie beyond what either side reached")
    missing = [name for name in ("los_forward_m", "los_backward_m", "los_side_m") if name not in limits]
    if missing:
        lines.append(f"{', '.join(missing)}: the game's default (not measured)")
    return limits, lines


def _quiet_centre(m: _Rows) -> tuple[float | None, float | None]:
    """The eyes-open quiet-standing centre: from a measured centre of pressure if there is one,
    else from a tracker's pelvis proxy."""
    for source in ("cop", "com_proxy"):
        x, y = m.get("quiet_centre_x_m", direction=source), m.get("quiet_centre_y_m", direction=source)
        if x is not None and y is not None:
            return x, y
    return None, None


def _treadmill(
    m: _Rows, affected: str, unaffected: str, leg_m: float, reach_m: float
) -> tuple[dict[str, Any], list[str]]:
    game = "treadmill"
    lengths = [v for side in (affected, unaffected) if (v := m.get("step_length_m", side)) is not None]
    cadence = m.get("cadence_steps_per_min")
    lines: list[str] = []
    if lengths and cadence is not None and statistics.fmean(lengths) >= IN_PLACE_STEP_M:
        speed = cadence / 60.0 * statistics.fmean(lengths)
        belt = min(BELT_MAX_M_S, max(BELT_MIN_M_S, speed))
        lines.append(f"belt_speed_m_s {belt:.2f}: walking speed {speed:.2f} m/s (cadence {cadence:.0f} "
                     f"steps/min × step {statistics.fmean(lengths):.2f} m), kept within "
                     f"{BELT_MIN_M_S}-{BELT_MAX_M_S} m/s")
    else:
        belt = BELT_UNMEASURED_M_S
        lines.append(f"belt_speed_m_s {belt}: no overground walking speed measured (stepped in place or "
                     "no walk): a slow start")
    settings = _settings(game, belt_speed_m_s=round(belt, 2))
    bounds: dict[str, dict[str, float]] = {}
    spec = _param(game, "step_length_m")
    if spec is not None and lengths and min(lengths) >= IN_PLACE_STEP_M:
        high = min(reach_m, max(1.1 * max(lengths), 0.8 * min(lengths)))
        bounds["step_length_m"] = b = _bounds(game, "step_length_m", 0.8 * min(lengths), high)
        lines.append(f"step_length_m {b['low']}-{b['high']} m: 80 % of the shorter step to 110 % of the longer "
                     f"(never beyond the step reach {reach_m:.2f} m)")
    return _entry(game, settings, DEFAULT_START_LEVEL, DEFAULT_TARGET_SUCCESS, bounds), lines


# -- within the games' limits ----------------------------------------------------------------------


def _settings(game: str, **values: Any) -> dict[str, Any]:
    """Only settings the game accepts, numbers clamped into their declared range."""
    specs = {s.name: s for s in GAMES[game].setting_fields}
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            continue
        if spec.kind in ("number", "integer") and spec.low is not None and spec.high is not None:
            value = min(spec.high, max(spec.low, value))
            value = round(value) if spec.kind == "integer" else float(value)
        out[name] = value
    return out


def _param(game: str, name: str) -> Any:
    return next((p for p in GAMES[game].parameters if p.name == name), None)


def _bounds(game: str, name: str, low: float, high: float) -> dict[str, float]:
    spec = _param(game, name)
    low = min(spec.maximum, max(spec.minimum, round(low, 3)))
    high = min(spec.maximum, max(low, round(high, 3)))
    return {"low": low, "high": high}


def _entry(game: str, settings: dict[str, Any], level: float, success: float,
           bounds: dict[str, dict[str, float]]) -> dict[str, Any]:
    difficulty: dict[str, Any] = {"level": level, "target_success": success}
    if bounds := {k: v for k, v in bounds.items() if _param(game, k) is not None}:
        difficulty["bounds"] = bounds
    return {"settings": settings, "difficulty": difficulty}


def _fmt(value: float | None, unit: str, digits: int) -> str:
    return "not measured" if value is None else f"{value:.{digits}f}{' ' + unit if unit else ''}"
