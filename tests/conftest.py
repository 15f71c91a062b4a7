"""Shared fixtures: a real database (SQLite, or PostgreSQL when asked) and a real server."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from clients.link import StationTokens
from scoring.metric import MetricValue
from server.app import StrideServer
from server.config import Settings
from server.demo import DemoCredentials, seed_demo
from server.storage.database import make_engine, migrate
from server.storage.records import StationRecord, TherapistRecord
from server.storage.store import AsyncStore, Store

PG_ENV = "STRIDEVR_TEST_DATABASE_URL"

# The test layers (``pytest -m unit|integration|browser``), read from the fixtures a test uses, so
# a new test lands in the right layer without anyone remembering to mark it. A test that starts its
# own server, process or database without these fixtures says so with ``pytest.mark.integration``.
BROWSER_FIXTURES = frozenset({"panel", "browser_available"})
INTEGRATION_FIXTURES = frozenset({"running", "database_url", "store"})
LAYERS = ("unit", "integration", "browser")

# CI explores the same examples every run (a red build must be reproducible); local runs explore anew.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its layer: browser, else integration, else unit."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if fixtures & BROWSER_FIXTURES or item.get_closest_marker("browser"):
            continue
        if fixtures & INTEGRATION_FIXTURES or item.get_closest_marker("db"):
            item.add_marker(pytest.mark.integration)
        if not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _unit_tests_open_no_sockets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that connects or listens on a network socket fails at once: it belongs to the
    integration layer (mark it so). Unix socket pairs (the event loop's own) stay allowed."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{request.node.nodeid} is marked unit but opens a network socket: "
                             "mark it integration (tests/conftest.py explains the layers)")

    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, refuse)


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database: PostgreSQL if ``STRIDEVR_TEST_DATABASE_URL`` is set."""
    url = os.environ.get(PG_ENV)
    if url:
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path / 'stridevr-test.sqlite3'}"
    migrate(url)
    yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    yield s
    s.close()


@dataclass
class RunningServer:
    server: StrideServer
    store: AsyncStore
    creds: DemoCredentials

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"

    @property
    def tokens(self) -> StationTokens:
        """The demo station's device and headset tokens, for the tools that play as both."""
        return StationTokens(self.creds.station_token, self.creds.headset_token)

    def demo_records(self) -> tuple[Store, StationRecord, TherapistRecord]:
        """The sync store, and the demo station's and therapist's records."""
        return demo_records(self.store.store, self.creds.username, self.creds.station)

    def seed_assessment(self, patient_id: int, values: dict[tuple[str, str, str], float]) -> int:
        return seed_assessment(self.store.store, self.creds.username, self.creds.station, patient_id, values)


def demo_records(store: Store, username: str, station_name: str) -> tuple[Store, StationRecord, TherapistRecord]:
    station = store.find_station(station_name)
    therapist = store.find_therapist(username)
    assert station is not None and therapist is not None
    return store, station, therapist


def seed_assessment(store: Store, username: str, station_name: str, patient_id: int,
                    values: dict[tuple[str, str, str], float]) -> int:
    """A finished assessment session with these metrics ``{(metric, side, direction): value}``,
    stored as the server stores one (run by this therapist on this station)."""
    _, station, therapist = demo_records(store, username, station_name)
    session_id = store.start_session(patient_id, station.id, therapist.id, therapist.clinic_id,
                                     "assessment", {}, [])
    store.record_session_metrics(session_id, patient_id, "assessment", [
        MetricValue("assessment", metric, value, side, direction)
        for (metric, side, direction), value in values.items()])
    store.end_session(session_id, "completed")
    return session_id


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[RunningServer]:
    """The full server with these settings (on a free port unless they name one), the demo
    clinic seeded in its database."""
    store = Store(settings.database_url)
    creds = seed_demo(store)
    async_store = AsyncStore(store)
    server = StrideServer(settings, async_store)
    await server.start()
    try:
        yield RunningServer(server, async_store, creds)
    finally:
        await server.stop()
        async_store.close()


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningServer]:
    """The full server on a free port, with the demo clinic seeded."""
    async with serving(Settings(host="127.0.0.1", port=0, database_url=database_url)) as server:
        yield server


# The browser tests' fixtures, defined beside their helpers (imported last: they need RunningServer).
from tests.panel_helpers import browser_available, panel  # noqa: E402, F401
