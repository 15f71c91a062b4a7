// The wire messages this page sends (docs/protocol.md). The protocol version comes from the server's
// /wire.js, generated from server/wire.py (the protocol's one definition).
import { PROTOCOL_VERSION } from "/wire.js";

export const hello = (role, station, token) => ({ type: "hello", v: PROTOCOL_VERSION, role, station, token });
export const pair = (code, label) => ({ type: "pair", v: PROTOCOL_VERSION, code, label });
export const xrSetup = (calibrateS) => ({ type: "xr_setup", v: PROTOCOL_VERSION, mode: "calibrate", calibrate_s: calibrateS });
export const xrPose = (tS, seq, head, left, right, headForward) => ({
  type: "xr_pose", v: PROTOCOL_VERSION, t_s: tS, seq, head, left, right, ...(headForward ? { head_forward: headForward } : {}),
});

/** The websocket URL of the server that served this page (ws:// or wss:// as the page's scheme). */
export function serverUrl(loc = window.location) {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/`;
}
