"""Mutation resolvers: every one returns a payload whose `errors` carry business
failures; only auth failures and bugs surface as GraphQL errors."""

from __future__ import annotations

from collections.abc import Awaitable

from resolvers.graphql import mapping
from schema import types
from schema.admin_inputs import (
    AdvanceTestClockInput,
    AttachTestClockInput,
    CancelSubscriptionForInput,
    ChangePlanForInput,
    CreateTestClockInput,
    PauseSubscriptionForInput,
    ResumeSubscriptionForInput,
    TestClockIdInput,
    UserIdInput,
)
from schema.inputs import (
    AddPaymentMethodInput,
    ArchivePlanInput,
    CancelSubscriptionInput,
    CreatePlanInput,
    DowngradeInput,
    PauseSubscriptionInput,
    PaymentMethodIdInput,
    ReinstateSubscriptionInput,
    SetPlanPolicyInput,
    SetPlanPriceInput,
    SubscribeInput,
    SuspendSubscriptionInput,
    UpdateFulfillmentInput,
    UpdatePlanInput,
    UpgradeInput,
)
from schema.permissions import Info
from services.billing import payment_methods
from services.billing.views import PaymentMethodView
from services.clocks import advance as clock_advance
from services.clocks import control as clocks
from services.clocks.control import TestClockView
from services.collection import collect_now
from services.collection import test_clock as clock_control
from services.common.errors import DomainError, ErrorCode
from services.platform.deps import Deps
from services.pricing import catalog, policy_admin
from services.pricing.periods import Interval
from services.pricing.rules import PlanKind
from services.pricing.views import PlanView
from services.subscriptions import checkout, fulfillment_updates, interruptions, plan_changes
from services.subscriptions.interruptions import ActingFor
from services.subscriptions.views import ChargeOutcomeResult, SubscriptionView


async def _charged(call: Awaitable[ChargeOutcomeResult]) -> types.SubscriptionPayload:
    try:
        result = await call
    except DomainError as error:
        return types.SubscriptionPayload(
            subscription=None, payment=None, errors=[mapping.user_error(error)]
        )
    return types.SubscriptionPayload(
        subscription=mapping.subscription(result.subscription) if result.subscription else None,
        payment=mapping.payment(result.payment),
        errors=[mapping.user_error(e) for e in result.errors],
    )


async def _changed(call: Awaitable[SubscriptionView]) -> types.SubscriptionPayload:
    try:
        view = await call
    except DomainError as error:
        return types.SubscriptionPayload(
            subscription=None, payment=None, errors=[mapping.user_error(error)]
        )
    return types.SubscriptionPayload(
        subscription=mapping.subscription(view), payment=None, errors=[]
    )


async def _plan(call: Awaitable[PlanView]) -> types.PlanPayload:
    try:
        view = await call
    except DomainError as error:
        return types.PlanPayload(plan=None, errors=[mapping.user_error(error)])
    return types.PlanPayload(plan=mapping.plan(view), errors=[])


async def _method(call: Awaitable[PaymentMethodView]) -> types.PaymentMethodPayload:
    try:
        view = await call
    except DomainError as error:
        return types.PaymentMethodPayload(payment_method=None, errors=[mapping.user_error(error)])
    return types.PaymentMethodPayload(payment_method=mapping.payment_method(view), errors=[])


async def add_payment_method(
    info: Info, input: AddPaymentMethodInput
) -> types.PaymentMethodPayload:
    command = payment_methods.AddPaymentMethod(
        user_id=info.context.user().user_id,
        payment_method_id=input.payment_method_id,
        holder_name=input.holder_name,
        holder_zip=input.holder_zip,
        make_default=input.make_default,
    )
    return await _method(payment_methods.add(info.context.deps, command))


async def set_default_payment_method(
    info: Info, input: PaymentMethodIdInput
) -> types.PaymentMethodPayload:
    user = info.context.user().user_id
    return await _method(
        payment_methods.set_default(info.context.deps, user, input.payment_method_id)
    )


async def detach_payment_method(
    info: Info, input: PaymentMethodIdInput
) -> types.PaymentMethodPayload:
    user = info.context.user().user_id
    return await _method(payment_methods.detach(info.context.deps, user, input.payment_method_id))


async def subscribe(info: Info, input: SubscribeInput) -> types.SubscriptionPayload:
    command = checkout.Subscribe(
        user_id=info.context.user().user_id,
        plan_code=input.plan_code,
        payment_method_id=input.payment_method_id,
        fulfillment=mapping.fulfillment_input(input.fulfillment),
        idempotency_key=input.idempotency_key,
        promotion_code=input.promotion_code,
    )
    return await _charged(checkout.subscribe(info.context.deps, command))


async def upgrade(info: Info, input: UpgradeInput) -> types.SubscriptionPayload:
    command = plan_changes.Upgrade(
        info.context.user().user_id, input.plan_code, input.idempotency_key
    )
    return await _charged(plan_changes.upgrade(info.context.deps, command))


async def downgrade(info: Info, input: DowngradeInput) -> types.SubscriptionPayload:
    command = plan_changes.Downgrade(info.context.user().user_id, input.plan_code)
    return await _charged(plan_changes.downgrade(info.context.deps, command))


async def cancel_subscription(
    info: Info, input: CancelSubscriptionInput | None = None
) -> types.SubscriptionPayload:
    given = input or CancelSubscriptionInput()
    command = interruptions.CancelSubscription(
        info.context.user().user_id, given.at_period_end, given.reason
    )
    return await _changed(interruptions.cancel(info.context.deps, command))


async def update_fulfillment(
    info: Info, input: UpdateFulfillmentInput
) -> types.SubscriptionPayload:
    fulfillment = mapping.fulfillment_input(input.fulfillment)
    assert fulfillment is not None
    return await _changed(
        fulfillment_updates.update_fulfillment(
            info.context.deps, info.context.user().user_id, fulfillment
        )
    )


async def pause_subscription(
    info: Info, input: PauseSubscriptionInput
) -> types.SubscriptionPayload:
    return await _changed(
        interruptions.pause(info.context.deps, info.context.user().user_id, input.resumes_at)
    )


async def resume_subscription(info: Info) -> types.SubscriptionPayload:
    return await _changed(interruptions.resume(info.context.deps, info.context.user().user_id))


async def suspend_subscription(
    info: Info, input: SuspendSubscriptionInput
) -> types.SubscriptionPayload:
    command = interruptions.SuspendSubscription(input.user_id, input.reason)
    deps = await clocks.deps_for(info.context.deps, input.user_id)  # a clocked customer
    return await _changed(interruptions.suspend(deps, info.context.user().user_id, command))


async def reinstate_subscription(
    info: Info, input: ReinstateSubscriptionInput
) -> types.SubscriptionPayload:
    deps = await clocks.deps_for(info.context.deps, input.user_id)  # a clocked customer
    return await _changed(interruptions.reinstate(deps, info.context.user().user_id, input.user_id))


async def create_plan(info: Info, input: CreatePlanInput) -> types.PlanPayload:
    command = catalog.CreatePlan(
        code=input.code,
        name=input.name,
        price_cents=input.price_cents,
        currency=input.currency,
        interval=Interval(input.interval),
        tier_rank=input.tier_rank,
        kind=PlanKind(input.kind),
        description=input.description,
        trial_days=input.trial_days,
        entitlements=tuple(input.entitlements),
        grace_entitlements=tuple(input.grace_entitlements),
        valid_days=input.valid_days,
        interval_count=input.interval_count,
    )
    admin = info.context.user().user_id
    return await _plan(catalog.create_plan(info.context.deps, admin, command))


async def update_plan(info: Info, input: UpdatePlanInput) -> types.PlanPayload:
    command = catalog.UpdatePlan(
        code=input.code,
        name=input.name,
        description=input.description,
        trial_days=input.trial_days,
        tier_rank=input.tier_rank,
        valid_days=input.valid_days,
        entitlements=tuple(input.entitlements) if input.entitlements is not None else None,
        grace_entitlements=(
            tuple(input.grace_entitlements) if input.grace_entitlements is not None else None
        ),
    )
    return await _plan(catalog.update_plan(info.context.deps, command))


async def archive_plan(info: Info, input: ArchivePlanInput) -> types.PlanPayload:
    return await _plan(catalog.archive_plan(info.context.deps, input.code))


async def set_plan_price(info: Info, input: SetPlanPriceInput) -> types.PlanPayload:
    command = catalog.SetPlanPrice(
        input.plan_code,
        input.price_cents,
        input.currency,
        input.description,
        input.note,
        input.existing_subscribers,
        input.move_at,
    )
    admin = info.context.user().user_id
    return await _plan(catalog.set_plan_price(info.context.deps, admin, command))


async def set_plan_policy(info: Info, input: SetPlanPolicyInput) -> types.PlanPayload:
    command = policy_admin.SetPlanPolicy(
        input.plan_code,
        input.proration,
        input.upgrade_timing,
        input.downgrade_timing,
        None if input.retry_days is None else tuple(input.retry_days),
        input.grace_days,
        input.after_grace,
        None if input.grace_entitlements is None else tuple(input.grace_entitlements),
    )
    return await _plan(policy_admin.set_plan_policy(info.context.deps, command))


async def advance_test_clock(info: Info, input: AdvanceTestClockInput) -> types.TestClockPayload:
    deps = info.context.deps
    try:
        if input.test_clock_id is None and input.to is None and input.seconds is not None:
            view = await clock_control.advance(deps, input.seconds)
            clock = types.TestClock(now=view.now, applied=view.applied)
        elif input.test_clock_id is not None and input.to is not None and input.seconds is None:
            clock = mapping.test_clock(
                await clock_advance.advance(deps, input.test_clock_id, input.to)
            )
        else:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "give either seconds, or testClockId and to", "input"
            )
    except DomainError as error:
        return types.TestClockPayload(test_clock=None, errors=[mapping.user_error(error)])
    return types.TestClockPayload(test_clock=clock, errors=[])


async def acting_for(info: Info, user_id: str, reason: str) -> tuple[ActingFor, Deps]:
    """The admin acting, with their reason, and the customer's time (their test clock)."""
    acting = ActingFor.checked(info.context.user().user_id, user_id, reason)
    return acting, await clocks.deps_for(info.context.deps, user_id)


async def cancel_subscription_for(
    info: Info, input: CancelSubscriptionForInput
) -> types.SubscriptionPayload:
    async def act() -> SubscriptionView:
        acting, deps = await acting_for(info, input.user_id, input.reason)
        cancel = interruptions.CancelSubscription(input.user_id, input.at_period_end, acting.reason)
        return await interruptions.cancel(deps, cancel, actor=acting.admin_id)

    return await _changed(act())


async def pause_subscription_for(
    info: Info, input: PauseSubscriptionForInput
) -> types.SubscriptionPayload:
    async def act() -> SubscriptionView:
        acting, deps = await acting_for(info, input.user_id, input.reason)
        return await interruptions.pause(deps, input.user_id, input.resumes_at, acting)

    return await _changed(act())


async def resume_subscription_for(
    info: Info, input: ResumeSubscriptionForInput
) -> types.SubscriptionPayload:
    async def act() -> SubscriptionView:
        acting, deps = await acting_for(info, input.user_id, input.reason)
        return await interruptions.resume(deps, input.user_id, acting)

    return await _changed(act())


async def change_plan_for(info: Info, input: ChangePlanForInput) -> types.SubscriptionPayload:
    async def act() -> ChargeOutcomeResult:
        acting, deps = await acting_for(info, input.user_id, input.reason)
        return await plan_changes.change_for(deps, acting, input.user_id, input.plan_code)

    return await _charged(act())


async def pay_now(info: Info) -> types.SubscriptionPayload:
    user = info.context.user().user_id
    return await _charged(collect_now.retry_now(info.context.deps, user, user))


async def retry_payment_now(info: Info, input: UserIdInput) -> types.SubscriptionPayload:
    deps = await clocks.deps_for(info.context.deps, input.user_id)  # a clocked customer
    return await _charged(collect_now.retry_now(deps, info.context.user().user_id, input.user_id))


async def mark_uncollectible(info: Info, input: UserIdInput) -> types.SubscriptionPayload:
    deps = await clocks.deps_for(info.context.deps, input.user_id)
    admin = info.context.user().user_id
    return await _changed(collect_now.mark_uncollectible(deps, admin, input.user_id))


async def _clock(change: Awaitable[TestClockView]) -> types.TestClockPayload:
    try:
        view = await change
    except DomainError as error:
        return types.TestClockPayload(test_clock=None, errors=[mapping.user_error(error)])
    return types.TestClockPayload(test_clock=mapping.test_clock(view), errors=[])


async def create_test_clock(info: Info, input: CreateTestClockInput) -> types.TestClockPayload:
    return await _clock(clocks.create(info.context.deps, input.name, input.frozen_at))


async def attach_test_clock(info: Info, input: AttachTestClockInput) -> types.TestClockPayload:
    return await _clock(clocks.attach(info.context.deps, input.user_id, input.test_clock_id))


async def delete_test_clock(info: Info, input: TestClockIdInput) -> types.TestClockPayload:
    return await _clock(clocks.delete(info.context.deps, input.test_clock_id))
