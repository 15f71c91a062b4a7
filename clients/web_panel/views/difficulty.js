// Live difficulty: target success rate, each parameter's bounds and lock, and the game's live
// settings (stepping: affected-side share). The form is built from the server's `config` (the
// running game's configuration, revision-numbered) and from nothing else: it stays disabled until
// one arrives. It sends only the fields the therapist changed, with the revision they were changed
// from, as `set_difficulty` when a slider is released (or Enter is pressed). A change refused as
// `stale_config` (someone or something changed the configuration meanwhile) shows the server's
// reason and reloads the form from the current configuration; a new configuration pushed while
// nothing is being edited is shown at once. Every field is in clinicians' units (units.js: cm, %,
// s, × step reach with cm beside it when the patient's step reach is known); a value the therapist
// typed goes back to SI once, as it is sent.

import { $, clearError, el, showError } from "../dom.js";
import { LIVE_SETTINGS, PARAMETERS, formatParameter } from "../specs.js";
import { formatValue, fromShown, stepDistanceCm, toShown, toShownExact, unitOf } from "../units.js";

const SEND_DELAY_MS = 250;
const MISSED_CONFIG_MS = 1000; // a state names a newer revision than we hold for this long: ask
const TOLERANCE = 1e-3;

/** A spec's limits and step (SI in specs.js) in the unit the form shows. */
const shownRange = ({ name, min, max, step }) => ({ min: toShownExact(name, min), max: toShownExact(name, max),
  step: toShownExact(name, step) });

export function difficultyPanel(ctx, current, onConfig = () => {}) {
  const form = $("#difficulty-form");
  const status = $("#difficulty-status");
  const confirm = $("#difficulty-confirm");
  const error = $("#difficulty-error");
  let game = null;
  let config = null; // the newest `config` from the server for the watched station's game
  let shown = { revision: null, session: null }; // the configuration the form was loaded from
  let timer = null;
  let expected = null; // {bounds, values, perDirection, after}
  let latestState = null;
  let running = null;
  // The therapist's unsent edits: field key -> edit count (a key edited again while its change is
  // on its way stays dirty). Keys: target_success, low:NAME, high:NAME, lock:NAME, setting:NAME.
  const dirty = new Map();
  let edits = 0;
  let sending = false;
  let sendAgain = false;
  let missedTimer = null;
  const patient = () => (config ? config.patient : null);

  /** "= 25.0 cm" beside a step distance (× step reach) for the config's patient; "" otherwise. */
  function showCm(id, name, shownValue) {
    const out = $(`#${id}-cm`);
    if (!out) return;
    const cm = shownValue === "" ? "" : stepDistanceCm(fromShown(name, shownValue), patient());
    out.textContent = cm ? ` = ${cm}` : "";
  }
  const cmOutput = (id, name) => (name === "step_distance_frac" ? el("output", { id: `${id}-cm`, class: "unit" }) : null);

  /** (Re)build the rows for a game; every input gets a label with its unit. */
  function build(name) {
    game = name;
    const rows = (PARAMETERS[name] || []).map((spec) => {
      const unit = unitOf(spec.name);
      const range = shownRange(spec);
      const base = `bound-${spec.name}`;
      const slider = (which) => el("div", { class: "slider-row" },
        el("label", { for: `${base}-${which}` }, `${which === "low" ? "Lowest" : "Highest"} (${unit})`,
          cmOutput(`${base}-${which}`, spec.name)),
        el("input", { id: `${base}-${which}`, type: "range", ...range,
          dataset: { param: spec.name, bound: which, testid: `${base}-${which}` } }),
        el("input", { id: `${base}-${which}-num`, type: "number", ...range,
          inputmode: "decimal", "aria-label": `${spec.label}, ${which === "low" ? "lowest" : "highest"} (${unit})`,
          dataset: { param: spec.name, bound: which, mirror: "1" } }));
      return el("fieldset", { class: "param", dataset: { param: spec.name } },
        el("legend", {}, `${spec.label} (${unit}) `,
          el("span", { class: "muted" }, spec.harderWhenLarger ? "larger is harder" : "smaller is harder")),
        el("p", { class: "current" }, "Now: ", el("output", { id: `current-${spec.name}` }, "–")),
        slider("low"), slider("high"),
        el("div", { class: "lock-row" },
          el("input", { id: `lock-${spec.name}`, type: "checkbox", dataset: { param: spec.name, lock: "1" } }),
          el("label", { for: `lock-${spec.name}` }, "Lock at"),
          el("input", { id: `lock-${spec.name}-value`, type: "number", ...range,
            disabled: true, inputmode: "decimal", "aria-label": `${spec.label}, locked value (${unit})`,
            dataset: { param: spec.name, lockValue: "1" } }),
          el("span", { class: "unit" }, unit), cmOutput(`lock-${spec.name}-value`, spec.name)));
    });
    $("#difficulty-params").replaceChildren(...rows);
    if (!rows.length) {
      $("#difficulty-params").append(el("p", { class: "muted", dataset: { testid: "no-adaptation" } },
        (LIVE_SETTINGS[name] || []).length ? "This game's difficulty does not adapt; its live settings are below."
          : "This game runs a fixed protocol: nothing to adjust while it runs."));
    }
    $("#difficulty-live-settings").replaceChildren(...(LIVE_SETTINGS[name] || []).map((spec) => el("div",
      { class: "slider-row", dataset: { setting: spec.name } },
      el("label", { for: `live-${spec.name}` }, `${spec.label} (${unitOf(spec.name)})`),
      el("input", { id: `live-${spec.name}`, type: "range", ...shownRange(spec),
        dataset: { setting: spec.name, testid: `live-${spec.name}` } }),
      el("input", { id: `live-${spec.name}-num`, type: "number", ...shownRange(spec),
        inputmode: "decimal", "aria-label": `${spec.label} (${unitOf(spec.name)}), number`,
        dataset: { setting: spec.name, mirror: "1" } }))));
    setStatus("", "idle");
    setConfirm("", "idle");
    expected = null;
  }

  /** A box set to a wire value, shown rounded. It remembers the value: sent unchanged (a lock
   * prefilled with the current value), it goes back exact, not as its rounding. */
  const fill = (box, name, value) => {
    box.value = String(toShown(name, value) ?? "");
    box.dataset.wire = String(value);
    box.dataset.shown = box.value;
    showCm(box.id, name, box.value);
  };
  const pair = (id, name, value) => {
    fill($(`#${id}-num`), name, value);
    $(`#${id}`).value = $(`#${id}-num`).value;
    showCm(id, name, $(`#${id}`).value);
  };

  /** Put the server's configuration into the form: every field, nothing from defaults. */
  function load(c) {
    if (c.game !== game) build(c.game);
    dirty.clear();
    const d = c.difficulty;
    pair("target-success", "target_success", d.target_success);
    for (const [name, b] of Object.entries(d.bounds || {})) {
      if (!$(`#bound-${name}-low`)) continue;
      pair(`bound-${name}-low`, name, b.low);
      pair(`bound-${name}-high`, name, b.high);
      $(`#lock-${name}`).checked = b.locked;
      const lock = $(`#lock-${name}-value`);
      if (b.locked && b.value !== null) fill(lock, name, b.value);
      else lock.value = "";
      showCm(lock.id, name, lock.value);
    }
    for (const spec of LIVE_SETTINGS[game] || []) {
      const value = (c.settings || {})[spec.name];
      if (value !== undefined && value !== null) pair(`live-${spec.name}`, spec.name, value);
    }
    shown = { revision: c.revision, session: c.session_id };
    form.dataset.revision = String(c.revision);
    form.dataset.session = String(c.session_id);
    showValues(d.values);
    enable();
  }

  /** Editable only while a game runs and its configuration is in the form. */
  function enable() {
    const ready = Boolean(running && config && latestState && config.session_id === latestState.session_id);
    form.dataset.ready = String(ready);
    form.querySelectorAll("input, button").forEach((n) => {
      const disabled = !ready || (n.dataset.lockValue === "1" && !$(`#lock-${n.dataset.param}`).checked);
      if (n.disabled !== disabled) n.disabled = disabled;
    });
  }

  function showValues(values) {
    for (const [name, value] of Object.entries(values || {})) {
      const out = $(`#current-${name}`);
      if (out) out.textContent = formatParameter(game, name, value, patient());
    }
  }

  function touch(...keys) {
    edits += 1;
    for (const key of keys) dirty.set(key, edits);
  }

  /** The request: only the fields the therapist changed, and the revision they were changed from. */
  function request() {
    const message = { type: "set_difficulty", station: current().station, revision: shown.revision,
      session_id: shown.session };
    // the one conversion back to SI, of the fields the therapist touched only
    const wire = (name, id) => {
      const box = $(`#${id}`);
      return box.value === box.dataset.shown ? Number(box.dataset.wire) : fromShown(name, box.value);
    };
    if (dirty.has("target_success")) message.target_success = wire("target_success", "target-success-num");
    const bounds = {};
    for (const spec of PARAMETERS[game] || []) {
      const b = {};
      // the number boxes hold what was typed (a slider clamps silently); the server checks it
      for (const which of ["low", "high"]) {
        if (dirty.has(`${which}:${spec.name}`)) b[which] = wire(spec.name, `bound-${spec.name}-${which}-num`);
      }
      if (dirty.has(`lock:${spec.name}`)) {
        b.locked = $(`#lock-${spec.name}`).checked;
        if (b.locked && $(`#lock-${spec.name}-value`).value !== "") b.value = wire(spec.name, `lock-${spec.name}-value`);
      }
      if (Object.keys(b).length) bounds[spec.name] = b;
    }
    if (Object.keys(bounds).length) message.bounds = bounds;
    const settings = {};
    for (const spec of LIVE_SETTINGS[game] || []) {
      if (dirty.has(`setting:${spec.name}`)) {
        settings[spec.name] = wire(spec.name, `live-${spec.name}-num`);
      }
    }
    if (Object.keys(settings).length) message.settings = settings;
    return message;
  }

  /** One change at a time: the next one goes from the revision the previous one made. */
  async function send() {
    clearTimeout(timer);
    const station = current();
    if (!station.station || !game || !config) return;
    if (sending) {
      sendAgain = true;
      return;
    }
    clearError(error);
    const message = request();
    const sent = new Map(dirty);
    sending = true;
    setStatus("Sending…", "pending");
    try {
      const reply = await ctx.conn.request(message);
      for (const [key, count] of sent) if (dirty.get(key) === count) dirty.delete(key);
      // the form now shows the revision this change made (the fields not sent were as loaded)
      shown = { revision: reply.revision, session: reply.session_id };
      form.dataset.revision = String(reply.revision);
      if (reply.session_id === config.session_id && reply.revision > config.revision) {
        // the pushed `config` may come after the reply (a game on another server process)
        const difficulty = Object.fromEntries(["level", "target_success", "values", "bounds", "per_direction"]
          .filter((k) => reply[k] !== undefined).map((k) => [k, reply[k]]));
        adopt({ ...config, settings: reply.settings, revision: reply.revision, difficulty });
      }
      const values = Object.entries(reply.values).map(([n, v]) => formatParameter(game, n, v, patient())).join(", ");
      const share = (LIVE_SETTINGS[game] || []).filter((spec) => reply.settings && reply.settings[spec.name] !== undefined)
        .map((spec) => `; ${spec.label.toLowerCase()} ${formatValue(spec.name, reply.settings[spec.name])}`)
        .join("");
      const what = reply.revision === message.revision ? "Nothing changed: the server keeps"
        : `Server applied the change at ${new Date().toLocaleTimeString()}:`;
      setStatus(`${what} target success ${formatValue("target_success", reply.target_success)}, level `
        + `${formatValue("level", reply.level)}, values ${values}${share}.`, "applied");
      expected = { bounds: reply.bounds, values: reply.values, perDirection: reply.per_direction || null, after: false };
      setConfirm("Waiting for the game to report the new values…", "pending");
      if (latestState) check(latestState); // the game's state may have come before the reply
      if (expected) expected.after = true;
    } catch (e) {
      setStatus("", "idle");
      showError(error, e);
      if (e.code === "stale_config" && e.reply && e.reply.config) {
        // Someone or something changed the configuration first: show it as it is now.
        dirty.clear();
        sendAgain = false;
        adopt(e.reply.config);
        error.textContent = `Not applied: ${e.message}. The form now shows the current values: `
          + "review them and apply your change again.";
      }
    } finally {
      sending = false;
    }
    settle(!dirty.size); // after a change, show the server's values (a lock's chosen value, say)
    if (sendAgain) {
      sendAgain = false;
      if (dirty.size) send();
    }
  }

  /** With no unsent edits the form shows the newest configuration; with some, say if it moved on. */
  function settle(reload = false) {
    if (!config) return;
    if (!dirty.size) {
      if (reload || config.revision !== shown.revision || config.session_id !== shown.session) load(config);
      setPending("");
    } else if (config.revision !== shown.revision || config.session_id !== shown.session) {
      setPending(`Changed by ${config.changed_by || "the server"} while you were editing: applying your change `
        + "will be refused and the form reloaded with what is current.");
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(send, SEND_DELAY_MS);
  }

  /** A configuration from the server (push, reply or refusal): the form follows it unless the
   * therapist has edits not yet sent (those would be refused as stale, and the form reloaded). */
  function adopt(c) {
    if (config && c.session_id === config.session_id && c.revision < config.revision) return;
    config = c;
    onConfig(c);
    if (!sending) settle();
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
      if (b.locked && b.value !== null && b.value !== undefined) return Math.abs(v - b.value) <= TOLERANCE;
      return v >= b.low - TOLERANCE && v <= b.high + TOLERANCE;
    }));
    if (exact || (expected.after && inside)) {
      const values = sets[0][1];
      const shown = Object.entries(values).map(([n, v]) => formatParameter(game, n, v, patient())).join(", ");
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

  function setPending(text) {
    const note = $("#difficulty-pending");
    note.textContent = text;
    note.hidden = !text;
  }

  // Keep each slider and its number box together; low never above high; remember what was touched.
  form.addEventListener("input", (event) => {
    const input = event.target;
    if (input.id === "target-success" || input.id === "target-success-num") {
      const other = input.id === "target-success" ? $("#target-success-num") : $("#target-success");
      other.value = input.value;
      touch("target_success");
      return;
    }
    const { param, bound, setting, mirror } = input.dataset;
    if (param && bound) {
      const base = `#bound-${param}`;
      const twin = mirror ? $(`${base}-${bound}`) : $(`${base}-${bound}-num`);
      twin.value = input.value;
      touch(`${bound}:${param}`);
      showCm(`bound-${param}-${bound}`, param, input.value);
      const [low, high] = [$(`${base}-low-num`).value, $(`${base}-high-num`).value];
      if (low !== "" && high !== "" && Number(low) > Number(high)) {
        const other = bound === "low" ? "high" : "low";
        $(`${base}-${other}`).value = input.value;
        $(`${base}-${other}-num`).value = input.value;
        showCm(`bound-${param}-${other}`, param, input.value);
        touch(`${other}:${param}`);
      }
    } else if (setting) {
      const twin = mirror ? $(`#live-${setting}`) : $(`#live-${setting}-num`);
      twin.value = input.value;
      touch(`setting:${setting}`);
    } else if (input.dataset.lock) {
      const value = $(`#lock-${param}-value`);
      value.disabled = !input.checked;
      if (input.checked && value.value === "") {
        const now = latestValue(param);
        if (now !== undefined) fill(value, param, now);
      }
      showCm(value.id, param, value.value);
      touch(`lock:${param}`);
    } else if (input.dataset.lockValue) {
      showCm(input.id, param, input.value);
      touch(`lock:${param}`);
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

  function latestValue(param) {
    const s = latestState;
    if (!s) return undefined;
    const values = s.difficulty || (s.difficulty_by_direction && Object.values(s.difficulty_by_direction)[0]);
    return values ? values[param] : undefined;
  }

  /** A state names a newer configuration than we hold and none came: ask for it (`watch` again). */
  function missedConfig(state) {
    const behind = state.config_revision !== undefined
      && (!config || config.session_id !== state.session_id || state.config_revision > config.revision);
    if (!behind) {
      clearTimeout(missedTimer);
      missedTimer = null;
    } else if (missedTimer === null) {
      missedTimer = setTimeout(() => {
        missedTimer = null;
        const s = latestState;
        if (s && s.config_revision !== undefined && (!config || config.session_id !== s.session_id
            || s.config_revision > config.revision)) {
          ctx.conn.request({ type: "watch", station: s.station }).catch(() => {});
        }
      }, MISSED_CONFIG_MS);
    }
  }

  return {
    /** A state push for the watched station. */
    onState(state) {
      latestState = state;
      const nowRunning = state.phase !== "idle" && state.phase !== "finished";
      if (nowRunning !== running) {
        running = nowRunning;
        if (!running) {
          setStatus("No game running on this station.", "idle");
          setPending("");
        }
      }
      enable();
      if (!running) return;
      missedConfig(state);
      const values = state.difficulty || (state.difficulty_by_direction && state.target
        ? state.difficulty_by_direction[state.target.direction] : null);
      if (values) showValues(values);
      check(state);
    },
    /** The server's configuration of the watched station's game (pushed, or in `game_started`). */
    onConfig(c) {
      adopt(c);
      enable();
    },
    reset() {
      game = null;
      config = null;
      shown = { revision: null, session: null };
      latestState = null;
      running = null;
      dirty.clear();
      clearTimeout(missedTimer);
      missedTimer = null;
      form.dataset.revision = "";
      $("#difficulty-params").replaceChildren();
      $("#difficulty-live-settings").replaceChildren();
      setStatus("No game running on this station.", "idle");
      setConfirm("", "idle");
      setPending("");
      clearError(error);
      enable();
    },
  };
}
