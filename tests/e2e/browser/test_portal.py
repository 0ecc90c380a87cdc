"""The customer portal and the hosted checkout in a real Chromium, offline: choosing a
plan goes through a checkout link and back; an upgrade shows its preview amount, then
the new plan; the portal follows status changes live; invoices print."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import expect

from services.platform.auth import Role
from tests.conftest import scalar
from tests.e2e.browser.conftest import confirming, offline_page, screenshot
from tests.e2e.browser.test_console import signed_in
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE


async def test_choosing_a_plan_goes_through_the_hosted_checkout(browser, api):
    base = str(api.client.base_url).rstrip("/")
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token("newbie"), path="/portal")
    await expect(page.locator("#status")).to_contain_text("free plan")
    await page.get_by_role("link", name="Plans").first.click()
    await page.locator('[data-plan="premium"]').get_by_role("button", name="Choose").click()
    await page.wait_for_url("**/checkout/**")
    await expect(page.get_by_role("heading", name="Premium")).to_be_visible()
    await expect(page.locator("#view")).to_contain_text("It starts with a 14-day free trial.")
    await screenshot(page, "checkout")
    await page.get_by_label("Pay with").select_option("pm_card_visa")
    await page.get_by_role("button", name="Subscribe").click()
    await page.wait_for_url("**/portal#subscribed")
    await expect(page.locator("#status")).to_have_text("TRIALING")
    sessions = await api.gql("{ mySubscription { status plan { code } } }", user="newbie")
    assert sessions["data"]["mySubscription"] == {"status": "TRIALING", "plan": {"code": "premium"}}
    assert refused == []


async def test_the_checkout_promises_no_trial_to_a_customer_who_had_theirs(browser, api):
    base = str(api.client.base_url).rstrip("/")
    user = "again"
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user=user
    )
    await api.gql(
        "mutation { cancelSubscription(input: {atPeriodEnd: false}) { errors { code } } }",
        user=user,
    )
    created = await api.gql(
        'mutation($back: String!) { createCheckoutSession(input: {planCode: "premium",'
        " successUrl: $back, cancelUrl: $back}) { session { url trialDays } errors { code } } }",
        {"back": f"{base}/portal"},
        user=user,
    )
    session = created["data"]["createCheckoutSession"]["session"]
    assert session["trialDays"] == 0, created
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token(user), path="/portal")
    await page.goto(session["url"] if session["url"].startswith("http") else base + session["url"])
    await expect(page.get_by_role("heading", name="Premium")).to_be_visible()
    await expect(page.locator("#view")).to_contain_text("You pay the first period now.")
    await expect(page.locator("#view")).not_to_contain_text("free trial")
    assert refused == []


async def test_an_upgrade_shows_its_preview_then_the_new_plan(browser, api):
    base = str(api.client.base_url).rstrip("/")
    user = "upper"
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user=user
    )
    await api.gql(
        "mutation { cancelSubscription(input: {atPeriodEnd: false}) { errors { code } } }",
        user=user,
    )
    paid = await api.gql(SUBSCRIBE, {"input": {"planCode": "ad-free"}}, user=user)
    assert paid["data"]["subscribe"]["subscription"]["status"] == "ACTIVE"
    expected = await api.gql(
        '{ previewPlanChange(planCode: "premium") { amountDueCents currency } }', user=user
    )
    due = expected["data"]["previewPlanChange"]["amountDueCents"]
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token(user), path="/portal")
    await expect(page.locator("#plan-name")).to_have_text("Ad-free")
    await page.get_by_role("link", name="Plans").first.click()
    await page.locator('[data-plan="premium"]').get_by_role("button", name="Upgrade…").click()
    shown = await page.evaluate(
        "(cents) => new Intl.NumberFormat(undefined, {style: 'currency', currency: 'USD'}).format(cents / 100)",
        due,
    )
    await expect(page.locator(".preview-amount")).to_contain_text(shown)
    await screenshot(page, "portal-upgrade-preview")
    await page.get_by_role("button", name="Confirm upgrade").click()
    await expect(page.locator("#plan-name")).to_have_text("Premium")
    await page.get_by_role("link", name="Invoices").click()
    await page.get_by_role("link", name="View / print").first.click()
    await expect(page.locator("#printable-invoice")).to_contain_text("Total")
    await expect(page.locator("#seller")).to_contain_text("Subscription Service")  # SELLER_NAME
    await expect(page.locator("#buyer")).to_contain_text("Account ")
    await page.emulate_media(media="print")  # what a printer gets: the invoice, no controls
    await expect(page.get_by_role("button", name="Print")).to_be_hidden()
    await expect(page.locator("nav")).to_be_hidden()
    await screenshot(page, "portal-invoice")
    await page.emulate_media(media="screen")
    await page.get_by_role("link", name="Overview").click()
    await page.get_by_role("button", name="Cancel at period end").click()
    await expect(page.get_by_role("button", name="Resume")).to_be_visible()
    await page.set_viewport_size({"width": 390, "height": 844})  # a phone
    await screenshot(page, "portal-phone")
    assert refused == []


async def test_a_card_is_added_on_the_hosted_page_never_through_the_portal(browser, api):
    base = str(api.client.base_url).rstrip("/")
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token("carder"), path="/portal")
    await page.get_by_role("link", name="Payment methods").click()
    await page.get_by_role("button", name="Add a card").click()
    await page.wait_for_url("**/checkout/**")
    await expect(page.get_by_role("heading", name="Add a card")).to_be_visible()
    await page.get_by_label("Card").select_option("pm_card_mastercard")
    await page.get_by_role("button", name="Save card").click()
    await page.wait_for_url("**/portal#billing")
    await expect(page.locator("main")).to_contain_text("mastercard •••• 4444")
    await expect(page.locator("main")).to_contain_text("default")
    await screenshot(page, "portal-cards")
    assert refused == []


async def test_the_portal_shows_the_customers_own_price_and_a_scheduled_change(browser, api):
    base = str(api.client.base_url).rstrip("/")
    user = "priced"
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user=user
    )
    moved = await api.gql(
        'mutation($at: DateTime!) { setPlanPrice(input: {planCode: "ad-free", priceCents: 599,'
        ' currency: "USD", existingSubscribers: MOVE_AT, moveAt: $at, note: "n"}) {'
        " plan { priceCents } errors { code field } } }",
        {"at": (api.clock.now() + timedelta(days=20)).isoformat()},
        user="root",
        roles=(Role.ADMIN,),
    )
    assert moved["data"]["setPlanPrice"]["errors"] == []
    mine = await api.gql(
        "{ mySubscription { priceCents scheduledPriceChange { priceCents effectiveAt } } }",
        user=user,
    )
    sub = mine["data"]["mySubscription"]
    # The trial converts at the price it began with; the invoice after it moves.
    assert sub["priceCents"] == 499 and sub["scheduledPriceChange"]["priceCents"] == 599
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token(user), path="/portal")
    await expect(page.locator("#price-change")).to_contain_text("Your price changes to")
    await screenshot(page, "portal-price-change")
    assert refused == []


async def test_the_portal_says_what_each_state_means_and_offers_only_what_it_allows(
    browser, api, deps
):
    import dataclasses
    from datetime import datetime

    from services.collection import scheduler
    from services.platform.auth import Role

    base = str(api.client.base_url).rstrip("/")
    declined = {"planCode": "premium", "paymentMethodId": "pm_card_chargeDeclined"}
    await api.gql(SUBSCRIBE, {"input": declined}, user="sad")
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token("sad"), path="/portal")
    standing = page.locator("#standing")
    await expect(standing).to_contain_text("Your free trial ends on")
    await expect(page.locator("#next-charge")).to_contain_text("9.99")
    next_invoices = page.locator("#next-invoices tbody tr")
    await expect(next_invoices).to_have_count(6)  # simulated: the conversion, then renewals
    await expect(next_invoices.first).to_contain_text("9.99")
    # The trial ends and the card is declined: the renewal is past due.
    mine = await api.gql("{ mySubscription { trialEnd } }", user="sad")
    api.clock.moment = datetime.fromisoformat(mine["data"]["mySubscription"]["trialEnd"])
    await scheduler.run_due_work(dataclasses.replace(deps, clock=api.clock))
    await page.reload()
    await expect(standing).to_contain_text("Payment failed")
    await expect(standing).to_contain_text("9.99")
    await expect(standing).to_contain_text("try your card again")
    await expect(page.get_by_role("link", name="Update your card")).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel now")).to_be_visible()  # no paid time
    await screenshot(page, "portal-past-due")
    await page.get_by_role("button", name="Pay now").click()  # the same card: declined again
    await expect(page.locator("#alert")).to_contain_text("declined")
    retried = "SELECT retry_count FROM subscriptions WHERE user_id = 'sad' AND is_current"
    assert await scalar(deps, retried) == 1  # charged once, now, and counted as a retry
    suspended = await api.gql(
        'mutation { suspendSubscription(input: {userId: "sad", reason: "chargeback"}) {'
        " errors { code } } }",
        user="root",
        roles=(Role.ADMIN,),
    )
    assert suspended["data"]["suspendSubscription"]["errors"] == []
    await page.reload()
    await expect(standing).to_contain_text("suspended")
    assert await page.locator("#cancel, #resume").count() == 0  # nothing self-service
    # Cancelled at period end: active until then, and it can be resumed.
    await api.gql(SUBSCRIBE, {"input": {**declined, "paymentMethodId": "pm_card_visa"}}, user="cal")
    await api.gql("mutation { cancelSubscription { errors { code } } }", user="cal")
    other, _ = await offline_page(browser, base)
    await signed_in(other, base, api.token("cal"), path="/portal")
    await expect(other.locator("#standing")).to_contain_text("Active until")
    await expect(other.get_by_role("button", name="Resume")).to_be_visible()
    assert refused == []


async def test_a_downgrade_preview_and_a_code_show_what_will_be_charged(browser, api):
    base = str(api.client.base_url).rstrip("/")
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="dn"
    )
    page, refused = await offline_page(browser, base)
    await signed_in(page, base, api.token("dn"), path="/portal")
    await page.get_by_role("link", name="Plans").first.click()
    await page.locator('[data-plan="ad-free"]').get_by_role("button", name="Downgrade…").click()
    amount = page.locator('[data-plan="ad-free"] .preview-amount')
    await expect(amount).to_contain_text("Nothing due now")
    await expect(amount).to_contain_text("takes effect on")
    await expect(amount).to_contain_text("Then $4.99 a month")
    created = await api.gql(
        'mutation { createCoupon(input: {code: "HALF", name: "half", duration: ONCE,'
        " percentOff: 50}) { errors { code } } }",
        user="root",
        roles=(Role.ADMIN,),
    )
    assert created["data"]["createCoupon"]["errors"] == []
    await api.gql(
        'mutation { createPromotionCode(input: {couponCode: "HALF", code: "HALFOFF"}) {'
        " errors { code } } }",
        user="root",
        roles=(Role.ADMIN,),
    )
    other, _ = await offline_page(browser, base)
    await signed_in(other, base, api.token("fresh"), path="/portal")
    await other.get_by_role("link", name="Plans").first.click()
    await other.get_by_label("Promotion code (optional)").fill("HALFOFF")
    await other.locator('[data-plan="premium"]').get_by_role("button", name="Choose").click()
    prices = other.locator('[data-plan="premium"] .promo-prices li')
    await expect(prices).to_have_count(3)
    await expect(prices.first).to_contain_text("$4.99")  # 9.99 less half (5.00, half up)
    await expect(prices.nth(1)).to_contain_text("$9.99")
    await expect(
        other.locator('[data-plan="premium"]').get_by_role("button", name="Continue to checkout")
    ).to_be_visible()
    assert refused == []


async def test_a_customer_out_of_units_buys_a_pack_from_the_usage_page(browser, api):
    admin = {"user": "packs-admin", "roles": (Role.ADMIN,)}
    for mutation in (
        'mutation { createMeter(input: {key: "ai.calls", name: "AI calls", unit: "call",'
        " aggregation: COUNT}) { errors { code } } }",
        'mutation { setPlanQuota(input: {planCode: "premium", meterKey: "ai.calls",'
        " includedUnits: 1, hardLimit: true}) { errors { code } } }",
        'mutation { createPlan(input: {code: "calls-50", name: "50 AI calls", priceCents: 500,'
        ' currency: "USD", interval: MONTH, tierRank: 60, kind: QUOTA, validDays: 30})'
        " { errors { code } } }",
        'mutation { setPlanQuota(input: {planCode: "calls-50", meterKey: "ai.calls",'
        " includedUnits: 50}) { errors { code } } }",
    ):
        answer = await api.gql(mutation, **admin)
        assert next(iter(answer["data"].values()))["errors"] == [], answer
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="ai"
    )
    used = await api.gql(
        'mutation { consumeQuota(input: {userId: "ai", meterKey: "ai.calls", eventId: "e1"})'
        " { allowed remaining } }",
        user="svc",
        roles=(Role.SERVICE,),
    )
    assert used["data"]["consumeQuota"] == {"allowed": True, "remaining": 0}
    base = str(api.client.base_url).rstrip("/")
    page, refused = await offline_page(browser, base)
    confirming(page)
    await signed_in(page, base, api.token("ai"), path="/portal")
    packs = page.locator("#packs")
    await expect(page.get_by_role("heading", name="Out of units? Buy more")).to_be_visible()
    await expect(packs).to_contain_text("50 AI calls: 50 ai.calls for $5.00, valid 30 days")
    await packs.get_by_role("button", name="Buy").click()
    usage = page.locator("table", has_text="Meter").locator("tbody tr")
    await expect(usage).to_contain_text("50")  # the pack's units, remaining
    await expect(page.get_by_role("heading", name="Buy more units")).to_be_visible()
    bought = await api.gql("{ myQuotaPacks { planCode status } }", user="ai")
    assert bought["data"]["myQuotaPacks"] == [{"planCode": "calls-50", "status": "ACTIVE"}]
    seen = await api.gql('{ quotaPacks(userId: "ai") { planCode status } }', **admin)
    assert seen["data"]["quotaPacks"] == bought["data"]["myQuotaPacks"]  # support's view
    await screenshot(page, "portal-buy-pack")
    assert refused == []
