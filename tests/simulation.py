"""Offline play: a simulated patient against the real stepping game, in simulated time; and any
registered game made as a therapist would start it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.sim_patient import SimulatedPatient, StepPlan, feet_at
from games.base import Game, TrialResult
from games.events import FootEvent
from games.registry import GAMES
from games.setting_fields import PatientInfo
from games.stepping.game import SteppingGame
from games.stepping.settings import SteppingSettings
from scoring.difficulty import Staircase


@dataclass(frozen=True)
class PlayedTrial:
    result: TrialResult
    level_after: float


def play_offline(
    settings: SteppingSettings,
    staircase: Staircase,
    patient: SimulatedPatient,
    trials: int,
    rate_hz: float = 60.0,
    ticked_when_due: bool = False,
) -> list[PlayedTrial]:
    """Play until ``trials`` results, ticking the game at every step, or (``ticked_when_due``)
    only from its ``next_timer_s`` on, as the server does."""
    game = SteppingGame(settings, staircase.values(), start_s=0.0)
    played: list[PlayedTrial] = []
    plan: StepPlan | None = None
    plan_start = 0.0
    shown = None
    t, dt, seq = 0.0, 1.0 / rate_hz, 0
    while len(played) < trials:
        target = game.rules.target
        if target is not None and target is not shown:
            shown = target
            plan = patient.plan(target.foot, target.x_m, target.y_m)
            plan_start = t
        results: list[TrialResult] = []
        for s in feet_at(plan, t - plan_start):
            results += game.on_foot(FootEvent(s.side, s.x_m, s.y_m, s.z_m, None, None, t, seq), t)
            seq += 1
        if not ticked_when_due or t >= game.next_timer_s():
            results += game.tick(t)
        for result in results:
            staircase.record(result.outcome.success)
            game.set_difficulty(staircase.values())
            played.append(PlayedTrial(result, staircase.level))
        t += dt
    game.close()
    return played


def make_game(name: str, settings: dict[str, Any], patient: PatientInfo, start_s: float = 0.0) -> Game:
    """A registered game from these settings (seed 1 unless given), at the middle of each
    difficulty parameter's default range."""
    entry = GAMES[name]
    difficulty = {p.name: (p.default_low + p.default_high) / 2 for p in entry.parameters}
    return entry.make(entry.settings_from({"seed": 1, **settings}, patient), difficulty, start_s)
