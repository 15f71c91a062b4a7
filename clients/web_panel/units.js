// Clinicians' units: the one place where the wire's SI values (metres, seconds, fractions) become
// what the panel, its reports and its CSV show (cm, cm², cm/s, %, s) with the rounding each
// quantity deserves, where sides are named affected / unaffected, and where times are written.
// Every view and the CSV go through here, so a unit or a rounding changes in one place only.

/**
 * A quantity as shown: `unit` (for labels), `csv` (the suffix a CSV header carries), `scale` (wire
 * value × scale = shown value; a change or a threshold scales the same way) and `digits` (a number,
 * or a function of the shown magnitude).
 */
const Q = (unit, csv, scale, digits) => ({ unit, csv, scale, digits });
const TIME_DIGITS = (v) => (v >= 100 ? 0 : v >= 10 ? 1 : 2);
const QUANTITIES = {
  length: Q("cm", "cm", 100, 1),
  area: Q("cm²", "cm2", 1e4, 1),
  speed: Q("cm/s", "cm_s", 100, 2),
  belt: Q("m/s", "m_s", 1, 2), // treadmills are set and read in m/s
  time: Q("s", "s", 1, TIME_DIGITS),
  share: Q("%", "pct", 100, 0),
  percent: Q("%", "pct", 1, 1),
  legLength: Q("% leg length", "pct_ll", 1, 1),
  stepReach: Q("× step reach", "x_step_reach", 1, 2),
  legFrac: Q("× leg length", "x_leg_length", 1, 2),
  los: Q("× LOS", "x_los", 1, 2),
  angle: Q("°", "deg", 1, 0),
  force: Q("N", "n", 1, 0),
  cadence: Q("steps/min", "steps_per_min", 1, 0),
  ratio: Q("", "", 1, 2),
  count: Q("", "", 1, 0),
};

// Names whose quantity their suffix does not say (or says differently).
const BY_NAME = {
  belt_speed_m_s: "belt",
  step_distance_frac: "stepReach",
  reach_frac_ll: "legFrac",
  target_share_los: "los",
  success_rate: "share",
  hit_rate: "share",
  target_success: "share",
  level: "share",
  cue_share_step: "share",
  romberg_ratio: "ratio",
  cue_count: "count",
  trials: "count",
  hits: "count",
  trial_index: "count",
  n: "count",
  fsst_errors: "count",
  five_sts_stands: "count",
};

const STEMS = { belt_speed_m_s: "belt_speed", step_distance_frac: "step_distance", reach_frac_ll: "reach",
  target_share_los: "target_distance" };

// [suffix stripped from the name, quantity], longest suffix first.
const BY_SUFFIX = [
  ["_steps_per_min", "cadence"], ["_pct_ll", "legLength"], ["_m_s", "speed"], ["_m2", "area"], ["_pct", "percent"],
  ["_deg", "angle"], ["_m", "length"], ["_s", "time"], ["_n", "force"],
];

/** What a wire name (a setting, parameter, metric or trial field) measures, and how it is shown;
 * null for names that are not numbers with a known unit. `stem` is the name without its SI suffix. */
export function quantityOf(name) {
  const base = String(name || "").split(".").pop();
  if (BY_NAME[base]) return { ...QUANTITIES[BY_NAME[base]], stem: STEMS[base] || base };
  for (const [suffix, kind] of BY_SUFFIX) {
    if (base.endsWith(suffix)) return { ...QUANTITIES[kind], stem: base.slice(0, -suffix.length) };
  }
  if (/share/.test(base)) return { ...QUANTITIES.share, stem: base };
  if (/^symmetry_|_ratio$/.test(base)) return { ...QUANTITIES.ratio, stem: base };
  if (/(^|_)(count|cues)$/.test(base)) return { ...QUANTITIES.count, stem: base };
  return null;
}

/** The unit a name is shown in ("cm", "%", ...; "" for ratios, counts and unknown names). */
export const unitOf = (name) => quantityOf(name)?.unit ?? "";

const digitsOf = (q, shown) => (typeof q.digits === "function" ? q.digits(Math.abs(shown)) : q.digits);
const round = (value, digits) => {
  const f = 10 ** digits;
  return Math.round(value * f) / f || 0; // no "-0"
};

/** A wire value in the shown unit, rounded (a number; null for none). `digits` forces a rounding
 * (a change or threshold rounds as its row's values). */
export function toShown(name, value, digits) {
  if (value === null || value === undefined || value === "" || !Number.isFinite(Number(value))) return null;
  const q = quantityOf(name);
  if (!q) return Number(value);
  const shown = Number(value) * q.scale;
  return round(shown, digits ?? digitsOf(q, shown));
}

/** A wire value in the shown unit, not rounded: what an editable field starts at (rounding it
 * there would change a stored value the therapist never touched). */
export function toShownExact(name, value) {
  const q = quantityOf(name);
  return Number((Number(value) * (q ? q.scale : 1)).toPrecision(10));
}

/** A shown value (what a clinician typed) back to the wire's unit. */
export function fromShown(name, shown) {
  const q = quantityOf(name);
  const value = Number(shown) / (q ? q.scale : 1);
  return Number(value.toPrecision(10)); // 80 / 100 is 0.8, not 0.8000000000000002
}

/** The digits the shown value of `name` gets (for a row of values that should agree). */
export function digitsFor(name, ...values) {
  const q = quantityOf(name);
  if (!q) return 2;
  const shown = values.filter((v) => typeof v === "number").map((v) => Math.abs(v * q.scale));
  return digitsOf(q, shown.length ? Math.max(...shown) : 0);
}

/** "12.3 cm", "70 %", "0.45 s", "1.02" (a ratio), "–" for none. `signed` writes "+" on a change. */
export function formatValue(name, value, { digits, signed = false, unit = true } = {}) {
  const shown = toShown(name, value, digits);
  if (shown === null) return "–";
  const q = quantityOf(name);
  const d = digits ?? (q ? digitsOf(q, shown) : 2);
  const text = `${signed && shown > 0 ? "+" : ""}${shown.toFixed(d)}`;
  const u = q ? q.unit : "";
  return unit && u ? `${text} ${u}` : text;
}

/** A CSV header: the wire name with its SI suffix swapped for the shown unit's ("target_distance_cm",
 * "difficulty.time_window_s", "affected_side_share_pct"); names without a unit stay. */
export function csvHeader(key) {
  const parts = String(key).split(".");
  const last = parts.pop();
  const q = quantityOf(last);
  if (!q || !q.csv || BY_NAME[last] === "count") return key;
  return [...parts, `${q.stem}_${q.csv}`].join(".");
}

// -- sides ------------------------------------------------------------------------------------------

const LR = { L: "left", R: "right" };

/** "affected (left)" / "unaffected (right)" from the patient's affected side; "left" / "right" when
 * it is not known; "" for no side. */
export function sideName(side, affectedSide) {
  const lr = LR[side];
  if (!lr) return side ? String(side) : "";
  if (!LR[affectedSide]) return lr;
  return `${side === affectedSide ? "affected" : "unaffected"} (${lr})`;
}

/** "affected (left) foot" and so on. */
export const footName = (side, affectedSide) => (LR[side] ? `${sideName(side, affectedSide)} foot` : "");

// -- step distance in cm ------------------------------------------------------------------------------

const REACH_PER_LEG_LENGTH = 0.6; // games/stepping/settings.py: the step reach when none is measured

/** The patient's step reach (m): measured, else 0.6 × leg length (as the stepping game takes it). */
export function stepReachM(patient) {
  if (!patient) return null;
  if (patient.step_reach_m) return patient.step_reach_m;
  return patient.leg_length_m ? REACH_PER_LEG_LENGTH * patient.leg_length_m : null;
}

/** A step distance (× step reach) in cm for this patient, "" when the reach is not known. */
export function stepDistanceCm(frac, patient) {
  const reach = stepReachM(patient);
  if (reach === null || frac === null || frac === undefined) return "";
  return formatValue("distance_m", Number(frac) * reach);
}

// -- times --------------------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** An ISO 8601 time in the panel's local time with its UTC offset ("2026-01-05T11:02:03+01:00"). */
export function isoLocal(when) {
  if (when === null || when === undefined || when === "") return "";
  const d = new Date(when);
  if (Number.isNaN(d.getTime())) return String(when);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
    + `:${pad(d.getSeconds())}${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

/** A session's date for tables and chart points ("Jan 5, 2026"). */
export const dateText = (when) => (when ? new Date(when).toLocaleDateString(undefined,
  { year: "numeric", month: "short", day: "numeric" }) : "");

/** A session's start for tables ("Jan 5, 2026, 10:02"). */
export const dateTimeText = (when) => (when ? new Date(when).toLocaleString(undefined,
  { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }) : "");
