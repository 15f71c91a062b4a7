"""Shared fixtures: a real database (SQLite, or PostgreSQL when asked) and a real server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from scoring.storage.database import make_engine, migrate
from scoring.storage.store import AsyncStore, Store
from server.app import StrideServer
from server.config import Settings
from server.demo import DemoCredentials, seed_demo

PG_ENV = "STRIDEVR_TEST_DATABASE_URL"

# CI explores the same examples every run (a red build must be reproducible); local runs explore anew.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


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


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningServer]:
    """The full server on a free port, with the demo clinic seeded."""
    store = Store(database_url)
    creds = seed_demo(store)
    async_store = AsyncStore(store)
    server = StrideServer(Settings(host="127.0.0.1", port=0, database_url=database_url), async_store)
    await server.start()
    try:
        yield RunningServer(server, async_store, creds)
    finally:
        await server.stop()
        async_store.close()
