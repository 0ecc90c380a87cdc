"""Where an endpoint's host leads: in production a webhook may only reach public
addresses (unless WEBHOOK_ALLOW_PRIVATE), checked when the URL is set and again before
every POST, because a name can be pointed elsewhere after it was accepted."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from services.common.errors import DomainError, ErrorCode
from services.platform.config import Settings
from services.webhooks.rules import blocked_address, check_url


def guarded(settings: Settings) -> bool:
    """Whether deliveries must stay off private addresses."""
    return settings.is_production and not settings.webhook_allow_private


async def refusal(url: str) -> str | None:
    """Why `url`'s host may not be posted to (it resolves to a private address, or not
    at all), None when every address it resolves to is public."""
    host = urlsplit(url).hostname or ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as failure:
        return f"{host} does not resolve ({failure})"
    blocked = sorted({str(info[4][0]) for info in found if blocked_address(str(info[4][0]))})
    if blocked:
        return f"{host} resolves to {', '.join(blocked)}, not a public address"
    return None


async def check_endpoint_url(url: str, settings: Settings) -> str:
    """`check_url`, https in production, and no private address unless allowed."""
    url = check_url(url, https_only=settings.is_production)
    if guarded(settings) and (why := await refusal(url)):
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{why} (WEBHOOK_ALLOW_PRIVATE=1 allows it)", "url"
        )
    return url
