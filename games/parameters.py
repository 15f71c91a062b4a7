"""Difficulty parameters a game exposes to the adaptive staircase and to the therapist.

A game declares each parameter once, with its absolute limits and which way is harder; the
staircase (in ``scoring``) moves values inside the therapist's bounds, which must lie inside these
limits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    unit: str
    minimum: float
    maximum: float
    default: float
    harder_when_larger: bool
    description: str

    @property
    def easiest(self) -> float:
        return self.minimum if self.harder_when_larger else self.maximum

    @property
    def hardest(self) -> float:
        return self.maximum if self.harder_when_larger else self.minimum
