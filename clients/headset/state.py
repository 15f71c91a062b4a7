"""What the headset draws, as plain data: the parsed ``state`` and ``game_event`` messages, foot
smoothing, the tracking-lost rule and which feet a neglect cue highlights. Nothing here needs
Panda3D or a socket, so all of it is unit-tested directly.

Positions are in the patient frame, metres: +x to the patient's right, +y forward, +z up.
Times are the client's monotonic clock in seconds unless the name says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SIDES = ("L", "R")
RUNNING_PHASES_EXCLUDED = frozenset({"idle", "finished"})
DEVICE_LOST = "device_lost"
STAND_PHASE = "stand"  # an assessment stand being timed (games.assessment.standing)
TRACKING_TIMEOUT_S = 0.5  # no new foot_seq for longer than this while a game runs: tracking lost
SMOOTHING_TAU_S = 0.05  # foot smoothing time constant
CUE_HOLD_S = 5.0  # a neglect cue's highlight lasts until its cue_response, or this long
BELT_STATES = frozenset({"coming", "hit", "missed"})  # a treadmill target's ``state``

# Older servers sent no home spots; these are each game's default stance half width
# (``stance_half_width_m`` in games/*/settings.py, not a start_game setting). A state that does
# carry ``home`` ({"L": {"x_m", "y_m"}, ...}) overrides them.
HOME_HALF_WIDTH_M = {"stepping": 0.10, "reaching": 0.06, "weight_shift": 0.10}
DEFAULT_HOME_HALF_WIDTH_M = 0.10


@dataclass(frozen=True, slots=True)
class Foot:
    x_m: float
    y_m: float
    z_m: float = 0.0
    planted: bool = True
    hidden: bool = False  # proprioception training (``vision: foot_hidden``): not drawn


@dataclass(frozen=True, slots=True)
class Disc:
    """A floor circle: a target, the weight-shift centre."""

    x_m: float
    y_m: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class Target:
    """The current target. ``foot`` is None for weight shift (the cursor plays it); ``anchor`` is
    where a reach is measured from (reaching's ``centre_x_m``/``centre_y_m``)."""

    x_m: float
    y_m: float
    radius_m: float
    foot: str | None = None
    direction: str | None = None
    anchor: tuple[float, float] | None = None
    hold_s: float | None = None
    hidden: bool = False  # proprioception training (``vision: target_vanishes``): not drawn

    @property
    def disc(self) -> Disc:
        return Disc(self.x_m, self.y_m, self.radius_m)


@dataclass(frozen=True, slots=True)
class BeltTarget:
    """One treadmill target on screen (``targets[i]``): it scrolls toward the patient with the
    belt. ``state`` is ``coming``, ``hit`` or ``missed``."""

    x_m: float
    y_m: float
    radius_m: float
    foot: str | None = None
    state: str = "coming"
    index: int | None = None


@dataclass(frozen=True, slots=True)
class Mirror:
    """Mirror therapy: the ``source`` (sound) foot drives the ``shown`` (affected) foot's avatar.
    The state's ``feet`` are already mirrored; ``real_feet`` are for the therapist only."""

    source: str | None
    shown: str | None


@dataclass(frozen=True, slots=True)
class Cueing:
    """Neglect cueing's part of the snapshot: ``active`` while a cue is unanswered."""

    side: str | None
    active: bool = False
    affected_side_share: float | None = None
    cues: int = 0


@dataclass(frozen=True, slots=True)
class Stage:
    """The assessment's running stage; ``index`` is 0-based on the wire, like ``trial``."""

    name: str | None = None
    index: int | None = None
    count: int | None = None
    instruction: str | None = None
    time_left_s: float | None = None
    progress: str | None = None
    eyes: str | None = None  # a quiet stand's: "open" or "closed"

    @property
    def quiet(self) -> bool:
        """A quiet-standing stage: nothing to hit, only a stand to time."""
        return self.eyes is not None


@dataclass(frozen=True, slots=True)
class GameEvent:
    """A ``game_event`` message: something to act on once (``cue``, ``cue_response``,
    ``stage``). ``fields`` holds the event's other keys as sent."""

    kind: str
    side: str | None = None
    station: str | None = None
    session_id: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Point:
    """The weight-shift cursor or a reaching touch; ``inside`` only for a touch."""

    x_m: float
    y_m: float
    inside: bool | None = None


@dataclass(frozen=True, slots=True)
class Los:
    """Limits of stability: a half-ellipse forward (``forward_m``, ``side_m``) and one backward,
    around the game's centre (``x_m``, ``y_m``: the patient's quiet-standing centre, or the origin)."""

    forward_m: float
    backward_m: float
    side_m: float
    x_m: float = 0.0
    y_m: float = 0.0

    def at(self, azimuth_deg: float) -> float:
        """The limit along an azimuth (0 forward, 90 right): the server's formula
        (``WeightShiftSettings.los_m``), so the outline passes through the game's targets."""
        rad = math.radians(azimuth_deg)
        sx, cy = math.sin(rad), math.cos(rad)
        sagittal = self.forward_m if cy >= 0.0 else self.backward_m
        return 1.0 / math.hypot(sx / self.side_m, cy / sagittal)

    def outline(self, points: int = 72) -> list[tuple[float, float]]:
        """A closed outline (first point repeated last), metres."""
        out = []
        for i in range(points + 1):
            az = 360.0 * i / points
            r = self.at(az)
            out.append((self.x_m + r * math.sin(math.radians(az)), self.y_m + r * math.cos(math.radians(az))))
        return out


@dataclass(frozen=True, slots=True)
class Outcome:
    trial: int
    outcome: str
    fault: str | None = None
    placement_error_m: float | None = None
    stage: str | None = None  # an assessment's: the stage the trial belonged to


@dataclass(frozen=True, slots=True)
class StateView:
    """One ``state`` message, reduced to what the headset draws. Unknown keys are ignored so a
    newer server's additions do not break an older headset."""

    station: str | None = None
    game: str | None = None
    phase: str = "idle"
    session_id: int | None = None
    paused_by: tuple[str, ...] = ()
    t_s: float | None = None
    trial: int = 0
    trials_planned: int = 0
    hits: int = 0
    time_left_s: float | None = None
    target: Target | None = None
    feet: Mapping[str, Foot] = field(default_factory=dict)
    foot_seq: Mapping[str, int] = field(default_factory=dict)
    last: Outcome | None = None
    cursor: Point | None = None
    touch: Point | None = None
    centre: Disc | None = None
    los: Los | None = None
    hold_progress_s: float | None = None
    home: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # clinical modes (docs/clinical-modes.md)
    mirror: Mirror | None = None
    real_feet: Mapping[str, Foot] = field(default_factory=dict)  # mirror mode: never drawn here
    cueing: Cueing | None = None
    targets: tuple[BeltTarget, ...] = ()  # treadmill: every target on screen
    belt_speed_m_s: float | None = None
    stage: Stage | None = None  # assessment

    @property
    def running(self) -> bool:
        """A game exists on the station (paused counts: it is waiting, not over)."""
        return self.phase not in RUNNING_PHASES_EXCLUDED

    @property
    def eyes_closed(self) -> bool:
        """An eyes-closed quiet stand is being timed: the patient must see nothing (the feet are
        placed on the marks, seen, before the stand starts)."""
        stage = self.stage if self.game == "assessment" else None
        return stage is not None and stage.eyes == "closed" and self.phase == STAND_PHASE


def parse_state(message: Mapping[str, Any]) -> StateView:
    """Parse a ``state`` message. Raises ValueError for another message type; tolerates missing
    or malformed optional parts (they are drawn as absent)."""
    if message.get("type") != "state":
        raise ValueError(f"not a state message: {message.get('type')!r}")
    return StateView(
        station=_str(message.get("station")),
        game=_str(message.get("game")),
        phase=_str(message.get("phase")) or "idle",
        session_id=_int(message.get("session_id")),
        paused_by=tuple(str(p) for p in message.get("paused_by") or () if isinstance(p, str)),
        t_s=_num(message.get("t_s")),
        trial=_int(message.get("trial")) or 0,
        trials_planned=_int(message.get("trials_planned")) or 0,
        hits=_int(message.get("hits")) or 0,
        time_left_s=_num(message.get("time_left_s")),
        target=_target(message.get("target")),
        feet=_feet(message.get("feet")),
        foot_seq={s: v for s in SIDES if (v := _int(_get(message.get("foot_seq"), s))) is not None},
        last=_outcome(message.get("last")),
        cursor=_point(message.get("cursor")),
        touch=_point(message.get("touch")),
        centre=_disc(message.get("centre")),
        los=_los(message.get("los")),
        hold_progress_s=_num(message.get("hold_progress_s")),
        home=_home(message.get("home")),
        mirror=_mirror(message.get("mirror")),
        real_feet=_feet(message.get("real_feet")),
        cueing=_cueing(message.get("cueing")),
        targets=_belt_targets(message.get("targets")),
        belt_speed_m_s=_num(message.get("belt_speed_m_s")),
        stage=_stage(message.get("stage")),
    )


def parse_event(message: Mapping[str, Any]) -> GameEvent | None:
    """Parse a ``game_event`` message (``{"type": "game_event", "v": 1, "station",
    "session_id", "event": {"kind", ...}}``). Raises ValueError for another message type;
    None when the event has no ``kind`` (nothing to act on)."""
    if message.get("type") != "game_event":
        raise ValueError(f"not a game_event message: {message.get('type')!r}")
    event = message.get("event")
    kind = _str(_get(event, "kind"))
    if kind is None:
        return None
    side = _str(_get(event, "side"))
    return GameEvent(kind, side if side in SIDES else None, _str(message.get("station")),
                     _int(message.get("session_id")),
                     {k: v for k, v in event.items() if k not in ("kind", "side")})  # type: ignore[union-attr]


# -- smoothing and the tracking-lost rule ---------------------------------------------------------


class FootSmoother:
    """Exponential smoothing of each foot toward its newest reported position, per frame.

    States arrive at the device's rate (often 60-120 Hz) with network jitter; the headset renders
    at its own rate. Moving a fraction ``1 - exp(-dt/tau)`` of the way each frame removes the
    judder without ever waiting for data, and is frame-rate independent. A foot seen for the first
    time snaps to its position (nothing to glide from)."""

    def __init__(self, tau_s: float = SMOOTHING_TAU_S) -> None:
        self.tau_s = tau_s
        self.shown: dict[str, tuple[float, float, float]] = {}

    def step(self, targets: Mapping[str, Foot], dt_s: float) -> dict[str, tuple[float, float, float]]:
        alpha = 1.0 if self.tau_s <= 0 else 1.0 - math.exp(-max(0.0, dt_s) / self.tau_s)
        shown: dict[str, tuple[float, float, float]] = {}
        for side, foot in targets.items():
            goal = (foot.x_m, foot.y_m, foot.z_m)
            old = self.shown.get(side)
            shown[side] = goal if old is None else tuple(o + alpha * (g - o) for o, g in zip(old, goal, strict=False))  # type: ignore[assignment]
        self.shown = shown
        return shown


class TrackingWatch:
    """Tracking is lost while a game runs and either the server paused it for ``device_lost``,
    or no new sample has come for more than ``timeout_s`` (the tracker is connected but sends
    nothing usable: occluded markers, a stalled driver, a network stall). A new sample is a
    changed ``foot_seq`` or a moved weight-shift cursor: a force plate's COP stream drives the
    cursor only and never changes ``foot_seq``.

    Timestamps are when states *arrived* here; the check runs every frame, because a silent
    tracker means no states arrive at all."""

    def __init__(self, timeout_s: float = TRACKING_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._sample: tuple[object, ...] | None = None
        self._game: tuple[int | None, bool] | None = None
        self._changed_at: float | None = None
        self._view: StateView | None = None

    def observe(self, view: StateView, at_s: float) -> None:
        game = (view.session_id, view.running)
        sample = (tuple(sorted(view.foot_seq.items())), view.cursor)
        if game != self._game or sample != self._sample:
            self._changed_at = at_s  # a new game starts the clock; a new sample resets it
        self._game, self._sample, self._view = game, sample, view

    def lost(self, now_s: float) -> bool:
        view = self._view
        if view is None or not view.running:
            return False
        if DEVICE_LOST in view.paused_by:
            return True
        return self._changed_at is not None and now_s - self._changed_at > self.timeout_s

    def silent_s(self, now_s: float) -> float | None:
        return None if self._changed_at is None else now_s - self._changed_at


class CueTracker:
    """Which feet a neglect cue highlights now.

    A ``cue`` event highlights its side until a ``cue_response`` for that side arrives or
    ``hold_s`` pass. The snapshot's ``cueing.active`` highlights ``cueing.side`` too, so a
    headset that (re)connects while a cue is unanswered still shows it; a state that arrived
    before the side's last ``cue_response`` no longer counts (the render loop may see the
    response before the state that follows it). Nothing is highlighted while no game runs.
    Times are arrival times on the client's clock."""

    def __init__(self, hold_s: float = CUE_HOLD_S) -> None:
        self.hold_s = hold_s
        self.cues = 0  # cue events received
        self.responses = 0  # cue_response events received
        self._until: dict[str, float] = {}
        self._answered_at: dict[str, float] = {}

    def on_event(self, event: GameEvent, at_s: float) -> bool:
        """Take one event; True when it is a new cue (the caller plays the sound)."""
        if event.kind == "cue":
            self.cues += 1
            wanted = event.fields.get("cues")  # ["highlight", "sound"]; absent: both
            if event.side is not None and (not isinstance(wanted, (list, tuple)) or "highlight" in wanted):
                self._until[event.side] = at_s + self.hold_s
            return True
        if event.kind == "cue_response" and event.side is not None:
            self.responses += 1
            self._until.pop(event.side, None)
            self._answered_at[event.side] = at_s
        return False

    def highlighted(self, view: StateView | None, received_at_s: float, now_s: float) -> frozenset[str]:
        if view is None or not view.running:
            return frozenset()
        sides = {side for side, until in self._until.items() if now_s < until}
        cueing = view.cueing
        if cueing is not None and cueing.active and cueing.side in SIDES and (
                received_at_s >= self._answered_at.get(cueing.side, -math.inf)):
            sides.add(cueing.side)
        return frozenset(sides)


def countdown_s(view: StateView, received_at_s: float, now_s: float) -> float | None:
    """``time_left_s`` run down locally between states, so the countdown moves smoothly even when
    no foot event changes the state; frozen while paused. In an assessment the stage's own
    ``time_left_s`` comes first."""
    left = view.time_left_s
    if view.stage is not None and view.stage.time_left_s is not None:
        left = view.stage.time_left_s
    if left is None:
        return None
    if view.phase == "paused":
        return left
    return max(0.0, left - max(0.0, now_s - received_at_s))


def home_spots(view: StateView) -> dict[str, tuple[float, float]]:
    if view.home:
        return dict(view.home)
    half = HOME_HALF_WIDTH_M.get(view.game or "", DEFAULT_HOME_HALF_WIDTH_M)
    return {"L": (-half, 0.0), "R": (half, 0.0)}


# -- parsing helpers ------------------------------------------------------------------------------


def _get(part: Any, key: str) -> Any:
    return part.get(key) if isinstance(part, Mapping) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _xy(part: Any, x: str = "x_m", y: str = "y_m") -> tuple[float, float] | None:
    px, py = _num(_get(part, x)), _num(_get(part, y))
    return None if px is None or py is None else (px, py)


def _disc(part: Any) -> Disc | None:
    xy, r = _xy(part), _num(_get(part, "radius_m"))
    return None if xy is None or r is None or r <= 0 else Disc(xy[0], xy[1], r)


def _bool(value: Any, default: bool = False) -> bool:
    return value if isinstance(value, bool) else default


def _target(part: Any) -> Target | None:
    disc = _disc(part)
    if disc is None:
        return None
    return Target(disc.x_m, disc.y_m, disc.radius_m, foot=_str(_get(part, "foot")),
                  direction=_str(_get(part, "direction")), anchor=_xy(part, "centre_x_m", "centre_y_m"),
                  hold_s=_num(_get(part, "hold_s")), hidden=_bool(_get(part, "hidden")))


def _belt_targets(part: Any) -> tuple[BeltTarget, ...]:
    if not isinstance(part, (list, tuple)):
        return ()
    out = []
    for item in part:
        disc = _disc(item)
        if disc is None:
            continue
        state = _str(_get(item, "state"))
        out.append(BeltTarget(disc.x_m, disc.y_m, disc.radius_m, _str(_get(item, "foot")),
                              state if state in BELT_STATES else "coming", _int(_get(item, "index"))))
    return tuple(out)


def _mirror(part: Any) -> Mirror | None:
    if not isinstance(part, Mapping):
        return None
    source, shown = _str(part.get("source")), _str(part.get("shown"))
    return Mirror(source if source in SIDES else None, shown if shown in SIDES else None)


def _cueing(part: Any) -> Cueing | None:
    if not isinstance(part, Mapping):
        return None
    side = _str(part.get("side"))
    return Cueing(side if side in SIDES else None, _bool(part.get("active")),
                  _num(part.get("affected_side_share")), _int(part.get("cues")) or 0)


def _stage(part: Any) -> Stage | None:
    if not isinstance(part, Mapping):
        return None
    progress = part.get("progress")
    if _num(progress) is not None:
        progress = f"{progress:g}"
    return Stage(_str(part.get("name")), _int(part.get("index")), _int(part.get("count")),
                 _str(part.get("instruction")), _num(part.get("time_left_s")),
                 progress if isinstance(progress, str) else None, _str(part.get("eyes")))


def _point(part: Any) -> Point | None:
    xy = _xy(part)
    inside = _get(part, "inside")
    return None if xy is None else Point(xy[0], xy[1], inside if isinstance(inside, bool) else None)


def _feet(part: Any) -> dict[str, Foot]:
    feet = {}
    for side in SIDES:
        foot = _get(part, side)
        xy = _xy(foot)
        if xy is not None:
            planted = _get(foot, "planted")
            feet[side] = Foot(xy[0], xy[1], _num(_get(foot, "z_m")) or 0.0,
                              planted if isinstance(planted, bool) else True, _bool(_get(foot, "hidden")))
    return feet


def _outcome(part: Any) -> Outcome | None:
    outcome = _str(_get(part, "outcome"))
    if outcome is None:
        return None
    return Outcome(_int(_get(part, "trial")) or 0, outcome, _str(_get(part, "fault")),
                   _num(_get(part, "placement_error_m")), _str(_get(part, "stage")))


def _los(part: Any) -> Los | None:
    f, b, s = (_num(_get(part, k)) for k in ("forward_m", "backward_m", "side_m"))
    if f is None or b is None or s is None or min(f, b, s) <= 0:
        return None
    return Los(f, b, s, _num(_get(part, "x_m")) or 0.0, _num(_get(part, "y_m")) or 0.0)


def _home(part: Any) -> dict[str, tuple[float, float]]:
    spots = {side: xy for side in SIDES if (xy := _xy(_get(part, side))) is not None}
    return spots if len(spots) == len(SIDES) else {}
