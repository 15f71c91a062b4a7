"""Incoming messages: one dataclass per type, parsed and validated at the edge.

See ``docs/protocol.md`` for the wire format. Parsing never trusts the client: types, ranges,
finiteness and unknown fields are all checked here, before anything reaches a game or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from games.events import FootEvent, Side
from games.registry import GAME_PARAMETERS, GAMES
from games.setting_fields import check_setting
from scoring.difficulty import ParameterBounds
from server.auth import MIN_PASSWORD_LENGTH
from server.codec import ProtocolError
from server.fields import Fields
from server.storage.models import ACCOUNT_ROLES, LIVE, SESSION_SOURCES, STATION_ROLES, THERAPIST
from server.storage.store import AuditQuery
from server.wire import PROTOCOL_VERSION

MAX_POSITION_M = 5.0  # nobody steps 5 m from the calibration point on a treadmill or a mat
MAX_FORCE_N = 5000.0
MAX_DEVICE_TIME_S = 1e9
MAX_SEQ = 2**53
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
COMMON = ("type", "v", "id")
DIFFICULTY_FIELDS = ("target_success", "level", "bounds")
# a running game's live settings too, and the configuration the change was made from
SET_DIFFICULTY_FIELDS = DIFFICULTY_FIELDS + ("settings", "revision", "session_id")


@dataclass(frozen=True, slots=True)
class Envelope:
    """What every message shares: its type, protocol version and optional request id."""

    type: str
    request_id: int | str | None
    fields: Fields


def request_id_of(data: dict[str, Any]) -> int | str | None:
    """A message's request id, when it has a well-formed one (an error reply carries it back)."""
    request_id = data.get("id")
    if (isinstance(request_id, bool) or not isinstance(request_id, int | str)
            or (isinstance(request_id, str) and len(request_id) > 64)
            or (isinstance(request_id, int) and abs(request_id) > MAX_SEQ)):
        return None
    return request_id


def open_envelope(data: dict[str, Any]) -> Envelope:
    fields = Fields(data, "message")
    type_ = fields.string("type", max_len=32)
    assert type_ is not None
    fields.where = type_
    version = data.get("v")
    if version is None:
        raise ProtocolError("missing_field", f"{type_}: field 'v' (protocol version) is required")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(
            "unsupported_version", f"protocol version {version!r} is not supported; use {PROTOCOL_VERSION}"
        )
    request_id = request_id_of(data)
    if request_id is None and data.get("id") is not None:
        raise ProtocolError("bad_field", f"{type_}: 'id' must be an integer or a short string")
    return Envelope(type_, request_id, fields)


# -- authentication --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    role: str
    station: str
    token: str


@dataclass(frozen=True, slots=True)
class Login:
    """A password login, or a reconnect with the session token a password login returned."""

    username: str | None
    password: str | None
    token: str | None


def parse_hello(f: Fields) -> Hello:
    f.only(COMMON + ("role", "station", "token"))
    role = f.choice("role", STATION_ROLES)
    station = f.string("station", max_len=64, pattern=NAME_PATTERN)
    token = f.string("token", max_len=128)
    assert role and station and token
    return Hello(role, station, token)


def parse_login(f: Fields) -> Login:
    f.only(COMMON + ("username", "password", "token"))
    token = f.string("token", max_len=128, required=False)
    if token is not None:
        return Login(None, None, token)
    username = f.string("username", max_len=64)
    password = f.string("password", max_len=256)
    return Login(username, password, None)


# -- device ----------------------------------------------------------------------------------------


def parse_foot(f: Fields) -> FootEvent:
    f.only(COMMON + ("side", "pos_m", "contact", "force_n", "t_s", "seq"))
    side = f.choice("side", ("L", "R"))
    x, y, z = f.vector("pos_m", size=3, limit=MAX_POSITION_M, unit="m")
    if not -0.5 <= z <= 2.0:
        raise ProtocolError("bad_field", f"foot: height pos_m[2] must be from -0.5 to 2.0 m, got {z}")
    contact = f.boolean("contact", required=False)
    force = f.number("force_n", low=0.0, high=MAX_FORCE_N, required=False, unit="N")
    t = f.number("t_s", low=0.0, high=MAX_DEVICE_TIME_S, unit="s")
    seq = f.integer("seq", low=0, high=MAX_SEQ)
    assert side is not None and t is not None and seq is not None
    return FootEvent(Side(side), x, y, z, contact, force, t, seq)


_FOOT_FIELDS = frozenset(COMMON + ("side", "pos_m", "contact", "force_n", "t_s", "seq"))
_SIDES = {"L": Side.LEFT, "R": Side.RIGHT}
_NUMBER = (float, int)


def fast_foot(data: dict[str, Any]) -> FootEvent | None:
    """The hot path: a well-formed foot event without a request id, accepted with a handful of
    checks straight from the decoded map (its envelope too: ``type``, ``v``).

    It accepts exactly what :func:`open_envelope` and :func:`parse_foot` accept (a property test
    holds them to that) and returns None for anything unusual, which then goes through them for a
    precise error message. Foot events are most of all traffic, so this is worth its few lines.
    """
    version: Any = data.get("v")
    if data.get("type") != "foot" or type(version) is not int or version != PROTOCOL_VERSION or "id" in data:
        return None
    if not data.keys() <= _FOOT_FIELDS:
        return None
    side = _SIDES.get(data.get("side"))  # type: ignore[arg-type]
    # Unchecked wire values (Any): the exact-type tests below check them.
    pos: Any = data.get("pos_m")
    t: Any = data.get("t_s")
    seq: Any = data.get("seq")
    contact: Any = data.get("contact")
    force: Any = data.get("force_n")
    if side is None or type(pos) is not list or len(pos) != 3 or type(seq) is not int:
        return None
    x, y, z = pos
    if not (type(x) in _NUMBER and type(y) in _NUMBER and type(z) in _NUMBER and type(t) in _NUMBER):
        return None
    # comparisons with NaN are False, so NaN never passes; inf fails the bounds
    if not (-MAX_POSITION_M <= x <= MAX_POSITION_M and -MAX_POSITION_M <= y <= MAX_POSITION_M
            and -0.5 <= z <= 2.0 and 0.0 <= t <= MAX_DEVICE_TIME_S and 0 <= seq <= MAX_SEQ):
        return None
    if contact is not None and type(contact) is not bool:
        return None
    if force is not None and not (type(force) in _NUMBER and 0.0 <= force <= MAX_FORCE_N):
        return None
    return FootEvent(side, float(x), float(y), float(z), contact,
                     None if force is None else float(force), float(t), seq)


# -- therapist -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewPatient:
    code: str
    affected_side: str
    leg_length_m: float
    step_reach_m: float | None
    notes: str


PATIENT_FIELDS = ("affected_side", "leg_length_m", "step_reach_m", "notes")


def _patient_fields(f: Fields, *, creating: bool) -> dict[str, Any]:
    """The record fields a message gives, checked alike for create and update. Absent ones are
    left out; an explicit ``step_reach_m: null`` stays (it clears a measured reach)."""
    values = {
        "affected_side": f.choice("affected_side", ("L", "R"), required=creating),
        "leg_length_m": f.number("leg_length_m", low=0.4, high=1.4, required=creating, unit="m"),
        "step_reach_m": f.number("step_reach_m", low=0.05, high=1.5, required=False, unit="m"),
        "notes": f.string("notes", max_len=2000, required=False, empty=True),
    }
    return {k: v for k, v in values.items() if v is not None or (k == "step_reach_m" and k in f.data)}


def parse_new_patient(f: Fields) -> NewPatient:
    f.only(COMMON + ("code",) + PATIENT_FIELDS)
    code = f.string("code", max_len=32, pattern=NAME_PATTERN)
    given = _patient_fields(f, creating=True)
    assert code
    return NewPatient(code, given["affected_side"], given["leg_length_m"], given.get("step_reach_m"),
                      given.get("notes") or "")


@dataclass(frozen=True, slots=True)
class PatientChange:
    patient_id: int
    changes: dict[str, Any]


def parse_update_patient(f: Fields) -> PatientChange:
    """Only the fields given change; ``step_reach_m: null`` clears a measured reach."""
    f.only(COMMON + ("patient_id",) + PATIENT_FIELDS)
    patient_id = f.integer("patient_id", low=1, high=MAX_SEQ)
    assert patient_id is not None
    changes = _patient_fields(f, creating=False)
    if not changes:
        raise ProtocolError("missing_field", "update_patient: give at least one field to change")
    return PatientChange(patient_id, changes)


def _only_id(f: Fields, name: str, high: int) -> int:
    """A request whose one field is the id of what it acts on."""
    f.only(COMMON + (name,))
    value = f.integer(name, low=1, high=high)
    assert value is not None
    return value


def parse_patient_id(f: Fields) -> int:
    return _only_id(f, "patient_id", MAX_SEQ)


@dataclass(frozen=True, slots=True)
class ReportRequest:
    patient_id: int
    session_id: int | None  # None: the latest assessment


def parse_assessment_report(f: Fields) -> ReportRequest:
    f.only(COMMON + ("patient_id", "session_id"))
    patient_id = f.integer("patient_id", low=1, high=MAX_SEQ)
    session_id = f.integer("session_id", low=1, high=MAX_SEQ, required=False)
    assert patient_id is not None
    return ReportRequest(patient_id, session_id)


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """A plan to store: per game, ``start_game`` settings and difficulty, checked as a
    ``start_game`` would check them (``games`` holds the checked values, lists for tuples)."""

    patient_id: int
    games: dict[str, dict[str, Any]]
    source_session_id: int | None
    note: str


def parse_save_plan(f: Fields) -> PlanRequest:
    f.only(COMMON + ("patient_id", "plan", "source_session_id", "note"))
    patient_id = f.integer("patient_id", low=1, high=MAX_SEQ)
    source = f.integer("source_session_id", low=1, high=MAX_SEQ, required=False)
    note = f.string("note", max_len=2000, required=False, empty=True) or ""
    plan = f.mapping("plan", required=True)
    assert patient_id is not None and plan is not None
    plan.only(tuple(GAMES))
    if not plan.data:
        raise ProtocolError("bad_field", "plan: give at least one game")
    games: dict[str, dict[str, Any]] = {}
    for game in GAMES:
        entry = plan.mapping(game)
        if entry is None:
            continue
        entry.only(("settings", "difficulty"))
        settings = _game_settings(entry.mapping("settings"), game, live=False)
        parse_difficulty(entry.mapping("difficulty"), game)
        games[game] = {
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
            "difficulty": dict(entry.data.get("difficulty") or {}),
        }
    return PlanRequest(patient_id, games, source, note)


@dataclass(frozen=True, slots=True)
class ProgressRequest:
    patient_id: int
    metrics: tuple[str, ...]


def parse_progress(f: Fields) -> ProgressRequest:
    f.only(COMMON + ("patient_id", "metrics"))
    patient_id = f.integer("patient_id", low=1, high=MAX_SEQ)
    metrics = f.data.get("metrics")
    if metrics is not None and (not isinstance(metrics, list) or len(metrics) > 64 or not all(
            isinstance(m, str) and 0 < len(m) <= 48 for m in metrics)):
        raise ProtocolError("bad_field", "progress: 'metrics' must be a list of up to 64 metric names")
    assert patient_id is not None
    return ProgressRequest(patient_id, tuple(metrics or ()))


def parse_station_name(f: Fields, extra: tuple[str, ...] = ()) -> str:
    f.only(COMMON + ("station",) + extra)
    station = f.string("station", max_len=64, pattern=NAME_PATTERN)
    assert station
    return station


@dataclass(frozen=True, slots=True)
class DifficultyRequest:
    """A therapist's difficulty settings; every field optional so changes can be partial.
    ``settings`` are the game's live session settings (e.g. stepping's affected-side share).
    A live change names the ``config`` ``revision`` (and optionally the session) it was made from,
    so a change made from a view that is no longer current can be refused."""

    target_success: float | None
    level: float | None
    bounds: dict[str, ParameterBounds]
    settings: dict[str, Any] = field(default_factory=dict)
    revision: int | None = None
    session_id: int | None = None


def parse_difficulty(
    f: Fields | None, game: str, current: dict[str, ParameterBounds] | None = None, *, live: bool = False
) -> DifficultyRequest:
    """Parse difficulty settings; what a bound leaves out keeps its ``current`` value. With
    ``live`` (a running game), the game's live session settings may come too."""
    if f is None:
        return DifficultyRequest(None, None, {})
    specs = {spec.name: spec for spec in GAME_PARAMETERS[game]}
    current = current or {}
    f.only(COMMON + ("station",) + (SET_DIFFICULTY_FIELDS if live else DIFFICULTY_FIELDS))
    target = f.number("target_success", low=0.5, high=0.95, required=False)
    level = f.number("level", low=0.0, high=1.0, required=False)
    bounds: dict[str, ParameterBounds] = {}
    given = f.mapping("bounds")
    if given is not None:
        given.only(specs)
        for name, spec in specs.items():
            b = given.mapping(name)
            if b is None:
                continue
            now = current.get(name, ParameterBounds(spec.default_low, spec.default_high))
            b.only(("low", "high", "locked", "value"))
            low = b.number("low", low=spec.minimum, high=spec.maximum, required=False, unit=spec.unit)
            high = b.number("high", low=spec.minimum, high=spec.maximum, required=False, unit=spec.unit)
            low = now.low if low is None else low
            high = now.high if high is None else high
            if low > high:
                raise ProtocolError("bad_field", f"bounds.{name}: low must not exceed high")
            value = b.number("value", low=low, high=high, required=False, unit=spec.unit)
            locked = b.boolean("locked", required=False)
            if locked is None:
                locked = now.locked or value is not None
            if locked and value is None and now.locked_value is not None:
                value = min(high, max(low, now.locked_value))
            bounds[name] = ParameterBounds(low, high, locked, value if locked else None)
    if not live:
        return DifficultyRequest(target, level, bounds)
    if f.data.get("revision") is None:
        raise ProtocolError("missing_field", f"{f.where}: field 'revision' is required: the revision of the "
                            "station's `config` this change was made from (a change from an older view is refused)")
    revision = f.integer("revision", low=0, high=MAX_SEQ)
    session_id = f.integer("session_id", low=1, high=MAX_SEQ, required=False)
    settings = _game_settings(f.mapping("settings"), game, live=True)
    return DifficultyRequest(target, level, bounds, settings, revision, session_id)


def _game_settings(given: Fields | None, game: str, *, live: bool) -> dict[str, Any]:
    """Session settings checked against the game's declared fields (only its live ones, ``live``)."""
    if given is None:
        return {}
    entry = GAMES[game]
    specs = [s for s in entry.setting_fields if not live or s.name in entry.live_settings]
    given.only([spec.name for spec in specs])
    settings: dict[str, Any] = {}
    for spec in specs:
        value = given.data.get(spec.name)
        if value is None:
            continue
        try:
            settings[spec.name] = check_setting(spec, value)
        except ValueError as exc:
            raise ProtocolError("bad_field", f"{game} settings: {exc}") from None
    return settings


@dataclass(frozen=True, slots=True)
class StartGame:
    station: str
    patient_id: int
    game: str
    settings: dict[str, Any]
    difficulty: DifficultyRequest
    source: str = LIVE  # live, or recording (a replay tool streams a file): stored with the session


def parse_start_game(f: Fields) -> StartGame:
    f.only(COMMON + ("station", "patient_id", "game", "settings", "difficulty", "source"))
    station = f.string("station", max_len=64, pattern=NAME_PATTERN)
    patient_id = f.integer("patient_id", low=1, high=MAX_SEQ)
    game = f.choice("game", tuple(GAMES))
    assert station and patient_id is not None and game
    settings = _game_settings(f.mapping("settings"), game, live=False)
    difficulty = parse_difficulty(f.mapping("difficulty"), game)
    source = f.choice("source", SESSION_SOURCES, required=False) or LIVE
    return StartGame(station, patient_id, game, settings, difficulty, source)


# -- clinic administration (admins only) -----------------------------------------------------------

MAX_ID = 2**31 - 1
MAX_AUDIT_PAGE = 500


@dataclass(frozen=True, slots=True)
class NewAccount:
    username: str
    display_name: str
    role: str
    password: str | None  # None: the server makes a one-time password and returns it once


def parse_create_account(f: Fields) -> NewAccount:
    f.only(COMMON + ("username", "display_name", "role", "password"))
    username = f.string("username", max_len=64, pattern=NAME_PATTERN)
    display_name = f.string("display_name", max_len=120, required=False, empty=True) or ""
    role = f.choice("role", ACCOUNT_ROLES, required=False) or THERAPIST
    password = f.string("password", max_len=256, required=False)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ProtocolError("bad_field", f"create_account: 'password' must have at least "
                                         f"{MIN_PASSWORD_LENGTH} characters")
    assert username is not None
    return NewAccount(username, display_name, role, password)


def parse_account_id(f: Fields) -> int:
    return _only_id(f, "account_id", MAX_ID)


@dataclass(frozen=True, slots=True)
class StationRole:
    station: str
    role: str  # models.DEVICE or models.HEADSET


def parse_station_role(f: Fields) -> StationRole:
    f.only(COMMON + ("station", "role"))
    station = f.string("station", max_len=64, pattern=NAME_PATTERN)
    role = f.choice("role", STATION_ROLES)
    assert station is not None and role is not None
    return StationRole(station, role)


def parse_new_station(f: Fields) -> str:
    f.only(COMMON + ("station",))
    station = f.string("station", max_len=64, pattern=NAME_PATTERN)
    assert station is not None
    return station


def parse_audit_query(f: Fields) -> AuditQuery:
    """Filters by who acted (``therapist_id``), the patient acted on, the action and a time range
    (ISO 8601; without an offset, UTC); ``before_id`` pages back from the oldest entry seen."""
    f.only(COMMON + ("therapist_id", "patient_id", "action", "since", "until", "before_id", "limit"))
    patient_id = f.integer("patient_id", low=1, high=MAX_ID, required=False)
    return AuditQuery(
        therapist_id=f.integer("therapist_id", low=1, high=MAX_ID, required=False),
        subject=None if patient_id is None else f"patient:{patient_id}",
        action=f.string("action", max_len=64, required=False, pattern=r"[a-z_]+"),
        since=_timestamp(f, "since"),
        until=_timestamp(f, "until"),
        before_id=f.integer("before_id", low=1, high=2**62, required=False),
        limit=f.integer("limit", low=1, high=MAX_AUDIT_PAGE, required=False) or 100,
    )


def _timestamp(f: Fields, key: str) -> datetime | None:
    text = f.string(key, max_len=40, required=False)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError("bad_field", f"{f.where}: '{key}' must be an ISO 8601 time such as "
                                         f"2026-03-01T08:00:00+01:00, got {text[:40]!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
