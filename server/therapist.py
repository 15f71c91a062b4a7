"""Therapist commands: patients, stations and live control of games, scoped to one clinic.

Every command that changes something is written to the audit log. A therapist only ever sees
their own clinic's patients and stations; anything else answers "not found".
"""

from __future__ import annotations

import time
from collections.abc import Sized
from functools import partial
from typing import Any, TypeVar

from games.events import Side
from games.registry import GAMES, playable_with
from games.setting_fields import PatientInfo
from scoring.assessment import compare
from scoring.difficulty import DifficultyError, DifficultySet
from scoring.plan import suggest_plan
from server import auth
from server.admin import AdminCommands, Command
from server.cluster import ClusterError
from server.codec import Encoding, ProtocolError, error_reply
from server.command_host import CommandHost
from server.connection import Connection
from server.device_kinds import describe_inputs, describe_kinds
from server.messages import (
    SET_DIFFICULTY_FIELDS,
    Envelope,
    StartGame,
    open_envelope,
    parse_assessment_report,
    parse_difficulty,
    parse_new_patient,
    parse_patient_id,
    parse_progress,
    parse_save_plan,
    parse_start_game,
    parse_station_name,
    parse_update_patient,
)
from server.outcome_commands import OutcomeCommands
from server.pairing import CODE_TTL_S, parse_pair_headset, parse_unpair_headset
from server.record_fields import (
    assessment_fields,
    pairing_fields,
    patient_fields,
    plan_fields,
    progress_fields,
    session_fields,
    trial_fields,
)
from server.stations import StationRuntime
from server.storage.models import ADMIN
from server.storage.records import PatientRecord, PlanRecord, TherapistRecord
from server.storage.store import StoreError
from server.wire_messages import (
    AssessmentReport,
    Difficulty,
    Export,
    GameStarted,
    GameStopped,
    LoggedOut,
    Ok,
    Outgoing,
    PairingCode,
    Pairings,
    PatientExport,
    PatientMessage,
    Patients,
    PlanMessage,
    PlanSuggestion,
    Pong,
    Progress,
    Sessions,
    Stations,
    StationStatus,
)

THERAPIST_PAUSE = "therapist"
T = TypeVar("T")

# Commands that act on a running game: forwarded to the node hosting it when that is not us.
FORWARDED = frozenset({"stop_game", "pause_game", "resume_game", "set_difficulty"})
# What another node may ask this one to run: those, and a start_game for a station whose devices are here.
RUNS_FORWARDED = FORWARDED | {"start_game"}


class TherapistCommands:
    """``conn`` is None when running a command forwarded from another node (no live socket here)."""

    def __init__(
        self, server: CommandHost, conn: Connection | None, therapist: TherapistRecord, token: str | None
    ) -> None:
        self.server = server
        self.conn = conn
        self.therapist = therapist
        self.token = token
        self.store = server.store
        self.live = server.live
        self._commands = {
            "ping": self.ping,
            "list_stations": self.list_stations,
            "list_patients": self.list_patients,
            "create_patient": self.create_patient,
            "update_patient": self.update_patient,
            "list_sessions": self.list_sessions,
            "export": self.export,
            "export_patient": self.export_patient,
            "progress": self.progress,
            "assessment_report": self.assessment_report,
            "suggest_plan": self.suggest_plan,
            "save_plan": self.save_plan,
            "get_plan": self.get_plan,
            "start_game": self.start_game,
            "stop_game": self.stop_game,
            "pause_game": self.pause_game,
            "resume_game": self.resume_game,
            "set_difficulty": self.set_difficulty,
            "watch": self.watch,
            "unwatch": self.unwatch,
            "logout": self.logout,
            "pair_headset": self.pair_headset,
            "unpair_headset": self.unpair_headset,
            "list_pairings": self.list_pairings,
            "align_station": self.align_station,
        }
        for name, admin_command in AdminCommands(server, therapist).commands().items():
            self._commands[name] = partial(self._as_admin, admin_command)
        self._commands.update(OutcomeCommands(server, therapist).commands())  # server/outcome_commands.py

    async def handle(self, message: Envelope, encoding: Encoding) -> None:
        assert self.conn is not None
        command = self._commands.get(message.type)
        if command is None:
            raise ProtocolError("unknown_type", f"unknown message type '{message.type}'")
        reply = await self._forward(message)
        if reply is None:
            reply = (await command(message)).wire(message.request_id)
        else:
            reply["id"] = message.request_id
        self.conn.send(reply, encoding)
        if message.type == "logout":
            await self.conn.close(1000, "logged out")

    async def run(self, data: dict[str, Any]) -> dict[str, Any]:
        """Run a command forwarded by another node; errors become error replies."""
        try:
            message = open_envelope(data)
            if message.type not in RUNS_FORWARDED:
                raise ProtocolError("unknown_type", f"'{message.type}' cannot be forwarded")
            return (await self._commands[message.type](message)).wire()
        except ProtocolError as exc:
            return error_reply(exc.code, exc.message, **exc.extra)

    async def _forward(self, message: Envelope) -> dict[str, Any] | None:
        """If another node hosts the station's game, run the command there and return its reply;
        a ``start_game`` goes to the node the station's devices are on (see ``_start_by_devices``)."""
        cluster = self.server.cluster
        if not cluster.distributed:
            return None
        if message.type == "start_game":
            return await self._start_by_devices(message)
        if message.type not in FORWARDED:
            return None
        station = await self._station(parse_station_name(message.fields, SET_DIFFICULTY_FIELDS))
        if station.play is not None:
            return None
        owner = await cluster.owner(station.name)
        if owner is None or owner == cluster.node_id:
            return None
        return await self._request(owner, message)

    async def _start_by_devices(self, message: Envelope) -> dict[str, Any] | None:
        """Station affinity: a game whose station has no device here but has some on another node
        starts there, so that their foot events reach the game without crossing Redis; this
        therapist watches it from here over the relay. None: start it here (devices here, none
        anywhere, or affinity off)."""
        if not self.live.settings.station_affinity:
            return None
        station = await self._station(parse_start_game(message.fields).station)
        if station.play is not None or station.devices:
            return None
        node = await self.server.cluster.devices_at(station.name)
        if node is None or node == self.server.cluster.node_id:
            return None
        reply = await self._request(node, message)
        if reply.get("type") == "game_started" and self.conn is not None:
            station.watchers.add(self.conn)  # as if started here: the starter watches it
            await self.live.send_current_state(station, self.conn)  # follows it: the host resyncs
        return reply

    async def _request(self, node: str, message: Envelope) -> dict[str, Any]:
        """Run the command on ``node`` as this therapist (see ``run``)."""
        t = self.therapist
        request = {"therapist": {"id": t.id, "clinic_id": t.clinic_id, "username": t.username,
                                 "display_name": t.display_name, "role": t.role},
                   "request": {k: v for k, v in message.fields.data.items() if k != "id"}}
        try:
            return await self.server.cluster.request(node, request)
        except ClusterError as exc:
            raise ProtocolError("unavailable", str(exc)) from None

    # -- helpers --------------------------------------------------------------------------------

    async def _station(self, name: str) -> StationRuntime:
        station = await self.live.station(name)
        if station is None or station.record.clinic_id != self.therapist.clinic_id:
            raise ProtocolError("not_found", f"no station named '{name}' in your clinic")
        return station

    async def _playing(self, message: Envelope, extra: tuple[str, ...] = ()) -> StationRuntime:
        station = await self._station(parse_station_name(message.fields, extra))
        if station.play is None:
            raise ProtocolError("no_game", f"no game is running on {station.name}")
        return station

    async def _as_admin(self, command: Command, message: Envelope) -> Outgoing:
        """An admin's command; a therapist asking is refused, and the refusal audited."""
        if self.therapist.role != ADMIN:
            await self._audit("forbidden", f"therapist:{self.therapist.id}", {"request": message.type})
            raise ProtocolError("forbidden", f"'{message.type}' is for the clinic's admins only")
        return await command(message)

    async def _audit(self, action: str, subject: str, detail: dict[str, Any]) -> None:
        t = self.therapist
        await self.store.audit(t.clinic_id, t.id, action, subject, detail)

    # -- commands -------------------------------------------------------------------------------

    async def ping(self, message: Envelope) -> Outgoing:
        return Pong()

    async def list_stations(self, message: Envelope) -> Outgoing:
        message.fields.only(("type", "v", "id"))
        records = await self.store.list_stations(self.therapist.clinic_id)
        statuses = []
        for record in records:
            station = await self.live.station(record.name)
            assert station is not None
            status = station.status()
            status["hosted_by"] = await self.server.cluster.owner(record.name)
            statuses.append(status)
        return Stations(stations=statuses)

    async def list_patients(self, message: Envelope) -> Outgoing:
        message.fields.only(("type", "v", "id"))
        patients = await self.store.list_patients(self.therapist.clinic_id)
        await self._audit("list_patients", "patients", {"count": len(patients)})
        return Patients(patients=[patient_fields(p) for p in patients])

    async def create_patient(self, message: Envelope) -> Outgoing:
        new = parse_new_patient(message.fields)
        try:
            patient = await self.store.create_patient(self.therapist.clinic_id, self.therapist.id,
                new.code, new.affected_side, new.leg_length_m, new.step_reach_m, new.notes,
            )
        except StoreError as exc:
            raise ProtocolError("conflict", str(exc)) from None
        return PatientMessage(patient=patient_fields(patient))

    async def update_patient(self, message: Envelope) -> Outgoing:
        change = parse_update_patient(message.fields)
        patient = await self.store.update_patient(self.therapist.clinic_id,
                                        self.therapist.id, change.patient_id, change.changes)
        if patient is None:
            raise ProtocolError("not_found", f"no patient {change.patient_id} in your clinic")
        return PatientMessage(patient=patient_fields(patient))

    async def list_sessions(self, message: Envelope) -> Outgoing:
        patient_id = parse_patient_id(message.fields)
        sessions = self._found(patient_id, await self.store.patient_sessions(self.therapist.clinic_id, patient_id))
        await self._audit_rows("list_sessions", patient_id, sessions)
        return Sessions(patient_id=patient_id, sessions=[session_fields(s) for s in sessions])

    async def export(self, message: Envelope) -> Outgoing:
        """Everything stored about a patient's play, for a CSV export in the panel; with the
        patient's code and affected side, so that every exported row names its patient and sides."""
        patient_id = parse_patient_id(message.fields)
        trials = self._found(patient_id, await self.store.patient_trials(self.therapist.clinic_id, patient_id))
        await self._audit_rows("export", patient_id, trials)
        patient = await self._patient(patient_id)
        metrics = await self.store.patient_progress(self.therapist.clinic_id, patient_id)
        return Export(patient_id=patient_id, patient_code=patient.code,
                        affected_side=patient.affected_side, trials=[trial_fields(t) for t in trials],
                        metrics=[progress_fields(m) for m in metrics or []])

    async def export_patient(self, message: Envelope) -> Outgoing:
        """Everything stored about a patient, every table that holds them and the audit entries
        about them: the patient's right of access. Audited by the store in the same transaction."""
        patient_id = parse_patient_id(message.fields)
        export = await self.store.export_patient(self.therapist.clinic_id, patient_id,
                                       self.therapist.id)
        if export is None:
            raise ProtocolError("not_found", f"no patient {patient_id} in your clinic")
        return PatientExport(patient_id, export.as_json())

    @staticmethod
    def _found(patient_id: int, found: T | None) -> T:
        """What the store found for a patient of this clinic; None means no such patient here."""
        if found is None:
            raise ProtocolError("not_found", f"no patient {patient_id} in your clinic")
        return found

    async def _audit_rows(self, action: str, patient_id: int, rows: Sized) -> None:
        """A read of a patient's records, audited with how many rows it returned."""
        await self._audit(action, f"patient:{patient_id}", {"rows": len(rows)})

    async def progress(self, message: Envelope) -> Outgoing:
        """A patient's stored session metrics, oldest session first: the data behind progress plots."""
        request = parse_progress(message.fields)
        rows = self._found(request.patient_id, await self.store.patient_progress(
            self.therapist.clinic_id, request.patient_id, request.metrics))
        await self._audit_rows("progress", request.patient_id, rows)
        return Progress(patient_id=request.patient_id, metrics=[progress_fields(m) for m in rows])

    async def _assessments(self, patient_id: int, action: str) -> list[dict[str, Any]]:
        """A patient's assessments as the report and plan rules read them (``assessment_fields``)."""
        found = self._found(patient_id, await self.store.assessments(self.therapist.clinic_id, patient_id))
        await self._audit_rows(action, patient_id, found)
        return [assessment_fields(a) for a in found]

    async def assessment_report(self, message: Envelope) -> Outgoing:
        """One assessment (the latest by default) against the baseline (the first), metric by
        metric, with the smallest change worth noting; and every assessment's values for plots."""
        request = parse_assessment_report(message.fields)
        assessments = await self._assessments(request.patient_id, "assessment_report")
        history = [{"session_id": a["session_id"], "started_at": a["started_at"], "source": a["source"],
                    "metrics": a["metrics"]} for a in assessments]
        if not assessments:
            return AssessmentReport(patient_id=request.patient_id, baseline_session_id=None,
                            session_id=None, rows=[], history=[])
        by_id = {a["session_id"]: a for a in assessments}
        current = by_id.get(request.session_id or assessments[-1]["session_id"])
        if current is None:
            raise ProtocolError("not_found", f"session {request.session_id} is not an assessment of "
                                f"patient {request.patient_id} with stored results")
        baseline = assessments[0]
        return AssessmentReport(patient_id=request.patient_id,
                        baseline_session_id=baseline["session_id"], session_id=current["session_id"],
                        rows=compare(baseline["metrics"], current["metrics"], self.server.smallest_change),
                        history=history)

    async def suggest_plan(self, message: Envelope) -> Outgoing:
        """A starting plan from the latest assessment (or, without one, from the patient record)."""
        patient_id = parse_patient_id(message.fields)
        patient = await self._patient(patient_id)
        assessments = await self._assessments(patient_id, "suggest_plan")
        latest = assessments[-1] if assessments else None
        suggestion = suggest_plan(latest["metrics"] if latest else [], patient.affected_side,
                                  patient.leg_length_m, patient.step_reach_m)
        return PlanSuggestion(patient_id=patient_id, plan=suggestion.plan,
                        basis=suggestion.basis, from_session_id=latest["session_id"] if latest else None)

    async def save_plan(self, message: Envelope) -> Outgoing:
        request = parse_save_plan(message.fields)
        patient = await self._patient(request.patient_id)
        info = PatientInfo(Side(patient.affected_side), patient.leg_length_m, patient.step_reach_m)
        for game, entry in request.games.items():
            try:  # what only the whole settings can tell (a share above its own ceiling, say)
                GAMES[game].settings_from(entry["settings"], info)
            except ValueError as exc:
                raise ProtocolError("bad_field", f"plan.{game}: {exc}") from None
        try:
            plan = await self.store.save_plan(self.therapist.clinic_id, self.therapist.id,
                                         request.patient_id, request.games, request.source_session_id,
                                         request.note)
        except StoreError as exc:
            raise ProtocolError("bad_field", str(exc)) from None
        assert plan is not None  # the patient was found above
        return PlanMessage(patient_id=request.patient_id, plan=plan_fields(plan))

    async def get_plan(self, message: Envelope) -> Outgoing:
        patient_id = parse_patient_id(message.fields)
        plan = self._found(patient_id, await self.store.current_plan(self.therapist.clinic_id, patient_id))
        saved = plan if isinstance(plan, PlanRecord) else None
        await self._audit_rows("get_plan", patient_id, [saved] if saved else [])
        return PlanMessage(patient_id=patient_id, plan=plan_fields(saved) if saved else None)

    async def _patient(self, patient_id: int) -> PatientRecord:
        patient = await self.store.get_patient(self.therapist.clinic_id, patient_id)
        if patient is None:
            raise ProtocolError("not_found", f"no patient {patient_id} in your clinic")
        return patient

    async def start_game(self, message: Envelope) -> Outgoing:
        request = parse_start_game(message.fields)
        station = await self._station(request.station)
        if station.play is not None:
            raise ProtocolError("busy", f"{station.name} is already running session {station.play.session_id}")
        cluster = self.server.cluster
        if not await cluster.claim(station.name):
            host = await cluster.owner(station.name)
            raise ProtocolError("busy", f"{station.name} is already running a game (on server {host})")
        try:
            return await self._start_claimed(station, request)
        except BaseException:
            await cluster.release(station.name)
            raise

    async def _start_claimed(self, station: StationRuntime, request: StartGame) -> Outgoing:
        patient = await self._patient(request.patient_id)
        entry = GAMES[request.game]
        info = PatientInfo(Side(patient.affected_side), patient.leg_length_m, patient.step_reach_m)
        try:
            settings = entry.settings_from(request.settings, info)
        except ValueError as exc:
            raise ProtocolError("bad_field", f"{request.game} settings: {exc}") from None
        _check_devices(station, request.game, entry.inputs(settings))
        staircase = DifficultySet(entry.parameters,
                                  tuple(settings.directions) if entry.adapts_per_direction else ())
        d = request.difficulty
        try:
            staircase.configure(target_success=d.target_success, bounds=d.bounds, level=d.level)
        except DifficultyError as exc:
            raise ProtocolError("bad_field", str(exc)) from None
        session_id = await self.store.start_session(
            patient.id, station.record.id, self.therapist.id, self.therapist.clinic_id, request.game,
            {"settings": settings.as_dict(), "difficulty": staircase.describe()}, staircase.initial_changes(),
            self.server.node_id, request.source,
        )
        game = entry.make(settings, staircase.values(), time.perf_counter())
        for direction in staircase.by_direction:
            if direction:
                game.set_difficulty(staircase.values(direction), direction)
        if self.conn is not None:  # the therapist who starts it watches it, from its first configuration
            station.watchers.add(self.conn)
        self.live.start(station, session_id, patient, game, staircase,
                        f"game started by therapist {self.therapist.username}")
        return GameStarted(station=station.name, session_id=session_id, game=request.game, source=request.source,
                           settings=settings.as_dict(), difficulty=staircase.describe(),
                           config=station.config_message())

    async def stop_game(self, message: Envelope) -> Outgoing:
        station = await self._playing(message)
        play = station.play
        assert play is not None
        await self.live.finish(station, "stopped_by_therapist")
        await self._audit("stop_game", f"session:{play.session_id}", {"station": station.name})
        return GameStopped(station=station.name, session_id=play.session_id,
                           reason="stopped_by_therapist", trials=play.game.trials_done,
                           hits=play.game.hits)

    async def pause_game(self, message: Envelope) -> Outgoing:
        return await self._set_paused(message, True)

    async def resume_game(self, message: Envelope) -> Outgoing:
        return await self._set_paused(message, False)

    async def _set_paused(self, message: Envelope, paused: bool) -> Outgoing:
        station = await self._playing(message)
        play = station.play
        assert play is not None
        self.live.set_paused(station, THERAPIST_PAUSE, paused)
        action = "pause_game" if paused else "resume_game"
        await self._audit(action, f"session:{play.session_id}", {"station": station.name})
        return StationStatus(station.status())

    async def set_difficulty(self, message: Envelope) -> Outgoing:
        """Change only what the request names, and only if it was made from the configuration
        in force: a change from a view that something else has changed since is refused, with the
        current configuration, so that nobody puts back a value they never saw."""
        station = await self._playing(message, SET_DIFFICULTY_FIELDS)
        play = station.play
        assert play is not None
        request = parse_difficulty(message.fields, play.game.name, play.difficulty.bounds, live=True)
        if request.revision != station.config_revision or request.session_id not in (None, play.session_id):
            seen = (f"session {request.session_id}" if request.session_id not in (None, play.session_id)
                    else f"revision {request.revision}")
            raise ProtocolError(
                "stale_config",
                f"the configuration of {station.name} changed since you loaded it ({seen}; now revision "
                f"{station.config_revision} of session {play.session_id}, last changed by "
                f"{station.config_changed_by}), so nothing was changed",
                config=station.config_message())
        reason = f"therapist {self.therapist.username}"
        before = play.configuration()
        try:
            changes = play.difficulty.configure(
                target_success=request.target_success, bounds=request.bounds, level=request.level,
                reason=reason,
            )
        except DifficultyError as exc:
            raise ProtocolError("bad_field", str(exc)) from None
        play.apply_difficulty(changes)
        if request.settings:
            changes += play.apply_settings(request.settings, reason)
        if play.configuration() != before:  # nothing is stored, nor a new revision made, for no change
            station.config_changed(reason)
            detail = {"station": station.name, "request": message.fields.data, "changed": len(changes)}
            await self.store.record_difficulty_changes(play.session_id, changes,
                self.therapist.clinic_id, self.therapist.id, _jsonable(detail),
            )
        return Difficulty(station=station.name, session_id=play.session_id, revision=station.config_revision,
                          settings=play.live_settings(), staircase=play.difficulty.describe())

    async def watch(self, message: Envelope) -> Outgoing:
        station = await self._station(parse_station_name(message.fields))
        assert self.conn is not None
        station.watchers.add(self.conn)
        await self._audit("watch", f"station:{station.name}", {})
        await self.live.send_current_state(station, self.conn)
        config = station.current_config()  # a game hosted elsewhere: its resync brings it too
        if config is not None:
            self.conn.send(config)
        return StationStatus(station.status())

    async def unwatch(self, message: Envelope) -> Outgoing:
        station = await self._station(parse_station_name(message.fields))
        station.watchers.discard(self.conn)
        await self.live.maybe_unfollow(station)
        return StationStatus(station.status())

    async def logout(self, message: Envelope) -> Outgoing:
        """End this session: this connection closes after the reply, and any other connection
        that reconnected with the same session token is closed too."""
        message.fields.only(("type", "v", "id"))
        if self.conn is not None:
            self.conn.revoked = True  # closed by ``handle`` after its reply, not by the revocation check
        if self.token is not None:
            await self.store.revoke_login(auth.hash_token(self.token))
            self.server.revocations.check_soon()
        await self._audit("logout", f"therapist:{self.therapist.id}", {})
        return LoggedOut()

    # -- headsets: pairing and alignment (server/pairing.py) -------------------------------------

    async def pair_headset(self, message: Envelope) -> Outgoing:
        """A 6-digit code a headset can pair with, for 2 minutes, once (audited by the store)."""
        name, tracker = parse_pair_headset(message.fields)
        station = await self._station(name)
        code, pairing_id = await self.server.pairings.issue(self.therapist, station.record, tracker)
        return PairingCode(station.name, code, CODE_TTL_S, tracker, pairing_id)

    async def unpair_headset(self, message: Envelope) -> Outgoing:
        """Revoke the credentials one pairing issued; their connections close within 2 s."""
        name, pairing_id = parse_unpair_headset(message.fields)
        station = await self._station(name)
        if await self.server.pairings.unpair(self.therapist, station.name, pairing_id) is None:
            raise ProtocolError("not_found", f"no headset pairing {pairing_id} on {station.name}")
        self.server.revocations.check_soon()
        return await self._pairings(station)

    async def list_pairings(self, message: Envelope) -> Outgoing:
        return await self._pairings(await self._station(parse_station_name(message.fields)))

    async def _pairings(self, station: StationRuntime) -> Outgoing:
        connected = station.paired_connections()
        return Pairings(station.name, [pairing_fields(p, connected.get(p.id, []))
                                       for p in await self.server.pairings.of_station(station.record)])

    async def align_station(self, message: Envelope) -> Outgoing:
        """Restart the standing calibration of the station's devices and re-align its headsets."""
        station = await self._station(parse_station_name(message.fields))
        restarted = station.align()
        await self._audit("align_station", f"station:{station.name}",
                          {"devices": restarted, "headsets": len(station.headsets)})
        return Ok({"station": station.name, "devices_recalibrating": restarted, "headsets": len(station.headsets)})


def _check_devices(station: StationRuntime, game: str, needs: frozenset[str]) -> None:
    """Refuse a game the station's devices cannot feed (with none connected, it may start: it
    waits, paused, for one), naming what they are and the games they can play."""
    feed = station.device_feed()
    if feed.cannot_play(needs):
        can = playable_with(feed.provides)
        raise ProtocolError(
            "device_mismatch",
            f"{game} needs {describe_inputs(needs - feed.provides)}, which the {describe_kinds(feed.kinds)} "
            f"connected to {station.name} cannot give; with it you can play "
            f"{', '.join(can) if can else 'no game'}")


def _jsonable(value: Any) -> Any:
    """Request details for the audit log: keep plain data only."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)

