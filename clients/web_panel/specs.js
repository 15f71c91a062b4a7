// What the panel knows about the games without asking the server: difficulty parameters (from
// games/*/settings.py *_PARAMETERS), the live settings set_difficulty accepts, the start_game
// settings the panel offers, and the direction names. Hard-coded on purpose (no build step, no
// extra request); the server validates every value again, so a stale table can only produce a
// clear error reply, never a wrong setting.

export const GAMES = ["stepping", "reaching", "weight_shift"];

export const GAME_LABELS = { stepping: "Stepping", reaching: "Reaching (SEBT)", weight_shift: "Weight shift" };

// name, label, unit shown in labels, limits, default bounds, which way is harder, slider step
const p = (name, label, unit, min, max, low, high, harderWhenLarger, step) =>
  ({ name, label, unit, min, max, low, high, harderWhenLarger, step });

export const PARAMETERS = {
  stepping: [
    p("step_distance_frac", "Step distance", "× step reach", 0.10, 1.20, 0.30, 1.00, true, 0.01),
    p("target_radius_m", "Target radius", "m", 0.03, 0.25, 0.05, 0.20, false, 0.005),
    p("time_window_s", "Time window", "s", 0.6, 15, 1.5, 6.0, false, 0.1),
  ],
  reaching: [
    p("reach_frac_ll", "Reach distance", "× leg length", 0.20, 1.20, 0.30, 0.90, true, 0.01),
    p("target_radius_m", "Target radius", "m", 0.03, 0.25, 0.05, 0.15, false, 0.005),
    p("time_window_s", "Time window", "s", 1, 15, 2, 8, false, 0.1),
  ],
  weight_shift: [
    p("target_share_los", "Target distance", "× LOS", 0.20, 1.00, 0.30, 0.80, true, 0.01),
    p("target_radius_m", "Target radius", "m", 0.01, 0.10, 0.02, 0.06, false, 0.005),
    p("hold_s", "Hold time", "s", 0, 5, 0.5, 2, true, 0.1),
    p("time_window_s", "Time to reach", "s", 1, 15, 3, 10, false, 0.1),
  ],
};

// Live settings (set_difficulty "settings"). `scale` converts the wire value to what the slider
// shows (a share 0..1 shown as %).
export const LIVE_SETTINGS = {
  stepping: [
    { name: "affected_side_share", label: "Affected-side share", unit: "%", min: 0, max: 100, step: 5, scale: 100 },
  ],
  reaching: [
    { name: "touch_max_s", label: "Longest touch", unit: "s", min: 0.2, max: 5, step: 0.1, scale: 1 },
    { name: "touch_force_share_max", label: "Most weight on the touching foot", unit: "%", min: 5, max: 50, step: 1,
      scale: 100 },
  ],
  weight_shift: [],
};

export const DIRECTIONS = {
  stepping: ["anterior", "anterolateral", "lateral", "posterolateral", "posterior"],
  reaching: ["anterior", "anteromedial", "medial", "posteromedial", "posterior", "posterolateral", "lateral",
    "anterolateral"],
  weight_shift: ["forward", "forward-right", "right", "backward-right", "backward", "backward-left", "left",
    "forward-left"],
};

// The start_game settings the panel offers per game (a few key ones; the rest keep their
// defaults). `scale` as above. `id` is the input's id in index.html.
export const START_SETTINGS = {
  stepping: [
    { name: "affected_side_share", id: "setting-affected-share", scale: 100 },
    { name: "dwell_s", id: "setting-dwell" },
  ],
  reaching: [
    { name: "stance", id: "setting-stance", kind: "choice" },
    { name: "order", id: "setting-order", kind: "choice" },
  ],
  weight_shift: [
    { name: "order", id: "setting-order", kind: "choice" },
    { name: "los_forward_m", id: "setting-los-forward" },
    { name: "los_backward_m", id: "setting-los-backward" },
    { name: "los_side_m", id: "setting-los-side" },
  ],
};

export function parameter(game, name) {
  return (PARAMETERS[game] || []).find((spec) => spec.name === name);
}

/** A parameter's value with its unit, for labels and status lines. */
export function formatParameter(game, name, value) {
  const spec = parameter(game, name);
  if (value === null || value === undefined) return "–";
  const digits = spec && spec.step < 0.01 ? 3 : 2;
  return `${Number(value).toFixed(digits)} ${spec ? spec.unit : ""}`.trim();
}
