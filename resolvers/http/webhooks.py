"""POST /webhooks/stripe: verify, record in the inbox, apply once, answer fast."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers.http.rest import Refused
from resolvers.http.rest_json import error_body, json_response
from services.app.refund_events import REFUND_EVENTS, apply_refund_event
from services.app.stripe_events import WebhookRejected, parse_webhook
from services.collection.checkout_sessions import CHECKOUT_COMPLETED, apply_checkout_completed
from services.collection.payment_results import apply_payment_result
from services.platform.deps import Deps
from services.platform.rate_limits import Limit, RateLimiter


async def stripe_webhook(request: Request) -> Response:
    deps: Deps = request.app.state.deps
    secret = deps.settings.stripe_webhook_secret
    if not secret:
        return json_response(error_body("NOT_CONFIGURED", "STRIPE_WEBHOOK_SECRET is not set"), 503)
    limiter: RateLimiter = request.app.state.limiter
    refusal = await limiter.hit_address(Limit.WEBHOOKS, request.scope)
    if refusal is not None:
        return Refused.rate_limited(refusal).response()
    payload = await request.body()
    try:
        message = parse_webhook(
            payload,
            request.headers.get("stripe-signature"),
            secret,
            deps.settings.stripe_webhook_tolerance_seconds,
        )
    except WebhookRejected as rejected:
        return json_response(error_body("INVALID_WEBHOOK", str(rejected)), 400)
    if message.message_type in REFUND_EVENTS:
        outcome = await apply_refund_event(deps, message)
    elif message.message_type == CHECKOUT_COMPLETED:
        outcome = await apply_checkout_completed(deps, message)
    else:
        outcome = await apply_payment_result(deps, message)
    return json_response({"received": True, "outcome": outcome.value})


routes = [Route("/webhooks/stripe", stripe_webhook, methods=["POST"])]
