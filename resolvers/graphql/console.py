"""What the admin console and the customer portal need beyond the core operations: key
figures, hosted checkout, development sign-in. Public operations like any other."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers.graphql import mapping
from schema import console_types
from schema.inputs import (
    CompleteCheckoutSessionInput,
    CreateCheckoutSessionInput,
    CreatePaymentMethodSessionInput,
    DevelopmentTokenInput,
)
from schema.permissions import Info
from services.collection import checkout_sessions
from services.common.errors import DomainError
from services.platform.auth import development_token as mint_development_token
from services.platform.clock import SystemClock
from services.reads import metrics as figures


def _session(view: checkout_sessions.CheckoutSessionView) -> console_types.CheckoutSession:
    return console_types.CheckoutSession(
        id=strawberry.ID(str(view.id)),
        url=view.url,
        status=view.status,
        purpose=view.purpose,
        plan_code=view.plan_code,
        plan_name=view.plan_name,
        price_cents=view.price_cents,
        currency=view.currency,
        promotion_code=view.promotion_code,
        success_url=view.success_url,
        cancel_url=view.cancel_url,
        expires_at=view.expires_at,
        trial_days=view.trial_days,
    )


async def metrics(
    info: Info,
    from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
    to: datetime | None = None,
) -> console_types.Metrics:
    found = await figures.metrics(info.context.deps, from_, to)
    return console_types.Metrics(
        from_=found.from_,
        to=found.to,
        mrr_cents=found.mrr_cents,
        new_mrr_cents=found.new_mrr_cents,
        expansion_mrr_cents=found.expansion_mrr_cents,
        contraction_mrr_cents=found.contraction_mrr_cents,
        churned_mrr_cents=found.churned_mrr_cents,
        committed_mrr_cents=found.committed_mrr_cents,
        paying_subscriptions=found.paying,
        churn_rate=found.churn_rate,
        arpu_cents=found.arpu_cents,
        subscriptions_by_status=[console_types.CountBy(key=k, count=n) for k, n in found.by_status],
        active_subscriptions_by_plan=[
            console_types.CountBy(key=k, count=n) for k, n in found.by_plan
        ],
        trials_ended=found.trials_ended,
        trials_converted=found.trials_converted,
        trial_conversion_rate=found.trial_conversion_rate,
        past_due_amount_cents=found.past_due_cents,
        series=[
            console_types.MetricsPoint(
                at=p.at, mrr_cents=p.mrr_cents, active_subscriptions=p.active_subscriptions
            )
            for p in found.series
        ],
    )


async def create_checkout_session(
    info: Info, input: CreateCheckoutSessionInput
) -> console_types.CheckoutSessionPayload:
    command = checkout_sessions.CreateCheckoutSession(
        info.context.user().user_id,
        input.plan_code,
        input.success_url,
        input.cancel_url,
        input.promotion_code,
    )
    try:
        view = await checkout_sessions.create_checkout_session(info.context.deps, command)
    except DomainError as error:
        return console_types.CheckoutSessionPayload(
            session=None, errors=[mapping.user_error(error)]
        )
    return console_types.CheckoutSessionPayload(session=_session(view), errors=[])


async def create_payment_method_session(
    info: Info, input: CreatePaymentMethodSessionInput
) -> console_types.CheckoutSessionPayload:
    try:
        view = await checkout_sessions.create_card_session(
            info.context.deps, info.context.user().user_id, input.success_url, input.cancel_url
        )
    except DomainError as error:
        return console_types.CheckoutSessionPayload(
            session=None, errors=[mapping.user_error(error)]
        )
    return console_types.CheckoutSessionPayload(session=_session(view), errors=[])


async def checkout_session(info: Info, id: strawberry.ID) -> console_types.CheckoutSession:
    view = await checkout_sessions.checkout_session(
        info.context.deps, info.context.user().user_id, str(id)
    )
    return _session(view)


async def complete_checkout_session(
    info: Info, input: CompleteCheckoutSessionInput
) -> console_types.CompleteCheckoutPayload:
    try:
        done = await checkout_sessions.complete_checkout_session(
            info.context.deps, info.context.user().user_id, str(input.id), input.payment_method_id
        )
    except DomainError as error:
        return console_types.CompleteCheckoutPayload(
            redirect_url=None, subscription=None, payment=None, errors=[mapping.user_error(error)]
        )
    outcome = done.outcome
    return console_types.CompleteCheckoutPayload(
        redirect_url=done.redirect_url,
        subscription=mapping.subscription(outcome.subscription) if outcome.subscription else None,
        payment=mapping.payment(outcome.payment),
        errors=[mapping.user_error(e) for e in outcome.errors],
    )


async def development_token(
    info: Info, input: DevelopmentTokenInput
) -> console_types.DevelopmentTokenPayload:
    deps = info.context.deps
    try:
        # Dated at the real time, as every token is checked against it: with the test
        # clock moved, a token dated at the service's time would not be valid yet (or no
        # longer).
        token, expires = mint_development_token(
            deps.settings, input.user_id, input.admin, SystemClock().now()
        )
    except DomainError as error:
        return console_types.DevelopmentTokenPayload(
            token=None, expires_at=None, errors=[mapping.user_error(error)]
        )
    return console_types.DevelopmentTokenPayload(token=token, expires_at=expires, errors=[])
