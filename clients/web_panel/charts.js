// Small SVG charts of a patient's progress: a line chart over sessions and a radar chart of reach
// per direction. Plain SVG elements; each data point is a <circle class="point"> with a <title>.

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

function empty(container, text) {
  const p = document.createElement("p");
  p.className = "muted empty";
  p.textContent = text;
  container.replaceChildren(p);
}

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
 * A line chart: x = session number (in order), y = value.
 * series: [{name, points: [{x: index, y: value, label: "S12 2026-01-05"}]}]; xLabels: labels per index;
 * xTitle names the x axis ("session"); `small` draws a thumbnail-sized chart (trend grids).
 */
export function lineChart(container, { series, xLabels, unit, title, yMin, xTitle = "session", small = false }) {
  const points = series.flatMap((s) => s.points);
  if (!points.length) {
    empty(container, "No data yet.");
    return;
  }
  const W = small ? 300 : 420;
  const H = small ? 180 : 240;
  const M = { left: 64, right: 14, top: 14, bottom: 48 }; // room for ticks like 0.0195 beside the unit
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
  const n = Math.max(1, xLabels.length - 1);
  const X = (i) => M.left + ((W - M.left - M.right) * (xLabels.length === 1 ? 0.5 : i / n));
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
  const every = Math.ceil(xLabels.length / 8);
  xLabels.forEach((text, i) => {
    if (i % every === 0) axes.append(svg("text", { x: X(i), y: H - M.bottom + 16, class: "tick", "text-anchor": "middle" }, text));
  });
  axes.append(svg("text", { x: (M.left + W - M.right) / 2, y: H - 8, class: "axis-label", "text-anchor": "middle" }, xTitle));
  root.append(axes);
  series.forEach((s, k) => {
    const colour = SERIES_COLOURS[k % SERIES_COLOURS.length];
    const group = svg("g", { class: "series", "data-series": s.name });
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    if (sorted.length > 1) {
      group.append(svg("polyline", { points: sorted.map((p) => `${X(p.x)},${Y(p.y)}`).join(" "), fill: "none",
        stroke: colour, "stroke-width": 2 }));
    }
    for (const p of sorted) {
      group.append(svg("circle", { cx: X(p.x), cy: Y(p.y), r: 4.5, fill: colour, class: "point", "data-value": p.y },
        svg("title", {}, `${s.name}: ${label(p.y)} ${unit} (${p.label})`)));
    }
    root.append(group);
  });
  // a thumbnail with one series is named by its caption: no legend
  container.replaceChildren(...(small && series.length === 1 ? [root] : [root, legend(series.map((s) => s.name))]));
}

/**
 * A radar chart: one axis per direction (clockwise from the top), one polygon per series.
 * series: [{name, values: {direction: value}}]
 */
export function radarChart(container, { axes, series, unit, title }) {
  const values = series.flatMap((s) => Object.values(s.values));
  if (!values.length) {
    empty(container, "No data yet.");
    return;
  }
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
