// The patient's plan (in the assessment view): "Suggest from assessment" (suggest_plan) shows each
// game's suggested start settings and difficulty with the reasons (basis); the therapist edits the
// values, removes settings or adds the set-up form's others (a training mode, say), and accepts (save_plan); the stored plan (get_plan) is shown below. The editor is built
// from the plan itself (numbers, switches, choices, lists), so a game or setting the server adds
// shows up without a change here; the server checks every entry as a start_game would. Numbers are
// edited and shown in clinicians' units (units.js: cm, %, s) and sent back in the wire's.

import { $, $$, act, clearError, el, showError } from "../dom.js";
import {
  GAMES, GAME_LABELS, SETTING_CHOICES, STAGE_LABELS, START_SETTINGS, VISION_LABELS, describeDifficulty,
  labelOf, parameter, settingChoices,
} from "../specs.js";
import { dateTimeText, formatValue, fromShown, stepDistanceCm, toShownExact, unitOf } from "../units.js";

export function planPanel(ctx, currentPatient) {
  const error = $("#plan-error");
  const status = $("#plan-status");
  const form = $("#plan-form");
  let stored = null; // the current stored plan of the loaded patient (null: none)
  let source = null; // the session a plan being edited came from
  let patientId = null;

  const order = (games) => [...GAMES.filter((g) => g in games), ...Object.keys(games).filter((g) => !GAMES.includes(g))];

  // -- the editor ---------------------------------------------------------------------------------

  /** Inputs for one value at `path` ([game, "settings", name] ...); objects become fieldsets. */
  function field(game, path, value) {
    const name = path[path.length - 1];
    const id = `plan-${path.join("-")}`;
    const data = { path: JSON.stringify(path) };
    const section = path[1];
    // a bound's low/high/value is in the parameter's unit (named on its fieldset)
    const bound = section === "difficulty" && path.length === 5;
    const label = bound ? { low: "Lowest", high: "Highest", value: "Locked at", locked: "Locked" }[name] || name
      : labelOf(name, game);
    const unitName = bound ? path[3] : name; // whose unit the number is in
    if (value === null || value === undefined) return null;
    if (typeof value === "boolean") {
      return el("label", { class: "check plan-field" },
        el("input", { type: "checkbox", id, checked: value, dataset: { ...data, kind: "bool" } }), ` ${label}`);
    }
    if (typeof value === "number") {
      return el("div", { class: "field plan-field" },
        el("label", { for: id }, label),
        el("input", { id, type: "number", step: "any", value: String(toShownExact(unitName, value)),
          inputmode: "decimal", dataset: { ...data, kind: "number", unit: unitName } }));
    }
    if (typeof value === "string") {
      const choices = SETTING_CHOICES[name];
      const input = choices
        ? el("select", { id, dataset: { ...data, kind: "text" } }, ...choices.map((c) =>
          el("option", { value: c, selected: c === value }, name === "vision" ? VISION_LABELS[c] : c)))
        : el("input", { id, value, dataset: { ...data, kind: "text" } });
      return el("div", { class: "field plan-field" }, el("label", { for: id }, label), input);
    }
    if (Array.isArray(value)) {
      const choices = settingChoices(game, name);
      if (choices && choices.length && value.every((v) => choices.includes(v))) {
        return el("fieldset", { class: "checks plan-field", id, dataset: { ...data, kind: "choices" } },
          el("legend", {}, label), ...choices.map((c) => el("label", { class: "check" },
            el("input", { type: "checkbox", value: c, checked: value.includes(c), id: `${id}-${c}` }),
            ` ${STAGE_LABELS[c] || c}`)));
      }
      return el("div", { class: "field plan-field" },
        el("label", { for: id }, `${label} (comma-separated)`),
        el("input", { id, value: value.join(", "), dataset: { ...data, kind: "list" } }));
    }
    if (typeof value === "object") {
      const spec = section === "difficulty" && path[2] === "bounds" && path.length === 4 ? parameter(game, name) : null;
      const reach = spec && name === "step_distance_frac" ? stepDistanceCm(1, currentPatient()) : "";
      const title = spec ? `${spec.label} (${unitOf(name)}${reach ? `, 1.00 = ${reach}` : ""}; `
        + `${spec.harderWhenLarger ? "larger" : "smaller"} is harder)`
        : path.length === 2 ? { settings: "Settings", difficulty: "Starting difficulty" }[name] || label
          : name === "bounds" ? "Bounds" : label;
      const children = Object.entries(value).map(([k, v]) => field(game, [...path, k], v)).filter(Boolean);
      return el("fieldset", { class: `plan-group plan-${name}`, dataset: { group: JSON.stringify(path) } },
        el("legend", {}, title), ...children);
    }
    return null;
  }

  // -- settings the suggestion left out (a mode, the trials, ...): added and removed by the therapist

  /** What an added setting starts at: the set-up form's default (index.html), in wire units. */
  function startValue(game, spec) {
    const input = document.getElementById(spec.id);
    if (spec.kind === "bool") return true; // added to switch it on
    if (spec.kind === "choices") return [...(settingChoices(game, spec.name) || [])];
    if (spec.kind === "choice") {
      const chosen = input && (input.querySelector("option[selected]") || input.options[0]);
      return chosen ? chosen.value : (SETTING_CHOICES[spec.name] || [""])[0];
    }
    const value = Number(input ? input.defaultValue : 0) / (spec.scale || 1);
    return Number.isFinite(value) ? Math.round(value * 10000) / 10000 : 0;
  }

  /** One settings field with its Remove button (the setting then keeps the game's default). */
  function removable(game, node, name, changed) {
    const wrap = el("div", { class: "plan-setting", dataset: { setting: name } }, node);
    wrap.append(el("button", {
      type: "button", class: "link plan-remove", "aria-label": `Remove ${labelOf(name, game)} from the plan`,
      onclick: () => { wrap.remove(); changed(); },
    }, "Remove"));
    return wrap;
  }

  /** Make the game's settings group editable in its set: Remove on each, and "Add a setting…"
   * offering the set-up form's other settings of this game. */
  function settingsEditor(game, group) {
    const specs = START_SETTINGS[game] || [];
    const select = el("select", { id: `plan-add-${game}`, "aria-label": `Add a setting to ${GAME_LABELS[game] || game}` });
    const present = () => new Set($$(".plan-setting", group).map((n) => n.dataset.setting));
    const refresh = () => {
      const have = present();
      select.replaceChildren(el("option", { value: "" }, "Add a setting…"),
        ...specs.filter((spec) => !have.has(spec.name)).map((spec) =>
          el("option", { value: spec.name }, labelOf(spec.name, game))));
      select.disabled = select.options.length < 2;
    };
    for (const child of [...group.children]) {
      if (child.tagName === "LEGEND") continue;
      const node = child.matches("[data-path]") ? child : $("[data-path]", child);
      const name = node ? JSON.parse(node.dataset.path)[2] : null;
      if (!name) continue;
      const next = child.nextSibling; // the wrapper takes the child out of the group
      group.insertBefore(removable(game, child, name, refresh), next);
    }
    const adder = el("div", { class: "field plan-add" }, select);
    select.addEventListener("change", () => {
      const spec = specs.find((x) => x.name === select.value);
      if (!spec) return;
      const node = field(game, [game, "settings", spec.name], startValue(game, spec));
      group.insertBefore(removable(game, node, spec.name, refresh), adder);
      refresh();
      const input = node.matches("input, select") ? node : $("input, select", node);
      if (input) input.focus();
    });
    group.append(adder);
    refresh();
  }

  function basisLines(basis, game) {
    if (!basis) return [];
    const text = (item) => (typeof item === "string" ? item : item.text || item.reason || item.basis || JSON.stringify(item));
    if (Array.isArray(basis)) {
      return basis.filter((item) => (game ? typeof item === "object" && item.game === game
        : typeof item === "string" || !item.game)).map(text);
    }
    if (typeof basis === "object") {
      const lines = game ? basis[game] : Object.entries(basis).filter(([k]) => !(k in GAME_LABELS)).map(([, v]) => v);
      return (Array.isArray(lines) ? lines : lines ? [lines] : []).flat().map(text);
    }
    return game ? [] : [String(basis)];
  }

  /** Open the editor on a plan ({game: {settings, difficulty}}) with its basis. */
  function edit(games, basis, fromSession, heading) {
    source = fromSession ?? null;
    $("#plan-form-title").textContent = heading;
    $("#plan-source").textContent = fromSession
      ? `From assessment #${fromSession}.` : "No assessment stored: suggested from the patient record only.";
    $("#plan-basis").replaceChildren(...basisLines(basis, null).map((line) => el("li", {}, line)));
    $("#plan-games").replaceChildren(...order(games).map((game) => {
      const entry = games[game] || {};
      const include = `plan-include-${game}`;
      const lines = basisLines(basis, game);
      const settings = field(game, [game, "settings"], entry.settings || {});
      settingsEditor(game, settings);
      return el("fieldset", { class: "plan-game card", dataset: { game } },
        el("legend", {}, GAME_LABELS[game] || game),
        el("label", { class: "check" }, el("input", { type: "checkbox", id: include, checked: true }),
          " Include in the plan"),
        lines.length ? el("ul", { class: "basis", dataset: { testid: `plan-basis-${game}` } },
          ...lines.map((line) => el("li", {}, line))) : null,
        settings,
        field(game, [game, "difficulty"], entry.difficulty || {}));
    }));
    $("#plan-note-text").value = stored && heading.startsWith("Edit") ? stored.note || "" : "";
    form.hidden = false;
    clearError(error);
  }

  /** The edited plan from the form; an Error naming the field when a value is not valid. */
  function collect() {
    const plan = {};
    for (const box of $$("#plan-games fieldset.plan-game")) {
      const game = box.dataset.game;
      if (!$(`#plan-include-${game}`).checked) continue;
      plan[game] = { settings: {}, difficulty: {} };
      for (const node of $$("[data-path]", box)) {
        const path = JSON.parse(node.dataset.path);
        const label = node.id && $(`label[for="${node.id}"]`) ? $(`label[for="${node.id}"]`).textContent
          : path.slice(1).join(".");
        let value;
        if (node.dataset.kind === "bool") value = node.checked;
        else if (node.dataset.kind === "number") {
          const text = node.value.trim();
          if (text === "" || !Number.isFinite(Number(text))) {
            throw new Error(`${GAME_LABELS[game] || game}, ${label}: enter a number.`);
          }
          value = fromShown(node.dataset.unit, text);
        } else if (node.dataset.kind === "choices") {
          value = $$("input:checked", node).map((b) => b.value);
          if (!value.length) throw new Error(`${GAME_LABELS[game] || game}, ${label}: choose at least one.`);
        } else if (node.dataset.kind === "list") {
          value = node.value.split(",").map((v) => v.trim()).filter(Boolean);
        } else value = node.value;
        let target = plan;
        for (const key of path.slice(0, -1)) target = target[key] ??= {};
        target[path[path.length - 1]] = value;
      }
    }
    if (!Object.keys(plan).length) throw new Error("Include at least one game in the plan.");
    return plan;
  }

  // -- the stored plan ------------------------------------------------------------------------------

  function renderStored() {
    const box = $("#plan-current");
    $("#plan-edit").disabled = !stored;
    if (!stored) {
      box.replaceChildren(el("p", { class: "muted", dataset: { testid: "no-plan" } },
        "No plan stored for this patient yet."));
      return;
    }
    const saved = stored.created_at ? dateTimeText(stored.created_at) : "";
    const games = stored.games || {};
    box.replaceChildren(
      el("p", { dataset: { planId: stored.plan_id } },
        `Plan #${stored.plan_id}${saved ? `, saved ${saved}` : ""}`
        + `${stored.source_session_id ? `, from assessment #${stored.source_session_id}` : ""}.`
        + `${stored.note ? ` Note: ${stored.note}` : ""}`),
      el("div", { class: "table-wrap" }, el("table", { class: "compact", dataset: { testid: "plan-table" } },
        el("caption", { class: "visually-hidden" }, "The stored plan: settings and starting difficulty per game"),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Game"), el("th", { scope: "col" }, "Settings"),
          el("th", { scope: "col" }, "Starting difficulty"))),
        el("tbody", {}, ...order(games).map((game) => el("tr", { dataset: { game } },
          el("th", { scope: "row" }, GAME_LABELS[game] || game),
          el("td", {}, describeSettings(game, games[game].settings || {})),
          el("td", {}, describeDifficulty(game, games[game].difficulty, currentPatient()))))))),
      el("div", { class: "buttons" }, el("button", {
        type: "button", class: "secondary", onclick: () => ctx.go("session", { patientId }),
      }, "Start a session from the plan")));
  }

  function describeSettings(game, settings) {
    const parts = Object.entries(settings).filter(([, v]) => v !== null && v !== undefined).map(([name, v]) => {
      const shown = Array.isArray(v) ? v.join(", ") : typeof v === "boolean" ? (v ? "on" : "off")
        : typeof v === "number" ? formatValue(name, v, { unit: false }) : String(v);
      return `${labelOf(name, game)}: ${shown}`;
    });
    return parts.join("; ") || "defaults";
  }

  // -- actions ----------------------------------------------------------------------------------------

  $("#plan-suggest").addEventListener("click", (event) => act(event.currentTarget, error, async () => {
    const p = currentPatient();
    if (!p) throw new Error("Choose a patient.");
    status.textContent = "";
    const reply = await ctx.conn.request({ type: "suggest_plan", patient_id: p.id });
    edit(reply.plan || {}, reply.basis, reply.from_session_id, `Suggested plan for ${p.code}`);
    status.textContent = "Check and edit the suggestion, then accept it.";
  }));

  $("#plan-edit").addEventListener("click", () => {
    if (!stored) return;
    const p = currentPatient();
    edit(stored.games || {}, null, stored.source_session_id, `Edit the stored plan${p ? ` of ${p.code}` : ""}`);
    status.textContent = "";
  });

  $("#plan-discard").addEventListener("click", () => {
    form.hidden = true;
    status.textContent = "Discarded; the stored plan is unchanged.";
    clearError(error);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const p = currentPatient();
    let plan;
    try {
      if (!p) throw new Error("Choose a patient.");
      plan = collect();
    } catch (e) {
      showError(error, e);
      return;
    }
    const message = { type: "save_plan", patient_id: p.id, plan };
    if (source) message.source_session_id = source;
    const note = $("#plan-note-text").value.trim();
    if (note) message.note = note;
    const reply = await act($("#plan-save"), error, () => ctx.conn.request(message));
    if (!reply) return;
    stored = reply.plan || null;
    patientId = p.id;
    form.hidden = true;
    renderStored();
    status.textContent = `Plan #${stored ? stored.plan_id : "?"} saved for ${p.code}.`;
    ctx.emit("plan_saved", { patientId: p.id, plan: stored });
  });

  return {
    /** Show the stored plan of this patient (get_plan). */
    async load(p) {
      patientId = p.id;
      try {
        const reply = await ctx.conn.request({ type: "get_plan", patient_id: p.id });
        stored = reply.plan || null;
        renderStored();
      } catch (e) {
        stored = null;
        renderStored();
        showError(error, e);
      }
    },
    /** Another patient: close the editor. */
    clear() {
      form.hidden = true;
      stored = null;
      status.textContent = "";
      clearError(error);
      renderStored();
    },
  };
}
