"""Per-session summary numbers, the rows behind a patient's progress plots.

Families, each from its own source:

* ``rom`` — range of motion from the session's trials: the longest reach per direction and side
  (metres, and % of leg length where the game measures it), the mean foot lift per side, and the
  left/right symmetry of each (affected side / unaffected side, 1.0 = symmetric).
* ``gait`` — spatio-temporal gait from the tracker's foot markers (:mod:`scoring.gait`).
* the game's and the training modes' own families (``assessment``, ``treadmill``, ``neglect``,
  ``proprioception``).

Sway (centre-of-pressure posturography, :mod:`scoring.balance`) is measured only where the task is
quiet standing: the assessment's quiet stages (:mod:`scoring.assessment`, per stage). A training
game's centre of pressure moves on purpose (a weight shift leans to targets, a step or a reach
loads one foot), so its sway numbers would measure the game, not balance: those sessions record
no sway at all. Every value says which task produced it (``task``: :func:`scoring.metric.task_name`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from games.base import TrialResult
from games.modes import NEGLECT_CUEING, PROPRIOCEPTION
from scoring.assessment import assessment_metrics
from scoring.errors import AnalysisError
from scoring.gait import analyze_gait
from scoring.metric import MetricValue, task_name
from scoring.neglect import neglect_metrics
from scoring.proprioception import proprioception_metrics
from scoring.recordings.labels import PELVIS
from scoring.standard_measures import PelvisTrack
from scoring.trajectories import MarkerTrajectories, Sway, SwayRecorder, TrajectoryRecorder
from scoring.treadmill import treadmill_metrics
from scoring.trials import FOOT_LIFT, FOOT_REACH, STEP_REACH, RomSample

__all__ = ["MetricValue", "analyse_recorded", "analyse_session", "gait_metrics", "records_sway",
           "rom_metrics"]

log = logging.getLogger(__name__)


def rom_metrics(samples: Iterable[RomSample], affected_side: str, leg_length_m: float) -> list[MetricValue]:
    """Best reach per (direction, side) in metres and % of leg length, mean lift per side, and the
    affected/unaffected ratios."""
    best: dict[tuple[str, str, str], float] = {}
    lifts: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        if s.metric == FOOT_LIFT:
            lifts[s.side].append(s.value_m)
        elif s.metric in (STEP_REACH, FOOT_REACH):
            key = (s.metric, s.direction, s.side)
            best[key] = max(best.get(key, s.value_m), s.value_m)
    out = [MetricValue("rom", f"max_{metric}", value, side, direction)
           for (metric, direction, side), value in sorted(best.items())]
    out += [MetricValue("rom", f"max_{metric.removesuffix('_m')}_pct_ll", 100.0 * value / leg_length_m, side,
                        direction) for (metric, direction, side), value in sorted(best.items())]
    mean_lift = {side: sum(v) / len(v) for side, v in lifts.items()}
    out += [MetricValue("rom", "mean_foot_lift_m", value, side, n=len(lifts[side]))
            for side, value in sorted(mean_lift.items())]
    other = "R" if affected_side == "L" else "L"
    for (metric, direction, side), value in sorted(best.items()):
        if side == affected_side:
            unaffected = best.get((metric, direction, other))
            if unaffected:
                out.append(MetricValue("rom", f"symmetry_{metric.removesuffix('_m')}", value / unaffected,
                                       direction=direction))
    if mean_lift.get(affected_side) is not None and mean_lift.get(other):
        out.append(MetricValue("rom", "symmetry_foot_lift", mean_lift[affected_side] / mean_lift[other]))
    return out


def gait_metrics(gait: Mapping[str, Any]) -> list[MetricValue]:
    """The stored subset of a gait analysis (:meth:`scoring.gait.GaitResult.as_json`)."""
    out: list[MetricValue] = []
    for name in ("step_length_m", "step_width_m", "step_time_s"):
        stat = gait.get(name) or {}
        if stat.get("mean") is not None:
            out.append(MetricValue("gait", name, stat["mean"], sd=stat.get("sd"), n=stat.get("n")))
    for name in ("cadence_steps_per_min", "speed_m_s"):
        if gait.get(name) is not None:
            out.append(MetricValue("gait", name, gait[name]))
    for name in ("heel_lift_m", "toe_lift_m"):
        for side, value in sorted((gait.get(name) or {}).items()):
            if value is not None:
                out.append(MetricValue("gait", name, value, side=side))
    heel_strikes = gait.get("heel_strikes") or []
    out.append(MetricValue("gait", "heel_strikes", float(len(heel_strikes)), n=len(heel_strikes)))
    return out


# The games whose sessions hold quiet standing (the assessment, in its quiet stages): only these
# record the centre of pressure for sway.
SWAY_GAMES = frozenset({"assessment"})


def records_sway(game: str) -> bool:
    """Whether a session of ``game`` measures sway, so its balance input is worth recording."""
    return game in SWAY_GAMES


def analyse_session(
    rom: Iterable[RomSample],
    markers: MarkerTrajectories | None,
    sway: Sway,
    affected_side: str,
    leg_length_m: float,
    *,
    game: str = "",
    modes: Sequence[str] = (),
    results: Sequence[TrialResult] = (),
    events: Sequence[Mapping[str, Any]] = (),
    proxy_sway: Sway | None = None,
    pelvis: PelvisTrack | None = None,
) -> dict[str, list[MetricValue]]:
    """Every metric family a session's data supports; families without data are left out.

    Gait needs foot markers with at least two heel strikes. Sway comes only from an assessment's
    quiet stands (``sway``, cut to each stand's window; ``proxy_sway``, a tracker's pelvis, only
    when no centre of pressure was measured): a training game's ``sway`` is ignored. The game and
    the session's training modes (:mod:`games.modes`) add their own families. Every value carries
    its task: an assessment's own values their stage, the rest the session's game and modes
    (``stepping:mirror``). ``pelvis``: the tracker's pelvis marker in device time, for the
    assessment's chair and walking tests. Runs in a worker thread: a long session's arrays take a moment.
    """
    families: dict[str, list[MetricValue]] = {}
    rom_values = rom_metrics(rom, affected_side, leg_length_m)
    if rom_values:
        families["rom"] = rom_values
    if markers is not None and markers.frames:
        try:
            families["gait"] = gait_metrics(analyze_gait(markers).as_json())
        except AnalysisError as exc:
            log.info("no gait metrics for this session: %s", exc)
    extra: dict[str, list[MetricValue]] = {}
    if game == "assessment":
        sways = {"cop": sway} if proxy_sway is None else {"cop": sway, "com_proxy": proxy_sway}
        extra["assessment"] = assessment_metrics(results, sways, affected_side, leg_length_m, pelvis)
    if game == "treadmill":
        extra["treadmill"] = treadmill_metrics(results, affected_side)
    if NEGLECT_CUEING in modes:
        extra["neglect"] = neglect_metrics(results, list(events), affected_side)
    if PROPRIOCEPTION in modes:
        extra["proprioception"] = proprioception_metrics(results)
    families.update({family: values for family, values in extra.items() if values})
    task = task_name(game, modes)
    return {family: [v if v.task else replace(v, task=task) for v in values] for family, values in families.items()}


def analyse_recorded(
    rom: Iterable[RomSample],
    markers: TrajectoryRecorder,
    sway: SwayRecorder,
    affected_side: str,
    leg_length_m: float,
    *,
    game: str,
    modes: Sequence[str],
    results: Sequence[TrialResult],
    events: Sequence[Mapping[str, Any]],
) -> dict[str, list[MetricValue]]:
    """:func:`analyse_session` of a session's recorders: live at its end, or rebuilt from its stored
    input after a crash (:mod:`scoring.input_chunks`): one call, so both give the same numbers."""
    track = markers.track(PELVIS) if game == "assessment" else None
    return analyse_session(rom, markers.build() if len(markers) else None, sway.build(), affected_side,
                           leg_length_m, game=game, modes=modes, results=results, events=events,
                           proxy_sway=sway.build("com_proxy"), pelvis=None if track is None else PelvisTrack(*track))
