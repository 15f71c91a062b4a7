// Run a session: pick station, patient and game (with a few key settings), start, pause, stop;
// watch the station's live state (canvas, trial count, success rate, difficulty, device notices).

import { $, $$, act, clearError, el, fmt, pct, showError } from "../dom.js";
import { LiveView } from "../live.js";
import { DIRECTIONS, PARAMETERS, START_SETTINGS, formatParameter } from "../specs.js";
import { difficultyPanel } from "./difficulty.js";

const STATION_KEY = "stridevr.station";
const MAX_NOTICES = 8;

export function sessionView(ctx) {
  const error = $("#session-error");
  const status = $("#session-status");
  const live = new LiveView($("#live-canvas"), $("#live-summary"));
  const watched = { station: sessionStorage.getItem(STATION_KEY) || null, sessionId: null, state: null };
  const difficulty = difficultyPanel(ctx, () => watched);
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
      $("#device-notices").replaceChildren();
      watched.sessionId = null;
      watched.state = null;
    }
    watched.station = name;
    $("#live-station").textContent = name ? `— ${name}` : "";
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
    const number = (id, what, scale = 1) => {
      const text = $(`#${id}`).value.trim();
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) throw new Error(`${what}: enter a number.`);
      return Math.round((value / scale) * 10000) / 10000;
    };
    const settings = {
      trials: Math.round(number("setting-trials", "Trials")),
      inter_trial_s: number("setting-inter-trial", "Rest between trials"),
    };
    for (const spec of START_SETTINGS[game]) {
      settings[spec.name] = spec.kind === "choice" ? $(`#${spec.id}`).value
        : number(spec.id, $(`label[for=${spec.id}]`).textContent, spec.scale || 1);
    }
    const directions = $$("#setting-directions input:checked").map((box) => box.value);
    if (!directions.length) throw new Error("Choose at least one direction.");
    settings.directions = directions;
    return { type: "start_game", station: watched.station, patient_id: patientId, game, settings };
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
      live.reset();
      $("#device-notices").replaceChildren();
      difficulty.started(watched.station, reply.session_id, reply.game, reply.difficulty, reply.settings);
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

  $("#stop-game").addEventListener("click", async (event) => {
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
    $("#pause-game").textContent = pausedByMe ? "Resume" : "Pause";
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
    difficulty.onTrial(m.station, m.session_id, m.difficulty);
  });

  ctx.conn.on("session_metrics", (m) => {
    if (m.station !== watched.station) return;
    metricsStored = { sessionId: m.session_id, text: ` Session metrics stored (${Object.keys(m.metrics).join(", ")}).` };
  });

  ctx.conn.on("game_stopped", (m) => {
    if (m.station !== watched.station) return;
    status.textContent = `Session #${m.session_id} ended (${m.reason.replace(/_/g, " ")}): `
      + `${m.trials} trials, ${m.hits} hits.${metricsStored.sessionId === m.session_id ? metricsStored.text : ""}`;
    updateButtons({ state: "idle" });
  });

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
        ? `, ${fmt(100 * s.last.placement_error_m, 1)} cm off` : ""}${s.last.direction ? `, ${s.last.direction}` : ""}`
      : "–";
    const values = s.difficulty || (s.difficulty_by_direction && s.target
      ? s.difficulty_by_direction[s.target.direction] : null);
    if (values && s.game) {
      const body = $("#live-difficulty tbody");
      const rows = (PARAMETERS[s.game] || []).filter((spec) => values[spec.name] !== undefined).map((spec) =>
        el("tr", { dataset: { param: spec.name, value: values[spec.name] } },
          el("th", { scope: "row" }, `${spec.label} (${spec.unit})`),
          el("td", {}, formatParameter(s.game, spec.name, values[spec.name]))));
      body.replaceChildren(...rows);
    }
  }

  // -- wiring --------------------------------------------------------------------------------

  $("#session-station").addEventListener("change", (e) => watch(e.target.value));
  $("#session-game").addEventListener("change", showGameSettings);
  ctx.on("stations", fillStations);
  ctx.on("patients", () => fillPatients());
  ctx.on("ready", () => {
    if (watched.station) watch(watched.station);
  });
  showGameSettings();
  difficulty.reset();

  return {
    shown(options) {
      fillStations();
      fillPatients(options.patientId);
      const name = options.station || watched.station || $("#session-station").value;
      if (name) {
        $("#session-station").value = name;
        watch(name);
      }
    },
  };
}
