// The panel's entry point: login and logout, the views and moving between them.
// Each view lives in views/*.js and gets the shared context `ctx`.

import { Connection } from "./connection.js";
import { $, $$, act, clearError, showError } from "./dom.js";
import { stationsView } from "./views/stations.js";
import { patientsView } from "./views/patients.js";
import { sessionView } from "./views/session.js";
import { progressView } from "./views/progress.js";
import { assessmentView } from "./views/assessment.js";
import { adminView } from "./views/admin.js";

const VIEW_KEY = "stridevr.view";
const VIEWS = ["stations", "patients", "session", "assessment", "progress", "admin"];
const ADMIN_VIEWS = new Set(["admin"]); // shown to accounts whose role is admin only

const conn = new Connection();
const ctx = {
  conn,
  // "patients", "stations": shared lists changed; "ready": (re)logged in; "game_started": a view
  // started a game; "plan_saved" {patientId, plan}: a patient's plan was stored
  bus: new EventTarget(),
  patients: [],
  stations: [],
  role: null, // the account's role from `welcome`: "admin" or "therapist"
  emit(type, detail) {
    this.bus.dispatchEvent(new CustomEvent(type, { detail }));
  },
  on(type, handler) {
    this.bus.addEventListener(type, (event) => handler(event.detail));
  },
  go,
};

const views = {
  stations: stationsView(ctx),
  patients: patientsView(ctx),
  session: sessionView(ctx),
  assessment: assessmentView(ctx),
  progress: progressView(ctx),
  admin: adminView(ctx),
};

/** Show one view; `options` go to its `shown` hook (e.g. a station or patient to select). */
function go(name, options = {}, focus = true) {
  if (!VIEWS.includes(name) || (ADMIN_VIEWS.has(name) && ctx.role !== "admin")) name = "stations";
  $("#view-login").hidden = true;
  for (const view of VIEWS) $(`#view-${view}`).hidden = view !== name;
  for (const button of $$(".nav-button")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  sessionStorage.setItem(VIEW_KEY, name);
  if (views[name].shown) views[name].shown(options);
  if (focus) $(`#view-${name} h2`).focus();
}

function showLogin(notice = "") {
  for (const view of VIEWS) $(`#view-${view}`).hidden = true;
  $("#nav").hidden = true;
  $("#account").hidden = true;
  $("#boot").hidden = true;
  $("#view-login").hidden = false;
  const box = $("#login-notice");
  box.textContent = notice;
  box.hidden = !notice;
  $("#login-password").value = "";
  $("#login-username").focus();
}

/** The account's role decides which views it is offered (the server checks every request anyway). */
function setRole(welcome) {
  ctx.role = (welcome.therapist && welcome.therapist.role) || "therapist";
  $("#nav-admin").hidden = ctx.role !== "admin";
}

function loggedIn(welcome, restore) {
  setRole(welcome);
  $("#boot").hidden = true;
  $("#nav").hidden = false;
  $("#account").hidden = false;
  const who = welcome.therapist || {};
  $("#whoami").textContent = who.display_name || who.username || "";
  const expires = new Date(welcome.expires_at);
  $("#whoami").title = `Session expires at ${expires.toLocaleString()}`;
  ctx.emit("ready", welcome);
  go(restore ? sessionStorage.getItem(VIEW_KEY) || "stations" : "stations", {}, !restore);
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("#login-error");
  const username = $("#login-username").value.trim();
  const password = $("#login-password").value;
  if (!username || !password) {
    showError(error, new Error("Enter your username and password."));
    return;
  }
  const welcome = await act($("#login-submit"), error, () => conn.login({ username, password }));
  if (welcome) {
    clearError(error);
    loggedIn(welcome, false);
  } else {
    $("#login-password").select();
  }
});

for (const button of $$(".nav-button")) button.addEventListener("click", () => go(button.dataset.view));

$("#logout").addEventListener("click", () => conn.logout());

conn.on("loggedout", ({ reason }) => {
  ctx.role = null;
  $("#nav-admin").hidden = true;
  ctx.emit("loggedout");
  showLogin(reason);
});

conn.on("connection", ({ state }) => {
  const status = $("#conn-status");
  status.dataset.state = state;
  status.textContent = { online: "connected", reconnecting: "reconnecting…", offline: "offline" }[state];
});

conn.on("reconnected", (welcome) => {
  setRole(welcome);
  ctx.emit("ready", welcome);
});

// A reload keeps the login: the session token is in sessionStorage (this tab only).
async function boot() {
  if (!conn.token) {
    showLogin();
    return;
  }
  $("#boot").textContent = "Reconnecting…";
  try {
    loggedIn(await conn.login(), true);
  } catch (error) {
    if (error.code === "auth_failed") {
      conn.forget();
      showLogin("Your session has ended. Please log in again.");
    } else {
      showLogin();
      showError($("#login-error"), error);
    }
  }
}

boot();
