// What the panel knows about the games without asking the server: difficulty parameters (from
// games/*/settings.py *_PARAMETERS), the live settings set_difficulty accepts, the start_game
// settings the panel offers, and the direction names. Hard-coded on purpose (no build step, no
// extra request); the server validates every value again, so a stale table can only produce a
// clear error reply, never a wrong setting.

import { formatValue, quantityOf, stepDistanceCm, unitOf } from "./units.js";

export const GAMES = ["stepping", "reaching", "weight_shift", "treadmill", "assessment"];

export const GAME_LABELS = {
  stepping: "Stepping", reaching: "Reaching (SEBT)", weight_shift: "Weight shift", treadmill: "Treadmill stepping",
  assessment: "Assessment",
};

// name, label, limits and default bounds in wire (SI) units as in games/*/settings.py, which way is
// harder, slider step (SI too). The form shows each in its clinicians' unit (units.js).
const p = (name, label, min, max, low, high, harderWhenLarger, step) =>
  ({ name, label, min, max, low, high, harderWhenLarger, step });

export const PARAMETERS = {
  stepping: [
    p("step_distance_frac", "Step distance", 0.10, 1.20, 0.30, 1.00, true, 0.01),
    p("target_radius_m", "Target radius", 0.03, 0.25, 0.05, 0.20, false, 0.005),
    p("time_window_s", "Time window", 0.6, 15, 1.5, 6.0, false, 0.1),
  ],
  reaching: [
    p("reach_frac_ll", "Reach distance", 0.20, 1.20, 0.30, 0.90, true, 0.01),
    p("target_radius_m", "Target radius", 0.03, 0.25, 0.05, 0.15, false, 0.005),
    p("time_window_s", "Time window", 1, 15, 2, 8, false, 0.1),
  ],
  weight_shift: [
    p("target_share_los", "Target distance", 0.20, 1.00, 0.30, 0.80, true, 0.01),
    p("target_radius_m", "Target radius", 0.01, 0.10, 0.02, 0.06, false, 0.005),
    p("hold_s", "Hold time", 0, 5, 0.5, 2, true, 0.1),
    p("time_window_s", "Time to reach", 1, 15, 3, 10, false, 0.1),
  ],
  treadmill: [
    p("step_length_m", "Step length (target spacing)", 0.15, 0.90, 0.25, 0.60, true, 0.01),
    p("target_radius_m", "Target radius", 0.04, 0.25, 0.06, 0.15, false, 0.005),
  ],
  assessment: [], // a fixed protocol: nothing adapts
};

// Live settings (set_difficulty "settings"), limits and step in wire units like PARAMETERS.
const live = (name, label, min, max, step) => ({ name, label, min, max, step });
export const LIVE_SETTINGS = {
  stepping: [live("affected_side_share", "Affected-side share", 0, 1, 0.05)],
  reaching: [
    live("touch_max_s", "Longest touch", 0.2, 5, 0.1),
    live("touch_force_share_max", "Most weight on the touching foot", 0.05, 0.5, 0.01),
  ],
  weight_shift: [],
  treadmill: [live("belt_speed_m_s", "Belt speed", 0, 3, 0.05)],
  assessment: [],
};

export const DIRECTIONS = {
  stepping: ["anterior", "anterolateral", "lateral", "posterolateral", "posterior"],
  reaching: ["anterior", "anteromedial", "medial", "posteromedial", "posterior", "posterolateral", "lateral",
    "anterolateral"],
  weight_shift: ["forward", "forward-right", "right", "backward-right", "backward", "backward-left", "left",
    "forward-left"],
  treadmill: [],
  assessment: [],
};

// The assessment's stages, in protocol order (games/assessment/settings.py); the standard measures
// (a chair, a walkway, floor squares) run only when chosen, the rest are chosen to begin with.
export const STANDARD_STAGES = ["five_times_sit_to_stand", "timed_up_and_go", "four_square_step", "ten_metre_walk"];
export const ASSESSMENT_STAGES = ["quiet_eyes_open", "quiet_eyes_closed", "limits_of_stability", "reach", "walk",
  "timed_stepping", ...STANDARD_STAGES];
export const STAGE_LABELS = {
  five_times_sit_to_stand: "Five Times Sit-to-Stand (chair)",
  timed_up_and_go: "Timed Up and Go (chair, 3 m line)",
  four_square_step: "Four Square Step Test",
  ten_metre_walk: "10-metre walk, comfortable and fast",
  quiet_eyes_open: "Quiet standing, eyes open",
  quiet_eyes_closed: "Quiet standing, eyes closed",
  limits_of_stability: "Limits of stability",
  reach: "Reach (SEBT, each leg)",
  walk: "Walk / step in place",
  timed_stepping: "Timed stepping",
};

// A session's training modes as stored ("+"-joined, games/modes.py), in words.
export const MODE_LABELS = { mirror: "mirror", neglect_cueing: "neglect cueing", proprioception: "reduced vision" };

/** "Stepping · mirror, reduced vision": the game and the modes a session was played in. */
export function sessionKind(game, mode) {
  const modes = (mode || "").split("+").filter(Boolean).map((m) => MODE_LABELS[m] || m);
  const name = GAME_LABELS[game] || game;
  return modes.length ? `${name} · ${modes.join(", ")}` : name;
}

export const VISION_LABELS = {
  full: "Full (target and feet shown)",
  target_vanishes: "Target vanishes",
  foot_hidden: "Moving foot hidden",
};

// The start_game settings the set-up form offers per game (the rest keep their defaults).
// `id` is the input's id in index.html; kind: "number" (default), "choice" (a <select>), "bool"
// (a checkbox), "choices" (a group of checkboxes in the element `id`). `scale` as above. `when`:
// sent only while another input says so ({id, checked: true} or {id, value}); hidden otherwise.
const TRIALS = { name: "trials", id: "setting-trials", integer: true };
const REST = { name: "inter_trial_s", id: "setting-inter-trial" };
const NEGLECT = { id: "setting-neglect", checked: true };
export const START_SETTINGS = {
  stepping: [
    TRIALS, REST,
    { name: "affected_side_share", id: "setting-affected-share", scale: 100 },
    { name: "dwell_s", id: "setting-dwell" },
    { name: "mirror", id: "setting-mirror", kind: "bool" },
    { name: "neglect_cueing", id: "setting-neglect", kind: "bool" },
    { name: "cue_idle_s", id: "setting-cue-idle", when: NEGLECT },
    { name: "cue_after_misses", id: "setting-cue-misses", integer: true, when: NEGLECT },
    { name: "cue_share_step", id: "setting-cue-step", scale: 100, when: NEGLECT },
    { name: "affected_side_share_max", id: "setting-share-max", scale: 100, when: NEGLECT },
    { name: "vision", id: "setting-vision", kind: "choice" },
    { name: "vanish_after_s", id: "setting-vanish-after", when: { id: "setting-vision", value: "target_vanishes" } },
    { name: "directions", id: "setting-directions", kind: "choices" },
  ],
  reaching: [
    TRIALS, REST,
    { name: "stance", id: "setting-stance", kind: "choice" },
    { name: "order", id: "setting-order", kind: "choice" },
    { name: "directions", id: "setting-directions", kind: "choices" },
  ],
  weight_shift: [
    TRIALS, REST,
    { name: "order", id: "setting-order", kind: "choice" },
    { name: "los_forward_m", id: "setting-los-forward" },
    { name: "los_backward_m", id: "setting-los-backward" },
    { name: "los_side_m", id: "setting-los-side" },
    { name: "directions", id: "setting-directions", kind: "choices" },
  ],
  treadmill: [
    TRIALS,
    { name: "belt_speed_m_s", id: "setting-belt-speed" },
    { name: "step_width_m", id: "setting-step-width" },
  ],
  assessment: [
    { name: "stages", id: "setting-stages", kind: "choices" },
    { name: "quiet_s", id: "setting-quiet" },
    { name: "lean_s", id: "setting-lean" },
    { name: "walk_steps", id: "setting-walk-steps", integer: true },
    { name: "timed_targets", id: "setting-timed-targets", integer: true },
  ],
};

// Names of settings for labels elsewhere (plan editor, summaries), without units: labelOf adds
// the unit the value is shown in (units.js).
export const SETTING_LABELS = {
  affected_side_share: "Affected-side share",
  affected_side_share_max: "Highest affected-side share",
  trials: "Trials (0 = until stopped)",
  inter_trial_s: "Rest between trials",
  dwell_s: "Hold in target",
  home_radius_m: "Home radius",
  mirror: "Mirror therapy",
  neglect_cueing: "Neglect cueing",
  cue_idle_s: "Cue after idle",
  cue_after_misses: "Cue after misses in a row",
  cue_share_step: "Share added per cue",
  vision: "Vision",
  vanish_after_s: "Target vanishes after (0 = on lift-off)",
  belt_speed_m_s: "Belt speed",
  step_width_m: "Step width",
  stages: "Stages",
  quiet_s: "Quiet standing per stage",
  lean_s: "Limits of stability, per lean",
  lean_directions: "Limits of stability leans",
  walk_steps: "Walking steps",
  timed_targets: "Timed stepping targets",
  stance: "Standing leg",
  order: "Direction order",
  directions: "Directions",
  los_forward_m: "Limit of stability forward",
  los_backward_m: "Limit of stability backward",
  los_side_m: "Limit of stability sideways",
  target_success: "Target success rate",
  level: "Starting level",
  seed: "Random seed",
};

// Names of stored session metrics (scoring/assessment.py, scoring/neglect.py, ...), without units.
export const METRIC_LABELS = {
  sway_velocity_eo_m_s: "Sway velocity, eyes open",
  sway_velocity_ec_m_s: "Sway velocity, eyes closed",
  sway_area_eo_m2: "Sway ellipse area, eyes open",
  sway_area_ec_m2: "Sway ellipse area, eyes closed",
  romberg_ratio: "Romberg ratio (eyes closed ÷ open)",
  quiet_centre_x_m: "Resting centre of pressure, right of the midpoint",
  quiet_centre_y_m: "Resting centre of pressure, forward of the midpoint",
  los_forward_m: "Limit of stability forward",
  los_backward_m: "Limit of stability backward",
  los_side_m: "Limit of stability sideways, per side leaned to",
  symmetry_los_side: "Sideways limit of stability symmetry (affected ÷ unaffected)",
  reach_pct_ll: "Reach",
  reach_composite_pct_ll: "Reach composite",
  step_length_m: "Step length",
  step_width_m: "Step width",
  step_time_s: "Step time",
  foot_lift_m: "Foot lift",
  mean_foot_lift_m: "Foot lift",
  cadence_steps_per_min: "Cadence",
  symmetry_step_length: "Step length symmetry (affected ÷ unaffected)",
  symmetry_step_time: "Step time symmetry (affected ÷ unaffected)",
  symmetry_foot_lift: "Foot lift symmetry (affected ÷ unaffected)",
  symmetry_reach: "Reach symmetry (affected ÷ unaffected)",
  reaction_time_s: "Reaction time",
  timed_stepping_s: "Timed stepping, total",
  gait_speed_comfortable_m_s: "10-metre walk, comfortable gait speed",
  gait_speed_fast_m_s: "10-metre walk, fast gait speed",
  tug_s: "Timed Up and Go",
  tug_sit_to_stand_s: "Timed Up and Go: sit to stand",
  tug_walk_out_s: "Timed Up and Go: walk out",
  tug_turn_s: "Timed Up and Go: turn",
  tug_walk_back_s: "Timed Up and Go: walk back",
  tug_turn_to_sit_s: "Timed Up and Go: turn and sit",
  tug_distance_m: "Timed Up and Go: distance out",
  five_sts_s: "Five Times Sit-to-Stand",
  five_sts_fifth_stand_s: "Five Times Sit-to-Stand, to the fifth stand",
  five_sts_stands: "Five Times Sit-to-Stand: stands (count)",
  fsst_s: "Four Square Step Test",
  fsst_errors: "Four Square Step Test: sequence errors (count)",
  cue_count: "Cues (count)",
  cue_response_s: "Response time to a cue",
  affected_side_share_final: "Affected-side share at the end",
  affected_target_share: "Share of targets for the affected foot",
  position_error_m: "Position error",
  hit_rate: "Hit rate",
  mean_velocity_m_s: "Mean centre-of-pressure velocity",
  max_reach_pct_ll: "Best reach",
  max_step_reach_m: "Best step reach",
};

// Settings that take one of a few words, and settings that take a list of them.
export const SETTING_CHOICES = {
  vision: Object.keys(VISION_LABELS),
  stance: ["unaffected", "affected", "alternate"],
  order: ["random", "cycle"],
};
// The limits-of-stability leans, in protocol order (games/assessment/settings.py).
export const LEAN_DIRECTIONS = ["forward", "backward", "left", "right"];

export function settingChoices(game, name) {
  if (name === "directions") return DIRECTIONS[game] || [];
  if (name === "stages") return ASSESSMENT_STAGES;
  if (name === "lean_directions") return LEAN_DIRECTIONS;
  return null;
}

export function parameter(game, name) {
  return (PARAMETERS[game] || []).find((spec) => spec.name === name);
}

/** A readable label for a setting, parameter or metric name, with the unit it is shown in (units.js):
 * "Step length (cm)", "Affected-side share (%)". */
export function labelOf(name, game) {
  const spec = game && parameter(game, name);
  const text = SETTING_LABELS[name] || METRIC_LABELS[name] || (spec && spec.label)
    || (quantityOf(name) ? quantityOf(name).stem : name).replace(/_/g, " ");
  const unit = unitOf(name);
  return unit ? `${text} (${unit})` : text;
}

/** A parameter's value in the unit it is shown in ("10.0 cm", "0.45 × step reach"); with the
 * patient, a step distance also in cm ("0.45 × step reach, 22.5 cm"). */
export function formatParameter(game, name, value, patient) {
  if (value === null || value === undefined) return "–";
  const text = formatValue(name, value);
  const cm = name === "step_distance_frac" ? stepDistanceCm(value, patient) : "";
  return cm ? `${text}, ${cm}` : text;
}

/** A start_game difficulty ({target_success, level, bounds}) in words, for notes and summaries;
 * with the patient, step distances also in cm. */
export function describeDifficulty(game, d, patient) {
  if (!d) return "–";
  const parts = [];
  if (d.target_success !== undefined && d.target_success !== null) {
    parts.push(`target success ${formatValue("target_success", d.target_success)}`);
  }
  if (d.level !== undefined && d.level !== null) parts.push(`level ${formatValue("level", d.level)}`);
  for (const [name, b] of Object.entries(d.bounds || {})) {
    const spec = parameter(game, name);
    const label = spec ? spec.label.toLowerCase() : name.replace(/_/g, " ");
    const unit = unitOf(name);
    const num = (v) => (v === undefined || v === null ? "?" : formatValue(name, v, { unit: false }));
    const cm = (v) => (name === "step_distance_frac" && v !== undefined && v !== null ? stepDistanceCm(v, patient) : "");
    if (b.locked || (b.value !== undefined && b.value !== null)) {
      parts.push(`${label} locked at ${num(b.value)}${unit ? ` ${unit}` : ""}${cm(b.value) ? ` (${cm(b.value)})` : ""}`);
    } else {
      const inCm = cm(b.low) && cm(b.high) ? ` (${cm(b.low).replace(/ cm$/, "")}–${cm(b.high)})` : "";
      parts.push(`${label} ${num(b.low)}–${num(b.high)}${unit ? ` ${unit}` : ""}${inCm}`);
    }
  }
  return parts.join(", ") || "defaults";
}
