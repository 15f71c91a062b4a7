"""What every rules-plus-scene game wrapper shares: the game clock, pause and finish, the version
counter headsets poll, and a snapshot whose per-trial parts are cached.

A game is a pure rules state machine (testable with plain numbers) wrapped with a Panda3D
:class:`FloorScene` that answers "inside the target?" and a :class:`GameClock`. Subclasses feed the
scene and the rules from events and say what their snapshot holds; this class does the rest of the
:class:`games.base.Game` protocol.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from games.base import TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.parameters import ParameterSpec
from games.scene import FloorScene, GameClock


class TrialRules(Protocol):
    """What the wrapper needs from a game's rules."""

    phase: StrEnum
    trial_index: int
    hits: int
    last_result: TrialResult | None

    def tick(self, now_s: float) -> list[TrialResult]: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def finish(self) -> None: ...

    @property
    def finished(self) -> bool: ...

    def time_left_s(self, now_s: float) -> float | None: ...


R = TypeVar("R", bound=TrialRules)


class SceneGame(Generic[R]):
    name: str
    parameter_specs: tuple[ParameterSpec, ...]
    adapts_per_direction: bool

    def __init__(self, rules: R, trials_planned: int, start_s: float) -> None:
        self.rules = rules
        self.clock = GameClock(start_s)
        self.scene = FloorScene(self.name)
        self.trials_planned = trials_planned
        self.last_foot_seq: dict[Side, int] = {}
        self._version = 0
        self._difficulty_version = 0
        self._shown: object | None = None
        self._cache_key: tuple[object, ...] | None = None
        self._cached: dict[str, Any] = {}

    # -- to be provided by each game ------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        raise NotImplementedError

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        return []

    def home_spot(self, side: Side) -> tuple[float, float]:
        raise NotImplementedError

    def _apply_difficulty(self, values: dict[str, float], direction: str | None) -> None:
        raise NotImplementedError

    def _current_target(self) -> Any:
        """The rules' target (None between trials): the scene and the snapshot cache follow it."""
        raise NotImplementedError

    def _show_target(self, target: Any) -> None:
        raise NotImplementedError

    def _per_trial_parts(self) -> dict[str, Any]:
        """Snapshot parts that change only per trial (target, last result, difficulty)."""
        raise NotImplementedError

    def _live_parts(self) -> dict[str, Any]:
        """Snapshot parts that change with every event (feet, cursor)."""
        raise NotImplementedError

    # -- Game protocol --------------------------------------------------------------------------

    def tick(self, now_s: float) -> list[TrialResult]:
        before = (self.rules.phase, self._current_target())
        results = self.rules.tick(self.clock.advance(now_s))
        if results or before != (self.rules.phase, self._current_target()):
            self._changed()
        return results

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        """New values apply from the next target, so each trial has one set of parameters."""
        self._apply_difficulty(values, direction)
        self._difficulty_version += 1
        self._version += 1

    def pause(self, now_s: float) -> None:
        self.clock.advance(now_s)
        self.rules.pause()
        self._changed()

    def resume(self, now_s: float) -> None:
        self.clock.advance(now_s)
        self.rules.resume()
        self._version += 1

    def finish(self) -> None:
        self.rules.finish()
        self._changed()

    def close(self) -> None:
        self.scene.destroy()

    @property
    def version(self) -> int:
        return self._version

    @property
    def finished(self) -> bool:
        return self.rules.finished

    @property
    def trials_done(self) -> int:
        return self.rules.trial_index

    @property
    def hits(self) -> int:
        return self.rules.hits

    def snapshot(self) -> dict[str, Any]:
        """The state a headset draws. Built on every input event, so the per-trial parts are
        cached until the target, the last result or the difficulty changes."""
        rules = self.rules
        now = self.clock.now
        key = (self._current_target(), rules.last_result, self._difficulty_version)
        if self._cache_key != key:
            self._cache_key = key
            self._cached = self._per_trial_parts()
        return {
            "game": self.name,
            "phase": rules.phase.value,
            "t_s": now,
            "trial": rules.trial_index,
            "trials_planned": self.trials_planned,
            "hits": rules.hits,
            "time_left_s": rules.time_left_s(now),
            **self._cached,
            **self._live_parts(),
            "foot_seq": {side.value: seq for side, seq in self.last_foot_seq.items()},
        }

    # -- internals ------------------------------------------------------------------------------

    def _changed(self) -> None:
        """Keep the scene's target in step with the rules' and tell headsets to redraw."""
        target = self._current_target()
        if target is not self._shown:
            if target is None:
                self.scene.clear_target()
            else:
                self._show_target(target)
            self._shown = target
        self._version += 1
