// Progress of one patient across sessions: SVG plots from `progress` (session metrics) and
// `list_sessions` (success rate), including the training modes' families (neglect cueing,
// proprioception, treadmill) and assessment metrics over time, and CSV exports of trials and
// metrics from `export`.

import { $, act, clearError, el, showError } from "../dom.js";
import { lineChart, radarChart } from "../charts.js";
import { download, exportCsv as csvOf } from "../csv.js";
import { DIRECTIONS, labelOf, sessionKind } from "../specs.js";
import { dateTimeText, footName, formatValue, isoLocal, toShown, unitOf } from "../units.js";

const RADAR_SESSIONS = 3; // the latest sessions drawn on a radar

export function progressView(ctx) {
  const error = $("#progress-error");
  const status = $("#progress-status");
  let chosen = null;
  let assessmentChart = null;

  function fillPatients() {
    const select = $("#progress-patient");
    select.replaceChildren(...ctx.patients.map((p) => el("option", { value: p.id }, p.code)));
    if (chosen && ctx.patients.some((p) => p.id === chosen)) select.value = String(chosen);
    const none = !ctx.patients.length;
    for (const id of ["#progress-load", "#export-trials", "#export-metrics"]) $(id).disabled = none;
  }

  const patient = () => ctx.patients.find((p) => p.id === Number($("#progress-patient").value));

  async function load() {
    const p = patient();
    if (!p) {
      showError(error, new Error("Choose a patient."));
      return;
    }
    chosen = p.id;
    status.textContent = `Loading ${p.code}…`;
    const [progress, sessions] = await Promise.all([
      ctx.conn.request({ type: "progress", patient_id: p.id }),
      ctx.conn.request({ type: "list_sessions", patient_id: p.id }),
    ]);
    draw(progress.metrics, sessions.sessions, p);
    status.textContent = `${p.code}: ${sessions.sessions.length} sessions, ${progress.metrics.length} stored metrics.`;
  }

  function draw(metrics, sessions, p) {
    const started = new Map(sessions.map((s) => [s.session_id, s.started_at]));
    for (const m of metrics) if (!started.has(m.session_id)) started.set(m.session_id, m.session_started_at);
    const at = (id) => new Date(started.get(id) || Date.now()).getTime();
    const when = (id) => `session #${id}, ${dateTimeText(started.get(id))}`;
    const foot = (side) => footName(side, p.affected_side);

    /** One series per nameOf(metric) from the metrics named (of these families), in shown units. */
    const series = (names, nameOf, families = null) => {
      const groups = new Map();
      for (const m of metrics) {
        if (!names.includes(m.metric) || (families && !families.includes(m.family))) continue;
        if (m.value === null || m.value === undefined) continue;
        const key = nameOf(m);
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push({ t: at(m.session_id), y: toShown(m.metric, m.value), text: formatValue(m.metric, m.value),
          label: when(m.session_id) });
      }
      return [...groups].map(([name, points]) => ({ name, points }));
    };

    // One series per game and training mode (a mirror session's rate is not a plain one's); the
    // assessment is a measurement, not training: its "success" is left out.
    const rates = new Map();
    for (const s of sessions) {
      if (s.success_rate === null || s.game === "assessment") continue;
      const kind = sessionKind(s.game, s.mode);
      if (!rates.has(kind)) rates.set(kind, []);
      rates.get(kind).push({ t: at(s.session_id), y: toShown("success_rate", s.success_rate),
        text: formatValue("success_rate", s.success_rate), label: `${when(s.session_id)}, ${kind}, ${s.trials} trials` });
    }
    const charts = [
      lineChart($("#chart-success"), {
        title: "Success rate per training session (%)", unit: "%", yMin: 0,
        series: [...rates].map(([name, points]) => ({ name, points })),
      }),
      lineChart($("#chart-steps"), {
        title: "Step length and width (cm)", unit: unitOf("step_length_m"), yMin: 0,
        series: series(["step_length_m", "step_width_m"], (m) => m.metric === "step_length_m" ? "step length" : "step width",
          ["gait"]),
      }),
      lineChart($("#chart-lift"), {
        title: "Foot lift (cm)", unit: unitOf("mean_foot_lift_m"), yMin: 0,
        series: series(["mean_foot_lift_m"], (m) => foot(m.side), ["rom"]),
      }),
      // sway is measured only in the assessment's quiet stands, never from a training game's COP
      lineChart($("#chart-sway"), {
        title: "Quiet-standing sway (assessment): mean centre-of-pressure velocity (cm/s)",
        unit: unitOf("sway_velocity_eo_m_s"), yMin: 0,
        series: series(["sway_velocity_eo_m_s", "sway_velocity_ec_m_s"],
          (m) => `eyes ${m.metric === "sway_velocity_eo_m_s" ? "open" : "closed"}`
            + (m.direction === "com_proxy" ? " (pelvis proxy)" : ""),
          ["assessment"]),
      }),
      // the training modes' own families (docs/clinical-modes.md)
      lineChart($("#chart-neglect-cues"), {
        title: "Neglect cueing: cues per session", unit: "cues", yMin: 0,
        series: series(["cue_count"], () => "cues", ["neglect"]),
      }),
      lineChart($("#chart-neglect-response"), {
        title: "Neglect cueing: mean response time to a cue (s)", unit: unitOf("cue_response_s"), yMin: 0,
        series: series(["cue_response_s"], () => "mean response time", ["neglect"]),
      }),
      lineChart($("#chart-proprioception"), {
        title: "Proprioception: position error without vision, per direction (cm)", unit: unitOf("position_error_m"),
        yMin: 0,
        series: series(["position_error_m"], (m) => [m.direction || "all directions", foot(m.side)]
          .filter(Boolean).join(", "), ["proprioception"]),
      }),
      lineChart($("#chart-treadmill-steps"), {
        title: "Treadmill: step length per side (cm)", unit: unitOf("step_length_m"), yMin: 0,
        series: series(["step_length_m"], (m) => (m.side ? foot(m.side) : "both feet"), ["treadmill"]),
      }),
    ];
    const hitRates = series(["hit_rate"], (m) => (m.side ? foot(m.side) : "both feet"), ["treadmill"]);
    charts.push(lineChart($("#chart-treadmill-hits"), {
      title: "Treadmill: hit rate (%)", unit: "%", yMin: 0,
      series: hitRates.length ? hitRates : [{ name: "hit rate", points: sessions
        .filter((x) => x.game === "treadmill" && x.success_rate !== null)
        .map((x) => ({ t: at(x.session_id), y: toShown("hit_rate", x.success_rate), text: formatValue("hit_rate", x.success_rate),
          label: `${when(x.session_id)}, ${x.trials} targets` })) }],
    }));
    assessmentChart = { metrics: metrics.filter((m) => m.family === "assessment"), series, foot };
    charts.push(drawAssessment());
    charts.push(radar($("#chart-reach"), metrics, "max_reach_pct_ll", DIRECTIONS.reaching, foot,
      "Reaching: best reach per direction (% of leg length)"));
    charts.push(radar($("#chart-step-reach"), metrics, "max_step_reach_m", DIRECTIONS.stepping, foot,
      "Stepping: best step reach per direction (cm)"));
    $("#charts-empty").hidden = charts.some(Boolean);
    renderSessions(sessions);
  }

  /** Assessment metrics over time: the chosen metric, one series per side and direction. */
  function drawAssessment() {
    if (!assessmentChart) return false;
    const { metrics: rows, series, foot } = assessmentChart;
    const select = $("#progress-assessment-metric");
    const names = [...new Set(rows.map((m) => m.metric))];
    const keep = select.value;
    select.replaceChildren(...names.map((n) => el("option", { value: n }, labelOf(n))));
    select.disabled = !names.length;
    if (names.includes(keep)) select.value = keep;
    const name = select.value;
    return lineChart($("#chart-assessment"), {
      title: `Assessment: ${labelOf(name || "")}`, unit: unitOf(name),
      series: name ? series([name], (m) => [foot(m.side), m.direction].filter(Boolean).join(", ") || labelOf(name),
        ["assessment"]) : [],
    });
  }

  /** The latest sessions' best value per direction, one polygon per (session, side), in shown units. */
  function radar(container, metrics, name, axes, foot, title) {
    const rows = metrics.filter((m) => m.metric === name && m.direction && (!m.family || m.family === "rom"));
    const ids = [...new Set(rows.map((m) => m.session_id))].slice(-RADAR_SESSIONS);
    const series = [];
    for (const id of ids) {
      for (const side of ["L", "R"]) {
        const values = {};
        for (const m of rows) if (m.session_id === id && m.side === side) values[m.direction] = toShown(name, m.value);
        if (Object.keys(values).length) series.push({ name: `#${id} ${foot(side)}`, values });
      }
    }
    return radarChart(container, { axes, series, unit: unitOf(name), title });
  }

  function renderSessions(sessions) {
    const body = $("#sessions-body");
    body.replaceChildren(...sessions.map((s) => el("tr", { dataset: { session: s.session_id, game: s.game } },
      el("th", { scope: "row" }, `#${s.session_id}`),
      el("td", {}, el("time", { datetime: isoLocal(s.started_at) }, dateTimeText(s.started_at))),
      el("td", { "data-mode": s.mode || "", "data-source": s.source },
        sessionKind(s.game, s.mode), s.source === "recording"
          ? el("span", { class: "badge badge-recording", title: "replayed from a recorded file, not a live patient" },
            "recording")
          : null),
      el("td", {}, String(s.trials)),
      el("td", {}, String(s.hits)),
      el("td", { class: "num" }, formatValue("success_rate", s.success_rate, { unit: false })),
      el("td", {}, s.ended_at ? (s.end_reason || "").replace(/_/g, " ") : "running"))));
    if (!sessions.length) body.append(el("tr", {}, el("td", { colspan: 7 }, "No sessions yet.")));
  }

  async function exportCsv(kind, button) {
    const p = patient();
    if (!p) return;
    await act(button, error, async () => {
      const reply = await ctx.conn.request({ type: "export", patient_id: p.id });
      const rows = kind === "trials" ? reply.trials : reply.metrics;
      const day = new Date().toISOString().slice(0, 10);
      download(`stridevr_${reply.patient_code || p.code}_${kind}_${day}.csv`, csvOf(kind, reply));
      status.textContent = `Exported ${rows.length} ${kind === "trials" ? "trials" : "metrics"} of ${p.code}.`;
    });
  }

  $("#progress-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act($("#progress-load"), error, load);
  });
  $("#progress-patient").addEventListener("change", () => act(null, error, load));
  $("#progress-assessment-metric").addEventListener("change", drawAssessment);
  $("#export-trials").addEventListener("click", (e) => exportCsv("trials", e.currentTarget));
  $("#export-metrics").addEventListener("click", (e) => exportCsv("metrics", e.currentTarget));
  ctx.on("patients", fillPatients);

  return {
    shown(options) {
      if (options.patientId) chosen = options.patientId;
      fillPatients();
      clearError(error);
      if (patient()) act(null, error, load);
    },
  };
}
