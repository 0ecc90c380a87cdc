"""Browser assets the service serves itself: GraphiQL works without internet access.

Strawberry's GraphiQL page loads React, GraphiQL and its explorer plugin from unpkg;
the same files (the same bytes: the page's subresource-integrity hashes still check
them) are vendored under resolvers/static/vendor (versions and licences in its
VENDORED.md) and the page is pointed at /static/vendor instead."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from strawberry.http.ides import get_graphql_ide_html

VENDOR = Path(__file__).parent / "static" / "vendor"
VENDOR_URL = "/static/vendor/"
_UNPKG = re.compile(r"https://unpkg\.com/")


@cache
def graphiql_html() -> str:
    """Strawberry's GraphiQL page with every unpkg URL served by us."""
    return _UNPKG.sub(VENDOR_URL, get_graphql_ide_html("graphiql"))


def asset_paths(html: str) -> list[str]:
    """The vendored files a page names (each must exist under VENDOR)."""
    return re.findall(rf'{re.escape(VENDOR_URL)}([^"\s]+)', html)


routes = [Mount(VENDOR_URL.rstrip("/"), StaticFiles(directory=VENDOR), name="vendor")]
