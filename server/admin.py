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
from server.codec import ProtocolError, envelope
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
from server.storage.models import STATION_ROLES
from server.storage.records import TherapistRecord
from server.storage.store import StoreError

Command = Callable[[Envelope], Awaitable[dict[str, Any]]]


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
        await self.store.call(self.store.store.audit, a.clinic_id, a.id, action, subject, detail)

    async def _hash(self, password: str) -> str:
        """On the bounded hashing pool, as logins are: scrypt must not stall the event loop."""
        try:
            return await self.server.hashing.run(f"admin:{self.admin.id}", auth.hash_password, password)
        except Busy as exc:
            raise ProtocolError("busy", str(exc), retry_after_s=1.0) from None

    # -- accounts -------------------------------------------------------------------------------

    async def list_accounts(self, message: Envelope) -> dict[str, Any]:
        message.fields.only(COMMON)
        accounts = await self.store.call(self.store.store.list_accounts, self.admin.clinic_id)
        await self._audit("list_accounts", "accounts", {"count": len(accounts)})
        return envelope("accounts", accounts=[a.public() for a in accounts])

    async def create_account(self, message: Envelope) -> dict[str, Any]:
        new = parse_create_account(message.fields)
        password = new.password or auth.new_password()
        hashed = await self._hash(password)
        try:
            account_id = await self.store.call(self.store.store.create_therapist, self.admin.clinic_id,
                                               new.username, hashed, new.display_name, new.role, self.admin.id)
        except StoreError as exc:
            raise ProtocolError("conflict", str(exc)) from None
        account = {"id": account_id, "username": new.username, "display_name": new.display_name,
                   "role": new.role, "active": True}
        return envelope("account", account=account,
                        one_time_password=None if new.password else password)

    async def deactivate_account(self, message: Envelope) -> dict[str, Any]:
        account_id = parse_account_id(message.fields)
        if account_id == self.admin.id:
            raise ProtocolError("bad_field", "you cannot deactivate your own account; ask another admin")
        return await self._set_active(account_id, False)

    async def reactivate_account(self, message: Envelope) -> dict[str, Any]:
        return await self._set_active(parse_account_id(message.fields), True)

    async def _set_active(self, account_id: int, active: bool) -> dict[str, Any]:
        account = await self.store.call(self.store.store.set_account_active, self.admin.clinic_id, account_id,
                                        active, self.admin.id)
        if account is None:
            raise ProtocolError("not_found", f"no account {account_id} in your clinic")
        self.server.revocations.check_soon()
        return envelope("account", account=account.public())

    async def reset_password(self, message: Envelope) -> dict[str, Any]:
        account_id = parse_account_id(message.fields)
        password = auth.new_password()
        hashed = await self._hash(password)
        account = await self.store.call(self.store.store.reset_password, self.admin.clinic_id, account_id,
                                        hashed, self.admin.id)
        if account is None:
            raise ProtocolError("not_found", f"no account {account_id} in your clinic")
        self.server.revocations.check_soon()
        return envelope("account", account=account.public(), one_time_password=password)

    # -- station credentials --------------------------------------------------------------------

    async def list_station_credentials(self, message: Envelope) -> dict[str, Any]:
        message.fields.only(COMMON)
        rows = await self.store.call(self.store.store.station_credentials, self.admin.clinic_id)
        await self._audit("list_station_credentials", "stations", {"count": len(rows)})
        return envelope("station_credentials", stations=[
            {"station": station.name, "credentials": {role: issued.isoformat() for role, issued in roles.items()}}
            for station, roles in rows])

    async def create_station(self, message: Envelope) -> dict[str, Any]:
        name = parse_new_station(message.fields)
        tokens = {role: auth.new_token() for role in STATION_ROLES}
        try:
            await self.store.call(self.store.store.create_station, self.admin.clinic_id, name,
                                  {role: auth.hash_token(token) for role, token in tokens.items()}, self.admin.id)
        except StoreError as exc:
            raise ProtocolError("conflict", str(exc)) from None
        return envelope("station_created", station=name, tokens=tokens)

    async def rotate_station_token(self, message: Envelope) -> dict[str, Any]:
        request = parse_station_role(message.fields)
        token = auth.new_token()
        station = await self.store.call(self.store.store.set_station_credential, self.admin.clinic_id,
                                        request.station, request.role, auth.hash_token(token), self.admin.id)
        if station is None:
            raise ProtocolError("not_found", f"no station named '{request.station}' in your clinic")
        self.server.revocations.check_soon()
        return envelope("station_token", station=request.station, role=request.role, token=token)

    async def revoke_station_token(self, message: Envelope) -> dict[str, Any]:
        request = parse_station_role(message.fields)
        done = await self.store.call(self.store.store.revoke_station_credential, self.admin.clinic_id,
                                     request.station, request.role, self.admin.id)
        if done is None:
            raise ProtocolError("not_found", f"no station named '{request.station}' in your clinic")
        self.server.revocations.check_soon()
        return envelope("station_token_revoked", station=request.station, role=request.role, had_token=done)

    # -- the audit log --------------------------------------------------------------------------

    async def audit_log(self, message: Envelope) -> dict[str, Any]:
        query = parse_audit_query(message.fields)
        entries = await self.store.call(self.store.store.audit_entries, self.admin.clinic_id, query)
        filters = {k: v for k, v in message.fields.data.items() if k not in COMMON}
        await self._audit("audit_log", "audit", {"filters": filters, "entries": len(entries)})
        return envelope("audit_entries", entries=entries,
                        next_before_id=entries[-1]["id"] if len(entries) == query.limit else None)
