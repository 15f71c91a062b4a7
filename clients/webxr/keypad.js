// The pairing keypad: six digits, keys large enough to hit with one hand (hemiparesis). The same keys
// are an HTML grid (mouse, touch, the headset browser's own pointer) and, inside VR, a world-locked
// 3D panel put 1.1 m ahead of the viewer, that a controller ray selects. Six digits submit by themselves.
import * as THREE from "three";

export const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "clear"];
const CODE_LENGTH = 6;

export class Keypad {
  constructor(onCode) {
    this.onCode = onCode;
    this.code = "";
    this.message = "";
    this.el = document.getElementById("keypad");
    this.codeEl = document.getElementById("keypad-code");
    this.messageEl = document.getElementById("keypad-message");
    const keys = document.getElementById("keypad-keys");
    for (const key of KEYS) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = key === "clear" ? "C" : key;
      b.dataset.key = key;
      b.setAttribute("aria-label", key === "⌫" ? "delete" : key);
      b.addEventListener("click", () => this.press(key));
      keys.append(b);
    }
    this.panel = new KeypadPanel();
    this.busy = false;
    this.render();
  }

  get visible() { return !this.el.hidden; }

  show(message = "") {
    this.el.hidden = false;
    this.panel.group.visible = true;
    this.setMessage(message);
  }

  hide() {
    this.el.hidden = true;
    this.panel.group.visible = false;
    this.code = "";
    this.render();
  }

  setMessage(message) { this.message = message; this.render(); }

  press(key) {
    if (this.busy) return;
    if (key === "⌫") this.code = this.code.slice(0, -1);
    else if (key === "clear") this.code = "";
    else if (/^[0-9]$/.test(key) && this.code.length < CODE_LENGTH) this.code += key;
    this.render();
    if (this.code.length === CODE_LENGTH) {
      const code = this.code;
      this.busy = true;
      this.setMessage("pairing…");
      Promise.resolve(this.onCode(code)).finally(() => { this.busy = false; this.code = ""; this.render(); });
    }
  }

  render() {
    const shown = (this.code + "_".repeat(CODE_LENGTH - this.code.length)).split("").join(" ");
    this.codeEl.textContent = shown;
    this.messageEl.textContent = this.message;
    this.panel.draw(shown, this.message);
  }
}

/** The keypad in VR: a canvas-textured panel with one invisible hit box per key for the controller rays. */
class KeypadPanel {
  constructor() {
    this.group = new THREE.Group();
    this.group.visible = false;
    this.keySizeM = 0.16; // 16 cm keys at 1.2 m: easy to point at with a shaky hand
    const w = 3 * this.keySizeM + 0.1, h = 4 * this.keySizeM + 0.36;
    this.canvas = document.createElement("canvas");
    this.canvas.width = 512;
    this.canvas.height = Math.round(512 * h / w);
    this.texture = new THREE.CanvasTexture(this.canvas);
    this.texture.colorSpace = THREE.SRGBColorSpace;
    this.sizeM = [w, h];
    const board = new THREE.Mesh(new THREE.PlaneGeometry(w, h), new THREE.MeshBasicMaterial({ map: this.texture, transparent: true }));
    this.group.add(board);
    this.hitBoxes = [];
    KEYS.forEach((key, i) => {
      const col = i % 3, row = Math.floor(i / 3);
      const box = new THREE.Mesh(new THREE.PlaneGeometry(this.keySizeM * 0.94, this.keySizeM * 0.94), new THREE.MeshBasicMaterial({ visible: false }));
      box.position.set((col - 1) * this.keySizeM, h / 2 - 0.3 - (row + 0.5) * this.keySizeM, 0.002);
      box.userData.key = key;
      this.group.add(box);
      this.hitBoxes.push(box);
    });
    this.hover = null;
  }

  draw(shown, message) {
    const g = this.canvas.getContext("2d"), W = this.canvas.width, H = this.canvas.height, px = W / this.sizeM[0];
    g.fillStyle = "rgba(16, 24, 32, 0.95)";
    g.fillRect(0, 0, W, H);
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillStyle = "#eef";
    g.font = "600 22px system-ui, sans-serif";
    g.fillText("Pairing code from the therapist's panel", W / 2, 0.05 * px);
    g.font = "600 56px monospace";
    g.fillText(shown, W / 2, 0.14 * px);
    g.fillStyle = "#fc6";
    g.font = "500 22px system-ui, sans-serif";
    g.fillText(message || "", W / 2, 0.235 * px);
    for (const box of this.hitBoxes) {
      const cx = W / 2 + box.position.x * px, cy = H / 2 - box.position.y * px, s = this.keySizeM * 0.9 * px;
      g.fillStyle = box === this.hover ? "#58a" : "#345";
      g.fillRect(cx - s / 2, cy - s / 2, s, s);
      g.fillStyle = "#fff";
      g.font = "600 44px system-ui, sans-serif";
      const k = box.userData.key;
      g.fillText(k === "clear" ? "C" : k, cx, cy);
    }
    this.texture.needsUpdate = true;
  }

  /** The key a ray hits, or null. */
  keyAt(raycaster) {
    if (!this.group.visible) return null;
    const hit = raycaster.intersectObjects(this.hitBoxes, false)[0];
    return hit ? hit.object : null;
  }
}
