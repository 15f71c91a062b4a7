// The neglect cue's sound: a short two-tone chime (880 Hz then 1320 Hz, 0.3 s), made with Web Audio.
// Browsers start audio only after a user gesture, so the context is made on the first tap or click
// (pairing, Enter VR); before that a cue is counted as skipped.
export class Chime {
  constructor() {
    this.ctx = null;
    this.played = 0;
    this.skipped = 0;
    const unlock = () => this.unlock();
    window.addEventListener("pointerdown", unlock, { capture: true });
    window.addEventListener("keydown", unlock, { capture: true });
  }

  unlock() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!this.ctx) this.ctx = new Ctx();
    if (this.ctx.state === "suspended") this.ctx.resume();
  }

  play() {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== "running") { this.skipped++; return false; }
    const t0 = ctx.currentTime;
    for (const [freq, start] of [[880, 0], [1320, 0.15]]) {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + start);
      gain.gain.exponentialRampToValueAtTime(0.4, t0 + start + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + start + 0.15);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + start);
      osc.stop(t0 + start + 0.16);
    }
    this.played++;
    return true;
  }
}
