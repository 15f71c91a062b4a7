"""Clinic administration, for the clinic's admins: accounts, station credentials, the audit log.

Every command is audited: a change by the store in the same transaction, a read here. A new
password or station token is returned once and only its hash is stored. A revocation (a reset
password, a deactivated account, a rotated or revoked station token) also closes the open
connections that used the old credential (:mod:`server.revocation`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server import auth
from server.codec import ProtocolError
from server.command_host import CommandHost
from server.login_guard import Busy
from server.messages import (
    COMMON,
    Envelope,
    parse_account_id,
    parse_audit_query,
    parse_create_account,
    parse_new_station,
    parse_station_role,
)
from server.record_fields import account_fields, audit_fields
from server.storage.models import STATION_ROLES
from server.storage.records import TherapistRecord
from server.storage.store import StoreError
from server.wire_messages import (
    Account,
    Accounts,
    AuditEntries,
    Outgoing,
    StationCreated,
    StationCredentials,
    StationToken,
    StationTokenRevoked,
)

Command = Callable[[Envelope], Awaitable[Outgoing]]


class AdminCommands:
    def __init__(self, server: CommandHost, admin: TherapistRecord) -> None:
        self.server = server
        self.admin = admin
        self.store = server.store

    def commands(self) -> dict[str, Command]:
        return {
            "list_accounts": self.list_accounts,
            "create_account": self.create_account,
            "deactivate_account": self.deactivate_account,
            "reactivate_account": self.reactivate_account,
            "reset_password": self.reset_password,
            "list_station_credentials": self.list_station_credentials,
            "create_station": self.create_station,
            "rotate_station_token": self.rotate_station_token,
            "revoke_station_token": self.revoke_station_token,
            "audit_log": self.audit_log,
        }

    async def _audit(self, action: str, subject: str, detail: dict[str, Any]) -> None:
        a = self.admin
        await self.store.audit(a.clinic_id, a.id, action, subject, detail)

    async def _hash(self, password: str) -> str:
        """On the bounded hashing pool, as logins are: scrypt must not stall the event loop."""
        try:
            return await self.server.hashing.run(f"admin:{self.admin.id}", auth.hash_password, password)
        except Busy as exc:
            raise ProtocolError("busy", str(exc), retry_after_s=1.0) from None

    # -- accounts -------------------------------------------------------------------------------

    async def list_accounts(self, message: Envelope) -> Outgoing:
        message.fields.only(COMMON)
        accounts = await self.store.list_accounts(self.admin.clinic_id)
        await self._audit("list_accounts", "accounts", {"count": len(accounts)})
        return Accounts(accounts=[account_fields(a) for a in accounts])

    async def create_account(self, message: Envelope) -> Outgoing:
        new = parse_create_account(message.fields)
        password = new.password or auth.new_password()
        hashed = await self._hash(password)
        try:
            account_id = await self.store.create_therapist(self.admin.clinic_id, new.username, hashed,
                                                           new.display_name, new.role, self.admin.id)
        except StoreError as exc:
            raise ProtocolError("conflict", str(exc)) from None
        account = TherapistRecord(account_id, self.admin.clinic_id, new.username, new.display_name, hashed,
                                  True, new.role)
        return Account(account=account_fields(account),
                        one_time_password=None if new.password else password)

    async def deactivate_account(self, message: Envelope) -> Outgoing:
        account_id = parse_account_id(message.fields)
        if account_id == self.admin.id:
            raise ProtocolError("bad_field", "you cannot deactivate your own account; ask another admin")
        return await self._set_active(account_id, False)

    async def reactivate_account(self, message: Envelope) -> Outgoing:
        return await self._set_active(parse_account_id(message.fields), True)

    async def _set_active(self, account_id: int, active: bool) -> Outgoing:
        account = await self.store.set_account_active(self.admin.clinic_id, account_id, active, self.admin.id)
        if account is None:
            raise ProtocolError("not_found", f"no account {account_id} in your clinic")
        self.server.revocations.check_soon()
        return Account(account=account_fields(account))

    async def reset_password(self, message: Envelope) -> Outgoing:
        account_id = parse_account_id(message.fields)
        password = auth.new_password()
        hashed = await self._hash(password)
        account = await self.store.reset_password(self.admin.clinic_id, account_id, hashed, self.admin.id)
        if account is None:
            raise ProtocolError("not_found", f"no account {account_id} in your clinic")
        self.server.revocations.check_soon()
        return Account(account=account_fields(account), one_time_password=password)

    # -- station credentials --------------------------------------------------------------------

    async def list_station_credentials(self, message: Envelope) -> Outgoing:
        message.fields.only(COMMON)
        rows = await self.store.station_credentials(self.admin.clinic_id)
        await self._audit("list_station_credentials", "stations", {"count": len(rows)})
        return StationCredentials(stations=[
            {"station": station.name, "credentials": {role: issued.isoformat() for role, issued in roles.items()}}
            for station, roles in rows])

    async def create_station(self, message: Envelope) -> Outgoing:
        name = parse_new_station(message.fields)
        tokens = {role: auth.new_token() for role in STATION_ROLES}
        try:
            await self.store.create_station(self.admin.clinic_id, name,
                                            {role: auth.hash_token(token) for role, token in tokens.items()},
                                            self.admin.id)
        except StoreError as exc:
            raise ProtocolError("conflict", str(exc)) from None
        return StationCreated(station=name, tokens=tokens)

    async def rotate_station_token(self, message: Envelope) -> Outgoing:
        request = parse_station_role(message.fields)
        token = auth.new_token()
        station = await self.store.set_station_credential(self.admin.clinic_id, request.station, request.role,
                                                          auth.hash_token(token), self.admin.id)
        if station is None:
            raise ProtocolError("not_found", f"no station named '{request.station}' in your clinic")
        self.server.revocations.check_soon()
        return StationToken(station=request.station, role=request.role, token=token)

    async def revoke_station_token(self, message: Envelope) -> Outgoing:
        request = parse_station_role(message.fields)
        done = await self.store.revoke_station_credential(self.admin.clinic_id, request.station, request.role,
                                                          self.admin.id)
        if done is None:
            raise ProtocolError("not_found", f"no station named '{request.station}' in your clinic")
        self.server.revocations.check_soon()
        return StationTokenRevoked(station=request.station, role=request.role, had_token=done)

    # -- the audit log --------------------------------------------------------------------------

    async def audit_log(self, message: Envelope) -> Outgoing:
        query = parse_audit_query(message.fields)
        entries = await self.store.audit_entries(self.admin.clinic_id, query)
        filters = {k: v for k, v in message.fields.data.items() if k not in COMMON}
        await self._audit("audit_log", "audit", {"filters": filters, "entries": len(entries)})
        return AuditEntries(entries=[audit_fields(e) for e in entries],
                        next_before_id=entries[-1].id if len(entries) == query.limit else None)
