"""Adaptive difficulty: a weighted up/down staircase on one difficulty level per game.

Why one level: every unlocked parameter is interpolated between its therapist bounds (easy end to
hard end) by a single level in [0, 1]. The staircase then has one clean equilibrium instead of
parameters drifting against each other, and every value stays inside its bounds by construction.
Locked parameters keep the value the therapist fixed.

Kaernbach's weighted staircase: after a success the level rises by ``step_up``; after a failure it
falls by ``step_up * p / (1 - p)``. It settles where ``p * up = (1 - p) * down``, i.e. where the
patient succeeds with probability ``p`` (the therapist's target success rate, 75 % by default).

Only outcomes played at the values now in force count. A game with several targets on screen (the
treadmill) scores targets set out before the last change; fed to the staircase, each would move the
level again for a change already made, so it overshoots (the usual delayed-feedback remedy: drop
them). A game with one target at a time shows the next target only after its result has been
recorded and the new values applied (the server does both after each game call), so nothing is
dropped there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from games.parameters import ParameterSpec

DEFAULT_TARGET_SUCCESS = 0.75
DEFAULT_STEP_UP = 0.04
DEFAULT_START_LEVEL = 0.3
# A played value this close to the current one is the current one (they are the same float in
# practice; the tolerance only absorbs a round trip through arithmetic or storage).
STALE_TOLERANCE = 1e-9


class DifficultyError(ValueError):
    """A therapist setting that cannot be applied (bounds outside limits, unknown parameter...)."""


@dataclass(frozen=True, slots=True)
class ParameterBounds:
    """Therapist bounds for one parameter, in the parameter's own unit."""

    low: float
    high: float
    locked: bool = False
    locked_value: float | None = None


@dataclass(frozen=True, slots=True)
class DifficultyChange:
    """One parameter's move; ``old_value`` is ``None`` for the value a session starts with."""

    parameter: str
    old_value: float | None
    new_value: float
    reason: str


@dataclass(slots=True)
class Staircase:
    specs: tuple[ParameterSpec, ...]
    target_success: float = DEFAULT_TARGET_SUCCESS
    step_up: float = DEFAULT_STEP_UP
    level: float = DEFAULT_START_LEVEL
    bounds: dict[str, ParameterBounds] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_target(self.target_success)
        self.level = _clamp(self.level, 0.0, 1.0)
        for spec in self.specs:
            self.bounds.setdefault(spec.name, ParameterBounds(spec.default_low, spec.default_high))
        for name, bounds in self.bounds.items():
            _check_bounds(self._spec(name), bounds)

    @property
    def step_down(self) -> float:
        p = self.target_success
        return self.step_up * p / (1.0 - p)

    def values(self) -> dict[str, float]:
        """Current value of every parameter, inside its bounds."""
        out: dict[str, float] = {}
        for spec in self.specs:
            b = self.bounds[spec.name]
            if b.locked:
                out[spec.name] = b.locked_value if b.locked_value is not None else _mid(b)
                continue
            easy, hard = (b.low, b.high) if spec.harder_when_larger else (b.high, b.low)
            out[spec.name] = easy + (hard - easy) * self.level
        return out

    def is_current(self, played_at: Mapping[str, float]) -> bool:
        """Whether a trial played at ``played_at`` was played at the values now in force.

        Only adaptive parameters are compared: a locked one is the therapist's, not the staircase's,
        so a difference there says nothing about the level. A parameter missing from ``played_at``
        is not held against the trial (the game did not report it).
        """
        current = self.values()
        return all(
            abs(played_at[name] - current[name]) <= STALE_TOLERANCE
            for name, b in self.bounds.items()
            if not b.locked and name in played_at
        )

    def record(self, success: bool, played_at: Mapping[str, float] | None = None) -> list[DifficultyChange]:
        """Feed one scored trial; returns the parameter changes it caused.

        With ``played_at`` (the values the trial was played at, ``TrialResult.difficulty``) a stale
        outcome, one played at other adaptive values than those now in force, is ignored: no level
        change, no changes returned. Its difficulty was already acted on by the outcomes that moved
        the level since; counting it again would overshoot. This also drops a trial under way when
        the therapist changed the bounds or the level, which was played at values no longer offered.
        Without ``played_at`` every outcome counts.
        """
        if played_at is not None and not self.is_current(played_at):
            return []
        before = self.values()
        old_level = self.level
        delta = self.step_up if success else -self.step_down
        self.level = _clamp(self.level + delta, 0.0, 1.0)
        word = "success -> harder" if success else "failure -> easier"
        reason = f"staircase: {word} (level {old_level:.3f} -> {self.level:.3f})"
        return _diff(before, self.values(), reason)

    def configure(
        self,
        *,
        target_success: float | None = None,
        bounds: dict[str, ParameterBounds] | None = None,
        level: float | None = None,
        reason: str = "therapist",
    ) -> list[DifficultyChange]:
        """Apply therapist settings atomically: all of them, or none if any is invalid."""
        if target_success is not None:
            _check_target(target_success)
        current = self.values()
        new_bounds = dict(self.bounds)
        for name, b in (bounds or {}).items():
            spec = self._spec(name)
            if b.locked and b.locked_value is None:  # lock where it is now
                b = ParameterBounds(b.low, b.high, True, _clamp(current[name], b.low, b.high))
            _check_bounds(spec, b)
            new_bounds[name] = b
        if level is not None and not (0.0 <= level <= 1.0 and math.isfinite(level)):
            raise DifficultyError("level must be between 0 and 1")
        before = current
        if target_success is not None:
            self.target_success = target_success
        self.bounds = new_bounds
        if level is not None:
            self.level = level
        return _diff(before, self.values(), reason)

    def initial_changes(self) -> list[DifficultyChange]:
        """The starting values, recorded so a session's difficulty history is complete."""
        return [
            DifficultyChange(name, None, value, f"initial (level {self.level:.3f})")
            for name, value in self.values().items()
        ]

    def describe(self) -> dict[str, object]:
        return {
            "level": round(self.level, 4),
            "target_success": self.target_success,
            "values": {k: round(v, 4) for k, v in self.values().items()},
            "bounds": {
                name: {"low": b.low, "high": b.high, "locked": b.locked, "value": b.locked_value}
                for name, b in self.bounds.items()
            },
        }

    def _spec(self, name: str) -> ParameterSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise DifficultyError(f"unknown difficulty parameter {name!r}")


def _diff(before: dict[str, float], after: dict[str, float], reason: str) -> list[DifficultyChange]:
    return [
        DifficultyChange(name, before[name], after[name], reason)
        for name in after
        if not math.isclose(before[name], after[name], rel_tol=0.0, abs_tol=1e-12)
    ]


def _check_target(p: float) -> None:
    if not (math.isfinite(p) and 0.5 <= p <= 0.95):
        raise DifficultyError("target success rate must be between 0.5 and 0.95")


def _check_bounds(spec: ParameterSpec, b: ParameterBounds) -> None:
    values = [b.low, b.high] + ([b.locked_value] if b.locked_value is not None else [])
    if not all(math.isfinite(v) for v in values):
        raise DifficultyError(f"{spec.name}: bounds must be finite numbers")
    if not (spec.minimum <= b.low <= b.high <= spec.maximum):
        raise DifficultyError(
            f"{spec.name}: bounds must satisfy {spec.minimum} <= low <= high <= {spec.maximum} "
            f"({spec.unit}); got low={b.low}, high={b.high}"
        )
    if b.locked_value is not None and not (b.low <= b.locked_value <= b.high):
        raise DifficultyError(f"{spec.name}: locked value must lie within the bounds")


def _mid(b: ParameterBounds) -> float:
    return (b.low + b.high) / 2.0


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


ALL_DIRECTIONS = ""


class DifficultySet:
    """The staircases of one session: one for the whole game, or one per trial direction.

    A patient after stroke often reaches well forward and poorly across the body, so a game that
    adapts per direction keeps a separate level for each. The therapist's bounds and target success
    rate apply to every direction alike; a therapist ``level`` sets all of them.
    """

    def __init__(self, specs: tuple[ParameterSpec, ...], directions: tuple[str, ...] = ()) -> None:
        self.specs = specs
        keys = directions or (ALL_DIRECTIONS,)
        self.by_direction: dict[str, Staircase] = {key: Staircase(specs) for key in keys}

    @property
    def per_direction(self) -> bool:
        return ALL_DIRECTIONS not in self.by_direction

    def staircase(self, direction: str) -> Staircase:
        return self.by_direction.get(direction) or next(iter(self.by_direction.values()))

    @property
    def bounds(self) -> dict[str, ParameterBounds]:
        return self.staircase(ALL_DIRECTIONS).bounds

    def key(self, direction: str) -> str:
        """Which staircase a trial in ``direction`` belongs to (``ALL_DIRECTIONS`` when shared)."""
        return direction if self.per_direction else ALL_DIRECTIONS

    def record(
        self, direction: str, success: bool, played_at: Mapping[str, float] | None = None
    ) -> list[DifficultyChange]:
        """Feed one trial to its direction's staircase; a stale ``played_at`` is ignored (see
        :meth:`Staircase.record`), judged against that direction's current values."""
        key = self.key(direction)
        return _named(key, self.staircase(key).record(success, played_at))

    def values(self, direction: str = ALL_DIRECTIONS) -> dict[str, float]:
        return self.staircase(direction).values()

    def configure(
        self,
        *,
        target_success: float | None = None,
        bounds: dict[str, ParameterBounds] | None = None,
        level: float | None = None,
        reason: str = "therapist",
    ) -> list[DifficultyChange]:
        """All directions or none: settings are checked on the first before any is changed."""
        changes: list[DifficultyChange] = []
        first, *rest = self.by_direction.items()
        probe = Staircase(self.specs, first[1].target_success, first[1].step_up, first[1].level,
                          dict(first[1].bounds))
        probe.configure(target_success=target_success, bounds=bounds, level=level, reason=reason)
        for key, staircase in (first, *rest):
            changes += _named(key, staircase.configure(
                target_success=target_success, bounds=bounds, level=level, reason=reason))
        return changes

    def initial_changes(self) -> list[DifficultyChange]:
        return [c for key, s in self.by_direction.items() for c in _named(key, s.initial_changes())]

    def describe(self) -> dict[str, object]:
        """One staircase's description; per direction, each direction's level and values too."""
        description = self.staircase(ALL_DIRECTIONS).describe()
        if self.per_direction:
            description["per_direction"] = {
                key: {"level": round(s.level, 4), "values": {k: round(v, 4) for k, v in s.values().items()}}
                for key, s in self.by_direction.items()
            }
        return description


def _named(direction: str, changes: list[DifficultyChange]) -> list[DifficultyChange]:
    """Per-direction changes are stored as ``direction:parameter``."""
    if not direction:
        return changes
    return [DifficultyChange(f"{direction}:{c.parameter}", c.old_value, c.new_value, c.reason)
            for c in changes]
