"""What every game hands to the rest of the server: trial results and a state snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from games.events import BalanceEvent, FootEvent, Side
from games.parameters import ParameterSpec


class Outcome(StrEnum):
    HIT = "hit"
    MISS = "miss"
    TIMEOUT = "timeout"
    WRONG_FOOT = "wrong_foot"
    FAULT = "fault"  # the patient lost balance or bore weight where the game forbids it

    @property
    def success(self) -> bool:
        return self is Outcome.HIT


@dataclass(frozen=True, slots=True)
class TrialResult:
    """One finished trial. Times are seconds of game time; lengths are metres in the patient frame.

    ``reaction_time_s`` runs from the target appearing to the named foot lifting; ``movement_time_s``
    from that lift to the foot landing. Either is ``None`` when the event never happened (a timeout
    without lifting the foot, say).
    """

    index: int
    foot: Side
    direction: str
    direction_deg: float
    target_x_m: float
    target_y_m: float
    target_distance_m: float
    target_radius_m: float
    outcome: Outcome
    shown_at_s: float
    ended_at_s: float
    reaction_time_s: float | None
    movement_time_s: float | None
    placement_error_m: float | None
    landing_x_m: float | None
    landing_y_m: float | None
    foot_lift_m: float | None
    difficulty: dict[str, float] = field(default_factory=dict)
    # Game-specific measures, units in the key (reach_m, reach_pct_ll, time_to_target_s, ...).
    measures: dict[str, float | str] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """Plain data (enums as their values), for the database and the wire."""
        record = asdict(self)
        record["foot"] = self.foot.value
        record["outcome"] = self.outcome.value
        return record


class EmitsEvents:
    """The game-event queue of :meth:`Game.take_events`; the game sets ``self._events = []``."""

    _events: list[dict[str, Any]]

    def emit(self, kind: str, **fields: Any) -> None:
        """Queue a game event (see docs/clinical-modes.md) for the server to send once."""
        self._events.append({"kind": kind, **fields})

    def take_events(self) -> Sequence[dict[str, Any]]:
        if not self._events:
            return ()  # asked after every input: allocate nothing when there is nothing
        events, self._events = self._events, []
        return events


class Game(Protocol):
    """The interface the server drives. Every method is cheap and never blocks."""

    name: str
    parameter_specs: tuple[ParameterSpec, ...]
    # True: one staircase per trial direction (difficulty adapts per direction), else one in all.
    adapts_per_direction: bool

    @property
    def settings(self) -> object:
        """The session's settings: the game's own frozen dataclass (``GameEntry.settings_type``),
        read by field name by those that handle every game (live settings, training modes)."""
        ...

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]: ...

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]: ...

    def tick(self, now_s: float) -> list[TrialResult]: ...

    def next_timer_s(self) -> float:
        """The server time (as ``now_s``) before which :meth:`tick` can change nothing, as no timer
        of the game falls due earlier; ``-inf`` when the game cannot tell (it is ticked every
        period). Input may bring it forward: it is asked again before each tick that is due."""
        ...

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        """New values, from the next trial on; ``direction`` names which direction's values these
        are when the game adapts per direction (``None``: every direction)."""
        ...

    def update_settings(self, values: dict[str, Any]) -> dict[str, Any]:
        """Change live session settings (see the registry's ``live_settings``); returns the old values."""
        ...

    def pause(self, now_s: float) -> None: ...

    def resume(self, now_s: float) -> None: ...

    def finish(self) -> None: ...

    def home_spot(self, side: Side) -> tuple[float, float]:
        """Where this foot rests between trials (x, y in metres): reach is measured from here."""
        ...

    def close(self) -> None: ...

    @property
    def trials_done(self) -> int: ...

    @property
    def hits(self) -> int: ...

    @property
    def version(self) -> int:
        """Bumped whenever the state a headset would draw changes."""
        ...

    @property
    def finished(self) -> bool: ...

    def snapshot(self) -> dict[str, Any]: ...

    def snapshot_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """:meth:`snapshot` as two maps with no key in common, the second the same object for as
        long as it does not change (see ``SceneGame.snapshot_parts``)."""
        ...

    def take_events(self) -> Sequence[dict[str, Any]]:
        """Events raised since the last call (neglect cues, assessment stages), oldest first:
        things a headset must act on once, which a state snapshot cannot carry reliably."""
        ...
