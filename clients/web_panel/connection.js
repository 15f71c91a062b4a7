// The websocket to the StrideVR server (docs/protocol.md): JSON text frames, one request id per
// request and its reply as a promise, pushes (state, trial, station, ...) as events, and
// reconnecting with the session token after a reload or a dropped connection.
//
// Events (conn.on(name, fn)): every pushed message by its `type`, plus
//   "connection" {state: "online" | "reconnecting" | "offline"}
//   "loggedout"  {reason}  - logout, expired session or a token the server no longer accepts.

const TOKEN_KEY = "stridevr.session_token";
const REQUEST_TIMEOUT_MS = 15000;
const RETRY_MAX_MS = 10000;

export class ServerError extends Error {
  constructor(reply) {
    super(reply.message || reply.code || "error");
    this.code = reply.code;
    this.reply = reply;
  }
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/`;
}

export class Connection extends EventTarget {
  constructor(url = defaultUrl()) {
    super();
    this.url = url;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.welcome = null;
    this.leaving = false; // logout or expiry: do not reconnect
    this.retryMs = 500;
    this.retryTimer = null;
  }

  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  get online() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  on(type, handler) {
    this.addEventListener(type, (event) => handler(event.detail));
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Log in with {username, password}, or with the stored session token when none are given. */
  async login(credentials) {
    const token = this.token;
    if (!credentials && !token) throw new ServerError({ code: "auth_required", message: "please log in" });
    const first = credentials
      ? { type: "login", username: credentials.username, password: credentials.password }
      : { type: "login", token };
    this.leaving = false;
    const welcome = await this.open(first);
    sessionStorage.setItem(TOKEN_KEY, welcome.session_token);
    this.welcome = welcome;
    this.retryMs = 500;
    this.emit("connection", { state: "online" });
    return welcome;
  }

  /** Open a socket and send the first (login) message; resolves with `welcome`. */
  open(first) {
    clearTimeout(this.retryTimer);
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new WebSocket(this.url);
      const fail = (error) => {
        if (settled) return;
        settled = true;
        reject(error);
      };
      ws.onopen = () => ws.send(JSON.stringify({ v: 1, id: 0, ...first }));
      ws.onerror = () => fail(new ServerError({ code: "unavailable", message: "cannot reach the server" }));
      ws.onclose = () => fail(new ServerError({ code: "unavailable", message: "the server closed the connection" }));
      ws.onmessage = (event) => {
        if (settled) return;
        settled = true;
        const reply = JSON.parse(event.data);
        if (reply.type !== "welcome") {
          reject(new ServerError(reply)); // an auth error: the server closes the socket
          return;
        }
        this.ws = ws;
        ws.onmessage = (e) => this.receive(JSON.parse(e.data));
        ws.onclose = () => this.closed(ws);
        ws.onerror = null;
        resolve(reply);
      };
    });
  }

  /** Send a request; resolves with its reply, rejects with ServerError on an `error` reply. */
  request(message, timeoutMs = REQUEST_TIMEOUT_MS) {
    if (!this.online) {
      return Promise.reject(new ServerError({ code: "disconnected", message: "not connected to the server; reconnecting…" }));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ServerError({ code: "timeout", message: `no reply to ${message.type} within ${timeoutMs / 1000} s` }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ v: 1, ...message, id }));
    });
  }

  receive(message) {
    const waiting = message.id !== undefined && message.id !== null ? this.pending.get(message.id) : undefined;
    if (waiting) {
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.type === "error") waiting.reject(new ServerError(message));
      else waiting.resolve(message);
      return;
    }
    if (message.type === "error" && (message.code === "session_expired" || message.code === "revoked")) {
      // revoked: logged out elsewhere, password changed or reset, account deactivated
      this.leaving = true;
      this.forget();
      const reason = message.code === "revoked" ? `You were logged out: ${message.message}.`
        : "Your session has expired.";
      this.emit("loggedout", { reason: `${reason} Please log in again.` });
      return;
    }
    this.emit(message.type, message);
  }

  closed(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new ServerError({ code: "disconnected", message: "the connection to the server was lost" }));
    }
    this.pending.clear();
    if (this.leaving) {
      this.emit("connection", { state: "offline" });
      return;
    }
    this.emit("connection", { state: "reconnecting" });
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.reconnect(), this.retryMs);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  async reconnect() {
    if (this.leaving) return;
    try {
      await this.login();
      this.emit("reconnected", this.welcome);
    } catch (error) {
      if (error.code === "auth_failed" || error.code === "auth_required") {
        this.forget();
        this.emit("loggedout", { reason: "Your login is no longer valid. Please log in again." });
      } else {
        this.scheduleReconnect();
      }
    }
  }

  async logout() {
    this.leaving = true;
    try {
      if (this.online) await this.request({ type: "logout" }, 5000);
    } catch {
      // logged out locally anyway; the token is forgotten below
    }
    this.forget();
    if (this.ws) this.ws.close();
    this.emit("loggedout", { reason: "" });
  }

  forget() {
    sessionStorage.removeItem(TOKEN_KEY);
    this.welcome = null;
    clearTimeout(this.retryTimer);
  }
}
