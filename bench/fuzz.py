"""Schema fuzzing as a habit: `python -m bench.fuzz [--seconds 300]` starts the service
on a fresh database and runs schemathesis (GraphQL mode) against /graphql for the given
time with an admin token, then with a user token, failing on any internal error (see
bench/fuzz_checks.py; coded business errors are not failures). The test suite runs a
short seeded round of the same (tests/e2e/graphql/test_fuzz.py)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKS_MODULE = "bench.fuzz_checks"


@dataclass(frozen=True)
class FuzzRun:
    label: str
    returncode: int
    generated: int
    failures: int
    output: str


def fuzz(
    graphql_url: str,
    token: str,
    label: str,
    *,
    seconds: int | None = None,
    max_examples: int | None = None,
    seed: int | None = None,
) -> FuzzRun:
    """One schemathesis run against `graphql_url` with `token`."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        graphql_url,
        "--checks",
        "no_internal_error",
        "--phases",
        "fuzzing",
        "--header",
        f"Authorization: Bearer {token}",
        "--no-color",
    ]
    if seconds is not None:
        command += ["--max-time", str(seconds)]
    if max_examples is not None:
        command += ["--max-examples", str(max_examples)]
    if seed is not None:
        command += ["--seed", str(seed)]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": CHECKS_MODULE, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    output = done.stdout + done.stderr
    counts = re.search(r"(\d+) generated(?:, (\d+) found)?", output)
    generated = int(counts.group(1)) if counts else 0
    failures = int(counts.group(2)) if counts and counts.group(2) else 0
    return FuzzRun(label, done.returncode, generated, failures, output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=300, help="per token")
    parser.add_argument("--port", type=int, default=8193)
    args = parser.parse_args()

    from bench.common import drop_database, fresh_database
    from bench.http import _serve, stop
    from services.platform.auth import Role, mint_token
    from services.platform.clock import SystemClock
    from services.platform.config import Settings

    url, admin = fresh_database("fuzz")
    env = {
        "DATABASE_URL": url,
        "TEST_CLOCK": "1",  # the clock operations are fuzzed too
        "RATE_LIMIT_MUTATIONS": "100000/second",  # measure the schema, not the limiter
        "RATE_LIMIT_AUTH_FAILURES": "100000/second",
    }
    service = _serve(
        ["main.py", "serve", "--port", str(args.port), "--with-worker"], env, args.port
    )
    try:
        settings, now = Settings(), SystemClock().now()
        lifetime = timedelta(seconds=args.seconds * 3 + 600)
        tokens = {
            "admin": mint_token(settings, "fuzz-admin", [Role.ADMIN], now, lifetime),
            "user": mint_token(settings, "fuzz-user", [], now, lifetime),
        }
        runs = []
        for label, token in tokens.items():
            print(f"== {label} token, {args.seconds} s", flush=True)
            run = fuzz(f"http://127.0.0.1:{args.port}/graphql", token, label, seconds=args.seconds)
            print(run.output[-3000:], flush=True)
            runs.append(run)
    finally:
        stop(service)
        drop_database(url, admin)
    for run in runs:
        print(f"{run.label}: {run.generated} operations generated, {run.failures} failures")
    sys.exit(1 if any(run.returncode or run.failures for run in runs) else 0)


if __name__ == "__main__":
    main()
