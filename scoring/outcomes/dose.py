"""Training dose: per session and per ISO week, the active time, trials, repetitions and adherence
to the plan.

*Active time* is the time the patient spent in trials (each trial from its target shown to its end),
not the time the session was open, so rests and pauses do not count. *Repetitions* are trials in
which the patient moved (a movement time was measured), hit or not. *Adherence* compares the trials
done with the ``trials`` the plan sets for that game; a plan does not set sessions per week, so a
week's adherence is the share of the planned trials done in the sessions of that week. Sessions
replayed from recordings and assessments are not training and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class SessionDose:
    session_id: int
    game: str
    started_at: datetime
    active_s: float
    trials: int
    repetitions: int
    planned_trials: int | None  # the plan's trials for this game (None: the plan sets none)

    @property
    def adherence(self) -> float | None:
        """Trials done ÷ trials planned (may exceed 1)."""
        return None if not self.planned_trials else self.trials / self.planned_trials


@dataclass(frozen=True, slots=True)
class WeekDose:
    week: str  # ISO week, "2026-W49"
    sessions: int
    active_s: float
    trials: int
    repetitions: int
    planned_trials: int  # the planned trials of the week's sessions that have a planned number
    planned_done: int  # trials done in those sessions

    @property
    def adherence(self) -> float | None:
        return None if not self.planned_trials else self.planned_done / self.planned_trials


def planned_trials(plan: Mapping[str, Any] | None) -> dict[str, int]:
    """{game: trials per session} from a stored plan's games (0 = until stopped: not a target)."""
    out: dict[str, int] = {}
    for game, entry in ((plan or {}).get("games") or {}).items():
        trials = ((entry or {}).get("settings") or {}).get("trials")
        if isinstance(trials, int) and not isinstance(trials, bool) and trials > 0:
            out[game] = trials
    return out


def session_doses(sessions: Iterable[Mapping[str, Any]], trials: Iterable[Mapping[str, Any]],
                  plan: Mapping[str, Any] | None) -> list[SessionDose]:
    """``sessions``: {session_id, game, started_at (ISO), source}; ``trials``: stored trials with
    session_id, shown_at_s, ended_at_s, movement_time_s."""
    per: dict[int, list[Mapping[str, Any]]] = {}
    for t in trials:
        per.setdefault(int(t["session_id"]), []).append(t)
    planned = planned_trials(plan)
    out = []
    for s in sessions:
        if s.get("source", "live") != "live" or s["game"] == "assessment":
            continue
        done = per.get(int(s["session_id"]), [])
        active = sum(max(0.0, float(t["ended_at_s"]) - float(t["shown_at_s"])) for t in done)
        reps = sum(1 for t in done if t.get("movement_time_s") is not None)
        out.append(SessionDose(int(s["session_id"]), str(s["game"]), datetime.fromisoformat(s["started_at"]),
                               active, len(done), reps, planned.get(str(s["game"]))))
    return out


def week_doses(doses: Iterable[SessionDose]) -> list[WeekDose]:
    weeks: dict[str, list[SessionDose]] = {}
    for d in doses:
        year, week, _ = d.started_at.isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", []).append(d)
    return [WeekDose(week, len(ds), sum(d.active_s for d in ds), sum(d.trials for d in ds),
                     sum(d.repetitions for d in ds), sum(d.planned_trials or 0 for d in ds),
                     sum(d.trials for d in ds if d.planned_trials))
            for week, ds in sorted(weeks.items())]
