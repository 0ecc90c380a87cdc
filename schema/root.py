"""The root Query and Mutation types: names, arguments, permissions, and which resolver
answers. The resolvers themselves live in resolvers/."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission

from resolvers.graphql import console, credits, discounts, live, mutations, queries
from resolvers.graphql import usage as metered
from resolvers.graphql import webhooks as hooks
from schema.permissions import (
    IsAdmin,
    IsAuthenticated,
    IsOwnOrAdmin,
    IsSelfServiceOrAdmin,
    IsServiceOrAdmin,
    WithinMutationRate,
)

signed_in: list[type[BasePermission]] = [IsAuthenticated]
admin_only: list[type[BasePermission]] = [IsAdmin]
# Mutations also count against the caller's rate limit.
signed_in_writes: list[type[BasePermission]] = [IsAuthenticated, WithinMutationRate]
admin_writes: list[type[BasePermission]] = [IsAdmin, WithinMutationRate]
self_service_or_admin: list[type[BasePermission]] = [IsSelfServiceOrAdmin]
own_or_admin: list[type[BasePermission]] = [IsOwnOrAdmin]
# Services count usage for every user: no per-caller mutation limit on that hot path.
services_or_admin: list[type[BasePermission]] = [IsServiceOrAdmin]


def admin_mutation(resolver: Any, description: str | None = None) -> Any:
    return strawberry.mutation(
        resolver=resolver, permission_classes=admin_writes, description=description
    )


def own_mutation(resolver: Any, description: str | None = None) -> Any:
    return strawberry.mutation(
        resolver=resolver, permission_classes=signed_in_writes, description=description
    )


@strawberry.type
class Query:
    plans = strawberry.field(
        resolver=queries.plans, description="Plans on sale, cheapest tier first."
    )
    plan = strawberry.field(resolver=queries.plan)
    my_subscription = strawberry.field(
        resolver=queries.my_subscription,
        permission_classes=signed_in,
        description="Your current subscription, or the most recent ended one.",
    )
    my_entitlements = strawberry.field(
        resolver=queries.my_entitlements, permission_classes=signed_in
    )
    invoices = strawberry.field(
        resolver=queries.invoices,
        permission_classes=own_or_admin,
        description="Your invoices, newest first (an admin may pass userId).",
    )
    all_invoices = strawberry.field(
        resolver=queries.all_invoices,
        permission_classes=admin_only,
        description="Every customer's invoices, newest first, of one status if given.",
    )
    seller = strawberry.field(resolver=queries.seller, permission_classes=signed_in)
    upcoming_invoice = strawberry.field(
        resolver=queries.upcoming_invoice,
        permission_classes=signed_in,
        description="Your next renewal's invoice, with the usage so far (null: nothing renews).",
    )
    payment_methods = strawberry.field(
        resolver=queries.payment_methods, permission_classes=signed_in
    )
    me = strawberry.field(resolver=queries.me, permission_classes=signed_in)
    preview_plan_change = strawberry.field(
        resolver=queries.preview_plan_change,
        permission_classes=own_or_admin,
        description="What an upgrade or downgrade to this plan would charge, before committing.",
    )
    subscription_status = strawberry.field(
        resolver=queries.subscription_status,
        permission_classes=self_service_or_admin,
        description="A user's status: your own, or anyone's with the service or admin role.",
    )
    entitlements = strawberry.field(
        resolver=queries.entitlements,
        permission_classes=self_service_or_admin,
        description="A user's entitlements: your own, or anyone's with the service or admin role.",
    )
    admin_subscriptions = strawberry.field(
        resolver=queries.admin_subscriptions, permission_classes=admin_only
    )
    subscription_history = strawberry.field(
        resolver=queries.subscription_history,
        permission_classes=signed_in,
        description="Transitions of a subscription: for its owner and admins.",
    )
    pricing_history = strawberry.field(
        resolver=queries.pricing_history, permission_classes=admin_only
    )
    preview_plan_price = strawberry.field(
        resolver=queries.preview_plan_price,
        permission_classes=admin_only,
        description="What setPlanPrice would do to the plan's current subscribers, for"
        " both choices (KEEP_PRICE, MOVE_AT), before it is made.",
    )
    meters = strawberry.field(resolver=metered.meters_list, permission_classes=admin_only)
    my_usage = strawberry.field(
        resolver=metered.my_usage,
        permission_classes=signed_in,
        description="Your usage of each meter your plan includes, this period.",
    )
    usage = strawberry.field(
        resolver=metered.usage,
        permission_classes=self_service_or_admin,
        description="A user's usage: your own, or anyone's with the service or admin role.",
    )
    coupons = strawberry.field(resolver=discounts.coupons_list, permission_classes=admin_only)
    credit_notes = strawberry.field(
        resolver=credits.credit_notes,
        permission_classes=own_or_admin,
        description="Money given back, note by note, newest first (an admin may pass userId).",
    )
    quota_packs = strawberry.field(
        resolver=metered.quota_packs, permission_classes=admin_only, description="A user's."
    )
    promotion_codes = strawberry.field(
        resolver=discounts.promotion_codes,
        permission_classes=admin_only,
        description="Newest first.",
    )
    preview_subscribe = strawberry.field(
        resolver=discounts.preview_subscribe,
        permission_classes=signed_in,
        description="What subscribing to a plan would charge, and when, with a promotion "
        "code's discount (the code is checked, not used).",
    )
    metrics = strawberry.field(
        resolver=console.metrics,
        permission_classes=admin_only,
        description="MRR and its movement, subscriptions by status and plan, trial "
        "conversion, past-due amount, and a series over [from, to), in SQL.",
    )
    checkout_session = strawberry.field(
        resolver=console.checkout_session,
        permission_classes=signed_in,
        description="Your checkout session (the hosted checkout page reads it).",
    )
    credit_ledger = strawberry.field(
        resolver=credits.credit_ledger,
        permission_classes=own_or_admin,
        description="Your credit ledger, newest first (an admin may pass userId).",
    )
    user_payments = strawberry.field(
        resolver=credits.user_payments,
        permission_classes=admin_only,
        description="A user's payments with what was refunded, newest first (support).",
    )
    my_quota_packs = strawberry.field(
        resolver=metered.my_quota_packs,
        permission_classes=signed_in,
        description="The quota packs you bought, newest first.",
    )
    test_clock = strawberry.field(
        resolver=queries.test_clock,
        permission_classes=admin_only,
        description="The service clock; only when started with TEST_CLOCK=1.",
    )
    test_clocks = strawberry.field(
        resolver=queries.test_clocks, permission_classes=admin_only, description="Oldest first."
    )
    simulate_invoices = strawberry.field(
        resolver=queries.simulate_invoices,
        permission_classes=own_or_admin,
        description="The next `cycles` invoices (at most 24) of the user's subscription, by"
        " the renewal's own rules; usage is projected as none after today. Writes nothing.",
    )
    simulate_subscribe = strawberry.field(
        resolver=queries.simulate_subscribe,
        permission_classes=signed_in,
        description="What subscribing to the plan now would charge over `cycles` invoices.",
    )
    events = strawberry.field(
        resolver=hooks.events,
        permission_classes=services_or_admin,
        description="The event log, oldest first from `after`, kept EVENT_RETENTION_DAYS.",
    )
    my_events = strawberry.field(
        resolver=hooks.my_events,
        permission_classes=signed_in,
        description="The events about you, oldest first from `after`.",
    )
    webhook_endpoints = strawberry.field(
        resolver=hooks.webhook_endpoints, permission_classes=admin_only
    )
    webhook_deliveries = strawberry.field(
        resolver=hooks.webhook_deliveries,
        permission_classes=admin_only,
        description="An endpoint's deliveries, newest first, each with its attempts.",
    )


@strawberry.type
class Mutation:
    create_webhook_endpoint = strawberry.mutation(
        resolver=hooks.create_webhook_endpoint,
        permission_classes=admin_writes,
        description="The answer carries the signing secret, this once only.",
    )
    update_webhook_endpoint = admin_mutation(hooks.update_webhook_endpoint)
    disable_webhook_endpoint = admin_mutation(hooks.disable_webhook_endpoint)
    enable_webhook_endpoint = admin_mutation(hooks.enable_webhook_endpoint)
    delete_webhook_endpoint = admin_mutation(hooks.delete_webhook_endpoint)
    rotate_webhook_secret = strawberry.mutation(
        resolver=hooks.rotate_webhook_secret,
        permission_classes=admin_writes,
        description="A new secret (answered once); the old one keeps signing for 24 hours.",
    )
    redeliver_webhook = admin_mutation(hooks.redeliver_webhook)
    replay_webhooks = strawberry.mutation(
        resolver=hooks.replay_webhooks,
        permission_classes=admin_writes,
        description="Send the endpoint every logged event since `since` again.",
    )
    subscribe = own_mutation(mutations.subscribe)
    upgrade = strawberry.mutation(resolver=mutations.upgrade, permission_classes=signed_in_writes)
    downgrade = own_mutation(mutations.downgrade)
    cancel_subscription = own_mutation(mutations.cancel_subscription)
    pause_subscription = strawberry.mutation(
        resolver=mutations.pause_subscription,
        permission_classes=signed_in_writes,
        description="Pause an ACTIVE subscription until resumesAt: nothing is charged, the "
        "period stands still, you have the free tier; resuming restarts billing then.",
    )
    resume_subscription = own_mutation(mutations.resume_subscription)
    update_fulfillment = strawberry.mutation(
        resolver=mutations.update_fulfillment,
        permission_classes=signed_in_writes,
        description="Change how each paid period is delivered: digital, shipping or pickup.",
    )
    add_payment_method = own_mutation(mutations.add_payment_method)
    set_default_payment_method = own_mutation(mutations.set_default_payment_method)
    detach_payment_method = own_mutation(mutations.detach_payment_method)
    create_plan = admin_mutation(mutations.create_plan)
    update_plan = admin_mutation(mutations.update_plan)
    archive_plan = admin_mutation(mutations.archive_plan)
    set_plan_price = admin_mutation(mutations.set_plan_price)
    set_plan_policy = strawberry.mutation(
        resolver=mutations.set_plan_policy,
        permission_classes=admin_writes,
        description="How a change away from the plan is timed and charged, and how a failed"
        " renewal is retried and ended; fields left out keep their value.",
    )
    set_customer_price = admin_mutation(credits.set_customer_price)
    remove_customer_price = admin_mutation(credits.remove_customer_price)
    suspend_subscription = admin_mutation(mutations.suspend_subscription)
    reinstate_subscription = admin_mutation(mutations.reinstate_subscription)
    create_meter = admin_mutation(metered.create_meter)
    archive_meter = admin_mutation(metered.archive_meter)
    set_plan_quota = strawberry.mutation(
        resolver=metered.set_plan_quota,
        permission_classes=admin_writes,
        description="What a plan includes of a meter: includedUnits (null: unlimited), "
        "a hard limit or overage at overageUnitPriceCents per unit.",
    )
    create_coupon = strawberry.mutation(
        resolver=discounts.create_coupon,
        permission_classes=admin_writes,
        description="percentOff (1-100) or amountOffCents with currency; ONCE, REPEATING "
        "(durationInCycles) or FOREVER.",
    )
    archive_coupon = admin_mutation(discounts.archive_coupon)
    create_promotion_code = admin_mutation(discounts.create_promotion_code)
    apply_promotion_code = strawberry.mutation(
        resolver=discounts.apply_promotion_code,
        permission_classes=signed_in_writes,
        description="Redeem a promotion code on your current subscription.",
    )
    create_checkout_session = strawberry.mutation(
        resolver=console.create_checkout_session,
        permission_classes=signed_in_writes,
        description="A hosted checkout to redirect the browser to (its url); completing it "
        "subscribes you and sends the browser to successUrl.",
    )
    create_payment_method_session = strawberry.mutation(
        resolver=console.create_payment_method_session,
        permission_classes=signed_in_writes,
        description="A hosted page that saves a card (Stripe Checkout in setup mode with "
        "Stripe; our page of test cards with the local gateway): card numbers never pass "
        "through this service.",
    )
    complete_checkout_session = strawberry.mutation(
        resolver=console.complete_checkout_session,
        permission_classes=signed_in_writes,
        description="Pay a checkout session with a saved method or a test card (local "
        "gateway); idempotent per session and card.",
    )
    development_token = strawberry.mutation(
        resolver=console.development_token,
        description="Development only (refused in production): a token for any user, for "
        "the console's and portal's sign-in-as.",
    )
    adjust_credit = strawberry.mutation(
        resolver=credits.adjust_credit,
        permission_classes=admin_writes,
        description="Give (positive) or take (negative) credit; the balance never goes below zero.",
    )
    refund_payment = strawberry.mutation(
        resolver=credits.refund_payment,
        permission_classes=admin_writes,
        description="Refund all (amountCents null) or part of a payment, to the card or "
        "to the credit balance; never more than was paid less earlier refunds.",
    )
    purchase_quota_pack = strawberry.mutation(
        resolver=metered.purchase_quota_pack,
        permission_classes=signed_in_writes,
        description="Buy a plan of kind QUOTA once: its units join your balance when paid.",
    )
    record_usage = strawberry.mutation(
        resolver=metered.record_usage,
        permission_classes=services_or_admin,
        description="Count usage that happened (idempotent by eventId).",
    )
    consume_quota = strawberry.mutation(
        resolver=metered.consume_quota,
        permission_classes=services_or_admin,
        description="Check and count in one step: never over-grants, idempotent by eventId.",
    )
    advance_test_clock = strawberry.mutation(
        resolver=mutations.advance_test_clock,
        permission_classes=admin_writes,
        description="Move a test clock (or the service's) forward and run what falls due.",
    )
    create_test_clock = admin_mutation(mutations.create_test_clock)
    attach_test_clock = strawberry.mutation(
        resolver=mutations.attach_test_clock,
        permission_classes=admin_writes,
        description="Put a customer on a clock, before their first subscription.",
    )
    delete_test_clock = strawberry.mutation(
        resolver=mutations.delete_test_clock,
        permission_classes=admin_writes,
        description="Remove the clock and every row of its customers.",
    )
    cancel_subscription_for = admin_mutation(mutations.cancel_subscription_for)
    pause_subscription_for = admin_mutation(mutations.pause_subscription_for)
    resume_subscription_for = admin_mutation(mutations.resume_subscription_for)
    apply_promotion_code_for = admin_mutation(discounts.apply_promotion_code_for)
    change_plan_for = admin_mutation(
        mutations.change_plan_for, "Preview it with previewPlanChange(planCode, userId)."
    )
    pay_now = own_mutation(
        mutations.pay_now, "Charge your overdue invoice now (a PAST_DUE subscription)."
    )
    retry_payment_now = admin_mutation(
        mutations.retry_payment_now, "Charge a PAST_DUE customer's open invoice now."
    )
    mark_uncollectible = admin_mutation(
        mutations.mark_uncollectible,
        "End grace now: the open invoice is UNCOLLECTIBLE, the plan's policy decides the rest.",
    )


@strawberry.type(name="SubscriptionEvents")
class Live:
    """The root subscription type (named apart from the `Subscription` object type)."""

    subscription_status_changed = strawberry.subscription(
        resolver=live.subscription_status_changed,
        permission_classes=signed_in,
        description="Your own subscription's status changes, as they are committed.",
    )
    quota_changed = strawberry.subscription(
        resolver=live.quota_changed,
        permission_classes=signed_in,
        description="Your remaining units of a meter (or all) after usage is counted; "
        "bursts are coalesced (at most four pushes a second).",
    )
    admin_subscription_events = strawberry.subscription(
        resolver=live.admin_subscription_events,
        permission_classes=admin_only,
        description="Every subscription's status changes (admin dashboards).",
    )
