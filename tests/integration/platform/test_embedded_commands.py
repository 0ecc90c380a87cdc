"""The embedded default's commands, as a new user runs them: initdb's chatter goes to a
log file, and `main.py stop` stops the server that Ctrl-C leaves running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(data_dir: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    }
    env["EMBEDDED_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "main.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def test_stop_stops_the_embedded_server_and_initdb_output_goes_to_a_file(tmp_path):
    data_dir = tmp_path / "postgres"
    migrated = run(data_dir, "migrate")
    assert "database is at the newest migration" in migrated.stdout
    console = migrated.stdout + migrated.stderr
    assert "initdb" not in console and "Success. You can now start" not in console
    log = (tmp_path / "embedded-postgres.log").read_text()
    assert "initdb" in log
    assert (data_dir / "postmaster.pid").exists()

    stopped = run(data_dir, "stop")
    assert "stopped the embedded PostgreSQL" in stopped.stdout
    assert not (data_dir / "postmaster.pid").exists()
    assert "no embedded PostgreSQL runs" in run(data_dir, "stop").stdout
