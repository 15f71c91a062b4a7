"""The chair and walking tests, followed by a tracker's pelvis marker (a ``com_proxy`` balance input
with its height): Five Times Sit-to-Stand, Timed Up and Go and the 10-metre walk (comfortable,
then fast).

Each test waits until the patient is ready, still for ``ready_s`` in the test's starting posture
(seated on the chair, or standing at the start of the walkway), then shows its instruction (the
"go") and follows the pelvis only coarsely, to know when the test is over: the stands counted, the
walk out and the patient seated again, the distance walked. The stage measures nothing itself: its
result marks the test's window of the tracker's recording (``device_t0_s`` .. ``device_t1_s``,
device time) and scoring detects the rises, sits, turns and crossings there
(:mod:`scoring.standard_measures`), once, as it does for every session. A test not finished within
``standard_max_s`` ends as timed out; a pause voids the test in progress (it is done again).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from games.assessment.settings import (
    FIVE_STS,
    FIVE_STS_STANDS,
    TEN_METRE_COURSE_M,
    TEN_METRE_TIMED_FROM_M,
    TEN_METRE_TIMED_TO_M,
    TEN_METRE_WALK,
    TUG,
    TUG_TURN_LINE_M,
    AssessmentSettings,
)
from games.assessment.stage import Stage, copy_feet, r4, stage_result
from games.base import Outcome, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.tracking import FootTrack
from games.trials import ReadyGate

# Posture from the pelvis height: below this share of the leg length the patient sits (a pelvis
# marker on a 45 cm chair is about 0.6 leg lengths up, standing about 1.05).
SEATED_BELOW_LL = 0.8
STILL_RADIUS_M = 0.05  # ready: the pelvis stays this near where it was when it stopped
STAND_RISE_M = 0.15  # coarse following: up this far above the seated height is up
SEAT_MARGIN_M = 0.05  # ... and back within this of it is seated
SETTLE_S = 0.8  # seated again this long: the test is over (scoring sees the whole sit)
TUG_OUT_M = TUG_TURN_LINE_M - 1.0  # the patient went out toward the line


class TestPhase(StrEnum):
    HOME = "home"  # waiting for the patient to be ready
    TEST = "test"  # the test is on
    DONE = "done"


class PelvisStage(Stage):
    """One test per entry of ``trials`` (their names go into each result's ``direction``)."""

    seated_start = True
    word = ""

    def __init__(self, name: str, settings: AssessmentSettings, trials: tuple[str, ...]) -> None:
        self.name = name
        self.settings = settings
        self.trials = trials
        self.planned = len(trials)
        self._index = 0
        self._gate = ReadyGate(settings.ready_s)
        self._phase = TestPhase.HOME if trials else TestPhase.DONE
        self._paused = False
        self.pelvis: BalanceEvent | None = None
        self._anchor: tuple[float, float] | None = None
        self.feet: dict[Side, FootTrack] = {}
        self._started_s = 0.0  # when the stage started (a station without a pelvis marker gives up)
        self._t0_s = 0.0
        self._start: BalanceEvent | None = None
        self._last: BalanceEvent | None = None
        self._samples = 0

    # -- what each test says and follows ---------------------------------------------------------

    @property
    def trial(self) -> str | None:
        return self.trials[self._index] if self._index < len(self.trials) else None

    def _follow(self, event: BalanceEvent, start: BalanceEvent) -> bool:
        """Take one pelvis sample of the running test; True once the test is over."""
        raise NotImplementedError

    def _own(self) -> dict[str, float | str]:
        """The test's own numbers for its result (what it followed)."""
        return {}

    def _reset(self) -> None:
        """Forget what the last test followed."""

    @property
    def ready_text(self) -> str:
        return "Sit on the chair, back against the backrest, and keep still"

    @property
    def go_text(self) -> str:
        raise NotImplementedError

    @property
    def instruction(self) -> str:  # type: ignore[override]
        if self._phase is TestPhase.DONE:
            return f"{self.word} done"
        return self.go_text if self._phase is TestPhase.TEST else self.ready_text

    # -- inputs ------------------------------------------------------------------------------------

    def start(self, feet: Mapping[Side, FootTrack], now_s: float) -> None:
        self.feet = copy_feet(feet)
        self._started_s = now_s

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        s = self.settings
        self.feet[event.side].update(event, s.lift_height_m, s.plant_height_m)
        return []

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        if event.z_m is None:  # a centre of pressure: no height to follow
            return []
        self.pelvis = event
        if self._paused:
            return []
        if self._phase is TestPhase.HOME:
            self._gate.update(self._ready(event), now_s)
            return []
        if self._phase is TestPhase.TEST and self._start is not None:
            self._last, self._samples = event, self._samples + 1
            if self._follow(event, self._start):
                return [self._end(Outcome.HIT, now_s)]
        return []

    def _ready(self, event: BalanceEvent) -> bool:
        assert event.z_m is not None
        seated = event.z_m < SEATED_BELOW_LL * self.settings.leg_length_m
        if seated != self.seated_start:
            self._anchor = None
            return False
        anchor = self._anchor
        if anchor is None or math.hypot(event.x_m - anchor[0], event.y_m - anchor[1]) > STILL_RADIUS_M:
            self._anchor = (event.x_m, event.y_m)
            return False
        return True

    def tick(self, now_s: float) -> list[TrialResult]:
        if self._paused:
            return []
        if self._phase is TestPhase.HOME:
            if self._gate.due(now_s) and self.pelvis is not None:
                self._phase, self._t0_s = TestPhase.TEST, now_s
                self._start, self._last, self._samples = self.pelvis, self.pelvis, 1
                self._reset()
            elif self.pelvis is None and now_s - self._started_s >= self.settings.standard_max_s:
                return self._give_up(now_s)
        elif self._phase is TestPhase.TEST and now_s - self._t0_s >= self.settings.standard_max_s:
            return [self._end(Outcome.TIMEOUT, now_s)]
        return []

    def _give_up(self, now_s: float) -> list[TrialResult]:
        """No pelvis height ever came (a mat or plate only): each test says so and the stage ends."""
        out = [stage_result(foot=self.settings.affected_side, direction=trial, outcome=Outcome.TIMEOUT,
                            shown_at_s=now_s, ended_at_s=now_s,
                            measures={"stage": self.name, "trial": trial,
                                      "note": "no pelvis marker: a tracker's pelvis height is needed"})
               for trial in self.trials[self._index:]]
        self._index, self._phase = len(self.trials), TestPhase.DONE
        return out

    def _end(self, outcome: Outcome, now_s: float) -> TrialResult:
        assert self._start is not None and self._last is not None
        trial = self.trials[self._index]
        measures: dict[str, float | str] = {
            "stage": self.name, "trial": trial, "balance_source": self._start.source,
            "device_t0_s": self._start.device_time_s, "device_t1_s": self._last.device_time_s,
            "pelvis_samples": self._samples, **self._own()}
        result = stage_result(foot=self.settings.affected_side, direction=trial, outcome=outcome,
                              shown_at_s=self._t0_s, ended_at_s=now_s, measures=measures)
        self._index += 1
        self._phase = TestPhase.DONE if self._index >= len(self.trials) else TestPhase.HOME
        self._gate.reset()
        self._anchor, self._start, self._last = None, None, None
        return result

    def pause(self, now_s: float) -> None:
        """The test in progress is void: it is done again once the patient is ready."""
        self._paused = True
        if self._phase is TestPhase.TEST:
            self._phase = TestPhase.HOME
        self._gate.reset()
        self._anchor = None

    # -- state -------------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._phase is TestPhase.DONE

    @property
    def phase(self) -> str:
        return self._phase.value

    def time_left_s(self, now_s: float) -> float | None:
        return None

    def progress(self, now_s: float) -> str:
        return f"{self._index}/{self.planned}"

    def parts(self) -> dict[str, Any]:
        pelvis = self.pelvis
        return {"target": None, "test": self.trial,
                "pelvis": None if pelvis is None else {"x_m": r4(pelvis.x_m), "y_m": r4(pelvis.y_m),
                                                       "z_m": r4(pelvis.z_m)}}


class _Seat:
    """Coarse up and down of the pelvis from the height it sat at when the test began."""

    def __init__(self) -> None:
        self.up = False
        self.stands = 0
        self.seated_since: float | None = None

    def take(self, z_m: float, seat_z_m: float, t_s: float) -> None:
        if not self.up and z_m >= seat_z_m + STAND_RISE_M:
            self.up, self.stands, self.seated_since = True, self.stands + 1, None
        elif self.up and z_m <= seat_z_m + SEAT_MARGIN_M:
            self.up, self.seated_since = False, t_s

    def settled(self, t_s: float) -> bool:
        return not self.up and self.seated_since is not None and t_s - self.seated_since >= SETTLE_S


class FiveTimesSitToStandStage(PelvisStage):
    word = "Five Times Sit-to-Stand"

    def __init__(self, settings: AssessmentSettings) -> None:
        super().__init__(FIVE_STS, settings, (FIVE_STS,))
        self._seat = _Seat()

    @property
    def ready_text(self) -> str:
        return "Sit on the chair, back against the backrest, arms crossed on your chest, and keep still"

    @property
    def go_text(self) -> str:
        done = self._seat.stands
        return (f"Stand up fully and sit down {FIVE_STS_STANDS} times, as fast as you can, arms crossed "
                f"({done} of {FIVE_STS_STANDS})")

    def _reset(self) -> None:
        self._seat = _Seat()

    def _follow(self, event: BalanceEvent, start: BalanceEvent) -> bool:
        assert event.z_m is not None and start.z_m is not None
        self._seat.take(event.z_m, start.z_m, event.device_time_s)
        return self._seat.stands >= FIVE_STS_STANDS and self._seat.settled(event.device_time_s)

    def _own(self) -> dict[str, float | str]:
        return {"stands_followed": self._seat.stands}

    def parts(self) -> dict[str, Any]:
        return {**super().parts(), "stands": self._seat.stands}


class TimedUpAndGoStage(PelvisStage):
    word = "Timed Up and Go"

    def __init__(self, settings: AssessmentSettings) -> None:
        super().__init__(TUG, settings, (TUG,))
        self._seat = _Seat()
        self._out = False

    @property
    def go_text(self) -> str:
        return (f"Stand up, walk to the line {TUG_TURN_LINE_M:.0f} metres ahead at your usual pace, turn around, "
                "walk back and sit down")

    def _reset(self) -> None:
        self._seat, self._out = _Seat(), False

    def _follow(self, event: BalanceEvent, start: BalanceEvent) -> bool:
        assert event.z_m is not None and start.z_m is not None
        self._seat.take(event.z_m, start.z_m, event.device_time_s)
        if self._seat.up and math.hypot(event.x_m - start.x_m, event.y_m - start.y_m) >= TUG_OUT_M:
            self._out = True
        return self._out and self._seat.settled(event.device_time_s)

    def parts(self) -> dict[str, Any]:
        return {**super().parts(), "turn_line_m": TUG_TURN_LINE_M}


class TenMetreWalkStage(PelvisStage):
    """The patient walks the whole course each time (from where they stand, in the direction they
    face: the second walk may come back along the walkway)."""

    seated_start = False
    word = "10-metre walk"

    def __init__(self, settings: AssessmentSettings) -> None:
        super().__init__(TEN_METRE_WALK, settings, settings.ten_metre_paces)
        self._walked_m = 0.0

    @property
    def ready_text(self) -> str:
        return "Stand still at the start of the walkway, facing along it"

    @property
    def go_text(self) -> str:
        pace = ("as fast as you safely can" if self.trial == "fast" else "at your own comfortable pace")
        return f"Walk {pace} to the end of the walkway, {TEN_METRE_COURSE_M:.0f} metres ahead, and stop there"

    def _reset(self) -> None:
        self._walked_m = 0.0

    def _follow(self, event: BalanceEvent, start: BalanceEvent) -> bool:
        self._walked_m = math.hypot(event.x_m - start.x_m, event.y_m - start.y_m)
        return self._walked_m >= TEN_METRE_COURSE_M

    def parts(self) -> dict[str, Any]:
        return {**super().parts(), "walked_m": r4(self._walked_m), "course_m": TEN_METRE_COURSE_M,
                "timed_from_m": TEN_METRE_TIMED_FROM_M, "timed_to_m": TEN_METRE_TIMED_TO_M}
