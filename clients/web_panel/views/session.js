// Run a session: pick station, patient and game (with a few key settings and, for stepping, the
// training modes), start, pause, stop; watch the station's live state (canvas, trial count, success
// rate, difficulty, modes, assessment stage, device notices, game events). When the patient has a
// stored plan (get_plan), the form is prefilled from it for the chosen game.

import { $, $$, act, clearError, el, fmt, pct, showError } from "../dom.js";
import { LiveView } from "../live.js";
import {
  ASSESSMENT_STAGES, DIRECTIONS, GAME_LABELS, PARAMETERS, STAGE_LABELS, STANDARD_STAGES, START_SETTINGS, VISION_LABELS,
  describeDifficulty, formatParameter, labelOf,
} from "../specs.js";
import { formatValue } from "../units.js";
import { difficultyPanel } from "./difficulty.js";
import { headsetsPanel } from "./headsets.js";
import { devicesText } from "./stations.js";

const STATION_KEY = "stridevr.station";
const MAX_NOTICES = 8;
const MAX_EVENTS = 12;

export function sessionView(ctx) {
  const error = $("#session-error");
  const status = $("#session-status");
  const live = new LiveView($("#live-canvas"), $("#live-summary"));
  const watched = { station: sessionStorage.getItem(STATION_KEY) || null, sessionId: null, state: null };
  const difficulty = difficultyPanel(ctx, () => watched, showWho);
  const headsets = headsetsPanel(ctx);
  // A session's metrics are stored (and announced) just before it ends: say both together.
  let metricsStored = { sessionId: null, text: "" };

  // -- choices -------------------------------------------------------------------------------

  function fillStations() {
    const select = $("#session-station");
    const names = ctx.stations.map((s) => s.station);
    if (!watched.station && names.length) watched.station = names[0];
    if (watched.station && !names.includes(watched.station)) names.unshift(watched.station);
    const same = select.options.length === names.length && names.every((n, i) => select.options[i].value === n);
    if (!same) select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    select.value = watched.station || "";
    showDevices();
  }

  /** What the watched station's devices are, so a game they cannot feed is not chosen. */
  function showDevices() {
    const s = ctx.stations.find((x) => x.station === watched.station);
    $("#session-devices").textContent = s ? `Devices: ${devicesText(s)}` : "";
  }

  function fillPatients(chosen) {
    const select = $("#session-patient");
    const keep = chosen ?? select.value;
    select.replaceChildren(...ctx.patients.map((p) => el("option", { value: p.id },
      `${p.code} (affected ${p.affected_side === "L" ? "left" : "right"})`)));
    if (keep && ctx.patients.some((p) => String(p.id) === String(keep))) select.value = String(keep);
  }

  function showGameSettings() {
    const game = $("#session-game").value;
    for (const block of $$("#start-form [data-game]")) block.hidden = !block.dataset.game.split(" ").includes(game);
    $("#setting-directions").replaceChildren(el("legend", {}, "Directions"), ...DIRECTIONS[game].map((d) =>
      el("label", { class: "check" },
        el("input", { type: "checkbox", value: d, checked: true, id: `direction-${d}` }), ` ${d}`)));
    $("#setting-stages").replaceChildren(el("legend", {}, "Stages"), ...ASSESSMENT_STAGES.map((name) =>
      el("label", { class: "check" },
        el("input", { type: "checkbox", value: name, checked: !STANDARD_STAGES.includes(name), id: `stage-${name}` }),
        ` ${STAGE_LABELS[name]}`)));
    showDependent();
  }

  /** Fields that only matter while another says so (neglect cueing on; the target vanishing). */
  const holds = (when) => {
    const input = $(`#${when.id}`);
    return when.checked ? input.checked : input.value === when.value;
  };
  function showDependent() {
    for (const block of $$("#start-form [data-when]")) {
      const [id, value] = block.dataset.when.split("=");
      block.hidden = !holds(value === undefined ? { id, checked: true } : { id, value });
    }
    $("#mode-conflict").hidden = !($("#setting-mirror").checked && $("#setting-neglect").checked);
  }

  // The form's defaults (index.html), to go back to when a plan no longer applies.
  const defaults = new Map($$("#start-form input, #start-form select").map((n) =>
    [n.id, n.type === "checkbox" ? n.checked : n.type === "number" ? n.defaultValue : n.value]));
  function resetForm() {
    for (const [id, value] of defaults) {
      const node = id && $(`#${id}`);
      if (!node || id === "session-station" || id === "session-patient" || id === "session-game") continue;
      if (node.type === "checkbox") node.checked = value;
      else node.value = value;
    }
    showGameSettings();
  }

  // -- the patient's plan (get_plan): prefill the form for the chosen game ------------------------

  const plans = new Map(); // patient id -> stored plan, or null when none
  const plan = { key: "", entry: null, extra: {} }; // what was applied to the form

  async function refreshPlan(force = false) {
    const patientId = Number($("#session-patient").value);
    if (patientId && (force || !plans.has(patientId)) && ctx.conn.online) {
      try {
        const reply = await ctx.conn.request({ type: "get_plan", patient_id: patientId });
        plans.set(patientId, reply.plan || null);
      } catch (e) {
        console.warn("no plan:", e.message); // an older server, or a transient error: no prefill
      }
    }
    applyPlan();
  }

  function applyPlan() {
    const patientId = Number($("#session-patient").value);
    const game = $("#session-game").value;
    const stored = plans.get(patientId);
    const entry = stored && stored.games ? stored.games[game] : null;
    const key = entry ? `${patientId}|${game}|${stored.plan_id}` : "";
    if (key === plan.key) return;
    if (plan.key) resetForm(); // a plan was applied: start again from the defaults
    plan.key = key;
    plan.entry = entry || null;
    plan.extra = {};
    const note = $("#plan-note");
    const row = $("#plan-difficulty-row");
    if (!entry) {
      note.hidden = true;
      note.textContent = "";
      row.hidden = true;
      return;
    }
    const settings = entry.settings || {};
    const offered = new Set(START_SETTINGS[game].map((spec) => spec.name));
    for (const spec of START_SETTINGS[game]) fill(spec, settings[spec.name]);
    for (const [name, value] of Object.entries(settings)) {
      if (!offered.has(name) && value !== null && value !== undefined) plan.extra[name] = value;
    }
    showDependent();
    const extras = Object.entries(plan.extra).map(([n, v]) => `${labelOf(n, game)} ${Array.isArray(v) ? v.join(", ") : v}`);
    const hasDifficulty = entry.difficulty && Object.keys(entry.difficulty).length > 0;
    const saved = stored.created_at ? new Date(stored.created_at).toLocaleDateString() : "";
    note.textContent = `From plan #${stored.plan_id}${saved ? ` (saved ${saved})` : ""}: the ${GAME_LABELS[game]} `
      + `settings below are the plan's${extras.length ? `; also ${extras.join("; ")}` : ""}.`
      + (hasDifficulty ? ` Starting difficulty: ${describeDifficulty(game, entry.difficulty)}.` : "");
    note.dataset.plan = String(stored.plan_id);
    note.hidden = false;
    row.hidden = !hasDifficulty;
    $("#use-plan-difficulty").checked = true;
  }

  /** Put one setting's (wire) value into its input. */
  function fill(spec, value) {
    if (value === null || value === undefined) return;
    const node = $(`#${spec.id}`);
    if (!node) return;
    if (spec.kind === "bool") node.checked = Boolean(value);
    else if (spec.kind === "choice") node.value = value;
    else if (spec.kind === "choices") {
      const wanted = new Set(value);
      for (const box of $$("input[type=checkbox]", node)) box.checked = wanted.has(box.value);
    } else node.value = String(Math.round(Number(value) * (spec.scale || 1) * 10000) / 10000);
  }

  // -- watching ------------------------------------------------------------------------------

  async function watch(name) {
    const previous = watched.station;
    if (name === previous && watched.login === ctx.conn.welcome) return; // already watching it
    watched.login = ctx.conn.welcome;
    if (previous && previous !== name && ctx.conn.online) {
      ctx.conn.request({ type: "unwatch", station: previous }).catch(() => {});
    }
    if (previous !== name) {
      live.reset();
      difficulty.reset();
      showWho(null);
      $("#device-notices").replaceChildren();
      $("#event-log").replaceChildren();
      watched.sessionId = null;
      watched.state = null;
    }
    watched.station = name;
    $("#live-station").textContent = name ? `— ${name}` : "";
    headsets.watch(name);
    if (!name) return;
    sessionStorage.setItem(STATION_KEY, name);
    try {
      const reply = await ctx.conn.request({ type: "watch", station: name });
      clearError(error);
      updateButtons(reply);
    } catch (e) {
      watched.login = null;
      showError(error, e);
    }
  }

  // -- actions -------------------------------------------------------------------------------

  function startMessage() {
    const game = $("#session-game").value;
    const patientId = Number($("#session-patient").value);
    if (!watched.station) throw new Error("Choose a station.");
    if (!patientId) throw new Error("Choose a patient (create one under Patients first).");
    const labelText = (id) => ($(`label[for=${id}]`) || $(`#${id} legend`) || { textContent: id }).textContent.trim();
    const number = (id, scale = 1) => {
      const text = $(`#${id}`).value.trim();
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) throw new Error(`${labelText(id)}: enter a number.`);
      return Math.round((value / scale) * 10000) / 10000;
    };
    const settings = plan.entry ? { ...plan.extra } : {};
    for (const spec of START_SETTINGS[game]) {
      if (spec.when && !holds(spec.when)) continue;
      if (spec.kind === "choice") settings[spec.name] = $(`#${spec.id}`).value;
      else if (spec.kind === "bool") settings[spec.name] = $(`#${spec.id}`).checked;
      else if (spec.kind === "choices") {
        const chosen = $$(`#${spec.id} input:checked`).map((box) => box.value);
        if (!chosen.length) throw new Error(`${labelText(spec.id)}: choose at least one.`);
        settings[spec.name] = chosen;
      } else {
        const value = number(spec.id, spec.scale || 1);
        settings[spec.name] = spec.integer ? Math.round(value) : value;
      }
    }
    const message = { type: "start_game", station: watched.station, patient_id: patientId, game, settings };
    if (plan.entry && plan.entry.difficulty && Object.keys(plan.entry.difficulty).length
        && $("#use-plan-difficulty").checked) {
      message.difficulty = plan.entry.difficulty;
    }
    return message;
  }

  $("#start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    let message;
    try {
      message = startMessage();
    } catch (e) {
      showError(error, e);
      return;
    }
    const reply = await act($("#start-game"), error, () => ctx.conn.request(message));
    if (reply) {
      watched.sessionId = reply.session_id;
      watched.started = { sessionId: reply.session_id, settings: reply.settings || {}, patientId: message.patient_id };
      live.reset();
      $("#device-notices").replaceChildren();
      $("#event-log").replaceChildren();
      difficulty.onConfig(reply.config);
      status.textContent = `Session #${reply.session_id} started: ${reply.game} on ${reply.station}.`;
      ctx.emit("game_started", reply);
    }
    updateButtons(reply ? { state: "playing", paused_by: [] } : undefined);
  });

  $("#pause-game").addEventListener("click", async (event) => {
    const paused = (watched.state?.paused_by || []).includes("therapist");
    const reply = await act(event.currentTarget, error, () =>
      ctx.conn.request({ type: paused ? "resume_game" : "pause_game", station: watched.station }));
    if (reply) status.textContent = paused ? "Resumed." : "Paused by you.";
    updateButtons(reply);
  });

  // Stop asks first (a step in the page, not window.confirm: it works on a tablet and in tests).
  const confirmStop = (open) => {
    $("#stop-confirm").hidden = !open;
    $("#stop-game").setAttribute("aria-expanded", String(open));
    if (open) $("#stop-confirm-no").focus();
  };
  $("#stop-game").addEventListener("click", () => confirmStop(true));
  $("#stop-confirm-no").addEventListener("click", () => {
    confirmStop(false);
    $("#stop-game").focus();
  });
  $("#stop-confirm-yes").addEventListener("click", async (event) => {
    confirmStop(false);
    const reply = await act(event.currentTarget, error, () =>
      ctx.conn.request({ type: "stop_game", station: watched.station }));
    if (reply) {
      status.textContent = `Stopped session #${reply.session_id}: ${reply.trials} trials, ${reply.hits} hits.`
        + (metricsStored.sessionId === reply.session_id ? metricsStored.text : "");
    }
    updateButtons(reply ? { state: "idle" } : undefined);
  });

  function updateButtons(stationStatus) {
    const s = watched.state;
    const running = stationStatus ? stationStatus.state === "playing" || stationStatus.state === "paused"
      : Boolean(s && s.phase !== "idle" && s.phase !== "finished");
    const pausedByMe = stationStatus ? (stationStatus.paused_by || []).includes("therapist")
      : (s?.paused_by || []).includes("therapist");
    $("#start-game").disabled = running;
    $("#pause-game").disabled = !running;
    $("#stop-game").disabled = !running;
    if (!running) $("#stop-confirm").hidden = true;
    $("#view-session").dataset.running = String(running); // layout hook: the tablet's live layout
    $("#pause-game").textContent = pausedByMe ? "Resume" : "Pause";
  }

  /** The watched game's patient (started here, else from the clinic overview's list), for step
   * distances in cm. */
  function watchedPatient() {
    const here = watched.started && watched.started.sessionId === watched.sessionId ? watched.started.patientId : null;
    const code = ctx.stations.find((x) => x.station === watched.station)?.patient_code;
    return ctx.patients.find((p) => (here ? p.id === here : p.code === code)) || null;
  }

  // -- pushes --------------------------------------------------------------------------------

  // States come with every foot event (up to ~100 per second): draw the newest once per frame.
  let frame = null;
  let buttonsKey = "";
  ctx.conn.on("state", (s) => {
    if (s.station !== watched.station) return;
    if (s.session_id && s.session_id !== watched.sessionId) {
      if (watched.sessionId !== null) live.reset();
      watched.sessionId = s.session_id;
    }
    watched.state = s;
    live.setState(s);
    if (frame === null) frame = requestAnimationFrame(render);
  });

  function render() {
    frame = null;
    const s = watched.state;
    if (!s) return;
    showStats(s);
    showModes(s);
    if (s.phase === "idle" && !$("#live-who").hidden) {
      endedUnseen(Number($("#live-who").dataset.session), Number($("#live-who").dataset.patientId));
      showWho(null);
    }
    difficulty.onState(s);
    const key = `${s.phase}|${(s.paused_by || []).join()}`;
    if (key !== buttonsKey) {
      buttonsKey = key;
      updateButtons();
    }
  }

  ctx.conn.on("trial", (m) => {
    if (m.station !== watched.station) return;
    live.addTrial(m.trial);
  });

  // The running game's configuration (docs/protocol.md `config`), for games started anywhere.
  ctx.conn.on("config", (m) => {
    if (m.station !== watched.station) return;
    difficulty.onConfig(m);
  });

  /** Who plays what on the watched station, from the server's configuration. */
  function showWho(c) {
    const who = $("#live-who");
    if (!c) {
      who.hidden = true;
      who.textContent = "";
      who.dataset.session = "";
      return;
    }
    const side = { L: "left", R: "right" }[c.patient.affected_side] || c.patient.affected_side;
    who.replaceChildren(el("strong", {}, GAME_LABELS[c.game] || c.game), " · patient ",
      el("strong", { dataset: { testid: "live-patient" } }, c.patient.code), ` (affected side ${side})`,
      ` · session #${c.session_id}`);
    who.dataset.session = String(c.session_id);
    who.dataset.patientId = String(c.patient.id);
    who.dataset.patient = c.patient.code;
    who.dataset.game = c.game;
    who.hidden = false;
  }

  ctx.conn.on("session_metrics", (m) => {
    if (m.station !== watched.station) return;
    metricsStored = { sessionId: m.session_id, text: ` Session metrics stored (${Object.keys(m.metrics).join(", ")}).` };
  });

  let endedShown = null;  // the last session whose end the status line shows
  function showEnded(sessionId, reason, trials, hits) {
    endedShown = sessionId;
    status.textContent = `Session #${sessionId} ended (${reason.replace(/_/g, " ")}): `
      + `${trials} trials, ${hits} hits.${metricsStored.sessionId === sessionId ? metricsStored.text : ""}`;
  }

  ctx.conn.on("game_stopped", (m) => {
    if (m.station !== watched.station) return;
    showEnded(m.session_id, m.reason, m.trials, m.hits);
    updateButtons({ state: "idle" });
  });

  /** The game we showed running is over, but its game_stopped never reached us (the connection was
   * down when it ended): read how it ended from the stored sessions, so the therapist still sees it. */
  async function endedUnseen(sessionId, patientId) {
    if (!sessionId || !patientId || endedShown === sessionId) return;
    await new Promise((resolve) => setTimeout(resolve, 500));  // a game_stopped on its way wins
    if (endedShown === sessionId) return;
    try {
      const reply = await ctx.conn.request({ type: "list_sessions", patient_id: patientId });
      const stored = (reply.sessions || []).find((x) => x.session_id === sessionId);
      if (stored && stored.end_reason && endedShown !== sessionId) {
        showEnded(sessionId, stored.end_reason, stored.trials, stored.hits);
      }
    } catch { /* offline again: the status line keeps what it had */ }
  }

  ctx.conn.on("device_status", (m) => {
    if (m.station !== watched.station) return;
    const list = $("#device-notices");
    const last = list.firstElementChild;
    const item = el("li", { class: `notice-${m.kind}`, dataset: { kind: m.kind } },
      el("time", {}, new Date().toLocaleTimeString()), " ", el("strong", {}, m.kind.replace(/_/g, " ")), ": ",
      m.message);
    // calibration progress replaces its previous line rather than piling up
    if (last && last.dataset.kind === "calibrating" && m.kind === "calibrating") last.replaceWith(item);
    else list.prepend(item);
    while (list.children.length > MAX_NOTICES) list.lastElementChild.remove();
  });

  ctx.conn.on("game_event", (m) => {
    if (m.station !== watched.station || !m.event) return;
    const e = m.event;
    const side = (x) => ({ L: "left", R: "right" }[x] || x || "");
    let text;
    if (e.kind === "cue") {
      text = `${side(e.side)} foot (${e.reason === "missed" ? "targets missed" : "idle"}): `
        + `${(e.cues || []).join(" + ") || "cue"}`
        + (e.affected_side_share !== undefined ? `; affected-side share ${e.share_before !== undefined
          && e.share_before !== null ? `${pct(e.share_before)} → ` : ""}${pct(e.affected_side_share)}` : "");
    } else if (e.kind === "cue_response") {
      text = `${side(e.side)} foot responded after ${fmt(e.response_time_s, 1)} s`;
    } else if (e.kind === "stage") {
      text = `stage ${(e.index ?? 0) + 1} of ${e.count ?? "?"}: ${STAGE_LABELS[e.stage] || e.stage}`
        + (e.instruction ? ` — ${e.instruction}` : "");
    } else {
      text = JSON.stringify(e);
    }
    const list = $("#event-log");
    list.prepend(el("li", { class: `event-${e.kind}`, dataset: { kind: e.kind } },
      el("time", {}, e.at_s !== undefined ? `${fmt(e.at_s, 1)} s` : new Date().toLocaleTimeString()), " ",
      el("strong", {}, { cue: "Cue", cue_response: "Response", stage: "Stage" }[e.kind] || e.kind), ": ", text));
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  });

  ctx.conn.on("error", (m) => { // events such as storage_failed
    if (!m.station || m.station === watched.station) showError(error, m);
  });

  function showStats(s) {
    $("#live-phase").textContent = s.phase === "paused" && s.paused_by?.length
      ? `paused (${s.paused_by.join(", ").replace(/_/g, " ")})` : s.phase === "idle" ? "idle (no game)" : s.phase;
    if (s.phase === "idle") return; // keep the last game's numbers in view
    const trials = s.trial ?? 0;
    const count = $("#live-trials");
    count.textContent = s.trials_planned ? `${trials} / ${s.trials_planned}` : String(trials);
    count.dataset.count = String(trials);
    $("#live-hits").textContent = String(s.hits ?? 0);
    $("#live-success").textContent = trials ? pct((s.hits ?? 0) / trials) : "–";
    $("#live-time-left").textContent = fmt(s.time_left_s, 1);
    $("#live-last").textContent = s.last
      ? `#${s.last.trial + 1} ${s.last.outcome}${s.last.placement_error_m != null
        ? `, ${formatValue("placement_error_m", s.last.placement_error_m)} off` : ""}${s.last.direction ? `, ${s.last.direction}` : ""}`
      : "–";
    const values = s.difficulty || (s.difficulty_by_direction && s.target
      ? s.difficulty_by_direction[s.target.direction] : null);
    if (values && s.game) {
      const body = $("#live-difficulty tbody");
      const rows = (PARAMETERS[s.game] || []).filter((spec) => values[spec.name] !== undefined).map((spec) =>
        el("tr", { dataset: { param: spec.name, value: values[spec.name] } },
          el("th", { scope: "row" }, labelOf(spec.name, s.game)),
          el("td", {}, formatParameter(s.game, spec.name, values[spec.name], watchedPatient()))));
      body.replaceChildren(...rows);
    }
  }

  /** Badges for the training modes, the neglect-cueing line and the assessment's stage banner. */
  let modesKey = "";
  function showModes(s) {
    const known = watched.started && watched.started.sessionId === s.session_id ? watched.started.settings : {};
    const badges = [];
    if (s.mirror) {
      badges.push(["mirror", `Mirror: ${s.mirror.source === "L" ? "left" : "right"} foot drives the `
        + `${s.mirror.shown === "L" ? "left" : "right"} avatar`]);
    }
    if (s.cueing) badges.push(["neglect", "Neglect cueing"]);
    const hiddenFoot = Object.values(s.feet || {}).some((f) => f && f.hidden);
    if (known.vision && known.vision !== "full") badges.push(["vision", `Vision: ${VISION_LABELS[known.vision] || known.vision}`]);
    else if ((s.target && s.target.hidden) || hiddenFoot) badges.push(["vision", "Vision reduced"]);
    if (s.target && s.target.hidden) badges.push(["hidden", "Target hidden from the patient"]);
    if (hiddenFoot) badges.push(["hidden-foot", "Foot hidden from the patient"]);
    if (s.belt_speed_m_s !== undefined && s.belt_speed_m_s !== null) {
      badges.push(["belt", `Belt ${fmt(s.belt_speed_m_s, 2)} m/s`]);
    }
    const cue = s.cueing;
    const stage = s.stage;
    const key = JSON.stringify([s.phase === "idle" ? [] : badges, s.phase === "idle" ? null : cue,
      s.phase === "idle" ? null : stage]);
    if (key === modesKey) return;
    modesKey = key;
    $("#live-badges").replaceChildren(...(s.phase === "idle" ? [] : badges).map(([kind, text]) =>
      el("span", { class: `badge badge-mode badge-${kind}`, dataset: { testid: `badge-${kind}`, mode: kind } }, text)));
    const line = $("#live-cueing");
    line.hidden = !cue || s.phase === "idle";
    if (cue) {
      line.dataset.active = String(Boolean(cue.active));
      line.dataset.cues = String(cue.cues ?? 0);
      line.replaceChildren(el("strong", {}, "Neglect cueing"),
        ` (${cue.side === "L" ? "left" : "right"} foot): ${cue.cues ?? 0} cue${cue.cues === 1 ? "" : "s"}`,
        ` · affected-side share now ${pct(cue.affected_side_share)}`,
        cue.active ? el("span", { class: "cue-active" }, " · cue active: foot highlighted") : "");
    }
    const banner = $("#live-stage");
    banner.hidden = !stage || s.phase === "idle";
    if (stage) {
      banner.dataset.stage = stage.name || "";
      $("#live-stage-name").textContent = STAGE_LABELS[stage.name] || stage.name || "";
      $("#live-stage-count").textContent = `stage ${(stage.index ?? 0) + 1} of ${stage.count ?? "?"}`;
      $("#live-stage-instruction").textContent = `${stage.instruction || ""}${stage.eyes ? ` (eyes ${stage.eyes})` : ""}`;
      $("#live-stage-progress").textContent = stage.progress ? `progress ${stage.progress}` : "";
      $("#live-stage-time").textContent = stage.time_left_s !== null && stage.time_left_s !== undefined
        ? `· ${fmt(stage.time_left_s, 0)} s left` : "";
      const [done, total] = String(stage.progress || "").split("/").map(Number);
      const bar = $("#live-stage-bar");
      bar.value = total > 0 ? done / total : stage.count ? (stage.index ?? 0) / stage.count : 0;
    }
  }

  // -- wiring --------------------------------------------------------------------------------

  $("#session-station").addEventListener("change", (e) => {
    watch(e.target.value);
    showDevices();
  });
  $("#session-game").addEventListener("change", () => {
    showGameSettings();
    refreshPlan();
  });
  $("#session-patient").addEventListener("change", () => refreshPlan());
  $("#start-form").addEventListener("change", (event) => {
    if (["setting-mirror", "setting-neglect", "setting-vision"].includes(event.target.id)) showDependent();
  });
  ctx.on("stations", fillStations);
  ctx.on("patients", () => fillPatients());
  ctx.on("plan_saved", ({ patientId, plan: saved }) => {
    plans.set(patientId, saved || null);
    if (!$("#view-session").hidden) applyPlan();
  });
  ctx.on("ready", () => {
    if (watched.station) watch(watched.station);
  });
  showGameSettings();
  difficulty.reset();

  return {
    shown(options) {
      fillStations();
      fillPatients(options.patientId);
      if (options.game) {
        $("#session-game").value = options.game;
        showGameSettings();
      }
      refreshPlan(true);
      const name = options.station || watched.station || $("#session-station").value;
      if (name) {
        $("#session-station").value = name;
        watch(name);
      }
    },
  };
}
