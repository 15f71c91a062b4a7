"""A WebXR headset as the station's tracker: its head and two foot controllers -> foot and balance events.

A clinic with only a standalone headset straps its two controllers to the patient's feet (or
ankles); the page streams the viewer's and the controllers' positions in the WebXR
``local-floor`` space (metres, +y up, floor at y = 0). This adapter feeds the controllers through
the motion-tracker path (``server.adapters.tracker``) as one ankle marker per foot, in metres with
+y up, so they get the same standing calibration, jump rejection and gap handling as a lab tracker's
markers, and turns the head into a centre-of-mass proxy for the weight-shift cursor.

Estimates, and why:

* **Patient frame**: measured while the patient stands still on both feet for ``calibrate_s``
  (the tracker's calibration): origin midway between the controllers, on the floor; forward
  perpendicular to the line between them. The headset may also send the head's facing
  (``head_forward``): when the head faced, on average over the stand, more than 120 degrees away
  from the frame's forward, the controllers are on the wrong feet, so they are swapped
  (``controllers_swapped``) and the calibration starts again, rather than the patient seeming to
  face backwards. A head turned aside (60-120 degrees) decides nothing.
* **Centre of mass**: standing sway is close to an inverted pendulum pivoting at the ankles, so the
  centre of mass moves horizontally by the head's movement times (COM height - ankle height) /
  (head height - ankle height). With the body-segment proportions of Winter (2009, after Drillis
  and Contini): eyes at 0.936, centre of mass at 0.553 and ankles at 0.039 of stature, a ratio of
  0.573 whatever the patient's height; the head height measured at calibration gives the heights
  reported (stature = eye height / 0.936). The cursor is that point in the patient frame
  (source ``com_proxy``, like a tracker's pelvis marker). It overstates the centre of mass's
  movement when the patient bends at the hips or turns the head sideways without moving the
  body: a proxy for steering a cursor. Like a pelvis marker's, it is a sway measure only where
  an assessment has nothing better (no plate or mat), stored under the proxy's source and never
  compared with a measured centre of pressure (``scoring/assessment.py``).
* The calibrated notice's ``detail`` adds ``xr_frame``: ``origin_m`` [x, 0, z] and ``forward``
  [fx, fz] in local-floor coordinates, so the page can place the game's patient frame (+y forward,
  +x right) in its room, and ``head_height_m``, ``com_height_m``, ``com_scale``.
"""

from __future__ import annotations

from collections import deque

from games.events import BalanceEvent, FootEvent
from server.adapters.frames import AdapterOutput, MarkerFrame, Notice, TrackerSetup, Vec2, Vec3, XrPose, XrSetup
from server.adapters.tracker import TrackerAdapter

EYE_HEIGHT_SHARE = 0.936  # of stature (Winter 2009, fig. 4.1)
COM_HEIGHT_SHARE = 0.553
ANKLE_HEIGHT_SHARE = 0.039
COM_SCALE = (COM_HEIGHT_SHARE - ANKLE_HEIGHT_SHARE) / (EYE_HEIGHT_SHARE - ANKLE_HEIGHT_SHARE)
MARKER = "ankle"  # a controller strapped to the foot or ankle is that foot's one marker
# The head faces more than 120 degrees away from the frame's forward: the controllers are on the
# wrong feet. Between 60 and 120 degrees (the patient looked aside) nothing is decided.
SWAPPED_BELOW = -0.5


class XrAdapter:
    """One headset's calibration and tracks; ``on_pose`` once per frame, in order."""

    def __init__(self, setup: XrSetup) -> None:
        self.setup = setup
        self.swapped = False  # the left controller is on the right foot (found at calibration)
        self._start()

    def _start(self) -> None:
        self.tracker = TrackerAdapter(TrackerSetup("m", "+y", "calibrate", calibrate_s=self.setup.calibrate_s,
                                                   max_gap_s=self.setup.max_gap_s))
        # head samples while calibrating: (t_s, position, facing), the last calibrate_s
        self._heads: deque[tuple[float, Vec3, Vec2 | None]] = deque()
        self.head_height_m: float | None = None

    @property
    def calibrated(self) -> bool:
        return self.tracker.calibrated

    def recalibrate(self) -> None:
        """Measure the patient frame afresh (the therapist pressed *align*)."""
        self.swapped = False
        self._start()

    def on_pose(self, pose: XrPose) -> AdapterOutput:
        left, right = (pose.right, pose.left) if self.swapped else (pose.left, pose.right)
        frame = MarkerFrame(pose.t_s, pose.seq, {"L": {MARKER: left}, "R": {MARKER: right}})
        was_calibrated = self.tracker.calibrated
        if not was_calibrated and pose.head is not None:
            self._remember_head(pose)
        out = self.tracker.on_markers(frame)
        notices = out.notices
        if not was_calibrated and self.tracker.calibrated:
            notices = self._calibrated(notices)
            if not self.tracker.calibrated:  # swapped: starting over
                return AdapterOutput(notices=notices, t_s=pose.t_s)
        events: list[FootEvent | BalanceEvent] = list(out.events)
        pf = self.tracker.frame
        if pf is not None and pose.head is not None:
            x, y, _ = pf.to_patient(pose.head)
            events.append(BalanceEvent(COM_SCALE * x, COM_SCALE * y, None, None, "com_proxy", pose.t_s, pose.seq))
        return AdapterOutput(events, out.markers, notices, pose.t_s)

    def _remember_head(self, pose: XrPose) -> None:
        assert pose.head is not None
        heads = self._heads
        heads.append((pose.t_s, pose.head, pose.head_forward))
        while heads and (heads[0][0] < pose.t_s - self.setup.calibrate_s or heads[0][0] > pose.t_s):
            heads.popleft()

    def _calibrated(self, notices: list[Notice]) -> list[Notice]:
        """The tracker just fixed the frame: check it against the head's facing, add the XR detail."""
        pf = self.tracker.frame
        assert pf is not None
        facings = [f for _, _, f in self._heads if f is not None]
        agreement = sum(f[0] * pf.forward[0] + f[1] * pf.forward[2] for f in facings) / max(1, len(facings))
        if agreement < SWAPPED_BELOW:
            swapped = self.swapped = not self.swapped
            self._start()
            return [Notice("controllers_swapped", "the left controller is on the right foot (or the other way "
                           "round): each is now used as the foot it is on; stand still again to calibrate",
                           {"swapped": swapped})]
        out = []
        for notice in notices:
            if notice.kind == "calibrated":
                notice = Notice(notice.kind, notice.message, {**notice.detail, **self._frame_detail()})
            out.append(notice)
        return out

    def _frame_detail(self) -> dict[str, object]:
        pf = self.tracker.frame
        assert pf is not None
        detail: dict[str, object] = {
            "xr_frame": {"origin_m": [round(pf.origin[0], 4), 0.0, round(pf.origin[2], 4)],
                         "forward": [round(pf.forward[0], 6), round(pf.forward[2], 6)]},
            "com_scale": round(COM_SCALE, 4),
            "controllers_swapped": self.swapped,
        }
        if self._heads:
            head_h = sum(p[1] for _, p, _ in self._heads) / len(self._heads)
            self.head_height_m = head_h
            stature = head_h / EYE_HEIGHT_SHARE
            detail["head_height_m"] = round(head_h, 3)
            detail["com_height_m"] = round(COM_HEIGHT_SHARE * stature, 3)
        return detail


__all__ = ["COM_SCALE", "XrAdapter"]
