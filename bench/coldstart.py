"""Cold start on the embedded default: from `main.py serve` to the first answered
`{ plans { code } }`, with a fresh data directory and again with the data it left."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.common import Report, Result

ROOT = Path(__file__).resolve().parent.parent
QUERY = {"query": "{ plans { code } }"}


def first_answer(data_dir: Path, port: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["EMBEDDED_DATA_DIR"] = str(data_dir)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "main.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < 180:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/graphql", json=QUERY, timeout=2)
                if response.status_code == 200 and "premium" in response.text:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("no answer within 180 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def stop_embedded(data_dir: Path) -> None:
    """The embedded server outlives the service by design; the benchmark stops it."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(
            proc.info["cmdline"] or []
        ):
            proc.terminate()


def run(report: Report) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="subsvc-cold-")) / "postgres"
    try:
        fresh = first_answer(data_dir, 8196)
        again = first_answer(data_dir, 8197)
    finally:
        stop_embedded(data_dir)
        time.sleep(1)
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    report.add(Result("cold start, fresh embedded data directory", fresh, "s", None, "< 60 s"))
    report.add(Result("cold start, existing data", again, "s"))


if __name__ == "__main__":
    report = Report()
    run(report)
    report.print_table()
