// Clinic overview: every station's state, refreshed every few seconds and on `station` events.

import { $, act, clearError, el, showError } from "../dom.js";

const REFRESH_MS = 5000;
// What each device kind the server reports (`device_kinds`) can give a game.
const DEVICE_KINDS = {
  tracker: "motion tracker",
  pressure_mat: "pressure mat",
  force_plate: "force plate (COP only)",
  balance_board: "balance board (COP only)",
  foot_events: "foot events",
  treadmill: "treadmill (belt speed)",
};

/** "2 connected: motion tracker, treadmill (belt speed)"; kinds heard from devices on other
 * server processes count too, so a station can list kinds with no device connected here. */
export function devicesText(s) {
  const kinds = (s.device_kinds || []).map((k) => DEVICE_KINDS[k] || k.replace(/_/g, " "));
  const count = s.devices ? `${s.devices} connected` : "";
  if (!kinds.length) return count || "none";
  return count ? `${count}: ${kinds.join(", ")}` : kinds.join(", ");
}

/** A readable state: idle, device connected, headset connected, playing, paused (why). */
export function stationState(s) {
  if (s.state === "playing") return "Playing";
  if (s.state === "paused") {
    const why = (s.paused_by || []).map((w) => w.replace("_", " ")).join(", ");
    return why ? `Paused (${why})` : "Paused";
  }
  const parts = [];
  if (s.devices) parts.push("device");
  if (s.headsets) parts.push("headset");
  return parts.length ? `${parts.join(" + ")} connected` : "Idle";
}

export function stationsView(ctx) {
  const body = $("#stations-body");
  const error = $("#stations-error");
  let timer = null;

  async function refresh() {
    if (!ctx.conn.online) return;
    try {
      const reply = await ctx.conn.request({ type: "list_stations" });
      ctx.stations = reply.stations;
      clearError(error);
      $("#stations-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
      render();
    } catch (e) {
      showError(error, e);
    }
  }

  function render() {
    body.replaceChildren(...ctx.stations.map((s) => el("tr", { dataset: { station: s.station, state: s.state } },
      el("th", { scope: "row" }, s.station),
      el("td", {}, el("span", { class: `badge badge-${s.state}`, dataset: { testid: `station-state-${s.station}` } },
        stationState(s))),
      el("td", { dataset: { testid: `station-devices-${s.station}` } }, devicesText(s)),
      el("td", {}, s.headsets ? `${s.headsets} connected` : "none"),
      el("td", {}, s.session_id
        ? `#${s.session_id}${s.game ? ` ${s.game.replace("_", " ")}` : ""}${s.patient_code ? ` · ${s.patient_code}` : ""}`
        : "–"),
      el("td", {}, el("button", {
        type: "button", class: "secondary", "aria-label": `Open ${s.station} in the session view`,
        onclick: () => ctx.go("session", { station: s.station }),
      }, "Open")),
    )));
    if (!ctx.stations.length) body.append(el("tr", {}, el("td", { colspan: 6 }, "No stations in your clinic.")));
    ctx.emit("stations", ctx.stations);
  }

  // A `station` event: one station's new status (device/headset came or went, pause, ...).
  ctx.conn.on("station", (status) => {
    const i = ctx.stations.findIndex((s) => s.station === status.station);
    if (i >= 0) ctx.stations[i] = { ...ctx.stations[i], ...status };
    else ctx.stations.push(status);
    render();
  });
  ctx.conn.on("game_stopped", () => refresh());
  ctx.on("game_started", () => refresh());

  $("#refresh-stations").addEventListener("click", (e) => act(e.currentTarget, error, refresh));

  ctx.on("ready", () => {
    refresh();
    clearInterval(timer);
    timer = setInterval(refresh, REFRESH_MS);
  });
  ctx.on("loggedout", () => clearInterval(timer));

  return { shown: () => refresh(), refresh };
}
