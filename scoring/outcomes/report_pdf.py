"""A patient's progress report as a PDF: matplotlib draws the trend charts (Agg canvas, no display),
reportlab lays out the pages; nothing is fetched from the network (fonts come with matplotlib).

The content is :class:`scoring.outcomes.progress.ProgressReport`; this module only lays it out, in
clinical units with one rounding per measure.
"""

from __future__ import annotations

import io
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from scoring.outcomes.measures import Measure
from scoring.outcomes.progress import MeasureRow, ProgressReport
from scoring.outcomes.units import label, shown

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
_SIDE = {"L": "left", "R": "right", "": "both"}


def _fonts() -> None:
    """DejaVu Sans from matplotlib's own files: it has °, ², ±, − and × that the PDF base fonts lack."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=9, leading=11.5)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=BOLD, fontSize=16, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=BOLD, fontSize=11.5, spaceBefore=10,
                             spaceAfter=4),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=9, textColor=colors.HexColor("#444444")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=9.5),
    }


def _value(measure: Measure, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{measure.digits}f}" if signed else f"{value:.{measure.digits}f}"


def _table(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [("FONT", (0, 0), (-1, -1), FONT, 8), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                                    ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                                    ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    if header:
        style += [("FONT", (0, 0), (-1, 0), BOLD, 8), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4"))]
    table.setStyle(TableStyle(style))
    return table


_VERDICT_COLOUR = {"improved": "#1b7a2f", "worse": "#b3261e"}


def _verdict(row: MeasureRow, st: ParagraphStyle) -> Paragraph:
    c = row.comparison
    colour = _VERDICT_COLOUR.get(c.verdict.split("_")[0], "#333333")
    return Paragraph(f'<font color="{colour}">{c.text}</font>', st)


def _chart(row: MeasureRow) -> Image:
    m = row.measure
    # A Figure of its own, not pyplot: no global state, so two reports may be drawn at once.
    fig = Figure(figsize=(3.3, 1.9), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    days = [p.at.timestamp() / 86_400 for p in row.points]  # days since 1970: matplotlib plots floats
    ys = [p.value for p in row.points]
    ax.plot(days, ys, marker="o", color="#1f5f99", linewidth=1.4, markersize=3.5)
    norm = row.comparison.norm
    if norm is not None:
        ax.axhline(norm.value, color="#888888", linestyle="--", linewidth=0.8, label="norm")
    ax.set_title(textwrap.fill(f"{m.name} ({m.unit})", 60), fontsize=6.5)
    ax.tick_params(labelsize=6)
    ticks = sorted({round(d) for d in days})
    ticks = ticks[:: max(1, -(-len(ticks) // 5))]  # at most 5 dated ticks
    ax.set_xticks(ticks, [datetime.fromtimestamp(t * 86_400, UTC).strftime("%d %b") for t in ticks])
    if m.low is not None and m.high is not None and m.unit in ("points", "category", "grade", "stars", "/8"):
        ax.set_ylim(m.low, m.high * 1.05)
    if max(days) - min(days) < 6:  # one day's values: a week's width, so the points do not sit on the frame
        middle = (max(days) + min(days)) / 2
        ax.set_xlim(middle - 3.5, middle + 3.5)
    ax.grid(True, linewidth=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    return Image(buffer, width=8.4 * cm, height=4.85 * cm)


def render(report: ProgressReport) -> bytes:
    """The report as PDF bytes."""
    _fonts()
    st = _styles()
    p = report.patient
    story: list[Flowable] = [Paragraph("StrideVR progress report", st["title"])]
    to_text = report.until.isoformat() if report.until else "today"
    period = f"{report.since.isoformat() if report.since else 'first session'} to {to_text}"
    who = [["Patient code", p["code"], "Clinic", report.clinic],
           ["Affected side", _SIDE.get(p["affected_side"], p["affected_side"]), "Period", period],
           ["Leg length", f"{100 * p['leg_length_m']:.1f} cm", "Age",
            f"{report.age} y (born {p['birth_year']})" if report.age is not None else "not recorded"],
           ["Sex", {"F": "female", "M": "male"}.get(p.get("sex") or "", "not recorded"), "Generated",
            report.generated_at.strftime("%Y-%m-%d %H:%M UTC")]]
    story.append(_table(who, [3 * cm, 5 * cm, 2.6 * cm, 6.6 * cm], header=False))

    story.append(Paragraph("Standard measures: baseline against latest", st["h2"]))
    if report.measures:
        rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", st["cell"]) for h in
                                  ("Measure", "Baseline", "Latest", "Change", "MDC / MCID", "Verdict", "Norm")]]
        for r in report.measures:
            m, c = r.measure, r.comparison
            thresholds = " / ".join("–" if ref.value is None else f"{ref.value:g}" for ref in (m.mdc, m.mcid))
            norm = (f"{c.norm.value:g} ({c.norm.age_low}-{c.norm.age_high} y"
                    f"{', ' + {'F': 'women', 'M': 'men'}[c.norm.sex] if c.norm.sex else ''})") if c.norm else "–"
            rows.append([Paragraph(f"{m.name} ({m.unit})", st["cell"]),
                         Paragraph(f"{_value(m, c.baseline)}<br/>{r.baseline_at.date().isoformat()}", st["cell"]),
                         Paragraph(f"{_value(m, c.latest)}<br/>{r.latest_at.date().isoformat()}", st["cell"]),
                         "–" if c.verdict == "single" else _value(m, c.change, signed=True), thresholds,
                         _verdict(r, st["cell"]),
                         Paragraph(norm, st["cell"])])
        story.append(_table(rows, [3.6 * cm, 2.3 * cm, 2.3 * cm, 1.6 * cm, 1.8 * cm, 3.0 * cm, 2.6 * cm]))
        story.append(Paragraph(
            "MDC: minimal detectable change; MCID: minimal clinically important difference; – : no published value "
            "for stroke recorded (the change is then shown without a verdict). Sources are listed at the end.",
            st["small"]))
    else:
        story.append(Paragraph("No standard measure recorded up to the end of the period.", st["body"]))

    if report.measures:
        charts = [_chart(r) for r in report.measures]
        grid = [charts[i:i + 2] + [""] * (2 - len(charts[i:i + 2])) for i in range(0, len(charts), 2)]
        rows_of_charts = [Table([row], colWidths=[8.7 * cm, 8.7 * cm], hAlign="LEFT") for row in grid]
        # the heading stays with the first row of charts
        story.append(KeepTogether([Paragraph("Trends by date", st["h2"]), rows_of_charts[0]]))
        story += rows_of_charts[1:]

    if report.assessment_rows:
        first, last = (d[:10] if d else "–" for d in report.assessment_dates)
        story.append(Paragraph(f"StrideVR assessment metrics: {first} against {last}", st["h2"]))
        rows = [[Paragraph(f"<b>{h}</b>", st["cell"]) for h in
                 ("Metric", "Side", "Direction", "Baseline", "Latest", "Change", "Worth noting", "Verdict")]]
        for a in report.assessment_rows:
            how = shown(a["metric"])
            name = label(a["metric"])
            rows.append([Paragraph(f"{name} ({how.unit})" if how.unit else name, st["cell"]), _SIDE[a["side"] or ""],
                         a["direction"] or "–", how.text(a["baseline"]), how.text(a["value"]),
                         how.text(a["change"], signed=True), how.text(a["smallest_change"]), a["verdict"]])
        story.append(_table(rows, [3.7 * cm, 1.2 * cm, 1.9 * cm, 1.8 * cm, 1.5 * cm, 1.7 * cm, 2.0 * cm, 3.4 * cm]))
        story.append(Paragraph("Smallest changes worth noting for these metrics are StrideVR's conservative "
                               "defaults or the clinic's own values, not published MDCs.", st["small"]))

    dose_title = Paragraph("Training dose", st["h2"])
    if report.weeks:
        rows = [["Week", "Sessions", "Active time (min)", "Trials", "Repetitions", "Adherence to plan"]]
        for w in report.weeks:
            rows.append([w.week, str(w.sessions), f"{w.active_s / 60:.1f}", str(w.trials), str(w.repetitions),
                         "–" if w.adherence is None else f"{100 * w.adherence:.0f} %"])
        story.append(KeepTogether([dose_title, _table(rows, [2.6 * cm, 2 * cm, 3 * cm, 2 * cm, 2.4 * cm, 3.2 * cm])]))
        story.append(Spacer(1, 4))
        rows = [["Date", "Session", "Game", "Active (min)", "Trials", "Repetitions", "Planned", "Adherence"]]
        for d in report.sessions:
            rows.append([d.started_at.date().isoformat(), f"#{d.session_id}", d.game, f"{d.active_s / 60:.1f}",
                         str(d.trials), str(d.repetitions), "–" if d.planned_trials is None else str(d.planned_trials),
                         "–" if d.adherence is None else f"{100 * d.adherence:.0f} %"])
        story.append(_table(rows, [2.2 * cm, 1.6 * cm, 2.4 * cm, 2.8 * cm, 1.5 * cm, 2.2 * cm, 1.7 * cm, 2 * cm]))
        story.append(Paragraph("Active time: time in trials (target shown to trial end), rests and pauses not "
                               "counted. Repetitions: trials in which the patient moved. Adherence: trials done "
                               "÷ the plan's trials for the game.", st["small"]))
    else:
        story += [dose_title, Paragraph("No training session in this period.", st["body"])]

    story.append(Paragraph("Current plan", st["h2"]))
    plan = report.plan
    if plan and plan.get("games"):
        rows = [["Game", "Settings"]]
        for game, entry in plan["games"].items():
            settings = (entry or {}).get("settings") or {}
            text = ", ".join(f"{k.replace('_', ' ')}: {_setting(v)}" for k, v in settings.items())
            rows.append([game, Paragraph(text or "–", st["cell"])])
        story.append(Paragraph(f"Saved {plan['created_at'][:10]}.", st["body"]))
        story.append(_table(rows, [3 * cm, 14.2 * cm]))
    else:
        story.append(Paragraph("No plan saved.", st["body"]))

    story.append(Paragraph("Therapist's notes", st["h2"]))
    if report.notes:
        for whose, text in report.notes:
            story.append(Paragraph(f"<b>{_escape(whose)}</b>: {_escape(text)}", st["body"]))
    else:
        story.append(Paragraph("No notes.", st["body"]))

    if report.measures:
        sources = []
        for r in report.measures:
            m = r.measure
            parts = [f"MDC: {m.mdc.source}" if m.mdc.value is not None else "",
                     f"MCID: {m.mcid.source}" if m.mcid.value is not None else "",
                     (m.norms_source[0].upper() + m.norms_source[1:] if m.norms_source.startswith("no ")
                      else f"Norms: {m.norms_source}") if m.norms_source else ""]
            sources.append(Paragraph(f"<b>{_escape(m.name)}</b>. " + " ".join(_escape(x) for x in parts if x),
                                     st["small"]))
        story.append(KeepTogether([Paragraph("Sources", st["h2"]), *sources]))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=1.8 * cm, rightMargin=1.8 * cm, topMargin=1.6 * cm,
                            bottomMargin=1.6 * cm, title=f"StrideVR progress report {p['code']}",
                            author="StrideVR", subject=period)
    code = p["code"]

    def footer(canvas: Any, doc_: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(1.8 * cm, 1 * cm, f"StrideVR progress report, patient {code}, {period}")
        canvas.drawRightString(A4[0] - 1.8 * cm, 1 * cm, f"page {doc_.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _setting(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
