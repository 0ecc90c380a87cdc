"""The admin console in a real Chromium, offline: a user token sees no data, changes made
through the API appear in the live feed without a reload, the metrics page shows what
SQL counts here, and a price set from the console is what `plans` says."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Page, expect

from services.platform.auth import Role
from tests.conftest import scalar
from tests.e2e.browser.conftest import confirming, offline_page, screenshot
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE
from tests.e2e.websockets.test_live import relay, until_listening


async def signed_in(page: Page, base: str, token: str, path: str = "/console") -> None:
    """Paste a token into the sign-in form, as a person would."""
    await page.goto(f"{base}{path}")
    await page.get_by_label("Admin token" if path == "/console" else "Your token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_user_token_cannot_open_the_console(browser, api):
    page, refused = await offline_page(browser, api.client.base_url.__str__().rstrip("/"))
    await signed_in(page, str(api.client.base_url).rstrip("/"), api.token("mallory"))
    await expect(page.get_by_role("alert")).to_contain_text("not an admin")
    assert await page.locator("#subscriptions-table").count() == 0
    assert await page.get_by_role("navigation").is_hidden()
    await screenshot(page, "console-refused")
    assert refused == []


async def test_changes_made_through_the_api_appear_in_the_live_feed(
    browser, api, deps, live_server
):
    base = str(api.client.base_url).rstrip("/")
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token("root", Role.ADMIN))
    await expect(page.locator("#subscriptions-table")).to_be_visible()
    await page.get_by_role("link", name="Live feed").click()
    await expect(page.locator("#feed-list")).to_contain_text("Waiting for changes")
    await until_listening(live_server, 1)  # the page's socket subscribed
    await api.gql(
        SUBSCRIBE,
        {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
        user="feedy",
    )
    await relay(deps, live_server).drain()  # the worker's relay, publishing the outbox
    await expect(page.locator("#feed-list")).to_contain_text("feedy", timeout=10_000)
    await expect(page.locator("#feed-list")).to_contain_text("TRIALING")
    await page.get_by_role("link", name="Subscriptions").click()
    await expect(page.locator("#subscriptions-table")).to_contain_text("feedy")
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Export this page (CSV)").click()
    saved = Path(await (await download.value).path())
    exported = (await asyncio.to_thread(saved.read_text)).splitlines()
    assert exported[0] == '"User","Plan","Status","Paid","Period ends"'
    assert exported[1].startswith('"feedy","premium","TRIALING",')
    async with page.expect_download() as download:  # every page of the list, not this one
        await page.get_by_role("button", name="Export all matching (CSV)").click()
    saved = Path(await (await download.value).path())
    everything = (await asyncio.to_thread(saved.read_text)).splitlines()
    assert everything[0] == exported[0] and everything[1:] == exported[1:]
    await page.get_by_role("link", name="feedy").click()
    await expect(page.locator("#invoices-table")).to_contain_text("No invoices.")  # a trial
    await expect(page.locator("#next-invoices li")).to_have_count(6)  # what it will be
    await page.get_by_role("button", name="Suspend").click()
    await expect(page.locator("#detail-status")).to_have_text("SUSPENDED")
    await screenshot(page, "console-subscription")
    assert refused == []


async def test_metrics_show_what_sql_counts(browser, api, deps, clock):
    base = str(api.client.base_url).rstrip("/")
    for user in ("m1", "m2"):
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user=user,
        )
        await api.gql(
            "mutation { cancelSubscription(input: {atPeriodEnd: false}) { errors { code } } }",
            user=user,
        )
        await api.gql(SUBSCRIBE, {"input": {"planCode": "premium"}}, user=user)
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user="m3"
    )
    active = await scalar(
        deps, "SELECT count(*) FROM subscriptions WHERE is_current AND status = 'ACTIVE'"
    )
    trialing = await scalar(
        deps, "SELECT count(*) FROM subscriptions WHERE is_current AND status = 'TRIALING'"
    )
    # MRR, by hand: every plan here is monthly, so each paid plan line counts its amount.
    mrr = await scalar(
        deps,
        "SELECT sum(l.amount_cents) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id"
        " WHERE i.status = 'PAID' AND l.kind = 'SUBSCRIPTION'",
    )
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token("root", Role.ADMIN))
    await expect(page.locator("#subscriptions-table")).to_be_visible()
    await page.get_by_role("link", name="Metrics").click()  # no range: as of the service's now
    await expect(page.locator("#as-of")).to_contain_text("As of")
    await expect(page.locator("#status-ACTIVE")).to_have_text(str(active))
    await expect(page.locator("#status-TRIALING")).to_have_text(str(trialing))
    expected = await page.evaluate(
        "(cents) => new Intl.NumberFormat(undefined, {style: 'currency', currency: 'USD'}).format(cents / 100)",
        int(mrr),
    )
    await expect(page.locator("#mrr")).to_have_text(expected)
    await expect(page.locator("#new-mrr")).to_have_text(expected)
    assert await page.locator(".chart svg polyline").count() == 2
    await screenshot(page, "console-metrics")
    assert refused == []


async def test_a_price_set_in_the_console_is_what_plans_says(browser, api):
    base = str(api.client.base_url).rstrip("/")
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token("root", Role.ADMIN))
    await page.get_by_role("link", name="Plans").click()
    form = page.locator("#price-form")
    await form.get_by_label("Plan").select_option("ad-free")
    await form.get_by_label("Price (minor units)").fill("555")
    await form.get_by_label("Note (internal)").fill("supplier costs")
    await form.get_by_role("button", name="Set price").click()
    history = page.locator("#pricing-history")
    await expect(history).to_contain_text("$4.99")  # what it was, as money
    await expect(history).to_contain_text("subscribers keep their price")
    await expect(history).to_contain_text("supplier costs")
    plans = await api.gql('{ plan(code: "ad-free") { priceCents description } }')
    assert plans["data"]["plan"]["priceCents"] == 555
    assert plans["data"]["plan"]["description"] != "supplier costs"  # the note stays internal
    rename = page.locator("#update-form")
    await rename.get_by_label("Name").fill("Ad-free Plus")
    await rename.get_by_role("button", name="Update plan").click()
    await expect(page.locator("#plans-table")).to_contain_text("Ad-free Plus")
    create = page.locator("#plan-form")
    await create.get_by_label("Code").fill("fortnightly")
    await create.get_by_label("Name").fill("Fortnightly")
    await create.get_by_label("Price (minor units)").fill("300")
    await create.get_by_label("Every").fill("2")
    await create.get_by_label("Interval").select_option("WEEK")
    await create.get_by_label("Tier rank").fill("70")
    await create.get_by_role("button", name="Create plan").click()
    await expect(page.locator("#plans-table")).to_contain_text("every 2 weeks")
    made = await api.gql('{ plan(code: "fortnightly") { interval intervalCount } }')
    assert made["data"]["plan"] == {"interval": "WEEK", "intervalCount": 2}
    await screenshot(page, "console-plans")
    assert refused == []


async def test_a_plans_policy_and_a_customers_price_are_edited_in_the_console(browser, api):
    base = str(api.client.base_url).rstrip("/")
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="vip"
    )
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token("root", Role.ADMIN))
    # Signed in (the first page is on its way) before the address moves: else both the
    # sign-in's route and the address's draw the plans page, the second over our edits.
    await expect(page.locator("#nav")).to_be_visible()
    await page.goto(f"{base}/console#plans/premium")
    form = page.locator("#policy-form")
    await expect(form.get_by_label("Retry on days")).to_have_value("1, 3, 5")  # the defaults
    await form.get_by_label("Downgrades take effect").select_option("IMMEDIATE")
    await form.get_by_label("Retry on days").fill("2, 4")
    await form.get_by_label("Grace days").fill("9")
    await form.get_by_label("When grace ends unpaid, it").select_option("PAUSE")
    summary = page.locator("#policy-summary")
    await expect(summary).to_contain_text("retried on days 1, 3, 5 of a 7-day grace")
    await form.get_by_role("button", name="Save policy").click()
    await expect(summary).to_contain_text("retried on days 2, 4 of a 9-day grace")
    await expect(summary).to_contain_text("is paused until the customer resumes")
    policy = await api.gql(
        '{ plan(code: "premium") { policy { downgradeTiming retryDays graceDays afterGrace } } }'
    )
    assert policy["data"]["plan"]["policy"] == {
        "downgradeTiming": "IMMEDIATE",
        "retryDays": [2, 4],
        "graceDays": 9,
        "afterGrace": "PAUSE",
    }
    # A refused policy says why and changes nothing.
    await page.locator("#policy-form").get_by_label("Retry on days").fill("12")
    await page.locator("#policy-form").get_by_role("button", name="Save policy").click()
    await expect(page.locator("#alert")).to_contain_text("retryDays")
    again = await api.gql('{ plan(code: "premium") { policy { retryDays } } }')
    assert again["data"]["plan"]["policy"]["retryDays"] == [2, 4]

    prices = page.locator("#customer-price-form")
    await prices.get_by_label("User id").fill("vip")
    await prices.get_by_label("Plan").select_option("premium")
    await prices.get_by_label("Customer price (minor units)").fill("799")
    await prices.get_by_role("button", name="Set customer price").click()
    await expect(page.locator("#customer-price-result")).to_contain_text("$7.99")
    mine = await api.gql(
        "{ mySubscription { priceCents priceOverride { priceCents } } }", user="vip"
    )
    assert mine["data"]["mySubscription"]["priceOverride"] == {"priceCents": 799}
    await prices.get_by_role("button", name="Remove customer price").click()
    await expect(page.locator("#customer-price-result")).to_contain_text("own price")
    mine = await api.gql("{ mySubscription { priceOverride { priceCents } } }", user="vip")
    assert mine["data"]["mySubscription"]["priceOverride"] is None
    await screenshot(page, "console-plan-policy")
    assert refused == []


async def test_webhooks_and_the_event_log_in_the_console(browser, api, deps):
    from services.webhooks.delivery import WebhookSender
    from tests.integration.webhooks.receiver import receiving

    base = str(api.client.base_url).rstrip("/")
    page, refused = await offline_page(browser, base)
    page.on("dialog", lambda dialog: dialog.accept())
    await signed_in(page, base, api.token("root", Role.ADMIN))
    async with receiving() as receiver:
        await page.get_by_role("link", name="Webhooks").click()
        form = page.locator("#endpoint-form")
        await form.get_by_label("URL").fill(receiver.url)
        await form.get_by_label("Event types (comma separated, empty: all)").fill(
            "subscription.started"
        )
        await form.get_by_label("Description").fill("CRM")
        await form.get_by_role("button", name="Add endpoint").click()
        secret = page.locator("#new-secret")
        await expect(secret).to_contain_text("whsec_")
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user="hooked",
        )
        sender = WebhookSender(deps)
        await sender.drain()
        await sender.close()
        assert len(receiver.got) == 1
        await page.reload()
        deliveries = page.locator("#deliveries-table")
        await expect(deliveries).to_contain_text("subscription.started")
        await expect(deliveries).to_contain_text("SUCCEEDED")
        await expect(deliveries).to_contain_text("#1: 204")
        await deliveries.get_by_role("button", name="Redeliver").click()
        await expect(page.locator("#deliveries-table")).to_contain_text("PENDING")
        await screenshot(page, "console-webhooks")
        await page.locator("#endpoints-table").get_by_role("button", name="Disable").click()
        await expect(page.locator("#endpoints-table")).to_contain_text("DISABLED")
    await page.get_by_role("link", name="Events").click()
    filters = page.locator("#events-filter")
    await filters.get_by_label("User id").fill("hooked")
    await filters.get_by_role("button", name="Filter").click()
    table = page.locator("#events-table")
    await expect(table).to_contain_text("subscription.started")
    await expect(table).to_contain_text("hooked")
    shown = await table.locator("tbody tr").count()
    async with page.expect_download() as download:  # the whole filtered log, every page
        await page.get_by_role("button", name="Export all matching (CSV)").click()
    saved = Path(await (await download.value).path())
    exported = (await asyncio.to_thread(saved.read_text)).splitlines()
    assert exported[0] == '"Time","Type","Subject","Event id"'
    assert len(exported) - 1 == shown and all('"hooked"' in line for line in exported[1:])
    await screenshot(page, "console-events")
    assert refused == []


async def test_a_refund_and_a_credit_from_the_console(browser, api, deps):
    base = str(api.client.base_url).rstrip("/")
    card = {"planCode": "premium", "paymentMethodId": "pm_card_visa"}
    await api.gql(SUBSCRIBE, {"input": card}, user="payer")  # the trial
    await api.gql(
        "mutation { cancelSubscription(input: {atPeriodEnd: false}) { errors { code } } }",
        user="payer",
    )
    paid = await api.gql(SUBSCRIBE, {"input": card}, user="payer")  # paid at once: 9.99
    assert paid["data"]["subscribe"]["payment"]["amountCents"] == 999
    page, refused = await offline_page(browser, base)
    confirmations = confirming(page)
    await signed_in(page, base, api.token("root", Role.ADMIN))
    await page.get_by_role("link", name="payer").first.click()
    await page.get_by_role("button", name="Refund…").click()
    refund = page.locator("#refund-form")
    await refund.get_by_label("Amount (minor units; empty: all that is left)").fill("300")
    await refund.get_by_label("Reason").fill("service outage")
    await refund.get_by_role("button", name="Refund").click()
    await expect(page.locator("#money-result")).to_contain_text("Refunded $3.00")
    credit = page.locator("#credit-form")
    await credit.get_by_label("Credit adjustment (minor units; negative takes credit away)").fill(
        "500"
    )
    await credit.get_by_label("Reason").fill("goodwill")
    await credit.get_by_role("button", name="Adjust credit").click()
    await expect(page.locator("#money-result")).to_contain_text("Credit balance now $5.00")
    assert confirmations == [
        "Refund $3.00 to the card?",
        "Give $5.00 to payer's credit balance?",
    ]
    assert await scalar(deps, "SELECT sum(amount_cents) FROM refunds") == 300
    await expect(page.locator("#credit-notes")).to_contain_text("CN-00000001")  # the refund's
    await expect(page.locator("#credit-notes")).to_contain_text("$3.00")
    await screenshot(page, "console-refund-credit")
    assert refused == []
