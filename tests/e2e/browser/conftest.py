"""Browser tests drive the machine's Chromium (Debian's `chromium`) through Playwright;
browser downloads are impossible here. Requests to anything but the service are
refused, so a page that needs a CDN fails as it would offline. Screenshots go to
.artifacts/screenshots (kept by CI, ignored by git)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, Route, async_playwright

SCREENSHOTS = Path(__file__).resolve().parents[3] / ".artifacts" / "screenshots"


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        raise RuntimeError(
            "browser tests need Chromium: `apt-get install chromium` (.ci/run does it), "
            "or set CHROMIUM_PATH"
        )
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


async def offline_page(browser: Browser, base_url: str) -> tuple[Page, list[str]]:
    """A page that may only reach `base_url`; what else it asked for is listed, and so
    is anything the page's Content-Security-Policy blocked (the pages must need
    nothing it forbids)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    refused: list[str] = []

    async def only_the_service(route: Route) -> None:
        if route.request.url.startswith(base_url):
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_service)
    page.on(
        "console",
        lambda message: (
            refused.append(f"CSP: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return page, refused


def confirming(page: Page) -> list[str]:
    """Accept every confirmation the page asks for; the list fills with their texts."""
    asked: list[str] = []

    async def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    return asked


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
