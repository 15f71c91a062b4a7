// The headset page: pairing, the two links (headset, and device when this headset is the station's
// tracker), the render loop (immersive-vr in local-floor, or the same scene in the page with mouse
// look) and what the tests read (window.strideXR). docs/webxr.md describes it.
import * as THREE from "three";
import { Chime } from "./audio.js";
import { forgetCredentials, loadCredentials, saveCredentials } from "./credentials.js";
import { TextPanel, hudLines, hudModel, running, statusLines } from "./hud.js";
import { Keypad } from "./keypad.js";
import { Link, pairWith } from "./link.js";
import { P, StrideScene } from "./scene.js";
import { PoseStream } from "./tracker.js";
import { pair, serverUrl } from "./wire.js";

const url = serverUrl();
const $ = (id) => document.getElementById(id);
const stride = new StrideScene();
// The text, world-locked in the patient frame: 2 m ahead, just below eye height, the status row under it.
const hud = new TextPanel(1.4, 0.7);
hud.mesh.position.copy(P(0, 2.0, 1.5));
const status = new TextPanel(1.4, 0.1, 1024);
status.mesh.position.copy(P(0, 2.0, 1.1));
stride.frame.add(hud.mesh, status.mesh);
const chime = new Chime();
const SAMPLES = 4000;
const TRACKING_TIMEOUT_S = 0.5;

// What the page shows and measures, for people debugging it and for the browser tests.
const xr = window.strideXR = {
  mode: "flat", vrUnavailable: null, frames: 0, state: null, stateCount: 0, drawnStateCount: 0,
  link: { connected: false, text: "starting…" }, hudText: "", views: [], canvas: null, chime,
  // state arrival → the end of the frame that draws it (renderer.render returned), and frame to frame
  latency: { samples_ms: [], summary: () => summary(xr.latency.samples_ms) },
  frameIntervals: { samples_ms: [], summary: () => summary(xr.frameIntervals.samples_ms) },
  // the frame callback's own time (scene updates and renderer.render), start to end
  frameWork: { samples_ms: [], summary: () => summary(xr.frameWork.samples_ms) },
  paired: false, tracker: null, aligned: null, recentres: 0,
  toWorld: (x, y, z = 0) => stride.toWorld(x, y, z).toArray(),
  keypadKeys: () => keypad.panel.hitBoxes.map((b) => ({ key: b.userData.key, world: b.getWorldPosition(new THREE.Vector3()).toArray() })),
};

function summary(samples) {
  if (!samples.length) return { n: 0 };
  const s = [...samples].sort((a, b) => a - b), q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50_ms: q(0.5), p95_ms: q(0.95), p99_ms: q(0.99), max_ms: s[s.length - 1] };
}

// -- rendering ------------------------------------------------------------------------------------
const renderer = new THREE.WebGLRenderer({ antialias: true });
renderer.setPixelRatio(window.devicePixelRatio);
renderer.setSize(window.innerWidth, window.innerHeight);
renderer.xr.enabled = true;
renderer.xr.setReferenceSpaceType("local-floor");
$("stage").append(renderer.domElement);

// The page's own view (no headset): from just behind the patient's head, looking down at the floor,
// so a monitor or TV shows the feet, the targets and the text panel. Drag to look around.
const flatCamera = new THREE.PerspectiveCamera(75, window.innerWidth / window.innerHeight, 0.05, 100);
const look = { yaw: 0, pitch: THREE.MathUtils.degToRad(-35) };
function placeFlatCamera() {
  stride.frame.updateMatrixWorld(true);
  flatCamera.position.copy(stride.toWorld(0, -0.9, 1.7));
  flatCamera.rotation.set(look.pitch, stride.frame.rotation.y + look.yaw, 0, "YXZ");
}
window.addEventListener("resize", () => {
  flatCamera.aspect = window.innerWidth / window.innerHeight;
  flatCamera.updateProjectionMatrix();
  if (!renderer.xr.isPresenting) renderer.setSize(window.innerWidth, window.innerHeight);
});
let drag = null;
renderer.domElement.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; });
window.addEventListener("pointerup", () => { drag = null; });
window.addEventListener("pointermove", (e) => {
  if (!drag) return;
  look.yaw -= (e.clientX - drag[0]) * 0.004;
  look.pitch = THREE.MathUtils.clamp(look.pitch - (e.clientY - drag[1]) * 0.004, -1.5, 0.6);
  drag = [e.clientX, e.clientY];
});

// -- pairing and the links ----------------------------------------------------------------------------
const keypad = new Keypad(async (code) => {
  try {
    const reply = await pairWith(url, pair(code, navigator.userAgent.includes("Quest") ? "Quest" : "WebXR headset"));
    saveCredentials(reply);
    keypad.hide();
    connect(loadCredentials());
  } catch (err) {
    keypad.setMessage(err.code === "throttled" ? `too many tries: wait ${Math.ceil(err.retry_after_s || 1)} s`
      : err.code === "pairing_failed" ? "that code is wrong or expired: ask for a new one" : (err.message || "pairing failed"));
  }
});
stride.room.add(keypad.panel.group);
let keypadPlaced = false; // in VR the keypad is put 1.1 m ahead of the viewer when it appears, then stays (world-locked)

/** Put the VR keypad 1.1 m ahead of the viewer, a little below the eyes, facing them. */
function placeKeypad(p, facing) {
  const g = keypad.panel.group;
  g.position.set(p.x + 1.1 * facing[0], Math.max(0.9, p.y - 0.35), p.z + 1.1 * facing[1]);
  g.rotation.set(0, Math.atan2(-facing[0], -facing[1]), 0);
  g.updateMatrixWorld(true);
  keypadPlaced = true;
}

let headsetLink = null, deviceLink = null, poses = null;
let lastSampleKey = null, lastSampleS = 0, stateArrivedS = 0;
let pendingArrivals = []; // state arrival times (ms) not yet on a drawn frame
let lastDrawnMs = null;
let alignFromHead = false;

function connect(creds) {
  xr.paired = true;
  $("forget").hidden = false;
  headsetLink = new Link(url, "headset", creds.station, creds.headset_token, {
    onStatus: (text) => { xr.link = { connected: text === "connected", text }; $("link-status").textContent = `${creds.station}: ${text}`; },
    onRefused: (err) => unpaired(err),
    onMessage: onHeadsetMessage,
  });
  if (creds.device_token) {
    poses = new PoseStream();
    xr.tracker = poses;
    deviceLink = new Link(url, "device", creds.station, creds.device_token, {
      onRefused: (err) => unpaired(err),
      onMessage: (m) => {
        if (m.type === "welcome") poses.restart(deviceLink);
        else if (m.type === "device_status") poses.onStatus(m, (frame) => alignTo(frame.origin_m, frame.forward, "tracker calibration"));
      },
    });
  }
}

function unpaired(err) {
  headsetLink?.stop();
  deviceLink?.stop();
  headsetLink = deviceLink = poses = null;
  xr.tracker = null;
  xr.paired = false;
  xr.state = null;
  stride.setState(null, 0);
  forgetCredentials();
  $("forget").hidden = true;
  xr.link = { connected: false, text: "not paired" };
  $("link-status").textContent = "not paired";
  keypadPlaced = false;
  keypad.show(err ? `${err.code === "revoked" ? "this headset was un-paired" : "the station refused this headset"}: enter a new code` : "");
}
$("forget").addEventListener("click", () => unpaired(null));

function onHeadsetMessage(m, arrivedMs) {
  if (m.type === "state") {
    xr.state = m;
    xr.stateCount++;
    stateArrivedS = arrivedMs / 1000;
    stride.setState(m, stateArrivedS);
    pendingArrivals.push(arrivedMs);
    const sample = JSON.stringify([m.session_id, running(m), m.foot_seq, m.cursor]);
    if (sample !== lastSampleKey) { lastSampleKey = sample; lastSampleS = stateArrivedS; }
  } else if (m.type === "game_event") {
    const ev = m.event || {};
    if (stride.onEvent(ev, arrivedMs / 1000)) chime.play();
  } else if (m.type === "align") {
    alignFromHead = !poses; // the tracker's own calibration places the frame when this headset is the tracker
  }
}

/** Place the game's frame: `originM` [x, 0, z] on the local-floor, `forward` [x, z]. */
function alignTo(originM, forward, why) {
  const len = Math.hypot(forward[0], forward[1]) || 1, unit = [forward[0] / len, forward[1] / len];
  stride.align([originM[0], originM[2]], unit);
  xr.aligned = { origin_m: [originM[0], 0, originM[2]], forward: unit, by: why };
}

/** What the patient must know when this headset is the tracker: poses go out only in VR, and the
 * standing calibration needs them still. */
function trackerBanner(presenting) {
  if (!poses) return null;
  if (!presenting) return "Enter VR: this headset is the station's tracker";
  if (poses.status === "setup" || poses.status === "calibrating") return "Stand still on both feet: calibrating";
  if (poses.status === "calibration_failed") return `Calibration failed: ${poses.message}`;
  return null;
}

// -- VR or not --------------------------------------------------------------------------------------
async function vrAvailability() {
  if (!window.isSecureContext) return "VR is unavailable: this page is not a secure context. Open it over https:// (the server's --tls-cert) or as localhost (adb reverse on a Quest); see docs/webxr.md.";
  if (!navigator.xr) return "VR is unavailable: this browser has no WebXR. Use the headset's browser (Meta Quest Browser, Pico Browser) or Chrome with a PC VR runtime.";
  try {
    if (!(await navigator.xr.isSessionSupported("immersive-vr"))) return "VR is unavailable: no VR headset or runtime found (immersive-vr not supported).";
  } catch (err) {
    return `VR is unavailable: ${err.message || err}`;
  }
  return null;
}

async function enterVr() {
  chime.unlock();
  try {
    const session = await navigator.xr.requestSession("immersive-vr", { requiredFeatures: ["local-floor"] });
    session.addEventListener("end", () => { xr.mode = "flat"; $("enter-vr").hidden = false; keypadPlaced = false; });
    await renderer.xr.setSession(session);
    renderer.xr.getReferenceSpace().addEventListener("reset", onRecentre);
    xr.mode = "xr";
    $("enter-vr").hidden = true;
  } catch (err) {
    $("vr-status").textContent = `could not enter VR: ${err.message || err}`;
  }
}
$("enter-vr").addEventListener("click", enterVr);

/** The headset recentred (the local-floor space was reset: its origin and facing moved in the room):
 * a frame calibrated in the old space is wrong now, so the tracker calibrates again, standing. */
function onRecentre() {
  xr.recentres++;
  if (poses?.link) poses.restart(poses.link);
}

// Controller rays select keypad keys in VR.
const raycaster = new THREE.Raycaster();
for (const i of [0, 1]) {
  const controller = renderer.xr.getController(i);
  const ray = new THREE.Line(new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(), new THREE.Vector3(0, 0, -3)]),
    new THREE.LineBasicMaterial({ color: 0xffffff }));
  controller.add(ray);
  controller.userData.ray = ray;
  stride.scene.add(controller);
  controller.addEventListener("select", () => {
    raycaster.setFromXRController(controller);
    const box = keypad.panel.keyAt(raycaster);
    if (box) keypad.press(box.userData.key);
  });
}

// -- the frame loop -----------------------------------------------------------------------------------
const viewMatrices = (cams, fb) => cams.map((c) => ({
  projection: c.projectionMatrix.elements.slice(), view: c.matrixWorldInverse.elements.slice(),
  viewport: c.viewport ? [c.viewport.x, c.viewport.y, c.viewport.z, c.viewport.w] : [0, 0, fb.x, fb.y],
}));

function onFrame(timeMs, frame) {
  const startMs = performance.now(), nowS = startMs / 1000;
  const presenting = renderer.xr.isPresenting;
  if (presenting && frame) {
    const ref = renderer.xr.getReferenceSpace();
    const viewer = frame.getViewerPose(ref);
    if (viewer) {
      const p = viewer.transform.position, q = viewer.transform.orientation;
      const f = new THREE.Vector3(0, 0, -1).applyQuaternion(new THREE.Quaternion(q.x, q.y, q.z, q.w));
      const flat = Math.hypot(f.x, f.z), facing = flat > 1e-3 ? [f.x / flat, f.z / flat] : null;
      if (keypad.visible && !keypadPlaced && facing) placeKeypad(p, facing);
      if (alignFromHead && facing) {
        alignTo([p.x, 0, p.z], facing, "head (align)");
        alignFromHead = false;
      }
      poses?.send(frame, ref, [p.x, p.y, p.z], facing, nowS);
    }
  }
  stride.tick(nowS);
  const s = xr.state;
  // tracking is lost while a game runs and the server says device_lost, or no new sample came for 0.5 s
  const lost = running(s) && ((s.paused_by || []).includes("device_lost") || nowS - lastSampleS > TRACKING_TIMEOUT_S);
  let countdown = s?.stage?.time_left_s ?? s?.time_left_s;
  if (typeof countdown === "number" && s.phase !== "paused") countdown = Math.max(0, countdown - (nowS - stateArrivedS));
  const model = hudModel(s, xr.link, lost, typeof countdown === "number" ? countdown : null, trackerBanner(presenting));
  hud.show(hudLines(model));
  status.show(statusLines(model));
  xr.hudText = [hud.text, status.text].filter(Boolean).join("\n");
  keypad.panel.group.visible = keypad.visible && presenting;
  if (keypad.panel.group.visible) hud.mesh.visible = status.mesh.visible = false; // the keypad is the one thing to look at
  for (const i of [0, 1]) renderer.xr.getController(i).userData.ray.visible = keypad.visible;
  if (!presenting) placeFlatCamera();
  renderer.render(stride.scene, flatCamera);
  const drawnMs = performance.now();
  for (const a of pendingArrivals) xr.latency.samples_ms.push(drawnMs - a);
  if (lastDrawnMs !== null) xr.frameIntervals.samples_ms.push(drawnMs - lastDrawnMs);
  xr.frameWork.samples_ms.push(drawnMs - startMs);
  lastDrawnMs = drawnMs;
  for (const k of ["latency", "frameIntervals", "frameWork"])
    if (xr[k].samples_ms.length > SAMPLES) xr[k].samples_ms.splice(0, xr[k].samples_ms.length - SAMPLES);
  pendingArrivals = [];
  xr.drawnStateCount = xr.stateCount;
  xr.drawnFeet = structuredClone(stride.drawnFeet);
  xr.frames++;
  const fb = renderer.getDrawingBufferSize(new THREE.Vector2());
  xr.views = presenting ? viewMatrices(renderer.xr.getCamera().cameras, fb) : viewMatrices([flatCamera], fb);
  const rect = renderer.domElement.getBoundingClientRect();
  const gl = renderer.getContext();
  xr.canvas = { width: gl.drawingBufferWidth, height: gl.drawingBufferHeight, rect: [rect.left, rect.top, rect.width, rect.height] };
}

async function main() {
  placeFlatCamera();
  renderer.setAnimationLoop(onFrame);
  const why = await vrAvailability();
  xr.vrUnavailable = why;
  $("vr-status").textContent = why || "";
  $("enter-vr").hidden = !!why;
  const creds = loadCredentials();
  if (creds) connect(creds); else unpaired(null);
}
main();
