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
    # It opens with our example and how to send a token, not a generic welcome.
    await expect(editor).to_contain_text('"Authorization": "Bearer <token>"')
    await expect(editor).to_contain_text("intervalCount")
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


async def test_the_root_lists_the_pages_and_every_page_has_an_icon(browser, live_server):
    page, refused = await offline_page(browser, live_server.url)
    await page.goto(f"{live_server.url}/")
    links = page.locator("#pages a")
    await expect(links).to_have_count(3)
    for name, path in (("Customer portal", "/portal"), ("Admin console", "/console")):
        await expect(page.get_by_role("link", name=name)).to_have_attribute("href", path)
    icon = await page.request.get(f"{live_server.url}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
    for path in ("/", "/portal", "/console"):
        await page.goto(f"{live_server.url}{path}")
        assert await page.locator('link[rel="icon"]').get_attribute("href") == "/favicon.svg"
    assert refused == []
