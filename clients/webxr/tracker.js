// This headset as the station's tracker (device role): after `xr_setup` (a 2 s standing
// calibration), every XR frame sends the viewer's position and the two controllers' grip positions
// (strapped to the feet) in local-floor metres, at most 90 times a second, with the head's facing
// (the server uses it to tell a left controller strapped on the right foot).
import { xrPose, xrSetup } from "./wire.js";

const MIN_INTERVAL_S = 1 / 90;
export const CALIBRATE_S = 2;

export class PoseStream {
  constructor() {
    this.link = null;
    this.seq = 0;
    this.sent = 0;
    this.lastSentS = -Infinity;
    this.status = null; // the latest device_status kind: calibrating, calibrated, ...
    this.message = "";
  }

  /** A (re)connected device link: a new setup starts a new calibration. */
  restart(link) {
    this.link = link;
    this.status = "setup";
    link.send(xrSetup(CALIBRATE_S));
  }

  onStatus(message, align) {
    this.status = message.kind;
    this.message = message.message || "";
    const frame = message.detail?.xr_frame;
    if (message.kind === "calibrated" && frame && Array.isArray(frame.origin_m) && Array.isArray(frame.forward)) align(frame);
  }

  /** One frame's poses: `head` [x, y, z] and its horizontal facing `headForward` [x, z] (unit). */
  send(frame, refSpace, head, headForward, nowS) {
    if (!this.link || nowS - this.lastSentS < MIN_INTERVAL_S) return;
    const feet = { left: null, right: null };
    for (const source of frame.session.inputSources) {
      if (!source.gripSpace || !(source.handedness in feet)) continue;
      const pose = frame.getPose(source.gripSpace, refSpace);
      if (pose) {
        const p = pose.transform.position;
        feet[source.handedness] = [p.x, p.y, p.z];
      }
    }
    if (this.link.send(xrPose(nowS, this.seq, head, feet.left, feet.right, headForward))) {
      this.seq++;
      this.sent++;
      this.lastSentS = nowS;
      this.lastHead = head;
    }
  }
}
