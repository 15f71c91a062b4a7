// Assessment of one patient: start the guided assessment protocol on a station (start_game with
// game "assessment"), and show `assessment_report`: every metric of an assessment against the
// baseline (the first one) with the smallest change worth noting and a verdict, plus a small trend
// chart per metric across all assessments (`history`). The plan section (views/plan.js) lives in
// the same view. The page opens on the summary (the notable changes with their verdicts) and the
// plan; the full report, the trends and the start form are folded (<details>).

import { $, $$, act, clearError, el, showError } from "../dom.js";
import { lineChart } from "../charts.js";
import { ASSESSMENT_STAGES, LEAN_DIRECTIONS, STAGE_LABELS, STANDARD_STAGES, labelOf } from "../specs.js";
import { dateText, digitsFor, formatValue, sideName, toShown, unitOf } from "../units.js";
import { planPanel } from "./plan.js";
import { outcomesPanel } from "./outcomes.js";

// the basis the server gives a threshold from the clinic's own table (scoring/smallest_change.py)
const CLINIC_BASIS = "set by the clinic:";
const VERDICTS = {
  improved: { text: "Improved", cls: "verdict-improved" },
  worse: { text: "Worse", cls: "verdict-worse" },
  changed: { text: "Changed", cls: "verdict-new" }, // a notable change with no better direction
};

/** A metric's identity across assessments: name, side, direction. */
const keyOf = (m) => `${m.metric}|${m.side || ""}|${m.direction || ""}`;

export function assessmentView(ctx) {
  const error = $("#assess-error");
  const status = $("#assess-status");
  let chosen = null; // patient id
  let started = null; // {station, sessionId, patientId} of an assessment started here
  let history = [];
  const plan = planPanel(ctx, () => patient());
  const outcomes = outcomesPanel(ctx, () => patient());

  const patient = () => ctx.patients.find((p) => p.id === Number($("#assess-patient").value));

  function fillPatients() {
    const select = $("#assess-patient");
    const keep = chosen ?? Number(select.value);
    select.replaceChildren(...ctx.patients.map((p) => el("option", { value: p.id },
      `${p.code} (affected ${sideName(p.affected_side)})`)));
    if (keep && ctx.patients.some((p) => p.id === keep)) select.value = String(keep);
    $("#assess-load").disabled = !ctx.patients.length;
  }

  function fillStations() {
    const select = $("#assess-station");
    const keep = select.value;
    const names = ctx.stations.map((s) => s.station);
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (names.includes(keep)) select.value = keep;
  }

  function buildStages() {
    const boxes = (id, legend, names, label) => $(id).replaceChildren(el("legend", {}, legend), ...names.map((name) =>
      el("label", { class: "check" },
        el("input", { type: "checkbox", value: name, checked: !STANDARD_STAGES.includes(name),
          id: `${id.slice(1, -1)}-${name}` }),
        ` ${label(name)}`)));
    boxes("#assess-stages", "Stages", ASSESSMENT_STAGES, (name) => STAGE_LABELS[name]);
    boxes("#assess-leans", "Limits of stability: lean", LEAN_DIRECTIONS, (name) => name);
    showLeanSettings();
  }

  /** The lean time and directions only matter with the limits-of-stability stage. */
  function showLeanSettings() {
    $("#assess-lean-settings").hidden = !$("#assess-stage-limits_of_stability").checked;
  }

  // -- the report -------------------------------------------------------------------------------

  async function load(sessionId = null) {
    const p = patient();
    if (!p) {
      showError(error, new Error("Choose a patient."));
      return;
    }
    if (chosen !== p.id) {
      plan.clear();
      outcomes.clear();
    }
    chosen = p.id;
    status.textContent = `Loading ${p.code}…`;
    const request = { type: "assessment_report", patient_id: p.id };
    if (sessionId) request.session_id = sessionId;
    const [report] = await Promise.all([ctx.conn.request(request), plan.load(p), outcomes.load(p)]);
    history = report.history || [];
    renderReport(report, p);
    renderTrends(report, p);
    // nothing to compare yet: the start form is what this patient needs
    if (!history.length) $("#assess-run").open = true;
    status.textContent = history.length
      ? `${p.code}: ${history.length} assessment${history.length === 1 ? "" : "s"} stored.`
      : `${p.code}: no assessment stored yet. Run one on a station to set the baseline.`;
  }

  const when = (a) => (a && a.started_at ? dateText(a.started_at) : "");

  function renderReport(report, p) {
    const side = (r) => sideName(r.side, p.affected_side) || "–";
    const select = $("#assess-session");
    const byId = new Map(history.map((a) => [a.session_id, a]));
    select.replaceChildren(...history.map((a, i) => el("option", { value: a.session_id },
      `#${a.session_id} ${when(a)}${i === 0 ? " (baseline)" : ""}`)));
    select.disabled = history.length < 2;
    if (report.session_id) select.value = String(report.session_id);
    const body = $("#assess-report-body");
    const summary = $("#assess-summary");
    renderHighlights([], side);
    if (!report.session_id) {
      summary.textContent = "No assessment yet: run one (below) to set this patient's baseline.";
      body.replaceChildren(el("tr", {}, el("td", { colspan: 9 }, "No assessment results stored for this patient.")));
      return;
    }
    const base = byId.get(report.baseline_session_id);
    const current = byId.get(report.session_id);
    const rows = report.rows || [];
    const counts = { improved: 0, worse: 0, changed: 0, new: 0 };
    for (const r of rows) if (counts[r.verdict] !== undefined) counts[r.verdict] += 1;
    summary.textContent = report.baseline_session_id === report.session_id
      ? `Assessment #${report.session_id} (${when(current)}) is the baseline: later assessments are compared with it.`
      : `Assessment #${report.session_id} (${when(current)}) against the baseline #${report.baseline_session_id} `
        + `(${when(base)}): ${counts.improved} improved, ${counts.worse} worse, `
        + `${counts.changed ? `${counts.changed} changed, ` : ""}`
        + `${rows.length - counts.improved - counts.worse - counts.changed - counts.new} without a notable change`
        + `${counts.new ? `, ${counts.new} new (not in the baseline)` : ""}.`;
    body.replaceChildren(...rows.map((r) => {
      // the unit is named once, with the metric (cells stay narrow on a tablet); one rounding per row
      const shown = rowFormat(r);
      return el("tr", { dataset: { metric: r.metric, side: r.side || "", direction: r.direction || "",
        verdict: r.verdict || "" } },
      el("th", { scope: "row" }, labelOf(r.metric)),
      el("td", {}, side(r)),
      el("td", {}, r.direction || "–"),
      el("td", {}, betterText(r)),
      el("td", {}, shown(r.baseline)),
      el("td", {}, shown(r.value)),
      el("td", {}, shown(r.change, true)),
      el("td", { title: r.basis || "", class: fromClinic(r) ? "clinic-set" : "" },
        shown(r.smallest_change), fromClinic(r) ? " *" : ""),
      el("td", {}, verdictBadge(r)));
    }));
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 9 }, "This assessment stored no comparable metric.")));
    if (report.baseline_session_id !== report.session_id) renderHighlights(rows, side);
    renderBasis(rows);
  }

  /** The summary's table: only the metrics whose change is worth noting, worse first. */
  function renderHighlights(rows, side) {
    const rank = { worse: 0, changed: 1, improved: 2 };
    const notable = rows.filter((r) => r.verdict in rank).sort((a, b) => rank[a.verdict] - rank[b.verdict]);
    $("#assess-highlights").hidden = !notable.length;
    $("#assess-highlights-body").replaceChildren(...notable.map((r) => {
      const shown = rowFormat(r);
      return el("tr", { dataset: { metric: r.metric, side: r.side || "", direction: r.direction || "",
        verdict: r.verdict } },
      el("th", { scope: "row" }, [labelOf(r.metric), r.direction].filter(Boolean).join(", ")),
      el("td", {}, side(r)),
      el("td", {}, shown(r.baseline)),
      el("td", {}, shown(r.value)),
      el("td", {}, verdictBadge(r)));
    }));
  }

  const fromClinic = (r) => (r.basis || "").startsWith(CLINIC_BASIS);

  /** Where the smallest changes come from: the clinic's own table, or the built-in defaults. */
  function renderBasis(rows) {
    const clinic = [...new Map(rows.filter(fromClinic).map((r) => [r.metric, r])).values()];
    const note = $("#assess-basis");
    note.replaceChildren();
    if (!rows.length) return;
    if (!clinic.length) {
      note.textContent = "Smallest change worth noting: conservative defaults, not values from a study "
        + "(hover a value for its reason); a clinic can set its own (docs/clinical-modes.md).";
      return;
    }
    note.append("Smallest change worth noting: * set by the clinic (",
      ...clinic.flatMap((r, i) => [i ? "; " : "", el("strong", {}, labelOf(r.metric)), ": ",
        r.basis.slice(CLINIC_BASIS.length).trim()]),
      "); the others are conservative defaults, not values from a study.");
  }

  function renderTrends(report, p) {
    const container = $("#assess-trends");
    if (!history.length) {
      container.replaceChildren(el("p", { class: "muted empty" }, "No assessments yet."));
      return;
    }
    // One chart per metric (side, direction), in the report's order, then any others.
    const keys = [];
    const meta = new Map();
    for (const r of report.rows || []) {
      const k = keyOf(r);
      if (!meta.has(k)) {
        keys.push(k);
        meta.set(k, r);
      }
    }
    for (const a of history) {
      for (const m of a.metrics) {
        const k = keyOf(m);
        if (!meta.has(k)) {
          keys.push(k);
          meta.set(k, m);
        }
      }
    }
    container.replaceChildren(...keys.map((k) => {
      const m = meta.get(k);
      const title = [labelOf(m.metric), sideName(m.side, p.affected_side), m.direction].filter(Boolean).join(", ");
      const points = [];
      for (const a of history) {
        const found = a.metrics.find((x) => keyOf(x) === k);
        if (found && found.value !== null && found.value !== undefined) {
          points.push({ t: new Date(a.started_at).getTime(), y: toShown(m.metric, found.value),
            text: formatValue(m.metric, found.value), label: `assessment #${a.session_id}, ${when(a)}` });
        }
      }
      const box = el("div", { class: "trend", dataset: { metric: m.metric, side: m.side || "", direction: m.direction || "" } });
      const figure = el("figure", { class: "card chart" }, el("figcaption", {}, title), box);
      lineChart(box, { title, unit: unitOf(m.metric), small: true, series: [{ name: title, points }] });
      return figure;
    }));
  }

  // -- starting an assessment ---------------------------------------------------------------------

  $("#assess-stages").addEventListener("change", showLeanSettings);

  $("#assess-start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const startError = $("#assess-start-error");
    const p = patient();
    const station = $("#assess-station").value;
    const stages = $$("#assess-stages input:checked").map((box) => box.value);
    const quiet = Number($("#assess-quiet").value);
    const lean = Number($("#assess-lean").value);
    const leans = $$("#assess-leans input:checked").map((box) => box.value);
    const measuresLeans = stages.includes("limits_of_stability");
    if (!p) return showError(startError, new Error("Choose a patient."));
    if (!station) return showError(startError, new Error("Choose a station."));
    if (!stages.length) return showError(startError, new Error("Choose at least one stage."));
    if ($("#assess-quiet").value === "" || !Number.isFinite(quiet)) {
      return showError(startError, new Error("Quiet standing: enter a number of seconds."));
    }
    const settings = { stages, quiet_s: quiet };
    if (measuresLeans) {
      if ($("#assess-lean").value === "" || !Number.isFinite(lean)) {
        return showError(startError, new Error("Limits of stability: enter a number of seconds per lean."));
      }
      if (!leans.length) return showError(startError, new Error("Limits of stability: choose at least one lean."));
      Object.assign(settings, { lean_s: lean, lean_directions: leans });
    }
    const reply = await act($("#assess-start"), startError, () => ctx.conn.request({
      type: "start_game", station, patient_id: p.id, game: "assessment", settings,
    }));
    if (!reply) return;
    started = { station: reply.station, sessionId: reply.session_id, patientId: p.id };
    $("#assess-start-status").textContent = `Assessment #${reply.session_id} started on ${reply.station} for `
      + `${p.code}. Its results appear here when it ends.`;
    ctx.emit("game_started", reply);
  });

  $("#assess-watch").addEventListener("click", () => ctx.go("session", {
    station: $("#assess-station").value, patientId: chosen ?? undefined,
  }));

  // When the assessment started here has stored its results, show the new report.
  ctx.conn.on("session_metrics", (m) => {
    if (!started || m.session_id !== started.sessionId) return;
    $("#assess-start-status").textContent = `Assessment #${m.session_id} finished; its results are stored.`;
    if (chosen === started.patientId && !$("#view-assessment").hidden) act(null, error, () => load());
  });
  ctx.conn.on("game_stopped", (m) => {
    if (!started || m.session_id !== started.sessionId) return;
    if (m.reason !== "completed") {
      $("#assess-start-status").textContent = `Assessment #${m.session_id} ended (${m.reason.replace(/_/g, " ")}).`;
    }
  });

  $("#assess-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act($("#assess-load"), error, () => load());
  });
  $("#assess-patient").addEventListener("change", () => act(null, error, () => load()));
  $("#assess-session").addEventListener("change", (e) => act(null, error, () => load(Number(e.target.value))));
  ctx.on("patients", fillPatients);
  ctx.on("stations", fillStations);
  buildStages();

  return {
    shown(options) {
      if (options.patientId) chosen = options.patientId;
      fillPatients();
      fillStations();
      clearError(error);
      if (patient()) act(null, error, () => load());
    },
  };
}

// scoring/assessment.py: compare() says "improved", "worse", "changed", "no notable change", or "new" (the
// baseline has no such value).
function verdictText(verdict) {
  if (!verdict) return "–";
  if (verdict === "new") return "New: no baseline value";
  if (/^no|none|unchanged/.test(verdict)) return "No notable change";
  return verdict.replace(/_/g, " ");
}

function betterText(row) {
  if (row.better === "higher" || row.better === "lower") return row.better;
  if (row.ideal !== null && row.ideal !== undefined) return `nearer ${row.ideal}`;
  return row.better ? String(row.better).replace(/_/g, " ") : "–";
}

/** A report row's values in the metric's shown unit, all with the same digits (a change and a
 * threshold scale as the values do); `signed` writes "+" on a rise. Units are in the row's label. */
function rowFormat(row) {
  const digits = digitsFor(row.metric, row.baseline, row.value, row.smallest_change);
  return (value, signed = false) => formatValue(row.metric, value, { digits, signed, unit: false });
}

function verdictBadge(row) {
  const verdict = VERDICTS[row.verdict]
    || { text: verdictText(row.verdict), cls: row.verdict === "new" ? "verdict-new" : "verdict-none" };
  return el("span", { class: `verdict ${verdict.cls}` }, verdict.text);
}
