"""Validation of the therapist's outcome requests (scales, patient details, report, FHIR export)
into dataclasses; every error names the field, as :mod:`server.messages` does for the rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from scoring.outcomes.scales import SCALES
from server.codec import ProtocolError
from server.fields import Fields
from server.messages import COMMON, MAX_SEQ

MAX_ITEMS = 64
FIRST_YEAR = 1900


@dataclass(frozen=True, slots=True)
class ScaleEntry:
    patient_id: int
    scale: str
    items: dict[str, Any]
    assessed_at: datetime
    note: str


@dataclass(frozen=True, slots=True)
class DetailsChange:
    patient_id: int
    birth_year: int | None
    sex: str | None


@dataclass(frozen=True, slots=True)
class PeriodRequest:
    """A patient and a period: ``since`` inclusive, ``until`` exclusive (the day after ``to``)."""

    patient_id: int
    since: datetime | None
    until: datetime | None
    session_id: int | None = None


def parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ProtocolError("bad_field", f"{what} must be a date YYYY-MM-DD, got {text[:40]!r}") from None


def period(since: date | None, to: date | None) -> tuple[datetime | None, datetime | None]:
    """From the start of ``since`` to the end of ``to`` (UTC days)."""
    start = datetime.combine(since, time(), UTC) if since else None
    end = datetime.combine(to + timedelta(days=1), time(), UTC) if to else None
    if start and end and start >= end:
        raise ProtocolError("bad_field", "the period's 'from' must not be after its 'to'")
    return start, end


def parse_save_scale(f: Fields, now: datetime) -> ScaleEntry:
    f.only(COMMON + ("patient_id", "scale", "items", "assessed_at", "note"))
    patient_id = f.integer("patient_id", low=1, high=MAX_SEQ)
    scale = f.string("scale", max_len=32)
    assert patient_id is not None and scale is not None
    if scale not in SCALES:
        raise ProtocolError("bad_field", f"save_scale: no scale '{scale[:32]}' (known: {', '.join(SCALES)})")
    items = f.data.get("items")
    if not isinstance(items, dict) or not 0 < len(items) <= MAX_ITEMS or not all(isinstance(k, str) for k in items):
        raise ProtocolError("bad_field", f"save_scale: 'items' must be a table of up to {MAX_ITEMS} item answers")
    when = f.string("assessed_at", max_len=40)
    assert when is not None
    try:
        assessed = datetime.fromisoformat(when)
    except ValueError:
        raise ProtocolError("bad_field", f"save_scale: 'assessed_at' must be a date or ISO 8601 time, got "
                            f"{when[:40]!r}") from None
    if assessed.tzinfo is None:
        assessed = assessed.replace(tzinfo=UTC)
    if not FIRST_YEAR <= assessed.year or assessed > now + timedelta(days=1):
        raise ProtocolError("bad_field", "save_scale: 'assessed_at' must not be in the future")
    note = f.string("note", max_len=2000, required=False, empty=True) or ""
    return ScaleEntry(patient_id, scale, items, assessed, note)


def parse_patient_details(f: Fields, now: datetime) -> DetailsChange:
    f.only(COMMON + ("patient_id", "birth_year", "sex"))
    patient_id = f.integer("patient_id", low=1, high=MAX_SEQ)
    birth_year = f.integer("birth_year", low=FIRST_YEAR, high=now.year, required=False)
    sex = f.string("sex", max_len=1, pattern="[FM]", required=False)
    assert patient_id is not None
    return DetailsChange(patient_id, birth_year, sex)


def parse_period_request(f: Fields, with_session: bool = False) -> PeriodRequest:
    f.only(COMMON + ("patient_id", "from", "to") + (("session_id",) if with_session else ()))
    patient_id = f.integer("patient_id", low=1, high=MAX_SEQ)
    session_id = f.integer("session_id", low=1, high=MAX_SEQ, required=False) if with_session else None
    assert patient_id is not None
    since_text, to_text = f.string("from", max_len=10, required=False), f.string("to", max_len=10, required=False)
    since, until = period(parse_day(since_text, "'from'") if since_text else None,
                          parse_day(to_text, "'to'") if to_text else None)
    return PeriodRequest(patient_id, since, until, session_id)
