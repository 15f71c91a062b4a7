// Small SVG charts of a patient's progress: a line chart over time (sessions at their date) and a
// radar chart of reach per direction. Plain SVG elements; each data point is a <circle class="point">
// with a <title>. Values come already in the unit shown (units.js). A chart with no data hides its
// <figure> (no axes around nothing).

const NS = "http://www.w3.org/2000/svg";
export const SERIES_COLOURS = ["#2563eb", "#d97706", "#16a34a", "#7c3aed", "#dc2626", "#0891b2"];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function frame(width, height, label) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart-svg" });
  root.append(svg("title", {}, label));
  return root;
}

/** No data: nothing drawn, and the chart's figure (when it has one) hidden. */
function empty(container, text) {
  const p = document.createElement("p");
  p.className = "muted empty";
  p.textContent = text;
  container.replaceChildren(p);
  container.dataset.empty = "true";
  const figure = container.closest("figure");
  if (figure) figure.hidden = true;
}

function shown(container) {
  container.dataset.empty = "false";
  const figure = container.closest("figure");
  if (figure) figure.hidden = false;
}

const DAY_MS = 86_400_000;
const TIME_STEPS_MS = [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000,
  DAY_MS, 2 * DAY_MS, 7 * DAY_MS, 14 * DAY_MS, 30 * DAY_MS, 61 * DAY_MS, 91 * DAY_MS, 182 * DAY_MS, 365 * DAY_MS];

/** Ticks on a time axis (ms): whole minutes, hours or days (local midnight), at most `count`. */
function timeTicks(low, high, count = 5) {
  const step = TIME_STEPS_MS.find((s) => (high - low) / s <= count) || TIME_STEPS_MS.at(-1);
  const out = [];
  const first = new Date(low);
  if (step >= DAY_MS) first.setHours(0, 0, 0, 0);
  else first.setTime(Math.floor(low / step) * step);
  for (let t = first.getTime(); t <= high; ) {
    if (t >= low) out.push(t);
    if (step >= DAY_MS) {
      const d = new Date(t);
      d.setDate(d.getDate() + Math.round(step / DAY_MS)); // calendar days: a DST change keeps midnight
      t = d.getTime();
    } else t += step;
  }
  return { ticks: out, step };
}

const DAY = { month: "short", day: "numeric" };
const CLOCK = { hour: "2-digit", minute: "2-digit" };

/** Ticks at round numbers covering [low, high]. */
function ticks(low, high, count = 4) {
  const span = high - low || Math.abs(high) || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const first = Math.floor(low / step) * step;
  const out = [];
  for (let v = first; v < high + step - 1e-9 * step; v += step) out.push(Math.round(v / step) * step);
  return out;
}

const label = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1)
  : Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(2) : v.toPrecision(2));
/** A tick's text: enough digits to tell neighbouring ticks apart (steps of 0.002 m/s, say). */
function tickLabel(v, step) {
  if (!(step > 0)) return label(v);
  let digits = 0;
  while (digits < 6 && Math.abs(Math.round(step * 10 ** digits) - step * 10 ** digits) > 1e-6 * 10 ** digits) digits += 1;
  return v.toFixed(digits);
}

/**
 * A line chart of values over time: x = when (each point at its session's time), y = value.
 * series: [{name, points: [{t: ms since the epoch, y: value, text: "12.3 cm", label: "Jan 5, 2026"}]}];
 * `small` draws a thumbnail-sized chart (trend grids). The x axis is dated: days (or, within two
 * days, times of day), with the year(s) or the day in its title.
 */
export function lineChart(container, { series, unit, title, yMin, small = false }) {
  const points = series.flatMap((s) => s.points);
  if (!points.length) {
    empty(container, "No data yet.");
    return false;
  }
  shown(container);
  const W = small ? 300 : 420;
  const H = small ? 180 : 240;
  const M = { left: 56, right: 18, top: 14, bottom: 48 };
  const ys = points.map((p) => p.y);
  let lo = yMin !== undefined ? Math.min(yMin, ...ys) : Math.min(...ys);
  let hi = Math.max(...ys);
  if (hi - lo < 1e-9) {
    lo -= Math.abs(lo) * 0.1 || 1;
    hi += Math.abs(hi) * 0.1 || 1;
  }
  const yTicks = ticks(lo, hi);
  lo = Math.min(lo, yTicks[0]);
  hi = Math.max(hi, yTicks[yTicks.length - 1]);
  const ts = points.map((p) => p.t);
  let t0 = Math.min(...ts);
  let t1 = Math.max(...ts);
  const single = t1 === t0; // one session: one dated tick under it
  const pad = single ? DAY_MS / 2 : Math.max((t1 - t0) * 0.04, 60_000); // points off the chart's edges
  t0 -= pad;
  t1 += pad;
  const X = (t) => M.left + ((W - M.left - M.right) * (t - t0)) / (t1 - t0);
  const Y = (v) => H - M.bottom - ((H - M.top - M.bottom) * (v - lo)) / (hi - lo);
  const root = frame(W, H, title);
  const axes = svg("g", { class: "axes" });
  const tickStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 0;
  for (const t of yTicks) {
    axes.append(svg("line", { x1: M.left, x2: W - M.right, y1: Y(t), y2: Y(t), class: "gridline" }));
    axes.append(svg("text", { x: M.left - 6, y: Y(t) + 4, class: "tick", "text-anchor": "end" }, tickLabel(t, tickStep)));
  }
  axes.append(svg("text", { x: 10, y: M.top + (H - M.top - M.bottom) / 2, class: "axis-label", "text-anchor": "middle",
    transform: `rotate(-90 10 ${M.top + (H - M.top - M.bottom) / 2})` }, unit));
  const { ticks: found, step } = single ? { ticks: [ts[0]], step: DAY_MS } : timeTicks(t0, t1, small ? 3 : 5);
  const byDay = step >= DAY_MS;
  const xTicks = found.filter((t) => X(t) >= M.left + 24 && X(t) <= W - 34); // no label cut at an edge
  for (const t of xTicks) {
    const text = new Date(t).toLocaleString(undefined, byDay ? DAY : CLOCK);
    axes.append(svg("text", { x: X(t), y: H - M.bottom + 16, class: "tick", "text-anchor": "middle", "data-t": t }, text));
  }
  const years = [...new Set([t0, t1].map((t) => new Date(t).getFullYear()))].join("–");
  const xTitle = byDay ? `date (${years})` : `time, ${new Date(t1).toLocaleDateString(undefined, { ...DAY, year: "numeric" })}`;
  axes.append(svg("text", { x: (M.left + W - M.right) / 2, y: H - 8, class: "axis-label", "text-anchor": "middle" }, xTitle));
  root.append(axes);
  series.forEach((s, k) => {
    const colour = SERIES_COLOURS[k % SERIES_COLOURS.length];
    const group = svg("g", { class: "series", "data-series": s.name });
    const sorted = [...s.points].sort((a, b) => a.t - b.t);
    if (sorted.length > 1) {
      group.append(svg("polyline", { points: sorted.map((p) => `${X(p.t)},${Y(p.y)}`).join(" "), fill: "none",
        stroke: colour, "stroke-width": 2 }));
    }
    for (const p of sorted) {
      group.append(svg("circle", { cx: X(p.t), cy: Y(p.y), r: 4.5, fill: colour, class: "point", "data-value": p.y,
        "data-t": p.t }, svg("title", {}, `${s.name}: ${p.text ?? `${label(p.y)} ${unit}`} (${p.label})`)));
    }
    root.append(group);
  });
  // a thumbnail with one series is named by its caption: no legend
  container.replaceChildren(...(small && series.length === 1 ? [root] : [root, legend(series.map((s) => s.name))]));
  return true;
}

/**
 * A radar chart: one axis per direction (clockwise from the top), one polygon per series.
 * series: [{name, values: {direction: value}}]
 */
export function radarChart(container, { axes, series, unit, title }) {
  const values = series.flatMap((s) => Object.values(s.values));
  if (!values.length) {
    empty(container, "No data yet.");
    return false;
  }
  shown(container);
  const W = 440;
  const H = 340;
  const cx = W / 2;
  const cy = H / 2 + 2;
  const R = 112;
  const max = ticks(0, Math.max(...values), 4).at(-1) || 1;
  const at = (i, v) => {
    const a = (2 * Math.PI * i) / axes.length - Math.PI / 2;
    return [cx + (R * v * Math.cos(a)) / max, cy + (R * v * Math.sin(a)) / max];
  };
  const root = frame(W, H, title);
  const grid = svg("g", { class: "axes" });
  for (const t of ticks(0, max, 4).filter((t) => t > 0)) {
    grid.append(svg("polygon", { points: axes.map((_, i) => at(i, t).join(",")).join(" "), class: "gridline", fill: "none" }));
    grid.append(svg("text", { x: cx + 4, y: at(0, t)[1] + 11, class: "tick" }, `${label(t)}`));
  }
  axes.forEach((name, i) => {
    const [x, y] = at(i, max);
    grid.append(svg("line", { x1: cx, y1: cy, x2: x, y2: y, class: "gridline" }));
    const [lx, ly] = at(i, max * 1.2);
    grid.append(svg("text", { x: lx, y: ly + 4, class: "tick", "text-anchor": lx < cx - 5 ? "end" : lx > cx + 5 ? "start" : "middle" }, name));
  });
  grid.append(svg("text", { x: 8, y: H - 8, class: "axis-label" }, unit));
  root.append(grid);
  series.forEach((s, k) => {
    const colour = SERIES_COLOURS[k % SERIES_COLOURS.length];
    const group = svg("g", { class: "series", "data-series": s.name });
    const present = axes.map((d, i) => [i, s.values[d]]).filter(([, v]) => v !== undefined);
    if (present.length >= 3) {
      group.append(svg("polygon", { points: present.map(([i, v]) => at(i, v).join(",")).join(" "), fill: colour,
        "fill-opacity": 0.15, stroke: colour, "stroke-width": 2 }));
    } else if (present.length === 2) {
      group.append(svg("polyline", { points: present.map(([i, v]) => at(i, v).join(",")).join(" "), fill: "none",
        stroke: colour, "stroke-width": 2 }));
    }
    for (const [i, v] of present) {
      const [x, y] = at(i, v);
      group.append(svg("circle", { cx: x, cy: y, r: 4.5, fill: colour, class: "point", "data-value": v },
        svg("title", {}, `${s.name}, ${axes[i]}: ${label(v)} ${unit}`)));
    }
    root.append(group);
  });
  container.replaceChildren(root, legend(series.map((s) => s.name)));
  return true;
}

function legend(names) {
  const list = document.createElement("ul");
  list.className = "legend";
  names.forEach((name, k) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch swatch-${k % SERIES_COLOURS.length}`;
    item.append(swatch, name);
    list.append(item);
  });
  return list;
}
