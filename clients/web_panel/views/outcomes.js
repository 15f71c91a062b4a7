// Standard measures and clinical scales of one patient, in the assessment view: each measure's first
// result against its latest with the MDC/MCID verdict and the norm, the training dose by week
// (`list_scales`), the patient's
// birth year and sex for norms (`set_patient_details`), the form that enters a scale item by item
// (built from `outcome_catalogue`: the server holds each scale's items and scoring rule; `save_scale`
// returns the computed total), and the PDF progress report and FHIR export downloads.

import { $, act, clearError, el, showError } from "../dom.js";
import { download } from "../csv.js";
import { dateText } from "../units.js";

const VERDICT_CLASS = { improved: "verdict-improved", worse: "verdict-worse" };

export function outcomesPanel(ctx, patient) {
  const error = $("#outcome-error");
  let catalogue = null; // {scales, measures}
  let shownFor = null; // patient id whose data is shown

  async function ensureCatalogue() {
    if (!catalogue) {
      catalogue = await ctx.conn.request({ type: "outcome_catalogue" });
      $("#scale-choice").replaceChildren(...catalogue.scales.map((s) => el("option", { value: s.id }, s.name)));
      buildItems();
    }
    return catalogue;
  }

  const scaleOf = (id) => catalogue.scales.find((s) => s.id === id);

  /** One control per item: a choice list (with "not tested" where the item may be left out) or a number. */
  function buildItems() {
    const scale = scaleOf($("#scale-choice").value);
    $("#scale-instructions").textContent = scale.instructions || "";
    const children = [];
    let section = null;
    for (const item of scale.items) {
      if (item.section && item.section !== section) {
        section = item.section;
        children.push(el("fieldset", {}, el("legend", {}, section)));
      }
      const id = `scale-item-${item.key.replace(/[^A-Za-z0-9_-]/g, "-")}`;
      let control;
      if (item.choices.length) {
        control = el("select", { id, dataset: { key: item.key } },
          el("option", { value: "" }, item.optional ? "not tested" : "–"),
          ...item.choices.map((c) => el("option", { value: String(c) }, String(c))));
      } else {
        control = el("input", { id, type: "number", min: item.low, max: item.high, step: "any", inputmode: "decimal",
          dataset: { key: item.key }, placeholder: item.optional ? "not tested" : "" });
      }
      children.push(el("div", { class: "scale-item" }, el("label", { for: id }, item.label), control));
    }
    $("#scale-items").replaceChildren(...children);
  }

  /** The answers entered, each as the catalogue spells its choice (a number, or a grade such as "1+");
   * a number item as a number; items left empty are not sent. */
  function answers(scale) {
    const items = {};
    for (const item of scale.items) {
      const control = $(`#scale-items [data-key="${CSS.escape(item.key)}"]`);
      if (!control || control.value === "") continue;
      items[item.key] = item.choices.length
        ? item.choices.find((c) => String(c) === control.value)
        : Number(control.value);
    }
    return items;
  }

  async function load(p) {
    await ensureCatalogue();
    const [reply, sessions] = await Promise.all([ctx.conn.request({ type: "list_scales", patient_id: p.id }),
      ctx.conn.request({ type: "list_sessions", patient_id: p.id })]);
    // the FHIR export of one session: live sessions only (a replayed recording is not exported)
    $("#report-session").replaceChildren(el("option", { value: "" }, "every session and scale"),
      ...sessions.sessions.filter((x) => x.source === "live").reverse().map((x) => el("option",
        { value: x.session_id }, `session #${x.session_id}, ${x.game}, ${dateText(x.started_at)}`)));
    shownFor = p.id;
    $("#outcome-birth-year").value = reply.details.birth_year ?? "";
    $("#outcome-sex").value = reply.details.sex ?? "";
    renderMeasures(reply.measures || []);
    renderDose(reply.dose || []);
    renderHistory(reply.results || []);
  }

  function value(m, v, signed = false) {
    if (v === null || v === undefined) return "–";
    const text = Number(v).toFixed(m.digits);
    return signed && v > 0 ? `+${text}` : text;
  }

  function renderMeasures(rows) {
    const body = $("#outcome-measures-body");
    if (!rows.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 7 }, "No standard measure recorded yet: enter a scale below.")));
      return;
    }
    body.replaceChildren(...rows.map((m) => el("tr", { dataset: { measure: m.measure, verdict: m.verdict } },
      el("th", { scope: "row" }, `${m.name} (${m.unit})`),
      el("td", {}, value(m, m.baseline), el("br"), el("span", { class: "muted" }, dateText(m.baseline_at))),
      el("td", {}, value(m, m.latest), el("br"), el("span", { class: "muted" }, dateText(m.latest_at))),
      el("td", {}, m.verdict === "single" ? "–" : value(m, m.change, true)),
      el("td", {}, `${m.mdc ?? "–"} / ${m.mcid ?? "–"}`),
      el("td", {}, el("span", { class: `verdict ${VERDICT_CLASS[m.verdict.split("_")[0]] || "verdict-none"}` },
        m.verdict_text)),
      el("td", {}, m.norm === null ? "–" : String(m.norm),
        m.norm === null ? null : el("br"), m.norm === null ? null : el("span", { class: "muted" }, m.norm_group)))));
  }

  /** Active time in minutes (one decimal), adherence in whole percent, as the PDF report has them. */
  function renderDose(weeks) {
    const body = $("#outcome-dose-body");
    if (!weeks.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "No training session stored yet.")));
      return;
    }
    body.replaceChildren(...weeks.map((w) => el("tr", { dataset: { week: w.week } },
      el("th", { scope: "row" }, w.week), el("td", {}, String(w.sessions)), el("td", {}, (w.active_s / 60).toFixed(1)),
      el("td", {}, String(w.trials)), el("td", {}, String(w.repetitions)),
      el("td", {}, w.adherence === null ? "–" : `${Math.round(100 * w.adherence)} %`))));
  }

  function renderHistory(results) {
    const names = new Map(catalogue.scales.map((s) => [s.id, s.name]));
    const body = $("#scale-history-body");
    if (!results.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "No scale entered yet.")));
      return;
    }
    body.replaceChildren(...[...results].reverse().map((r) => el("tr", { dataset: { scale: r.scale } },
      el("td", {}, dateText(r.assessed_at)),
      el("th", { scope: "row" }, names.get(r.scale) || r.scale),
      el("td", { class: "scale-total" }, r.total === null ? "–" : String(r.total)),
      el("td", {}, Object.entries(r.parts || {}).map(([k, v]) => `${k} ${Number(v).toFixed(2).replace(/\.?0+$/, "")}`)
        .join(", ") || "–"),
      el("td", {}, Object.entries(r.items).map(([k, v]) => `${k}: ${v}`).join(", ")),
      el("td", {}, r.note || ""))));
  }

  $("#scale-date").value = new Date().toISOString().slice(0, 10);
  $("#scale-choice").addEventListener("change", () => {
    buildItems();
    clearError($("#scale-error"));
    $("#scale-status").textContent = "";
  });

  $("#scale-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const scaleError = $("#scale-error");
    $("#scale-status").textContent = "";
    const p = patient();
    if (!p) return showError(scaleError, new Error("Choose a patient."));
    const scale = scaleOf($("#scale-choice").value);
    const day = $("#scale-date").value;
    if (!day) return showError(scaleError, new Error("Enter the date the patient was assessed."));
    const reply = await act($("#scale-save"), scaleError, () => ctx.conn.request({
      type: "save_scale", patient_id: p.id, scale: scale.id, items: answers(scale), assessed_at: day,
      note: $("#scale-note").value,
    }));
    if (!reply) return;
    const total = reply.result.total;
    const measure = catalogue.measures.find((m) => m.id === scale.measure);
    $("#scale-note").value = "";
    await act(null, error, () => load(p)); // the tables show the new result before the status says so
    $("#scale-status").textContent = `${scale.name} saved for ${p.code}: `
      + `${total === null ? "no total" : `${total} ${measure ? measure.unit : ""}`}.`;
  });

  $("#outcome-details-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const p = patient();
    if (!p) return;
    const year = $("#outcome-birth-year").value;
    const reply = await act($("#outcome-details-save"), error, () => ctx.conn.request({
      type: "set_patient_details", patient_id: p.id, birth_year: year === "" ? null : Number(year),
      sex: $("#outcome-sex").value || null,
    }));
    if (!reply) return;
    await act(null, error, () => load(p));
    $("#outcome-status").textContent = `Details saved for ${p.code}.`;
  });

  function period() {
    const request = {};
    if ($("#report-from").value) request.from = $("#report-from").value;
    if ($("#report-to").value) request.to = $("#report-to").value;
    return request;
  }

  $("#report-pdf").addEventListener("click", async () => {
    const p = patient();
    if (!p) return showError(error, new Error("Choose a patient."));
    $("#outcome-status").textContent = `Building the progress report of ${p.code}…`;
    const reply = await act($("#report-pdf"), error, () => ctx.conn.request({
      type: "progress_report", patient_id: p.id, ...period() }));
    $("#outcome-status").textContent = "";
    if (!reply) return;
    const bytes = Uint8Array.from(atob(reply.pdf_base64), (c) => c.charCodeAt(0));
    download(reply.filename, bytes, "application/pdf");
    $("#outcome-status").textContent = `Progress report of ${p.code} downloaded (${reply.filename}).`;
  });

  $("#report-fhir").addEventListener("click", async () => {
    const p = patient();
    if (!p) return showError(error, new Error("Choose a patient."));
    const session = $("#report-session").value;
    const reply = await act($("#report-fhir"), error, () => ctx.conn.request({
      type: "fhir_export", patient_id: p.id, ...period(), ...(session ? { session_id: Number(session) } : {}) }));
    if (!reply) return;
    download(reply.filename, JSON.stringify(reply.bundle, null, 2), "application/fhir+json");
    $("#outcome-status").textContent = `FHIR export of ${p.code} downloaded (${reply.filename}).`;
  });

  return {
    load,
    clear() {
      shownFor = null;
      $("#outcome-measures-body").replaceChildren();
      $("#scale-history-body").replaceChildren();
      $("#outcome-dose-body").replaceChildren();
      $("#scale-status").textContent = "";
      $("#outcome-status").textContent = "";
    },
    get shownFor() {
      return shownFor;
    },
  };
}
