"""A short, seeded schemathesis round inside the suite (the long one is
`python -m bench.fuzz`): no generated operation may end in an internal error."""

from __future__ import annotations

import asyncio

import pytest

from bench.fuzz import fuzz
from services.platform.auth import Role


@pytest.mark.parametrize("roles", [(Role.ADMIN,), ()], ids=["admin", "user"])
async def test_a_seeded_fuzz_round_finds_no_internal_error(api, live_server, roles):
    token = api.token("fuzzer", *roles)
    run = await asyncio.to_thread(
        fuzz, f"{live_server.url}/graphql", token, "suite", max_examples=15, seed=20261130
    )
    assert run.generated > 100, run.output[-2000:]
    assert (run.returncode, run.failures) == (0, 0), run.output[-4000:]
