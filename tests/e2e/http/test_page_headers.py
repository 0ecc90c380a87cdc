"""Every browser page the service serves (console, portal, hosted checkout, GraphiQL)
forbids framing and anything not served by the service, does not let a browser sniff
types, and keeps its address to itself (the browser tests show the pages still work
under these policies: tests/e2e/browser)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/console", "/portal", "/checkout/abc", "/graphql"])
async def test_each_page_sends_its_security_headers(api, path):
    response = await api.client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
