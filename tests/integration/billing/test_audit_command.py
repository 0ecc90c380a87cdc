"""`main.py audit` as an operator runs it: exit 0 over a database the tests filled, and
exit 1 with one clear line per broken invariant, naming the row, when a row is broken
by hand (and 0 again once it is repaired)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import execute, scalar
from tests.integration.billing.test_money_together import paid_1000

ROOT = Path(__file__).resolve().parents[3]


def audit(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "main.py", "audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_audit_passes_then_names_each_row_broken_by_hand(deps, database_url):
    await paid_1000(deps, "audited")
    number = await scalar(deps, "SELECT number FROM invoices WHERE user_id = 'audited'")
    clean = audit(database_url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "invariants hold" in clean.stdout

    await execute(
        deps, "UPDATE invoices SET total_cents = total_cents + 1 WHERE number = :n", n=number
    )
    await execute(
        deps,
        "INSERT INTO credit_balances (user_id, currency, balance_cents, updated_at)"
        " VALUES ('audited', 'USD', 5, now())",
    )
    try:
        broken = audit(database_url)
    finally:
        await execute(
            deps, "UPDATE invoices SET total_cents = total_cents - 1 WHERE number = :n", n=number
        )
        await execute(deps, "DELETE FROM credit_balances WHERE user_id = 'audited'")
    assert broken.returncode == 1
    lines = broken.stdout.splitlines()
    assert any(
        line.startswith("invoice_lines:") and f"{number} total 1001, lines 1000" in line
        for line in lines
    ), lines
    assert any(line.startswith("invoice_paid:") and number in line for line in lines), lines
    assert any(
        line.startswith("credit_balances:") and "audited balance 5, ledger sum 0" in line
        for line in lines
    ), lines
    assert audit(database_url).returncode == 0
