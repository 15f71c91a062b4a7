"""The demo clinic that ``make run`` creates: one therapist, one station, one demo patient.

Credentials are generated on every call and printed once: none is stored in the repository, and
only their hashes reach the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from scoring.storage.store import Store, StoreError
from server import auth

DEMO_CLINIC = "Demo Clinic"
DEMO_THERAPIST = "demo"
DEMO_STATION = "station-1"
DEMO_PATIENT = "DEMO-001"


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    username: str
    password: str
    station: str
    station_token: str


def seed_demo(store: Store) -> DemoCredentials:
    """Create the demo clinic if missing and issue fresh demo credentials (idempotent)."""
    clinic_id = store.ensure_clinic(DEMO_CLINIC)
    password = auth.new_password()
    token = auth.new_token()
    if store.find_therapist(DEMO_THERAPIST) is None:
        therapist_id = store.create_therapist(
            clinic_id, DEMO_THERAPIST, auth.hash_password(password), "Demo Therapist"
        )
    else:
        store.set_password_hash(DEMO_THERAPIST, auth.hash_password(password))
        therapist = store.find_therapist(DEMO_THERAPIST)
        assert therapist is not None
        therapist_id = therapist.id
    store.upsert_station(clinic_id, DEMO_STATION, auth.hash_token(token))
    try:
        store.create_patient(clinic_id, therapist_id, DEMO_PATIENT, "L", 0.85, None,
                             "demo patient: left hemiparesis")
    except StoreError:
        pass  # already there from an earlier run
    return DemoCredentials(DEMO_THERAPIST, password, DEMO_STATION, token)
