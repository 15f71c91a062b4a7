"""A scripted patient of known timing for the instrumented standard measures: the 10-metre walk,
Timed Up and Go, Five Times Sit-to-Stand (a pelvis marker's path and height) and the Four Square
Step Test (the feet's landings).

Each test is a script of movements of known durations, started when the state says the stage's
test is on (phase ``test``) after a reaction time: what the assessment measures is checked
against the script (:meth:`PelvisScript.span`, :meth:`FeetScript.landings`). The pelvis rises
and sits along a half-cosine (it starts and ends at rest), walks at a constant speed with a
vertical bob and a sideways sway at the step frequency, and turns in place.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from games.assessment.four_square import square_centre
from games.assessment.settings import FSST_SEQUENCE, TUG_TURN_LINE_M
from games.events import Side

Vec3 = tuple[float, float, float]
BOB_M, SWAY_M, STEP_HZ = 0.01, 0.02, 1.8  # walking: pelvis bob up and down, sway side to side


def ease(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return 0.5 - 0.5 * math.cos(math.pi * u)


@dataclass(frozen=True, slots=True)
class Move:
    """The pelvis moves to ``to`` in ``duration_s``: ``ease`` (a rise, a sit: from rest to rest),
    ``walk`` (constant speed, bobbing and swaying) or ``still`` (stays; a turn in place)."""

    label: str
    duration_s: float
    to: Vec3
    kind: str = "ease"


@dataclass(frozen=True, slots=True)
class PelvisScript:
    start: Vec3
    moves: tuple[Move, ...]

    @property
    def duration_s(self) -> float:
        return sum(m.duration_s for m in self.moves)

    def span(self, first: str, last: str | None = None) -> float:
        """Seconds from the start of the first move labelled ``first`` to the end of the last
        labelled ``last`` (``first`` when None)."""
        t, begin, end = 0.0, None, None
        for m in self.moves:
            if m.label == first and begin is None:
                begin = t
            t += m.duration_s
            if m.label == (last or first):
                end = t
        assert begin is not None and end is not None, (first, last)
        return end - begin

    def at(self, t_s: float) -> Vec3:
        here, t = self.start, t_s
        for m in self.moves:
            if t < m.duration_s:
                u = t / m.duration_s if m.duration_s > 0 else 1.0
                if m.kind == "still":
                    return m.to
                s = ease(u) if m.kind == "ease" else u
                p = tuple(a + (b - a) * s for a, b in zip(here, m.to, strict=True))
                if m.kind == "walk":
                    dx, dy = m.to[0] - here[0], m.to[1] - here[1]
                    norm = math.hypot(dx, dy) or 1.0
                    phase = 2 * math.pi * STEP_HZ * t
                    side = SWAY_M * math.sin(phase / 2)
                    return (p[0] + side * dy / norm, p[1] - side * dx / norm, p[2] + BOB_M * math.sin(phase))
                return (p[0], p[1], p[2])
            here, t = m.to, t - m.duration_s
        return here


@dataclass(frozen=True, slots=True)
class ChairAbility:
    """Pelvis heights seated and standing, how long each movement takes, and the walking speed."""

    seated_m: float = 0.55
    standing_m: float = 0.95
    rise_s: float = 1.2
    sit_s: float = 1.4
    walk_m_s: float = 0.8
    turn_s: float = 1.6  # the turn at the 3 m line, in place
    turn_to_sit_s: float = 1.2  # the turn in front of the chair, before sitting
    stand_pause_s: float = 0.2  # Five Times Sit-to-Stand: upright this long each time
    seat_pause_s: float = 0.1  # ... and on the seat between stands


def tug_script(a: ChairAbility, forward_m: float = 0.15) -> PelvisScript:
    """Seated at the origin facing +y: stand (the pelvis comes ``forward_m`` forward), walk to
    the line and ``forward_m`` past it (the feet cross it), turn, walk back, turn, sit."""
    far = TUG_TURN_LINE_M + forward_m
    walk_s = (far - forward_m) / a.walk_m_s
    up, out = (0.0, forward_m, a.standing_m), (0.0, far, a.standing_m)
    return PelvisScript((0.0, 0.0, a.seated_m), (
        Move("rise", a.rise_s, up), Move("walk_out", walk_s, out, "walk"), Move("turn", a.turn_s, out, "still"),
        Move("walk_back", walk_s, up, "walk"), Move("turn_to_sit", a.turn_to_sit_s, up, "still"),
        Move("sit", a.sit_s, (0.0, 0.0, a.seated_m))))


def five_sts_script(a: ChairAbility, stands: int = 5) -> PelvisScript:
    seat, top = (0.0, 0.0, a.seated_m), (0.0, 0.1, a.standing_m)
    moves: list[Move] = []
    for i in range(stands):
        moves += [Move(f"rise{i + 1}", a.rise_s, top), Move("top", a.stand_pause_s, top, "still"),
                  Move(f"sit{i + 1}", a.sit_s, seat)]
        if i < stands - 1:
            moves.append(Move("seat", a.seat_pause_s, seat, "still"))
    return PelvisScript(seat, tuple(moves))


def walk_script(start: Vec3, heading_deg: float, speed_m_s: float, distance_m: float = 11.0) -> PelvisScript:
    """Standing at ``start``, walk ``distance_m`` at a constant speed toward ``heading_deg``
    (0 forward, 90 right), then stand."""
    rad = math.radians(heading_deg)
    end = (start[0] + distance_m * math.sin(rad), start[1] + distance_m * math.cos(rad), start[2])
    return PelvisScript(start, (Move("walk", distance_m / speed_m_s, end, "walk"),))


# -- the Four Square Step Test -----------------------------------------------------------------------

FSST_MOVES: dict[tuple[int, int], Side] = {  # which foot leads each move: the one on the side moved to
    (1, 2): Side.RIGHT, (2, 3): Side.RIGHT, (3, 4): Side.RIGHT, (4, 1): Side.LEFT,
    (1, 4): Side.RIGHT, (4, 3): Side.RIGHT, (3, 2): Side.LEFT, (2, 1): Side.RIGHT}
FOOT_GAP_M = 0.08  # each foot this far from its square's centre line


@dataclass(frozen=True, slots=True)
class Step:
    foot: Side
    start_s: float
    to: tuple[float, float]
    square: int


@dataclass
class FeetScript:
    """Both feet through the squares' sequence: each move the leading foot, then the other, each a
    ``swing_s`` swing lifting ``lift_m``, then ``pause_s``. ``wrong_at``: on that move (1-8)
    the leading foot lands first in the square diagonal to the one it should, then goes on."""

    size_m: float = 0.45
    swing_s: float = 0.4
    pause_s: float = 0.1
    lift_m: float = 0.06
    wrong_at: int | None = None
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        t = 0.0
        for n, (a, b) in enumerate(itertools.pairwise(FSST_SEQUENCE), start=1):
            lead = FSST_MOVES[(a, b)]
            if n == self.wrong_at:
                wrong = {1: 3, 2: 4, 3: 1, 4: 2}[b]
                self.steps.append(Step(lead, t, self._spot(wrong, lead), wrong))
                t += self.swing_s + self.pause_s
            for foot in (lead, lead.other):
                self.steps.append(Step(foot, t, self._spot(b, foot), b))
                t += self.swing_s
            t += self.pause_s

    def _spot(self, square: int, foot: Side) -> tuple[float, float]:
        cx, cy = square_centre(square, self.size_m)
        return cx + foot.lateral_sign * FOOT_GAP_M, cy

    def home(self, foot: Side) -> tuple[float, float]:
        return self._spot(1, foot)

    def landings(self) -> list[tuple[float, Side, int]]:
        """(when the foot lands, which, in which square), script time."""
        return [(s.start_s + self.swing_s, s.foot, s.square) for s in self.steps]

    def at(self, t_s: float) -> dict[Side, Vec3]:
        feet: dict[Side, Vec3] = {side: (*self.home(side), 0.0) for side in Side}
        for s in self.steps:
            if t_s < s.start_s:
                break
            x0, y0, _ = feet[s.foot]
            u = min(1.0, (t_s - s.start_s) / self.swing_s)
            z = 0.0 if u >= 1.0 else self.lift_m * math.sin(math.pi * u)
            feet[s.foot] = (x0 + (s.to[0] - x0) * u, y0 + (s.to[1] - y0) * u, z)
        return feet


# -- the patient, following the assessment's state -----------------------------------------------


@dataclass
class Played:
    """One test the patient did: the stage, the test's name, when its script started (the time
    :meth:`MeasuresPatient.act` was given, after the reaction time) and the script."""

    stage: str
    test: str
    start_s: float
    script: PelvisScript | FeetScript


@dataclass
class MeasuresPatient:
    """Does each standard test the state announces, by its script, ``reaction_s`` after the test
    is on; between tests it sits down or stands up where it is, as the next test starts. Its
    pelvis (patient frame) and feet are what a tracker sends after each :meth:`act`."""

    chair: ChairAbility = field(default_factory=ChairAbility)
    paces_m_s: dict[str, float] = field(default_factory=lambda: {"comfortable": 0.8, "fast": 1.25})
    squares: FeetScript = field(default_factory=FeetScript)
    reaction_s: float = 0.5
    played: list[Played] = field(default_factory=list)
    pelvis: Vec3 = (0.0, 0.0, 0.95)
    feet: dict[Side, Vec3] = field(default_factory=dict)
    _phase: str = ""

    def __post_init__(self) -> None:
        self.feet = self._under(self.pelvis)

    @staticmethod
    def _under(pelvis: Vec3) -> dict[Side, Vec3]:
        return {side: (pelvis[0] + side.lateral_sign * 0.1, pelvis[1], 0.0) for side in Side}

    def act(self, snapshot: dict[str, object], t_s: float) -> None:
        stage = snapshot.get("stage")
        info = stage if isinstance(stage, dict) else {}
        name, phase = str(info.get("name") or ""), str(snapshot.get("phase") or "")
        if phase == "test" and self._phase != "test":
            self._begin(name, str(info.get("test") or name), t_s + self.reaction_s)
        self._phase = phase
        playing = self.played[-1] if self.played and phase == "test" else None
        if playing is not None:
            self._move(playing, t_s)
        elif phase == "home":
            self._settle(name)

    def _begin(self, stage: str, test: str, start_s: float) -> None:
        x, y, _ = self.pelvis
        script: PelvisScript | FeetScript
        if stage == "four_square_step":
            script = self.squares
        elif stage == "ten_metre_walk":
            heading = 0.0 if sum(p.stage == stage for p in self.played) % 2 == 0 else 180.0
            script = walk_script((x, y, self.chair.standing_m), heading, self.paces_m_s[test])
        elif stage == "timed_up_and_go":
            base = tug_script(self.chair)
            script = PelvisScript((x, y, base.start[2]), tuple(
                Move(m.label, m.duration_s, (m.to[0] + x, m.to[1] + y, m.to[2]), m.kind) for m in base.moves))
        else:
            base = five_sts_script(self.chair)
            script = PelvisScript((x, y, base.start[2]), tuple(
                Move(m.label, m.duration_s, (m.to[0] + x, m.to[1] + y, m.to[2]), m.kind) for m in base.moves))
        self.played.append(Played(stage, test, start_s, script))

    def _move(self, playing: Played, t_s: float) -> None:
        u = max(0.0, t_s - playing.start_s)
        if isinstance(playing.script, FeetScript):
            self.feet = playing.script.at(u)
            mid = [(a + b) / 2 for a, b in zip(self.feet[Side.LEFT], self.feet[Side.RIGHT], strict=True)]
            self.pelvis = (mid[0], mid[1], self.chair.standing_m)
        else:
            self.pelvis = playing.script.at(u)
            self.feet = self._under(self.pelvis)

    def _settle(self, stage: str) -> None:
        """Take the next test's starting posture where the patient is (square 1 for the squares)."""
        x, y, _ = self.pelvis
        if stage == "four_square_step":
            self.feet = {side: (*self.squares.home(side), 0.0) for side in Side}
            self.pelvis = (0.0, 0.0, self.chair.standing_m)
            return
        seated = stage in ("timed_up_and_go", "five_times_sit_to_stand")
        self.pelvis = (x, y, self.chair.seated_m if seated else self.chair.standing_m)
        self.feet = self._under(self.pelvis)
