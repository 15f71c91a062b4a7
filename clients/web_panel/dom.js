// Small DOM helpers shared by the views.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** el("button", {type: "button", class: "x", dataset: {testid: "y"}, onclick: fn}, "text", child) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

const FRIENDLY = {
  auth_failed: "Login failed",
  not_found: "Not found",
  busy: "Station busy",
  no_game: "No game running",
  conflict: "Already exists",
  forbidden: "Not allowed",
  throttled: "Too many attempts",
  rate_limited: "Too many requests",
  unavailable: "Server unavailable",
  disconnected: "Not connected",
  timeout: "No answer from the server",
  bad_field: "Invalid value",
  missing_field: "Missing value",
  unknown_field: "Unknown field",
  stale_config: "Not applied",
};

/** Show a server error (or any Error) in an element next to the action that caused it. */
export function showError(node, error) {
  const code = error && error.code;
  const message = (error && error.message) || String(error);
  node.textContent = code && FRIENDLY[code] ? `${FRIENDLY[code]}: ${message}` : message;
  node.dataset.code = code || "";
  node.hidden = false;
}

export function clearError(node) {
  node.textContent = "";
  node.dataset.code = "";
  node.hidden = true;
}

/** A number for display: fixed digits, or a dash when there is none. */
export function fmt(value, digits = 2, unit = "") {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
  return `${Number(value).toFixed(digits)}${unit ? " " + unit : ""}`;
}

export const pct = (share, digits = 0) => fmt(share === null || share === undefined ? null : 100 * share, digits, "%");

/** Run an async action from a button: disabled while it runs, errors shown in `errorNode`. */
export async function act(button, errorNode, action) {
  if (errorNode) clearError(errorNode);
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    if (errorNode) showError(errorNode, error);
    else console.warn(error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}
