"""Motion-tracker marker frames -> foot and balance events in the patient frame.

Per frame: lab units become metres; every marker is checked against its own recent track (a jump
no foot can make counts as missing); then, once the patient frame is known, each foot with at least
one valid marker gives a :class:`FootEvent` and the pelvis, if tracked, a ``com_proxy``
:class:`BalanceEvent`. A foot with no valid marker gives no event at all, so a gap can never become
a false hit: the game keeps the foot where it last was.

Estimates, and why:

* **Foot position** is the *reference point*: the heel-toe marker midpoint projected on the floor
  (the foot's middle, which is what home spots and targets assume). Each marker keeps an offset to
  it, refreshed whenever heel and toe are both seen, so when markers drop out the remaining ones
  (and their offsets) carry the foot on without a jump. A foot with neither heel nor toe pair uses
  the mean of its markers, fixed the same way.
* **Foot height** z is the minimum, over its valid markers, of (marker height - that marker's
  standing height): 0 while any part of the foot is planted, the lift once all of it is off.
  Calibrate mode measures standing heights in the calibration window. Explicit mode (and a marker
  first seen after calibration) learns them as a running minimum of the median of the last 5
  heights: the median keeps one low noisy sample from setting it, and a foot that starts lifted
  reads 0 until it is first put down. Re-attached markers need a new ``tracker_setup``.
* **Floor height** (calibrate mode) is the lowest standing foot-marker height. Markers sit a marker
  radius (plus mounting) above the floor, so the normalised *marker* heights in
  ``AdapterOutput.markers`` read that much high; foot z does not depend on it.
* **Patient frame**: origin midway between the two reference points, on the floor. Forward is the
  mean heel->toe direction of the feet that have both markers (toe-out cancels between two feet;
  with one foot it biases forward by that foot's toe-out), otherwise perpendicular to the
  left->right line. Right = forward x up. Left and right markers can only be found swapped when
  forward came from heel->toe (otherwise the patient simply seems to face backwards).
* **Foot length** is the heel-to-toe *marker* distance on the floor: the shoe's markers, not
  anthropometric foot length, which is usually a few centimetres longer.
* **Jumps**: a marker further than 0.1 m + 10 m/s x dt from its last valid position (0.43 m at
  30 Hz, 0.2 m at 100 Hz; feet peak near 5 m/s in brisk walking) is rejected, and stays rejected
  while it follows the jumped-to track rather than the old one. After ``max_gap_s`` with no valid
  sample it starts afresh, and then must agree (within 0.1 m) with the foot's other valid markers.
  A foot whose markers all vanished for longer than ``max_gap_s`` restarts wherever they reappear.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

from games.events import BalanceEvent, FootEvent, MarkerKey, Side
from server.adapters.calibration import StillWindow
from server.adapters.frames import AXES_3D, PELVIS_KEY, AdapterOutput, MarkerFrame, Notice, TrackerSetup, Vec3

STILL_M = 0.01  # markers must stay within 1 cm of where they were when the window opened
JUMP_BASE_M = 0.1
MAX_MARKER_SPEED_M_S = 10.0
REJOIN_M = 0.1  # a restarting marker must put the foot within this of where its other markers do
HEIGHT_MEDIAN_OF = 5
FOOT_LENGTH_RANGE_M = (0.08, 0.40)
STANCE_WIDTH_RANGE_M = (0.02, 1.0)
GAP_REPORT_S = 5.0


# -- 3-vectors as tuples: a few hundred ns an operation, several times cheaper than tiny arrays ---


def _add(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _sub(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _scale(a: Vec3, k: float) -> Vec3:
    return (a[0] * k, a[1] * k, a[2] * k)


def _dot(a: Vec3, b: Vec3) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Vec3, b: Vec3) -> Vec3:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _unit(a: Vec3) -> Vec3:
    n = math.sqrt(_dot(a, a))
    return _scale(a, 1.0 / n) if n > 1e-12 else (0.0, 0.0, 0.0)


def _mean(points: list[Vec3]) -> Vec3:
    return _scale((sum(p[0] for p in points), sum(p[1] for p in points), sum(p[2] for p in points)),
                  1.0 / len(points))


@dataclass(frozen=True, slots=True)
class PatientFrame:
    """The patient frame in lab metres: ``origin`` on the floor, unit axes ``right``, ``forward``,
    ``up`` (right-handed: right = forward x up)."""

    origin: Vec3
    right: Vec3
    forward: Vec3
    up: Vec3

    def to_patient(self, p: Vec3) -> Vec3:
        d = _sub(p, self.origin)
        return (_dot(d, self.right), _dot(d, self.forward), _dot(d, self.up))


@dataclass(slots=True)
class _Track:
    """One marker's last valid sample (lab metres) and what was learned about it."""

    pos: Vec3 | None = None
    t_s: float = -math.inf
    ghost: Vec3 | None = None  # where it jumped to, while that is being rejected
    missing: bool = False
    standing_h: float = math.inf
    fixed: bool = False  # standing height measured at calibration
    recent_h: deque[float] = field(default_factory=lambda: deque(maxlen=HEIGHT_MEDIAN_OF))
    offset: Vec3 | None = None  # horizontal, from the marker to its foot's reference point


@dataclass(slots=True)
class _Foot:
    last_seen_s: float | None = None
    lost: bool = False


class TrackerAdapter:
    """One tracker's calibration and marker tracks; ``on_markers`` once per frame, in order."""

    def __init__(self, setup: TrackerSetup) -> None:
        self.setup = setup
        self._up = AXES_3D[setup.up]
        self._tracks: dict[str, dict[str, _Track]] = {"L": {}, "R": {}, "C": {}}
        self._feet = {Side.LEFT: _Foot(), Side.RIGHT: _Foot()}
        self._window: StillWindow[MarkerKey] = StillWindow(setup.calibrate_s, STILL_M)
        self._gaps: Counter[str] = Counter()
        self._jumps: Counter[str] = Counter()
        self._longest_gap_s = 0.0
        self._report_from_s: float | None = None
        self.frame: PatientFrame | None = None
        if setup.mode == "explicit":
            assert setup.forward is not None
            forward = AXES_3D[setup.forward]
            self.frame = PatientFrame(_scale(setup.origin, setup.scale_m), _cross(forward, self._up),
                                      forward, self._up)

    @property
    def calibrated(self) -> bool:
        return self.frame is not None

    def on_markers(self, frame: MarkerFrame) -> AdapterOutput:
        t = frame.t_s
        notices: list[Notice] = []
        valid = {side: self._validate(side.value, frame.feet.get(side.value, {}), t) for side in Side}
        pelvis = self._validate("C", {"pelvis": frame.pelvis}, t).get("pelvis")
        if self.frame is None:
            notices += self._calibrate(t, valid)
        pf = self.frame
        if pf is None:
            return AdapterOutput(notices=notices, t_s=t)
        events: list[FootEvent | BalanceEvent] = []
        for side in Side:
            event = self._foot_event(side, valid[side], frame, notices)
            if event is not None:
                events.append(event)
        if pelvis is not None:
            x, y, z = pf.to_patient(pelvis)
            events.append(BalanceEvent(x, y, None, None, "com_proxy", t, frame.seq, z))
        markers: dict[MarkerKey, Vec3 | None] = {}
        for side in Side:
            for name in self._tracks[side.value]:
                p = valid[side].get(name)
                markers[(side.value, name)] = None if p is None else pf.to_patient(p)
        if self._tracks["C"]:
            markers[PELVIS_KEY] = None if pelvis is None else pf.to_patient(pelvis)
        notices += self._gap_report(t)
        return AdapterOutput(events, markers, notices, t)

    # -- marker validity ---------------------------------------------------------------------------

    def _validate(self, side: str, raw: dict[str, Vec3 | None], t: float) -> dict[str, Vec3]:
        """The markers of one foot (or the pelvis) that count this frame, in lab metres."""
        tracks = self._tracks[side]
        k = self.setup.scale_m
        continuing: dict[str, Vec3] = {}
        fresh: dict[str, Vec3] = {}
        for name, pos in raw.items():
            if pos is None:
                continue
            p = _scale(pos, k)
            track = tracks.get(name)
            if track is None:
                track = tracks[name] = _Track()
            if track.pos is None or not 0.0 <= t - track.t_s <= self.setup.max_gap_s:
                fresh[name] = p
            elif self._continues(track, p, t):
                continuing[name] = p
            else:
                self._jumps[f"{side}.{name}"] += 1
        accepted = dict(continuing)
        if fresh:
            ref = self._reference(side, continuing, learn=False) if continuing else None
            for name, p in fresh.items():
                offset = tracks[name].offset
                if ref is None or offset is None or _horizontal_dist(
                        _add(self._horizontal(p), offset), ref, self._up) <= REJOIN_M:
                    accepted[name] = p
                else:
                    self._jumps[f"{side}.{name}"] += 1
        for name, track in tracks.items():
            pos = accepted.get(name)
            if pos is None:
                track.missing = track.pos is not None
            else:
                self._accept(f"{side}.{name}", track, pos, t)
        return accepted

    def _continues(self, track: _Track, p: Vec3, t: float) -> bool:
        assert track.pos is not None
        d = math.dist(p, track.pos)
        if d > JUMP_BASE_M + MAX_MARKER_SPEED_M_S * (t - track.t_s) or (
                track.ghost is not None and math.dist(p, track.ghost) < d):
            track.ghost = p
            return False
        return True

    def _accept(self, name: str, track: _Track, p: Vec3, t: float) -> None:
        if track.missing:
            gap_s = t - track.t_s
            self._gaps[name] += 1
            self._longest_gap_s = max(self._longest_gap_s, gap_s)
        track.pos, track.t_s, track.ghost, track.missing = p, t, None, False
        if not track.fixed:
            track.recent_h.append(_dot(p, self._up))
            track.standing_h = min(track.standing_h, sorted(track.recent_h)[len(track.recent_h) // 2])

    def _horizontal(self, p: Vec3) -> Vec3:
        return _sub(p, _scale(self._up, _dot(p, self._up)))

    def _reference(self, side: str, markers: dict[str, Vec3], *, learn: bool) -> Vec3:
        """The foot's reference point (horizontal, lab metres); ``learn`` refreshes the offsets."""
        tracks = self._tracks[side]
        heel, toe = markers.get("heel"), markers.get("toe")
        exact = heel is not None and toe is not None
        if exact:
            ref = self._horizontal(_scale(_add(heel, toe), 0.5))  # type: ignore[arg-type]
        else:
            known = [_add(self._horizontal(p), offset) for n, p in markers.items()
                     if (offset := tracks[n].offset) is not None]
            ref = _mean(known or [self._horizontal(p) for p in markers.values()])
        if learn:
            for name, p in markers.items():
                if exact or tracks[name].offset is None:
                    tracks[name].offset = _sub(ref, self._horizontal(p))
        return ref

    # -- calibration -------------------------------------------------------------------------------

    def _calibrate(self, t: float, valid: dict[Side, dict[str, Vec3]]) -> list[Notice]:
        window = self._window
        if not (valid[Side.LEFT] and valid[Side.RIGHT]):
            notice = window.waiting("stand still on both feet, with both feet's markers visible")
            return [notice] if notice else []
        share = window.add(t, {(side.value, name): p for side in Side for name, p in valid[side].items()})
        if share < 1.0:
            notice = window.progress(share, "stand still on both feet")
            return [notice] if notice else []
        means: dict[MarkerKey, Vec3] = window.means()  # type: ignore[assignment]
        window.reset()
        return self._fix_frame(means)

    def _failed(self, reason: str, message: str, **detail: object) -> list[Notice]:
        return [Notice("calibration_failed", f"calibration failed: {message}; starting over",
                       {"reason": reason, **detail})]

    def _fix_frame(self, means: dict[MarkerKey, Vec3]) -> list[Notice]:
        up = self._up
        feet = {s: {n: p for (side, n), p in means.items() if side == s} for s in ("L", "R")}
        if not (feet["L"] and feet["R"]):
            return self._failed("foot_unseen", "a foot's markers were visible too rarely")
        refs = {s: self._stance_reference(m) for s, m in feet.items()}
        lengths = {s: _horizontal_dist(m["toe"], m["heel"], up)
                   for s, m in feet.items() if {"heel", "toe"} <= m.keys()}
        for s, length in lengths.items():
            if not FOOT_LENGTH_RANGE_M[0] <= length <= FOOT_LENGTH_RANGE_M[1]:
                return self._failed("foot_length", f"{s} heel and toe markers are {length:.2f} m apart, "
                                    f"not {FOOT_LENGTH_RANGE_M[0]}-{FOOT_LENGTH_RANGE_M[1]} m", side=s,
                                    length_m=round(length, 3))
        width = _horizontal_dist(refs["R"], refs["L"], up)
        if not STANCE_WIDTH_RANGE_M[0] <= width <= STANCE_WIDTH_RANGE_M[1]:
            return self._failed("stance_width", f"the feet are {width:.2f} m apart, not "
                                f"{STANCE_WIDTH_RANGE_M[0]}-{STANCE_WIDTH_RANGE_M[1]} m", width_m=round(width, 3))
        directions = [_unit(self._horizontal(_sub(m["toe"], m["heel"]))) for s, m in feet.items() if s in lengths]
        if directions:
            forward = _unit(_mean(directions))
            source = "heel_toe"
            if len(directions) == 2 and _dot(directions[0], directions[1]) < -0.5:
                return self._failed("feet_disagree", "the two feet point more than 120 degrees apart")
        else:
            forward = _cross(up, _unit(_sub(refs["R"], refs["L"])))
            source = "stance"
        right = _cross(forward, up)
        if _dot(_sub(refs["R"], refs["L"]), right) < 0:
            return [Notice("markers_swapped", "the left-foot markers are on the patient's right: "
                           "check the marker labels (or the up axis)", {})] + self._failed(
                "markers_swapped", "left and right markers swapped")
        floor_h = min(_dot(p, up) for p in means.values())
        origin = _add(_scale(_add(refs["L"], refs["R"]), 0.5), _scale(up, floor_h))
        self.frame = PatientFrame(origin, right, forward, up)
        for (side, name), p in means.items():
            track = self._tracks[side][name]
            track.standing_h, track.fixed = _dot(p, up), True
            track.offset = _sub(refs[side], self._horizontal(p))
        k = self.setup.scale_m
        foot_length = sum(lengths.values()) / len(lengths) if lengths else None
        detail = {
            "origin": [round(v / k, 6) for v in origin],
            "forward": [round(v, 6) for v in forward],
            "right": [round(v, 6) for v in right],
            "forward_from": source,
            "floor_height": round(floor_h / k, 6),
            "stance_width_m": round(width, 4),
            "foot_length_m": {s: round(v, 4) for s, v in lengths.items()},
            "markers": sorted(f"{s}.{n}" for s, n in means),
        }
        length_text = (f", foot length {foot_length:.3f} m (heel-to-toe marker distance)"
                       if foot_length is not None else "")
        return [Notice("calibrated", f"calibrated: stance width {width:.3f} m{length_text}, forward from "
                       f"{'heel-to-toe direction' if source == 'heel_toe' else 'the line between the feet'}",
                       detail)]

    def _stance_reference(self, markers: dict[str, Vec3]) -> Vec3:
        if "heel" in markers and "toe" in markers:
            return self._horizontal(_scale(_add(markers["heel"], markers["toe"]), 0.5))
        return _mean([self._horizontal(p) for p in markers.values()])

    # -- events ------------------------------------------------------------------------------------

    def _foot_event(self, side: Side, markers: dict[str, Vec3], frame: MarkerFrame,
                    notices: list[Notice]) -> FootEvent | None:
        foot = self._feet[side]
        t = frame.t_s
        if not markers:
            if not foot.lost and foot.last_seen_s is not None and t - foot.last_seen_s > self.setup.max_gap_s:
                foot.lost = True
                notices.append(Notice("tracking_lost", f"{side.value} foot: no valid marker for more than "
                                      f"{self.setup.max_gap_s} s", {"side": side.value,
                                                                     "last_seen_t_s": foot.last_seen_s}))
            return None
        if foot.lost:
            gap_s = t - foot.last_seen_s  # type: ignore[operator]
            notices.append(Notice("tracking_restored", f"{side.value} foot tracked again after {gap_s:.2f} s",
                                  {"side": side.value, "gap_s": round(gap_s, 4)}))
            foot.lost = False
        foot.last_seen_s = t
        assert self.frame is not None
        x, y, _ = self.frame.to_patient(self._reference(side.value, markers, learn=True))
        tracks = self._tracks[side.value]
        z = min(_dot(p, self._up) - tracks[name].standing_h for name, p in markers.items())
        return FootEvent(side, x, y, z, None, None, t, frame.seq)

    def _gap_report(self, t: float) -> list[Notice]:
        if self._report_from_s is None or t < self._report_from_s:
            self._report_from_s = t
        if t - self._report_from_s < GAP_REPORT_S or not (self._gaps or self._jumps):
            return []
        gaps, jumps = sum(self._gaps.values()), sum(self._jumps.values())
        notice = Notice("gaps_bridged", f"last {t - self._report_from_s:.0f} s: {gaps} marker gap(s) bridged "
                        f"(longest {self._longest_gap_s:.2f} s), {jumps} implausible jump(s) ignored",
                        {"gaps": dict(self._gaps), "longest_gap_s": round(self._longest_gap_s, 4),
                         "jumps": dict(self._jumps), "period_s": round(t - self._report_from_s, 3)})
        self._gaps.clear()
        self._jumps.clear()
        self._longest_gap_s = 0.0
        self._report_from_s = t
        return [notice]


def _horizontal_dist(a: Vec3, b: Vec3, up: Vec3) -> float:
    d = _sub(a, b)
    return math.sqrt(max(0.0, _dot(d, d) - _dot(d, up) ** 2))
