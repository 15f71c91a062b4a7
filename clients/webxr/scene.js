// The first-person scene in metres, drawn from the server's `state` (docs/protocol.md, docs/games.md).
// Everything game-related lives in `frame`, a group in the patient frame (+x right, +y forward, +z up on
// the wire); `frame` itself is placed in the room (WebXR local-floor: +y up, floor y = 0) by the alignment.
// Materials are unlit (MeshBasicMaterial): exact colours, cheap on a standalone headset.
import * as THREE from "three";

export const COLOUR = {
  floor: 0x1d232b, grid: 0x3a4654, gridAxis: 0x5b6b7e, home: 0xd0d6e0,
  target: 0xffd400, tint: { L: 0x8cc4ff, R: 0xffc48c }, foot: { L: 0x3d8bff, R: 0xff8a1f },
  hitTarget: 0x2f7a3a, centre: 0x9aa4b0, los: 0x2fe0e8, cursor: 0xff2ee0, cue: 0xfff3a0, touch: 0xffffff, shadow: 0x0b0e12,
};
const HOME_RING_M = [0.085, 0.1];
const CUE_RING_M = [0.15, 0.185];
const CUE_HOLD_S = 5;
// The reaching line from the stance foot to the target: wide enough to see from standing height
// (2.5 cm is about 1° at 1.5 m) without hiding the floor under it.
const REACH_LINE_WIDTH_M = 0.025;
const FOOT_SIZE_M = { width: 0.10, length: 0.26, height: 0.04 };
const SQUARE_LINE_M = 0.03;  // the Four Square Step Test's dividers, as tape on a clinic floor
const FLOOR_LINE_M = 0.05;  // lines across the walkway (Timed Up and Go's turn, the 10-metre walk's marks)
const WALKWAY_HALF_M = 0.6;

/** Patient frame (x right, y forward, z up) → the frame group's three.js coordinates. */
export const P = (x, y, z = 0) => new THREE.Vector3(x, z, -y);

const basic = (colour, extra = {}) => new THREE.MeshBasicMaterial({ color: colour, side: THREE.DoubleSide, ...extra });

/** A flat mesh on the floor at patient (x, y), lying `liftM` above it. */
function flat(geometry, material, x, y, liftM) {
  const mesh = new THREE.Mesh(geometry, material);
  mesh.rotation.x = -Math.PI / 2;
  mesh.position.copy(P(x, y, liftM));
  return mesh;
}

/** A flat mesh on the floor plane, at the origin (placed by setting its position). */
function flatAt0(geometry, material) {
  const mesh = new THREE.Mesh(geometry, material);
  mesh.rotation.x = -Math.PI / 2;
  return mesh;
}

/** A ribbon `widthM` wide along a polyline of patient [x, y] points, on the floor. */
function ribbon(points, widthM, material, liftM) {
  return ribbons([points], widthM, material, liftM);
}

/** Several polylines as ribbons in one mesh (one draw call). */
function ribbons(lines, widthM, material, liftM) {
  const pos = [];
  for (const points of lines) for (let i = 0; i < points.length - 1; i++) {
    const [ax, ay] = points[i], [bx, by] = points[i + 1];
    const len = Math.hypot(bx - ax, by - ay) || 1, nx = -(by - ay) / len * widthM / 2, ny = (bx - ax) / len * widthM / 2;
    const q = [[ax + nx, ay + ny], [ax - nx, ay - ny], [bx - nx, by - ny], [bx + nx, by + ny]].map(([x, y]) => P(x, y, liftM));
    for (const k of [0, 1, 2, 0, 2, 3]) pos.push(q[k].x, q[k].y, q[k].z);
  }
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.Float32BufferAttribute(pos, 3));
  return new THREE.Mesh(g, material);
}

/** The limits-of-stability outline: the server's half-ellipse formula (WeightShiftSettings.los_m). */
export function losOutline(los, points = 96) {
  const out = [];
  for (let i = 0; i <= points; i++) {
    const az = 2 * Math.PI * i / points, sx = Math.sin(az), cy = Math.cos(az);
    const r = 1 / Math.hypot(sx / los.side_m, cy / (cy >= 0 ? los.forward_m : los.backward_m));
    out.push([(los.x_m || 0) + r * sx, (los.y_m || 0) + r * cy]);
  }
  return out;
}

const HOME_HALF_WIDTH_M = { stepping: 0.10, reaching: 0.06, weight_shift: 0.10 };
export function homeSpots(s) {
  if (s?.home?.L && s?.home?.R) return { L: [s.home.L.x_m, s.home.L.y_m], R: [s.home.R.x_m, s.home.R.y_m] };
  const h = HOME_HALF_WIDTH_M[s?.game] ?? 0.10;
  return { L: [-h, 0], R: [h, 0] };
}

function footMesh(side) {
  const g = new THREE.Group();
  const body = new THREE.Mesh(new THREE.BoxGeometry(FOOT_SIZE_M.width, FOOT_SIZE_M.height, FOOT_SIZE_M.length), basic(COLOUR.foot[side]));
  body.position.y = FOOT_SIZE_M.height / 2;
  const toe = new THREE.Mesh(new THREE.CylinderGeometry(FOOT_SIZE_M.width / 2, FOOT_SIZE_M.width / 2, FOOT_SIZE_M.height, 24), basic(COLOUR.foot[side]));
  toe.position.set(0, FOOT_SIZE_M.height / 2, -FOOT_SIZE_M.length / 2);
  g.add(body, toe);
  return g;
}

export class StrideScene {
  constructor() {
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0x2a3440);
    this.room = new THREE.Group(); // things in the room that are not the game (the floor)
    this.frame = new THREE.Group(); // the patient frame, placed by the alignment
    this.scene.add(this.room, this.frame);
    this.world = new THREE.Group(); // everything hidden during an eyes-closed stand
    this.frame.add(this.world);
    const floor = new THREE.Mesh(new THREE.PlaneGeometry(20, 20), basic(COLOUR.floor));
    floor.rotation.x = -Math.PI / 2;
    this.room.add(floor);
    this.world.add(this._grid());
    this.homes = {};
    for (const side of ["L", "R"]) {
      this.homes[side] = flat(new THREE.RingGeometry(...HOME_RING_M, 48), basic(COLOUR.home), 0, 0, 0.002);
      this.world.add(this.homes[side]);
    }
    this.targets = new THREE.Group();
    this.world.add(this.targets);
    this.pieces = new Map(); // id → {key, mesh}: see _placeTargets
    this.feet = {};
    this.shadows = {};
    for (const side of ["L", "R"]) {
      this.feet[side] = footMesh(side);
      this.shadows[side] = flat(new THREE.CircleGeometry(0.07, 24), basic(COLOUR.shadow, { transparent: true, opacity: 0.6 }), 0, 0, 0.0015);
      this.feet[side].visible = this.shadows[side].visible = false;
      this.world.add(this.feet[side], this.shadows[side]);
    }
    this.cursor = flat(new THREE.CircleGeometry(0.025, 32), basic(COLOUR.cursor), 0, 0, 0.007);
    this.cursor.visible = false;
    this.world.add(this.cursor);
    this.cueRings = {};
    for (const side of ["L", "R"]) {
      this.cueRings[side] = flat(new THREE.RingGeometry(...CUE_RING_M, 48), basic(COLOUR.cue), 0, 0, 0.006);
      this.cueRings[side].visible = false;
      this.world.add(this.cueRings[side]);
    }
    this.cueUntil = { L: -Infinity, R: -Infinity };
    this.cueAnsweredAt = { L: -Infinity, R: -Infinity };
    this.stateArrivedS = 0;
    this.state = null;
    this.drawnFeet = {}; // side → [x, y, z] as drawn, patient frame
    this.blanked = false;
  }

  /** The floor grid every 0.1 m (brighter every 0.5 m and on the axes): two meshes, two draw calls. */
  _grid() {
    const fine = [], bold = [];
    for (let i = -20; i <= 20; i++) {
      const v = i * 0.1;
      if (i % 5 !== 0 && Math.abs(v) > 1.0) continue;
      (i % 5 === 0 ? bold : fine).push([[v, -1.0], [v, 2.5]]);
    }
    for (let i = -10; i <= 25; i++) (i % 5 === 0 ? bold : fine).push([[-2.0, i * 0.1], [2.0, i * 0.1]]);
    const g = new THREE.Group();
    g.add(ribbons(fine, 0.003, basic(COLOUR.grid), 0.001), ribbons(bold, 0.006, basic(COLOUR.gridAxis), 0.001));
    return g;
  }

  /** Place the patient frame in the room: origin [x, z] on the local-floor, forward [fx, fz] (unit). */
  align(originXZ, forwardXZ) {
    this.frame.position.set(originXZ[0], 0, originXZ[1]);
    this.frame.rotation.set(0, Math.atan2(-forwardXZ[0], -forwardXZ[1]), 0);
    this.frame.updateMatrixWorld(true);
  }

  /** A patient-frame point in world (local-floor) coordinates. */
  toWorld(x, y, z = 0) {
    return P(x, y, z).applyMatrix4(this.frame.matrixWorld);
  }

  /** A new state from the server: moves the feet now (drawn on the very next frame), rebuilds targets when they change. */
  setState(s, arrivedS) {
    this.state = s;
    this.stateArrivedS = arrivedS;
    const spots = homeSpots(s);
    for (const side of ["L", "R"]) this.homes[side].position.copy(P(spots[side][0], spots[side][1], 0.002));
    for (const side of ["L", "R"]) {
      const f = s?.feet?.[side];
      const show = !!f && typeof f.x_m === "number" && typeof f.y_m === "number" && !f.hidden;
      this.feet[side].visible = show;
      if (!show) { delete this.drawnFeet[side]; this.shadows[side].visible = false; continue; }
      const z = Math.max(0, f.z_m || 0);
      this.feet[side].position.copy(P(f.x_m, f.y_m, z));
      this.shadows[side].visible = z > 0.01;
      this.shadows[side].position.copy(P(f.x_m, f.y_m, 0.0015));
      this.drawnFeet[side] = [f.x_m, f.y_m, z];
    }
    const c = s?.cursor;
    this.cursor.visible = !!c && typeof c.x_m === "number";
    if (this.cursor.visible) this.cursor.position.copy(P(c.x_m, c.y_m, 0.007));
    this._placeTargets(s);
    this.blanked = eyesClosedStand(s);
    this.world.visible = !this.blanked;
    this.room.visible = !this.blanked;
    this.scene.background.set(this.blanked ? 0x000000 : 0x2a3440);
  }

  /** The targets and their kin as pieces: each has an id, a shape key and a floor position. A piece
   * whose shape is unchanged is only moved (treadmill targets scroll on every state); a new shape
   * is built afresh and the old one disposed; a piece no longer in the state is removed. */
  _placeTargets(s) {
    const want = [];
    const add = (id, key, make, x = null, y = null, liftM = 0) => want.push({ id, key: JSON.stringify(key), make, x, y, liftM });
    if (s && s.phase !== "idle") {
      if (s.los && s.los.forward_m > 0 && s.los.backward_m > 0 && s.los.side_m > 0)
        add("los", s.los, () => ribbon(losOutline(s.los), 0.008, basic(COLOUR.los), 0.003));
      const c = s.centre;
      if (c && c.radius_m > 0)
        add("centre", c.radius_m, () => flatAt0(new THREE.RingGeometry(Math.max(0.001, c.radius_m - 0.006), c.radius_m, 48), basic(COLOUR.centre)), c.x_m, c.y_m, 0.003);
      for (const t of Array.isArray(s.targets) ? s.targets : []) {
        if (!(t.radius_m > 0)) continue;
        const tint = COLOUR.tint[t.foot] ?? COLOUR.centre;
        const make = t.state === "hit" ? () => flatAt0(new THREE.CircleGeometry(t.radius_m, 48), basic(COLOUR.hitTarget))
          : t.state === "missed" ? () => flatAt0(new THREE.RingGeometry(t.radius_m - 0.01, t.radius_m, 48), basic(tint, { transparent: true, opacity: 0.5 }))
            : () => flatAt0(new THREE.CircleGeometry(t.radius_m, 48), basic(tint));
        add(`belt:${t.index ?? want.length}`, [t.foot, t.state, t.radius_m], make, t.x_m, t.y_m, 0.004);
      }
      const t = s.target;
      if (t && t.radius_m > 0 && !t.hidden) {
        add("target", t.radius_m, () => flatAt0(new THREE.CircleGeometry(t.radius_m, 64), basic(COLOUR.target)), t.x_m, t.y_m, 0.005);
        add("rim", [t.radius_m, t.foot], () => flatAt0(new THREE.RingGeometry(Math.max(0.001, t.radius_m - 0.012), t.radius_m, 64),
          basic(t.foot ? COLOUR.tint[t.foot] : 0xffffff)), t.x_m, t.y_m, 0.0055);
        if (typeof t.centre_x_m === "number" && typeof t.centre_y_m === "number")
          add("reach", [t.centre_x_m, t.centre_y_m, t.x_m, t.y_m], () => ribbon([[t.centre_x_m, t.centre_y_m], [t.x_m, t.y_m]], REACH_LINE_WIDTH_M,
            basic(0xffffff, { transparent: true, opacity: 0.5 }), 0.0045));
      }
      if (s.touch && typeof s.touch.x_m === "number")
        add("touch", 0, () => flatAt0(new THREE.CircleGeometry(0.015, 24), basic(COLOUR.touch)), s.touch.x_m, s.touch.y_m, 0.006);
      this._placeCourse(s.stage, add);
    }
    const keep = new Set(want.map((w) => w.id));
    for (const [id, piece] of this.pieces) if (!keep.has(id)) { this._drop(piece); this.pieces.delete(id); }
    for (const w of want) {
      let piece = this.pieces.get(w.id);
      if (!piece || piece.key !== w.key) {
        if (piece) this._drop(piece);
        piece = { key: w.key, mesh: w.make() };
        this.pieces.set(w.id, piece);
        this.targets.add(piece.mesh);
      }
      if (w.x !== null) piece.mesh.position.copy(P(w.x, w.y, w.liftM));
    }
  }

  /** The standard measures' floor marks (docs/clinical-modes.md): the Four Square Step Test's four
   * squares (the one to step into next in the target's colour), Timed Up and Go's turn line and the
   * 10-metre walk's timed stretch and course end, each a line across the walkway. */
  _placeCourse(stage, add) {
    if (!stage) return;
    for (const q of Array.isArray(stage.squares) ? stage.squares : []) {
      if (!(q.size_m > 0) || typeof q.x_m !== "number" || typeof q.y_m !== "number") continue;
      const h = q.size_m / 2, next = stage.next_square === q.square, [x, y] = [q.x_m, q.y_m];
      add(`square:${q.square}`, [x, y, q.size_m, next], () => ribbon(
        [[x - h, y - h], [x + h, y - h], [x + h, y + h], [x - h, y + h], [x - h, y - h]],
        SQUARE_LINE_M, basic(next ? COLOUR.target : COLOUR.home), 0.003));
    }
    for (const key of ["turn_line_m", "timed_from_m", "timed_to_m", "course_m"]) {
      const y = stage[key];
      if (!(typeof y === "number" && y > 0)) continue;
      add(`line:${key}`, y, () => ribbon([[-WALKWAY_HALF_M, y], [WALKWAY_HALF_M, y]], FLOOR_LINE_M,
        basic(key === "turn_line_m" ? COLOUR.target : COLOUR.los), 0.003));
    }
  }

  _drop(piece) {
    this.targets.remove(piece.mesh);
    piece.mesh.geometry?.dispose();
    piece.mesh.material?.dispose();
  }

  /** A game_event: a neglect cue rings its foot until its cue_response or 5 s (clients/headset CueTracker). */
  onEvent(event, atS) {
    if (!event || !["L", "R"].includes(event.side)) return false;
    if (event.kind === "cue") {
      if (!Array.isArray(event.cues) || event.cues.includes("highlight")) this.cueUntil[event.side] = atS + CUE_HOLD_S;
      return !Array.isArray(event.cues) || event.cues.includes("sound");
    }
    if (event.kind === "cue_response") { this.cueUntil[event.side] = -Infinity; this.cueAnsweredAt[event.side] = atS; }
    return false;
  }

  /** Per frame: the cue rings follow their feet and pulse (15 % twice a second). */
  tick(nowS) {
    const s = this.state, game = s && s.phase !== "idle" && s.phase !== "finished";
    for (const side of ["L", "R"]) {
      const snapshot = s?.cueing?.active && s.cueing.side === side && this.stateArrivedS >= this.cueAnsweredAt[side];
      const on = !!game && (nowS < this.cueUntil[side] || !!snapshot) && this.feet[side].visible;
      const ring = this.cueRings[side];
      ring.visible = on;
      if (on) {
        ring.position.copy(P(this.drawnFeet[side][0], this.drawnFeet[side][1], 0.006));
        const k = 1 + 0.075 * (1 - Math.cos(4 * Math.PI * nowS));
        ring.scale.set(k, k, 1);
      }
    }
  }
}

export const eyesClosedStand = (s) => !!s && s.game === "assessment" && s.stage?.eyes === "closed" && s.phase === "stand";
