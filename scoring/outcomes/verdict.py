"""Baseline against latest for one measure, judged by its published MDC and MCID: whether a change
is beyond what measurement error explains (MDC), and whether it is large enough to matter to
patients (MCID). With neither published, the change is reported without a verdict."""

from __future__ import annotations

from dataclasses import dataclass

from scoring.outcomes.measures import Measure, Norm


@dataclass(frozen=True, slots=True)
class Comparison:
    """``verdict`` is a short code (``improved_mcid``, ``improved_mdc``, ``within_mdc``,
    ``below_mcid``, ``worse_mdc``, ``worse_mcid``, ``no_change``, ``no_threshold``,
    ``single``); ``text`` says it in words, naming the threshold used."""

    measure: str
    baseline: float
    latest: float
    change: float
    verdict: str
    text: str
    norm: Norm | None


def compare(measure: Measure, baseline: float, latest: float, norm: Norm | None = None,
            single: bool = False) -> Comparison:
    """``single``: only one value exists (baseline is latest), so there is nothing to judge."""
    change = latest - baseline
    verdict, text = ("single", "one result only") if single else _judge(measure, baseline, change)
    return Comparison(measure.id, baseline, latest, change, verdict, text, norm)


def _judge(m: Measure, baseline: float, change: float) -> tuple[str, str]:
    mdc, mcid, unit = m.mdc.value, m.mcid.value, m.unit
    if change == 0:
        return "no_change", "no change"
    if m.better is None and m.ideal is None:
        return "no_threshold", "changed (no better direction)"
    gain: float
    if m.better is None and m.ideal is not None:  # nearer the ideal is better
        gain = abs(baseline - m.ideal) - abs(baseline + change - m.ideal)
        if gain == 0:
            return "no_threshold", f"as far from {m.ideal:g} {m.unit}"
    else:
        gain = change if m.better == "higher" else -change
    word = "improved" if gain > 0 else "worse"
    if mcid is not None and abs(gain) >= mcid:
        return f"{word}_mcid", f"{word}: reaches the MCID ({mcid:g} {unit})"
    if mdc is not None and abs(gain) >= mdc:
        return f"{word}_mdc", f"{word}: beyond the MDC ({mdc:g} {unit})"
    if mdc is not None:
        return "within_mdc", f"within the MDC ({mdc:g} {unit}): not a real change"
    if mcid is not None:
        return "below_mcid", f"below the MCID ({mcid:g} {unit}); no published MDC"
    return "no_threshold", f"{word}; no published MDC or MCID"
