// Admin: the clinic's accounts, its stations' credentials and the audit log (docs/protocol.md,
// "Admin → server"). Shown only to accounts whose welcome says role "admin"; the server refuses
// these requests to anyone else (`forbidden`) whatever the page shows.
//
// A new password or token is shown once, in the page, and never stored here: the server keeps only
// its hash. Deactivating, reactivating and rotating or revoking a token ask first, in the page.

import { $, act, clearError, el, showError } from "../dom.js";
import { isoLocal } from "../units.js";

const AUDIT_PAGE = 50;
// Suggestions for the action filter; any other action name may be typed.
const AUDIT_ACTIONS = ["login", "login_failed", "login_throttled", "forbidden", "logout", "set_password",
  "create_account", "deactivate_account", "reactivate_account", "reset_password", "create_station",
  "rotate_station_token", "revoke_station_token", "list_accounts", "list_station_credentials", "audit_log",
  "create_patient", "update_patient", "export_patient", "erase_patient", "start_game", "stop_game",
  "set_difficulty", "save_plan"];
// Entries that record something refused: highlighted in the table.
const REFUSED = new Set(["login_failed", "login_throttled", "forbidden"]);
const ROLES = ["device", "headset"];

/** A local time with its UTC offset, readable: "2026-01-05 11:02:03 +01:00". */
const localTime = (when) => isoLocal(when).replace("T", " ").replace(/([+-]\d\d:\d\d)$/, " $1");

/** Midnight at the start of a local date ("2026-01-05"), as ISO 8601 with the panel's offset;
 * `days` later for the end of an inclusive range. */
function localMidnight(date, days = 0) {
  const [y, m, d] = date.split("-").map(Number);
  return isoLocal(new Date(y, m - 1, d + days));
}

/** A confirm step in the page (not window.confirm: it works on a tablet and in tests). */
function confirmStep(prefix) {
  const box = $(`#${prefix}-confirm`);
  let pending = null;
  const close = () => {
    box.hidden = true;
    pending = null;
  };
  $(`#${prefix}-confirm-no`).addEventListener("click", close);
  $(`#${prefix}-confirm-yes`).addEventListener("click", () => {
    const run = pending;
    close();
    if (run) run();
  });
  return {
    ask(text, yesLabel, run) {
      $(`#${prefix}-confirm-text`).replaceChildren(el("strong", {}, text));
      $(`#${prefix}-confirm-yes`).textContent = yesLabel;
      pending = run;
      box.hidden = false;
      $(`#${prefix}-confirm-no`).focus();
    },
    close,
  };
}

/** Show secrets (a one-time password, station tokens) once, with a copy hint and a Copy button. */
function showSecret(box, title, secrets) {
  const hide = () => {
    box.replaceChildren();
    box.hidden = true;
  };
  const done = el("button", { type: "button", class: "secondary", onclick: hide }, "Done, hide");
  box.replaceChildren(
    el("p", {}, el("strong", {}, title)),
    el("p", { class: "help" }, "Copy it now and hand it over safely: it is shown only this once and cannot be shown again."),
    el("dl", {}, secrets.flatMap(({ label, value, testid }) => {
      const code = el("code", { dataset: { testid } }, value);
      const copy = el("button", { type: "button", class: "secondary", "aria-label": `Copy ${label}`,
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(value);
            copy.textContent = "Copied";
          } catch {
            getSelection().selectAllChildren(code); // no clipboard access: select it for Ctrl+C
            copy.textContent = "Selected: press Ctrl+C";
          }
        } }, "Copy");
      return [el("dt", {}, label), el("dd", {}, code, " ", copy)];
    })),
    el("div", { class: "buttons" }, done));
  box.hidden = false;
}

export function adminView(ctx) {
  let accounts = [];
  let auditNext = null; // the next page's before_id; null on the last page
  const accountConfirm = confirmStep("account");
  const stationConfirm = confirmStep("station");
  const isAdmin = () => ctx.role === "admin";

  // -- accounts -------------------------------------------------------------------------------

  async function loadAccounts() {
    try {
      accounts = (await ctx.conn.request({ type: "list_accounts" })).accounts;
      clearError($("#account-error"));
      renderAccounts();
    } catch (e) {
      showError($("#account-error"), e);
    }
  }

  function renderAccounts() {
    const me = ctx.conn.welcome && ctx.conn.welcome.therapist ? ctx.conn.welcome.therapist.id : null;
    $("#accounts-body").replaceChildren(...accounts.map((a) => el("tr", { dataset: { account: a.username } },
      el("th", { scope: "row" }, a.username),
      el("td", {}, a.display_name || ""),
      el("td", {}, a.role === "admin" ? "Admin" : "Therapist"),
      el("td", { class: a.active ? "" : "inactive" }, a.active ? "Active" : "Deactivated"),
      el("td", {}, el("div", { class: "row-actions" },
        el("button", { type: "button", class: "secondary", "aria-label": `Reset the password of ${a.username}`,
          onclick: (e) => resetPassword(a, e.currentTarget) }, "Reset password"),
        a.id === me ? null : el("button", { type: "button", class: a.active ? "danger" : "secondary",
          "aria-label": `${a.active ? "Deactivate" : "Reactivate"} ${a.username}`,
          onclick: () => setActive(a, !a.active) }, a.active ? "Deactivate" : "Reactivate"))),
    )));
    if (!accounts.length) $("#accounts-body").append(el("tr", {}, el("td", { colspan: 5 }, "No accounts.")));
    renderPeople();
  }

  function replaceAccount(account) {
    const i = accounts.findIndex((a) => a.id === account.id);
    if (i >= 0) accounts[i] = account;
    else accounts.push(account);
    accounts.sort((a, b) => a.username.localeCompare(b.username));
    renderAccounts();
  }

  $("#account-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#account-error");
    const username = $("#account-username").value.trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(username)) {
      showError(error, new Error("Username: 1–64 letters, digits, _ . or -."));
      return;
    }
    const request = { type: "create_account", username, role: $("#account-role").value };
    const name = $("#account-name").value.trim();
    if (name) request.display_name = name;
    $("#account-status").textContent = "";
    const reply = await act($("#account-create"), error, () => ctx.conn.request(request));
    if (!reply) return;
    replaceAccount(reply.account);
    $("#account-username").value = "";
    $("#account-name").value = "";
    showSecret($("#account-secret"), `One-time password for ${reply.account.username}`,
      [{ label: "Password", value: reply.one_time_password, testid: "one-time-password" }]);
  });

  function setActive(account, active) {
    const verb = active ? "Reactivate" : "Deactivate";
    const text = active ? `Reactivate ${account.username}? They can log in again with their password.`
      : `Deactivate ${account.username}? They are logged out at once and cannot log in until reactivated.`;
    accountConfirm.ask(text, `Yes, ${verb.toLowerCase()}`, async () => {
      const reply = await act(null, $("#account-error"), () => ctx.conn.request({
        type: active ? "reactivate_account" : "deactivate_account", account_id: account.id }));
      if (!reply) return;
      replaceAccount(reply.account);
      $("#account-status").textContent = `${reply.account.username} ${active ? "reactivated" : "deactivated"}.`;
    });
  }

  async function resetPassword(account, button) {
    accountConfirm.close();
    $("#account-status").textContent = "";
    const reply = await act(button, $("#account-error"), () => ctx.conn.request({
      type: "reset_password", account_id: account.id }));
    if (!reply) return;
    replaceAccount(reply.account);
    showSecret($("#account-secret"), `New one-time password for ${reply.account.username} (the old one and their open sessions no longer work)`,
      [{ label: "Password", value: reply.one_time_password, testid: "one-time-password" }]);
  }

  // -- stations -------------------------------------------------------------------------------

  async function loadStations() {
    try {
      const reply = await ctx.conn.request({ type: "list_station_credentials" });
      clearError($("#station-error"));
      renderStations(reply.stations);
    } catch (e) {
      showError($("#station-error"), e);
    }
  }

  function renderStations(stations) {
    $("#credentials-body").replaceChildren(...stations.map((s) => el("tr", { dataset: { station: s.station } },
      el("th", { scope: "row" }, s.station),
      ...ROLES.map((role) => {
        const issued = s.credentials[role];
        return el("td", { dataset: { role } },
          el("span", { class: issued ? "" : "inactive" }, issued ? `issued ${localTime(issued)}` : "no token"),
          el("div", { class: "row-actions" },
            el("button", { type: "button", class: "secondary", "aria-label": `Rotate the ${role} token of ${s.station}`,
              onclick: () => rotate(s.station, role, Boolean(issued)) }, issued ? "Rotate" : "Issue"),
            issued ? el("button", { type: "button", class: "danger", "aria-label": `Revoke the ${role} token of ${s.station}`,
              onclick: () => revoke(s.station, role) }, "Revoke") : null));
      }))));
    if (!stations.length) $("#credentials-body").append(el("tr", {}, el("td", { colspan: 3 }, "No stations.")));
  }

  $("#station-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#station-error");
    const station = $("#station-name").value.trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(station)) {
      showError(error, new Error("Station name: 1–64 letters, digits, _ . or -."));
      return;
    }
    $("#station-status").textContent = "";
    const reply = await act($("#station-create"), error, () => ctx.conn.request({ type: "create_station", station }));
    if (!reply) return;
    $("#station-name").value = "";
    showSecret($("#station-secret"), `Tokens for the new station ${reply.station}`, [
      { label: "Device token", value: reply.tokens.device, testid: "token-device" },
      { label: "Headset token", value: reply.tokens.headset, testid: "token-headset" }]);
    await loadStations();
  });

  function rotate(station, role, had) {
    const text = had ? `Rotate the ${role} token of ${station}? The ${role} connected with the old token is disconnected`
      + " at once and must be set up with the new one." : `Issue a ${role} token for ${station}?`;
    stationConfirm.ask(text, had ? "Yes, rotate" : "Yes, issue", async () => {
      const reply = await act(null, $("#station-error"), () => ctx.conn.request({
        type: "rotate_station_token", station, role }));
      if (!reply) return;
      showSecret($("#station-secret"), `New ${reply.role} token for ${reply.station}`,
        [{ label: `${reply.role[0].toUpperCase()}${reply.role.slice(1)} token`, value: reply.token, testid: `token-${reply.role}` }]);
      await loadStations();
    });
  }

  function revoke(station, role) {
    stationConfirm.ask(`Revoke the ${role} token of ${station}? Its ${role} is disconnected and nothing can connect`
      + ` as the station's ${role} until a token is issued again.`, "Yes, revoke", async () => {
      const reply = await act(null, $("#station-error"), () => ctx.conn.request({
        type: "revoke_station_token", station, role }));
      if (!reply) return;
      $("#station-secret").hidden = true;
      $("#station-status").textContent = `The ${role} token of ${station} is revoked.`;
      await loadStations();
    });
  }

  // -- the audit log --------------------------------------------------------------------------

  function renderPeople() {
    const chosen = $("#audit-person").value;
    $("#audit-person").replaceChildren(el("option", { value: "" }, "Anyone"),
      ...accounts.map((a) => el("option", { value: a.id }, a.display_name ? `${a.username} (${a.display_name})` : a.username)));
    $("#audit-person").value = chosen;
  }

  function renderPatients() {
    const chosen = $("#audit-patient").value;
    $("#audit-patient").replaceChildren(el("option", { value: "" }, "Any patient"),
      ...ctx.patients.map((p) => el("option", { value: p.id }, p.code)));
    $("#audit-patient").value = chosen;
  }

  /** The filters as the server wants them; an Error when the dates make no range. */
  function auditQuery() {
    const query = { type: "audit_log", limit: AUDIT_PAGE };
    if ($("#audit-person").value) query.therapist_id = Number($("#audit-person").value);
    if ($("#audit-patient").value) query.patient_id = Number($("#audit-patient").value);
    const action = $("#audit-action").value.trim();
    if (action) {
      if (!/^[a-z_]{1,64}$/.test(action)) throw new Error("Action: lower-case letters and _ (e.g. login_failed).");
      query.action = action;
    }
    const from = $("#audit-from").value;
    const to = $("#audit-to").value;
    if (from && to && from > to) throw new Error("The From date is after the To date.");
    if (from) query.since = localMidnight(from);
    if (to) query.until = localMidnight(to, 1);
    return query;
  }

  let lastQuery = null;

  async function loadAudit(older) {
    const error = $("#audit-error");
    let query;
    try {
      query = older ? { ...lastQuery, before_id: auditNext } : auditQuery();
    } catch (e) {
      showError(error, e);
      return;
    }
    const reply = await act(older ? $("#audit-older") : $("#audit-load"), error, () => ctx.conn.request(query));
    if (!reply) return;
    lastQuery = query;
    auditNext = reply.next_before_id;
    const rows = reply.entries.map((e) => el("tr", {
      class: REFUSED.has(e.action) ? "refused" : "", dataset: { action: e.action, entry: e.id } },
      el("td", {}, el("time", { datetime: e.at }, localTime(e.at))),
      el("td", {}, e.username || (e.therapist_id ? `#${e.therapist_id}`
        : el("span", { class: "inactive", title: "done from the command line or by the server itself" }, "no account"))),
      el("td", {}, e.action),
      el("td", {}, e.subject || ""),
      el("td", { class: "detail" }, detailText(e.detail))));
    if (older) $("#audit-body").append(...rows);
    else $("#audit-body").replaceChildren(...rows);
    const shown = $("#audit-body").querySelectorAll("tr[data-entry]").length;
    if (!shown) $("#audit-body").replaceChildren(el("tr", {}, el("td", { colspan: 5 }, "No entries match.")));
    $("#audit-status").textContent = `${shown} ${shown === 1 ? "entry" : "entries"}, newest first`
      + (auditNext ? "; older ones follow." : ".");
    $("#audit-older").hidden = !auditNext;
  }

  $("#audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAudit(false);
  });
  $("#audit-older").addEventListener("click", () => loadAudit(true));
  $("#audit-actions").replaceChildren(...AUDIT_ACTIONS.map((a) => el("option", { value: a })));

  ctx.on("patients", renderPatients);
  ctx.on("loggedout", () => { // nothing of one admin's stays on the page for the next login
    accounts = [];
    accountConfirm.close();
    stationConfirm.close();
    $("#accounts-body").replaceChildren();
    $("#credentials-body").replaceChildren();
    $("#audit-body").replaceChildren();
    for (const id of ["#account-secret", "#station-secret"]) $(id).replaceChildren();
    for (const id of ["#account-secret", "#station-secret"]) $(id).hidden = true;
  });
  return {
    shown() {
      if (!isAdmin()) return;
      renderPatients();
      loadAccounts();
      loadStations();
      loadAudit(false);
    },
  };
}

/** An audit entry's detail as short text ("address: 127.0.0.1 · reason: wrong username or password"). */
function detailText(detail) {
  if (!detail || typeof detail !== "object") return detail ? String(detail) : "";
  return Object.entries(detail).map(([k, v]) => `${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : v}`)
    .join(" · ");
}
