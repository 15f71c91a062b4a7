"""Command line for accounts and station credentials: the first admin, passwords, station tokens.

Passwords are asked on the terminal, or read from the first line of stdin when it is not one
(scripts). Exit codes: 0 done, 1 not found or already there, 2 refused (a password too short).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from server import auth
from server.storage.models import ADMIN, DEVICE, STATION_ROLES, THERAPIST
from server.storage.store import Store, StoreError

COMMANDS = frozenset({"create-therapist", "set-password", "set-active", "station-token"})


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    create = sub.add_parser("create-therapist", help="create an account (password asked on stdin)")
    create.add_argument("username")
    create.add_argument("--clinic", required=True, help="the clinic's name (created if new)")
    create.add_argument("--admin", action="store_true", help="a clinic admin: manages accounts and stations")
    create.add_argument("--display-name", default="", help="the name the panel shows")
    pw = sub.add_parser("set-password", help="set an account's password (asked on stdin); its sessions end")
    pw.add_argument("username")
    active = sub.add_parser("set-active", help="deactivate (its sessions end) or reactivate an account")
    active.add_argument("username")
    active.add_argument("state", choices=("on", "off"))
    tok = sub.add_parser("station-token", help="issue a new token for one role of a station and print it "
                                               "(the role's old token stops working)")
    tok.add_argument("station")
    tok.add_argument("--role", choices=STATION_ROLES, default=DEVICE,
                     help="device (tracker, mat, treadmill) or headset; default device")
    tok.add_argument("--clinic", default=None, help="clinic name, to create a new station")


def run(command: str, args: argparse.Namespace, database_url: str) -> int:
    store = Store(database_url)
    try:
        if command == "create-therapist":
            return _create(store, args.username, args.clinic, ADMIN if args.admin else THERAPIST, args.display_name)
        if command == "set-password":
            return _set_password(store, args.username)
        if command == "set-active":
            return _set_active(store, args.username, args.state == "on")
        return _station_token(store, args.station, args.role, args.clinic)
    finally:
        store.close()


def _read_password() -> str:
    return getpass.getpass("new password: ") if sys.stdin.isatty() else sys.stdin.readline().strip()


def _hashed_password() -> str | None:
    try:
        return auth.hash_password(_read_password())
    except ValueError as exc:
        _fail(str(exc))
        return None


def _create(store: Store, username: str, clinic: str, role: str, display_name: str) -> int:
    if store.find_therapist(username) is not None:
        return _fail(f"an account named {username!r} already exists", 1)
    hashed = _hashed_password()
    if hashed is None:
        return 2
    try:
        store.create_therapist(store.ensure_clinic(clinic), username, hashed, display_name, role)
    except StoreError as exc:
        return _fail(str(exc), 1)
    print(f"{role} {username} created in clinic {clinic}")
    return 0


def _set_password(store: Store, username: str) -> int:
    hashed = _hashed_password()
    if hashed is None:
        return 2
    if not store.set_password_hash(username, hashed):
        return _fail(f"no therapist named {username!r}", 1)
    print(f"password set for {username}; its open sessions are ended")
    return 0


def _set_active(store: Store, username: str, active: bool) -> int:
    account = store.find_therapist(username)
    if account is None:
        return _fail(f"no therapist named {username!r}", 1)
    store.set_account_active(account.clinic_id, account.id, active, None)
    print(f"{username} {'reactivated' if active else 'deactivated; its open sessions are ended'}")
    return 0


def _station_token(store: Store, name: str, role: str, clinic: str | None) -> int:
    existing = store.find_station(name)
    if existing is None and clinic is None:
        return _fail(f"no station {name!r}; pass --clinic NAME to create it", 1)
    clinic_id = existing.clinic_id if existing is not None else store.ensure_clinic(clinic or "")
    token = auth.new_token()
    try:
        store.upsert_station(clinic_id, name, auth.hash_token(token), role)
    except StoreError as exc:
        return _fail(str(exc), 1)
    print(f"station {name} {role} token: {token}")
    return 0


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
