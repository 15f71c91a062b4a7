"""The wire protocol's one definition: its version, every message type each role sends and
receives, and every error code.

Shared by the server and the Python clients (link, headset, simulators, replay tools, bench), so it
imports nothing but the standard library: a client that reads the version does not pull the server
in. ``docs/protocol.md`` describes each message; ``tests/test_protocol_doc.py`` holds that page,
this catalogue and the server's source to one another, so a type sent, parsed or documented
without being listed here (or listed and no longer used) fails a test. The types are ``Literal``s
so that mypy catches a misspelt type or error code where a message or error is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

PROTOCOL_VERSION: Final = 1

Role = Literal["device", "headset", "therapist", "admin"]

# -- client -> server --------------------------------------------------------------------------

# The first message of every connection: a station's device or headset says hello, a therapist logs in.
AuthType = Literal["hello", "login"]
# What a device may send once authenticated: normalised foot events, a treadmill's belt, and raw
# tracker or mat data after its setup (server/device_messages.py).
DeviceSetupType = Literal["tracker_setup", "mat_setup", "board_setup"]
DeviceFrameType = Literal["markers", "cop", "pressure", "load_cells"]
DeviceType = Literal["foot", "belt", "ping", DeviceSetupType, DeviceFrameType]
HeadsetType = Literal["ready", "pause", "ping"]
TherapistType = Literal[
    "ping", "list_stations", "list_patients", "create_patient", "update_patient", "list_sessions",
    "export", "export_patient", "progress", "assessment_report", "suggest_plan", "save_plan",
    "get_plan", "start_game", "stop_game", "pause_game", "resume_game", "set_difficulty", "watch",
    "unwatch", "logout",
    # outcome measures (server/outcome_commands.py)
    "outcome_catalogue", "save_scale", "list_scales", "set_patient_details", "progress_report", "fhir_export",
]
# An admin may send everything a therapist may, and these.
AdminType = Literal[
    "list_accounts", "create_account", "deactivate_account", "reactivate_account", "reset_password",
    "list_station_credentials", "create_station", "rotate_station_token", "revoke_station_token",
    "audit_log",
]
IncomingType = Literal[AuthType, DeviceType, HeadsetType, TherapistType, AdminType]

# -- server -> client --------------------------------------------------------------------------

OutgoingType = Literal[
    # to every role
    "welcome", "error", "pong",
    # to a device (and "ok" to a headset's requests)
    "ok", "device_status",
    # pushed to headsets and watching therapists
    "state", "game_event",
    # replies to therapist requests
    "stations", "patients", "patient", "sessions", "export", "patient_export", "progress",
    "assessment_report", "plan_suggestion", "plan", "game_started", "game_stopped", "station",
    "difficulty", "logged_out", "outcome_catalogue", "scale_result", "scale_results", "patient_details",
    "progress_report", "fhir_bundle",
    # events to watching therapists
    "config", "trial", "session_metrics",
    # replies to admin requests
    "accounts", "account", "station_credentials", "station_created", "station_token",
    "station_token_revoked", "audit_entries",
]

# -- errors ------------------------------------------------------------------------------------

# The ``code`` of an ``error`` message: machine-readable, one per kind of refusal (their meanings
# are in docs/protocol.md, "Errors").
ErrorCode = Literal[
    # the frame or a field of it
    "malformed", "missing_field", "bad_field", "unknown_field", "unsupported_version", "unknown_type",
    # authentication and credentials
    "auth_failed", "auth_required", "auth_timeout", "throttled", "session_expired", "revoked", "forbidden",
    # a request the server cannot carry out
    "not_found", "busy", "no_game", "conflict", "device_mismatch", "no_setup", "stale_config",
    # limits on what a connection may send
    "rate_limited", "over_budget",
    # the server's own failures
    "storage_failed", "unavailable", "remote_failed", "internal_error",
]


def _names(*literals: object) -> frozenset[str]:
    return frozenset(name for literal in literals for name in get_args(literal))


DEVICE_SETUP_TYPES: Final = _names(DeviceSetupType)
DEVICE_FRAME_TYPES: Final = _names(DeviceFrameType)

# What each role may send once authenticated (before that, only AUTH_TYPES).
AUTH_TYPES: Final = _names(AuthType)
SENDS: Final[Mapping[Role, frozenset[str]]] = {
    "device": _names(DeviceType),
    "headset": _names(HeadsetType),
    "therapist": _names(TherapistType),
    "admin": _names(TherapistType, AdminType),
}

_TO_EVERYONE = ("welcome", "error", "pong")
_WATCHER = ("state", "game_event", "config", "trial", "session_metrics", "game_stopped", "device_status",
            "station")
_THERAPIST_REPLIES = ("stations", "patients", "patient", "sessions", "export", "patient_export", "progress",
                      "assessment_report", "plan_suggestion", "plan", "game_started", "game_stopped",
                      "station", "difficulty", "logged_out", "outcome_catalogue", "scale_result",
                      "scale_results", "patient_details", "progress_report", "fhir_bundle")
_ADMIN_REPLIES = ("accounts", "account", "station_credentials", "station_created", "station_token",
                  "station_token_revoked", "audit_entries")
# What the server may send to each role.
RECEIVES: Final[Mapping[Role, frozenset[str]]] = {
    "device": frozenset((*_TO_EVERYONE, "ok", "device_status")),
    "headset": frozenset((*_TO_EVERYONE, "ok", "state", "game_event")),
    "therapist": frozenset((*_TO_EVERYONE, *_WATCHER, *_THERAPIST_REPLIES)),
    "admin": frozenset((*_TO_EVERYONE, *_WATCHER, *_THERAPIST_REPLIES, *_ADMIN_REPLIES)),
}

INCOMING_TYPES: Final = _names(IncomingType)
OUTGOING_TYPES: Final = _names(OutgoingType)
ERROR_CODES: Final = _names(ErrorCode)
