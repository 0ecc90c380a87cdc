"""The console's money lists in Chromium: every customer's invoices, filtered by status
and exported in full; the failed-payments queue, where a retry now collects and a write-
off ends grace, each after a confirmation."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from pathlib import Path

from playwright.async_api import expect

from services.collection import scheduler
from services.platform.auth import Role
from tests.e2e.browser.conftest import confirming, offline_page, screenshot
from tests.e2e.browser.test_console import signed_in
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE
from tests.e2e.graphql.test_test_clocks_api import clocks_on  # noqa: F401  (fixture)

ADD_CARD = """mutation { addPaymentMethod(input: {paymentMethodId: "pm_card_visa", makeDefault: true})
  { errors { code } } }"""


async def test_invoices_and_the_failed_payments_queue(browser, api, deps):
    base = str(api.client.base_url).rstrip("/")
    for user, card in (
        ("late-a", "pm_card_chargeDeclined"),
        ("late-b", "pm_card_chargeDeclined"),
        ("fine", "pm_card_visa"),
    ):
        answer = await api.gql(
            SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": card}}, user=user
        )
        assert answer["data"]["subscribe"]["errors"] == []
    mine = await api.gql("{ mySubscription { trialEnd } }", user="fine")
    api.clock.moment = datetime.fromisoformat(mine["data"]["mySubscription"]["trialEnd"])
    await scheduler.run_due_work(dataclasses.replace(deps, clock=api.clock))  # 1 paid, 2 not

    page, refused = await offline_page(browser, base)
    confirmations = confirming(page)
    await signed_in(page, base, api.token("root", Role.ADMIN))
    await page.get_by_role("link", name="Invoices").click()
    rows = page.locator("#invoices-table tbody tr")
    await expect(rows).to_have_count(3)
    await page.get_by_label("Status").select_option("OPEN")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(2)
    await expect(page.locator("#invoices-table")).not_to_contain_text("fine")
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Export all matching (CSV)").click()
    saved = Path(await (await download.value).path())
    exported = (await asyncio.to_thread(saved.read_text)).splitlines()
    assert exported[0] == '"Number","Customer","Date","Status","Total","Paid","Refunded"'
    assert sorted(line.split(",")[1] for line in exported[1:]) == ['"late-a"', '"late-b"']
    await screenshot(page, "console-invoices")

    await page.get_by_role("link", name="Failed payments").click()
    queue = page.locator("#failed-table tbody tr")
    await expect(queue).to_have_count(2)
    await expect(queue.first).to_contain_text("$9.99")
    await screenshot(page, "console-failed-payments")
    await page.locator('tr[data-user="late-a"]').get_by_role("button", name="Retry now").click()
    await expect(page.locator("#queue-result")).to_contain_text("late-a: declined again")
    assert (await api.gql(ADD_CARD, user="late-a"))["data"]["addPaymentMethod"]["errors"] == []
    await page.locator('tr[data-user="late-a"]').get_by_role("button", name="Retry now").click()
    await expect(page.locator("#queue-result")).to_have_text("late-a: now ACTIVE.")
    await (
        page.locator('tr[data-user="late-b"]')
        .get_by_role("button", name="Mark uncollectible")
        .click()
    )
    await expect(page.locator("#queue-result")).to_have_text("late-b: now EXPIRED.")
    await expect(queue).to_have_text(["Nothing is past due."])
    assert confirmations == [
        "Charge late-a's open invoice now?",
        "Charge late-a's open invoice now?",
        "Mark late-b's open invoice uncollectible and end grace now?",
    ]
    statuses = await api.gql(
        "{ allInvoices(first: 10) { nodes { userId status } } }", user="root", roles=(Role.ADMIN,)
    )
    assert sorted((i["userId"], i["status"]) for i in statuses["data"]["allInvoices"]["nodes"]) == [
        ("fine", "PAID"),
        ("late-a", "PAID"),
        ("late-b", "UNCOLLECTIBLE"),
    ]
    assert refused == []


async def test_support_acts_for_a_customer_with_a_reason_and_a_preview(browser, api):
    base = str(api.client.base_url).rstrip("/")
    card = {"planCode": "premium", "paymentMethodId": "pm_card_visa"}
    await api.gql(SUBSCRIBE, {"input": card}, user="helped")  # the trial
    await api.gql(
        "mutation { cancelSubscription(input: {atPeriodEnd: false}) { errors { code } } }",
        user="helped",
    )
    paid = await api.gql(SUBSCRIBE, {"input": card}, user="helped")  # ACTIVE, paid
    assert paid["data"]["subscribe"]["subscription"]["status"] == "ACTIVE"
    page, refused = await offline_page(browser, base)
    confirmations = confirming(page)
    await signed_in(page, base, api.token("support-1", Role.ADMIN))
    await expect(page.locator("#nav")).to_be_visible()
    current = paid["data"]["subscribe"]["subscription"]["id"]  # not the ended trial's row
    await page.goto(f"{base}/console#subscription/{current}/helped")
    act = page.locator("#act-form")
    await act.get_by_label("Action").select_option("change")
    await act.locator("select[name=planCode]").select_option("ad-free")
    await expect(page.locator("#act-preview")).to_contain_text("Downgrade: $0.00 due now")
    await act.get_by_label("Reason").fill("asked by phone")
    await act.get_by_role("button", name="Apply").click()
    await expect(page.locator("#act-result")).to_have_text("Done: now ACTIVE.")
    timeline = page.locator("section", has_text="Timeline")
    await expect(timeline).to_contain_text("downgrade_scheduled: asked by phone")
    await expect(timeline).to_contain_text("support-1")
    await screenshot(page, "console-act-for-customer")
    created = await api.gql(
        'mutation { createCoupon(input: {code: "SORRY", name: "sorry", duration: ONCE,'
        " percentOff: 10}) { errors { code } } }",
        user="support-1",
        roles=(Role.ADMIN,),
    )
    assert created["data"]["createCoupon"]["errors"] == []
    await api.gql(
        'mutation { createPromotionCode(input: {couponCode: "SORRY", code: "SORRY10"})'
        " { errors { code } } }",
        user="support-1",
        roles=(Role.ADMIN,),
    )
    await act.get_by_label("Action").select_option("code")
    await act.locator("input[name=code]").fill("SORRY10")
    await act.get_by_label("Reason").fill("outage last week")
    await act.get_by_role("button", name="Apply").click()
    await expect(timeline).to_contain_text("promotion_code_applied: outage last week")
    await act.get_by_label("Action").select_option("cancel_end")
    await act.get_by_label("Reason").fill("moving abroad")
    await act.get_by_role("button", name="Apply").click()
    await expect(page.locator("#detail-status")).to_have_text("CANCELED")
    await expect(act.get_by_label("Action").locator("option")).to_have_text(["Resume"])
    await act.get_by_label("Reason").fill("changed their mind")
    await act.get_by_role("button", name="Apply").click()
    await expect(page.locator("#detail-status")).to_have_text("ACTIVE")
    await act.get_by_label("Action").select_option("cancel_now")
    await act.get_by_label("Reason").fill("fraud")
    await act.get_by_role("button", name="Apply").click()
    await expect(page.locator("#detail-status")).to_have_text("CANCELED")
    await expect(page.locator("#act-section")).to_contain_text("Nothing can be changed")
    assert confirmations == [
        "Change plan to ad-free for helped? Reason: asked by phone",
        "Apply promotion code SORRY10 for helped? Reason: outage last week",
        "Cancel at period end for helped? Reason: moving abroad",
        "Resume for helped? Reason: changed their mind",
        "Cancel now for helped? Reason: fraud",
    ]
    assert refused == []


async def test_coupons_codes_meters_and_quotas_from_the_console(browser, api):
    base = str(api.client.base_url).rstrip("/")
    page, refused = await offline_page(browser, base)
    confirming(page)
    await signed_in(page, base, api.token("offers-admin", Role.ADMIN))
    await page.get_by_role("link", name="Coupons").click()
    coupon = page.locator("#coupon-form")
    await coupon.get_by_label("Code").fill("SPRING")
    await coupon.get_by_label("Name").fill("Spring sale")
    await coupon.get_by_label("Percent off").fill("20")
    await coupon.locator("select[name=duration]").select_option("REPEATING")
    await coupon.get_by_label("Invoices (repeating)").fill("3")
    await coupon.get_by_role("button", name="Create coupon").click()
    await expect(page.locator("#offers-result")).to_have_text("Coupon SPRING created.")
    await expect(page.locator("#coupons-table")).to_contain_text("20% off")
    code = page.locator("#code-form")
    await code.get_by_label("Code customers type").fill("SPRING20")
    await code.get_by_label("First-time customers only").check()
    await code.get_by_role("button", name="Create code").click()
    await expect(page.locator("#codes-table")).to_contain_text("SPRING20")
    redeemed = await api.gql(
        SUBSCRIBE,
        {
            "input": {
                "planCode": "premium",
                "paymentMethodId": "pm_card_visa",
                "promotionCode": "SPRING20",
            }
        },
        user="spring",
    )
    assert redeemed["data"]["subscribe"]["errors"] == []
    await page.reload()
    await expect(page.locator("#coupons-table tbody tr").first).to_contain_text("1")
    await page.get_by_role("button", name="Archive").click()
    await expect(page.locator("#offers-result")).to_have_text("Coupon SPRING archived.")
    await expect(page.locator("#coupons-table")).to_contain_text("archived")
    await screenshot(page, "console-coupons")

    await page.get_by_role("link", name="Meters").click()
    meter = page.locator("#meter-form")
    await meter.get_by_label("Key").fill("ai.calls")
    await meter.get_by_label("Name").fill("AI calls")
    await meter.get_by_role("button", name="Create meter").click()
    await expect(page.locator("#meters-result")).to_have_text("Meter created.")
    quota = page.locator("#quota-form")
    await quota.locator("select[name=planCode]").select_option("premium")
    await quota.get_by_label("Included units (empty: unlimited)").fill("100")
    await quota.get_by_label("Refuse past the included units").uncheck()
    await quota.get_by_label("Overage a unit (minor units)").fill("2")
    await quota.get_by_role("button", name="Set quota").click()
    await expect(page.locator("#quotas-table")).to_contain_text("$0.02 a unit")
    plan = await api.gql(
        '{ plan(code: "premium") { quotas { meterKey includedUnits hardLimit } } }'
    )
    assert plan["data"]["plan"]["quotas"] == [
        {"meterKey": "ai.calls", "includedUnits": 100, "hardLimit": False}
    ]
    await screenshot(page, "console-meters")
    assert refused == []


async def test_test_clocks_per_customer_from_the_console(browser, api, clocks_on):  # noqa: F811
    base = str(api.client.base_url).rstrip("/")
    page, refused = await offline_page(browser, base)
    confirmations = confirming(page)
    await signed_in(page, base, api.token("clocks-admin", Role.ADMIN))
    await page.get_by_role("link", name="Test clocks").click()
    new = page.locator("#clock-form")
    await new.get_by_label("Name").fill("qa run")
    await new.get_by_label("Frozen at (UTC)").fill("2027-01-01T09:00")
    await new.get_by_role("button", name="Create clock").click()
    await expect(page.locator("#clocks-result")).to_have_text("Clock qa run created.")
    attach = page.locator("#attach-form")
    await attach.get_by_label("Customer (before their first subscription)").fill("ticked")
    await attach.get_by_role("button", name="Attach").click()
    await expect(page.locator("#clocks-result")).to_have_text("ticked is on qa run.")
    started = await api.gql(
        SUBSCRIBE,
        {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
        user="ticked",
    )
    assert started["data"]["subscribe"]["errors"] == []
    on_clock = await api.gql("{ mySubscription { trialStart } }", user="ticked")
    assert on_clock["data"]["mySubscription"]["trialStart"].startswith("2027-01-01")
    await page.get_by_label("Advance qa run to").fill("2027-01-20T09:00")
    await page.get_by_role("button", name="Advance", exact=True).click()
    await expect(page.locator("#clocks-result")).to_contain_text("2 pieces of due work applied")
    mine = await api.gql("{ mySubscription { status } }", user="ticked")
    assert mine["data"]["mySubscription"]["status"] == "ACTIVE"  # converted on the clock
    await screenshot(page, "console-test-clocks")
    await page.get_by_role("button", name="Delete").click()
    await expect(page.locator("#clocks-result")).to_have_text("qa run deleted with 1 customer(s).")
    assert confirmations == ["Delete qa run and every row of its customers?"]
    gone = await api.gql("{ mySubscription { status } }", user="ticked")
    assert gone["data"]["mySubscription"] is None
    assert refused == []
