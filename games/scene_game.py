"""What every rules-plus-scene game wrapper shares: the game clock, pause and finish, the version
counter headsets poll, and a snapshot whose per-trial parts are cached.

A game is a pure rules state machine (testable with plain numbers) wrapped with a Panda3D
:class:`FloorScene` that answers "inside the target?" and a :class:`GameClock`. Subclasses name
their rules (``rules_type``), say what their snapshot holds and how foot events feed the scene and
the rules (:class:`FootTargetGame` where a foot plays the target); this class does the rest of the
:class:`games.base.Game` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from games.base import EmitsEvents, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.mirror import midline_x, mirrored
from games.parameters import ParameterSpec
from games.scene import FloorScene, GameClock, PlacedTarget
from games.tracking import FootTrack


class TrialRules(Protocol):
    """What the wrapper needs from a game's rules: the scene and the snapshot cache follow
    ``target`` (None between trials)."""

    # The game's own settings dataclass; the wrapper hands the rules the new one when a live
    # setting changes (each game's rules read their own settings type).
    settings: Any

    @property
    def phase(self) -> StrEnum: ...
    @property
    def target(self) -> PlacedTarget | None: ...
    @property
    def trial_index(self) -> int: ...
    @property
    def hits(self) -> int: ...
    @property
    def last_result(self) -> TrialResult | None: ...

    def tick(self, now_s: float) -> list[TrialResult]: ...

    def next_timer_s(self) -> float:
        """The game time before which ``tick`` can change nothing (``-inf``: it cannot tell)."""
        ...

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None: ...

    def home_spot(self, side: Side) -> tuple[float, float]: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def finish(self) -> None: ...

    @property
    def finished(self) -> bool: ...

    def time_left_s(self, now_s: float) -> float | None: ...


class FootTargetRules(TrialRules, Protocol):
    """Rules whose target a foot plays, told by the scene whether the foot is inside it."""

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]: ...


R = TypeVar("R", bound=TrialRules)
F = TypeVar("F", bound=FootTargetRules)

# ``next_timer_s`` answers this much early: a tick a microsecond early does nothing, one passed
# over by a rounding error would be a period late
_ROUNDING_S = 1e-6


class SceneGame(EmitsEvents, Generic[R]):
    name: str
    parameter_specs: tuple[ParameterSpec, ...]
    adapts_per_direction: bool
    # Makes the rules from the game's settings (which have ``trials``) and starting difficulty.
    rules_type: Callable[[Any, dict[str, float]], R]

    def __init__(self, settings: Any, difficulty: dict[str, float], start_s: float) -> None:
        self.settings = settings
        self.rules = self.rules_type(settings, difficulty)
        self.clock = GameClock(start_s)
        self.scene = FloorScene(self.name)
        self.trials_planned: int = settings.trials
        self.last_foot_seq: dict[Side, int] = {}
        self._version = 0
        self._difficulty_version = 0
        self._cache_key: tuple[object, ...] | None = None
        self._cached: dict[str, Any] = {}
        self._events: list[dict[str, Any]] = []
        # Mirror therapy (a ``mirror`` setting): the sound foot also drives the affected foot's
        # mirror image; the affected foot's own events are only shown to the therapist.
        self.mirror_source: Side | None = (
            settings.affected_side.other if getattr(settings, "mirror", False) else None
        )
        self.real_feet: dict[Side, FootTrack] = {}

    # -- to be provided by each game ------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        """Feed a foot event to the game, mirrored when mirror therapy is on."""
        source = self.mirror_source
        if source is None:
            return self._play_foot(event, now_s)
        if event.side is not source:  # the affected foot itself: shown to the therapist only
            track = self.real_feet.setdefault(event.side, FootTrack(event.x_m, event.y_m, event.z_m))
            track.update(event, self.settings.lift_height_m, self.settings.plant_height_m)
            self._version += 1
            return []
        results = self._play_foot(event, now_s)
        homes = {side: self.home_spot(side) for side in Side}
        return results + self._play_foot(mirrored(event, midline_x(homes)), now_s)

    def _play_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        """How a foot event (already mirrored where mirror therapy is on) reaches the rules."""
        raise NotImplementedError

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        return []

    def home_spot(self, side: Side) -> tuple[float, float]:
        return self.rules.home_spot(side)

    def _per_trial_parts(self) -> dict[str, Any]:
        """Snapshot parts that change only per trial (target, last result, difficulty)."""
        raise NotImplementedError

    def _live_parts(self) -> dict[str, Any]:
        """Snapshot parts that change with every event (feet, cursor)."""
        raise NotImplementedError

    # -- Game protocol --------------------------------------------------------------------------

    def tick(self, now_s: float) -> list[TrialResult]:
        rules = self.rules
        phase, target = rules.phase, rules.target
        results = rules.tick(self.clock.advance(now_s))
        if results or rules.phase is not phase or rules.target is not target:
            self._changed()
        return results

    def next_timer_s(self) -> float:
        """The server time before which :meth:`tick` can change nothing: the rules' next timer on
        the game clock, less a microsecond, so that rounding between the two clocks (and in the
        rules' ``now - since >= wait``) never passes over a tick that is due."""
        return self.clock.start_s + self.rules.next_timer_s() - _ROUNDING_S

    def update_settings(self, values: dict[str, Any]) -> dict[str, Any]:
        """Change session settings while playing (only those the game declares live, checked by
        the caller); like difficulty, they apply from the next target. Returns the old values."""
        before = {name: getattr(self.settings, name) for name in values}
        self.settings = replace(self.settings, **values)
        self.rules.settings = self.settings
        self._difficulty_version += 1
        self._version += 1
        return before

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        """New values apply from the next target, so each trial has one set of parameters."""
        self.rules.set_difficulty(values, direction)
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
        """The state a headset draws (both of :meth:`snapshot_parts` in one map)."""
        live, per_trial = self.snapshot_parts()
        return {**live, **per_trial}

    def snapshot_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The snapshot in two maps with no key in common: what moves with every event (phase,
        clock, feet), and what changes only per trial (the target, the last result, the
        difficulty, the home spots). Built on every input event, so the second is kept, the same
        object, until it changes, and a state's encoder encodes it once
        (:class:`server.codec.PartsEncoder`)."""
        rules = self.rules
        now = self.clock.now
        key = (rules.target, rules.last_result, self._difficulty_version)
        if self._cache_key != key:
            self._cache_key = key
            self._cached = {"game": self.name, "trials_planned": self.trials_planned, **self._per_trial_parts(),
                            "home": self._home_part()}
        # str() of a StrEnum is its value, a quarter of ``.value``'s cost: this runs on every event
        live = {
            "phase": str(rules.phase),
            "t_s": now,
            "trial": rules.trial_index,
            "hits": rules.hits,
            "time_left_s": rules.time_left_s(now),
            **self._live_parts(),
            "foot_seq": {str(side): seq for side, seq in self.last_foot_seq.items()},
        }
        if self.mirror_source is not None:
            live.update(self._mirror_part(self.mirror_source))
        return live, self._cached

    # -- internals ------------------------------------------------------------------------------

    def _mirror_part(self, source: Side) -> dict[str, Any]:
        return {"mirror": {"source": source.value, "shown": source.other.value},
                "real_feet": feet_part(self.real_feet)}

    def _home_part(self) -> dict[str, dict[str, float]]:
        """Where each foot rests, so a headset draws the home spots this game really uses."""
        return {side.value: dict(zip(("x_m", "y_m"), self.home_spot(side), strict=True)) for side in Side}

    def _changed(self) -> None:
        """Keep the scene's target in step with the rules' and tell headsets to redraw."""
        self.scene.follow_target(self.rules.target)
        self._version += 1


class FootTargetGame(SceneGame[F], Generic[F]):
    """A game whose target a foot plays (stepping, reaching): the scene says whether the foot
    landed inside it."""

    def _play_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        t = self.clock.advance(now_s)
        self.scene.move_foot(event.side, event.x_m, event.y_m, event.z_m)
        inside = event.side in self.scene.feet_in_target()
        results = self.rules.on_foot(event, t, inside)
        self.last_foot_seq[event.side] = event.seq
        self._changed()  # the feet moved: headsets redraw
        return results


def result_part(last: TrialResult) -> dict[str, Any]:
    """The last trial's outcome with its game-specific measures, for games that report measures."""
    return {
        "trial": last.index,
        "outcome": last.outcome.value,
        "direction": last.direction,
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in last.measures.items()},
    }


def feet_part(feet: Mapping[Side, FootTrack], hidden: Side | None = None) -> dict[str, Any]:
    """Where each foot is, as every game's snapshot draws it; ``hidden``: the foot the headset must
    not draw (proprioception training)."""
    return {
        str(side): {"x_m": t.x_m, "y_m": t.y_m, "z_m": t.z_m, "planted": t.planted, "hidden": side is hidden}
        for side, t in feet.items()
    }
