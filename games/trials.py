"""The trial loop shared by the games' rules: when the next trial may start, which direction it
takes, how a finished trial becomes a :class:`TrialResult`, and going home for the next one."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from games.base import Outcome, TrialResult
from games.events import Side
from games.frame import home_spot
from games.tracking import FootTrack

TRIAL_ORDERS = ("random", "cycle")


@dataclass(slots=True)
class ReadyGate:
    """The next target appears only after the patient has been ready (home, centred) for ``wait_s``
    without a break, so a trial never starts while the patient is still settling from the last one."""

    wait_s: float
    since_s: float | None = None

    def update(self, ready: bool, now_s: float) -> None:
        if not ready:
            self.since_s = None
        elif self.since_s is None:
            self.since_s = now_s

    def due(self, now_s: float) -> bool:
        return self.since_s is not None and now_s - self.since_s >= self.wait_s

    def due_at_s(self) -> float | None:
        """When :meth:`due` turns true if the patient stays ready; None while not ready."""
        return None if self.since_s is None else self.since_s + self.wait_s

    def reset(self) -> None:
        self.since_s = None


def next_direction(rng: random.Random, directions: Sequence[str], order: str, index: int) -> str:
    """``random``: a seeded draw (reproducible with the session seed); ``cycle``: the therapist's
    list in its order, ``index`` picking the place (a voided trial repeats its direction)."""
    if order == "cycle":
        return directions[index % len(directions)]
    return rng.choice(directions)


@dataclass(slots=True)
class TrialTarget:
    """What every game's target has (each game's target adds its own fields): where it is and
    for how long the patient has to get there. A result reports the target from these."""

    direction: str
    direction_deg: float
    x_m: float
    y_m: float
    distance_m: float
    radius_m: float
    shown_at_s: float
    time_window_s: float


def target_result(
    target: TrialTarget,
    *,
    index: int,
    foot: Side,
    outcome: Outcome,
    ended_at_s: float,
    moved_at_s: float | None,
    movement_time_s: float | None,
    difficulty: dict[str, float],
    landing: tuple[float, float] | None = None,
    foot_lift_m: float | None = None,
    measures: dict[str, float | str] | None = None,
) -> TrialResult:
    """A trial's result, with the target's fields filled in the same way for every game.

    ``moved_at_s``: when the movement began (the reaction time ends there); ``landing``: where the
    foot came down, from which the placement error is measured (None: the game places no foot).
    """
    return TrialResult(
        index=index,
        foot=foot,
        direction=target.direction,
        direction_deg=target.direction_deg,
        target_x_m=target.x_m,
        target_y_m=target.y_m,
        target_distance_m=target.distance_m,
        target_radius_m=target.radius_m,
        outcome=outcome,
        shown_at_s=target.shown_at_s,
        ended_at_s=ended_at_s,
        reaction_time_s=None if moved_at_s is None else moved_at_s - target.shown_at_s,
        movement_time_s=movement_time_s,
        placement_error_m=(
            None if landing is None else math.hypot(landing[0] - target.x_m, landing[1] - target.y_m)
        ),
        landing_x_m=None if landing is None else landing[0],
        landing_y_m=None if landing is None else landing[1],
        foot_lift_m=foot_lift_m,
        difficulty=difficulty,
        measures={} if measures is None else measures,
    )


class LoopSettings(Protocol):
    """The session settings the trial loop reads; every game's settings have them."""

    @property
    def trials(self) -> int: ...  # 0: no limit
    @property
    def inter_trial_s(self) -> float: ...
    @property
    def stance_half_width_m(self) -> float: ...
    @property
    def seed(self) -> int | None: ...


S = TypeVar("S", bound=LoopSettings)
T = TypeVar("T", bound=TrialTarget)


class TrialLoop(Generic[S, T]):
    """The cycle every game's rules run: wait until the patient has been ready for
    ``settings.inter_trial_s``, show a target, record its result, wait again; after
    ``settings.trials`` trials (0: no limit) the session is finished. A pause voids the trial in
    progress, so an interrupted trial is never scored.

    A subclass sets ``phases`` (its phase enum, with HOME, PAUSED and FINISHED among its members)
    and provides ``_is_ready`` and ``_show_target``; ``_clear_trial`` forgets its own per-trial
    state whenever the target goes.
    """

    phases: ClassVar[Any]

    def __init__(self, settings: S) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self.phase = self.phases.HOME
        self.feet = {side: FootTrack(*self.home_spot(side), 0.0) for side in Side}
        self.target: T | None = None
        self.trial_index = 0
        self.hits = 0
        self.last_result: TrialResult | None = None
        self._ready = ReadyGate(settings.inter_trial_s)

    def home_spot(self, side: Side) -> tuple[float, float]:
        """Where this foot rests between trials."""
        return home_spot(side, self.settings.stance_half_width_m)

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _show_target(self, now_s: float) -> None:
        raise NotImplementedError

    def _clear_trial(self) -> None:
        pass

    def pause(self) -> None:
        """Pause; a trial in progress is voided (not scored), as the patient was interrupted."""
        if self.phase in (self.phases.PAUSED, self.phases.FINISHED):
            return
        self.target = None
        self._clear_trial()
        self._ready.reset()
        self.phase = self.phases.PAUSED

    def resume(self) -> None:
        if self.phase is self.phases.PAUSED:
            self.phase = self.phases.HOME

    def finish(self) -> None:
        self.target = None
        self.phase = self.phases.FINISHED

    @property
    def finished(self) -> bool:
        return self.phase is self.phases.FINISHED

    def next_timer_s(self) -> float:
        """The game time before which :meth:`tick` can change nothing (no timer of these rules
        falls due earlier); input may bring it forward. ``-inf``, tick every period, unless a
        game's rules know their timers (:meth:`_home_timer_s` gives the wait at home's)."""
        return float("-inf")

    def _home_timer_s(self) -> float:
        """When the wait at home can next end: once the patient has been ready for the wait. At
        once when the trials are all done, or when the patient is ready but the wait has not
        begun (after a resume, with no input since); else only input can start it."""
        if self.trial_index >= self.settings.trials > 0:
            return float("-inf")
        due = self._ready.due_at_s()
        if due is not None:
            return due
        return float("-inf") if self._is_ready() else float("inf")

    def _wait_at_home(self, now_s: float) -> None:
        self._update_home(now_s)
        if self._ready.due(now_s):
            self._show_target(now_s)

    def _update_home(self, now_s: float) -> None:
        if self.trial_index >= self.settings.trials > 0:
            self.phase = self.phases.FINISHED
            return
        self._ready.update(self._is_ready(), now_s)

    def _conclude(self, outcome: Outcome, now_s: float, **fields: Any) -> TrialResult:
        """End the trial in progress: its result (``fields``: the rest of :func:`target_result`'s),
        counted; then home to wait for the next one."""
        assert self.target is not None
        result = target_result(self.target, index=self.trial_index, outcome=outcome, ended_at_s=now_s, **fields)
        self.trial_index += 1
        self.hits += result.outcome.success
        self.last_result = result
        self.target = None
        self._clear_trial()
        self.phase = self.phases.HOME
        self._ready.reset()
        self._update_home(now_s)
        return result
