"""Browser pages and assets the service serves itself: GraphiQL works without internet
access, and the admin console (/console), the customer portal (/portal) and the hosted
checkout (/checkout/{id}) are static pages whose scripts use the public GraphQL API.

Strawberry's GraphiQL page loads React, GraphiQL and its explorer plugin from unpkg;
the same files (the same bytes: the page's subresource-integrity hashes still check
them) are vendored under resolvers/http/static/vendor (versions and licences in its
VENDORED.md) and the page is pointed at /static/vendor instead."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.http.ides import get_graphql_ide_html

STATIC = Path(__file__).parent / "static"
VENDOR = STATIC / "vendor"
APP = STATIC / "app"
VENDOR_URL = "/static/vendor/"
_UNPKG = re.compile(r"https://unpkg\.com/")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_EXAMPLE = re.compile(r"const EXAMPLE_QUERY = `.*?`;", re.DOTALL)
# What GraphiQL opens with: a query anyone may run, and how to sign in for the rest. It
# lands in a JavaScript template literal: no backticks, no "${".
EXAMPLE_QUERY = """# The subscription service's GraphQL API (docs/api.md has a guide).
#
# Plans need no token. Everything else does: open "Headers" below and set
#
#     {"Authorization": "Bearer <token>"}
#
# (in development, mutation { developmentToken(input: {userId: "alice"}) { token } }
# mints one). Run with Ctrl-Enter.

{
  plans {
    code
    name
    priceCents
    currency
    interval
    intervalCount
    trialDays
  }
}
"""

# Every page loads only what the service serves, and no other site may frame it.
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HARDENING = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
PAGE_HEADERS = {"Content-Security-Policy": _PAGE_POLICY, **_HARDENING}


@cache
def graphiql_html() -> str:
    """Strawberry's GraphiQL page with every unpkg URL served by us, opening with our
    example query."""
    html = _UNPKG.sub(VENDOR_URL, get_graphql_ide_html("graphiql"))
    assert "`" not in EXAMPLE_QUERY and "${" not in EXAMPLE_QUERY
    example = "const EXAMPLE_QUERY = `" + EXAMPLE_QUERY + "`;"
    html = _EXAMPLE.sub(lambda _: example, html, count=1)
    return html.replace("<head>", '<head>\n    <link rel="icon" href="/favicon.svg">', 1)


@cache
def graphiql_headers() -> dict[str, str]:
    """GraphiQL's page runs one inline script (allowed by its hash, nothing else inline)
    and its editor sets inline styles."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(graphiql_html())
    )
    policy = _PAGE_POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}").replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
    return {"Content-Security-Policy": policy, **_HARDENING}


def asset_paths(html: str) -> list[str]:
    """The vendored files a page names (each must exist under VENDOR)."""
    return re.findall(rf'{re.escape(VENDOR_URL)}([^"\s]+)', html)


def _page(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return FileResponse(APP / name, headers={"Cache-Control": "no-cache", **PAGE_HEADERS})

    return page


async def favicon(request: Request) -> Response:
    return FileResponse(
        APP / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
    )


routes = [
    Route("/", _page("index.html"), methods=["GET"]),
    Route("/favicon.ico", favicon, methods=["GET"]),
    Route("/favicon.svg", favicon, methods=["GET"]),
    Mount(VENDOR_URL.rstrip("/"), StaticFiles(directory=VENDOR), name="vendor"),
    Mount("/static/app", StaticFiles(directory=APP), name="app"),
    Route("/console", _page("console.html"), methods=["GET"]),
    Route("/portal", _page("portal.html"), methods=["GET"]),
    Route("/checkout/{session_id}", _page("checkout.html"), methods=["GET"]),
]
