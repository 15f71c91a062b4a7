"""Game timers: each running game is ticked ``tick_hz`` times a second on average, whether by the
ticker or right after its own input (``LiveSessions._tick_if_due``), and never more than a period
after its tick was due; a tick that no timer of the game needs is passed over
(``Play.quiet_until_s``), and passing it over changes nothing the game does."""

from __future__ import annotations

import itertools
import random
from typing import Any, cast

import pytest

from clients.sim_patient import Ability, SimulatedPatient
from games.events import BalanceEvent, FootEvent, Side
from games.registry import GAMES
from games.setting_fields import PatientInfo
from games.stepping.game import SteppingGame
from games.stepping.settings import STEPPING_PARAMETERS, SteppingSettings
from scoring.difficulty import ParameterBounds, Staircase
from server.cluster import LocalCluster
from server.config import Settings
from server.live_sessions import LiveSessions
from server.stations import StationRuntime
from server.storage.records import StationRecord
from tests.simulation import PlayedTrial, make_game, play_offline

pytestmark = pytest.mark.unit


class CountingGame:
    """What the ticker needs of a ``Play``: when its tick is due, its tick, whether it is done."""

    def __init__(self, quiet_until_s: float = float("-inf")) -> None:
        self.next_tick_s = float("-inf")
        self.ticks: list[float] = []
        self.finished = False
        self.quiet_until = quiet_until_s

    def quiet_until_s(self) -> float:
        return self.quiet_until

    def tick(self, now_s: float) -> None:
        self.ticks.append(now_s)


def live_with(game: CountingGame) -> tuple[LiveSessions, StationRuntime]:
    live = LiveSessions(Settings(tick_hz=60.0), cast(Any, None), LocalCluster())
    station = StationRuntime(StationRecord(1, 1, "station-1"))
    station.play = cast(Any, game)
    live.stations["station-1"] = station
    return live, station


@pytest.mark.parametrize("input_hz", [0.0, 30.0, 120.0, 500.0])
def test_a_game_is_ticked_at_the_tick_rate_by_the_ticker_or_its_input(input_hz: float) -> None:
    game = CountingGame()
    live, station = live_with(game)
    ticker = [k / 60.0 + 0.003 for k in range(600)]  # ten seconds of the ticker, out of phase with input
    inputs = [k / input_hz for k in range(int(10 * input_hz))] if input_hz else []
    for now, source in sorted([(t, "ticker") for t in ticker] + [(t, "input") for t in inputs]):
        if source == "ticker":
            live.tick(now)
        else:
            live._tick_if_due(station, cast(Any, game), now)
    gaps = [b - a for a, b in itertools.pairwise(game.ticks)]
    assert 598 <= len(game.ticks) <= 601  # 60 a second on average
    assert max(gaps) <= 2 / 60.0 + 1e-9  # a timer is seen at most a period after it is due


def test_a_tick_no_timer_needs_is_passed_over_and_a_timer_brought_forward_is_seen_within_a_period() -> None:
    game = CountingGame(quiet_until_s=5.0)
    live, station = live_with(game)
    for k in range(1200):  # ten seconds of input at 120 Hz, the ticker passing at 60 Hz
        now = k / 120.0
        if k == 360:  # at 3 s, input brings a timer forward to 3.5 s
            game.quiet_until = 3.5
        if k % 2:
            live.tick(now)
        else:
            live._tick_if_due(station, cast(Any, game), now)
    assert game.ticks[0] >= 3.5 and game.ticks[0] - 3.5 <= 1 / 60.0 + 1e-9
    assert len(game.ticks) <= 601


LOCKED = {"step_distance_frac": (0.3, 1.0, 0.6), "target_radius_m": (0.05, 0.2, 0.06),
          "time_window_s": (1.5, 6.0, 2.5)}


@pytest.mark.parametrize(("ability", "outcomes"), [
    (Ability(), {"hit"}),
    (Ability(placement_sd_m=0.06), {"hit", "miss"}),
    (Ability(reaction_s=3.0), {"timeout"}),
], ids=["able", "imprecise", "too slow"])
def test_passing_over_the_ticks_stepping_does_not_need_changes_no_trial(ability: Ability, outcomes: set[str]) -> None:
    """A simulated patient plays stepping at 120 Hz (the difficulty locked: a 2.5 s window),
    ticked at every step or only when a timer of the game may be due."""
    def play(ticked_when_due: bool) -> list[PlayedTrial]:
        staircase = Staircase(STEPPING_PARAMETERS)
        staircase.configure(bounds={name: ParameterBounds(low, high, locked=True, locked_value=value)
                                    for name, (low, high, value) in LOCKED.items()})
        return play_offline(SteppingSettings(seed=3), staircase, SimulatedPatient(ability, seed=5),
                            trials=12, rate_hz=120.0, ticked_when_due=ticked_when_due)

    every_tick = play(False)
    assert {p.result.outcome.value for p in every_tick} == outcomes  # every timer played
    assert play(True) == every_tick


def test_a_patient_standing_at_home_through_a_pause_gets_the_next_target_with_no_input() -> None:
    """A device that sends nothing while the feet are still: after a resume only ticks can start
    the wait at home, so the game must not be passed over then."""
    game = SteppingGame(SteppingSettings(inter_trial_s=0.5, seed=3), {"step_distance_frac": 0.6,
                        "target_radius_m": 0.06, "time_window_s": 2.5}, start_s=0.0)
    for seq, side in enumerate(Side):
        x, y = game.home_spot(side)
        game.on_foot(FootEvent(side, x, y, 0.0, None, None, 0.0, seq), 0.0)
    game.pause(0.1)
    game.resume(0.2)
    shown = None
    for k in range(12, 120):  # only ticks from here, each passed over before the game's next timer
        now = k / 60.0
        if now >= game.next_timer_s():
            game.tick(now)
        if game.rules.target is not None:
            shown = now
            break
    assert shown is not None and 0.7 <= shown <= 0.7 + 2 / 60.0
    game.close()


class ScriptedPatient:
    """Plays whatever target is up, in one of four ways drawn per trial: step or lean onto it,
    land beside it, rest the foot away from home too long, or do nothing (the window runs out).
    A target a foot plays is stepped to; one with no foot (weight shift) is leaned to."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.plan: tuple[object, str, float, float] | None = None  # target, way, start, hold

    def inputs(self, game: Any, now: float) -> tuple[dict[Side, tuple[float, float, float]], tuple[float, float]]:
        """Where each foot is (x, y, z) and where the weight acts (x, y) now."""
        target = getattr(game, "rules", None) and game.rules.target
        if target is not None and (self.plan is None or self.plan[0] is not target):
            way = self.rng.choice(["on", "beside", "rest", "none"])
            self.plan = (target, way, now + self.rng.uniform(0.2, 0.8), self.rng.uniform(0.3, 1.6))
        feet = {side: (*game.home_spot(side), 0.0) for side in Side}
        weight = (0.0, 0.0)
        if self.plan is None or target is None:
            return feet, weight
        _, way, start, hold = self.plan
        t = now - start
        if way == "none" or t < 0:
            return feet, weight
        aim = (target.x_m, target.y_m) if way != "beside" else (target.x_m + 0.3, target.y_m)
        hold = 3.0 if way == "rest" else hold
        foot = getattr(target, "foot", None)
        if foot is None:
            return feet, aim if t < hold else weight
        weight = feet[foot.other][:2]  # on the stance foot while the other plays
        if t < 0.2 or hold + 0.2 <= t < hold + 0.4:
            x, y, _ = feet[foot]
            feet[foot] = (x, y, 0.06)  # lifted, on the way out or back
        elif t < hold + 0.2:
            feet[foot] = (*aim, 0.0)
        return feet, weight


def play_scripted(game_name: str, ticked_when_due: bool, seed: int, seconds: float = 60.0) -> list[Any]:
    """A game played at 120 Hz (foot events, each other one with a balance point) and ticked at 60 Hz:
    every tick, or (``ticked_when_due``) only from the game's ``next_timer_s`` on. Returns every
    step's results and snapshot."""
    game = make_game(game_name, {"seed": seed}, PatientInfo(Side.LEFT, 0.9, 0.5), start_s=50.0)
    patient, seen = ScriptedPatient(seed), []
    for k in range(int(seconds * 120)):
        now = 50.0 + k / 120.0
        feet, (wx, wy) = patient.inputs(game, now)
        side = Side.LEFT if k % 2 else Side.RIGHT
        results = game.on_foot(FootEvent(side, *feet[side], None, None, now, k), now)
        if k % 2:
            results += game.on_balance(BalanceEvent(wx, wy, 700.0, None, "cop", now, k), now)
            if not ticked_when_due or now >= game.next_timer_s():
                results += game.tick(now)
        seen.append((results, game.take_events(), game.snapshot()))
    game.close()
    return seen


@pytest.mark.parametrize("game_name", sorted(GAMES))
@pytest.mark.parametrize("seed", [1, 2])
def test_every_game_plays_the_same_whether_every_tick_runs_or_only_those_its_timers_need(
        game_name: str, seed: int) -> None:
    every_tick = play_scripted(game_name, False, seed)
    assert play_scripted(game_name, True, seed) == every_tick
    if game_name in ("stepping", "reaching"):  # the games that pass ticks over played real trials
        outcomes = {r.outcome.value for results, _, _ in every_tick for r in results}
        assert len(outcomes) >= 3, outcomes
