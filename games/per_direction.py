"""Difficulty values kept per trial direction, for games whose difficulty adapts per direction.

A stroke patient may reach far forward yet hardly at all toward the paretic side; one staircase per
direction lets each direction settle at its own level. The staircases live in ``scoring``; this only
stores what they last set, so that each trial uses its own direction's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class DirectionDifficulty:
    def __init__(self, values: Mapping[str, float], directions: Iterable[str]) -> None:
        self._by_direction = {d: dict(values) for d in directions}

    def set(self, values: Mapping[str, float], direction: str | None = None) -> None:
        """Update one direction's values, or every direction's when ``direction`` is None."""
        if direction is None:
            for current in self._by_direction.values():
                current.update(values)
        elif direction in self._by_direction:
            self._by_direction[direction].update(values)
        else:
            raise KeyError(f"no direction {direction!r}; known: {', '.join(self._by_direction)}")

    def values(self, direction: str) -> dict[str, float]:
        """A copy, so a trial keeps the values it started with whatever changes later."""
        return dict(self._by_direction[direction])

    def as_dict(self, ndigits: int = 4) -> dict[str, dict[str, float]]:
        return {d: {k: round(v, ndigits) for k, v in vals.items()} for d, vals in self._by_direction.items()}
