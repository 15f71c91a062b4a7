// Patients: the clinic's list, and one form to create a patient or edit one.

import { download } from "../csv.js";
import { $, act, clearError, el, fmt, showError } from "../dom.js";
import { isoLocal } from "../units.js";

export function patientsView(ctx) {
  const form = $("#patient-form");
  const error = $("#patient-error");
  const status = $("#patient-status");
  const body = $("#patients-body");

  async function load() {
    try {
      const reply = await ctx.conn.request({ type: "list_patients" });
      ctx.patients = reply.patients;
      clearError($("#patients-error"));
      render();
    } catch (e) {
      showError($("#patients-error"), e);
    }
  }

  function render() {
    body.replaceChildren(...ctx.patients.map((p) => el("tr", { dataset: { patient: p.code } },
      el("th", { scope: "row" }, p.code),
      el("td", {}, p.affected_side === "L" ? "Left" : "Right"),
      el("td", {}, fmt(p.leg_length_m, 2)),
      el("td", {}, fmt(p.step_reach_m, 2)),
      el("td", { class: "notes" }, p.notes || ""),
      el("td", { class: "row-actions" },
        el("button", { type: "button", class: "secondary", "aria-label": `Edit ${p.code}`, onclick: () => edit(p) },
          "Edit"),
        el("button", { type: "button", class: "secondary", "aria-label": `Start a session for ${p.code}`,
          onclick: () => ctx.go("session", { patientId: p.id }) }, "Session"),
        el("button", { type: "button", class: "secondary", "aria-label": `Assessment and plan of ${p.code}`,
          onclick: () => ctx.go("assessment", { patientId: p.id }) }, "Assessment"),
        el("button", { type: "button", class: "secondary", "aria-label": `Progress of ${p.code}`,
          onclick: () => ctx.go("progress", { patientId: p.id }) }, "Progress"),
        ctx.role === "admin" ? el("button", { type: "button", class: "secondary",
          "aria-label": `Export everything stored about ${p.code} (JSON)`,
          onclick: (e) => exportPatient(p, e.currentTarget) }, "Export (JSON)") : null),
    )));
    if (!ctx.patients.length) body.append(el("tr", {}, el("td", { colspan: 6 }, "No patients yet.")));
    ctx.emit("patients", ctx.patients);
  }

  /** Everything stored about the patient (the patient's right of access), downloaded as JSON;
   * the server audits the export. Offered to admins. */
  async function exportPatient(patient, button) {
    $("#patients-status").textContent = "";
    const reply = await act(button, $("#patients-error"), () => ctx.conn.request({
      type: "export_patient", patient_id: patient.id }));
    if (!reply) return;
    const { type, id, v, ...data } = reply; // the envelope's fields are not the patient's data
    const day = isoLocal(new Date()).slice(0, 10);
    download(`stridevr_${reply.patient_code}_export_${day}.json`, JSON.stringify(data, null, 2),
      "application/json;charset=utf-8");
    const rows = Object.values(reply.tables).reduce((n, table) => n + table.length, 0);
    $("#patients-status").textContent = `Exported ${patient.code}: ${rows} rows from ${Object.keys(reply.tables).length}`
      + ` tables and ${reply.audit.length} audit entries.`;
  }

  function edit(patient) {
    $("#patient-id").value = patient ? patient.id : "";
    $("#patient-code").value = patient ? patient.code : "";
    $("#patient-code").disabled = Boolean(patient);
    $("#patient-side").value = patient ? patient.affected_side : "L";
    $("#patient-leg").value = patient ? patient.leg_length_m : "";
    $("#patient-reach").value = patient && patient.step_reach_m !== null ? patient.step_reach_m : "";
    $("#patient-notes").value = patient ? patient.notes : "";
    $("#patient-form-title").textContent = patient ? `Edit patient ${patient.code}` : "New patient";
    $("#patient-save").textContent = patient ? "Save changes" : "Create patient";
    $("#patient-cancel").hidden = !patient;
    clearError(error);
    status.textContent = "";
    (patient ? $("#patient-side") : $("#patient-code")).focus();
  }

  /** The form's values as the server wants them; an Error naming the field when one is invalid. */
  function values(creating) {
    const out = {};
    if (creating) {
      const code = $("#patient-code").value.trim();
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(code)) {
        throw new Error("Code: 1–32 letters, digits, _ . or -, starting with a letter or digit.");
      }
      out.code = code;
    }
    out.affected_side = $("#patient-side").value;
    const leg = Number($("#patient-leg").value);
    if ($("#patient-leg").value === "" || !(leg >= 0.4 && leg <= 1.4)) {
      throw new Error("Leg length must be from 0.40 to 1.40 m.");
    }
    out.leg_length_m = leg;
    const reachText = $("#patient-reach").value.trim();
    if (reachText !== "") {
      const reach = Number(reachText);
      if (!(reach >= 0.05 && reach <= 1.5)) throw new Error("Step reach must be from 0.05 to 1.50 m, or empty.");
      out.step_reach_m = reach;
    } else if (!creating) {
      out.step_reach_m = null; // clears a measured reach
    }
    // up to 2000 characters; an empty box clears the notes
    out.notes = $("#patient-notes").value.trim();
    return out;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = Number($("#patient-id").value) || null;
    let fields;
    try {
      fields = values(id === null);
    } catch (e) {
      showError(error, e);
      return;
    }
    const reply = await act($("#patient-save"), error, () => ctx.conn.request(
      id === null ? { type: "create_patient", ...fields } : { type: "update_patient", patient_id: id, ...fields }));
    if (!reply) return;
    const saved = reply.patient;
    const i = ctx.patients.findIndex((p) => p.id === saved.id);
    if (i >= 0) ctx.patients[i] = saved;
    else ctx.patients.push(saved);
    ctx.patients.sort((a, b) => a.code.localeCompare(b.code));
    render();
    edit(null);
    status.textContent = id === null ? `Patient ${saved.code} created.` : `Patient ${saved.code} saved.`;
  });

  $("#patient-cancel").addEventListener("click", () => edit(null));

  ctx.on("ready", load);
  return { shown: () => load() };
}
