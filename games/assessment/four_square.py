"""The Four Square Step Test: four squares on the floor (drawn in VR), the patient stepping
through them in a fixed order as fast as possible, both feet in each square.

Square 1 is centred on the patient's start (the origin, between the home spots); the squares'
dividing lines run forward at ``x = fsst_square_m / 2`` and sideways at ``y = fsst_square_m / 2``.
Once both feet stand in square 1 for ``ready_s``, the test is on: each landing of a foot is one
result (``direction`` ``four_square_step``) saying in which square it landed (0: outside the
four), from any device that gives foot positions (tracker or mat). The stage follows the sequence
only to show the next square and to know when the patient is back in square 1 at its end; scoring
times the test and counts its sequence errors from the landings (:mod:`scoring.standard_measures`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from games.assessment.settings import FSST, FSST_SEQUENCE, AssessmentSettings
from games.assessment.stage import Stage, copy_feet, r4, stage_result
from games.base import Outcome, TrialResult
from games.events import FootEvent, Side
from games.tracking import FootTrack, Lift, landed
from games.trials import ReadyGate

SQUARE_NAMES = {1: "back left", 2: "front left", 3: "front right", 4: "back right"}


class SquarePhase(StrEnum):
    HOME = "home"
    TEST = "test"
    DONE = "done"


def square_of(x_m: float, y_m: float, size_m: float) -> int:
    """Which square a floor point is in (1-4), 0 beyond the four."""
    half = size_m / 2
    if not (-half <= x_m <= 1.5 * size_m and -half <= y_m <= 1.5 * size_m):
        return 0
    right, front = x_m >= half, y_m >= half
    return (3 if right else 2) if front else (4 if right else 1)


def square_centre(square: int, size_m: float) -> tuple[float, float]:
    return (size_m if square in (3, 4) else 0.0), (size_m if square in (2, 3) else 0.0)


class FourSquareStage(Stage):
    name = FSST
    planned = 1

    def __init__(self, settings: AssessmentSettings) -> None:
        self.settings = settings
        self.size_m = settings.fsst_square_m
        self._gate = ReadyGate(settings.ready_s)
        self._phase = SquarePhase.HOME
        self._paused = False
        self._t0_s = 0.0
        self.feet: dict[Side, FootTrack] = {}
        self._lifts: dict[Side, Lift] = {}
        self._in: dict[Side, int] = {}
        self._k = 0  # the feet are in FSST_SEQUENCE[k]
        self.landings = 0
        self.attempt = 0  # a pause voids the attempt in progress: scoring takes the last

    @property
    def next_square(self) -> int | None:
        return FSST_SEQUENCE[self._k + 1] if self._phase is SquarePhase.TEST and self._k + 1 < len(FSST_SEQUENCE) \
            else None

    @property
    def instruction(self) -> str:  # type: ignore[override]
        if self._phase is SquarePhase.HOME:
            return "Stand with both feet in square 1 (back left), facing square 2, and keep still"
        if self._phase is SquarePhase.DONE:
            return "Four Square Step Test done"
        nxt = self.next_square
        where = f": next, square {nxt} ({SQUARE_NAMES[nxt]})" if nxt else ""
        return ("As fast as you can, step forward, right, back, left, then right, forward, left, back, "
                f"both feet in each square, without touching the lines{where}")

    def start(self, feet: Mapping[Side, FootTrack], now_s: float) -> None:
        self.feet = copy_feet(feet)
        self._gate.update(self._ready(), now_s)

    def _ready(self) -> bool:
        return all(t.seen and t.planted and square_of(t.x_m, t.y_m, self.size_m) == 1 for t in self.feet.values())

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        s = self.settings
        track = self.feet[event.side]
        was_planted = track.update(event, s.lift_height_m, s.plant_height_m)
        if self._paused:
            return []
        if self._phase is SquarePhase.HOME:
            self._gate.update(self._ready(), now_s)
            return []
        if self._phase is not SquarePhase.TEST:
            return []
        lift = landed(track, was_planted, self._lifts, event, now_s)
        return [] if lift is None else [self._landing(event, lift, now_s)]

    def _landing(self, event: FootEvent, lift: Lift, now_s: float) -> TrialResult:
        assert lift.at_s is not None
        square = square_of(event.x_m, event.y_m, self.size_m)
        self._in[event.side] = square
        expected = FSST_SEQUENCE[self._k:self._k + 2]
        in_sequence = square in expected
        if self._in.get(Side.LEFT) == self._in.get(Side.RIGHT):  # both feet in one square: a move done?
            ahead = [j for j in (self._k + 1, self._k + 2) if j < len(FSST_SEQUENCE) and FSST_SEQUENCE[j] == square]
            if ahead:
                self._k = ahead[0]
        self.landings += 1
        if self._k == len(FSST_SEQUENCE) - 1:
            self._phase = SquarePhase.DONE
        return stage_result(foot=event.side, direction=FSST, outcome=Outcome.HIT if in_sequence else Outcome.MISS,
                            shown_at_s=lift.at_s, ended_at_s=now_s, movement_time_s=now_s - lift.at_s,
                            foot_lift_m=lift.max_m,
                            measures={"stage": FSST, "square": square, "landing": self.landings,
                                      "landing_x_m": event.x_m, "landing_y_m": event.y_m,
                                      "device_t_s": event.device_time_s, "moves_done": self._k,
                                      "attempt": self.attempt})

    def tick(self, now_s: float) -> list[TrialResult]:
        if self._paused:
            return []
        if self._phase is SquarePhase.HOME:
            self._gate.update(self._ready(), now_s)
            if self._gate.due(now_s):
                self._phase, self._t0_s, self._k = SquarePhase.TEST, now_s, 0
                self._in = dict.fromkeys(Side, 1)
                self._lifts = {}
        elif self._phase is SquarePhase.TEST and now_s - self._t0_s >= self.settings.standard_max_s:
            self._phase = SquarePhase.DONE
        return []

    def pause(self, now_s: float) -> None:
        """Landings already made stand; the patient starts again from square 1."""
        self._paused = True
        if self._phase is SquarePhase.TEST:
            self._phase = SquarePhase.HOME
            self.attempt += 1
        self._gate.reset()

    @property
    def done(self) -> bool:
        return self._phase is SquarePhase.DONE

    @property
    def phase(self) -> str:
        return self._phase.value

    def progress(self, now_s: float) -> str:
        return f"{self._k}/{len(FSST_SEQUENCE) - 1}"

    def parts(self) -> dict[str, Any]:
        return {"target": None, "next_square": self.next_square,
                "squares": [{"square": n, "x_m": r4(square_centre(n, self.size_m)[0]),
                             "y_m": r4(square_centre(n, self.size_m)[1]), "size_m": r4(self.size_m)}
                            for n in (1, 2, 3, 4)]}

    def home_spot(self, side: Side) -> tuple[float, float]:
        return side.lateral_sign * min(self.settings.stance_half_width_m, self.size_m / 4), 0.0
