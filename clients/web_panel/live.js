// The live top-down view on a <canvas>: the feet, the home spots, the target, where each trial
// ended (hit or not), and for weight shift the cursor, the centre and the limits of stability.
// Training modes (docs/clinical-modes.md): what is hidden from the patient is drawn dashed (the
// therapist still sees it), mirror mode's real feet as grey outlines, a neglect cue as a halo
// round the affected foot, and the treadmill's scrolling targets with their states.
// Patient frame as in docs/protocol.md: +y forward (up on screen), +x to the patient's right.

const COLOURS = {
  grid: "#e3e8ef", axis: "#b8c2d0", text: "#334155", home: "#94a3b8",
  L: "#2563eb", R: "#d97706", target: "#f59e0b", dwell: "#16a34a",
  hit: "#16a34a", miss: "#dc2626", los: "#7c3aed", cursor: "#0f172a",
  hidden: "#64748b", real: "#6b7280", cue: "#eab308", coming: "#f59e0b", missed: "#dc2626",
};
const VIEW = {
  stepping: { x: [-0.85, 0.85], y: [-0.7, 1.0], grid: 0.1 },
  reaching: { x: [-0.85, 0.85], y: [-0.7, 1.0], grid: 0.1 },
  weight_shift: { x: [-0.3, 0.3], y: [-0.22, 0.32], grid: 0.05 },
  treadmill: { x: [-0.7, 0.7], y: [-0.6, 1.9], grid: 0.1 },
  assessment: { x: [-0.85, 0.85], y: [-0.7, 1.0], grid: 0.1 },
};
const TREADMILL_AHEAD_M = 3; // targets further ahead than this do not widen the view
const FOOT_HALF_WIDTH_M = 0.045;
const FOOT_HALF_LENGTH_M = 0.11;

export class LiveView {
  constructor(canvas, summary) {
    this.canvas = canvas;
    this.summary = summary;
    this.state = null;
    this.marks = [];
    this.draws = 0;
    this.pending = false;
    new ResizeObserver(() => this.schedule()).observe(canvas);
    this.schedule();
  }

  /** A new `state` push. */
  setState(state) {
    this.state = state;
    this.schedule();
  }

  /** A committed trial: mark where it ended (the landing point, or the target for weight shift). */
  addTrial(trial) {
    const x = trial.landing_x_m ?? trial.target_x_m;
    const y = trial.landing_y_m ?? trial.target_y_m;
    if (x === null || x === undefined) return;
    this.marks.push({ x, y, hit: trial.outcome === "hit" });
    if (this.marks.length > 200) this.marks.shift();
    this.schedule();
  }

  reset() {
    this.marks = [];
    this.state = null;
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const canvas = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const g = canvas.getContext("2d");
    const s = this.state || {};
    const game = s.game || "stepping";
    const view = this.extent(game, s);
    const scale = Math.min(w / (view.x[1] - view.x[0]), h / (view.y[1] - view.y[0]));
    const cx = w / 2 - scale * (view.x[0] + view.x[1]) / 2;
    const cy = h / 2 + scale * (view.y[0] + view.y[1]) / 2;
    const X = (x) => cx + x * scale;
    const Y = (y) => cy - y * scale;
    const px = dpr;

    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, w, h);
    this.grid(g, view, X, Y, w, h, px);

    const shifting = game === "weight_shift";
    if (shifting) { // the feet only stand here: draw them faintly under the cursor and the limits
      g.globalAlpha = 0.25;
      for (const [side, foot] of Object.entries(s.feet || {})) this.foot(g, side, foot, X, Y, scale, px);
      g.globalAlpha = 1;
      if (s.los) this.stability(g, s, X, Y, scale, px);
    }
    for (const [side, home] of Object.entries(s.home || {})) {
      g.setLineDash([4 * px, 4 * px]);
      circle(g, X(home.x_m), Y(home.y_m), 0.05 * scale, null, COLOURS.home, px);
      g.setLineDash([]);
      label(g, side, X(home.x_m), Y(home.y_m) + (0.05 * scale + 12 * px), COLOURS.home, px);
    }
    for (const mark of this.marks) {
      if (mark.hit) circle(g, X(mark.x), Y(mark.y), 5 * px, COLOURS.hit, null, px);
      else cross(g, X(mark.x), Y(mark.y), 5 * px, COLOURS.miss, px);
    }
    const targets = Array.isArray(s.targets) ? s.targets : [];
    for (const t of targets) this.beltTarget(g, t, s.target, X, Y, scale, px);
    if (s.target && !targets.length) {
      const t = s.target;
      const colour = ["dwell", "hold", "touch"].includes(s.phase) ? COLOURS.dwell : COLOURS.target;
      if (t.hidden) { // hidden from the patient: outline only, dashed
        g.setLineDash([6 * px, 4 * px]);
        circle(g, X(t.x_m), Y(t.y_m), t.radius_m * scale, null, COLOURS.hidden, 2 * px);
        g.setLineDash([]);
      } else {
        g.globalAlpha = 0.25;
        circle(g, X(t.x_m), Y(t.y_m), t.radius_m * scale, colour, null, px);
        g.globalAlpha = 1;
        circle(g, X(t.x_m), Y(t.y_m), t.radius_m * scale, null, colour, 2 * px);
      }
      const words = `${t.foot ? `${t.foot} foot` : ""}${t.hidden ? " (hidden)" : ""}`.trim();
      if (words) label(g, words, X(t.x_m), Y(t.y_m) - t.radius_m * scale - 6 * px, t.hidden ? COLOURS.hidden : COLOURS.text, px);
    }
    for (const [side, foot] of Object.entries(s.real_feet || {})) this.realFoot(g, side, foot, X, Y, scale, px);
    if (s.cueing && s.cueing.active && s.feet && s.feet[s.cueing.side]) {
      const foot = s.feet[s.cueing.side];
      g.globalAlpha = 0.35;
      circle(g, X(foot.x_m), Y(foot.y_m), (FOOT_HALF_LENGTH_M + 0.05) * scale, COLOURS.cue, null, px);
      g.globalAlpha = 1;
      circle(g, X(foot.x_m), Y(foot.y_m), (FOOT_HALF_LENGTH_M + 0.05) * scale, null, COLOURS.cue, 3 * px);
      label(g, "cue", X(foot.x_m), Y(foot.y_m) - (FOOT_HALF_LENGTH_M + 0.05) * scale - 6 * px, "#a16207", px, true);
    }
    if (!shifting) for (const [side, foot] of Object.entries(s.feet || {})) this.foot(g, side, foot, X, Y, scale, px);
    if (s.touch) cross(g, X(s.touch.x_m), Y(s.touch.y_m), 6 * px, s.touch.inside ? COLOURS.hit : COLOURS.miss, px);
    if (s.cursor) {
      circle(g, X(s.cursor.x_m), Y(s.cursor.y_m), 7 * px, COLOURS.cursor, "#ffffff", 2 * px);
    }
    this.legend(g, s, view, scale, w, h, px);

    this.draws += 1;
    canvas.dataset.draws = String(this.draws);
    canvas.dataset.marks = String(this.marks.length);
    canvas.dataset.phase = s.phase || "idle";
    canvas.dataset.target = s.target ? `${s.target.x_m},${s.target.y_m},${s.target.radius_m}` : "";
    canvas.dataset.cursor = s.cursor ? `${s.cursor.x_m},${s.cursor.y_m}` : "";
    canvas.dataset.los = game === "weight_shift" && s.los ? "drawn" : "";
    canvas.dataset.mirror = s.mirror ? s.mirror.shown : "";
    canvas.dataset.realFeet = String(Object.keys(s.real_feet || {}).length);
    canvas.dataset.hidden = [s.target && s.target.hidden ? "target" : "",
      ...Object.entries(s.feet || {}).filter(([, f]) => f && f.hidden).map(([side]) => `foot-${side}`)]
      .filter(Boolean).join(" ");
    canvas.dataset.cueing = s.cueing ? (s.cueing.active ? "active" : "on") : "";
    canvas.dataset.targets = String(targets.length);
    canvas.dataset.stage = s.stage ? s.stage.name || "" : "";
    if (this.summary) this.summary.textContent = describe(s, this.marks);
  }

  /** The default view of the game, widened to keep the target in sight. */
  extent(game, s) {
    const base = VIEW[game] || VIEW.stepping;
    const view = { x: [...base.x], y: [...base.y], grid: base.grid };
    const shown = Array.isArray(s.targets) && s.targets.length
      ? s.targets.filter((t) => t.y_m <= TREADMILL_AHEAD_M && t.y_m >= -1) : s.target ? [s.target] : [];
    for (const t of shown) {
      const r = t.radius_m || 0;
      view.x = [Math.min(view.x[0], t.x_m - r - 0.05), Math.max(view.x[1], t.x_m + r + 0.05)];
      view.y = [Math.min(view.y[0], t.y_m - r - 0.05), Math.max(view.y[1], t.y_m + r + 0.05)];
    }
    return view;
  }

  grid(g, view, X, Y, w, h, px) {
    const step = view.grid;
    g.lineWidth = px;
    for (let x = Math.ceil(view.x[0] / step) * step - 2 * step; x <= view.x[1] + 2 * step; x += step) {
      g.strokeStyle = Math.abs(x) < 1e-9 ? COLOURS.axis : COLOURS.grid;
      line(g, X(x), 0, X(x), h);
    }
    for (let y = Math.ceil(view.y[0] / step) * step - 2 * step; y <= view.y[1] + 2 * step; y += step) {
      g.strokeStyle = Math.abs(y) < 1e-9 ? COLOURS.axis : COLOURS.grid;
      line(g, 0, Y(y), w, Y(y));
    }
    label(g, "forward ↑", w / 2, 16 * px, COLOURS.text, px);
    label(g, "left", 22 * px, h / 2 - 6 * px, COLOURS.text, px);
    label(g, "right", w - 24 * px, h / 2 - 6 * px, COLOURS.text, px);
  }

  stability(g, s, X, Y, scale, px) {
    const los = s.los;
    g.strokeStyle = COLOURS.los;
    g.lineWidth = 2 * px;
    const cx = los.x_m || 0; // around the patient's quiet-standing centre when the therapist set one
    const cy = los.y_m || 0;
    g.beginPath(); // forward half-ellipse, then the backward one
    g.ellipse(X(cx), Y(cy), los.side_m * scale, los.forward_m * scale, 0, Math.PI, 2 * Math.PI);
    g.ellipse(X(cx), Y(cy), los.side_m * scale, los.backward_m * scale, 0, 0, Math.PI);
    g.closePath();
    g.stroke();
    label(g, "limits of stability", X(cx), Y(cy + los.forward_m) - 6 * px, COLOURS.los, px);
    if (s.centre) {
      g.setLineDash([3 * px, 3 * px]);
      circle(g, X(s.centre.x_m), Y(s.centre.y_m), s.centre.radius_m * scale, null, COLOURS.home, px);
      g.setLineDash([]);
    }
  }

  /** A treadmill target: orange while coming, green once hit, red when missed; the next due is bold. */
  beltTarget(g, t, due, X, Y, scale, px) {
    const colour = { hit: COLOURS.hit, missed: COLOURS.missed }[t.state] || COLOURS.coming;
    const next = due && due.index === t.index;
    if (t.hidden) g.setLineDash([6 * px, 4 * px]);
    else {
      g.globalAlpha = t.state === "coming" ? 0.2 : 0.35;
      circle(g, X(t.x_m), Y(t.y_m), t.radius_m * scale, colour, null, px);
      g.globalAlpha = 1;
    }
    circle(g, X(t.x_m), Y(t.y_m), t.radius_m * scale, null, t.hidden ? COLOURS.hidden : colour, (next ? 3 : 1.5) * px);
    g.setLineDash([]);
    const words = `${t.foot || ""}${t.state && t.state !== "coming" ? ` ${t.state}` : ""}`.trim();
    if (words) label(g, words, X(t.x_m), Y(t.y_m) + 4 * px, COLOURS.text, px, next);
  }

  /** Mirror mode: where the affected foot really is (its avatar shows the mirrored sound foot). */
  realFoot(g, side, foot, X, Y, scale, px) {
    g.beginPath();
    g.ellipse(X(foot.x_m), Y(foot.y_m), FOOT_HALF_WIDTH_M * scale, FOOT_HALF_LENGTH_M * scale, 0, 0, 2 * Math.PI);
    g.strokeStyle = COLOURS.real;
    g.lineWidth = 2 * px;
    g.stroke();
    label(g, `real ${side}`, X(foot.x_m), Y(foot.y_m) - FOOT_HALF_LENGTH_M * scale - 6 * px, COLOURS.real, px);
  }

  foot(g, side, foot, X, Y, scale, px) {
    const colour = COLOURS[side] || COLOURS.text;
    const x = X(foot.x_m);
    const y = Y(foot.y_m);
    g.beginPath();
    g.ellipse(x, y, FOOT_HALF_WIDTH_M * scale, FOOT_HALF_LENGTH_M * scale, 0, 0, 2 * Math.PI);
    if (foot.hidden) { // hidden from the patient: a dashed outline
      g.setLineDash([6 * px, 4 * px]);
      g.strokeStyle = COLOURS.hidden;
      g.lineWidth = 2 * px;
      g.stroke();
      g.setLineDash([]);
      label(g, `${side} (hidden)`, x, y + 4 * px, COLOURS.hidden, px, true);
      return;
    }
    if (foot.planted) {
      g.fillStyle = colour;
      g.fill();
    } else {
      g.fillStyle = "rgba(148, 163, 184, 0.35)";
      g.fill();
      g.setLineDash([5 * px, 3 * px]);
      g.strokeStyle = colour;
      g.lineWidth = 2 * px;
      g.stroke();
      g.setLineDash([]);
    }
    label(g, side, x, y + 4 * px, foot.planted ? "#ffffff" : colour, px, true);
    if (!foot.planted && foot.z_m !== undefined) {
      label(g, `${Math.round(foot.z_m * 100)} cm up`, x, y + FOOT_HALF_LENGTH_M * scale + 14 * px, colour, px);
    }
  }

  legend(g, s, view, scale, w, h, px) {
    const bar = view.grid * scale; // scale bar of one grid step
    const x0 = 12 * px;
    const y0 = h - 14 * px;
    g.strokeStyle = COLOURS.text;
    g.lineWidth = 2 * px;
    line(g, x0, y0, x0 + bar, y0);
    line(g, x0, y0 - 4 * px, x0, y0 + 4 * px);
    line(g, x0 + bar, y0 - 4 * px, x0 + bar, y0 + 4 * px);
    g.textAlign = "left";
    g.fillStyle = COLOURS.text;
    g.font = `${12 * px}px system-ui, sans-serif`;
    g.fillText(`${Math.round(view.grid * 100)} cm`, x0 + bar + 6 * px, y0 + 4 * px);
    if (s.phase && !["target", "dwell", "hold", "touch"].includes(s.phase)) {
      g.textAlign = "right";
      g.font = `bold ${14 * px}px system-ui, sans-serif`;
      const words = s.phase === "paused" && s.paused_by && s.paused_by.length
        ? `paused: ${s.paused_by.join(", ").replace(/_/g, " ")}` : s.phase;
      g.fillText(words, w - 12 * px, h - 10 * px);
    }
  }
}

function describe(s, marks) {
  if (!s.game) return "No game on this station.";
  const parts = [`${s.game}, phase ${s.phase}`, `trial ${s.trial ?? 0}`];
  if (s.target) parts.push(`target at x ${s.target.x_m} m, y ${s.target.y_m} m${s.target.hidden ? " (hidden from the patient)" : ""}`);
  if (Array.isArray(s.targets)) parts.push(`${s.targets.length} treadmill targets on screen`);
  if (s.mirror) parts.push(`mirror mode: the ${s.mirror.source} foot drives the ${s.mirror.shown} avatar`);
  if (s.cueing) parts.push(`neglect cueing, ${s.cueing.cues ?? 0} cues${s.cueing.active ? ", cue active" : ""}`);
  if (s.stage) parts.push(`assessment stage ${s.stage.name}`);
  parts.push(`${marks.filter((m) => m.hit).length} hits marked`);
  return parts.join("; ");
}

function line(g, x1, y1, x2, y2) {
  g.beginPath();
  g.moveTo(x1, y1);
  g.lineTo(x2, y2);
  g.stroke();
}

function circle(g, x, y, r, fill, stroke, width) {
  g.beginPath();
  g.arc(x, y, Math.max(0, r), 0, 2 * Math.PI);
  if (fill) {
    g.fillStyle = fill;
    g.fill();
  }
  if (stroke) {
    g.strokeStyle = stroke;
    g.lineWidth = width;
    g.stroke();
  }
}

function cross(g, x, y, r, colour, px) {
  g.strokeStyle = colour;
  g.lineWidth = 2 * px;
  line(g, x - r, y - r, x + r, y + r);
  line(g, x - r, y + r, x + r, y - r);
}

function label(g, text, x, y, colour, px, bold = false) {
  g.fillStyle = colour;
  g.textAlign = "center";
  g.font = `${bold ? "bold " : ""}${12 * px}px system-ui, sans-serif`;
  g.fillText(text, x, y);
}
