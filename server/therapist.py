"""Therapist commands: patients, stations and live control of games, scoped to one clinic.

Every command that changes something is written to the audit log. A therapist only ever sees
their own clinic's patients and stations; anything else answers "not found".
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from games.events import Side
from games.registry import GAMES, playable_with
from games.setting_fields import PatientInfo
from scoring.assessment import compare
from scoring.difficulty import DifficultyError, DifficultySet
from scoring.plan import suggest_plan
from server import auth
from server.admin import AdminCommands, Command
from server.cluster import PRESENCE_S, ClusterError
from server.codec import Encoding, ProtocolError, envelope, error_reply
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
from server.play import Play
from server.stations import StationRuntime
from server.storage.models import ADMIN
from server.storage.records import TherapistRecord
from server.storage.store import StoreError

THERAPIST_PAUSE = "therapist"

# Commands that act on a running game: forwarded to the node hosting it when that is not us.
FORWARDED = frozenset({"stop_game", "pause_game", "resume_game", "set_difficulty"})


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
            reply = await command(message)
        reply["id"] = message.request_id
        self.conn.send(reply, encoding)
        if message.type == "logout":
            await self.conn.close(1000, "logged out")

    async def run(self, data: dict[str, Any]) -> dict[str, Any]:
        """Run a command forwarded by another node; errors become error replies."""
        try:
            message = open_envelope(data)
            if message.type not in FORWARDED:
                raise ProtocolError("unknown_type", f"'{message.type}' cannot be forwarded")
            return await self._commands[message.type](message)
        except ProtocolError as exc:
            return error_reply(exc.code, exc.message, **exc.extra)

    async def _forward(self, message: Envelope) -> dict[str, Any] | None:
        """If another node hosts the station's game, run the command there and return its reply."""
        cluster = self.server.cluster
        if message.type not in FORWARDED or not cluster.distributed:
            return None
        station = await self._station(parse_station_name(message.fields, SET_DIFFICULTY_FIELDS))
        if station.play is not None:
            return None
        owner = await cluster.owner(station.name)
        if owner is None or owner == cluster.node_id:
            return None
        t = self.therapist
        request = {"therapist": {"id": t.id, "clinic_id": t.clinic_id, "username": t.username,
                                 "display_name": t.display_name, "role": t.role},
                   "request": {k: v for k, v in message.fields.data.items() if k != "id"}}
        try:
            return await cluster.request(owner, request)
        except ClusterError as exc:
            raise ProtocolError("unavailable", str(exc)) from None

    # -- helpers --------------------------------------------------------------------------------

    async def _station(self, name: str) -> StationRuntime:
        station = await self.server.station(name)
        if station is None or station.record.clinic_id != self.therapist.clinic_id:
            raise ProtocolError("not_found", f"no station named '{name}' in your clinic")
        return station

    async def _playing(self, message: Envelope, extra: tuple[str, ...] = ()) -> StationRuntime:
        station = await self._station(parse_station_name(message.fields, extra))
        if station.play is None:
            raise ProtocolError("no_game", f"no game is running on {station.name}")
        return station

    async def _as_admin(self, command: Command, message: Envelope) -> dict[str, Any]:
        """An admin's command; a therapist asking is refused, and the refusal audited."""
        if self.therapist.role != ADMIN:
            await self._audit("forbidden", f"therapist:{self.therapist.id}", {"request": message.type})
            raise ProtocolError("forbidden", f"'{message.type}' is for the clinic's admins only")
        return await command(message)

    async def _audit(self, action: str, subject: str, detail: dict[str, Any]) -> None:
        t = self.therapist
        await self.store.call(self.store.store.audit, t.clinic_id, t.id, action, subject, detail)

    # -- commands -------------------------------------------------------------------------------

    async def ping(self, message: Envelope) -> dict[str, Any]:
        return envelope("pong")

    async def list_stations(self, message: Envelope) -> dict[str, Any]:
        message.fields.only(("type", "v", "id"))
        records = await self.store.call(self.store.store.list_stations, self.therapist.clinic_id)
        statuses = []
        for record in records:
            station = await self.server.station(record.name)
            assert station is not None
            status = station.status()
            status["hosted_by"] = await self.server.cluster.owner(record.name)
            statuses.append(status)
        return envelope("stations", stations=statuses)

    async def list_patients(self, message: Envelope) -> dict[str, Any]:
        message.fields.only(("type", "v", "id"))
        patients = await self.store.call(self.store.store.list_patients, self.therapist.clinic_id)
        await self._audit("list_patients", "patients", {"count": len(patients)})
        return envelope("patients", patients=[p.public() for p in patients])

    async def create_patient(self, message: Envelope) -> dict[str, Any]:
        new = parse_new_patient(message.fields)
        try:
            patient = await self.store.call(
                self.store.store.create_patient, self.therapist.clinic_id, self.therapist.id,
                new.code, new.affected_side, new.leg_length_m, new.step_reach_m, new.notes,
            )
        except StoreError as exc:
            raise ProtocolError("conflict", str(exc)) from None
        return envelope("patient", patient=patient.public())

    async def update_patient(self, message: Envelope) -> dict[str, Any]:
        change = parse_update_patient(message.fields)
        patient = await self.store.call(self.store.store.update_patient, self.therapist.clinic_id,
                                        self.therapist.id, change.patient_id, change.changes)
        if patient is None:
            raise ProtocolError("not_found", f"no patient {change.patient_id} in your clinic")
        return envelope("patient", patient=patient.public())

    async def list_sessions(self, message: Envelope) -> dict[str, Any]:
        patient_id = parse_patient_id(message.fields)
        sessions = await self._patient_rows(self.store.store.patient_sessions, patient_id, "list_sessions")
        return envelope("sessions", patient_id=patient_id, sessions=sessions)

    async def export(self, message: Envelope) -> dict[str, Any]:
        """Everything stored about a patient's play, for a CSV export in the panel; with the
        patient's code and affected side, so that every exported row names its patient and sides."""
        patient_id = parse_patient_id(message.fields)
        trials = await self._patient_rows(self.store.store.patient_trials, patient_id, "export")
        patient = await self._patient(patient_id)
        metrics = await self.store.call(self.store.store.patient_progress, self.therapist.clinic_id, patient_id)
        return envelope("export", patient_id=patient_id, patient_code=patient.code,
                        affected_side=patient.affected_side, trials=trials, metrics=metrics or [])

    async def export_patient(self, message: Envelope) -> dict[str, Any]:
        """Everything stored about a patient, every table that holds them and the audit entries
        about them: the patient's right of access. Audited by the store in the same transaction."""
        patient_id = parse_patient_id(message.fields)
        export = await self.store.call(self.store.store.export_patient, self.therapist.clinic_id, patient_id,
                                       self.therapist.id)
        if export is None:
            raise ProtocolError("not_found", f"no patient {patient_id} in your clinic")
        return envelope("patient_export", patient_id=patient_id, **export.as_json())

    async def _patient_rows(self, query: Any, patient_id: int, action: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] | None = await self.store.call(query, self.therapist.clinic_id, patient_id)
        if rows is None:
            raise ProtocolError("not_found", f"no patient {patient_id} in your clinic")
        await self._audit(action, f"patient:{patient_id}", {"rows": len(rows)})
        return rows

    async def progress(self, message: Envelope) -> dict[str, Any]:
        """A patient's stored session metrics, oldest session first: the data behind progress plots."""
        request = parse_progress(message.fields)
        rows = await self._patient_rows(partial(self.store.store.patient_progress, metrics=request.metrics),
                                        request.patient_id, "progress")
        return envelope("progress", patient_id=request.patient_id, metrics=rows)

    async def _assessments(self, patient_id: int, action: str) -> list[dict[str, Any]]:
        return await self._patient_rows(self.store.store.assessments, patient_id, action)

    async def assessment_report(self, message: Envelope) -> dict[str, Any]:
        """One assessment (the latest by default) against the baseline (the first), metric by
        metric, with the smallest change worth noting; and every assessment's values for plots."""
        request = parse_assessment_report(message.fields)
        assessments = await self._assessments(request.patient_id, "assessment_report")
        history = [{"session_id": a["session_id"], "started_at": a["started_at"], "source": a["source"],
                    "metrics": a["metrics"]} for a in assessments]
        if not assessments:
            return envelope("assessment_report", patient_id=request.patient_id, baseline_session_id=None,
                            session_id=None, rows=[], history=[])
        by_id = {a["session_id"]: a for a in assessments}
        current = by_id.get(request.session_id or assessments[-1]["session_id"])
        if current is None:
            raise ProtocolError("not_found", f"session {request.session_id} is not an assessment of "
                                f"patient {request.patient_id} with stored results")
        baseline = assessments[0]
        return envelope("assessment_report", patient_id=request.patient_id,
                        baseline_session_id=baseline["session_id"], session_id=current["session_id"],
                        rows=compare(baseline["metrics"], current["metrics"], self.server.smallest_change),
                        history=history)

    async def suggest_plan(self, message: Envelope) -> dict[str, Any]:
        """A starting plan from the latest assessment (or, without one, from the patient record)."""
        patient_id = parse_patient_id(message.fields)
        patient = await self._patient(patient_id)
        assessments = await self._assessments(patient_id, "suggest_plan")
        latest = assessments[-1] if assessments else None
        suggestion = suggest_plan(latest["metrics"] if latest else [], patient.affected_side,
                                  patient.leg_length_m, patient.step_reach_m)
        return envelope("plan_suggestion", patient_id=patient_id, plan=suggestion.plan,
                        basis=suggestion.basis, from_session_id=latest["session_id"] if latest else None)

    async def save_plan(self, message: Envelope) -> dict[str, Any]:
        request = parse_save_plan(message.fields)
        patient = await self._patient(request.patient_id)
        info = PatientInfo(Side(patient.affected_side), patient.leg_length_m, patient.step_reach_m)
        for game, entry in request.games.items():
            try:  # what only the whole settings can tell (a share above its own ceiling, say)
                GAMES[game].settings_from(entry["settings"], info)
            except ValueError as exc:
                raise ProtocolError("bad_field", f"plan.{game}: {exc}") from None
        try:
            plan = await self.store.call(self.store.store.save_plan, self.therapist.clinic_id, self.therapist.id,
                                         request.patient_id, request.games, request.source_session_id,
                                         request.note)
        except StoreError as exc:
            raise ProtocolError("bad_field", str(exc)) from None
        assert plan is not None  # the patient was found above
        return envelope("plan", patient_id=request.patient_id, plan=plan)

    async def get_plan(self, message: Envelope) -> dict[str, Any]:
        patient_id = parse_patient_id(message.fields)
        plan = await self._patient_rows(self.store.store.current_plan, patient_id, "get_plan")
        return envelope("plan", patient_id=patient_id, plan=plan or None)

    async def _patient(self, patient_id: int) -> Any:
        patient = await self.store.call(self.store.store.get_patient, self.therapist.clinic_id, patient_id)
        if patient is None:
            raise ProtocolError("not_found", f"no patient {patient_id} in your clinic")
        return patient

    async def start_game(self, message: Envelope) -> dict[str, Any]:
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

    async def _start_claimed(self, station: StationRuntime, request: StartGame) -> dict[str, Any]:
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
        session_id = await self.store.call(
            self.store.store.start_session, patient.id, station.record.id, self.therapist.id,
            self.therapist.clinic_id, request.game,
            {"settings": settings.as_dict(), "difficulty": staircase.describe()},
            staircase.initial_changes(),
            self.server.node_id,
            request.source,
        )
        game = entry.make(settings, staircase.values(), time.perf_counter())
        for direction in staircase.by_direction:
            if direction:
                game.set_difficulty(staircase.values(direction), direction)
        station.play = Play(station, session_id, patient, game, staircase, self.store, station.event_markers)
        belt = station.belt_speed_m_s(remote_fresh_s=PRESENCE_S)
        if belt is not None:  # the treadmill already runs: the targets must move with the real belt
            station.play.device_settings({"belt_speed_m_s": belt}, "treadmill belt")
        if self.conn is not None:
            station.watchers.add(self.conn)
        station.remote_config = None
        station.config_changed(f"game started by therapist {self.therapist.username}")
        self.server.check_devices(station)
        return envelope("game_started", station=station.name, session_id=session_id,
                        game=request.game, source=request.source, settings=settings.as_dict(),
                        difficulty=staircase.describe(), config=station.config_message())

    async def stop_game(self, message: Envelope) -> dict[str, Any]:
        station = await self._playing(message)
        play = station.play
        assert play is not None
        await self.server.finish_play(station, "stopped_by_therapist")
        await self._audit("stop_game", f"session:{play.session_id}", {"station": station.name})
        return envelope("game_stopped", station=station.name, session_id=play.session_id,
                        reason="stopped_by_therapist", trials=play.game.trials_done,
                        hits=play.game.hits)

    async def pause_game(self, message: Envelope) -> dict[str, Any]:
        return await self._set_paused(message, True)

    async def resume_game(self, message: Envelope) -> dict[str, Any]:
        return await self._set_paused(message, False)

    async def _set_paused(self, message: Envelope, paused: bool) -> dict[str, Any]:
        station = await self._playing(message)
        play = station.play
        assert play is not None
        if paused:
            play.pause(THERAPIST_PAUSE, time.perf_counter())
        else:
            play.resume(THERAPIST_PAUSE, time.perf_counter())
        action = "pause_game" if paused else "resume_game"
        await self._audit(action, f"session:{play.session_id}", {"station": station.name})
        return envelope("station", **station.status())

    async def set_difficulty(self, message: Envelope) -> dict[str, Any]:
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
            await self.store.call(
                self.store.store.record_difficulty_changes, play.session_id, changes,
                self.therapist.clinic_id, self.therapist.id, _jsonable(detail),
            )
        return envelope("difficulty", station=station.name, session_id=play.session_id,
                        revision=station.config_revision, settings=play.live_settings(),
                        **play.difficulty.describe())

    async def watch(self, message: Envelope) -> dict[str, Any]:
        station = await self._station(parse_station_name(message.fields))
        assert self.conn is not None
        station.watchers.add(self.conn)
        await self._audit("watch", f"station:{station.name}", {})
        await self.server.send_current_state(station, self.conn)
        config = station.current_config()  # a game hosted elsewhere: its resync brings it too
        if config is not None:
            self.conn.send(config)
        return envelope("station", **station.status())

    async def unwatch(self, message: Envelope) -> dict[str, Any]:
        station = await self._station(parse_station_name(message.fields))
        station.watchers.discard(self.conn)
        await self.server.maybe_unfollow(station)
        return envelope("station", **station.status())

    async def logout(self, message: Envelope) -> dict[str, Any]:
        """End this session: this connection closes after the reply, and any other connection
        that reconnected with the same session token is closed too."""
        message.fields.only(("type", "v", "id"))
        if self.conn is not None:
            self.conn.revoked = True  # closed by ``handle`` after its reply, not by the revocation check
        if self.token is not None:
            await self.store.call(self.store.store.revoke_login, auth.hash_token(self.token))
            self.server.revocations.check_soon()
        await self._audit("logout", f"therapist:{self.therapist.id}", {})
        return envelope("logged_out")


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

