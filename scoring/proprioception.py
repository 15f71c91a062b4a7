"""Session metrics of proprioception training (family ``proprioception``): how far from the
target the foot lands when the patient cannot see the target or the foot, i.e. joint position
sense of the lower limb.

Only steps made without full vision count (``measures.vision != "full"``); with full vision the
eyes correct the step and the error says little about position sense. The mean absolute error
(``position_error_m``) says how precise the sense is; the mean signed errors
(``position_error_ap_m``: + = too far forward, ``position_error_ml_m``: + = too far lateral for
that foot) say whether it is biased, which a mean distance cannot show.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

from games.base import TrialResult
from scoring.metric import MetricValue

FAMILY = "proprioception"
MEASURES = ("position_error_m", "position_error_ap_m", "position_error_ml_m")


def proprioception_metrics(results: Sequence[TrialResult]) -> list[MetricValue]:
    """Per measure in :data:`MEASURES`: the mean (sd, n) per (direction, side) and per side over
    all directions (``direction=""``), over landed steps made without full vision."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in results:
        m = r.measures
        if m.get("vision", "full") == "full" or "position_error_m" not in m:
            continue
        side = r.foot.value
        for name in MEASURES:
            value = float(m[name])
            values[(name, r.direction, side)].append(value)
            values[(name, "", side)].append(value)
    return [
        MetricValue(FAMILY, name, statistics.fmean(v), side, direction,
                    sd=statistics.stdev(v) if len(v) > 1 else None, n=len(v))
        for (name, direction, side), v in sorted(values.items())
    ]
