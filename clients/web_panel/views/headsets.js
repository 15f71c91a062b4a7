// The watched station's headsets (docs/panel.md, "Headsets"): a pairing code to type on a headset,
// shown large with its countdown; the paired headsets with an Un-pair button each; and Align, which
// restarts the standing calibration of the station's devices and re-aligns its headsets' view.

import { $, act, clearError, el, showError } from "../dom.js";

const TICK_MS = 250;

export function headsetsPanel(ctx) {
  const error = $("#headsets-error");
  const status = $("#headsets-status");
  const box = $("#pair-box");
  let station = null;
  let code = null; // {station, code, expiresAt (ms), pairingId}
  let timer = null;
  let pendingUnpair = null;

  function showCode() {
    if (!code || code.station !== station) {
      box.hidden = true;
      clearInterval(timer);
      timer = null;
      return;
    }
    const left = Math.max(0, Math.ceil((code.expiresAt - Date.now()) / 1000));
    box.hidden = false;
    $("#pair-code").textContent = code.code;
    box.dataset.state = left > 0 ? "live" : "expired";
    box.dataset.pairingId = String(code.pairingId);
    $("#pair-countdown").textContent = left > 0
      ? `Valid for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} more, once.`
      : "This code has expired: press Pair headset for a new one.";
    if (left <= 0) {
      clearInterval(timer);
      timer = null;
    }
  }

  async function refresh() {
    if (!station || !ctx.conn.online) return;
    const asked = station;
    try {
      const reply = await ctx.conn.request({ type: "list_pairings", station: asked });
      if (asked === station) render(reply.pairings);
    } catch (e) {
      showError(error, e);
    }
  }

  function render(pairings) {
    if (code && pairings.some((p) => p.pairing_id === code.pairingId)) {
      status.textContent = `Headset paired: ${pairings.find((p) => p.pairing_id === code.pairingId).label}.`;
      code = null; // used: its box goes
      showCode();
    }
    $("#pairings").replaceChildren(...pairings.map((p) => el("li", { dataset: { pairingId: p.pairing_id } },
      el("span", { class: "grow" },
        el("strong", {}, p.label),
        ` ${p.tracker ? "(headset and tracker)" : "(headset)"} · `,
        el("span", { class: "muted" }, p.connected.length ? `connected as ${p.connected.join(" and ")}`
          : `last seen ${p.last_seen_at ? new Date(p.last_seen_at).toLocaleString() : "never"}`)),
      el("button", {
        type: "button", class: "danger", dataset: { testid: "unpair" },
        "aria-label": `Un-pair ${p.label}`, onclick: () => askUnpair(p),
      }, "Un-pair"))));
    if (!pairings.length) $("#pairings").append(el("li", { class: "muted" }, "No headset paired with this station."));
  }

  function askUnpair(pairing) {
    pendingUnpair = pairing;
    $("#unpair-confirm-text").replaceChildren(el("strong", {},
      `Un-pair ${pairing.label}? It is disconnected at once and needs a new code to come back.`));
    $("#unpair-confirm").hidden = false;
    $("#unpair-confirm-no").focus();
  }

  $("#unpair-confirm-no").addEventListener("click", () => {
    pendingUnpair = null;
    $("#unpair-confirm").hidden = true;
  });
  $("#unpair-confirm-yes").addEventListener("click", async () => {
    const pairing = pendingUnpair;
    pendingUnpair = null;
    $("#unpair-confirm").hidden = true;
    if (!pairing || !station) return;
    const reply = await act($("#unpair-confirm-yes"), error, () => ctx.conn.request(
      { type: "unpair_headset", station, pairing_id: pairing.pairing_id }));
    if (reply) {
      status.textContent = `${pairing.label} un-paired.`;
      render(reply.pairings);
    }
  });

  $("#pair-headset").addEventListener("click", async () => {
    if (!station) return;
    const reply = await act($("#pair-headset"), error, () => ctx.conn.request(
      { type: "pair_headset", station, tracker: $("#pair-tracker").checked }));
    if (!reply) return;
    status.textContent = "";
    code = { station: reply.station, code: reply.code, pairingId: reply.pairing_id,
      expiresAt: Date.now() + 1000 * reply.expires_in_s };
    clearInterval(timer);
    timer = setInterval(showCode, TICK_MS);
    showCode();
  });

  $("#align-station").addEventListener("click", async () => {
    if (!station) return;
    const reply = await act($("#align-station"), error, () => ctx.conn.request({ type: "align_station", station }));
    if (reply) {
      status.textContent = `Aligning: ask the patient to stand still on the home spots, facing forward `
        + `(${reply.devices_recalibrating} device(s) calibrating again, ${reply.headsets} headset(s) told).`;
    }
  });

  // A headset connecting or leaving changes the station's status: the list shows who is connected.
  ctx.conn.on("station", (s) => {
    if (s.station === station) refresh();
  });
  ctx.on("ready", () => refresh());

  return {
    /** The live view now shows this station. */
    watch(name) {
      if (name !== station) {
        station = name;
        clearError(error);
        status.textContent = "";
        $("#unpair-confirm").hidden = true;
        $("#pairings").replaceChildren();
        showCode();
      }
      refresh();
    },
  };
}
