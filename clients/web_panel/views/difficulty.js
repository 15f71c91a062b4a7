// Live difficulty: target success rate, each parameter's bounds and lock, and the game's live
// settings (stepping: affected-side share). A change is sent as `set_difficulty` when a slider is
// released (or Enter is pressed); the panel then shows the server's `difficulty` reply and
// confirms when a `state` from the game carries values inside the new bounds.

import { $, clearError, el, showError } from "../dom.js";
import { LIVE_SETTINGS, PARAMETERS, formatParameter } from "../specs.js";

const SEND_DELAY_MS = 250;
const TOLERANCE = 1e-3;
const round4 = (v) => Math.round(Number(v) * 10000) / 10000;
const stored = (station) => `stridevr.difficulty.${station}`;

export function difficultyPanel(ctx, current) {
  const form = $("#difficulty-form");
  const status = $("#difficulty-status");
  const confirm = $("#difficulty-confirm");
  const error = $("#difficulty-error");
  let game = null;
  let timer = null;
  let expected = null; // {bounds, values, perDirection, repliedAt}
  let latestState = null;
  let running = null;

  /** (Re)build the rows for a game; every input gets a label with its unit. */
  function build(name) {
    game = name;
    for (const key of Object.keys(followed)) delete followed[key];
    const rows = (PARAMETERS[name] || []).map((spec) => {
      const unit = spec.unit;
      const base = `bound-${spec.name}`;
      const slider = (which, value) => el("div", { class: "slider-row" },
        el("label", { for: `${base}-${which}` }, `${which === "low" ? "Lowest" : "Highest"} (${unit})`),
        el("input", { id: `${base}-${which}`, type: "range", min: spec.min, max: spec.max, step: spec.step,
          value, dataset: { param: spec.name, bound: which, testid: `${base}-${which}` } }),
        el("input", { id: `${base}-${which}-num`, type: "number", min: spec.min, max: spec.max, step: spec.step,
          value, inputmode: "decimal", "aria-label": `${spec.label}, ${which === "low" ? "lowest" : "highest"} (${unit})`,
          dataset: { param: spec.name, bound: which, mirror: "1" } }));
      return el("fieldset", { class: "param", dataset: { param: spec.name } },
        el("legend", {}, `${spec.label} (${unit}) `,
          el("span", { class: "muted" }, spec.harderWhenLarger ? "larger is harder" : "smaller is harder")),
        el("p", { class: "current" }, "Now: ", el("output", { id: `current-${spec.name}` }, "–")),
        slider("low", spec.low), slider("high", spec.high),
        el("div", { class: "lock-row" },
          el("input", { id: `lock-${spec.name}`, type: "checkbox", dataset: { param: spec.name, lock: "1" } }),
          el("label", { for: `lock-${spec.name}` }, "Lock at"),
          el("input", { id: `lock-${spec.name}-value`, type: "number", min: spec.min, max: spec.max, step: spec.step,
            disabled: true, inputmode: "decimal", "aria-label": `${spec.label}, locked value (${unit})` }),
          el("span", { class: "unit" }, unit)));
    });
    $("#difficulty-params").replaceChildren(...rows);
    if (!rows.length) {
      $("#difficulty-params").append(el("p", { class: "muted", dataset: { testid: "no-adaptation" } },
        (LIVE_SETTINGS[name] || []).length ? "This game's difficulty does not adapt; its live settings are below."
          : "This game runs a fixed protocol: nothing to adjust while it runs."));
    }
    $("#difficulty-live-settings").replaceChildren(...(LIVE_SETTINGS[name] || []).map((spec) => el("div",
      { class: "slider-row", dataset: { setting: spec.name } },
      el("label", { for: `live-${spec.name}` }, `${spec.label} (${spec.unit})`),
      el("input", { id: `live-${spec.name}`, type: "range", min: spec.min, max: spec.max, step: spec.step,
        value: spec.min, dataset: { setting: spec.name, testid: `live-${spec.name}` } }),
      el("input", { id: `live-${spec.name}-num`, type: "number", min: spec.min, max: spec.max, step: spec.step,
        value: spec.min, inputmode: "decimal", "aria-label": `${spec.label} (${spec.unit}), number`,
        dataset: { setting: spec.name, mirror: "1" } }))));
    setStatus("", "idle");
    setConfirm("", "idle");
    expected = null;
  }

  /** Fill the form from the server's description of the difficulty (and the live settings). */
  function load(description, settings) {
    if (!description) return;
    const ts = Math.round(100 * description.target_success);
    $("#target-success").value = ts;
    $("#target-success-num").value = ts;
    for (const [name, b] of Object.entries(description.bounds || {})) {
      if (!$(`#bound-${name}-low`)) continue;
      for (const which of ["low", "high"]) {
        $(`#bound-${name}-${which}`).value = b[which];
        $(`#bound-${name}-${which}-num`).value = b[which];
      }
      $(`#lock-${name}`).checked = b.locked;
      $(`#lock-${name}-value`).disabled = !b.locked;
      $(`#lock-${name}-value`).value = b.locked && b.value !== null ? b.value : "";
    }
    for (const spec of LIVE_SETTINGS[game] || []) {
      if (settings && settings[spec.name] !== undefined) {
        const shown = round4(settings[spec.name] * spec.scale);
        $(`#live-${spec.name}`).value = shown;
        $(`#live-${spec.name}-num`).value = shown;
      }
    }
    showValues(description.values);
  }

  function showValues(values) {
    for (const [name, value] of Object.entries(values || {})) {
      const out = $(`#current-${name}`);
      if (out) out.textContent = formatParameter(game, name, value);
    }
  }

  /** The request from the form: every bound, the target success rate, the live settings. */
  function request() {
    const bounds = {};
    for (const spec of PARAMETERS[game] || []) {
      // the number boxes hold what was typed (a slider clamps silently); the server checks it
      const low = round4($(`#bound-${spec.name}-low-num`).value);
      const high = round4($(`#bound-${spec.name}-high-num`).value);
      const locked = $(`#lock-${spec.name}`).checked;
      const b = { low, high, locked };
      const valueText = $(`#lock-${spec.name}-value`).value;
      if (locked && valueText !== "") b.value = round4(valueText);
      bounds[spec.name] = b;
    }
    const message = {
      type: "set_difficulty", station: current().station,
      target_success: Number($("#target-success-num").value) / 100, bounds,
    };
    const live = LIVE_SETTINGS[game] || [];
    if (live.length) {
      message.settings = Object.fromEntries(live.map((spec) =>
        [spec.name, round4(Number($(`#live-${spec.name}-num`).value) / spec.scale)]));
    }
    return message;
  }

  async function send() {
    clearTimeout(timer);
    const station = current();
    if (!station.station || !game) return;
    clearError(error);
    const message = request();
    setStatus("Sending…", "pending");
    try {
      const reply = await ctx.conn.request(message);
      remember(station.station, station.sessionId, reply, reply.settings);
      load(reply, reply.settings);
      const values = Object.entries(reply.values).map(([n, v]) => formatParameter(game, n, v)).join(", ");
      const share = (LIVE_SETTINGS[game] || []).filter((spec) => reply.settings && reply.settings[spec.name] !== undefined)
        .map((spec) => `; ${spec.label.toLowerCase()} ${round4(reply.settings[spec.name] * spec.scale)} ${spec.unit}`)
        .join("");
      setStatus(`Server applied the change at ${new Date().toLocaleTimeString()}: target success `
        + `${Math.round(100 * reply.target_success)} %, level ${Math.round(100 * reply.level)} %, values ${values}${share}.`,
      "applied");
      expected = { bounds: message.bounds, values: reply.values, perDirection: reply.per_direction || null, after: false };
      setConfirm("Waiting for the game to report the new values…", "pending");
      if (latestState) check(latestState); // the game's state may have come before the reply
      if (expected) expected.after = true;
    } catch (e) {
      setStatus("", "idle");
      showError(error, e);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(send, SEND_DELAY_MS);
  }

  /** Does this state show the change reached the game? Exact values, or (later) inside the bounds. */
  function check(state) {
    if (!expected) return;
    const byDirection = state.difficulty_by_direction;
    const sets = byDirection ? Object.entries(byDirection) : state.difficulty ? [["", state.difficulty]] : [];
    if (!sets.length) return;
    const exact = sets.every(([direction, values]) => {
      const want = direction && expected.perDirection ? (expected.perDirection[direction] || {}).values : expected.values;
      return want && Object.entries(want).every(([n, v]) => Math.abs(values[n] - v) <= TOLERANCE);
    });
    const inside = sets.every(([, values]) => Object.entries(expected.bounds).every(([n, b]) => {
      const v = values[n];
      if (v === undefined) return true;
      if (b.locked && b.value !== undefined) return Math.abs(v - b.value) <= TOLERANCE;
      return v >= b.low - TOLERANCE && v <= b.high + TOLERANCE;
    }));
    if (exact || (expected.after && inside)) {
      const values = sets[0][1];
      const shown = Object.entries(values).map(([n, v]) => formatParameter(game, n, v)).join(", ");
      setConfirm(`Reached the game: it now uses ${shown}${state.trial !== undefined ? ` (trial ${state.trial + 1})` : ""}.`,
        "reached");
      expected = null;
    }
  }

  function setStatus(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  function setConfirm(text, state) {
    confirm.textContent = text;
    confirm.dataset.state = state;
  }

  function remember(station, sessionId, description, settings) {
    sessionStorage.setItem(stored(station), JSON.stringify({ sessionId, game, description, settings }));
  }

  // Keep each slider and its number box together; low never above high.
  form.addEventListener("input", (event) => {
    const input = event.target;
    if (input.id === "target-success" || input.id === "target-success-num") {
      const other = input.id === "target-success" ? $("#target-success-num") : $("#target-success");
      other.value = input.value;
      return;
    }
    const { param, bound, setting, mirror } = input.dataset;
    if (param && bound) {
      const base = `#bound-${param}`;
      const twin = mirror ? $(`${base}-${bound}`) : $(`${base}-${bound}-num`);
      twin.value = input.value;
      const low = Number($(`${base}-low`).value);
      const high = Number($(`${base}-high`).value);
      if (low > high) {
        const other = bound === "low" ? "high" : "low";
        $(`${base}-${other}`).value = input.value;
        $(`${base}-${other}-num`).value = input.value;
      }
    } else if (setting) {
      const twin = mirror ? $(`#live-${setting}`) : $(`#live-${setting}-num`);
      twin.value = input.value;
    } else if (input.dataset.lock) {
      const value = $(`#lock-${param}-value`);
      value.disabled = !input.checked;
      if (input.checked && value.value === "") {
        const now = latestValue(param);
        if (now !== undefined) value.value = now;
      }
    }
  });
  form.addEventListener("change", (event) => {
    if (event.target.type === "number" && event.target.value === "" && !event.target.id.startsWith("lock-")) return;
    schedule();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  // Live settings the game itself changes (a neglect cue raises the affected-side share; a
  // treadmill's own `belt` message sets the belt speed): follow them, so that the next change sent
  // from this form does not put back an old value. A box being edited is left alone.
  const fromState = {
    affected_side_share: (s) => (s.cueing ? s.cueing.affected_side_share : undefined),
    belt_speed_m_s: (s) => s.belt_speed_m_s,
  };
  const followed = {};
  function followGame(state) {
    for (const spec of LIVE_SETTINGS[game] || []) {
      const value = fromState[spec.name] ? fromState[spec.name](state) : undefined;
      if (value === undefined || value === null || value === followed[spec.name]) continue;
      followed[spec.name] = value;
      const slider = $(`#live-${spec.name}`);
      const box = $(`#live-${spec.name}-num`);
      if (!slider || document.activeElement === slider || document.activeElement === box) continue;
      const shown = round4(value * spec.scale);
      slider.value = shown;
      box.value = shown;
    }
  }

  function latestValue(param) {
    const s = latestState;
    if (!s) return undefined;
    const values = s.difficulty || (s.difficulty_by_direction && Object.values(s.difficulty_by_direction)[0]);
    return values ? values[param] : undefined;
  }

  return {
    /** A state push for the watched station. */
    onState(state) {
      latestState = state;
      const nowRunning = state.phase !== "idle" && state.phase !== "finished";
      if (nowRunning !== running) {
        running = nowRunning;
        form.querySelectorAll("input, button").forEach((n) => { n.disabled = !running; });
        if (!running) setStatus("No game running on this station.", "idle");
      }
      if (!running) return;
      if (state.game !== game) {
        build(state.game);
        const saved = JSON.parse(sessionStorage.getItem(stored(state.station)) || "null");
        if (saved && saved.sessionId === state.session_id && saved.game === state.game) {
          load(saved.description, saved.settings);
        }
      }
      for (const spec of PARAMETERS[game] || []) {
        const lockValue = $(`#lock-${spec.name}-value`);
        const unlocked = !$(`#lock-${spec.name}`).checked;
        if (lockValue.disabled !== unlocked) lockValue.disabled = unlocked;
      }
      const values = state.difficulty || (state.difficulty_by_direction && state.target
        ? state.difficulty_by_direction[state.target.direction] : null);
      if (values) showValues(values);
      followGame(state);
      check(state);
    },
    /** A trial's difficulty description (the staircase after it): keep it for a reload. */
    onTrial(station, sessionId, description) {
      if (!game) return;
      const saved = JSON.parse(sessionStorage.getItem(stored(station)) || "null");
      remember(station, sessionId, description, saved && saved.sessionId === sessionId ? saved.settings : null);
    },
    /** A game just started from this panel: the server's description and settings. */
    started(station, sessionId, name, description, settings) {
      build(name);
      load(description, settings);
      remember(station, sessionId, description, settings);
    },
    reset() {
      game = null;
      latestState = null;
      running = null;
      $("#difficulty-params").replaceChildren();
      $("#difficulty-live-settings").replaceChildren();
      setStatus("No game running on this station.", "idle");
      setConfirm("", "idle");
      clearError(error);
    },
  };
}
