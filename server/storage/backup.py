"""Backup and restore of the whole database, while the server runs (backup) or is stopped (restore).

SQLite uses its online backup API, which copies a consistent snapshot page by page even while the
server writes. PostgreSQL uses ``pg_dump``/``pg_restore`` (custom format) when they are on PATH;
without them the error says how to do it by hand. Restore refuses to overwrite a database that
holds any data unless forced: restoring over a live clinic's records by mistake loses them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import URL, make_url

from server.storage.database import make_engine, normalise_url
from server.storage.models import Base

PG_BY_HAND = ("back up by hand with `pg_dump --format=custom --file FILE postgresql://USER@HOST/DB` and "
              "restore with `pg_restore --clean --if-exists --single-transaction --no-owner "
              "--dbname postgresql://USER@HOST/DB FILE` (PostgreSQL client tools of the server's major version)")


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why and what to do."""


class NotEmpty(BackupError):
    """Restore refused: the database already holds data (use force to overwrite it)."""


def backup(url: str, path: Path, force: bool = False) -> None:
    """Write a full copy of the database to ``path`` (replaced only when forced)."""
    if path.exists() and not force:
        raise BackupError(f"{path} exists: choose a new file or pass --force to replace it")
    parsed = make_url(normalise_url(url))
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            _sqlite_copy(_sqlite_file(parsed, must_exist=True), tmp)
        elif parsed.get_backend_name() == "postgresql":
            _pg_tool("pg_dump", parsed, "--format=custom", "--no-owner", "--file", str(tmp))
        else:
            raise BackupError(f"no backup for {parsed.get_backend_name()} databases")
        os.replace(tmp, path)  # a backup file is whole or absent, never half-written
    finally:
        tmp.unlink(missing_ok=True)


def restore(url: str, path: Path, force: bool = False) -> None:
    """Replace the database's contents with a backup made by :func:`backup`.

    Stop the server first. Refused (:class:`NotEmpty`) when the database holds any data, unless
    forced. Run ``migrate`` afterwards when the backup came from an older version."""
    if not path.is_file():
        raise BackupError(f"no backup file {path}")
    parsed = make_url(normalise_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _check_sqlite_backup(path)
    elif backend != "postgresql":
        raise BackupError(f"no restore for {backend} databases")
    rows = data_rows(url)
    if rows and not force:
        raise NotEmpty(f"the database holds {rows} rows of data: pass --force to replace them with the backup")
    if backend == "sqlite":
        _sqlite_copy(path, _sqlite_file(parsed, must_exist=False))
    else:
        _pg_tool("pg_restore", parsed, "--clean", "--if-exists", "--single-transaction", "--no-owner",
                 "--exit-on-error", str(path))


def data_rows(url: str) -> int:
    """How many rows StrideVR's tables hold (0 for a new or freshly migrated database)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            return sum(conn.scalar(select(func.count()).select_from(table)) or 0
                       for table in Base.metadata.sorted_tables if table.name in present)
    finally:
        engine.dispose()


def _sqlite_file(parsed: URL, must_exist: bool) -> Path:
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    file = Path(parsed.database)
    if must_exist and not file.is_file():
        raise BackupError(f"no database at {file}")
    return file


def _sqlite_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _check_sqlite_backup(path: Path) -> None:
    """Refuse anything but a StrideVR SQLite database before it overwrites the live one."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not an SQLite backup: {exc}") from None
    if "alembic_version" not in tables or "patients" not in tables:
        raise BackupError(f"{path} is not a StrideVR database backup")


def _pg_tool(tool: str, parsed: URL, *args: str) -> None:
    """Run pg_dump or pg_restore on the database; the password travels in the environment, not
    on the command line where ``ps`` shows it."""
    exe = shutil.which(tool)
    if exe is None:
        raise BackupError(f"{tool} is not on PATH: install the PostgreSQL client tools, or {PG_BY_HAND}")
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    done = subprocess.run([exe, "--dbname", libpq, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip() or done.returncode}")
