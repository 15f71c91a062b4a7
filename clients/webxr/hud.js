// What the text panel says (hudModel, plain data, as the Panda3D headset's clients/headset/hud.py),
// and the panel itself: one canvas texture on a plane world-locked 2 m ahead of the patient, large
// and central, redrawn only when a line changes.
import * as THREE from "three";

export const EYES_CLOSED = "Eyes closed — stand still";
const GAME_TITLES = { stepping: "Stepping", reaching: "Reaching", weight_shift: "Weight shift", treadmill: "Treadmill", assessment: "Assessment" };
const FOOT_NAMES = { L: "LEFT", R: "RIGHT" };
const WHO_PAUSED = { therapist: "the therapist", headset: "the headset", device_lost: "device lost" };
export const COLOURS = { white: "#ffffff", grey: "#b3b8c2", hit: "#4cf266", miss: "#ff8c33", timeout: "#ffcc59",
  fault: "#ff4d4d", warning: "#ff4040", paused: "#ffd94d", finished: "#4cf266" };

export const running = (s) => !!s && s.phase !== "idle" && s.phase !== "finished";
export const eyesClosed = (s) => !!s && s.game === "assessment" && s.stage?.eyes === "closed" && s.phase === "stand";

/** {title, score, countdown, instruction, note, feedback: {text, colour}|null, banners: [{text, colour}]};
 * `tracker`: a line about this headset as the station's tracker (calibrating, not in VR), or null. */
export function hudModel(s, link, trackingLost, countdownS, tracker = null) {
  const banners = [];
  if (!link.connected) banners.push({ text: link.text || "connecting…", colour: COLOURS.white });
  if (tracker) banners.push({ text: tracker, colour: COLOURS.paused });
  const empty = { title: "", score: "", countdown: "", instruction: "", note: "", feedback: null, banners };
  if (!s) return empty;
  if (link.connected && trackingLost) banners.push({ text: "TRACKING LOST — " + ((s.paused_by || []).includes("device_lost") ? "device lost" : "no foot data"), colour: COLOURS.warning });
  if (s.phase === "paused" || (s.paused_by || []).length) {
    banners.push({ text: "PAUSED — by " + ((s.paused_by || []).map((p) => WHO_PAUSED[p] || p).join(", ") || "?"), colour: COLOURS.paused });
  } else if (s.phase === "finished") {
    banners.push({ text: s.game === "assessment" ? "Assessment finished — thank you" : `Finished — ${s.hits ?? 0} hits in ${s.trial ?? 0} trials`, colour: COLOURS.finished });
  } else if (s.phase === "idle" && link.connected) {
    banners.push({ text: "Waiting for the therapist to start a game", colour: COLOURS.grey });
  }
  if (!running(s) && s.phase !== "finished") return empty;
  if (eyesClosed(s)) return { ...empty, instruction: EYES_CLOSED };
  const trial = s.trial ?? 0, planned = s.trials_planned ?? 0;
  let score = `Hits ${s.hits ?? 0}   Trial ${planned ? Math.min(trial + 1, planned) : trial + 1}${planned ? " / " + planned : ""}`;
  let instruction = "";
  if (s.game === "assessment" && s.stage) {
    score = s.stage.index == null ? "" : `Stage ${s.stage.index + 1}${s.stage.count ? " / " + s.stage.count : ""}`;
    instruction = [s.stage.instruction, s.stage.progress == null ? null : String(s.stage.progress)].filter(Boolean).join("\n");
  }
  const notes = [];
  if (s.mirror) notes.push("mirror");
  if (s.game === "treadmill" && typeof s.belt_speed_m_s === "number") notes.push(`belt ${s.belt_speed_m_s.toFixed(2)} m/s`);
  return { title: title(s), score, countdown: countdownS == null ? "" : `${countdownS.toFixed(1)} s`, instruction,
    note: notes.join("   "), feedback: feedback(s), banners };
}

function title(s) {
  const game = GAME_TITLES[s.game] || s.game || "";
  const t = s.target;
  if (s.game === "assessment") return s.stage?.name ? `${game}: ${s.stage.name.replaceAll("_", " ")}` : game;
  if (s.phase === "home") return s.game === "weight_shift" ? `${game}: both feet down, weight back to the centre` : `${game}: stand on the home spots`;
  if (!t) return game;
  const foot = FOOT_NAMES[t.foot] || "";
  if (s.game === "weight_shift") return `${game}: lean ${t.direction || "to the target"} and hold`;
  if (s.game === "reaching") return `${game}: reach ${t.direction || ""} with the ${foot} foot`;
  return `${game}: step with the ${foot} foot`;
}

function feedback(s) {
  const last = s.last;
  if (!last || !last.outcome) return null;
  if (s.game === "assessment" && (!s.stage || s.stage.eyes || last.stage !== s.stage.name)) return null;
  let text = `Trial ${(last.trial ?? 0) + 1}: ${last.outcome.toUpperCase()}`;
  if (last.fault) text += ` (${last.fault.replaceAll("_", " ")})`;
  if (typeof last.placement_error_m === "number") text += `, ${(100 * last.placement_error_m).toFixed(1)} cm off`;
  return { text, colour: COLOURS[last.outcome] || COLOURS.white };
}

/** The main panel's lines, top to bottom: [{text, colour, size}] (size in canvas pixels). */
export function hudLines(m) {
  const lines = [];
  if (m.instruction) for (const t of m.instruction.split("\n")) lines.push({ text: t, colour: COLOURS.white, size: 84 });
  if (m.title && !m.instruction) lines.push({ text: m.title, colour: COLOURS.white, size: 72 });
  else if (m.title) lines.push({ text: m.title, colour: COLOURS.grey, size: 48 });
  if (m.feedback) lines.push({ text: m.feedback.text, colour: m.feedback.colour, size: 72 });
  for (const b of m.banners) lines.push({ text: b.text, colour: b.colour, size: 52 });
  return lines;
}

/** The status row under it (score, countdown, mode note): its own small texture, as the countdown
 * changes ten times a second and the main panel should not be uploaded again each time. */
export function statusLines(m) {
  const row = [m.score, m.countdown, m.note].filter(Boolean).join("      ");
  return row ? [{ text: row, colour: COLOURS.grey, size: 56 }] : [];
}

/** A world-locked text panel: a plane of widthM × heightM metres with a canvas texture. */
export class TextPanel {
  constructor(widthM, heightM, px = 1024) {
    this.canvas = document.createElement("canvas");
    this.canvas.width = px;
    this.canvas.height = Math.round(px * heightM / widthM);
    this.texture = new THREE.CanvasTexture(this.canvas);
    this.texture.colorSpace = THREE.SRGBColorSpace;
    this.mesh = new THREE.Mesh(new THREE.PlaneGeometry(widthM, heightM),
      new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, depthWrite: false }));
    this.mesh.renderOrder = 10;
    this.key = null;
    this.text = "";
  }

  /** Draw these lines (centred, with a dark backing behind them); nothing happens when unchanged. */
  show(lines) {
    const key = JSON.stringify(lines);
    if (key === this.key) return;
    this.key = key;
    this.text = lines.map((l) => l.text).join("\n");
    const g = this.canvas.getContext("2d");
    const w = this.canvas.width, h = this.canvas.height;
    g.clearRect(0, 0, w, h);
    this.mesh.visible = lines.length > 0;
    if (!lines.length) { this.texture.needsUpdate = true; return; }
    const gap = 14, total = lines.reduce((a, l) => a + l.size + gap, -gap);
    let y = Math.max(0, (h - total) / 2);
    const pad = Math.min(24, (h - total) / 2);
    g.fillStyle = "rgba(8, 12, 20, 0.78)";
    g.fillRect(0, Math.max(0, y - pad), w, Math.min(h, total + 2 * pad));
    g.textAlign = "center";
    g.textBaseline = "top";
    for (const l of lines) {
      g.font = `600 ${l.size}px system-ui, sans-serif`;
      g.fillStyle = l.colour;
      g.fillText(l.text, w / 2, y, w - 40);
      y += l.size + gap;
    }
    this.texture.needsUpdate = true;
  }
}
