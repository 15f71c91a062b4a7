"""Session metrics of neglect cueing (family ``neglect``): how often the affected foot had to be
cued, how fast it answered, and where the cues left the affected-side share of targets.

The cues and responses come from the game's events (see docs/clinical-modes.md, "Game events"),
which are what the headset acted on; the trials say which foot each target was for.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from games.base import TrialResult
from games.events import Side
from scoring.metric import MetricValue

FAMILY = "neglect"


def neglect_metrics(
    results: Sequence[TrialResult], events: Sequence[Mapping[str, Any]], affected_side: str | Side
) -> list[MetricValue]:
    """``cue_count`` (always, 0 included: no cue needed is a result), ``cue_response_s`` (mean with
    sd and n, when any cue was answered), ``affected_side_share_final`` (after the last cue, when
    there was one) and ``affected_target_share`` (share of the trials that were for the affected
    foot, when there were trials)."""
    side = Side(affected_side)
    cues = [e for e in events if e.get("kind") == "cue"]
    responses = [float(e["response_time_s"]) for e in events if e.get("kind") == "cue_response"]
    out = [MetricValue(FAMILY, "cue_count", float(len(cues)), side.value, n=len(cues))]
    if responses:
        sd = statistics.stdev(responses) if len(responses) > 1 else None
        out.append(MetricValue(FAMILY, "cue_response_s", statistics.fmean(responses), side.value,
                               sd=sd, n=len(responses)))
    if cues and cues[-1].get("affected_side_share") is not None:
        out.append(MetricValue(FAMILY, "affected_side_share_final", float(cues[-1]["affected_side_share"]),
                               side.value))
    if results:
        affected = sum(1 for r in results if r.foot == side)
        out.append(MetricValue(FAMILY, "affected_target_share", affected / len(results), side.value,
                               n=len(results)))
    return out
