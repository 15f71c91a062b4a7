"""Every message the server sends, one dataclass each: the server builds them, clients read them.

Shared with the Python clients as :mod:`server.wire` is (standard library only), so a message's
fields are written down once. :meth:`Outgoing.wire` gives the map that goes on the wire (its
``type``, the protocol version ``v``, the request ``id`` it answers, then its fields); :func:`read`
turns a received map back into its dataclass. A field marked :data:`SPREAD` holds fields whose names
the message does not fix (a station's status, a game's snapshot, the staircase's description) and is
spread into the map.
``docs/protocol.md`` describes each; ``tests/test_protocol_doc.py`` checks that there is a class for
every type of :data:`server.wire.OutgoingType` and that the server sends each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Final

from server.wire import PROTOCOL_VERSION, ErrorCode, OutgoingType

SPREAD: Final = {"spread": True}
_ENVELOPE: Final = frozenset({"type", "v", "id"})


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A server message. Subclasses set ``TYPE``; where two shapes share a type, ``matches`` says
    which one a received map is."""

    TYPE: ClassVar[OutgoingType]

    def wire(self, request_id: object = None) -> dict[str, Any]:
        """The map to encode: ``type``, ``v``, ``id`` (when it answers a request), then the fields."""
        out: dict[str, Any] = {"type": self.TYPE, "v": PROTOCOL_VERSION}
        if request_id is not None:
            out["id"] = request_id
        for name, spread in _layout(type(self)):
            if spread:
                out.update(getattr(self, name))
            else:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def matches(cls, data: Mapping[str, Any]) -> bool:
        return True


_LAYOUTS: dict[type[Outgoing], tuple[tuple[str, bool], ...]] = {}


def _layout(cls: type[Outgoing]) -> tuple[tuple[str, bool], ...]:
    """Each field's name and whether it is spread (cached: the state message is built on every
    input event)."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = tuple((f.name, bool(f.metadata.get("spread"))) for f in fields(cls))
    return layout


def _spread() -> Any:
    return field(metadata=SPREAD)


# -- to every role ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StationWelcome(Outgoing):
    """A device's or headset's ``hello`` accepted."""

    TYPE: ClassVar[OutgoingType] = "welcome"
    role: str
    station: str
    tick_hz: float

    @classmethod
    def matches(cls, data: Mapping[str, Any]) -> bool:
        return data.get("role") != "therapist"


@dataclass(frozen=True, slots=True)
class TherapistWelcome(Outgoing):
    """A therapist's (or admin's) login accepted: the session token to log in with again."""

    TYPE: ClassVar[OutgoingType] = "welcome"
    role: str
    therapist: dict[str, Any]  # id, username, display_name, role
    clinic_id: int
    node: str
    session_token: str
    expires_at: str
    expires_in_s: float

    @classmethod
    def matches(cls, data: Mapping[str, Any]) -> bool:
        return data.get("role") == "therapist"


@dataclass(frozen=True, slots=True)
class ErrorMessage(Outgoing):
    """A refusal: ``code`` for programs, ``message`` for people, ``details`` such as ``retry_after_s``."""

    TYPE: ClassVar[OutgoingType] = "error"
    code: ErrorCode
    message: str
    details: Mapping[str, Any] = field(default_factory=dict, metadata=SPREAD)


@dataclass(frozen=True, slots=True)
class Pong(Outgoing):
    TYPE: ClassVar[OutgoingType] = "pong"


# -- to a station's devices and headsets -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ok(Outgoing):
    """A device's setup or a headset's request done; ``result``: what the setup established."""

    TYPE: ClassVar[OutgoingType] = "ok"
    result: Mapping[str, Any] = field(default_factory=dict, metadata=SPREAD)


@dataclass(frozen=True, slots=True)
class Paired(Outgoing):
    """A right pairing code (``server/pairing.py``): the credentials the pairing issued, shown once;
    ``device_token`` only when the headset is also the station's tracker (else null)."""

    TYPE: ClassVar[OutgoingType] = "paired"
    station: str
    pairing_id: int
    headset_token: str
    device_token: str | None = None


@dataclass(frozen=True, slots=True)
class Align(Outgoing):
    """The therapist pressed *align*: a headset re-aligns its view of the patient frame."""

    TYPE: ClassVar[OutgoingType] = "align"


@dataclass(frozen=True, slots=True)
class DeviceStatus(Outgoing):
    TYPE: ClassVar[OutgoingType] = "device_status"
    station: str
    kind: str
    message: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IdleState(Outgoing):
    """No game on the station."""

    TYPE: ClassVar[OutgoingType] = "state"
    station: str
    phase: str = "idle"

    @classmethod
    def matches(cls, data: Mapping[str, Any]) -> bool:
        return data.get("phase") == "idle"


@dataclass(frozen=True, slots=True)
class GameState(Outgoing):
    """The running game as a headset draws it; ``snapshot``: the game's own fields (phase, feet, target...)."""

    TYPE: ClassVar[OutgoingType] = "state"
    station: str
    session_id: int
    config_revision: int
    paused_by: list[str]
    snapshot: Mapping[str, Any] = _spread()

    def wire(self, request_id: object = None) -> dict[str, Any]:
        """:meth:`Outgoing.wire` written out: a state is built on every input event."""
        if request_id is not None:
            return Outgoing.wire(self, request_id)
        return {"type": "state", "v": PROTOCOL_VERSION, "station": self.station, "session_id": self.session_id,
                "config_revision": self.config_revision, "paused_by": self.paused_by, **self.snapshot}


@dataclass(frozen=True, slots=True)
class GameEvent(Outgoing):
    TYPE: ClassVar[OutgoingType] = "game_event"
    station: str
    session_id: int
    event: dict[str, Any]


# -- replies to therapists -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stations(Outgoing):
    TYPE: ClassVar[OutgoingType] = "stations"
    stations: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Patients(Outgoing):
    TYPE: ClassVar[OutgoingType] = "patients"
    patients: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PatientMessage(Outgoing):
    TYPE: ClassVar[OutgoingType] = "patient"
    patient: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sessions(Outgoing):
    TYPE: ClassVar[OutgoingType] = "sessions"
    patient_id: int
    sessions: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Export(Outgoing):
    TYPE: ClassVar[OutgoingType] = "export"
    patient_id: int
    patient_code: str
    affected_side: str
    trials: list[dict[str, Any]]
    metrics: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PatientExport(Outgoing):
    """Everything stored about a patient; ``tables``: the export's own fields (table by table)."""

    TYPE: ClassVar[OutgoingType] = "patient_export"
    patient_id: int
    tables: Mapping[str, Any] = _spread()


@dataclass(frozen=True, slots=True)
class Progress(Outgoing):
    TYPE: ClassVar[OutgoingType] = "progress"
    patient_id: int
    metrics: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AssessmentReport(Outgoing):
    TYPE: ClassVar[OutgoingType] = "assessment_report"
    patient_id: int
    baseline_session_id: int | None
    session_id: int | None
    rows: list[dict[str, Any]]
    history: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PlanSuggestion(Outgoing):
    TYPE: ClassVar[OutgoingType] = "plan_suggestion"
    patient_id: int
    plan: dict[str, Any]
    basis: dict[str, list[str]]
    from_session_id: int | None


@dataclass(frozen=True, slots=True)
class PlanMessage(Outgoing):
    TYPE: ClassVar[OutgoingType] = "plan"
    patient_id: int
    plan: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class GameStarted(Outgoing):
    TYPE: ClassVar[OutgoingType] = "game_started"
    station: str
    session_id: int
    game: str
    source: str
    settings: dict[str, Any]
    difficulty: dict[str, Any]
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GameStopped(Outgoing):
    TYPE: ClassVar[OutgoingType] = "game_stopped"
    station: str
    session_id: int
    reason: str
    trials: int
    hits: int


@dataclass(frozen=True, slots=True)
class StationStatus(Outgoing):
    """A station's status (``station``, ``state``, devices, headsets, the session it runs...)."""

    TYPE: ClassVar[OutgoingType] = "station"
    status: Mapping[str, Any] = _spread()


@dataclass(frozen=True, slots=True)
class Difficulty(Outgoing):
    """A ``set_difficulty`` done; ``staircase``: the staircase's description (level, values, bounds...)."""

    TYPE: ClassVar[OutgoingType] = "difficulty"
    station: str
    session_id: int
    revision: int
    settings: dict[str, Any]
    staircase: Mapping[str, Any] = _spread()


@dataclass(frozen=True, slots=True)
class PairingCode(Outgoing):
    """A code a headset can pair with for ``expires_in_s``, once."""

    TYPE: ClassVar[OutgoingType] = "pairing_code"
    station: str
    code: str
    expires_in_s: float
    tracker: bool
    pairing_id: int


@dataclass(frozen=True, slots=True)
class Pairings(Outgoing):
    """A station's paired headsets (``record_fields.pairing_fields`` each)."""

    TYPE: ClassVar[OutgoingType] = "pairings"
    station: str
    pairings: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class LoggedOut(Outgoing):
    TYPE: ClassVar[OutgoingType] = "logged_out"


# -- events to watching therapists -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config(Outgoing):
    """The running game's whole configuration, revision-numbered (``docs/protocol.md``)."""

    TYPE: ClassVar[OutgoingType] = "config"
    station: str
    revision: int
    changed_by: str
    session_id: int
    game: str
    patient: dict[str, Any]
    settings: dict[str, Any]
    difficulty: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Trial(Outgoing):
    TYPE: ClassVar[OutgoingType] = "trial"
    station: str
    session_id: int
    trial_id: int
    trial: dict[str, Any]
    rom: list[dict[str, Any]]
    difficulty: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SessionMetrics(Outgoing):
    TYPE: ClassVar[OutgoingType] = "session_metrics"
    station: str
    session_id: int
    metrics: dict[str, list[dict[str, Any]]]  # by family


# -- replies to admins -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accounts(Outgoing):
    TYPE: ClassVar[OutgoingType] = "accounts"
    accounts: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Account(Outgoing):
    """An account made or changed; ``one_time_password``: the password the server chose (null
    where it chose none)."""

    TYPE: ClassVar[OutgoingType] = "account"
    account: dict[str, Any]
    one_time_password: str | None = None


@dataclass(frozen=True, slots=True)
class StationCredentials(Outgoing):
    TYPE: ClassVar[OutgoingType] = "station_credentials"
    stations: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class StationCreated(Outgoing):
    TYPE: ClassVar[OutgoingType] = "station_created"
    station: str
    tokens: dict[str, str]  # by role, shown once


@dataclass(frozen=True, slots=True)
class StationToken(Outgoing):
    TYPE: ClassVar[OutgoingType] = "station_token"
    station: str
    role: str
    token: str


@dataclass(frozen=True, slots=True)
class StationTokenRevoked(Outgoing):
    TYPE: ClassVar[OutgoingType] = "station_token_revoked"
    station: str
    role: str
    had_token: bool


@dataclass(frozen=True, slots=True)
class AuditEntries(Outgoing):
    TYPE: ClassVar[OutgoingType] = "audit_entries"
    entries: list[dict[str, Any]]
    next_before_id: int | None

# -- replies to outcome-measure requests (server/outcome_commands.py) ------------------------------


@dataclass(frozen=True, slots=True)
class OutcomeCatalogue(Outgoing):
    """The therapist-entered scales (items, ranges, rules) and every standard measure."""

    TYPE: ClassVar[OutgoingType] = "outcome_catalogue"
    scales: list[dict[str, Any]]
    measures: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ScaleResult(Outgoing):
    TYPE: ClassVar[OutgoingType] = "scale_result"
    patient_id: int
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScaleResults(Outgoing):
    """A patient's scale results, details, measures (baseline against latest) and weekly dose."""

    TYPE: ClassVar[OutgoingType] = "scale_results"
    patient_id: int
    results: list[dict[str, Any]]
    measures: list[dict[str, Any]]
    dose: list[dict[str, Any]]
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PatientDetails(Outgoing):
    TYPE: ClassVar[OutgoingType] = "patient_details"
    details: Mapping[str, Any] = _spread()


@dataclass(frozen=True, slots=True)
class ProgressReport(Outgoing):
    """The PDF progress report, base64 (a JSON connection carries no bytes)."""

    TYPE: ClassVar[OutgoingType] = "progress_report"
    patient_id: int
    filename: str
    pdf_base64: str


@dataclass(frozen=True, slots=True)
class FhirBundle(Outgoing):
    TYPE: ClassVar[OutgoingType] = "fhir_bundle"
    patient_id: int
    session_id: int | None
    filename: str
    bundle: dict[str, Any]



# -- reading -----------------------------------------------------------------------------------------


def _classes() -> dict[str, tuple[type[Outgoing], ...]]:
    by_type: dict[str, list[type[Outgoing]]] = {}
    for cls in (StationWelcome, TherapistWelcome, ErrorMessage, Pong, Ok, Paired, Align, DeviceStatus, IdleState,
                GameState, PairingCode, Pairings,
                GameEvent, Stations, Patients, PatientMessage, Sessions, Export, PatientExport, Progress,
                AssessmentReport, PlanSuggestion, PlanMessage, GameStarted, GameStopped, StationStatus,
                Difficulty, LoggedOut, Config, Trial, SessionMetrics, Accounts, Account, StationCredentials,
                StationCreated, StationToken, StationTokenRevoked, AuditEntries, OutcomeCatalogue, ScaleResult,
                ScaleResults, PatientDetails, ProgressReport, FhirBundle):
        by_type.setdefault(cls.TYPE, []).append(cls)
    return {t: tuple(classes) for t, classes in by_type.items()}


MESSAGES: Final[Mapping[str, tuple[type[Outgoing], ...]]] = _classes()


class UnknownMessage(ValueError):
    """A map that is no message of this protocol version (a newer server, or not the server)."""




def read(data: Mapping[str, Any]) -> Outgoing:
    """A received message as its dataclass (fields it does not know are ignored; a spread field
    takes every field not named by the others)."""
    candidates = MESSAGES.get(str(data.get("type")), ())
    cls = next((c for c in candidates if c.matches(data)), None)
    if cls is None:
        raise UnknownMessage(f"not a server message: type {data.get('type')!r}")
    values: dict[str, Any] = {}
    named = {name for name, spread in _layout(cls) if not spread}
    for f in fields(cls):
        if f.metadata.get("spread"):
            values[f.name] = {k: v for k, v in data.items() if k not in named and k not in _ENVELOPE}
        elif f.name in data:
            values[f.name] = data[f.name]
        elif f.default is MISSING and f.default_factory is MISSING:
            raise UnknownMessage(f"{cls.TYPE} message without its {f.name!r} field")
    return cls(**values)
