// CSV from the `export` reply, built in the browser and saved as a Blob download: one row per
// trial or per stored metric, each with the patient's code, times in ISO 8601 with their UTC offset,
// values in clinicians' units (units.js) named in the headers, sides as affected / unaffected.

import { csvHeader, isoLocal, sideName, toShown, unitOf } from "./units.js";

const TRIAL_FIRST = ["patient_code", "session_id", "game", "source", "mode", "trial_index", "recorded_at", "foot",
  "direction", "outcome"];
const METRIC_FIRST = ["patient_code", "session_id", "session_started_at", "game", "source", "task", "family", "metric",
  "side", "direction", "value", "sd", "unit", "n"];
const TIMES = new Set(["recorded_at", "session_started_at", "started_at", "ended_at"]);
const SIDES = new Set(["foot", "side"]);

/** The export reply as CSV text: `kind` "trials" (a column per field, its unit in its header) or
 * "metrics" (one metric per row: value and sd in the unit its `unit` column names). */
export function exportCsv(kind, reply) {
  const code = reply.patient_code ?? "";
  const affected = reply.affected_side;
  const side = (v) => sideName(v, affected);
  if (kind === "metrics") {
    const rows = (reply.metrics || []).map((m) => ({
      ...m, patient_code: code, session_started_at: isoLocal(m.session_started_at), side: side(m.side),
      value: toShown(m.metric, m.value), sd: toShown(m.metric, m.sd), unit: unitOf(m.metric),
    }));
    return toCsv(rows, METRIC_FIRST);
  }
  const rows = (reply.trials || []).map((t) => {
    const out = { patient_code: code };
    for (const [key, value] of Object.entries(flatten(t))) {
      if (TIMES.has(key)) out[key] = isoLocal(value);
      else if (SIDES.has(key)) out[key] = side(value);
      else if (typeof value === "number") out[csvHeader(key)] = toShown(key, value);
      else out[csvHeader(key)] = value;
    }
    return out;
  });
  return toCsv(rows, TRIAL_FIRST);
}

/** Rows of objects -> CSV text. Nested objects (difficulty, measures) become "key.sub" columns;
 * `firstColumns` lead (those no row has are left out), the others follow as they first appear. */
export function toCsv(rows, firstColumns = []) {
  const flat = rows.map((row) => flatten(row));
  const seen = new Set(flat.flatMap((row) => Object.keys(row)));
  const columns = firstColumns.filter((c) => seen.has(c));
  for (const row of flat) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  const lines = [columns.map(cell).join(",")];
  for (const row of flat) lines.push(columns.map((c) => cell(row[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}

function flatten(row, prefix = "", out = {}) {
  for (const [key, value] of Object.entries(row)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) flatten(value, name, out);
    else out[name] = Array.isArray(value) ? value.join(" ") : value;
  }
  return out;
}

function cell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`; // never a formula in a spreadsheet
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Offer text as a file download (no server round trip: the data is already here). */
export function download(filename, text, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
