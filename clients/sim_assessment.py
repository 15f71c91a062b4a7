"""A scripted patient of known abilities for the whole assessment protocol.

It acts on the assessment's state snapshot only (what a headset is sent: the stage, its phase,
the lean asked for, the target), so the same patient plays the game in simulated time in the tests
and a live server's game through ``clients.sim_player``. Its abilities are known, so what the
assessment measures can be checked against them:

* quiet-stance sway: low-pass filtered noise whose amplitude doubles with the eyes closed;
* limits of stability per direction (less toward the affected left side), reached by a smooth
  lean after a reaction time and held with sway;
* SEBT reach per direction, the affected foot reaching ``reach_ratio`` as far as the unaffected;
* walking steps of known length and lift per side; known reaction times when stepping to targets.

Each call of :meth:`AssessmentPatient.act` moves the patient one sample (``1 / rate_hz`` s) on:
afterwards ``feet`` (patient frame, metres) and ``reading`` (what its balance device reports: the
centre of pressure, or a glitch) are what a device sends.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from games.events import Side

RATE_HZ = 50.0
LEG_M = 0.9
AFFECTED = Side.LEFT
HALF_WIDTH_M = 0.10
# Quiet-stance sway per axis (m): larger with the eyes closed (velocity about 15 and 30 mm/s).
SWAY_SD_M = {"quiet_eyes_open": 0.0004, "quiet_eyes_closed": 0.0008}
OTHER_SWAY_SD_M = 0.002
# The unaffected foot's maximum SEBT reach per direction (fraction of leg length); the affected
# foot reaches 60 % of that.
UNAFFECTED_REACH = {"anterior": 0.62, "anteromedial": 0.70, "medial": 0.74, "posteromedial": 0.80,
                    "posterior": 0.82, "posterolateral": 0.72, "lateral": 0.50, "anterolateral": 0.55}
REACH_RATIO = 0.6
STEP_LENGTH_M = {Side.LEFT: 0.30, Side.RIGHT: 0.45}  # affected (left) steps shorter
LIFT_M = {Side.LEFT: 0.04, Side.RIGHT: 0.08}
SWING_S, DOUBLE_SUPPORT_S = 0.40, 0.16  # a step every 0.56 s: cadence 107 steps/min
REACTION_S = {Side.LEFT: 0.70, Side.RIGHT: 0.40}
# Limits of stability (m from where the lean starts): less toward the affected (left) side.
LOS_M = {"forward": 0.12, "backward": 0.06, "left": 0.05, "right": 0.09}
LEAN_AZIMUTH_DEG = {"forward": 0.0, "right": 90.0, "backward": 180.0, "left": 270.0}
# A lean: still for a reaction time after the cue, a smooth (half-cosine) ramp to the limit, then
# held there with the sway of OTHER_SWAY_SD_M around it.
LEAN_REACTION_S, LEAN_RAMP_S = 0.6, 1.5
LEAN_SWAY_SD_M = 0.002  # sway at the limit; at rest before the lean, the quiet eyes-open sway
GLITCH_M, GLITCH_AFTER_S = 0.05, 5.0  # one bad sample of a plate: 5 cm beyond, 5 s into a lean
STEP_AFTER_S = 3.0  # a patient who steps during a lean does so this long into it


def home(side: Side) -> tuple[float, float]:
    return side.lateral_sign * HALF_WIDTH_M, 0.0


def arc(a: tuple[float, float], b: tuple[float, float], u: float, lift: float) -> tuple[float, float, float]:
    """A swing: over the spot by three quarters of the way, then down onto it, steeply at the
    end (so a foot is "planted", under 1.5 cm, within a few ms of touching whatever its lift)."""
    u = min(1.0, max(0.0, u))
    s = min(1.0, u / 0.75)
    return a[0] + (b[0] - a[0]) * s, a[1] + (b[1] - a[1]) * s, lift * math.sqrt(math.sin(math.pi * u))


@dataclass
class Move:
    """One foot's scripted movement: out along an arc, stay, and (optionally) back."""

    foot: Side
    start_s: float
    frm: tuple[float, float]
    to: tuple[float, float]
    lift_m: float
    stay_s: float
    back: bool = True

    def at(self, t: float) -> tuple[float, float, float] | None:
        u = t - self.start_s
        if u < 0:
            return (*self.frm, 0.0)
        if u < SWING_S:
            return arc(self.frm, self.to, u / SWING_S, self.lift_m)
        if u < SWING_S + self.stay_s or not self.back:
            return (*self.to, 0.0)
        if u < 2 * SWING_S + self.stay_s:
            return arc(self.to, self.frm, (u - SWING_S - self.stay_s) / SWING_S, self.lift_m)
        return None  # done: back where it started


def _target_key(snapshot: Mapping[str, Any], stage: str | None) -> tuple[Any, ...] | None:
    """A target shown and waiting to be answered (phase ``target``), identified by where it is and
    the trial it is for: a target stays on screen after it is answered, and a retry of a direction
    shows the same spot again for a later trial."""
    target = snapshot.get("target")
    if target is None or snapshot.get("phase") != "target":
        return None
    return stage, snapshot.get("trial"), target.get("foot"), target.get("direction"), target["x_m"], target["y_m"]


@dataclass
class AssessmentPatient:
    """A scripted patient answering whatever stage the assessment runs."""

    balance: str | None = "cop"  # None: no balance device (a tracker only)
    reach_ratio: float = REACH_RATIO
    step_length_m: dict[Side, float] = field(default_factory=lambda: dict(STEP_LENGTH_M))
    lift_m: dict[Side, float] = field(default_factory=lambda: dict(LIFT_M))
    fault_reaches: int = 0  # the first this many reaches: the stance foot comes off the floor
    cop_offset_m: tuple[float, float] = (0.0, 0.0)  # where the weight rests (x right, y forward)
    los_m: dict[str, float] = field(default_factory=lambda: dict(LOS_M))
    step_on_lean: str | None = None  # leaning this way, the unaffected foot steps forward ...
    steps_on_lean: int = 1  # ... in this many tries of that lean
    glitch_on_lean: str | None = None  # leaning this way, one balance sample is GLITCH_M too far
    leg_length_m: float = LEG_M
    rate_hz: float = RATE_HZ
    seed: int = 7
    feet: dict[Side, tuple[float, float, float]] = field(
        default_factory=lambda: {s: (*home(s), 0.0) for s in Side})
    cop: tuple[float, float] = (0.0, 0.0)
    reading: tuple[float, float] = (0.0, 0.0)  # what the balance device reports: cop, or a glitch
    _move: Move | None = None
    _seen_target: object = None
    _walk_moves: int = 0
    _reaches: int = 0
    _lifted_stance: Side | None = None
    _stage: str | None = None
    _lean: tuple[str, float] | None = None  # the lean under way and when it was cued
    _glitched: bool = False
    _lean_steps: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reach_frac(self, foot: Side, direction: str) -> float:
        ratio = self.reach_ratio if foot is AFFECTED else 1.0
        return ratio * UNAFFECTED_REACH[direction]

    def act(self, snapshot: Mapping[str, Any], t: float) -> None:
        """Answer the newest snapshot at time ``t`` (seconds, any clock that runs at real pace)."""
        stage_info = snapshot.get("stage") or {}
        name = stage_info.get("name") if snapshot.get("phase") not in (None, "idle", "finished") else None
        phase = snapshot.get("phase")
        if name != self._stage:  # a new stage: feet back home (after walking away, say)
            self._stage, self._move = name, None
            self.feet = {s: (*home(s), 0.0) for s in Side}
        key = _target_key(snapshot, name)
        target: Any = snapshot.get("target")  # a wire mapping, there whenever ``key`` is
        if name == "reach" and key is not None and key != self._seen_target:
            self._seen_target = key
            foot = Side(target["foot"])
            centre = (target["centre_x_m"], target["centre_y_m"])
            dx, dy = target["x_m"] - centre[0], target["y_m"] - centre[1]
            norm = math.hypot(dx, dy)
            d = self.reach_frac(foot, target["direction"]) * self.leg_length_m
            touch = (centre[0] + d * dx / norm, centre[1] + d * dy / norm)
            self._move = Move(foot, t + 0.3, home(foot), touch, 0.05, 0.3)
            self._reaches += 1
            self._lifted_stance = Side(target["stance"]) if self._reaches <= self.fault_reaches else None
        elif name == "timed_stepping" and key is not None and key != self._seen_target:
            self._seen_target = key
            foot = Side(target["foot"])
            self._move = Move(foot, t + REACTION_S[foot], home(foot), (target["x_m"], target["y_m"]), 0.06, 0.4)
        elif name == "walk" and phase == "walk" and self._move is None:
            self._next_walk_step(t)
        lean = (self._lean_offset(phase, stage_info.get("lean"), t) if name == "limits_of_stability"
                else (0.0, 0.0, 0.0))
        if self._move is not None:
            pos = self._move.at(t)
            if pos is None:
                self.feet[self._move.foot] = (*self._move.frm, 0.0)
                self._move = None
            else:
                self.feet[self._move.foot] = pos
                if name == "walk" and t >= self._move.start_s + SWING_S + DOUBLE_SUPPORT_S:
                    self._next_walk_step(self._move.start_s + SWING_S + DOUBLE_SUPPORT_S)
        if self._lifted_stance is not None:  # loses balance: the stance foot lifts during the reach
            self.feet[self._lifted_stance] = (*home(self._lifted_stance), 0.05 if self._move else 0.0)
            if self._move is None:
                self._lifted_stance = None
        self.cop = self.reading = self._cop(name, lean)
        if (self._lean is not None and self._lean[0] == self.glitch_on_lean and not self._glitched
                and t - self._lean[1] >= GLITCH_AFTER_S):
            self._glitched = True
            azimuth = math.radians(LEAN_AZIMUTH_DEG[self._lean[0]])
            self.reading = (self.cop[0] + GLITCH_M * math.sin(azimuth), self.cop[1] + GLITCH_M * math.cos(azimuth))

    def _lean_offset(self, phase: str | None, direction: str | None, t: float) -> tuple[float, float, float]:
        """Where the lean has taken the balance point (x right, y forward) from rest, and how far
        along it is (0 to 1); a patient who steps in this lean's direction lifts the unaffected
        foot forward and back meanwhile."""
        if phase != "lean" or direction is None:
            self._lean = None
            return 0.0, 0.0, 0.0
        if self._lean is None or self._lean[0] != direction:
            self._lean = (direction, t)
        direction, t0 = self._lean
        if (direction == self.step_on_lean and self._lean_steps < self.steps_on_lean and self._move is None
                and t - t0 >= STEP_AFTER_S):
            self._lean_steps += 1
            foot = AFFECTED.other
            self._move = Move(foot, t, home(foot), (home(foot)[0], 0.25), 0.05, 0.5)
        u = min(1.0, max(0.0, (t - t0 - LEAN_REACTION_S) / LEAN_RAMP_S))
        along = (1.0 - math.cos(math.pi * u)) / 2.0
        reach = self.los_m[direction] * along
        azimuth = math.radians(LEAN_AZIMUTH_DEG[direction])
        return reach * math.sin(azimuth), reach * math.cos(azimuth), along

    def _next_walk_step(self, t: float) -> None:
        foot = AFFECTED.other if self._walk_moves % 2 == 0 else AFFECTED  # unaffected first
        other_y = self.feet[foot.other][1]
        frm = self.feet[foot][:2]
        self._move = Move(foot, t, frm, (frm[0], other_y + self.step_length_m[foot]), self.lift_m[foot], 1.0,
                          back=False)
        self._walk_moves += 1

    def _cop(self, stage: str | None, lean: tuple[float, float, float]) -> tuple[float, float]:
        """Low-pass filtered noise (AR(1), 0.1 s time constant) with the stage's amplitude, around
        the resting point moved by the lean (whose sway grows toward the limit)."""
        sd = SWAY_SD_M.get(stage or "", OTHER_SWAY_SD_M)
        if stage == "limits_of_stability":
            rest = SWAY_SD_M["quiet_eyes_open"]
            sd = rest + (LEAN_SWAY_SD_M - rest) * lean[2]
        a = math.exp(-1.0 / (self.rate_hz * 0.1))
        k = math.sqrt(1 - a * a) * sd
        (x, y), (ox, oy) = self.cop, (self.cop_offset_m[0] + lean[0], self.cop_offset_m[1] + lean[1])
        x = ox + a * (x - ox) + k * self.rng.gauss(0.0, 1.0)
        y = oy + a * (y - oy) + k * self.rng.gauss(0.0, 1.0)
        if stage == "reach" and self._move is not None:  # weight over the stance foot
            sx = home(self._move.foot.other)[0]
            return sx + a * (x - sx) + k * self.rng.gauss(0.0, 1.0), y
        return x, y
