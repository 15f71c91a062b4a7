"""The demo clinic that ``make run`` creates: a therapist, an admin, one station, one demo patient.

Credentials are generated on every call and printed once: none is stored in the repository, and
only their hashes reach the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from server import auth
from server.storage.models import ADMIN, DEVICE, HEADSET, THERAPIST
from server.storage.store import Store, StoreError

DEMO_CLINIC = "Demo Clinic"
DEMO_THERAPIST = "demo"
DEMO_ADMIN = "demo-admin"
DEMO_STATION = "station-1"
DEMO_PATIENT = "DEMO-001"


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    username: str  # the demo therapist (role therapist)
    password: str
    station: str
    station_token: str  # the station's device credential (tracker, mat, treadmill)
    headset_token: str  # the station's headset credential
    admin_username: str  # the demo clinic's admin (accounts, station credentials, audit)
    admin_password: str


def seed_demo(store: Store) -> DemoCredentials:
    """Create the demo clinic if missing and issue fresh demo credentials (idempotent)."""
    clinic_id = store.ensure_clinic(DEMO_CLINIC)
    password, admin_password = auth.new_password(), auth.new_password()
    therapist_id = _account(store, clinic_id, DEMO_THERAPIST, password, "Demo Therapist", THERAPIST)
    _account(store, clinic_id, DEMO_ADMIN, admin_password, "Demo Admin", ADMIN)
    tokens = {role: auth.new_token() for role in (DEVICE, HEADSET)}
    for role, token in tokens.items():
        store.upsert_station(clinic_id, DEMO_STATION, auth.hash_token(token), role)
    try:
        store.create_patient(clinic_id, therapist_id, DEMO_PATIENT, "L", 0.85, None,
                             "demo patient: left hemiparesis")
    except StoreError:
        pass  # already there from an earlier run
    return DemoCredentials(DEMO_THERAPIST, password, DEMO_STATION, tokens[DEVICE], tokens[HEADSET],
                           DEMO_ADMIN, admin_password)


def _account(store: Store, clinic_id: int, username: str, password: str, display_name: str, role: str) -> int:
    """The demo account, created with this password or given it."""
    existing = store.find_therapist(username)
    if existing is None:
        return store.create_therapist(clinic_id, username, auth.hash_password(password), display_name, role)
    store.set_password_hash(username, auth.hash_password(password))
    return existing.id
