// One authenticated websocket (JSON text frames) that reconnects by itself: 0.5 s doubling to 5 s,
// ±10 % jitter. A refusal of the credential itself (auth_failed, revoked) stops it: the caller decides.
import { hello } from "./wire.js";

const FATAL = new Set(["auth_failed", "revoked"]);

export class Link {
  constructor(url, role, station, token, { onMessage, onStatus, onRefused }) {
    Object.assign(this, { url, role, station, token, onMessage, onStatus, onRefused });
    this.ws = null;
    this.delayS = 0.5;
    this.stopped = false;
    this.welcomed = false;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.onStatus?.("connecting…");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify(hello(this.role, this.station, this.token)));
    ws.onmessage = (event) => {
      const arrivedMs = performance.now();
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === "welcome") {
        this.welcomed = true;
        this.delayS = 0.5;
        this.onStatus?.("connected");
      } else if (message.type === "error" && FATAL.has(message.code)) {
        this.stop();
        this.onRefused?.(message);
        return;
      }
      this.onMessage?.(message, arrivedMs);
    };
    ws.onclose = () => {
      this.welcomed = false;
      if (this.stopped) return;
      const wait = this.delayS * (0.9 + 0.2 * Math.random());
      this.delayS = Math.min(5, this.delayS * 2);
      this.onStatus?.(`connecting… (retry in ${wait.toFixed(1)} s)`);
      setTimeout(() => this.connect(), wait * 1000);
    };
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.welcomed) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  stop() {
    this.stopped = true;
    this.ws?.close();
  }
}

/** Trade a pairing code for the station's credentials: resolves {station, headset_token, ...}, or rejects with the error. */
export function pairWith(url, message) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let done = false;
    ws.onopen = () => ws.send(JSON.stringify(message));
    ws.onmessage = (event) => {
      let reply;
      try { reply = JSON.parse(event.data); } catch { return; }
      done = true;
      if (reply.type === "paired") resolve(reply); else reject(reply);
      ws.close();
    };
    ws.onclose = () => { if (!done) reject({ type: "error", code: "closed", message: "the server closed the connection" }); };
  });
}
