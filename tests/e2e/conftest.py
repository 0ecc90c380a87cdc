"""End-to-end fixtures: GraphQL and HTTP against a live uvicorn with real JWTs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.gateway.local import LocalGateway
from services.platform.auth import Role, mint_token
from services.platform.clock import FrozenClock, SystemClock
from services.platform.config import Settings
from services.platform.deps import Deps
from tests.conftest import START, LiveServer


@pytest.fixture
def clock(live_clock: FrozenClock) -> FrozenClock:
    """The live server's clock, back at the start for every test."""
    live_clock.moment = START
    return live_clock


@pytest.fixture
def gateway(live_gateway: LocalGateway) -> LocalGateway:
    live_gateway.available = True
    return live_gateway


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings, clock: FrozenClock) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock

    def token(self, user: str, *roles: Role) -> str:
        # Token expiry is checked against real time, not the service clock.
        return mint_token(self.settings, user, list(roles), SystemClock().now())

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        user: str | None = None,
        roles: tuple[Role, ...] = (),
        token: str | None = None,
    ) -> dict[str, Any]:
        headers = {}
        bearer = token or (self.token(user, *roles) if user else None)
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def api(
    live_server: LiveServer, deps: Deps, settings: Settings, clock: FrozenClock
) -> AsyncIterator[Api]:
    # The database was just emptied: nothing the server cached may outlive that.
    cache = live_server.app.state.deps.cache
    if cache is not None:
        await cache.invalidate_everyone()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        yield Api(client, settings, clock)
