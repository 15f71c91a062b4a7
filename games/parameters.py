"""Difficulty parameters a game exposes to the adaptive staircase and to the therapist.

A game declares each parameter once: its absolute limits (no therapist bound may leave them),
the bounds used when the therapist sets none, and which way is harder. The staircase (in
``scoring``) moves values inside the therapist's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    unit: str
    minimum: float
    maximum: float
    default_low: float
    default_high: float
    harder_when_larger: bool
    description: str

