"""GraphiQL in a real Chromium with no internet: it renders its editor and runs a query
against the service, every asset served by the service itself."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.browser.conftest import offline_page, screenshot


async def test_graphiql_renders_and_runs_a_query_offline(browser, live_server, deps):
    page, refused = await offline_page(browser, live_server.url)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = await page.goto(f"{live_server.url}/graphql")
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-eval'" not in policy
    editor = page.locator(".graphiql-query-editor .CodeMirror").first
    await editor.wait_for(state="visible", timeout=20_000)
    await page.evaluate(
        "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
        ".setValue('{ plans { code priceCents } }')"
    )
    await page.locator(".graphiql-execute-button").click()
    try:
        await expect(page.locator(".graphiql-response")).to_contain_text(
            '"premium"', timeout=20_000
        )
    finally:
        await screenshot(page, "graphiql")
    assert refused == [], f"the page reached outside the service: {refused}"
    assert errors == [], errors
